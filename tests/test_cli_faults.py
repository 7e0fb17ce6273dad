"""Faults and bad input met through the `eam-ser` entry point: each test walks the user's
command and checks the status, the message and what is (not) left on disk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from conftest import train_command
from eam_ser.cli import main


def status_of(argv: list[str]) -> int:
    """The exit status of ``eam-ser ARGV``: returned, or raised by argparse."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code)


def test_a_diverging_run_stops_with_an_error_and_saves_no_model(corpus, tmp_path, capsys):
    output = tmp_path / "diverged"
    assert status_of(train_command(corpus, output, "--head-learning-rate", "1e30")) == 2
    error = capsys.readouterr().err
    # The trainer's check of every step's loss stops it: step 1 is the warm-up (learning rate
    # 0), step 2 blows the head's weights up, and step 3's loss is not finite. (The check of
    # the weights before saving, "non-finite weights", is the last line of defence only.)
    assert re.search(r"training diverged at step 3: the loss is (nan|inf) \(terms: kl ", error)
    assert "non-finite weights" not in error
    assert "lower the learning rates (--head-learning-rate, --encoder-learning-rate)" in error
    assert "Nothing was saved as the model." in error
    assert not (output / "model.safetensors").exists()
    assert not (output / "results.json").exists()


def test_divergence_in_the_last_step_is_caught_before_anything_is_saved(corpus, tmp_path, capsys):
    """Issue 30, problem 2: with one step and no warm-up, the loss of the only step is finite
    and its update leaves finite weights whose scores are NaN; the run used to print WA
    14.29 % and write it into the card."""
    output = tmp_path / "diverged"
    command = train_command(corpus, output, "--head-learning-rate", "1e30")
    command += ["--max-steps", "1", "--warmup-steps", "0"]
    assert status_of(command) == 2
    error = capsys.readouterr().err
    assert "training diverged by its last step (1): the model's scores are NaN or infinite" in (
        error
    )
    assert "--head-learning-rate" in error and "Nothing was saved as the model." in error
    assert not (output / "model.safetensors").exists()
    assert not (output / "results.json").exists() and not (output / "README.md").exists()


def test_predict_refuses_scores_that_are_not_finite(corpus, trained, tmp_path, capsys):
    """Finite weights can still give NaN scores (inf logits): `predict` names the model."""
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    model = FlamForSequenceClassification.from_pretrained(trained)
    with torch.no_grad():  # embeddings a thousandfold, then every logit past float32's range
        model.projector.weight.mul_(1e3)
        model.classifier.weight.fill_(3e38)
    assert not model.non_finite_parameters()  # the weights themselves are finite
    broken = tmp_path / "overflowing"
    model.save_pretrained(broken)
    (broken / "preprocessor_config.json").write_bytes(
        (trained / "preprocessor_config.json").read_bytes()
    )
    clip = next(corpus.rglob("*.wav"))
    assert main(["predict", str(broken), str(clip)]) == 2
    error = capsys.readouterr().err
    assert "the scores of 1 of 1 clips are not finite (NaN or inf)" in error
    assert "lower learning rates (head_learning_rate" in error  # predict has no such flag
    assert "--on-bad-audio skip" not in error  # the model is broken, not the file


def test_predict_and_evaluate_refuse_a_model_with_non_finite_weights(
    corpus, trained, tmp_path, capsys
):
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    model = FlamForSequenceClassification.from_pretrained(trained)
    with torch.no_grad():
        model.classifier.weight[0, 0] = float("nan")
    broken = tmp_path / "broken"
    model.save_pretrained(broken)
    for name in ("preprocessor_config.json",):
        (broken / name).write_bytes((trained / name).read_bytes())
    clip = next(corpus.rglob("*.wav"))
    assert main(["predict", str(broken), str(clip)]) == 2
    error = capsys.readouterr().err
    assert "non-finite weights (classifier.weight)" in error and str(broken) in error
    status = main(["evaluate", str(broken), "--data", str(corpus), "--test-speakers", "s4"])
    assert status == 2
    assert "non-finite weights" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "inf"], "--epochs: must be finite, got inf"),
        (["--head-learning-rate", "inf"], "--head-learning-rate: must be finite, got inf"),
        (["--folds", "1"], "--folds chooses cross-validation folds: it needs --cv"),
    ],
)
def test_bad_arguments_are_named_before_any_work(corpus, tmp_path, capsys, extra, message):
    output = tmp_path / "run"
    assert status_of(train_command(corpus, output, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "training:\n  max_steps: two\n",
            "config['training']['max_steps'] must be an int, got 'two'",
        ),
        ("training: [unclosed\n", "not valid YAML"),
        ("eam: 0.5\n", "config['eam'] must be a mapping of settings, got 0.5"),
    ],
)
def test_bad_config_files_are_named(corpus, tmp_path, capsys, text, message):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    command = train_command(corpus, tmp_path / "run")
    command[command.index("--config") + 1] = str(config)
    assert main(command) == 2
    error = capsys.readouterr().err
    assert message in error
    if "YAML" in message:
        assert str(config) in error and "line 1" in error


def test_model_arguments_that_are_no_model_are_named(corpus, trained, tmp_path, capsys):
    clip = next(corpus.rglob("*.wav"))
    cases = {
        str(tmp_path / "missing"): "no such folder",
        str(clip): "a file, not a model folder",
        str(tmp_path): "no config.json: not a saved model folder",
    }
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        (truncated / name).write_bytes((trained / name).read_bytes())
    weights = (trained / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    cases[str(truncated)] = f"{truncated / 'model.safetensors'}: unreadable weights"
    for model, message in cases.items():
        assert main(["predict", model, str(clip)]) == 2, model
        assert message in capsys.readouterr().err, model


def test_an_output_folder_that_cannot_be_made_is_found_before_the_data_check(
    corpus, tmp_path, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(train_command(corpus, blocker / "run")) == 2
    captured = capsys.readouterr()
    assert f"--output-dir {blocker / 'run'}: {blocker} is a file" in captured.err
    assert "data check" not in captured.out


def test_a_previous_run_is_kept_unless_resumed_or_overwritten(corpus, tmp_path, capsys):
    output = tmp_path / "run"
    assert main(train_command(corpus, output, "--save-steps", "2")) == 0
    capsys.readouterr()
    checkpoint = output / "trainer" / "checkpoint-3"
    assert checkpoint.is_dir()
    # The same command again (after an interruption, or by mistake) deletes nothing.
    assert main(train_command(corpus, output, "--save-steps", "2")) == 2
    error = capsys.readouterr().err
    assert f"--output-dir {output} holds a previous run (trainer/ (checkpoint-3)" in error
    assert "results.json" in error and "model.safetensors" in error
    assert "--resume" in error and "--overwrite" in error
    assert checkpoint.is_dir() and (output / "model.safetensors").is_file()
    assert main(train_command(corpus, output, "--max-steps", "2", "--overwrite")) == 0
    assert not checkpoint.exists()
    assert sorted(p.name for p in (output / "trainer").iterdir()) == ["checkpoint-2"]
    assert not (output / ".eam_ser_train.lock").exists()  # released at the end


@pytest.mark.slow  # two trainings started at once
def test_the_output_folder_is_locked_while_a_run_writes_it(corpus, tmp_path, capsys):
    import os
    import socket
    import subprocess
    import sys

    output = tmp_path / "run"
    output.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": holder.pid, "host": socket.gethostname(), "started": 0}
        (output / ".eam_ser_train.lock").write_text(json.dumps(lock))
        assert main(train_command(corpus, output)) == 2
        assert (
            f"being written by another eam-ser train (pid {holder.pid}" in capsys.readouterr().err
        )
    finally:
        holder.kill()
        holder.wait()
    # Its holder died (kill -9): the lock is taken over.
    assert main(train_command(corpus, output)) == 0
    assert not (output / ".eam_ser_train.lock").exists()

    # Two trainings started at once into one new folder: one runs, the other is refused.
    together = tmp_path / "together"
    command = [str(Path(sys.executable).parent / "eam-ser"), *train_command(corpus, together)]
    runs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        for _ in range(2)
    ]
    outcomes = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert sorted(status for status, _ in outcomes) == [0, 2], outcomes
    (winner,) = [run for run, (status, _) in zip(runs, outcomes, strict=True) if status == 0]
    refused = next(error for status, error in outcomes if status == 2)
    # Which refusal the loser meets depends on when it reaches the folder, which the test does
    # not control: while the winner runs it names the winner's lock; once the winner is done
    # (before or after the loser took the freed lock) it names the winner's finished run.
    if "holds a previous run" in refused:
        assert f"--output-dir {together} holds a previous run (" in refused
        assert "results.json" in refused and "model.safetensors" in refused
    else:
        assert (
            f"--output-dir {together} is being written by another eam-ser train "
            f"(pid {winner.pid} on {socket.gethostname()}, since " in refused
        ), refused
    assert json.loads((together / "results.json").read_text())["folds"][0]["num_test"] == 4


def test_an_empty_lock_is_being_written_until_it_is_old(tmp_path):
    """The race two runs started at once used to lose: the second read the first's lock
    between its creation and its content, took it for a dead holder's, and both ran."""
    import os

    import pytest

    from eam_ser.cli.output import LOCK_WRITE_SECONDS, RUN_LOCK, output_lock

    lock = tmp_path / RUN_LOCK
    lock.write_text("")  # created, content not written yet
    with pytest.raises(
        ValueError, match=r"being written by another eam-ser train \(which is creating"
    ):
        with output_lock(tmp_path, enabled=True):
            pass
    assert lock.read_text() == ""  # left to its holder
    stale = lock.stat().st_mtime - LOCK_WRITE_SECONDS - 1
    os.utime(lock, (stale, stale))  # never written: its creator died
    with output_lock(tmp_path, enabled=True):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_resume_takes_the_newest_complete_checkpoint(corpus, tmp_path, capsys):
    """A checkpoint cut short (killed while written, a full disk) is skipped and named."""
    output = tmp_path / "run"
    assert main(train_command(corpus, output, "--max-steps", "4", "--save-steps", "2")) == 0
    trainer = output / "trainer"
    # Training keeps the last checkpoint only; make the state of an interruption after step 4
    # began to be written: checkpoint-2 complete, checkpoint-4 half-written.
    complete = trainer / "checkpoint-4"
    import shutil

    shutil.copytree(complete, trainer / "checkpoint-2")
    state = json.loads((trainer / "checkpoint-2" / "trainer_state.json").read_text())
    state["global_step"] = 2
    (trainer / "checkpoint-2" / "trainer_state.json").write_text(json.dumps(state))
    optimizer = (complete / "optimizer.pt").read_bytes()
    (complete / "optimizer.pt").write_bytes(optimizer[: len(optimizer) // 2])
    capsys.readouterr()
    assert (
        main(train_command(corpus, output, "--max-steps", "4", "--save-steps", "2", "--resume"))
        == 0
    )
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert "skipping the incomplete" in shown and "optimizer.pt is truncated" in shown
    assert f"resuming from {trainer / 'checkpoint-2'}" in captured.out + captured.err
    # Every checkpoint broken: stop and say how to recover.
    for checkpoint in trainer.glob("checkpoint-*"):
        (checkpoint / "trainer_state.json").unlink()
    assert main(train_command(corpus, output, "--resume")) == 2
    error = capsys.readouterr().err
    assert (
        "resume: no complete checkpoint in" in error and "no readable trainer_state.json" in error
    )
    assert "--overwrite" in error


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_one_bad_file_loses_no_prediction(corpus, trained, tmp_path, capsys, suffix):
    import numpy as np
    import soundfile as sf

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = sorted(corpus.rglob("*.wav"))[:3]
    for index, clip in enumerate(good):
        (inputs / f"{index}_good.wav").write_bytes(clip.read_bytes())
    sf.write(inputs / "1_silent.wav", np.zeros(16000, np.float32), 16000)
    output = tmp_path / f"predictions{suffix}"

    def predicted_files() -> list[str]:
        if suffix == ".json":
            return [Path(row["file"]).name for row in json.loads(output.read_text())]
        import csv

        with output.open() as handle:
            rows = [row for row in csv.DictReader(handle) if row["kind"] == "recording"]
        return [Path(row["file"]).name for row in rows]

    # Sorted: 0_good, 1_good, 1_silent, 2_good. Stopping at the silent file keeps the two before.
    assert main(["predict", str(trained), str(inputs), "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "1_silent.wav" in error and "--on-bad-audio skip" in error and str(output) in error
    assert predicted_files() == ["0_good.wav", "1_good.wav"]
    status = main(
        ["predict", str(trained), str(inputs), "--output", str(output), "--on-bad-audio", "skip"]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "skipped 1 of 4 files (--on-bad-audio skip):" in out and "1_silent.wav" in out
    assert predicted_files() == ["0_good.wav", "1_good.wav", "2_good.wav"]


def test_audio_too_long_to_use_whole_is_flagged_before_work_and_refused_by_predict(
    corpus, trained, tmp_path, capsys
):
    import csv

    import numpy as np
    import soundfile as sf

    data = tmp_path / "data"
    data.mkdir()
    for path in corpus.rglob("*.wav"):
        (data / path.name).write_bytes(path.read_bytes())
    with (corpus / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(0)
    long_clip = data / "long.wav"
    sf.write(long_clip, (0.1 * rng.standard_normal(16000 * 61)).astype(np.float32), 16000)
    rows.append({**rows[0], "file": "long.wav"})  # a training speaker's 61 s recording
    with (data / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    command = train_command(data, tmp_path / "run")
    command[command.index("--config") + 1] = str(corpus / "tiny.json")
    assert main(command) == 2
    error = capsys.readouterr().err
    assert "long.wav" in error and "too long to use whole: 61 s (at most 60 s" in error
    assert "set --max-train-seconds (e.g. 10) to train on random crops" in error
    assert main(["check", "--data", str(data)]) == 1
    assert "too long to use whole" in capsys.readouterr().out
    # Training on random crops accepts it.
    config = json.loads((corpus / "tiny.json").read_text())
    config["training"]["max_train_seconds"] = 1.0
    (data / "cropped.json").write_text(json.dumps(config))
    command[command.index("--config") + 1] = str(data / "cropped.json")
    assert main(command) == 0
    capsys.readouterr()
    assert main(["predict", str(trained), str(long_clip), "--segment", "none"]) == 2
    error = capsys.readouterr().err
    assert "61 s is too long to score as one clip" in error and "'auto'" in error
    assert main(["predict", str(trained), str(long_clip), "--segment", "fixed"]) == 0


def copy_corpus(corpus: Path, folder: Path) -> list[dict[str, str]]:
    """The tone corpus copied into `folder`; returns its manifest rows."""
    import csv

    folder.mkdir()
    for path in corpus.rglob("*.wav"):
        (folder / path.name).write_bytes(path.read_bytes())
    with (corpus / "manifest.csv").open() as handle:
        return list(csv.DictReader(handle))


def write_manifest(folder: Path, rows: list[dict[str, str]]) -> Path:
    import csv

    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def test_check_lists_every_unusable_row_and_names_a_folder_in_place_of_a_file(
    corpus, tmp_path, capsys
):
    data = tmp_path / "data"
    rows = copy_corpus(corpus, data)
    (data / "x.wav").mkdir()
    rows += [
        {**rows[0], "file": "gone_1.wav"},
        {**rows[0], "file": "x.wav"},
        {**rows[0], "file": "gone_2.wav"},
    ]
    write_manifest(data, rows)
    assert main(["check", "--data", str(data)]) == 2
    error = capsys.readouterr().err
    assert "3 rows cannot be used" in error
    assert "line 18: audio file" in error and "gone_1.wav does not exist" in error
    assert f"line 19: {data / 'x.wav'} is a folder, not an audio file" in error
    assert "line 20: audio file" in error and "gone_2.wav does not exist" in error


def test_check_flags_near_duplicate_labels_and_speakers_and_truncated_wavs(
    corpus, tmp_path, capsys
):
    data = tmp_path / "data"
    rows = copy_corpus(corpus, data)
    rows[0]["label"] = "Low "  # the others say "low"
    rows[1]["speaker"] = "0s1"  # leading zero: no collision with s1 (not a digit string)
    for row in rows:
        if row["speaker"] == "s4":
            row["speaker"] = "011"
        elif row["speaker"] == "s3":
            row["speaker"] = "11"
    whole = (data / rows[2]["file"]).read_bytes()
    (data / rows[2]["file"]).write_bytes(whole[: len(whole) // 2])
    write_manifest(data, rows)
    assert main(["check", "--data", str(data)]) == 1
    out = capsys.readouterr().out
    assert "labels ['Low', 'low'] differ only by case, spaces or Unicode form" in out
    assert "speakers ['011', '11'] differ only by leading zeros" in out
    assert f"{rows[2]['file']}" in out and "truncated: its header promises" in out
    assert "0s1" not in out.split("speakers")[-1].split("\n")[0]  # not a digit-only collision
    # The same data through training stops before any work.
    command = train_command(data, tmp_path / "run", "--test-speakers", "11")
    command[command.index("--config") + 1] = str(corpus / "tiny.json")
    del command[command.index("--test-speakers") : command.index("--test-speakers") + 2]
    assert main(command) == 2
    assert "differ only by leading zeros" in capsys.readouterr().err


def test_predict_refuses_a_truncated_wav_as_check_does(corpus, trained, tmp_path, capsys):
    """Issue 30, problem 8: `predict` scored a WAV cut to a fraction of itself (rc 0) while
    `check` and `train` flagged it; all read files through the one loader now."""
    whole = next(corpus.rglob("*.wav"))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 3])
    assert main(["predict", str(trained), str(cut)]) == 2
    error = capsys.readouterr().err
    assert f"{cut}: truncated: its header promises" in error and "copy it again" in error
    assert main(["predict", str(trained), str(cut), str(whole), "--on-bad-audio", "skip"]) == 0
    out = capsys.readouterr().out
    assert "skipped 1 of 2 files (--on-bad-audio skip):" in out
    assert f"{cut}: truncated: its header promises" in out


def test_evaluate_warns_about_the_speakers_the_model_was_trained_on(
    corpus, trained, tmp_path, capsys
):
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    assert FlamForSequenceClassification.from_pretrained(trained).config.training_speakers == [
        "s1",
        "s2",
        "s3",
    ]
    output = tmp_path / "metrics.json"
    evaluate = ["evaluate", str(trained), "--data", str(corpus), "--output", str(output)]
    assert main(evaluate) == 0
    error = capsys.readouterr().err
    assert "trained on speakers of this data: s1 (4), s2 (4), s3 (4) utterances" in error
    assert json.loads(output.read_text())["training_speakers_in_data"] == {
        "s1": 4,
        "s2": 4,
        "s3": 4,
    }
    assert main([*evaluate, "--test-speakers", "s4"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads(output.read_text())["training_speakers_in_data"] == {}


def test_a_read_only_output_folder_is_found_before_the_data_check(corpus, tmp_path, capsys):
    """As root a chmod cannot make a folder read-only: a read-only tmpfs can (skipped where
    mounting is not allowed)."""
    import subprocess

    mount = tmp_path / "read-only"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "none", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        assert main(train_command(corpus, mount / "run")) == 2
        captured = capsys.readouterr()
        assert f"--output-dir {mount / 'run'}: cannot write in {mount} (Read-only file system)" in (
            captured.err
        )
        assert "data check" not in captured.out
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# Every output argument of every command, with the other arguments pointing at nothing that
# exists: the output error must come first, so the check ran before any work.
OUTPUT_COMMANDS = {
    ("augment", "output"): ["augment", "no-such-data", "{out}"],
    ("check", "output"): ["check", "--data", "no-such-data", "--output", "{out}"],
    ("compare", "output"): ["compare", "no-a.json", "no-b.json", "--output", "{out}"],
    ("evaluate", "output"): ["evaluate", "no-model", "--data", "no-such-data", "--output", "{out}"],
    ("evaluate", "reliability_plot"): [
        "evaluate",
        "no-model",
        "--data",
        "no-such-data",
        "--reliability-plot",
        "{out}",
    ],
    ("evaluate", "robustness_plot"): [
        "evaluate",
        "no-model",
        "--data",
        "no-such-data",
        "--robustness-plot",
        "{out}",
    ],
    ("export", "output"): ["export", "no-model", "{out}"],
    ("predict", "output"): ["predict", "no-model", "no.wav", "--output", "{out}.json"],
    ("predict", "explain"): ["predict", "no-model", "no.wav", "--explain", "{out}"],
}


def test_every_output_argument_is_registered_for_the_writability_check():
    """The table above covers every output argument the commands declare, so an output
    argument added later without the check (or without this test) fails here."""
    from eam_ser.cli import build_parser

    parsers = build_parser().parse_args(["check", "--data", "x"]).command_parsers
    declared = {
        (command, dest)
        for command, parser in parsers.items()
        for dest, _, _ in parser.get_default("output_arguments") or ()
    }
    assert declared == set(OUTPUT_COMMANDS)


@pytest.mark.parametrize("key", sorted(OUTPUT_COMMANDS))
def test_an_output_that_cannot_be_written_is_named_before_any_work(key, tmp_path, capsys):
    """Issue 30, problem 2: evaluate --output / --reliability-plot, export, augment and
    check --output found an unwritable output after all their work."""
    command, _ = key
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    argv = [part.replace("{out}", str(a_file / "out")) for part in OUTPUT_COMMANDS[key]]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert f"{a_file} is a file, so the folder cannot be made" in error, error
    assert error.startswith(f"eam-ser {command}: error: "), error
    assert "no-such-data" not in error and "no-model" not in error and "no-a.json" not in error


def test_a_full_disk_stops_naming_the_folder_and_the_checkpoint_kept(corpus, tmp_path, capsys):
    """Issue 30, problem 16: a full disk gave torch's `unexpected pos ...` or a safetensors
    error. A 600 KiB tmpfs holds one checkpoint of the tiny model (about 400 KiB) but not a
    second: the run stops with one line, keeps checkpoint-2, and resumes from it once there is
    room (skipped where mounting is not allowed)."""
    import shutil
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=600k", "none", str(mount)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    command = train_command(corpus, mount / "run", "--max-steps", "4", "--save-steps", "2")
    try:
        assert main(command) == 2
        error = capsys.readouterr().err
        assert f"eam-ser train: error: no space left in {mount / 'run'}" in error, error
        assert "the newest complete checkpoint, checkpoint-2, is kept" in error
        assert "run it again with --resume to continue" in error
        assert "Traceback" not in error and "unexpected pos" not in error
        # Room again: the same command with --resume continues from the checkpoint kept.
        room = tmp_path / "room"
        shutil.copytree(mount / "run", room)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    for broken in sorted((room / "trainer").glob("checkpoint-*")):
        if broken.name != "checkpoint-2":
            shutil.rmtree(broken)  # what the full disk left half-written
    resumed = train_command(corpus, room, "--max-steps", "4", "--save-steps", "2", "--resume")
    assert main(resumed) == 0
    shown = "".join(capsys.readouterr())
    assert f"resuming from {room / 'trainer' / 'checkpoint-2'}" in shown


def test_every_file_of_a_checkpoint_is_covered_by_the_completeness_check(corpus, tmp_path):
    """Issue 30, points 4 and 16: a truncated rng_state.pth gave `Invalid argument`, a truncated
    collator_rng_state.json or config.json a JSON error naming no file, and a trainer_state.json
    holding {} a traceback. Each file of a real checkpoint, cut to half, is now named by
    `checkpoint_problem` (the Python files of the remote code excepted: nothing resumes from
    them), and `MultiLossTrainer.train` refuses such a checkpoint by name."""
    import shutil

    from eam_ser.training.checkpoints import checkpoint_problem

    output = tmp_path / "run"
    assert main(train_command(corpus, output, "--max-steps", "2", "--save-steps", "2")) == 0
    checkpoint = output / "trainer" / "checkpoint-2"
    assert checkpoint_problem(checkpoint) is None
    names = sorted(path.name for path in checkpoint.iterdir() if path.suffix != ".py")
    assert {"rng_state.pth", "collator_rng_state.json", "config.json", "trainer_state.json"} <= (
        set(names)
    )
    for name in names:
        broken = tmp_path / f"broken-{name}"
        shutil.copytree(checkpoint, broken)
        content = (broken / name).read_bytes()
        (broken / name).write_bytes(content[: len(content) // 2])
        assert name in (checkpoint_problem(broken) or ""), name
    (broken / "trainer_state.json").write_text("{}")
    assert "trainer_state.json" in checkpoint_problem(broken)
    # A plain Trainer user resuming from that path gets the same words before any work.
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
    from eam_ser.training.arguments import MultiLossTrainingArguments
    from eam_ser.training.trainer import MultiLossTrainer

    trainer = MultiLossTrainer(
        model=FlamForSequenceClassification.from_pretrained(output),
        args=MultiLossTrainingArguments(output_dir=str(tmp_path / "plain"), report_to=[]),
    )
    with pytest.raises(ValueError, match=rf"resume_from_checkpoint {broken}: no readable trainer"):
        trainer.train(resume_from_checkpoint=str(broken))
