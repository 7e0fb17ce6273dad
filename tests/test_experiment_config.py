"""`eam_ser.experiment.config`: the experiment settings, their files and defaults."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from eam_ser.experiment.config import (
    FROM_SCRATCH_ENCODER_LEARNING_RATE,
    HEAD_LEARNING_RATE,
    PRETRAINED_ENCODER_LEARNING_RATE,
    ExperimentConfig,
    TrainingSettings,
    default_encoder_config,
)
from eam_ser.mixup import EAM_DEFAULTS
from test_crossval import TINY_CONFIG


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


@pytest.mark.parametrize("cls", [TrainingSettings, ExperimentConfig])
def test_every_field_has_a_one_line_help(cls: type) -> None:
    for field in dataclasses.fields(cls):
        help_text = field.metadata.get("help", "")
        assert help_text and "\n" not in help_text, field.name


def test_learning_rate_help_states_the_defaults_written_once() -> None:
    fields = {field.name: field for field in dataclasses.fields(TrainingSettings)}
    assert f"{HEAD_LEARNING_RATE:g}" in fields["head_learning_rate"].metadata["help"]
    encoder_help = fields["encoder_learning_rate"].metadata["help"]
    assert f"{PRETRAINED_ENCODER_LEARNING_RATE:g}" in encoder_help
    assert f"{FROM_SCRATCH_ENCODER_LEARNING_RATE:g}" in encoder_help


def test_config_module_imports_without_torch() -> None:
    code = (
        "import sys, dataclasses; import eam_ser.experiment.config as c; "
        "dataclasses.fields(c.TrainingSettings); c.TrainingSettings(); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
