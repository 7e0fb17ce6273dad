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

from eam_ser._lazy import lazy_exports

__version__ = "0.4.0"

# Public name -> the module that defines it.
_HOMES = {
    "DEFAULT_SAMPLING_RATE": "audio",
    "load_audio": "audio",
    "FlamConfig": "configuration_flam",
    "CenterLoss": "losses",
    "MultiLoss": "losses",
    "MultiLossSettings": "loss_settings",
    "center_loss": "losses",
    "focal_loss": "losses",
    "kl_divergence_loss": "losses",
    "supervised_contrastive_loss": "losses",
    "compute_metrics": "metrics",
    "make_compute_metrics": "metrics",
    "ser_metrics": "metrics",
    "EnergyAdaptiveMixup": "mixup.transform",
    "EnergyAdaptiveMixupCollator": "mixup.collator",
    "EnergyAdaptiveMixupMap": "mixup.map",
    "EnergyAdaptiveMixupSettings": "mixup.settings",
    "energy_adaptive_mix": "mixup.core",
    "FlamForSequenceClassification": "modeling_flam",
    "FlamSequenceClassifierOutput": "modeling_flam",
    "FrameLevelAttention": "frame_attention",
    "MultiLossTrainer": "trainer",
    "MultiLossTrainingArguments": "training_args",
    "EmotionRecognizer": "inference.recognizer",
    "ExperimentConfig": "experiment.config",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
