"""Deprecated since 0.4: the ``speech-emotion-recognition`` pipeline task moved to
`eam_ser.inference.pipeline`. Importing this module still registers the task (it imports that
one); it goes in 0.5."""

from __future__ import annotations

import warnings

from eam_ser.inference.pipeline import TASK, SpeechEmotionRecognitionPipeline

__all__ = ["TASK", "SpeechEmotionRecognitionPipeline"]

warnings.warn(
    "eam_ser.pipeline is deprecated: import eam_ser.inference.pipeline to register the "
    "speech-emotion-recognition task",
    DeprecationWarning,
    stacklevel=2,
)
