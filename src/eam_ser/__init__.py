"""eam-ser: speech emotion recognition with Energy-Adaptive Mixup (EAM), Frame-Level Attention
(FLAM) and Multi-Loss Learning (MLL) on the Hugging Face stack.

The public names below are imported on first use, so ``import eam_ser`` and the ``eam-ser``
command start without loading torch. Importing the model or its config (``from eam_ser import
FlamForSequenceClassification``, or any use of it) registers ``FlamConfig`` /
``FlamForSequenceClassification`` with ``AutoConfig`` and ``AutoModelForAudioClassification``
(``model_type="flam"``); saved folders also load with ``trust_remote_code=True`` without
eam-ser, from the code saved beside the weights.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.3.0"

# Public name -> the module that defines it.
_LAZY = {
    "DEFAULT_SAMPLING_RATE": "audio",
    "load_audio": "audio",
    "FlamConfig": "configuration_flam",
    "CenterLoss": "losses",
    "MultiLoss": "losses",
    "MultiLossSettings": "losses",
    "center_loss": "losses",
    "focal_loss": "losses",
    "kl_divergence_loss": "losses",
    "supervised_contrastive_loss": "losses",
    "compute_metrics": "metrics",
    "make_compute_metrics": "metrics",
    "ser_metrics": "metrics",
    "EnergyAdaptiveMixup": "mixup",
    "EnergyAdaptiveMixupCollator": "mixup",
    "EnergyAdaptiveMixupMap": "mixup",
    "EnergyAdaptiveMixupSettings": "mixup",
    "energy_adaptive_mix": "mixup",
    "FlamForSequenceClassification": "modeling_flam",
    "FlamSequenceClassifierOutput": "modeling_flam",
    "FrameLevelAttention": "modeling_flam",
    "MultiLossTrainer": "trainer",
    "MultiLossTrainingArguments": "trainer",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"eam_ser.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'eam_ser' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
