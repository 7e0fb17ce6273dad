"""eam-ser: speech emotion recognition with Energy-Adaptive Mixup (EAM), Frame-Level Attention
(FLAM) and Multi-Loss Learning (MLL) on the Hugging Face stack.

The package's folders are its layers, each with a docstring saying what it does and which
layers it may import: `eam_ser.models` (FLAM: the code a saved folder carries), `eam_ser.corpora`,
`eam_ser.data`, `eam_ser.mixup` (EAM), `eam_ser.evaluation`, `eam_ser.training`,
`eam_ser.inference`, `eam_ser.hub`, `eam_ser.experiment` and `eam_ser.cli` (the command). The
public names below are imported on first use, so ``import eam_ser`` and the ``eam-ser`` command
start without loading torch or transformers (see `eam_ser._lazy`).

Loading a saved folder with transformers' own ``AutoModelForAudioClassification.from_pretrained
(folder)`` or ``pipeline("audio-classification", model=folder)`` needs one of:

- an import of the model class, ``from eam_ser import FlamForSequenceClassification`` (or
  ``import eam_ser.models.flam.modeling_flam``, or any first use of ``eam_ser.FlamForSequenceClassification``),
  or ``import eam_ser.inference.pipeline`` (which imports it and also registers the
  ``speech-emotion-recognition`` task): that registers ``model_type="flam"`` with ``AutoConfig``
  and ``AutoModelForAudioClassification``, and the installed eam-ser classes load the folder;
- ``trust_remote_code=True``: the code saved beside the weights loads it, eam-ser installed or
  not.

``import eam_ser`` alone registers nothing: registering imports torch and transformers (seconds,
against milliseconds for ``import eam_ser``); importing only ``FlamConfig`` registers the config,
not the model, and is not enough either. Without either, transformers finds the folder's
remote code, asks "Do you wish to run the custom code? [y/N]" on stdin (15 s at a terminal;
"y" runs the folder's code) and otherwise raises ``ValueError: ... contains custom code which
must be executed ... pass the argument `trust_remote_code=True```.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import install_moved_module_finder, lazy_exports

__version__ = "0.4.0"

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .corpora import load_corpus as load_corpus
    from .data.audio import DEFAULT_SAMPLING_RATE as DEFAULT_SAMPLING_RATE
    from .data.audio import load_audio as load_audio
    from .data.collator import AudioCollator as AudioCollator
    from .evaluation.metrics import compute_metrics as compute_metrics
    from .evaluation.metrics import make_compute_metrics as make_compute_metrics
    from .evaluation.metrics import ser_metrics as ser_metrics
    from .experiment.build import build_trainer as build_trainer
    from .experiment.config import ExperimentConfig as ExperimentConfig
    from .experiment.config import TrainingSettings as TrainingSettings
    from .experiment.crossval import run_cross_validation as run_cross_validation
    from .experiment.crossval import run_fold as run_fold
    from .experiment.crossval import run_split as run_split
    from .experiment.crossval import train_model as train_model
    from .hub.save import push_to_hub as push_to_hub
    from .hub.save import save_model as save_model
    from .inference.evaluation import evaluate_model as evaluate_model
    from .inference.export import export_onnx as export_onnx
    from .inference.onnx_runtime import OnnxEmotionModel as OnnxEmotionModel
    from .inference.pipeline import (
        SpeechEmotionRecognitionPipeline as SpeechEmotionRecognitionPipeline,
    )
    from .inference.recognizer import EmotionRecognizer as EmotionRecognizer
    from .mixup.collator import EnergyAdaptiveMixupCollator as EnergyAdaptiveMixupCollator
    from .mixup.core import energy_adaptive_mix as energy_adaptive_mix
    from .mixup.map import EnergyAdaptiveMixupMap as EnergyAdaptiveMixupMap
    from .mixup.settings import EnergyAdaptiveMixupSettings as EnergyAdaptiveMixupSettings
    from .mixup.transform import EnergyAdaptiveMixup as EnergyAdaptiveMixup
    from .models.flam.configuration_flam import FlamConfig as FlamConfig
    from .models.flam.frame_attention import FrameLevelAttention as FrameLevelAttention
    from .models.flam.loss_settings import MultiLossSettings as MultiLossSettings
    from .models.flam.losses import CenterLoss as CenterLoss
    from .models.flam.losses import MultiLoss as MultiLoss
    from .models.flam.losses import center_loss as center_loss
    from .models.flam.losses import focal_loss as focal_loss
    from .models.flam.losses import kl_divergence_loss as kl_divergence_loss
    from .models.flam.losses import supervised_contrastive_loss as supervised_contrastive_loss
    from .models.flam.modeling_flam import (
        FlamForSequenceClassification as FlamForSequenceClassification,
    )
    from .models.flam.modeling_flam import (
        FlamSequenceClassifierOutput as FlamSequenceClassifierOutput,
    )
    from .training.arguments import MultiLossTrainingArguments as MultiLossTrainingArguments
    from .training.trainer import MultiLossTrainer as MultiLossTrainer

__getattr__, __dir__ = lazy_exports(__name__, __file__)
# The 0.4 module paths (eam_ser.trainer, ...) import, with a DeprecationWarning, until 0.6.
install_moved_module_finder()
