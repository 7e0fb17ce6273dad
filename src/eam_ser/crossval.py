"""Experiments: train EAM + FLAM + MLL on a corpus split or over every speaker-independent fold.

One `ExperimentConfig` (encoder, FLAM, EAM, loss and training settings; loadable from YAML or
JSON) drives every run. Per fold: the `EnergyAdaptiveMixupCollator` mixes training batches,
`FlamForSequenceClassification` classifies, `MultiLossTrainer` optimises the four-term loss
for a fixed budget (``max_steps`` or ``num_train_epochs``), then the model is tested on the
held-out speakers with hard labels and no mixing.

No checkpoint or epoch is chosen on the test fold (a common source of inflated SER numbers):
the budget is fixed before training and the last model is the one tested.

`run_cross_validation` writes to its output folder:

- ``results.json``: per-fold and mean / std (sample std, ddof=1) WA, UA, macro-F1, per-class
  recall, confusion matrices, seeds and the config (schema in `eam_ser.modelcard`),
- ``results.md``: the markdown fold table,
- ``confusion_matrix.png``: the confusion matrix summed over the folds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from accelerate import PartialState
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    EvalPrediction,
    FeatureExtractionMixin,
    Wav2Vec2FeatureExtractor,
    WavLMConfig,
    set_seed,
)

from eam_ser.audio import DEFAULT_SAMPLING_RATE
from eam_ser.configuration_flam import FlamConfig
from eam_ser.corpora import CORPORA, label_names, train_test_split_by_fold
from eam_ser.feature_cache import (
    CachedFeatureCollator,
    EncoderFeatureCache,
    PartiallyCachedMixupCollator,
    encoder_is_frozen,
)
from eam_ser.inference import EmotionRecognizer
from eam_ser.losses import MultiLossSettings
from eam_ser.metrics import plot_confusion_matrix, ser_metrics
from eam_ser.mixup import EnergyAdaptiveMixupCollator, EnergyAdaptiveMixupSettings
from eam_ser.mixup_settings import EAM_REGIME_EVIDENCE, encoder_regime
from eam_ser.modelcard import render_model_card, results_markdown
from eam_ser.modeling_flam import FlamForSequenceClassification
from eam_ser.trainer import (
    MultiLossTrainer,
    MultiLossTrainingArguments,
    last_complete_checkpoint,
)

# Learning rates when `TrainingSettings` leaves them None. The head (FLAM, projector,
# classifier, centers) always starts from scratch, so it trains at a from-scratch rate whether
# the encoder is frozen, partly or fully fine-tuned; a pretrained encoder's trainable layers
# take a fine-tuning rate; the small encoder built from a config trains from scratch too.
HEAD_LEARNING_RATE = 1e-3
PRETRAINED_ENCODER_LEARNING_RATE = 5e-5
FROM_SCRATCH_ENCODER_LEARNING_RATE = 1e-3


def default_encoder_config(**overrides: Any) -> WavLMConfig:
    """A small WavLM encoder (about 0.2 M parameters) that trains on a CPU in minutes.

    The convolutional front end keeps WavLM's 7 layers and total stride of 320 samples (one
    frame per 20 ms at 16 kHz) with 32 channels; the transformer has 2 layers of width 64.
    Used when no pretrained encoder is given, so everything runs offline. `overrides` replace
    any `WavLMConfig` field.
    """
    settings: dict[str, Any] = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "conv_dim": (32,) * 7,
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
        "feat_extract_norm": "layer",
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 4,
        "hidden_dropout": 0.1,
        "mask_time_prob": 0.0,
        # LayerDrop on two layers only adds noise, and a skipped layer makes DDP search every
        # step for parameters without a gradient.
        "layerdrop": 0.0,
    }
    settings.update(overrides)
    return WavLMConfig(**settings)


@dataclass
class TrainingSettings:
    """Optimisation budget, learning rates, batches and training-data options.

    Learning rates: `head_learning_rate` (None: 1e-3) for FLAM, projector and classifier;
    `encoder_learning_rate` (None: 5e-5 for a pretrained encoder, 1e-3 for the small encoder
    trained from scratch) for the encoder layers that train (`flam.trainable_encoder_layers`,
    `flam.freeze_encoder_steps`); `center_learning_rate` (None: the head's) for the class
    centers. The budget is `num_train_epochs` unless `max_steps` > 0. `warmup_steps` is an int
    (steps) or a float in [0, 1) (fraction of the total steps). `save_steps`: a checkpoint
    (the last one kept) every that many steps, from which an interrupted run resumes.

    Training data: `max_train_seconds` cuts training clips longer than that to a random window
    (drawn per batch; testing always uses whole clips); `balanced_sampling` draws every class
    equally often; `validation_speakers` > 0 holds that many of the *training* speakers out,
    evaluates on them after every epoch and tests the epoch with the best validation UA
    (the test speakers are never used to choose); 0 tests the last model.

    `cache_encoder_features`: when the encoder does not train and training clips are not
    cropped (no `max_train_seconds`, no `baseline_mixing`), run it once over the training (and
    validation) clips and train the head on the cached frames (`eam_ser.feature_cache`;
    eval-mode encoder features); with EAM (``eam.p > 0``) only the mixed rows of a batch go
    through the encoder (`feature_cache_mode`).
    """

    head_learning_rate: float | None = None
    encoder_learning_rate: float | None = None
    center_learning_rate: float | None = None
    max_steps: int = -1
    num_train_epochs: float = 10.0
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    warmup_steps: float = 0.1
    weight_decay: float = 0.0
    seed: int = 42
    logging_steps: int = 10
    dataloader_num_workers: int = 0
    save_steps: int = 200
    max_train_seconds: float | None = None
    balanced_sampling: bool = False
    validation_speakers: int = 0
    cache_encoder_features: bool = True

    def __post_init__(self) -> None:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(
                f"training.max_steps must be a positive number of steps (or -1 to train for "
                f"num_train_epochs), got {self.max_steps}"
            )
        if self.max_steps == -1 and not self.num_train_epochs > 0:
            raise ValueError(f"training.num_train_epochs must be > 0, got {self.num_train_epochs}")
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"training.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("head_learning_rate", "encoder_learning_rate", "center_learning_rate"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"training.{name} must be >= 0, got {value}")
        if self.max_train_seconds is not None and not self.max_train_seconds > 0:
            raise ValueError(
                f"training.max_train_seconds must be > 0 (or None), got {self.max_train_seconds}"
            )
        if self.validation_speakers < 0:
            raise ValueError(
                f"training.validation_speakers must be >= 0, got {self.validation_speakers}"
            )


_SCALAR_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def check_field_types(cls: type, values: Mapping[str, Any], where: str) -> None:
    """Raise ValueError naming `where` and the key when a value of `values` does not have the
    scalar type its dataclass field of `cls` declares (``int``, ``float``, ``bool``, ``str``,
    optionally ``| None``); other annotations are left to the class's own checks."""
    annotations = {field.name: str(field.type) for field in dataclasses.fields(cls)}
    for key, value in values.items():
        parts = [part.strip() for part in annotations.get(key, "").split("|")]
        optional = "None" in parts
        kinds = [part for part in parts if part != "None"]
        if len(kinds) != 1 or kinds[0] not in _SCALAR_TYPES or (value is None and optional):
            continue
        accepted = _SCALAR_TYPES[kinds[0]]
        if not isinstance(value, accepted) or (kinds[0] != "bool" and isinstance(value, bool)):
            raise ValueError(
                f"{where}[{key!r}] must be {'an' if kinds[0] == 'int' else 'a'} {kinds[0]}"
                f"{' or null' if optional else ''}, got {value!r}"
            )


BASELINE_MIXING_OPTIONS = {"whole_clip": {"target"}, "mixup": {"alpha"}}
"""`ExperimentConfig.baseline_mixing` methods and the options each takes."""


@dataclass
class ExperimentConfig:
    """Everything a run needs besides the data.

    Attributes:
        encoder: Hub id (``"microsoft/wavlm-large"``, the paper's choice) or local folder of a
            pretrained speech encoder; None builds the small `default_encoder_config` encoder.
        encoder_config: `WavLMConfig` overrides for that small encoder (ignored with `encoder`).
        flam: `FlamConfig` fields (``pooling``, ``embedding_size``, ``freeze_encoder_steps``...).
            For the small encoder ``freeze_feature_encoder`` defaults to False (its CNN front
            end is random and must train); a pretrained encoder keeps FlamConfig's True.
        eam: `eam_ser.mixup.EnergyAdaptiveMixupSettings` (defaults declared there).
        loss: `eam_ser.losses.MultiLossSettings`, stored in the model's `config.multi_loss`.
        training: see `TrainingSettings`.
        baseline_mixing: train with another mixing method than EAM, for comparisons (see
            `eam_ser.mixing_baselines`): ``{"method": "whole_clip", "target": "original" |
            "union"}`` (SNRs from `eam`) or ``{"method": "mixup", "alpha": 0.4}``; the mixing
            probability is ``eam.p``. None (default): EAM.
    """

    encoder: str | None = None
    encoder_config: dict[str, Any] = field(default_factory=dict)
    flam: dict[str, Any] = field(default_factory=dict)
    eam: EnergyAdaptiveMixupSettings = field(default_factory=EnergyAdaptiveMixupSettings)
    loss: MultiLossSettings = field(default_factory=MultiLossSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    baseline_mixing: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.baseline_mixing is not None:
            method = self.baseline_mixing.get("method")
            options = set(self.baseline_mixing) - {"method"}
            allowed = BASELINE_MIXING_OPTIONS.get(method)
            if allowed is None:
                raise ValueError(
                    f"config['baseline_mixing']['method'] must be one of "
                    f"{sorted(BASELINE_MIXING_OPTIONS)}, got {method!r}"
                )
            if options - allowed:
                raise ValueError(
                    f"config['baseline_mixing']: unknown keys {sorted(options - allowed)} for "
                    f"method {method!r}; known: {sorted(allowed)}"
                )

    def to_dict(self, *, resolved: bool = False) -> dict[str, Any]:
        """Nested plain dict (JSON-serialisable), the inverse of `from_dict`. With `resolved`,
        values left to a default (the learning rates None) hold the value used."""
        values = dataclasses.asdict(self)
        if resolved:
            values["training"].update(self.learning_rates)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ExperimentConfig:
        """Build from a nested dict; unknown keys raise ValueError naming them."""
        sections = {
            "eam": EnergyAdaptiveMixupSettings,
            "loss": MultiLossSettings,
            "training": TrainingSettings,
        }
        top_level = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - top_level)
        if isinstance(values.get("training"), Mapping) and "learning_rate" in values["training"]:
            raise ValueError(
                "config['training']: 'learning_rate' was split into 'head_learning_rate' and "
                "'encoder_learning_rate' (eam-ser 0.3); give those instead"
            )
        if unknown:
            raise ValueError(f"config: unknown keys {unknown}; known: {sorted(top_level)}")
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key in sections:
                if value is not None and not isinstance(value, Mapping):
                    raise ValueError(
                        f"config[{key!r}] must be a mapping of settings, got {value!r}"
                    )
                known = {f.name for f in dataclasses.fields(sections[key])}
                unknown = sorted(set(value or {}) - known)
                if unknown:
                    raise ValueError(
                        f"config[{key!r}]: unknown keys {unknown}; known: {sorted(known)}"
                    )
                check_field_types(sections[key], value or {}, f"config[{key!r}]")
                kwargs[key] = sections[key](**(value or {}))
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | Path) -> ExperimentConfig:
        """Load a YAML (``.yaml``/``.yml``) or JSON file holding the nested dict."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            values = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise ValueError(
                f"config file {path}: not valid {path.suffix[1:].upper() or 'YAML'}: {error}"
            ) from None
        if not isinstance(values, Mapping):
            raise ValueError(f"config file {path} must hold a mapping, got {type(values).__name__}")
        return cls.from_dict(values)

    @property
    def encoder_regime(self) -> str:
        """How much of the encoder trains (`eam_ser.mixup_settings.encoder_regime`)."""
        return encoder_regime(
            self.flam.get("trainable_encoder_layers"), self.flam.get("freeze_encoder_steps", 0)
        )

    @property
    def eam_regime(self) -> dict[str, Any]:
        """The encoder regime of this run, whether EAM mixes in it, and what EAM's defaults
        were measured to do there (`EAM_REGIME_EVIDENCE`): recorded in ``results.json`` and
        the model card."""
        regime = self.encoder_regime
        mixes = self.eam.p > 0 and self.baseline_mixing is None
        return {
            "regime": regime,
            "eam_p": self.eam.p if self.baseline_mixing is None else 0.0,
            "note": EAM_REGIME_EVIDENCE[regime].note() if mixes else None,
        }

    @property
    def encoder_trains(self) -> bool:
        """False when `flam` keeps the whole encoder frozen for the run
        (``trainable_encoder_layers: 0`` or ``freeze_encoder_steps: -1``)."""
        return self.encoder_regime != "frozen"

    @property
    def learning_rates(self) -> dict[str, float | None]:
        """The learning rates actually used: ``head_learning_rate``, ``encoder_learning_rate``
        (None when the encoder never trains, `encoder_trains`) and ``center_learning_rate``
        (see `TrainingSettings` for the defaults)."""
        training = self.training
        head = (
            HEAD_LEARNING_RATE
            if training.head_learning_rate is None
            else (training.head_learning_rate)
        )
        if training.encoder_learning_rate is not None:
            encoder = training.encoder_learning_rate
        elif self.encoder:
            encoder = PRETRAINED_ENCODER_LEARNING_RATE
        else:
            encoder = FROM_SCRATCH_ENCODER_LEARNING_RATE
        if not self.encoder_trains:
            encoder = None
        center = head if training.center_learning_rate is None else training.center_learning_rate
        return {
            "head_learning_rate": head,
            "encoder_learning_rate": encoder,
            "center_learning_rate": center,
        }


# ------------------------------------------------------------------------------ building blocks


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
"""``(config, num_labels, feature_extractor, seed) -> training collator``: how `train_model`
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
    from eam_ser.mixing_baselines import MixupCollator, WholeClipMixCollator

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
        **checkpoints,
    )


def feature_cache_mode(
    config: ExperimentConfig, model: FlamForSequenceClassification
) -> str | None:
    """How `train_model` uses cached encoder features for `model`: ``"full"`` (every training
    batch from the cache: no mixing), ``"partial"`` (EAM: only the mixed rows through the
    encoder, `PartiallyCachedMixupCollator`) or None (the encoder runs on every batch).

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


def split_validation_speakers(
    train_dataset: Dataset, num_speakers: int, seed: int
) -> tuple[Dataset, Dataset]:
    """Hold `num_speakers` of the training speakers out for validation.

    The speakers are drawn with `seed` (``numpy.random.default_rng``) from the sorted training
    speakers; returns (training part, validation part).

    Raises:
        ValueError: fewer than ``num_speakers + 1`` speakers to split.
    """
    speakers = sorted(set(train_dataset["speaker"]))
    if len(speakers) <= num_speakers:
        raise ValueError(
            f"training.validation_speakers={num_speakers} needs more training speakers than "
            f"that; the training data has {len(speakers)} ({', '.join(speakers)})"
        )
    held_out = set(np.random.default_rng(seed).choice(speakers, num_speakers, replace=False))
    column = train_dataset["speaker"]
    validation = [index for index, speaker in enumerate(column) if speaker in held_out]
    training = [index for index, speaker in enumerate(column) if speaker not in held_out]
    return train_dataset.select(training), train_dataset.select(validation)


def _validation_ua(prediction: EvalPrediction) -> dict[str, float]:
    """`compute_metrics` of the validation split: UA (and WA) of the logits."""
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    labels = np.asarray(prediction.label_ids)
    metrics = ser_metrics(logits.argmax(axis=-1), labels, num_labels=logits.shape[-1])
    return {"ua": metrics["ua"], "wa": metrics["wa"]}


def train_model(
    train_dataset: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    seed: int | None = None,
    resume: bool = False,
    collator_factory: CollatorFactory | None = None,
    disable_tqdm: bool | None = None,
) -> tuple[FlamForSequenceClassification, FeatureExtractionMixin]:
    """Train on `train_dataset` (columns ``audio`` path, ``label`` ClassLabel, ``speaker``) for
    the fixed budget.

    Checkpoints go to `output_dir`; with `resume`, training continues from the last one there
    (and starts afresh when there is none). `collator_factory` builds the training collator
    (default `build_collator`: EAM as configured). With `training.validation_speakers`, that
    many training speakers are held out (`split_validation_speakers`) and the epoch with the
    best UA on them is returned.
    """
    training = config.training
    seed = training.seed if seed is None else seed
    labels = label_names(train_dataset)
    set_seed(seed)
    model = build_model(config, labels)
    # Validation speakers included: they chose the epoch, so they are not unseen either.
    model.config.training_speakers = sorted({str(speaker) for speaker in train_dataset["speaker"]})
    feature_extractor = build_feature_extractor(config)
    validation_dataset = None
    if training.validation_speakers:
        train_dataset, validation_dataset = split_validation_speakers(
            train_dataset, training.validation_speakers, seed
        )
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
        model.to(arguments.device)
        batch_size = training.per_device_eval_batch_size
        progress = None if arguments.disable_tqdm else "encoding the training clips once"
        train_dataset = EncoderFeatureCache(
            model,
            feature_extractor,
            train_dataset,
            batch_size,
            keep_waveforms=cache_mode == "partial",
            description=progress,
        )
        if validation_dataset is not None:
            validation_dataset = EncoderFeatureCache(
                model,
                feature_extractor,
                validation_dataset,
                batch_size,
                description=None if progress is None else "encoding the validation clips once",
            )
        collator = (
            CachedFeatureCollator(len(labels))
            if cache_mode == "full"
            else PartiallyCachedMixupCollator(
                build_collator(config, len(labels), feature_extractor, seed), model
            )
        )
    else:
        factory = build_collator if collator_factory is None else collator_factory
        collator = factory(config, len(labels), feature_extractor, seed)
    trainer = MultiLossTrainer(
        model=model,
        args=arguments,
        train_dataset=train_dataset,
        eval_dataset=validation_dataset,
        data_collator=collator,
        processing_class=feature_extractor,
        compute_metrics=_validation_ua if validation_dataset is not None else None,
    )
    checkpoint, skipped = last_complete_checkpoint(output_dir) if resume else (None, [])
    for path, problem in skipped:
        tqdm.write(f"resume: skipping the incomplete {path} ({problem})")
    if checkpoint is not None:
        tqdm.write(f"resuming from {checkpoint}")
    trainer.train(resume_from_checkpoint=checkpoint)
    return trainer.model, feature_extractor


def predict_logits(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    dataset: Dataset | Sequence[Mapping[str, Any]],
    batch_size: int = 8,
) -> np.ndarray:
    """Logits (num_rows, num_labels) of `model` on `dataset` (rows with ``audio``), whole clips,
    no mixing: `eam_ser.inference.EmotionRecognizer.predict_logits`."""
    recognizer = EmotionRecognizer(model, feature_extractor, batch_size=batch_size)
    audio = dataset["audio"] if isinstance(dataset, Dataset) else [row["audio"] for row in dataset]
    waveforms = recognizer.collator.load_waveforms([{"audio": clip} for clip in audio])
    return recognizer.predict_logits(waveforms)


def evaluate_model(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    dataset: Dataset,
    batch_size: int = 8,
) -> dict[str, Any]:
    """WA, UA, macro-F1, per-class recall and confusion matrix on `dataset` (hard labels).

    Labels are matched by name: the dataset's label names must be among the model's
    (`config.id2label`), in any order; metrics are reported over the model's classes (a class
    without test samples gets recall NaN, written as null in results files).

    Raises:
        ValueError: the dataset has labels the model does not know, listing both sets.
    """
    labels = label_names(dataset)
    model_labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
    unknown = [name for name in labels if name not in model_labels]
    if unknown:
        raise ValueError(
            f"dataset labels {unknown} are not among the model's labels {model_labels} "
            f"(dataset labels: {labels})"
        )
    to_model_index = np.array([model_labels.index(name) for name in labels], dtype=np.int64)
    references = to_model_index[np.asarray(dataset["label"], dtype=np.int64)]
    predictions = predict_logits(model, feature_extractor, dataset, batch_size).argmax(axis=-1)
    return ser_metrics(
        predictions, references, num_labels=len(model_labels), label_names=model_labels
    )


def _hub_id(encoder: str | None) -> str | None:
    """`encoder` if it names a Hub repo, None for a local folder (not valid card metadata)."""
    return encoder if encoder and not Path(encoder).exists() else None


def save_model(
    folder: str | Path,
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    results: Mapping[str, Any] | None = None,
    *,
    model_id: str | None = None,
    final_model_note: str | None = None,
) -> Path:
    """Save weights, config, feature extractor and, given `results`, the rendered model card
    (README.md; see `write_model_card`).

    The folder then loads with `FlamForSequenceClassification.from_pretrained`,
    `transformers.pipeline("audio-classification", model=folder)` and `eam-ser predict`.
    Only the main process writes (see `is_main_process`).
    """
    folder = Path(folder)
    if not is_main_process():
        return folder
    model.check_finite(f"saving {folder}")
    model.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    if results is not None:
        write_model_card(folder, results, model_id=model_id, final_model_note=final_model_note)
    return folder


def write_model_card(
    folder: str | Path,
    results: Mapping[str, Any],
    *,
    model_id: str | None = None,
    final_model_note: str | None = None,
) -> Path:
    """Render the model card of `results` into ``folder/README.md`` (main process only)."""
    folder = Path(folder)
    if not is_main_process():
        return folder
    corpus = CORPORA.get(str(results.get("corpus")))
    card = render_model_card(
        results,
        model_id=model_id or str(folder),
        model_name=model_id or folder.resolve().name,
        corpus_citation=corpus.citation if corpus is not None else "",
        base_model=_hub_id(results.get("config", {}).get("encoder")),
        final_model_note=final_model_note,
    )
    card.save(folder / "README.md")
    return folder


# ------------------------------------------------------------------------------------ results


def _fold_result(
    fold: int | None,
    train: Dataset,
    test: Dataset,
    metrics: Mapping[str, Any],
    seed: int,
    runtime_s: float,
) -> dict[str, Any]:
    return {
        "fold": fold,
        "test_speakers": sorted(set(test["speaker"])),
        "num_train": train.num_rows,
        "num_test": test.num_rows,
        **metrics,
        "seed": seed,
        "train_runtime_s": round(runtime_s, 1),
    }


SUMMARY_METRICS = ("wa", "ua", "macro_f1")


def summarize_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; 0 for a single run) of WA, UA and macro-F1 over `runs`
    (fold records, or seed x fold records of several seeds)."""
    if not runs:
        raise ValueError("summarize_runs: no runs")
    values = {key: np.array([run[key] for run in runs], dtype=float) for key in SUMMARY_METRICS}
    ddof = 1 if len(runs) > 1 else 0
    return {
        "num_runs": len(runs),
        "mean": {key: float(values[key].mean()) for key in SUMMARY_METRICS},
        "std": {key: float(values[key].std(ddof=ddof)) for key in SUMMARY_METRICS},
    }


def aggregate_results(
    fold_results: Sequence[Mapping[str, Any]],
    dataset: Dataset,
    config: ExperimentConfig,
    *,
    protocol: str | None = None,
) -> dict[str, Any]:
    """Results dict (schema in `eam_ser.modelcard`): folds, mean, sample std (ddof=1; 0 for a
    single fold), summed confusion matrix, seeds, config and corpus description.

    `protocol` defaults to the dataset's own (``dataset.info.description``)."""
    summary = summarize_runs(fold_results)
    corpus_name = dataset.info.dataset_name or "custom"
    corpus = CORPORA.get(corpus_name)
    return {
        "corpus": corpus_name,
        "corpus_title": corpus.title if corpus is not None else corpus_name,
        "protocol": protocol if protocol is not None else dataset.info.description or "",
        "label_names": label_names(dataset),
        "folds": [dict(fold) for fold in fold_results],
        "mean": summary["mean"],
        "std": summary["std"],
        "confusion_matrix": np.sum(
            [fold["confusion_matrix"] for fold in fold_results], axis=0
        ).tolist(),
        "seeds": [fold["seed"] for fold in fold_results],
        "config": config.to_dict(resolved=True),
        "eam_regime": config.eam_regime,
    }


def process_state() -> PartialState:
    """The processes of this run (torchrun, accelerate launch), joined into their group.

    Without GPUs the group is gloo: a bare ``PartialState()`` there sees no distributed run
    before `TrainingArguments` sets one up (every process would call itself the main one),
    so it is asked for the CPU state, as ``TrainingArguments(use_cpu=True)`` does later."""
    return PartialState(cpu=not torch.cuda.is_available())


def is_main_process() -> bool:
    """False in every process but the first of a multi-process run (torchrun, accelerate
    launch): only the first writes results and models."""
    return process_state().is_main_process


def strict_json(results: Mapping[str, Any]) -> str:
    """`results` as strict JSON (RFC 8259: no NaN or Infinity).

    A non-finite number becomes ``null`` and its place is explained under ``"null_values"``
    (e.g. ``"folds[0].recall.sad": "recall undefined: no test sample of this class"``).
    """
    reasons: dict[str, str] = {}

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            return {
                key: clean(item, f"{where}.{key}" if where else str(key))
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [clean(item, f"{where}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            reasons[where] = (
                "recall undefined: no test sample of this class"
                if ".recall." in f".{where}"
                else f"not a finite number ({value})"
            )
            return None
        if isinstance(value, np.generic):
            return value.item()
        return value

    cleaned = clean(results, "")
    if reasons:
        cleaned["null_values"] = reasons
    return json.dumps(cleaned, indent=2, allow_nan=False) + "\n"


def write_results(results: Mapping[str, Any], output_dir: str | Path) -> Path:
    """Write ``results.json``, ``results.md`` and ``confusion_matrix.png`` to `output_dir`
    (in the main process only, see `is_main_process`)."""
    output_dir = Path(output_dir)
    if not is_main_process():
        return output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(strict_json(results), encoding="utf-8")
    title = f"{results['corpus_title']}: {results['protocol']}"
    (output_dir / "results.md").write_text(
        f"# {title}\n\n{results_markdown(results)}\n", encoding="utf-8"
    )
    plot_confusion_matrix(
        results["confusion_matrix"],
        results["label_names"],
        output_dir / "confusion_matrix.png",
        title="Confusion matrix summed over folds"
        if len(results["folds"]) > 1
        else "Confusion matrix",
    )
    return output_dir


# ---------------------------------------------------------------------------------- experiments


FOLD_RESULT_NAME = "fold_result.json"
"""Per-fold record written as soon as a fold is tested; a resumed cross-validation skips folds
that have one."""


def run_split(
    train: Dataset,
    test: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    fold: int | None = None,
    model_id: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train on `train`, save the model to `output_dir`, then test it on the held-out speakers
    of `test` and write the results files and the model card. Returns the results dict (one
    fold). The model is saved before testing, so a failure there loses no training; with
    `resume`, training continues from the last checkpoint in ``output_dir/trainer``."""
    output_dir = Path(output_dir)
    seed = config.training.seed
    start = time.perf_counter()
    model, feature_extractor = train_model(
        train, config, output_dir / "trainer", seed=seed, resume=resume
    )
    runtime_s = time.perf_counter() - start
    save_model(output_dir, model, feature_extractor)
    metrics = evaluate_model(
        model, feature_extractor, test, config.training.per_device_eval_batch_size
    )
    protocol = (
        f"trained on speakers {', '.join(sorted(set(train['speaker'])))}, "
        f"tested on the held-out speakers {', '.join(sorted(set(test['speaker'])))}"
    )
    fold_result = _fold_result(fold, train, test, metrics, seed, runtime_s)
    results = aggregate_results([fold_result], train, config, protocol=protocol)
    write_results(results, output_dir)
    write_model_card(output_dir, results, model_id=model_id)
    return results


def run_fold(
    dataset: Dataset,
    fold: int,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    seed: int | None = None,
    resume: bool = False,
    collator_factory: CollatorFactory | None = None,
    disable_tqdm: bool | None = None,
) -> tuple[dict[str, Any], FlamForSequenceClassification, FeatureExtractionMixin]:
    """Train on every fold of `dataset` but `fold` and test on `fold` (hard labels, whole
    clips, no mixing): the one training path of `run_cross_validation` and the benchmarks.

    Args:
        dataset: a corpus Dataset with a ``fold`` column (see `eam_ser.corpora`).
        fold: the held-out fold.
        config: the experiment settings.
        output_dir: the trainer's checkpoint folder.
        seed: overrides `config.training.seed`.
        resume: continue from the last checkpoint in `output_dir`.
        collator_factory: builds the training collator (default `build_collator`).
        disable_tqdm: overrides Trainer's progress bars.

    Returns:
        (fold record: test speakers, sizes, metrics, seed, training seconds; the trained
        model; its feature extractor).
    """
    seed = config.training.seed if seed is None else seed
    train, test = train_test_split_by_fold(dataset, fold)
    start = time.perf_counter()
    model, feature_extractor = train_model(
        train,
        config,
        output_dir,
        seed=seed,
        resume=resume,
        collator_factory=collator_factory,
        disable_tqdm=disable_tqdm,
    )
    runtime_s = time.perf_counter() - start
    metrics = evaluate_model(
        model, feature_extractor, test, config.training.per_device_eval_batch_size
    )
    return _fold_result(fold, train, test, metrics, seed, runtime_s), model, feature_extractor


def run_cross_validation(
    dataset: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    folds: Sequence[int] | None = None,
    *,
    final_model: bool = False,
    model_id: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and test on every speaker-independent fold of `dataset` (its ``fold`` column).

    After each fold its record goes to ``fold_<k>/fold_result.json`` and the results files are
    rewritten over the folds finished so far, so an interrupted run keeps every finished fold.
    With `resume`, finished folds are read back instead of trained again and the first
    unfinished fold continues from its last checkpoint.

    Args:
        dataset: a corpus Dataset (see `eam_ser.corpora`).
        config: the experiment settings; every fold uses `config.training.seed`.
        output_dir: receives results.json, results.md, confusion_matrix.png and ``fold_<k>/``
            trainer folders.
        folds: the folds to run (default all).
        final_model: afterwards train one model on all speakers with the same budget and save
            it, with the cross-validation results in its card, to ``output_dir / "model"``.
        model_id: Hub id shown in that model's card.
        resume: continue an interrupted run in `output_dir` (see above).

    Returns:
        The results dict written to results.json.
    """
    output_dir = Path(output_dir)
    available = sorted(set(dataset["fold"]))
    if len(available) < 2:
        raise ValueError(f"dataset: cross-validation needs at least 2 folds, found {available}")
    folds = available if folds is None else list(folds)
    missing = sorted(set(folds) - set(available))
    if missing:
        raise ValueError(f"folds {missing} are not in the dataset (folds: {available})")
    seed = config.training.seed
    fold_results = []
    for fold in tqdm(folds, desc="folds", unit="fold"):
        fold_dir = output_dir / f"fold_{fold}"
        record = fold_dir / FOLD_RESULT_NAME
        if resume and record.is_file():
            fold_results.append(json.loads(record.read_text(encoding="utf-8")))
            tqdm.write(f"fold {fold}: finished before, read from {record}")
            continue
        fold_result, _, _ = run_fold(dataset, fold, config, fold_dir, resume=resume)
        fold_results.append(fold_result)
        if is_main_process():
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(strict_json(fold_result), encoding="utf-8")
        write_results(aggregate_results(fold_results, dataset, config), output_dir)
        tqdm.write(
            f"fold {fold}: WA {100 * fold_result['wa']:.2f} %  UA {100 * fold_result['ua']:.2f} %  "
            f"macro-F1 {100 * fold_result['macro_f1']:.2f} %"
        )
    results = aggregate_results(fold_results, dataset, config)
    write_results(results, output_dir)
    if final_model:
        model, feature_extractor = train_model(
            dataset, config, output_dir / "final", seed=seed, resume=resume
        )
        note = (
            "The scores above are the cross-validation estimate. This model was then trained "
            "on all speakers with the same budget, so it has no held-out score of its own."
        )
        save_model(
            output_dir / "model",
            model,
            feature_extractor,
            results,
            model_id=model_id,
            final_model_note=note,
        )
    return results
