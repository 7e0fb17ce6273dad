"""Tests of eam_ser.mixup.settings: validation, one settings object for every mixer."""

from __future__ import annotations

import numpy as np
import pytest

from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.mixup.map import EnergyAdaptiveMixupMap
from eam_ser.mixup.transform import EnergyAdaptiveMixup


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 1.5}, "p .probability"),
        ({"min_snr_db": 6.0}, "min_snr_db must be <= max_snr_db"),
        ({"max_mix_fraction": 0.0}, r"max_mix_fraction .* must be in \(0, 1\]"),
        ({"max_mix_fraction": 1.5}, r"max_mix_fraction .* must be in \(0, 1\]"),
        ({"label_mode": "soft"}, "label_mode must be one of"),
        ({"min_length_samples": 0}, "min_length_samples"),
    ],
)
def test_invalid_settings_are_named(kwargs: dict, message: str) -> None:
    for build in (
        lambda: EnergyAdaptiveMixupCollator(3, **kwargs),
        lambda: EnergyAdaptiveMixupMap(3, **kwargs),
        lambda: EnergyAdaptiveMixup([np.ones(10, np.float32)], **kwargs),
    ):
        with pytest.raises(ValueError, match=message):
            build()
