"""Experiments: the config, the one run builder, the fold drivers and the results.

- `config`: `ExperimentConfig`, `TrainingSettings` and the learning-rate defaults (torch-free);
- `build`: `build_trainer`, the one run builder (model, collator, `TrainingArguments`,
  trainer), and its parts;
- `crossval`: `train_model`, the validation split and the drivers `run_split`, `run_fold`,
  `run_cross_validation`;
- `results`: fold records, summaries, ``results.json`` / ``results.md``.

May import: `eam_ser.models`, `eam_ser.corpora`, `eam_ser.data`, `eam_ser.mixup`,
`eam_ser.evaluation`, `eam_ser.training`, `eam_ser.inference`, `eam_ser.hub`.

A run: ``config -> build -> crossval (train, test with eam_ser.inference) -> results``, the
model saved by `eam_ser.hub`. The names below are imported on first use, so ``import
eam_ser.experiment.config`` (what the ``eam-ser`` command reads) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .build import CollatorFactory as CollatorFactory
    from .build import build_collator as build_collator
    from .build import build_feature_extractor as build_feature_extractor
    from .build import build_model as build_model
    from .build import build_trainer as build_trainer
    from .build import encoder_min_input_samples as encoder_min_input_samples
    from .build import feature_cache_mode as feature_cache_mode
    from .build import training_arguments as training_arguments
    from .config import BASELINE_MIXING_OPTIONS as BASELINE_MIXING_OPTIONS
    from .config import FROM_SCRATCH_ENCODER_LEARNING_RATE as FROM_SCRATCH_ENCODER_LEARNING_RATE
    from .config import HEAD_LEARNING_RATE as HEAD_LEARNING_RATE
    from .config import PRETRAINED_ENCODER_LEARNING_RATE as PRETRAINED_ENCODER_LEARNING_RATE
    from .config import ExperimentConfig as ExperimentConfig
    from .config import TrainingSettings as TrainingSettings
    from .config import check_field_types as check_field_types
    from .config import default_encoder_config as default_encoder_config
    from .crossval import FOLD_RESULT_NAME as FOLD_RESULT_NAME
    from .crossval import fit_score_temperature as fit_score_temperature
    from .crossval import run_cross_validation as run_cross_validation
    from .crossval import run_fold as run_fold
    from .crossval import run_split as run_split
    from .crossval import split_validation_speakers as split_validation_speakers
    from .crossval import train_model as train_model
    from .results import aggregate_results as aggregate_results
    from .results import fold_record as fold_record
    from .results import strict_json as strict_json
    from .results import summarize_runs as summarize_runs
    from .results import write_results as write_results

__getattr__, __dir__ = lazy_exports(__name__, __file__)
