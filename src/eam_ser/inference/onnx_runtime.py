"""The onnxruntime model that `EmotionRecognizer` runs for ``backend="onnxruntime"``.

`OnnxEmotionModel` runs a folder written by `eam_ser.inference.export.export_onnx`
(``model.onnx`` beside ``config.json``). The graph holds no input checks: a traced model cannot
raise. `OnnxEmotionModel` runs them in Python before the graph (the eager model's messages: an
empty row, a clip shorter than the encoder's receptive field, more mel frames than Whisper's
30 s), so bad input is refused, never silently scored. onnxruntime is an optional dependency
(``eam-ser[onnx]``), imported when a model is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.featurize import check_min_length

__all__ = ["ONNX_FILE", "OnnxEmotionModel", "onnxruntime_module"]

INSTALL_HINT = 'ONNX export and the onnxruntime backend need `pip install "eam-ser[onnx]"`'
ONNX_FILE = "model.onnx"
WHISPER_MAX_MEL_FRAMES = 3000


def onnxruntime_module() -> Any:
    """The onnxruntime module, or an ImportError saying which extra installs it."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    return onnxruntime


class OnnxEmotionModel:
    """An exported folder run by onnxruntime, called like `EmotionRecognizer` calls a model:
    ``model(inputs, attention_mask) -> logits`` (numpy arrays).

    Args:
        folder: the output of `export_onnx` (``model.onnx``, ``config.json``).
        num_threads: onnxruntime intra-op threads (None: its default).

    Raises:
        ValueError: the folder has no ``model.onnx``.
    """

    def __init__(self, folder: str | Path, *, num_threads: int | None = None) -> None:
        onnxruntime = onnxruntime_module()
        folder = Path(folder)
        if not (folder / ONNX_FILE).is_file():
            raise ValueError(
                f"{folder}: no {ONNX_FILE}; make one with `eam-ser export MODEL {folder}`"
            )
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.config = FlamConfig.from_pretrained(folder)
        self.input_name = self.session.get_inputs()[0].name

    def check_inputs(self, inputs: np.ndarray, attention_mask: np.ndarray) -> None:
        """The eager model's input checks, in Python (the graph has none).

        Raises:
            ValueError: naming the row, for an empty row, a clip shorter than the encoder's
                receptive field or, for Whisper, more than 3000 mel frames (30 s).
        """
        lengths = attention_mask.sum(axis=-1)
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            raise ValueError(f"{self.input_name} row {int(empty[0])} is empty (attention_mask 0)")
        if self.input_name == "input_values":
            check_min_length(lengths, self.config.min_input_samples)
        elif inputs.shape[-1] > WHISPER_MAX_MEL_FRAMES:
            raise ValueError(
                f"input_features has {inputs.shape[-1]} mel frames, more than Whisper's "
                f"{WHISPER_MAX_MEL_FRAMES} (30 s)"
            )

    def __call__(self, inputs: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        self.check_inputs(inputs, attention_mask)
        feeds = {
            self.input_name: inputs.astype(np.float32),
            "attention_mask": attention_mask.astype(np.int64),
        }
        return self.session.run(None, feeds)[0]
