"""Cutting a recording into the segments that `EmotionRecognizer` scores one by one.

`segment_recording` offers:

- ``"fixed"``: windows of `window_s` seconds every `hop_s` seconds (the last window ends at
  the end of the recording; a recording shorter than a window is one segment);
- ``"vad"``: speech regions found by Silero VAD (the ``silero-vad`` package: MIT licence,
  ships its own model, runs offline on a CPU with torch alone), regions longer than
  `max_segment_s` cut into fixed windows, regions shorter than `min_segment_s` dropped;
- ``"none"``: the whole recording as one segment;
- ``"auto"`` (default): ``"none"`` up to `long_input_s` seconds, ``"vad"`` beyond.

Torch-free at import (the command line reads `SEGMENTATIONS` from here); the VAD model is
loaded on first use, once per process.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from eam_ser.data.audio import MAX_WHOLE_CLIP_S
from eam_ser.models.flam.arguments import check_real

__all__ = [
    "MIN_HOP_S",
    "SEGMENTATIONS",
    "check_segment_options",
    "fixed_windows",
    "segment_recording",
    "vad_regions",
]

SEGMENTATIONS = ("auto", "none", "fixed", "vad")
DEFAULT_WINDOW_S = 4.0
DEFAULT_HOP_S = 2.0
DEFAULT_LONG_INPUT_S = 20.0
DEFAULT_MAX_SEGMENT_S = 10.0
DEFAULT_MIN_SEGMENT_S = 0.25


MIN_HOP_S = 0.01
"""Shortest hop between fixed windows, in seconds (10 ms: half an encoder frame; a shorter hop
scores the same frames over and over)."""


def check_segment_options(
    window_s: Any = DEFAULT_WINDOW_S,
    hop_s: Any = None,
    long_input_s: Any = DEFAULT_LONG_INPUT_S,
    max_segment_s: Any = DEFAULT_MAX_SEGMENT_S,
    min_segment_s: Any = DEFAULT_MIN_SEGMENT_S,
) -> dict[str, float]:
    """The segmenting options as floats, each checked where it enters: durations in seconds,
    finite and > 0; `window_s` and `hop_s` at least `MIN_HOP_S`, `hop_s` at most `window_s` (a
    longer hop would leave audio between windows unscored; None: `DEFAULT_HOP_S`, or `window_s`
    when that is shorter); `window_s` and `max_segment_s` at most `MAX_WHOLE_CLIP_S`.

    Raises:
        ValueError: naming the option, its value and the accepted range.
    """
    window = check_real(window_s, "window_s", minimum=MIN_HOP_S, maximum=MAX_WHOLE_CLIP_S, unit="s")
    if hop_s is None:  # the default hop, or the window when that is shorter
        hop_s = min(DEFAULT_HOP_S, window)
    hop = check_real(hop_s, "hop_s", minimum=MIN_HOP_S, unit="s")
    if hop > window:
        raise ValueError(
            f"hop_s ({hop:g} s) must be at most window_s ({window:g} s): a longer hop leaves "
            "audio between windows unscored"
        )
    return {
        "window_s": window,
        "hop_s": hop,
        "long_input_s": check_real(long_input_s, "long_input_s", above=0.0, unit="s"),
        "max_segment_s": check_real(
            max_segment_s, "max_segment_s", above=0.0, maximum=MAX_WHOLE_CLIP_S, unit="s"
        ),
        "min_segment_s": check_real(min_segment_s, "min_segment_s", minimum=0.0, unit="s"),
    }


def fixed_windows(
    num_samples: int, sampling_rate: int, window_s: float, hop_s: float
) -> list[tuple[int, int]]:
    """(start, end) sample indices of windows of `window_s` every `hop_s` seconds covering
    ``[0, num_samples)``; the last window is moved back to end at the end.

    Raises:
        ValueError: `window_s` or `hop_s` outside the ranges of `check_segment_options`.
    """
    options = check_segment_options(window_s, hop_s)
    window = round(options["window_s"] * sampling_rate)
    hop = max(1, round(options["hop_s"] * sampling_rate))
    if num_samples <= window:
        return [(0, num_samples)]
    starts = list(range(0, num_samples - window, hop))
    starts.append(num_samples - window)
    return [(start, start + window) for start in starts]


def vad_regions(waveform: Any, sampling_rate: int) -> list[tuple[int, int]]:
    """(start, end) sample indices of the speech regions Silero VAD finds in a float32
    (samples,) array at 16 kHz or 8 kHz."""
    import numpy as np
    import torch
    from silero_vad import get_speech_timestamps

    model = _silero_model()
    regions = get_speech_timestamps(
        torch.from_numpy(np.ascontiguousarray(waveform)), model, sampling_rate=sampling_rate
    )
    return [(int(region["start"]), int(region["end"])) for region in regions]


@cache
def _silero_model() -> Any:
    """The Silero VAD model, loaded once per process."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


def segment_recording(
    waveform: Any,
    sampling_rate: int,
    segmentation: str = "auto",
    *,
    window_s: float = DEFAULT_WINDOW_S,
    hop_s: float | None = None,
    long_input_s: float = DEFAULT_LONG_INPUT_S,
    max_segment_s: float = DEFAULT_MAX_SEGMENT_S,
    min_segment_s: float = DEFAULT_MIN_SEGMENT_S,
) -> tuple[str, list[tuple[int, int]]]:
    """Cut a recording into the segments to score (the strategies: the module docstring).

    Args:
        waveform: (samples,) audio at `sampling_rate`.
        sampling_rate: samples per second of `waveform`.
        segmentation: ``"auto"``, ``"none"``, ``"fixed"`` or ``"vad"``.
        window_s: length of ``"fixed"`` windows, in seconds (> 0).
        hop_s: step between ``"fixed"`` windows, in seconds (`MIN_HOP_S` to `window_s`; None:
            `DEFAULT_HOP_S`, or `window_s` when shorter).
        long_input_s: ``"auto"`` scores audio up to this many seconds whole, longer with VAD.
        max_segment_s: VAD regions longer than this many seconds are cut into fixed windows.
        min_segment_s: VAD regions shorter than this many seconds are dropped.

    Returns:
        ``(used, segments)``: the segmentation used (``"auto"`` resolved) and the
        ``(start, end)`` sample indices of each segment, in order.

    Raises:
        ValueError: an unknown `segmentation`, an option outside its range
            (`check_segment_options`), or ``"none"`` for audio longer than `MAX_WHOLE_CLIP_S`.
    """
    options = check_segment_options(window_s, hop_s, long_input_s, max_segment_s, min_segment_s)
    window_s, hop_s = options["window_s"], options["hop_s"]
    long_input_s, max_segment_s = options["long_input_s"], options["max_segment_s"]
    min_segment_s = options["min_segment_s"]
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"segmentation must be one of {SEGMENTATIONS}, got {segmentation!r}")
    num_samples = int(waveform.shape[0])
    if segmentation == "auto":
        segmentation = "vad" if num_samples > long_input_s * sampling_rate else "none"
    if segmentation == "none":
        if num_samples > MAX_WHOLE_CLIP_S * sampling_rate:
            raise ValueError(
                f"{num_samples / sampling_rate:.0f} s is too long to score as one clip (at most "
                f"{MAX_WHOLE_CLIP_S:g} s in one piece): use segmentation 'auto' (speech "
                "regions) or 'fixed' (windows)"
            )
        return segmentation, [(0, num_samples)]
    if segmentation == "fixed":
        return segmentation, fixed_windows(num_samples, sampling_rate, window_s, hop_s)
    segments = []
    shortest = round(min_segment_s * sampling_rate)
    for start, end in vad_regions(waveform, sampling_rate):
        if end - start < shortest:
            continue
        if end - start <= max_segment_s * sampling_rate:
            segments.append((start, end))
            continue
        windows = fixed_windows(end - start, sampling_rate, window_s, hop_s)
        segments.extend((start + a, start + b) for a, b in windows)
    return segmentation, segments
