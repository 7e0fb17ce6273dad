"""The settings of Energy-Adaptive Mixup and their defaults, declared once.

Torch-free, so that the ``eam-ser`` command can show them in ``--help`` and check its flags
without importing torch (``import eam_ser.mixup.settings`` loads numpy only). Every mixer of
`eam_ser.mixup` (the collator, the map function, the transform, the draws and the baselines)
takes one `EnergyAdaptiveMixupSettings` and keyword overrides of its fields
(`resolve_settings`), and shows the fields as its own attributes (`with_setting_attributes`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from eam_ser.settings_field import setting

__all__ = [
    "EAM_DEFAULTS",
    "EAM_REGIME_EVIDENCE",
    "ENCODER_REGIMES",
    "LABEL_MODES",
    "Delegated",
    "EnergyAdaptiveMixupSettings",
    "RegimeEvidence",
    "encoder_regime",
    "resolve_settings",
    "with_setting_attributes",
]

LABEL_MODES = ("energy", "length", "hard")
"""Soft-label rules: partner weight from length and energy share, length share only, or 0."""


@dataclass(frozen=True)
class EnergyAdaptiveMixupSettings:
    """The settings of EAM and their defaults: the one place they are declared.

    The collator, the map function, the transform, `draw_mix_parameters`, the baselines,
    experiment configs (the ``eam`` section) and the ``eam-ser`` command take their defaults
    from here. Each field's ``metadata["help"]`` states its meaning, unit and range.

    Raises:
        ValueError: a value outside its range, naming the setting and its unit.
    """

    p: float = setting(0.5, "probability that a sample is mixed, in [0, 1]")
    min_snr_db: float = setting(
        -5.0,
        "lowest segment SNR s in dB (finite, <= max_snr_db); with the default "
        "[-5, 5] either utterance may dominate the segment",
    )
    max_snr_db: float = setting(5.0, "highest segment SNR s in dB (finite, >= min_snr_db)")
    max_mix_fraction: float = setting(
        0.5,
        "longest mix as a fraction of the shorter clip of a pair, in (0, 1]; 0.5 "
        "keeps the first utterance the majority of every clip (and its label the argmax)",
    )
    min_length_samples: int = setting(
        1600,
        "shortest mix in samples, an integer >= 1 (1600 = 0.1 s at 16 kHz); pairs "
        "that allow less are not mixed",
    )
    label_mode: str = setting(
        "energy",
        "soft-label rule, one of energy (partner weight from its length and energy "
        "share), length (length share only) or hard (the first utterance's label)",
        choices=LABEL_MODES,
    )

    def __post_init__(self) -> None:
        p, min_snr_db, max_snr_db = self.p, self.min_snr_db, self.max_snr_db
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p (probability of mixing a sample) must be in [0, 1], got {p}")
        if not np.isfinite(min_snr_db) or not np.isfinite(max_snr_db) or min_snr_db > max_snr_db:
            raise ValueError(
                f"min_snr_db must be <= max_snr_db (finite, in dB), got {min_snr_db} and {max_snr_db}"
            )
        if not 0.0 < self.max_mix_fraction <= 1.0:
            raise ValueError(
                "max_mix_fraction (longest mix as a fraction of the shorter clip) must be in "
                f"(0, 1], got {self.max_mix_fraction}"
            )
        if int(self.min_length_samples) != self.min_length_samples or self.min_length_samples < 1:
            raise ValueError(
                f"min_length_samples (shortest mix, in samples) must be an integer >= 1, "
                f"got {self.min_length_samples}"
            )
        if self.label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}")


EAM_DEFAULTS = EnergyAdaptiveMixupSettings()

SETTING_NAMES = tuple(field.name for field in dataclasses.fields(EnergyAdaptiveMixupSettings))


def resolve_settings(
    settings: EnergyAdaptiveMixupSettings | None = None, **overrides: Any
) -> EnergyAdaptiveMixupSettings:
    """`settings` (None: `EAM_DEFAULTS`) with the fields in `overrides` replaced, validated once.

    This is how every mixer takes its settings: ``Mixer(settings=...)``, ``Mixer(p=0.3)`` and
    ``Mixer(settings=..., p=0.3)`` are all accepted.

    Raises:
        TypeError: `settings` is not an `EnergyAdaptiveMixupSettings`, or an override names no
            setting (as Python does for an unexpected keyword argument).
        ValueError: an overridden value outside its range (see the class).
    """
    base = EAM_DEFAULTS if settings is None else settings
    if not isinstance(base, EnergyAdaptiveMixupSettings):
        raise TypeError(
            f"settings must be an EnergyAdaptiveMixupSettings, got {type(settings).__name__}"
        )
    unknown = [name for name in overrides if name not in SETTING_NAMES]
    if unknown:
        raise TypeError(
            f"unexpected keyword argument {unknown[0]!r}; the EAM settings are {SETTING_NAMES}"
        )
    return dataclasses.replace(base, **overrides) if overrides else base


class Delegated:
    """An attribute read from (and written to) a part its object holds: composition without
    writing each forwarded attribute out. ``num_labels = Delegated("audio")`` makes
    ``obj.num_labels`` mean ``obj.audio.num_labels``."""

    def __init__(self, part: str) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return getattr(getattr(instance, self.part), self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(getattr(instance, self.part), self.name, value)


class _SettingAttribute(Delegated):
    """A field of the object's ``settings``; setting it replaces the settings, validated."""

    def __set__(self, instance: Any, value: Any) -> None:
        instance.settings = resolve_settings(instance.settings, **{self.name: value})


Mixer = TypeVar("Mixer", bound=type)


def with_setting_attributes(cls: Mixer) -> Mixer:
    """Class decorator: every `EnergyAdaptiveMixupSettings` field becomes an attribute of the
    mixer (``mixer.p`` is ``mixer.settings.p``; ``mixer.p = 0.3`` replaces its settings)."""
    for field in dataclasses.fields(EnergyAdaptiveMixupSettings):
        attribute = _SettingAttribute("settings")
        attribute.__set_name__(cls, field.name)
        attribute.__doc__ = field.metadata["help"]
        setattr(cls, field.name, attribute)
    return cls


ENCODER_REGIMES = ("frozen", "top_layers", "fine_tuned")
"""How much of the encoder trains: none of it, its top layers, or all of it."""
_REGIME_PHRASES = {
    "frozen": "a frozen encoder",
    "top_layers": "the encoder's top layers fine-tuned",
    "fine_tuned": "a fully fine-tuned encoder",
}


def encoder_regime(trainable_encoder_layers: int | None, freeze_encoder_steps: int = 0) -> str:
    """The `ENCODER_REGIMES` entry of a FLAM configuration (``FlamConfig`` fields)."""
    if trainable_encoder_layers == 0 or freeze_encoder_steps == -1:
        return "frozen"
    return "fine_tuned" if trainable_encoder_layers is None else "top_layers"


@dataclass(frozen=True)
class RegimeEvidence:
    """What EAM at its defaults (p = 0.5) did in one encoder regime, against the same run
    without mixing: EmoDB, speaker-independent 5 folds, Whisper base, one seed.

    Attributes:
        regime: one of `ENCODER_REGIMES`.
        clean_ua_points: mean paired UA difference (EAM - no mixing) on clean test speech, in
            points, and its 95 % t-interval over the folds.
        interference_ua_points: the same, averaged over white noise and interfering speech at
            20 to -5 dB.
        training_time_ratio: training wall time of EAM over no mixing (same machine).
        source: the benchmark and row names that measured it.
    """

    regime: str
    clean_ua_points: tuple[float, float, float]
    interference_ua_points: tuple[float, float, float]
    training_time_ratio: float
    source: str

    def note(self) -> str:
        """One sentence for the run's log, ``results.json`` and the model card."""
        clean, interference = self.clean_ua_points, self.interference_ua_points
        return (
            f"EAM with {_REGIME_PHRASES[self.regime]}, measured ({self.source}): "
            f"{clean[0]:+.1f} UA points on clean speech [95 % CI {clean[1]:+.1f}, "
            f"{clean[2]:+.1f}], {interference[0]:+.1f} [{interference[1]:+.1f}, "
            f"{interference[2]:+.1f}] under noise and interfering speech, "
            f"{self.training_time_ratio:.2g}x the training time of no mixing."
        )


EAM_REGIME_EVIDENCE = {
    # benchmarks/results/regimes.json: frozen_eam vs frozen_no_mix, 10 epochs of batch 8;
    # time: EAM's mean training time over that of the no-mixing folds 2-4 (folds 0-1 shared
    # the machine with stray processes).
    "frozen": RegimeEvidence(
        "frozen", (3.1, -1.4, 7.6), (8.1, 4.3, 11.9), 2.2, "benchmarks/regimes.py frozen_eam"
    ),
    # benchmarks/results/regimes.json: top2_eam vs top2_no_mix, 10 epochs of batch 8; time:
    # mean training seconds of the 5 folds (715 s against 752 s: no extra encoder pass).
    "top_layers": RegimeEvidence(
        "top_layers", (3.3, -7.0, 13.6), (10.6, 2.4, 18.7), 0.95, "benchmarks/regimes.py top2_eam"
    ),
    # benchmarks/results/ablation.json: eam vs no_mix, 12 epochs of batch 16, 4 s crops.
    "fine_tuned": RegimeEvidence(
        "fine_tuned", (1.3, -4.7, 7.3), (2.4, -3.4, 8.2), 1.1, "benchmarks/ablation.py eam"
    ),
}
"""The measured effect of EAM's defaults per encoder regime: the evidence the defaults follow.
EAM stays on (p = 0.5) in every regime: where it was measured it cost no accuracy."""
