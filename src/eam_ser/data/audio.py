"""Audio input: decode, downmix to mono, resample and validate.

Every waveform that enters eam-ser goes through `load_audio`, which returns a float32
mono 1-D array at the requested sampling rate (by default `eam_ser.models.flam.featurize.SAMPLING_RATE`,
16 kHz, as `DEFAULT_SAMPLING_RATE`). Decoding uses soundfile
(any format libsndfile reads: wav, flac, ogg, ...) and resampling uses soxr, so the CPU-only
stack works without torchcodec. That is why ``datasets`` audio columns are best cast to
``Audio(decode=False)``: their values are ``{"path", "bytes"}`` dicts that this module decodes
itself. Decoded ``datasets`` values (torchcodec ``AudioDecoder`` objects, on machines where
torchcodec loads) and ``{"array", "sampling_rate"}`` dicts are accepted as well.

Integer PCM arrays (int8/16/32, uint8) are scaled to [-1, 1) as soundfile scales decoded files.

Bad input raises ``ValueError`` naming the file (or the caller-given ``name``) and the problem:
empty, non-finite (NaN/inf) samples, a peak far outside full scale (above
``MAX_ABS_AMPLITUDE``: unscaled integer PCM stored as floats, or values whose energies would
overflow), unreadable, or zero length after resampling.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import soundfile
import soxr

from eam_ser.models.flam.featurize import SAMPLING_RATE as DEFAULT_SAMPLING_RATE

MAX_ABS_AMPLITUDE = 1e4
"""Largest accepted sample magnitude, in full-scale units (1.0 = full scale). Real audio peaks
near 1; 1e4 leaves room for gain while keeping every energy and log-mel power far from float32
overflow. Above it lies unscaled integer PCM stored as floats (int16 peaks near 32767)."""

SAMPLING_RATE_RANGE = (4_000, 192_000)
"""The sampling rates, in Hz, accepted for audio given in memory and as a target: from
narrow-band telephony (8 kHz, with margin) to studio recordings (192 kHz). A rate outside is a
unit mistake (16 for 16 kHz) that would resample a clip a thousandfold, not a recording."""

MAX_WHOLE_CLIP_S = 60.0
"""Longest audio, in seconds, that is run through the encoder in one piece: scored with
``"none"``, tested whole, or trained on without a crop (`TrainingSettings.max_train_seconds`).
Self-attention memory grows with the square of the length (60 s of WavLM-large: about 0.6 GB
per layer's attention), so longer audio is segmented or cropped instead."""

__all__ = [
    "DEFAULT_SAMPLING_RATE",
    "MAX_ABS_AMPLITUDE",
    "MAX_WHOLE_CLIP_S",
    "SAMPLING_RATE_RANGE",
    "check_sampling_rate",
    "load_audio",
    "truncated_riff",
    "validate_waveform",
]


def check_sampling_rate(value: Any, name: str = "sampling_rate") -> int:
    """`value` as an int number of Hz, or a ValueError naming `name` and the value: a bool,
    a non-integral or non-finite number, or a rate outside `SAMPLING_RATE_RANGE` (a rate in kHz
    is the common mistake, and says so)."""
    low, high = SAMPLING_RATE_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number of Hz, got {value!r}")
    if not np.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be a whole number of Hz, got {value!r}")
    if not low <= value <= high:
        hint = f" (in kHz? {value:g} kHz is {int(value * 1000)} Hz)" if 0 < value < 400 else ""
        raise ValueError(f"{name} must be between {low} and {high} Hz, got {value!r}{hint}")
    return int(value)


def pcm_to_float(array: np.ndarray) -> np.ndarray:
    """Integer PCM (int8, int16, int32, int64, uint8) scaled to float32 in [-1, 1), the scale
    soundfile gives decoded files: signed ``x / 2^(bits-1)``, unsigned 8-bit ``(x - 128) / 128``.
    Float arrays pass through as float32."""
    array = np.asarray(array)
    if array.dtype.kind == "i":
        scale = float(2 ** (8 * array.dtype.itemsize - 1))
        return (array.astype(np.float64) / scale).astype(np.float32)
    if array.dtype.kind == "u":
        middle = float(2 ** (8 * array.dtype.itemsize - 1))
        return ((array.astype(np.float64) - middle) / middle).astype(np.float32)
    if array.dtype.kind in "bc":
        what = "complex: give the real signal" if array.dtype.kind == "c" else "not a waveform"
        raise ValueError(f"audio of dtype {array.dtype} is {what}")
    try:
        return np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"audio of dtype {array.dtype} and shape {array.shape} is not an array of numbers"
        ) from None


def validate_waveform(waveform: Any, *, name: str, allow_silence: bool = True) -> np.ndarray:
    """Check a mono waveform and return it as a contiguous float32 1-D array.

    Args:
        waveform: array-like of shape (time,), amplitude in full-scale units.
        name: what to call the waveform in error messages (a file path or a dataset index).
        allow_silence: accept digital silence (every sample 0.0). Training data may hold it (EAM
            never mixes a silent clip); prediction on silence is meaningless, so the
            ``eam-ser predict`` / ``evaluate`` paths pass ``False``.

    Raises:
        ValueError: if the waveform is not 1-D, has no samples, holds NaN/inf samples, peaks
            above ``MAX_ABS_AMPLITUDE``, or is all zeros while `allow_silence` is False.
    """
    array = np.ascontiguousarray(waveform, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(
            f"{name}: expected a mono waveform of shape (time,), got shape {array.shape}"
        )
    if array.size == 0:
        raise ValueError(f"{name}: empty audio (0 samples)")
    # One max and one min pass: NaN propagates through both, so the finite check is free.
    peak = max(float(array.max()), -float(array.min()))
    if not np.isfinite(peak):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        what = "all samples are" if bad == array.size else f"{bad} of {array.size} samples are"
        raise ValueError(f"{name}: {what} NaN/inf")
    if peak > MAX_ABS_AMPLITUDE:
        raise ValueError(
            f"{name}: peak amplitude {peak:.3g} is far outside full scale (at most "
            f"{MAX_ABS_AMPLITUDE:g} accepted, real audio peaks near 1.0); integer PCM stored as "
            "floats must be scaled first (divide int16 by 32768)"
        )
    if peak > 1.0 and np.array_equal(array, np.round(array)):
        raise ValueError(
            f"{name}: every sample is a whole number and the peak is {peak:.6g}: integer PCM "
            "stored as floats; scale it to [-1, 1) first (divide int16 by 32768), or pass the "
            "integer array itself"
        )
    if not allow_silence and not array.any():
        raise ValueError(f"{name}: silent audio (all {array.size} samples are 0)")
    return array


def _downmix(array: np.ndarray, *, name: str) -> np.ndarray:
    """Average the channels of a (time, channels) or (channels, time) array to (time,).

    A 2-D array is taken to hold its channels on the shorter axis (soundfile returns
    (time, channels), torch audio is (channels, time)).
    """
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise ValueError(
            f"{name}: expected audio of shape (time,) or (channels, time), got {array.shape}"
        )
    channel_axis = 0 if array.shape[0] <= array.shape[1] else 1
    if array.shape[channel_axis] == 1:
        # Mono stored as 2-D (soundfile's always_2d): a view, no copy of a long recording.
        return array[0] if channel_axis == 0 else array[:, 0]
    return array.mean(axis=channel_axis, dtype=np.float32)


GIT_LFS_POINTER_PREFIX = b"version https://git-lfs"
"""How a git-lfs pointer file starts: what a corpus cloned without git-lfs (CREMA-D) holds in
place of its audio."""


def truncated_riff(path: str) -> str | None:
    """For a RIFF (WAV) file whose header promises more bytes than the file holds, why it is
    refused: libsndfile reads what is there without a word, so half a recording would pass."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    promised = int.from_bytes(head[4:8], "little") + 8
    # 0 / -1: length left open; one byte short: a pad byte counted but never written.
    if promised in (8, 0xFFFFFFFF + 8) or promised <= size + 1:
        return None
    return (
        f"truncated: its header promises {promised} bytes, the file holds {size} "
        f"({100 * size / promised:.0f} %); copy it again"
    )


def _read_file(file: str | io.BytesIO, *, name: str) -> tuple[np.ndarray, int]:
    if not isinstance(file, io.BytesIO):
        # libsndfile reads what there is of a cut file without a word: refused here, where
        # every entry point (check, train, evaluate, predict, the pipeline) reads files.
        truncated = truncated_riff(file)
        if truncated is not None:
            raise ValueError(f"{name}: {truncated}")
    try:
        data, file_rate = soundfile.read(file, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError) as error:
        if isinstance(file, io.BytesIO):
            head = file.getvalue()[: len(GIT_LFS_POINTER_PREFIX)]
        else:
            with open(file, "rb") as handle:
                head = handle.read(len(GIT_LFS_POINTER_PREFIX))
        if head == GIT_LFS_POINTER_PREFIX:
            raise ValueError(
                f"{name}: a git-lfs pointer, not audio (the corpus was cloned without git-lfs: "
                "run `git lfs pull` in it)"
            ) from error
        raise ValueError(f"{name}: unreadable audio ({error})") from error
    return data, int(file_rate)


def _named(convert: Any, value: Any, label: str) -> np.ndarray:
    """`convert(value)`, its ValueError prefixed with `label`."""
    try:
        return convert(value)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None


def _array_to_float(value: Any) -> np.ndarray:
    """`pcm_to_float` of `value` made an array; a ragged or nested value is refused."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise ValueError("not a flat sequence of numbers (ragged or nested)") from None
    return pcm_to_float(array)


def _decode(source: Any, *, name: str | None) -> tuple[np.ndarray, int | None, str]:
    """Decode `source` to (samples, sampling rate or None if unknown, name for messages)."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        label = name or path
        if not os.path.isfile(path):
            raise ValueError(f"{label}: unreadable audio (no such file)")
        data, rate = _read_file(path, name=label)
        return data, rate, label
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        if len(source) == 0:
            raise ValueError(f"{label}: empty audio (0 bytes)")
        data, rate = _read_file(io.BytesIO(bytes(source)), name=label)
        return data, rate, label
    if isinstance(source, Mapping):
        # datasets' decoded value {"array", "sampling_rate"}, or transformers' pipeline input
        # {"raw", "sampling_rate"}.
        key = "array" if source.get("array") is not None else "raw"
        if source.get(key) is not None:
            label = name or "array"
            rate = source.get("sampling_rate")
            if rate is not None:
                rate = check_sampling_rate(rate, f"{label}: sampling_rate")
            return _named(_array_to_float, source[key], label), rate, label
        # datasets Audio(decode=False) value: prefer the embedded bytes, the path may be relative.
        if source.get("bytes") is not None:
            return _decode(source["bytes"], name=name or source.get("path") or "<bytes>")
        if source.get("path") is not None:
            return _decode(source["path"], name=name)
        raise ValueError(f"{name or 'audio'}: dict has neither 'array', 'raw', 'bytes' nor 'path'")
    if hasattr(source, "get_all_samples"):
        # datasets >= 4 decoded value: a torchcodec AudioDecoder; its data is (channels, time).
        samples = source.get_all_samples()
        return samples.data.cpu().numpy(), int(samples.sample_rate), name or "decoded audio"
    if hasattr(source, "detach"):
        return (
            _named(pcm_to_float, source.detach().cpu().numpy(), name or "tensor"),
            None,
            name or "tensor",
        )
    if isinstance(source, np.ndarray):
        return _named(pcm_to_float, source, name or "array"), None, name or "array"
    if isinstance(source, (list, tuple)):
        try:  # numbers in a list are float samples, as ever (not integer PCM to scale)
            return pcm_to_float(np.asarray(source, dtype=np.float32)), None, name or "array"
        except (TypeError, ValueError) as error:  # ragged, nested or not numbers
            raise ValueError(
                f"{name or 'audio'}: not a flat sequence of numbers ({error})"
            ) from None
    raise TypeError(f"{name or 'audio'}: cannot load audio from {type(source).__name__}")


def load_audio(
    source: Any,
    sampling_rate: int = DEFAULT_SAMPLING_RATE,
    *,
    name: str | None = None,
    allow_silence: bool = True,
) -> np.ndarray:
    """Load audio as a float32 mono waveform of shape (time,) at `sampling_rate` Hz.

    Args:
        source: one of
            - a path (``str`` / ``os.PathLike``) to any file soundfile reads (wav, flac, ogg, ...);
            - the encoded file as ``bytes``;
            - a dict ``{"array", "sampling_rate"}`` (a decoded ``datasets`` value of older
              versions; ``sampling_rate`` in Hz, missing = already at `sampling_rate`);
            - a ``datasets`` ``Audio(decode=False)`` value ``{"path", "bytes"}`` (bytes win);
            - a torchcodec ``AudioDecoder`` (a decoded ``datasets`` >= 4 value);
            - a numpy array, list of floats or torch tensor, assumed to be at `sampling_rate`
              (integer PCM is scaled to [-1, 1), see `pcm_to_float`).
            Multi-channel input is averaged to mono (channels on the shorter axis for arrays).
        sampling_rate: target rate in Hz; other rates are resampled with soxr (high quality).
        name: what to call the audio in error messages (default: the path, or the kind).
        allow_silence: accept digital silence (see `validate_waveform`).

    Returns:
        float32 array of shape (time,).

    Raises:
        ValueError: unreadable file, empty audio, NaN/inf samples, a peak above
            ``MAX_ABS_AMPLITUDE``, integer PCM stored as floats, complex, ragged or non-numeric
            arrays, a sampling rate outside `SAMPLING_RATE_RANGE`, silence (with
            ``allow_silence=False``), or zero samples after resampling; the message starts with
            `name` (or the file path).
        TypeError: `source` is of a kind not listed above.
    """
    sampling_rate = check_sampling_rate(sampling_rate)
    data, source_rate, label = _decode(source, name=name)
    if data.size == 0:
        raise ValueError(f"{label}: empty audio (0 samples)")
    waveform = validate_waveform(
        _downmix(np.asarray(data, dtype=np.float32), name=label),
        name=label,
        allow_silence=allow_silence,
    )
    if source_rate is not None and source_rate != sampling_rate:
        num_samples = waveform.size
        waveform = soxr.resample(waveform, source_rate, sampling_rate, quality="HQ")
        if waveform.size == 0:
            raise ValueError(
                f"{label}: zero samples after resampling {num_samples} samples from "
                f"{source_rate} Hz to {sampling_rate} Hz"
            )
        waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    return waveform


def random_crop(
    waveform: np.ndarray, max_samples: int, generator: np.random.Generator
) -> np.ndarray:
    """A window of at most `max_samples` samples of `waveform` (samples,) at a uniformly drawn
    offset; a clip that short or shorter is returned whole (and nothing is drawn)."""
    excess = waveform.shape[0] - max_samples
    if excess <= 0:
        return waveform
    start = int(generator.integers(0, excess + 1))
    return waveform[start : start + max_samples]
