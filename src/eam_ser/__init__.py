"""eam-ser: speech emotion recognition with Energy-Adaptive Mixup (EAM), Frame-Level Attention
(FLAM) and Multi-Loss Learning (MLL) on the Hugging Face stack.

Importing the package registers ``FlamConfig`` / ``FlamForSequenceClassification`` with
``AutoConfig`` and ``AutoModelForAudioClassification`` (``model_type="flam"``), so saved FLAM
models load through the Auto classes and ``transformers.pipeline("audio-classification")``.
"""

from eam_ser.audio import DEFAULT_SAMPLING_RATE, load_audio
from eam_ser.configuration_flam import FlamConfig
from eam_ser.losses import (
    CenterLoss,
    MultiLoss,
    center_loss,
    focal_loss,
    kl_divergence_loss,
    supervised_contrastive_loss,
)
from eam_ser.metrics import compute_metrics, make_compute_metrics, ser_metrics
from eam_ser.mixup import (
    EnergyAdaptiveMixup,
    EnergyAdaptiveMixupCollator,
    EnergyAdaptiveMixupMap,
    energy_adaptive_mix,
)
from eam_ser.modeling_flam import (
    FlamForSequenceClassification,
    FlamSequenceClassifierOutput,
    FrameLevelAttention,
)
from eam_ser.trainer import MultiLossTrainer, MultiLossTrainingArguments

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SAMPLING_RATE",
    "CenterLoss",
    "EnergyAdaptiveMixup",
    "EnergyAdaptiveMixupCollator",
    "EnergyAdaptiveMixupMap",
    "FlamConfig",
    "FlamForSequenceClassification",
    "FlamSequenceClassifierOutput",
    "FrameLevelAttention",
    "MultiLoss",
    "MultiLossTrainer",
    "MultiLossTrainingArguments",
    "center_loss",
    "compute_metrics",
    "energy_adaptive_mix",
    "focal_loss",
    "kl_divergence_loss",
    "load_audio",
    "make_compute_metrics",
    "ser_metrics",
    "supervised_contrastive_loss",
]
