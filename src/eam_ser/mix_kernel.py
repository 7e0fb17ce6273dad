"""Deprecated: the compiled kernels moved to `eam_ser.kernels` (0.4.0); this module re-exports
them for one minor release. numba is a hard dependency, so `AVAILABLE` is always True."""

from __future__ import annotations

import warnings

import numba  # noqa: F401  (0.3.0 exposed eam_ser.mix_kernel.numba)

from eam_ser.kernels import mix_rows, normalize_rows

__all__ = ["AVAILABLE", "mix_rows", "normalize_rows"]

AVAILABLE = True

warnings.warn(
    "eam_ser.mix_kernel is deprecated; import from eam_ser.kernels",
    DeprecationWarning,
    stacklevel=2,
)
