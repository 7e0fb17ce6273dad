"""Benchmark scripts keep committed results unless told to overwrite them, and stop cleanly on
Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from results_file import output_path  # noqa: E402


def test_existing_results_are_not_overwritten_unless_asked(tmp_path):
    committed = tmp_path / "speed.json"
    assert output_path(committed, overwrite=False) == committed  # nothing there yet
    committed.write_text('{"kept": true}')
    fresh = output_path(committed, overwrite=False)
    assert fresh.parent == tmp_path and fresh.name.startswith("speed-") and fresh.suffix == ".json"
    assert output_path(committed, overwrite=True) == committed


def test_collator_benchmark_writes_a_new_file_beside_committed_results(tmp_path):
    committed = tmp_path / "collator.json"
    committed.write_text('{"kept": true}')
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_collator.py"),
            "--repeats",
            "1",
            "--batch-size",
            "4",
            "--output",
            str(committed),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(committed.read_text()) == {"kept": True}
    (written,) = tmp_path.glob("collator-*.json")
    assert json.loads(written.read_text())["repeats"] == 1


def _descendants(pid: int) -> list[int]:
    """Process ids of every descendant of `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow  # an ablation run with worker processes, stopped
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ablation_stops_its_workers_on_ctrl_c(tmp_path, emodb_dir, whisper_tiny_dir, stop):
    output = tmp_path / "ablation_interrupted.json"
    process = subprocess.Popen(
        [
            sys.executable,
            str(BENCHMARKS / "ablation.py"),
            "--encoder",
            str(whisper_tiny_dir),
            "--epochs",
            "50",
            "--folds",
            "0,1",
            "--seeds",
            "0",
            "--rows",
            "baseline,no_mix",
            "--workers",
            "2",
            "--output",
            str(output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    printed: list[str] = []  # its output, line by line, read as it comes (never blocking it)

    def read_output() -> None:
        for line in process.stdout:
            printed.append(line)

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        # Each worker prints its fold's data check just before it starts training: wait for
        # both (however slow the machine), not for a fixed time. (Counted in the whole text:
        # the workers' progress bars interleave, so the line may not start with it.)
        deadline = time.monotonic() + 600
        while "".join(printed[:]).count("data check: ") < 2:
            assert process.poll() is None, "ablation ended early:\n" + "".join(printed)[-3000:]
            assert time.monotonic() < deadline, (
                "the two workers did not both reach training (two 'data check: ' lines) in "
                "600 s:\n" + "".join(printed)[-3000:]
            )
            time.sleep(0.5)
        workers = _descendants(process.pid)
        spawned = [pid for pid in workers if "spawn_main" in _command_line(pid)]
        assert len(workers) >= 2 and len(spawned) == 2, [_command_line(pid) for pid in workers]
        process.send_signal(stop)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:  # a failed wait: stop it (its workers with it) all the same
            process.terminate()
            process.wait(timeout=60)
    reader.join(timeout=10)
    stdout = "".join(printed)
    assert process.returncode == 130, stdout[-3000:]
    assert "interrupted: 0 finished runs" in stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = {pid: _command_line(pid) for pid in workers if Path(f"/proc/{pid}").exists()}
        if not alive:
            break
        time.sleep(0.5)
    assert alive == {}, f"workers still running: {alive}"


def test_ablation_interference_and_paired_interval_hand_worked():
    import ablation
    import numpy as np

    from eam_ser.inference.robustness import add_at_snr  # ablation's test sets use it

    clip = np.full(1000, 0.5, np.float32)
    speech = np.array([1.0, -1.0, 2.0], np.float32)  # looped to the clip's length
    mixed = add_at_snr(clip, speech, 6.0)
    added = mixed.astype(np.float64) - clip
    assert np.allclose(added[:6] / added[0], [1, -1, 2, 1, -1, 2], atol=1e-5)
    assert 10 * np.log10(0.25 / np.mean(added**2)) == pytest.approx(6.0, abs=1e-4)
    runs = [{"seed": 0, "fold": f, "ua": u} for f, u in enumerate([0.6, 0.7, 0.8])]
    reference = [{"seed": 0, "fold": f, "ua": u} for f, u in enumerate([0.5, 0.7, 0.6])]
    difference = ablation.paired_difference(runs, reference)
    # differences 0.1, 0.0, 0.2: mean 0.1, sample std 0.1, t(0.975, 2) = 4.3027
    assert difference["mean"] == pytest.approx(0.1)
    assert difference["high"] - difference["mean"] == pytest.approx(4.302653 * 0.1 / np.sqrt(3))
    assert (difference["pairs"], difference["better"]) == (3, 2)
    assert ablation.paired_difference(runs, []) is None


def test_importing_a_benchmark_leaves_the_thread_settings_of_later_tests_alone(monkeypatch):
    """`ablation` sets OMP/MKL/OPENBLAS_NUM_THREADS=1 for its workers when imported; what
    every test runs in (conftest's `environment_restored`) puts them back, so the commands
    later tests start (the README quick start among them) run with the session's threads."""
    from conftest import environment_restored

    threads = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    for variable in threads:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delitem(sys.modules, "ablation", raising=False)
    with environment_restored():
        import ablation  # noqa: F401

        assert [os.environ.get(variable) for variable in threads] == ["1", "1", "1"]
    assert [os.environ.get(variable) for variable in threads] == [None, None, None]


def test_ablation_resume_refuses_another_budget(tmp_path):
    import ablation

    output = tmp_path / "ablation.json"
    arguments = vars(ablation.parse_arguments(["--epochs", "12"]))
    arguments["encoder"] = "/elsewhere/whisper-base-encoder"  # same weights, other machine
    output.write_text(json.dumps({"arguments": arguments, "rows": {}}, default=str))
    command = ["--resume", "--output", str(output), "--rows", "egemaps"]
    with pytest.raises(SystemExit) as refused:
        ablation.main([*command, "--epochs", "15", "--p", "1"])
    message = str(refused.value.code)
    assert (
        "--epochs 12.0 (this command: 15.0)" in message and "--p 0.5 (this command: 1.0)" in message
    )
    assert str(output) in message and "--encoder" not in message
    other = {**arguments, "encoder": "/elsewhere/wavlm-large"}
    assert ablation.resume_conflicts(other, arguments | {"encoder": "a/whisper-base-encoder"}) == [
        "--encoder /elsewhere/wavlm-large (this command: a/whisper-base-encoder)"
    ]


@pytest.mark.skipif(not (BENCHMARKS.parent / ".git").exists(), reason="not a git checkout")
def test_results_name_the_commit_that_made_them():
    from results_file import source_revision

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=BENCHMARKS, capture_output=True, text=True, check=True
    ).stdout.strip()
    commit, _, dirty = source_revision().partition("-")
    assert len(commit) >= 7 and head.startswith(commit) and dirty in ("", "dirty")


def test_ablation_table_names_its_grid_and_devices():
    import ablation

    gpu = "NVIDIA H100 80GB HBM3"
    runs = [{"seed": s, "fold": f, "device": gpu} for s in (0, 1) for f in range(5)]
    assert ablation._runs_text(runs) == "2 x 5 (H100)"
    runs[-1]["device"] = runs[-2]["device"] = "cpu"
    assert ablation._runs_text(runs) == "2 x 5 (8 H100, 2 CPU)"
    assert ablation._runs_text(runs[:7]) == "7 runs (H100)"
    assert ablation._runs_text([{"seed": None, "fold": 0}]) == "1 x 1 (CPU)"


def fake_run(row: str, fold: int, ua: float) -> dict:
    curve = {str(snr): ua - 0.01 * (20 - snr) for snr in (20.0, 10.0, 5.0, 0.0, -5.0)}
    return {
        "row": row,
        "fold": fold,
        "seed": 0,
        "wa": ua,
        "ua": ua,
        "macro_f1": ua,
        "total_s": 60.0,
        "robustness_ua": {"noise": curve, "speech": curve},
    }


def test_robustness_plot_names_rows_by_title_with_error_bars(tmp_path, monkeypatch):
    import ablation
    import matplotlib.pyplot as plt

    report = {"rows": {}}
    for row, ua in (("no_mix", 0.8), ("eam", 0.82), ("mixup", 0.81)):
        runs = [fake_run(row, fold, ua + 0.02 * fold) for fold in range(3)]
        report["rows"][row] = {"runs": runs, "summary": ablation.summarize(runs)}
    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    ablation.plot_robustness(report, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"
    figure = kept[0]
    legend = [text.get_text() for text in figure.axes[-1].get_legend().get_texts()]
    assert legend == [ablation.ROWS[name].title for name in ("no_mix", "eam", "mixup")]
    assert "mean ± std over folds" in figure.axes[0].get_ylabel()  # one seed: not "seeds x"
    assert "solid: EAM" in figure._suptitle.get_text()
    # Error bars: the sample std over the three folds (0.02 apart: std 0.02 -> 2 points).
    containers = figure.axes[0].containers
    bar_lengths = containers[0].lines[2][0].get_segments()
    assert [round(segment[1][1] - segment[0][1], 6) for segment in bar_lengths][:1] == [4.0]


def test_regimes_rows_pair_each_eam_row_with_its_own_reference():
    import ablation
    import regimes

    rows = regimes.REGIMES.rows
    args = ablation.parse_arguments([], regimes.REGIMES)
    assert (args.epochs, args.batch_size, args.max_train_seconds, args.seeds) == (
        10.0,
        8,
        None,
        [0],
    )
    for name, row in rows.items():
        config = ablation.experiment_config(row, args, seed=0)
        if row.label_mode is None:
            assert row.reference is None and config.eam.p == 0.0
            continue
        reference = ablation.experiment_config(rows[row.reference], args, seed=0)
        assert config.eam.p > 0 and config.flam == reference.flam
        assert config.training == reference.training, name  # the same budget
    frozen = ablation.experiment_config(rows["frozen_eam_long"], args, seed=0)
    assert frozen.training.num_train_epochs == regimes.LONG_EPOCHS
    assert frozen.learning_rates["encoder_learning_rate"] is None  # nothing of it trains
    assert ablation.experiment_config(rows["frozen_eam_p025"], args, seed=0).eam.p == 0.25


def test_a_resume_that_adds_nothing_leaves_the_file_alone(tmp_path, capsys):
    import ablation

    output = tmp_path / "ablation.json"
    arguments = vars(ablation.parse_arguments([]))
    done = {"runs": [fake_run("no_mix", 0, 0.8)], "title": "t"}
    output.write_text(json.dumps({"arguments": arguments, "rows": {"no_mix": done}}, default=str))
    before = output.read_bytes()
    ablation.main(
        ["--resume", "--output", str(output), "--rows", "no_mix", "--folds", "0", "--seeds", "0"]
    )
    assert "nothing to run: every requested run is already in" in capsys.readouterr().out
    assert output.read_bytes() == before  # no command record appended, nothing rewritten
