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

from eam_ser.models.flam.arguments import check_integer, check_real
from eam_ser.models.flam.settings_field import setting

__all__ = [
    "EAM_DEFAULTS",
    "LABEL_MODES",
    "Delegated",
    "EnergyAdaptiveMixupSettings",
    "resolve_settings",
    "with_setting_attributes",
]

LABEL_MODES = ("energy", "length", "hard")
"""Soft-label rules: partner weight from length and energy share, length share only, or 0."""


MAX_LENGTH_SAMPLES = 2**31 - 1
"""Longest `min_length_samples` (37 hours at 16 kHz): sample counts stay within a C int."""


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
        "shortest mix in samples, an integer from 1 to 2**31 - 1 (1600 = 0.1 s at 16 kHz); pairs "
        "that allow less are not mixed",
    )
    label_mode: str = setting(
        "energy",
        "soft-label rule, one of energy (partner weight from its length and energy "
        "share), length (length share only) or hard (the first utterance's label)",
        choices=LABEL_MODES,
    )

    def __post_init__(self) -> None:
        check_real(self.p, "p (probability of mixing a sample)", minimum=0.0, maximum=1.0)
        check_real(self.min_snr_db, "min_snr_db", unit="dB")
        check_real(self.max_snr_db, "max_snr_db", unit="dB")
        if self.min_snr_db > self.max_snr_db:
            raise ValueError(
                f"min_snr_db must be <= max_snr_db (finite, in dB), got {self.min_snr_db} and "
                f"{self.max_snr_db}"
            )
        check_real(
            self.max_mix_fraction,
            "max_mix_fraction (longest mix as a fraction of the shorter clip)",
            above=0.0,
            maximum=1.0,
        )
        # A whole-number float is taken (0.1 * 16000 is how a length in samples is often
        # written), a fraction or a bool is not.
        length = self.min_length_samples
        if isinstance(length, (float, np.floating)) and float(length).is_integer():
            object.__setattr__(self, "min_length_samples", int(length))
        check_integer(
            self.min_length_samples,
            "min_length_samples (shortest mix, in samples)",
            minimum=1,
            maximum=MAX_LENGTH_SAMPLES,
        )
        if not isinstance(self.label_mode, str) or self.label_mode not in LABEL_MODES:
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
