"""Benchmark scripts keep committed results unless told to overwrite them, and stop cleanly on
Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_ablation_stops_its_workers_on_ctrl_c(tmp_path, emodb_dir):
    output = tmp_path / "ablation_interrupted.json"
    process = subprocess.Popen(
        [
            sys.executable,
            str(BENCHMARKS / "ablation.py"),
            "--steps",
            "2000",
            "--folds",
            "0,1",
            "--seeds",
            "0",
            "--rows",
            "baseline,full",
            "--output",
            str(output),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    time.sleep(20)  # the workers are training by now
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 130, stdout[-3000:]
    assert "interrupted: 0 finished runs" in stdout
    leftover = subprocess.run(["pgrep", "-f", str(output)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
