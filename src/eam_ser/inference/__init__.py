"""Inference: the recognizer, evaluation, segmentation, the pipeline task and ONNX.

One prediction path for the command line, the experiments and the pipeline:

- `recognizer`: `EmotionRecognizer` (clips, files, recordings of any length), its prediction
  dataclasses and `check_model_source`;
- `evaluation`: `evaluate_model` / `predict_logits` on a labelled dataset;
- `segmentation`: cutting long recordings (torch-free);
- `pipeline`: the ``speech-emotion-recognition`` transformers task (importing it registers
  the task);
- `export` / `onnx_runtime`: ONNX export and the onnxruntime model.

May import: `eam_ser.models`, `eam_ser.corpora`, `eam_ser.data`, `eam_ser.mixup`,
`eam_ser.evaluation`, `eam_ser.training` (a checkpoint's completeness).

The names below are imported on first use, so ``import eam_ser.inference.segmentation`` (what
the ``eam-ser`` command reads) loads neither torch nor transformers. Importing this package
does not register the pipeline task; ``import eam_ser.inference.pipeline`` (or reading
`SpeechEmotionRecognitionPipeline`) does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .evaluation import evaluate_model as evaluate_model
    from .evaluation import evaluate_robustness as evaluate_robustness
    from .evaluation import predict_logits as predict_logits
    from .export import export_onnx as export_onnx
    from .onnx_runtime import ONNX_FILE as ONNX_FILE
    from .onnx_runtime import OnnxEmotionModel as OnnxEmotionModel
    from .pipeline import SpeechEmotionRecognitionPipeline as SpeechEmotionRecognitionPipeline
    from .recognizer import BACKENDS as BACKENDS
    from .recognizer import UNCERTAIN as UNCERTAIN
    from .recognizer import EmotionRecognizer as EmotionRecognizer
    from .recognizer import RecordingPrediction as RecordingPrediction
    from .recognizer import SegmentPrediction as SegmentPrediction
    from .recognizer import check_model_source as check_model_source
    from .segmentation import SEGMENTATIONS as SEGMENTATIONS
    from .segmentation import segment_recording as segment_recording

__getattr__, __dir__ = lazy_exports(__name__, __file__)
