"""ONNX export of a trained model (run by `eam_ser.inference.onnx_runtime.OnnxEmotionModel`).

`export_onnx` writes ``model.onnx`` (opset 18, torch's dynamo exporter) with a dynamic batch
and length, beside the model's ``config.json`` and ``preprocessor_config.json``, after checking
the exported graph against eager PyTorch on clips of other lengths and batch sizes than the
export example (max |difference| of the logits <= `tolerance`); a graph that fails is not
written. Inputs: the feature extractor's main input (``input_values`` (batch, samples) for
wav2vec-style encoders, ``input_features`` (batch, 80, mel_frames) for Whisper, cropped to the
longest real clip by `AudioCollator`) and ``attention_mask``; output ``logits``.

The graph holds no input checks: a traced model cannot raise; `OnnxEmotionModel` runs them in
Python before the graph.

    eam-ser export runs/quickstart runs/quickstart-onnx --format onnx
    eam-ser predict runs/quickstart-onnx speech.wav --backend onnxruntime
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eam_ser.inference.onnx_runtime import INSTALL_HINT, ONNX_FILE, onnxruntime_module
from eam_ser.inference.recognizer import EmotionRecognizer

__all__ = ["export_onnx"]

EXPORT_CLIP_SECONDS = (1.0, 0.7)
CHECK_CLIP_SECONDS = (2.3, 0.45, 1.6)


def _synthetic_clips(seconds: tuple[float, ...], sampling_rate: int) -> list[np.ndarray]:
    generator = np.random.default_rng(0)
    clips = []
    for index, duration in enumerate(seconds):
        time = np.arange(round(duration * sampling_rate)) / sampling_rate
        tone = 0.3 * np.sin(2 * np.pi * (180.0 + 110.0 * index) * time)
        clips.append((tone + 0.01 * generator.standard_normal(time.shape)).astype(np.float32))
    return clips


class _LogitsOnly(torch.nn.Module):
    """(main input, attention_mask) -> logits: the exported signature."""

    def __init__(self, model: torch.nn.Module, input_name: str) -> None:
        super().__init__()
        self.model = model
        self.input_name = input_name

    def forward(self, inputs: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(**{self.input_name: inputs}, attention_mask=attention_mask).logits


# Loggers of torch's exporter and of the ONNX libraries under it: their notes on every export
# (optional torchvision ops skipped, constant folding skipped for multi-output ops, ambiguous
# empty attributes) are about their internals, not about the model being exported.
EXPORTER_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hold back the exporter's internal warnings and log lines; errors still raise. The
    export's own result is checked against PyTorch afterwards, which is what matters."""
    loggers = [logging.getLogger(name) for name in EXPORTER_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(
    model_path: str | Path, output_dir: str | Path, *, tolerance: float = 1e-4
) -> dict[str, Any]:
    """Export a saved model to ONNX, checked against eager PyTorch first (the graph's inputs
    and outputs: the module docstring).

    Args:
        model_path: a folder saved by `eam-ser train` / `save_pretrained`.
        output_dir: the folder that receives ``model.onnx`` (with ``model.onnx.data`` when
            the weights are stored beside the graph), ``config.json`` and
            ``preprocessor_config.json``; ship the folder whole.
        tolerance: the largest allowed |difference| of the logits from eager PyTorch on clips
            of other lengths and batch sizes than the export example.

    Returns:
        The parity check: ``{"max_abs_difference": float, "batch_size": int, "lengths_s":
        [seconds, ...]}``.

    Raises:
        ValueError: the exported graph differs from eager PyTorch by more than `tolerance`
            (nothing is written to `output_dir`).
    """
    onnxruntime = onnxruntime_module()
    try:
        import onnxscript  # noqa: F401  (torch's dynamo exporter needs it)
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    output_dir = Path(output_dir)
    recognizer = EmotionRecognizer.from_pretrained(model_path)
    model = recognizer.model.float().eval()
    name = recognizer.input_name
    wrapper = _LogitsOnly(model, name).eval()
    example = recognizer.collator.collate_waveforms(
        _synthetic_clips(EXPORT_CLIP_SECONDS, recognizer.sampling_rate)
    )
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    time_axis = 1 if name == "input_values" else 2
    check = recognizer.collator.collate_waveforms(
        _synthetic_clips(CHECK_CLIP_SECONDS, recognizer.sampling_rate)
    )
    with tempfile.TemporaryDirectory() as staging:
        # Exported and checked aside: `output_dir` only ever receives a graph that passed.
        onnx_path = Path(staging) / ONNX_FILE
        with _quiet_exporter():
            torch.onnx.export(
                wrapper,
                (example[name], example["attention_mask"]),
                str(onnx_path),
                dynamo=True,
                opset_version=18,
                input_names=[name, "attention_mask"],
                output_names=["logits"],
                dynamic_shapes={
                    "inputs": {0: batch, time_axis: time},
                    "attention_mask": {0: batch, 1: time},
                },
                verbose=False,
            )
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        exported = session.run(
            None, {name: check[name].numpy(), "attention_mask": check["attention_mask"].numpy()}
        )[0]
        with torch.no_grad():
            eager = wrapper(check[name], check["attention_mask"]).numpy()
        difference = float(np.abs(exported - eager).max())
        if not difference <= tolerance:
            raise ValueError(
                f"the ONNX export of {model_path} differs from PyTorch by {difference:.2e} "
                f"(> {tolerance:.0e}) on clips of {CHECK_CLIP_SECONDS} s; nothing was written"
            )
        output_dir.mkdir(parents=True, exist_ok=True)
        for file in Path(staging).iterdir():  # model.onnx and any external weight file
            shutil.move(str(file), output_dir / file.name)
    model.config.save_pretrained(output_dir)
    recognizer.feature_extractor.save_pretrained(output_dir)
    return {
        "max_abs_difference": difference,
        "batch_size": len(CHECK_CLIP_SECONDS),
        "lengths_s": list(CHECK_CLIP_SECONDS),
    }
