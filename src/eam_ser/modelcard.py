"""Deprecated since 0.4: the model card moved to `eam_ser.hub` (save, model card, push). Every
0.3 name still imports from here; this module goes in 0.5."""

from __future__ import annotations

import warnings

from eam_ser.hub import (
    EAM_DESCRIPTIONS,
    LOSS_DESCRIPTIONS,
    METRICS,
    PAPER_CITATION,
    TEMPLATE_PATH,
    push_to_hub,
    render_model_card,
    results_markdown,
    results_summary,
)

__all__ = [
    "EAM_DESCRIPTIONS",
    "LOSS_DESCRIPTIONS",
    "METRICS",
    "PAPER_CITATION",
    "TEMPLATE_PATH",
    "push_to_hub",
    "render_model_card",
    "results_markdown",
    "results_summary",
]

warnings.warn(
    "eam_ser.modelcard is deprecated: import from eam_ser.hub",
    DeprecationWarning,
    stacklevel=2,
)
