"""The settings of an experiment, and the learning-rate defaults, declared once.

`ExperimentConfig` (encoder, FLAM, EAM, loss and training settings; loadable from YAML or JSON)
drives every run of `eam_ser.experiment`. Torch-free at import, so the ``eam-ser`` command can
read the fields (``dataclasses.fields``: name, type, default, ``metadata["help"]``) without
loading torch: the small encoder's `WavLMConfig` (transformers) is imported when first built.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from eam_ser.experiment.evidence import encoder_regime, regime_note
from eam_ser.mixup.settings import EnergyAdaptiveMixupSettings
from eam_ser.models.flam.arguments import check_real, check_seed
from eam_ser.models.flam.loss_settings import MultiLossSettings
from eam_ser.models.flam.settings_field import setting

if TYPE_CHECKING:
    from transformers import WavLMConfig


__all__ = [
    "BASELINE_MIXING_OPTIONS",
    "FROM_SCRATCH_ENCODER_LEARNING_RATE",
    "HEAD_LEARNING_RATE",
    "PRETRAINED_ENCODER_LEARNING_RATE",
    "ExperimentConfig",
    "TrainingSettings",
    "check_field_types",
    "default_encoder_config",
]

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
    from transformers import WavLMConfig

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


FEATURE_CACHE_DTYPES = ("float32", "float16")
"""How cached encoder frames may be stored (`EncoderFeatureCache`'s `dtype`)."""


@dataclass
class TrainingSettings:
    """Optimisation budget, learning rates, batches and training-data options.

    Learning rates left None take `HEAD_LEARNING_RATE` (the head),
    `PRETRAINED_ENCODER_LEARNING_RATE` or `FROM_SCRATCH_ENCODER_LEARNING_RATE` (the encoder
    layers that train: `flam.trainable_encoder_layers`, `flam.freeze_encoder_steps`) and the
    head's rate (the class centers); `ExperimentConfig.learning_rates` resolves them. The
    budget is `num_train_epochs` unless `max_steps` > 0.

    `validation_speakers` > 0 holds that many of the *training* speakers out, evaluates on them
    after every epoch and tests the epoch with the best validation UA (the test speakers are
    never used to choose); 0 tests the last model.

    `cache_encoder_features`: when the encoder does not train and training clips are not
    cropped (no `max_train_seconds`, no `baseline_mixing`), run it once over the training (and
    validation) clips and train the head on the cached frames (`eam_ser.training.feature_cache`;
    eval-mode encoder features); with EAM (``eam.p > 0``) only the mixed rows of a batch go
    through the encoder (`eam_ser.experiment.build.feature_cache_mode`).

    Each field's meaning, unit and range is its ``metadata["help"]``.
    """

    head_learning_rate: float | None = setting(
        None,
        f"learning rate of FLAM, projector, classifier and centers (>= 0; "
        f"None: {HEAD_LEARNING_RATE:g})",
    )
    encoder_learning_rate: float | None = setting(
        None,
        f"learning rate of the encoder layers that train (>= 0; None: "
        f"{PRETRAINED_ENCODER_LEARNING_RATE:g} pretrained, "
        f"{FROM_SCRATCH_ENCODER_LEARNING_RATE:g} for the small encoder trained from scratch)",
    )
    center_learning_rate: float | None = setting(
        None, "learning rate of the class centers (>= 0; None: the head's)"
    )
    max_steps: int = setting(
        -1, "optimizer steps to train for (> 0), or -1 to train num_train_epochs"
    )
    num_train_epochs: float = setting(10.0, "epochs to train for when max_steps is -1 (> 0)")
    per_device_train_batch_size: int = setting(8, "training clips per batch and process (>= 1)")
    per_device_eval_batch_size: int = setting(
        8, "clips per batch when validating and testing (>= 1)"
    )
    gradient_accumulation_steps: int = setting(
        1, "batches accumulated into one optimizer step (>= 1)"
    )
    warmup_steps: float = setting(
        0.1, "learning-rate warm-up: steps (an int) or a fraction of all steps in [0, 1)"
    )
    weight_decay: float = setting(0.0, "AdamW weight decay (>= 0; never on the class centers)")
    seed: int = setting(42, "seed of the model, the mixing draws and the data order")
    logging_steps: int = setting(10, "steps between logged loss terms (>= 1)")
    dataloader_num_workers: int = setting(
        0, "DataLoader worker processes (0: load in the main one)"
    )
    save_steps: int = setting(
        200, "steps between checkpoints (>= 1; the last one kept), to resume an interrupted run"
    )
    max_train_seconds: float | None = setting(
        None,
        "cut training clips longer than this many seconds to a random window drawn "
        "per batch (> 0; None: whole clips; testing always uses whole clips)",
    )
    balanced_sampling: bool = setting(False, "draw every class equally often in training")
    max_batch_seconds: float | None = setting(
        None,
        "training batches by duration: clips of similar length, as many as fit this many "
        "padded seconds (replaces the fixed batch size); None: fixed-size batches",
    )
    validation_speakers: int = setting(
        0,
        "training speakers held out to choose the best epoch by UA (>= 0; 0: test the last model)",
    )
    cache_encoder_features: bool = setting(
        True,
        "train the head on encoder features computed once when the encoder never "
        "trains and clips are whole",
    )
    feature_cache_dir: str | None = setting(
        None,
        "folder for the encoder feature cache on disk (memory flat in corpus size, reused "
        "by later runs of the same encoder and data); None keeps it in memory",
    )
    feature_cache_dtype: str = setting(
        "float32",
        "how cached encoder frames are stored: float32 or float16 (half the memory or disk)",
        choices=FEATURE_CACHE_DTYPES,
    )

    def __post_init__(self) -> None:
        check_seed(self.seed, "training.seed", allow_none=False)
        check_real(
            self.max_batch_seconds,
            "training.max_batch_seconds",
            above=0.0,
            allow_none=True,
            unit="s",
        )
        if self.feature_cache_dtype not in FEATURE_CACHE_DTYPES:
            raise ValueError(
                f"training.feature_cache_dtype must be one of {FEATURE_CACHE_DTYPES}, got "
                f"{self.feature_cache_dtype!r}"
            )
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(
                f"training.max_steps must be a positive number of steps (or -1 to train for "
                f"num_train_epochs), got {self.max_steps}"
            )
        if not self.num_train_epochs > 0:
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

    Each field's meaning is its ``metadata["help"]``. For the small encoder
    ``flam.freeze_feature_encoder`` defaults to False (its CNN front end is random and must
    train); a pretrained encoder keeps FlamConfig's True. `baseline_mixing` trains with
    another mixing method than EAM, for comparisons (see `eam_ser.mixup.baselines`):
    ``{"method": "whole_clip", "target": "original" | "union"}`` (SNRs from `eam`) or
    ``{"method": "mixup", "alpha": 0.4}``; the mixing probability is ``eam.p``.
    """

    encoder: str | None = setting(
        None,
        "Hub id (microsoft/wavlm-large, the paper's choice) or local folder of a "
        "pretrained speech encoder; None: the small encoder of default_encoder_config",
    )
    encoder_config: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "WavLMConfig overrides of the small encoder (ignored with encoder)"},
    )
    flam: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "FlamConfig fields (pooling, embedding_size, freeze_encoder_steps, ...)"},
    )
    eam: EnergyAdaptiveMixupSettings = field(
        default_factory=EnergyAdaptiveMixupSettings,
        metadata={"help": "Energy-Adaptive Mixup settings (EnergyAdaptiveMixupSettings)"},
    )
    loss: MultiLossSettings = field(
        default_factory=MultiLossSettings,
        metadata={
            "help": "loss weights and parameters (MultiLossSettings), stored in the model's "
            "config.multi_loss"
        },
    )
    training: TrainingSettings = field(
        default_factory=TrainingSettings,
        metadata={"help": "budget, learning rates, batches, data options (TrainingSettings)"},
    )
    baseline_mixing: dict[str, Any] | None = setting(
        None,
        "another mixing method than EAM, for comparisons: method whole_clip "
        "(target original | union) or mixup (alpha); None: EAM",
    )

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
        """How much of the encoder trains (`eam_ser.experiment.evidence.encoder_regime`)."""
        return encoder_regime(
            self.flam.get("trainable_encoder_layers"), self.flam.get("freeze_encoder_steps", 0)
        )

    @property
    def eam_regime(self) -> dict[str, Any]:
        """The encoder regime of this run, whether EAM mixes in it, and what EAM's defaults
        were measured to do there (`regime_note`): recorded in ``results.json`` and
        the model card."""
        regime = self.encoder_regime
        mixes = self.eam.p > 0 and self.baseline_mixing is None
        return {
            "regime": regime,
            "eam_p": self.eam.p if self.baseline_mixing is None else 0.0,
            "note": regime_note(regime) if mixes else None,
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
        (defaults: see `TrainingSettings`)."""
        from eam_ser.training.arguments import resolve_learning_rates

        training = self.training
        rates = resolve_learning_rates(
            training.head_learning_rate,
            training.encoder_learning_rate,
            training.center_learning_rate,
            default_head=HEAD_LEARNING_RATE,
            default_encoder=(
                PRETRAINED_ENCODER_LEARNING_RATE
                if self.encoder
                else FROM_SCRATCH_ENCODER_LEARNING_RATE
            ),
        )
        return {
            "head_learning_rate": rates["head"],
            "encoder_learning_rate": rates["encoder"] if self.encoder_trains else None,
            "center_learning_rate": rates["centers"],
        }
