"""Experiments: the config, the one run builder, the fold drivers and the results.

- `config`: `ExperimentConfig`, `TrainingSettings` and the learning-rate defaults (torch-free);
- `build`: `build_trainer`, the one run builder (model, collator, `TrainingArguments`,
  trainer), and its parts;
- `crossval`: `train_model`, the validation split and the drivers `run_split`, `run_fold`,
  `run_cross_validation`;
- `results`: fold records, summaries, ``results.json`` / ``results.md``.

A run: ``config -> build -> crossval (train, test with eam_ser.inference) -> results``, the
model saved by `eam_ser.hub`. The names below are imported on first use, so ``import
eam_ser.experiment.config`` (what the ``eam-ser`` command reads) does not load torch.
"""

from __future__ import annotations

from eam_ser._lazy import lazy_exports

# Public name -> the module of this package that defines it.
_LAZY = {
    "BASELINE_MIXING_OPTIONS": "config",
    "FROM_SCRATCH_ENCODER_LEARNING_RATE": "config",
    "HEAD_LEARNING_RATE": "config",
    "PRETRAINED_ENCODER_LEARNING_RATE": "config",
    "ExperimentConfig": "config",
    "TrainingSettings": "config",
    "check_field_types": "config",
    "default_encoder_config": "config",
    "CollatorFactory": "build",
    "build_collator": "build",
    "build_feature_extractor": "build",
    "build_model": "build",
    "build_trainer": "build",
    "encoder_min_input_samples": "build",
    "feature_cache_mode": "build",
    "training_arguments": "build",
    "FOLD_RESULT_NAME": "crossval",
    "run_cross_validation": "crossval",
    "run_fold": "crossval",
    "run_split": "crossval",
    "split_validation_speakers": "crossval",
    "train_model": "crossval",
    "SUMMARY_METRICS": "results",
    "aggregate_results": "results",
    "fold_record": "results",
    "strict_json": "results",
    "summarize_runs": "results",
    "write_results": "results",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
