"""Deprecated since 0.4: segmentation moved to `eam_ser.inference.segmentation` (torch-free, as
here). Every 0.3 name still imports from here; this module goes in 0.5."""

from __future__ import annotations

import warnings

from eam_ser.inference.segmentation import (
    DEFAULT_HOP_S,
    DEFAULT_LONG_INPUT_S,
    DEFAULT_MAX_SEGMENT_S,
    DEFAULT_MIN_SEGMENT_S,
    DEFAULT_WINDOW_S,
    MAX_WHOLE_CLIP_S,
    SEGMENTATIONS,
    fixed_windows,
    segment_recording,
    vad_regions,
)

__all__ = [
    "DEFAULT_HOP_S",
    "DEFAULT_LONG_INPUT_S",
    "DEFAULT_MAX_SEGMENT_S",
    "DEFAULT_MIN_SEGMENT_S",
    "DEFAULT_WINDOW_S",
    "MAX_WHOLE_CLIP_S",
    "SEGMENTATIONS",
    "fixed_windows",
    "segment_recording",
    "vad_regions",
]

warnings.warn(
    "eam_ser.segmentation is deprecated: import from eam_ser.inference.segmentation",
    DeprecationWarning,
    stacklevel=2,
)
