"""`eam_ser.experiment.build`: the one run builder wires model, collator, arguments, trainer."""

from __future__ import annotations

from pathlib import Path

import torch

from eam_ser.corpora import load_manifest, train_test_split_by_fold
from eam_ser.experiment.build import build_trainer
from eam_ser.experiment.config import HEAD_LEARNING_RATE, ExperimentConfig
from eam_ser.experiment.crossval import split_validation_speakers
from eam_ser.mixup import EnergyAdaptiveMixupCollator
from eam_ser.training.trainer import MultiLossTrainer
from test_crossval import TINY_CONFIG, write_tone_corpus


def test_build_trainer_wires_one_run_and_repeats_it_with_the_seed(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path))
    train, _ = train_test_split_by_fold(dataset, 1)
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    trainer = build_trainer(train, config, tmp_path / "run")
    assert isinstance(trainer, MultiLossTrainer)
    assert isinstance(trainer.data_collator, EnergyAdaptiveMixupCollator)
    assert trainer.processing_class.sampling_rate == 16000
    assert trainer.args.seed == trainer.args.data_seed == 7
    assert trainer.args.head_learning_rate == HEAD_LEARNING_RATE
    assert trainer.args.eval_strategy == "no" and trainer.eval_dataset is None
    assert trainer.model.config.training_speakers == ["s1", "s2"]
    again = build_trainer(train, config, tmp_path / "again")
    for (name, first), (_, second) in zip(
        trainer.model.state_dict().items(), again.model.state_dict().items(), strict=True
    ):
        assert torch.equal(first, second), name


def test_build_trainer_validates_on_held_out_training_speakers(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path, speakers=("s1", "s2", "s3", "s4", "s5")))
    train, validation = split_validation_speakers(dataset, 1, seed=0)
    config = ExperimentConfig.from_dict(TINY_CONFIG)
    trainer = build_trainer(train, config, tmp_path / "run", validation_dataset=validation)
    assert trainer.args.eval_strategy == "epoch" and trainer.args.metric_for_best_model == "ua"
    assert trainer.eval_dataset is validation and trainer.compute_metrics is not None
    # The held-out speakers chose the epoch: they count as seen in training.
    assert trainer.model.config.training_speakers == ["s1", "s2", "s3", "s4", "s5"]
