"""Deprecated since 0.4: the 0.3 experiment module, split into `eam_ser.experiment` (config,
build, crossval, results), `eam_ser.inference` (evaluation) and `eam_ser.hub` (saving, the
model card). Every 0.3 name still imports from here; this module goes in 0.5."""

from __future__ import annotations

import warnings

from eam_ser.experiment.build import (
    CollatorFactory,
    build_collator,
    build_feature_extractor,
    build_model,
    encoder_min_input_samples,
    feature_cache_mode,
    training_arguments,
)
from eam_ser.experiment.config import (
    BASELINE_MIXING_OPTIONS,
    FROM_SCRATCH_ENCODER_LEARNING_RATE,
    HEAD_LEARNING_RATE,
    PRETRAINED_ENCODER_LEARNING_RATE,
    ExperimentConfig,
    TrainingSettings,
    check_field_types,
    default_encoder_config,
)
from eam_ser.experiment.crossval import (
    FOLD_RESULT_NAME,
    run_cross_validation,
    run_fold,
    run_split,
    split_validation_speakers,
    train_model,
)
from eam_ser.experiment.results import (
    SUMMARY_METRICS,
    aggregate_results,
    strict_json,
    summarize_runs,
    write_results,
)
from eam_ser.hub import is_main_process, process_state, save_model, write_model_card
from eam_ser.inference.evaluation import evaluate_model, predict_logits

__all__ = [
    "BASELINE_MIXING_OPTIONS",
    "FOLD_RESULT_NAME",
    "FROM_SCRATCH_ENCODER_LEARNING_RATE",
    "HEAD_LEARNING_RATE",
    "PRETRAINED_ENCODER_LEARNING_RATE",
    "SUMMARY_METRICS",
    "CollatorFactory",
    "ExperimentConfig",
    "TrainingSettings",
    "aggregate_results",
    "build_collator",
    "build_feature_extractor",
    "build_model",
    "check_field_types",
    "default_encoder_config",
    "encoder_min_input_samples",
    "evaluate_model",
    "feature_cache_mode",
    "is_main_process",
    "predict_logits",
    "process_state",
    "run_cross_validation",
    "run_fold",
    "run_split",
    "save_model",
    "split_validation_speakers",
    "strict_json",
    "summarize_runs",
    "train_model",
    "training_arguments",
    "write_model_card",
    "write_results",
]

warnings.warn(
    "eam_ser.crossval is deprecated: import from eam_ser.experiment (ExperimentConfig, "
    "run_split, run_cross_validation, ...), eam_ser.inference (evaluate_model, "
    "predict_logits) or eam_ser.hub (save_model, write_model_card, is_main_process)",
    DeprecationWarning,
    stacklevel=2,
)
