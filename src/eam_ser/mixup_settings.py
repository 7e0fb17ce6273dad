"""The settings of Energy-Adaptive Mixup and their defaults, declared once.

Kept apart from `eam_ser.mixup` (which needs torch and audiomentations) so that the ``eam-ser``
command can show them in ``--help`` and check its flags without importing torch.
`eam_ser.mixup` re-exports everything here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EAM_DEFAULTS", "LABEL_MODES", "EnergyAdaptiveMixupSettings"]

LABEL_MODES = ("energy", "length", "hard")
"""Soft-label rules: partner weight from length and energy share, length share only, or 0."""


@dataclass(frozen=True)
class EnergyAdaptiveMixupSettings:
    """The settings of EAM and their defaults: the one place they are declared.

    The collator, the map function, the transform, :func:`draw_mix_parameters`, experiment
    configs (the ``eam`` section) and the ``eam-ser`` command take their defaults from here.

    Attributes:
        p: probability that a sample is mixed, in [0, 1].
        min_snr_db, max_snr_db: range of the segment SNR ``s`` in dB (finite, min <= max).
            The default [-5, 5] dB lets either utterance dominate the segment.
        max_mix_fraction: longest mix as a fraction of the shorter clip of a pair, in (0, 1].
            0.5 keeps the first utterance the majority of every clip (and its label the argmax).
        min_length_samples: shortest mix in samples (1600 = 0.1 s at 16 kHz); pairs that
            allow less are not mixed.
        label_mode: ``"energy"``, ``"length"`` or ``"hard"`` (module docstring).

    Raises:
        ValueError: a value outside its range, naming the setting and its unit.
    """

    p: float = 0.5
    min_snr_db: float = -5.0
    max_snr_db: float = 5.0
    max_mix_fraction: float = 0.5
    min_length_samples: int = 1600
    label_mode: str = "energy"

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
