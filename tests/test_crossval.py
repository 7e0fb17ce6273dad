"""`eam_ser.experiment.crossval`: a tiny 2-fold cross-validation run and the drivers' argument
checks; the tone corpus and tiny config other tests train on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import assert_shows_confusion, png_picture, tone
from eam_ser.corpora import load_manifest
from eam_ser.evaluation.plots import plot_confusion_matrix
from eam_ser.experiment.config import (
    FROM_SCRATCH_ENCODER_LEARNING_RATE,
    HEAD_LEARNING_RATE,
    ExperimentConfig,
)
from eam_ser.experiment.crossval import run_cross_validation

# A very small encoder and head so a training step takes milliseconds.
TINY_CONFIG = {
    "encoder_config": {
        "hidden_size": 16,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "conv_dim": [8] * 7,
        "num_conv_pos_embeddings": 8,
        "num_conv_pos_embedding_groups": 2,
    },
    "flam": {"embedding_size": 8, "flam_num_attention_heads": 2},
    "training": {"max_steps": 2, "per_device_train_batch_size": 4, "logging_steps": 1, "seed": 7},
}


def write_tone_corpus(
    folder: Path, speakers=("s1", "s2", "s3", "s4"), clips_per_label: int = 2
) -> Path:
    """Manifest corpus of 0.3 s tones: label 'low' 200 Hz, 'high' 1200 Hz; speakers s1+s2 in
    fold 0, s3+s4 in fold 1. Returns the manifest path."""
    lines = ["file,label,speaker,gender,fold"]
    for index, speaker in enumerate(speakers):
        for label, frequency in (("low", 200.0), ("high", 1200.0)):
            for clip in range(clips_per_label):
                name = f"{speaker}_{label}_{clip}.wav"
                # A distinct amplitude per speaker: the data check refuses the same audio under
                # two speakers.
                waveform = tone(0.3 + 0.05 * clip, frequency, amplitude=0.3 + 0.1 * index)
                sf.write(folder / name, waveform, 16000)
                lines.append(f"{name},{label},{speaker},unknown,{index // 2}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_cross_validation_two_folds(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path))
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    results = run_cross_validation(dataset, config, tmp_path / "cv")
    assert [fold["fold"] for fold in results["folds"]] == [0, 1]
    assert [fold["test_speakers"] for fold in results["folds"]] == [["s1", "s2"], ["s3", "s4"]]
    assert [(fold["num_train"], fold["num_test"]) for fold in results["folds"]] == [(8, 8), (8, 8)]
    for fold in results["folds"]:
        matrix = np.array(fold["confusion_matrix"])
        assert matrix.sum() == 8
        assert fold["wa"] == pytest.approx(np.trace(matrix) / 8)
    assert np.array(results["confusion_matrix"]).sum() == 16
    assert results["mean"]["wa"] == pytest.approx(np.mean([f["wa"] for f in results["folds"]]))
    assert results["seeds"] == [7, 7]
    written = json.loads((tmp_path / "cv" / "results.json").read_text())
    assert written["mean"] == pytest.approx(results["mean"])
    assert written["config"]["training"]["max_steps"] == 2
    # The rate actually used, not the null that means "the default".
    assert written["config"]["training"]["head_learning_rate"] == HEAD_LEARNING_RATE
    assert (
        written["config"]["training"]["encoder_learning_rate"] == FROM_SCRATCH_ENCODER_LEARNING_RATE
    )
    table = (tmp_path / "cv" / "results.md").read_text()
    assert "| 0 | s1, s2 | 8 / 8 |" in table and "**mean ± std**" in table
    # The picture is the heat map of the matrix summed over the folds, with its counts.
    picture = png_picture(tmp_path / "cv" / "confusion_matrix.png")
    assert picture.shape[:2] == (220, 370)  # (1 + 0.6 * 2 classes) in + 1.5 in wider, 100 dpi
    assert_shows_confusion(picture, results["confusion_matrix"])
    expected = plot_confusion_matrix(
        results["confusion_matrix"],
        results["label_names"],
        tmp_path / "expected.png",
        title="Confusion matrix summed over folds",
    )
    np.testing.assert_array_equal(picture, png_picture(expected))
    assert not (tmp_path / "cv" / "model").exists()


def test_cross_validation_argument_errors(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path))
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    with pytest.raises(ValueError, match=r"folds \[5\] are not in the dataset"):
        run_cross_validation(dataset, config, tmp_path / "cv", folds=[5])
    one_fold = dataset.filter(lambda row: row["fold"] == 0)
    with pytest.raises(ValueError, match="at least 2 folds"):
        run_cross_validation(one_fold, config, tmp_path / "cv")
