"""`eam_ser.experiment.results`: aggregating fold records into the results dict."""

from __future__ import annotations

from pathlib import Path

import pytest

from eam_ser.corpora import load_manifest
from eam_ser.experiment.config import ExperimentConfig
from eam_ser.experiment.results import aggregate_results
from test_crossval import write_tone_corpus


def test_aggregate_results_hand_worked(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path))
    folds = [
        {
            "fold": 0,
            "wa": 0.5,
            "ua": 0.4,
            "macro_f1": 0.3,
            "confusion_matrix": [[2, 2], [2, 2]],
            "seed": 1,
        },
        {
            "fold": 1,
            "wa": 0.7,
            "ua": 0.8,
            "macro_f1": 0.6,
            "confusion_matrix": [[4, 0], [1, 3]],
            "seed": 1,
        },
    ]
    results = aggregate_results(folds, dataset, ExperimentConfig())
    assert results["mean"] == pytest.approx({"wa": 0.6, "ua": 0.6, "macro_f1": 0.45})
    # sample standard deviation (ddof=1) of two values a, b is |a - b| / sqrt(2)
    assert results["std"] == pytest.approx(
        {"wa": 0.2 / 2**0.5, "ua": 0.4 / 2**0.5, "macro_f1": 0.3 / 2**0.5}
    )
    assert results["confusion_matrix"] == [[6, 2], [3, 5]]
    assert results["label_names"] == ["high", "low"]
    assert results["corpus"] == "custom" and results["seeds"] == [1, 1]
