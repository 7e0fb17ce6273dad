"""The one run builder: model, feature extractor, collator, `TrainingArguments` and trainer.

`build_trainer` assembles a ready-to-train `MultiLossTrainer` for one training split from an
`ExperimentConfig`: the FLAM model around the configured encoder (`build_model`), its feature
extractor (`build_feature_extractor`), the EAM training collator (`build_collator`, or cached
encoder features: `feature_cache_mode`) and the fixed-budget `MultiLossTrainingArguments`
(`training_arguments`). `eam_ser.experiment.crossval.train_model` (and through it the
``eam-ser train`` command, cross-validation and the benchmarks) trains what it builds; the
examples call it too. Everything stays reachable on the trainer: ``trainer.model``,
``trainer.args``, ``trainer.data_collator``, ``trainer.processing_class``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    EvalPrediction,
    FeatureExtractionMixin,
    Wav2Vec2FeatureExtractor,
    set_seed,
)

from eam_ser.corpora import label_names
from eam_ser.data.audio import DEFAULT_SAMPLING_RATE
from eam_ser.data.check import DataCheckReport, check_run_data, holds_files
from eam_ser.evaluation.metrics import ser_metrics
from eam_ser.experiment.config import ExperimentConfig, default_encoder_config
from eam_ser.mixup.baselines import MixupCollator, WholeClipMixCollator
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.models.flam.arguments import check_seed
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from eam_ser.training.feature_cache import (
    CachedFeatureCollator,
    EncoderFeatureCache,
    PartiallyCachedMixupCollator,
    encoder_is_frozen,
)
from eam_ser.training.trainer import MultiLossTrainer, MultiLossTrainingArguments

__all__ = [
    "CollatorFactory",
    "build_collator",
    "build_feature_extractor",
    "build_model",
    "build_trainer",
    "check_run_data_of",
    "encoder_min_input_samples",
    "feature_cache_mode",
    "training_arguments",
]


def build_model(config: ExperimentConfig, labels: Sequence[str]) -> FlamForSequenceClassification:
    """FLAM classifier over `labels` around the configured encoder (seed it before calling)."""
    id2label = dict(enumerate(labels))
    flam_settings = {"multi_loss": config.loss.to_dict(), **config.flam}
    if config.encoder:
        return FlamForSequenceClassification.from_encoder(
            config.encoder, id2label=id2label, **flam_settings
        )
    # A randomly initialised front end must learn, so it is not frozen unless asked for.
    flam_settings = {"freeze_feature_encoder": False, **flam_settings}
    flam_config = FlamConfig(
        encoder_config=default_encoder_config(**config.encoder_config),
        id2label=id2label,
        label2id={name: index for index, name in id2label.items()},
        **flam_settings,
    )
    return FlamForSequenceClassification(flam_config)


def encoder_min_input_samples(config: ExperimentConfig) -> int:
    """Shortest clip the configured encoder accepts, in samples at 16 kHz (reads the encoder's
    config only, no weights): `FlamConfig.min_input_samples`."""
    encoder_config = (
        AutoConfig.from_pretrained(config.encoder)
        if config.encoder
        else default_encoder_config(**config.encoder_config)
    )
    return FlamConfig(encoder_config=encoder_config).min_input_samples


def build_feature_extractor(config: ExperimentConfig) -> FeatureExtractionMixin:
    """The encoder's own feature extractor (e.g. Whisper log-mel), or a normalising 16 kHz
    `Wav2Vec2FeatureExtractor` for the small encoder; attention masks are always returned."""
    if config.encoder:
        extractor = AutoFeatureExtractor.from_pretrained(config.encoder)
        extractor.return_attention_mask = True
        return extractor
    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=DEFAULT_SAMPLING_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )


CollatorFactory = Callable[[ExperimentConfig, int, FeatureExtractionMixin, int], Any]
"""``(config, num_labels, feature_extractor, seed) -> training collator``: how `build_trainer`
builds the collator of training batches (default `build_collator`). The collator must give
the batches `FlamForSequenceClassification` takes and may have ``as_eval()`` (a collator that
never mixes, used for validation batches)."""


def build_collator(
    config: ExperimentConfig, num_labels: int, feature_extractor: FeatureExtractionMixin, seed: int
) -> EnergyAdaptiveMixupCollator:
    """The training collator: EAM as configured (or `config.baseline_mixing`), cropping with
    `training.max_train_seconds`, featurising with `feature_extractor`."""
    eam = EnergyAdaptiveMixupCollator(
        num_labels,
        feature_extractor=feature_extractor,
        seed=seed,
        sampling_rate=feature_extractor.sampling_rate,
        max_train_seconds=config.training.max_train_seconds,
        **dataclasses.asdict(config.eam),
    )
    if config.baseline_mixing is None:
        return eam
    options = {key: value for key, value in config.baseline_mixing.items() if key != "method"}
    common = {
        "p": config.eam.p,
        "seed": seed,
        "max_train_seconds": config.training.max_train_seconds,
    }
    if config.baseline_mixing["method"] == "mixup":
        return MixupCollator(eam, **common, **options)
    return WholeClipMixCollator(
        eam, min_snr_db=config.eam.min_snr_db, max_snr_db=config.eam.max_snr_db, **common, **options
    )


def training_arguments(
    config: ExperimentConfig, output_dir: str | Path, seed: int, *, validation: bool = False
) -> MultiLossTrainingArguments:
    """`MultiLossTrainingArguments` for a fixed budget with the configured learning rates.

    Without `validation`: no evaluation, the last model is kept, a checkpoint every
    `training.save_steps` steps (the last one kept) to resume from. With `validation`: an
    evaluation on the validation speakers after every epoch, a checkpoint per epoch, and the
    epoch with the best validation UA loaded at the end.
    """
    training = config.training
    rates = config.learning_rates
    checkpoints: dict[str, Any] = (
        {
            "eval_strategy": "epoch",
            "save_strategy": "epoch",
            "load_best_model_at_end": True,
            "metric_for_best_model": "ua",
            "greater_is_better": True,
            # The best epoch's checkpoint and the last one (to resume from).
            "save_total_limit": 2,
        }
        if validation
        else {
            "eval_strategy": "no",
            "save_strategy": "steps",
            "save_steps": training.save_steps,
            "save_total_limit": 1,
        }
    )
    return MultiLossTrainingArguments(
        output_dir=str(output_dir),
        learning_rate=rates["head_learning_rate"],
        head_learning_rate=rates["head_learning_rate"],
        encoder_learning_rate=rates["encoder_learning_rate"],
        center_learning_rate=rates["center_learning_rate"],
        max_steps=training.max_steps,
        num_train_epochs=training.num_train_epochs,
        per_device_train_batch_size=training.per_device_train_batch_size,
        per_device_eval_batch_size=training.per_device_eval_batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        warmup_steps=training.warmup_steps,
        weight_decay=training.weight_decay,
        seed=seed,
        data_seed=seed,
        logging_steps=training.logging_steps,
        dataloader_num_workers=training.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without GPUs, processes started by torchrun / accelerate launch train as one gloo
        # DDP group (TrainingArguments needs use_cpu for that); with GPUs this stays False.
        use_cpu=not torch.cuda.is_available(),
        report_to="none",
        balanced_sampling=training.balanced_sampling,
        max_batch_seconds=training.max_batch_seconds,
        **checkpoints,
    )


def feature_cache_mode(
    config: ExperimentConfig, model: FlamForSequenceClassification
) -> str | None:
    """How `build_trainer` uses cached encoder features for `model`: ``"full"`` (every
    training batch from the cache: no mixing), ``"partial"`` (EAM: only the mixed rows through
    the encoder, `PartiallyCachedMixupCollator`) or None (the encoder runs on every batch).

    The cache needs `training.cache_encoder_features`, an encoder that never trains, whole
    clips (no `max_train_seconds`) and the last hidden state only (no weighted layer sum);
    the comparison mixers (`baseline_mixing`) always run the encoder."""
    if not (
        config.training.cache_encoder_features
        and encoder_is_frozen(model)
        and config.baseline_mixing is None
        and config.training.max_train_seconds is None
        and not model.config.use_weighted_layer_sum
    ):
        return None
    return "full" if config.eam.p == 0 else "partial"


def _cached_inputs(
    mode: str,
    config: ExperimentConfig,
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    train_dataset: Dataset,
    validation_dataset: Dataset | None,
    arguments: MultiLossTrainingArguments,
    seed: int,
) -> tuple[EncoderFeatureCache, EncoderFeatureCache | None, Any]:
    """Training (and validation) sets of cached encoder features, run once on the training
    device, and the collator of `mode` (see `feature_cache_mode`)."""
    model.to(arguments.device)
    batch_size = config.training.per_device_eval_batch_size
    progress = None if arguments.disable_tqdm else "encoding the training clips once"
    train_cache = EncoderFeatureCache(
        model,
        feature_extractor,
        train_dataset,
        batch_size,
        keep_waveforms=mode == "partial",
        description=progress,
        cache_dir=config.training.feature_cache_dir,
        dtype=config.training.feature_cache_dtype,
    )
    validation_cache = None
    if validation_dataset is not None:
        validation_cache = EncoderFeatureCache(
            model,
            feature_extractor,
            validation_dataset,
            batch_size,
            description=None if progress is None else "encoding the validation clips once",
            cache_dir=config.training.feature_cache_dir,
            dtype=config.training.feature_cache_dtype,
        )
    num_labels = model.config.num_labels
    collator = (
        CachedFeatureCollator(num_labels)
        if mode == "full"
        else PartiallyCachedMixupCollator(
            build_collator(config, num_labels, feature_extractor, seed), model
        )
    )
    return train_cache, validation_cache, collator


def _validation_ua(prediction: EvalPrediction) -> dict[str, float]:
    """`compute_metrics` of the validation split: UA (and WA) of the logits."""
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    labels = np.asarray(prediction.label_ids)
    metrics = ser_metrics(logits.argmax(axis=-1), labels, num_labels=logits.shape[-1])
    return {"ua": metrics["ua"], "wa": metrics["wa"]}


def check_run_data_of(
    config: ExperimentConfig,
    splits: dict[str, Dataset],
    on_bad_audio: str = "error",
    *,
    tested_whole: bool = False,
) -> tuple[dict[str, Dataset], DataCheckReport]:
    """The data check of a run of `config` over `splits` (``"train"``, ``"test"``,
    ``"validation"``; `eam_ser.data.check.check_run_data`): clips shorter than the encoder
    accepts are refused, training clips are cropped when ``training.max_train_seconds`` is set
    (unless `tested_whole`: cross-validation tests every clip of its ``"train"`` split whole
    in some fold), every other clip is used whole. A test split with no usable file left is
    refused.

    Raises:
        DataCheckError: the problems found (`on_bad_audio` ``"error"`` or ``"skip"``).
    """
    kept, report = check_run_data(
        splits,
        min_input_samples=encoder_min_input_samples(config),
        on_bad_audio=on_bad_audio,
        cropped_training=config.training.max_train_seconds is not None and not tested_whole,
    )
    if "test" in kept and kept["test"].num_rows == 0:
        raise ValueError("data check: no usable test file left")
    return kept, report


def build_trainer(
    train_dataset: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    seed: int | None = None,
    validation_dataset: Dataset | None = None,
    collator_factory: CollatorFactory | None = None,
    disable_tqdm: bool | None = None,
    on_bad_audio: str | None = "error",
) -> MultiLossTrainer:
    """A `MultiLossTrainer` ready to train on `train_dataset` (columns ``audio`` path,
    ``label`` ClassLabel, ``speaker``) for the fixed budget of `config`.

    The global seed is set to `seed` (default `training.seed`) before the model is built, so
    the same seed builds the same run. Checkpoints go to `output_dir`. With
    `validation_dataset` (held-out training speakers), the trainer evaluates on it after every
    epoch and keeps the epoch with the best UA. `collator_factory` builds the training
    collator (default `build_collator`: EAM as configured, or cached encoder features where
    `feature_cache_mode` allows); `disable_tqdm` overrides Trainer's progress bars.

    Datasets of files (an ``audio`` column of paths) are checked first (`check_run_data_of`:
    every file decoded once, before the model is built) with the policy `on_bad_audio`
    (``"error"`` refuses a bad file, ``"skip"`` trains without it); None leaves them unchecked,
    for datasets the caller has checked already.
    """
    seed = check_seed(seed)  # before the data check: a bad seed fails at once
    if on_bad_audio is not None and holds_files(train_dataset):
        splits = {"train": train_dataset}
        if validation_dataset is not None and holds_files(validation_dataset):
            splits["validation"] = validation_dataset
        kept, _ = check_run_data_of(config, splits, on_bad_audio)
        train_dataset, validation_dataset = (
            kept["train"],
            kept.get("validation", validation_dataset),
        )
    seed = config.training.seed if seed is None else seed
    labels = label_names(train_dataset)
    set_seed(seed)
    model = build_model(config, labels)
    # Validation speakers included: they chose the epoch, so they are not unseen either.
    speakers = [
        *train_dataset["speaker"],
        *([] if validation_dataset is None else validation_dataset["speaker"]),
    ]
    model.config.training_speakers = sorted({str(speaker) for speaker in speakers})
    feature_extractor = build_feature_extractor(config)
    arguments = training_arguments(
        config, output_dir, seed, validation=validation_dataset is not None
    )
    if disable_tqdm is not None:
        arguments.disable_tqdm = disable_tqdm
    note = config.eam_regime["note"]
    if note is not None and collator_factory is None and not arguments.disable_tqdm:
        tqdm.write(note)
    cache_mode = None if collator_factory is not None else feature_cache_mode(config, model)
    if cache_mode is not None:
        train_dataset, validation_dataset, collator = _cached_inputs(
            cache_mode,
            config,
            model,
            feature_extractor,
            train_dataset,
            validation_dataset,
            arguments,
            seed,
        )
    else:
        factory = build_collator if collator_factory is None else collator_factory
        collator = factory(config, len(labels), feature_extractor, seed)
    return MultiLossTrainer(
        model=model,
        args=arguments,
        train_dataset=train_dataset,
        eval_dataset=validation_dataset,
        data_collator=collator,
        processing_class=feature_extractor,
        compute_metrics=_validation_ua if validation_dataset is not None else None,
    )
