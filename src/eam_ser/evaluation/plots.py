"""Pictures a user looks at to understand one prediction (`eam-ser predict --explain`), the
confusions of a test (`plot_confusion_matrix`, ``confusion_matrix.png`` of every run) and whether the
scores can be trusted (`eam-ser evaluate --reliability-plot`).

`plot_frame_attention` draws a clip's waveform and spectrogram with FLAM's frame attention
over them. The attention is shown relative to uniform (``num_frames * weight``: 1 = every frame
counts alike), because the raw pooling weights of a clip of a few seconds are all close to
``1 / num_frames`` and look flat; the frames that carry the most weight (the top
`HIGHLIGHT_SHARE` of frames) are shaded in both panels, and the title gives the two most
probable emotions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HIGHLIGHT_SHARE",
    "plot_confusion_matrix",
    "plot_frame_attention",
    "plot_reliability",
    "plot_robustness_ladder",
    "top_frame_spans",
]

HIGHLIGHT_SHARE = 0.1
"""Share of the frames, those with the highest attention, shaded as the ones that drove the
decision."""
SPECTROGRAM_WINDOW_S = 0.025
SPECTROGRAM_HOP_S = 0.010


def _pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: str | Path) -> Path:
    """Lay `figure` out, write it as a 120-dpi PNG to `path` (folders made) and close it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def top_frame_spans(
    frame_attention: np.ndarray, duration_s: float, share: float = HIGHLIGHT_SHARE
) -> list[tuple[float, float]]:
    """(start s, end s) of the runs of consecutive frames among the `share` of frames with the
    highest attention; `frame_attention` (num_frames,) spreads evenly over `duration_s`."""
    num_frames = frame_attention.shape[0]
    count = max(1, round(share * num_frames))
    top = np.zeros(num_frames, bool)
    top[np.argsort(-frame_attention, kind="stable")[:count]] = True
    edges = np.linspace(0.0, duration_s, num_frames + 1)
    spans, start = [], None
    for index, flagged in enumerate([*top, False]):
        if flagged and start is None:
            start = index
        elif not flagged and start is not None:
            spans.append((float(edges[start]), float(edges[index])))
            start = None
    return spans


def plot_frame_attention(
    waveform: np.ndarray,
    frame_attention: np.ndarray,
    sampling_rate: int,
    path: str | Path,
    *,
    name: str,
    scores: Mapping[str, float],
) -> Path:
    """PNG of a clip: waveform and spectrogram (time in seconds) with FLAM's attention.

    Args:
        waveform: (samples,) float32 clip at `sampling_rate` Hz.
        frame_attention: (num_frames,) pooling weights of the clip's frames (summing to 1),
            spread evenly over its duration.
        path: where the PNG goes (its folder is made).
        name: the clip's name, for the title.
        scores: emotion -> probability; the two highest are in the title.
    """
    plt = _pyplot()

    duration_s = len(waveform) / sampling_rate
    relative = frame_attention.astype(np.float64) * frame_attention.shape[0]
    edges = np.linspace(0.0, duration_s, len(frame_attention) + 1)
    spans = top_frame_spans(frame_attention, duration_s)
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    title = f"{name}: {ranked[0][0]} {ranked[0][1]:.3f}"
    if len(ranked) > 1:
        title += f" (runner-up {ranked[1][0]} {ranked[1][1]:.3f})"

    figure, (wave_axis, spectrum_axis) = plt.subplots(
        2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [1, 1]}
    )
    wave_axis.plot(np.arange(len(waveform)) / sampling_rate, waveform, color="0.35", lw=0.5)
    wave_axis.set_ylabel("amplitude")
    attention_axis = wave_axis.twinx()
    attention_axis.stairs(relative, edges, color="tab:red", linewidth=1.4, baseline=None)
    attention_axis.axhline(1.0, color="tab:red", linestyle=":", linewidth=0.8)
    attention_axis.set_ylabel("attention / uniform", color="tab:red")
    attention_axis.set_ylim(0, max(float(relative.max()) * 1.15, 1.5))
    window = max(16, round(SPECTROGRAM_WINDOW_S * sampling_rate))
    hop = max(1, round(SPECTROGRAM_HOP_S * sampling_rate))
    with np.errstate(divide="ignore"):  # digital silence has no level in dB
        spectrum_axis.specgram(
            waveform, NFFT=window, Fs=sampling_rate, noverlap=window - hop, cmap="magma"
        )
    spectrum_axis.set_ylabel("frequency (Hz)")
    spectrum_axis.set_xlabel("time (s)")
    for start, end in spans:
        for axis in (wave_axis, spectrum_axis):
            axis.axvspan(start, end, color="tab:cyan", alpha=0.25, linewidth=0)
    wave_axis.set_xlim(0, duration_s)
    wave_axis.set_title(
        f"{title}\nred: FLAM attention per frame relative to uniform (dotted: 1); "
        f"shaded: the top {HIGHLIGHT_SHARE:.0%} of frames",
        fontsize=9,
    )
    return _save(figure, path)


def plot_reliability(
    calibrations: Mapping[str, Mapping[str, object]], out: str | Path, title: str = ""
) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin, one curve
    per entry of `calibrations` (``{"after scaling": eam_ser.evaluation.calibration.calibration(...), ...}``),
    the diagonal of perfect calibration, and each curve's ECE in the legend.

    Returns:
        the PNG written.
    """
    plt = _pyplot()

    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for name, result in calibrations.items():
        bins = result["bins"]
        axis.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            label=f"{name} (ECE {result['ece']:.3f})",
        )
    axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence (top score)", ylabel="accuracy")
    axis.set_title(title or "Reliability of the scores", fontsize=10)
    axis.legend(fontsize=8, loc="upper left")
    axis.grid(alpha=0.3)
    return _save(figure, out)


def plot_robustness_ladder(
    ladder: Mapping[str, object], clean_ua: float, out: str | Path, title: str = ""
) -> Path:
    """UA against SNR for noise and interfering speech, and the telephone and clipping
    conditions as points, with the clean UA as a line
    (`eam_ser.inference.robustness.robustness_ladder`'s result).

    Returns:
        the PNG written.
    """
    plt = _pyplot()

    figure, axis = plt.subplots(figsize=(6.0, 4.0))
    axis.axhline(100 * clean_ua, color="grey", linestyle=":", label="clean")
    for index, (condition, levels) in enumerate(ladder["ua"].items()):
        color = f"C{index}"
        if condition in ("noise", "speech"):
            snrs = [float(level) for level in levels]
            axis.plot(snrs, [100 * v for v in levels.values()], "o-", color=color, label=condition)
        else:
            ((level, value),) = levels.items()
            axis.scatter(
                [-7.5], [100 * value], marker="s", color=color, label=f"{condition} ({level})"
            )
    axis.invert_xaxis()
    axis.set(xlabel="SNR (dB)", ylabel="UA (%)", ylim=(0, 100))
    axis.set_title(title or "UA under interference", fontsize=10)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return _save(figure, out)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    label_names: Sequence[str],
    path: str | os.PathLike[str],
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Save a confusion-matrix heat map as a PNG file.

    Args:
        matrix: (num_labels, num_labels) counts, references on rows, predictions on columns.
        label_names: class names in index order.
        path: output file (a `.png` suffix is expected).
        normalize: show each row divided by its sum (per-class recall on the diagonal);
            the counts are printed either way.
        title: optional figure title.

    Returns:
        The path written.
    """
    import matplotlib

    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"`matrix` must be square (num_labels, num_labels), got {matrix.shape}")
    if len(label_names) != matrix.shape[0]:
        raise ValueError(
            f"`label_names` has {len(label_names)} names for {matrix.shape[0]} classes"
        )
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`path` must end in .png, got {path}")

    # The Agg canvas is used directly so no interactive backend is ever needed or switched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if normalize:
        row_sums = matrix.sum(axis=1, keepdims=True)
        shown = np.divide(matrix, row_sums, out=np.zeros_like(matrix), where=row_sums > 0)
    else:
        shown = matrix
    size = 1.0 + 0.6 * matrix.shape[0]
    figure = Figure(figsize=(size + 1.5, size))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(shown, cmap=matplotlib.colormaps["Blues"], vmin=0.0)
    figure.colorbar(image, ax=axes, label="recall" if normalize else "count")
    ticks = np.arange(matrix.shape[0])
    axes.set_xticks(ticks, labels=list(label_names), rotation=45, ha="right")
    axes.set_yticks(ticks, labels=list(label_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:
        axes.set_title(title)
    threshold = shown.max() / 2 if shown.size else 0.0
    for row in range(matrix.shape[0]):
        for column in range(matrix.shape[1]):
            text = f"{int(matrix[row, column])}"
            if normalize:
                text += f"\n{shown[row, column]:.2f}"
            axes.text(
                column,
                row,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shown[row, column] > threshold else "black",
            )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path
