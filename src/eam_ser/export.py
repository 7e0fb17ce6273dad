"""Deprecated since 0.4: ONNX export moved to `eam_ser.inference` (`export_onnx` in
`eam_ser.inference.export`, `OnnxEmotionModel` in `eam_ser.inference.onnx_runtime`). Every 0.3
name still imports from here; this module goes in 0.5."""

from __future__ import annotations

import warnings

from eam_ser.inference.export import export_onnx
from eam_ser.inference.onnx_runtime import ONNX_FILE, OnnxEmotionModel

__all__ = ["ONNX_FILE", "OnnxEmotionModel", "export_onnx"]

warnings.warn(
    "eam_ser.export is deprecated: import from eam_ser.inference (export_onnx, OnnxEmotionModel)",
    DeprecationWarning,
    stacklevel=2,
)
