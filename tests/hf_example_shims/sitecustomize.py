"""Two shims for running Hugging Face's example scripts on this offline, CPU-only machine; both
are unrelated to eam-ser (nothing here imports it).

1. `evaluate.load("accuracy")` downloads the metric script from the Hub: it gets a local
   accuracy metric (`compute(predictions, references) -> {"accuracy": float}`) instead.
2. `datasets` 5 encodes and decodes `Audio` through torchcodec, which fails with the CPU torch
   build here: `Audio.encode_example` stores paths and bytes as they are (arrays as WAV bytes
   written by soundfile), and `Audio.decode_example` decodes with soundfile and resamples with
   soxr, returning the `{"path", "array", "sampling_rate"}` dict the scripts index.

Put this folder first on PYTHONPATH; Python imports `sitecustomize` at start-up.
"""

import io
import os

import evaluate
import numpy as np
import soundfile
import soxr
from datasets.features import Audio


class _Accuracy:
    def compute(self, predictions, references):
        predictions, references = np.asarray(predictions), np.asarray(references)
        return {"accuracy": float((predictions == references).mean())}


_load = evaluate.load


def _load_offline(path, *args, **kwargs):
    return _Accuracy() if path == "accuracy" else _load(path, *args, **kwargs)


def _decode_with_soundfile(self, value, token_per_repo_id=None):
    if not isinstance(value, dict):
        return value
    source = io.BytesIO(value["bytes"]) if value.get("bytes") is not None else value["path"]
    array, rate = soundfile.read(source, dtype="float32", always_2d=True)
    array = array.mean(axis=1)
    if self.sampling_rate is not None and rate != self.sampling_rate:
        array, rate = soxr.resample(array, rate, self.sampling_rate), self.sampling_rate
    return {"path": value.get("path"), "array": array, "sampling_rate": rate}


def _encode_without_torchcodec(self, value):
    if isinstance(value, (str, os.PathLike)):
        return {"bytes": None, "path": os.fspath(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value), "path": None}
    if "array" in value:
        buffer = io.BytesIO()
        soundfile.write(buffer, np.asarray(value["array"]), value["sampling_rate"], format="WAV")
        return {"bytes": buffer.getvalue(), "path": None}
    return {"bytes": value.get("bytes"), "path": value.get("path")}


evaluate.load = _load_offline
Audio.encode_example = _encode_without_torchcodec
Audio.decode_example = _decode_with_soundfile
