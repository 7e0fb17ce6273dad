"""Inference: the recognizer, evaluation, segmentation, the pipeline task and ONNX.

One prediction path for the command line, the experiments and the pipeline:

- `recognizer`: `EmotionRecognizer` (clips, files, recordings of any length), its prediction
  dataclasses and `check_model_source`;
- `evaluation`: `evaluate_model` / `predict_logits` on a labelled dataset;
- `segmentation`: cutting long recordings (torch-free);
- `pipeline`: the ``speech-emotion-recognition`` transformers task (importing it registers
  the task);
- `export` / `onnx_runtime`: ONNX export and the onnxruntime model.

The names below are imported on first use, so ``import eam_ser.inference.segmentation`` (what
the ``eam-ser`` command reads) loads neither torch nor transformers. Importing this package
does not register the pipeline task; ``import eam_ser.inference.pipeline`` does.
"""

from __future__ import annotations

from eam_ser._lazy import lazy_exports

# Public name -> the module of this package that defines it (the 0.3.0 eam_ser.inference names
# first).
_LAZY = {
    "BACKENDS": "recognizer",
    "EmotionRecognizer": "recognizer",
    "RecordingPrediction": "recognizer",
    "SegmentPrediction": "recognizer",
    "UNCERTAIN": "recognizer",
    "check_model_source": "recognizer",
    "limit_allocator_growth": "recognizer",
    "evaluate_model": "evaluation",
    "evaluate_robustness": "evaluation",
    "predict_logits": "evaluation",
    "SEGMENTATIONS": "segmentation",
    "segment_recording": "segmentation",
    "export_onnx": "export",
    "ONNX_FILE": "onnx_runtime",
    "OnnxEmotionModel": "onnx_runtime",
}

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
