"""Experiment config, result aggregation and a tiny 2-fold cross-validation run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from eam_ser.corpora import load_manifest
from eam_ser.crossval import (
    FROM_SCRATCH_ENCODER_LEARNING_RATE,
    HEAD_LEARNING_RATE,
    PRETRAINED_ENCODER_LEARNING_RATE,
    ExperimentConfig,
    aggregate_results,
    default_encoder_config,
    run_cross_validation,
)
from eam_ser.mixup import EAM_DEFAULTS

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


def test_config_round_trip_files_and_errors(tmp_path: Path) -> None:
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    assert config.training.max_steps == 2 and config.flam["embedding_size"] == 8
    assert config.eam == EAM_DEFAULTS
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    (tmp_path / "c.json").write_text(json.dumps(TINY_CONFIG))
    (tmp_path / "c.yaml").write_text(
        "encoder: microsoft/wavlm-large\neam:\n  p: 0.8\n  label_mode: length\n"
    )
    assert ExperimentConfig.from_file(tmp_path / "c.json") == config
    from_yaml = ExperimentConfig.from_file(tmp_path / "c.yaml")
    assert (from_yaml.encoder, from_yaml.eam.p, from_yaml.eam.label_mode) == (
        "microsoft/wavlm-large",
        0.8,
        "length",
    )
    assert from_yaml.learning_rates == {
        "head_learning_rate": HEAD_LEARNING_RATE,
        "encoder_learning_rate": PRETRAINED_ENCODER_LEARNING_RATE,
        "center_learning_rate": HEAD_LEARNING_RATE,
    }
    assert config.learning_rates["encoder_learning_rate"] == FROM_SCRATCH_ENCODER_LEARNING_RATE
    with pytest.raises(ValueError, match="split into 'head_learning_rate' and"):
        ExperimentConfig.from_dict({"training": {"learning_rate": 1e-4}})
    with pytest.raises(ValueError, match=r"config\['eam'\]: unknown keys \['snr'\]"):
        ExperimentConfig.from_dict({"eam": {"snr": 3}})
    with pytest.raises(ValueError, match=r"unknown keys \['epochs'\]"):
        ExperimentConfig.from_dict({"epochs": 3})


def test_default_encoder_config_frames_every_20_ms() -> None:
    config = default_encoder_config(hidden_size=32)
    assert math.prod(config.conv_stride) == 320  # 16000 / 320 = 50 frames per second
    assert (config.hidden_size, config.num_hidden_layers) == (32, 2)


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
    assert (tmp_path / "cv" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "cv" / "model").exists()


def test_cross_validation_argument_errors(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path))
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    with pytest.raises(ValueError, match=r"folds \[5\] are not in the dataset"):
        run_cross_validation(dataset, config, tmp_path / "cv", folds=[5])
    one_fold = dataset.filter(lambda row: row["fold"] == 0)
    with pytest.raises(ValueError, match="at least 2 folds"):
        run_cross_validation(one_fold, config, tmp_path / "cv")
