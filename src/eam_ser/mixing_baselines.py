"""Deprecated: the mixing baselines moved to `eam_ser.mixup.baselines` (0.4.0); this module
re-exports them for one minor release."""

from __future__ import annotations

import warnings

from eam_ser.mixup.baselines import WHOLE_CLIP_TARGETS, MixupCollator, WholeClipMixCollator

__all__ = ["WHOLE_CLIP_TARGETS", "MixupCollator", "WholeClipMixCollator"]

warnings.warn(
    "eam_ser.mixing_baselines is deprecated; import from eam_ser.mixup.baselines",
    DeprecationWarning,
    stacklevel=2,
)
