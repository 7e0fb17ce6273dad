"""`benchmarks/route.py`: the modules a training run visits from the command to the loss."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import route  # noqa: E402


def test_returns_count_visits_to_modules_already_left() -> None:
    summary = route.summarize(["cli", "experiment", "cli", "mixup", "experiment", "losses"])
    assert summary["visits"] == 6 and summary["modules"] == 4
    assert summary["returns"] == 2  # back to cli once, back to experiment once
    assert summary["visits_per_module"] == {"cli": 2, "experiment": 2, "mixup": 1, "losses": 1}


def test_the_layer_route_collapses_visits_to_one_folder() -> None:
    modules = [
        "eam_ser.cli.train", "eam_ser.cli.data", "eam_ser.experiment.build",
        "eam_ser.models.flam.losses", "eam_ser.experiment.crossval", "eam_ser._lazy",
    ]  # fmt: skip
    assert route.layer_route(modules) == ["cli", "experiment", "models", "experiment", "root"]
    summary = route.summarize(modules)
    assert (summary["layer_visits"], summary["layer_returns"]) == (5, 1)


def test_route_of_one_training_step_runs_from_the_command_to_the_loss(tmp_path) -> None:
    visited = route.trace_route(
        [
            "train",
            "--corpus",
            "emodb",
            "--root",
            str(route.ROOT / "examples" / "data"),
            "--test-speakers",
            "13",
            "--max-steps",
            "1",
            "--output-dir",
            str(tmp_path / "run"),
        ]
    )
    assert visited[0].startswith("eam_ser.cli") and visited[-1] == "eam_ser.models.flam.losses"
    assert all(module.startswith("eam_ser.") for module in visited)
    assert all(first != second for first, second in itertools.pairwise(visited))
    # stopped at the first loss term: nothing was written after the first step began
    assert not (tmp_path / "run" / "results.json").exists()
