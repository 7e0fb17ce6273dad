"""Deprecated: the EAM settings moved to `eam_ser.mixup.settings` (0.4.0); this module
re-exports them for one minor release."""

from __future__ import annotations

import warnings

from eam_ser.mixup.settings import (
    EAM_DEFAULTS,
    EAM_REGIME_EVIDENCE,
    ENCODER_REGIMES,
    LABEL_MODES,
    EnergyAdaptiveMixupSettings,
    RegimeEvidence,
    encoder_regime,
)

__all__ = [
    "EAM_DEFAULTS",
    "EAM_REGIME_EVIDENCE",
    "ENCODER_REGIMES",
    "LABEL_MODES",
    "EnergyAdaptiveMixupSettings",
    "RegimeEvidence",
    "encoder_regime",
]

warnings.warn(
    "eam_ser.mixup_settings is deprecated; import from eam_ser.mixup.settings",
    DeprecationWarning,
    stacklevel=2,
)
