"""The Hub: a trained model's folder, its model card and its upload.

- `card`: the model card rendered from a run's results (template `model_card.md`, shipped in
  this folder), and its sections;
- `save`: `save_model` (weights, config, feature extractor, card) and `push_to_hub`.

May import: `eam_ser.models`, `eam_ser.corpora`, `eam_ser.mixup`, `eam_ser.evaluation`,
`eam_ser.training`. The names below are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .card import TEMPLATE_PATH as TEMPLATE_PATH
    from .card import calibration_markdown as calibration_markdown
    from .card import config_sha256 as config_sha256
    from .card import groups_markdown as groups_markdown
    from .card import render_model_card as render_model_card
    from .card import results_markdown as results_markdown
    from .card import results_summary as results_summary
    from .card import robustness_markdown as robustness_markdown
    from .card import robustness_section as robustness_section
    from .card import write_model_card as write_model_card
    from .card import write_robustness_section as write_robustness_section
    from .save import push_to_hub as push_to_hub
    from .save import save_model as save_model

# 0.4's eam_ser.hub also held the process helpers; they moved to eam_ser.training.processes.
__getattr__, __dir__ = lazy_exports(
    __name__,
    __file__,
    moved=dict.fromkeys(
        ("end_process_group", "is_main_process", "process_state"), "eam_ser.training.processes"
    ),
)
