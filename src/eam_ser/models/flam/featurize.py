"""From padded waveforms to encoder inputs: the one featurizing home.

- `SAMPLING_RATE`: the 16 kHz every supported pretrained speech encoder takes, and the rate
  eam-ser loads audio at (`eam_ser.data.audio.DEFAULT_SAMPLING_RATE` is this constant).
- The minimum length: `min_input_samples` (a wav2vec-style CNN's receptive field),
  `stft_min_input_samples` (a centered STFT, Whisper's log-mel) and `check_min_length`, the one
  check that refuses a clip too short for the encoder (collator, model, ONNX wrapper).
- Normalization on the tensors' device (`normalize_tensors`), Whisper's log-mel spectrogram
  (`whisper_log_mel`) and its frame mask (`mel_frame_mask`).

Two constraints shape this module. It travels with every saved model: `modeling_flam.py` is
saved beside checkpoints as Hugging Face remote code, and transformers copies each module it
imports relatively and requires their imports to be installed, so this module imports numpy and
torch only (no soundfile, soxr or numba). And `eam_ser.data.audio` and the ``eam-ser`` command read
`SAMPLING_RATE` from here without loading torch, so torch is imported by the functions that
compute on tensors, not when this module is imported. The host-side (numpy) normalization of
the collator is the compiled `eam_ser.data.kernels.normalize_rows`, kept out of this module for the
first reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "SAMPLING_RATE",
    "WHISPER_MIN_INPUT_SAMPLES",
    "check_min_length",
    "is_log_mel_extractor",
    "mel_frame_mask",
    "min_input_samples",
    "normalize_tensors",
    "stft_min_input_samples",
    "whisper_log_mel",
]

SAMPLING_RATE = 16000
"""Hz: the rate of every supported pretrained speech encoder, and the rate audio is loaded at."""

NORMALIZATION_EPS = 1e-7
"""Added to the variance before the square root in per-clip normalization (as
``Wav2Vec2FeatureExtractor``)."""


# --------------------------------------------------------------------------------------------
# Minimum length
# --------------------------------------------------------------------------------------------


def min_input_samples(conv_kernel: Sequence[int], conv_stride: Sequence[int]) -> int:
    """Fewest input samples for which a stack of unpadded 1-D convolutions yields one frame
    (the receptive field of one output frame), in samples. (10, 3, 3, 3, 3, 2, 2) kernels with
    (5, 2, 2, 2, 2, 2, 2) strides -> 400 samples (25 ms at 16 kHz)."""
    length = 1
    for kernel, stride in zip(reversed(conv_kernel), reversed(conv_stride), strict=True):
        length = (length - 1) * stride + kernel
    return length


def stft_min_input_samples(n_fft: int) -> int:
    """Fewest samples a centered STFT of window `n_fft` accepts: its reflect padding of
    ``n_fft // 2`` samples needs a longer clip. 400 (Whisper) -> 201 samples (12.6 ms)."""
    return n_fft // 2 + 1


WHISPER_MIN_INPUT_SAMPLES = stft_min_input_samples(400)
"""Shortest clip Whisper's log-mel front end (n_fft 400) accepts: 201 samples."""


def check_min_length(
    lengths: Any,
    minimum: int,
    *,
    row_name: str = "input_values row {row}",
    needed_by: str = "the encoder's receptive field",
    allow_empty: bool = False,
    padded_length: int | None = None,
    sampling_rate: int = SAMPLING_RATE,
) -> None:
    """Refuse clips too short for the encoder: the one minimum-length check.

    Args:
        lengths: (batch,) real samples of each row, numpy or torch (any device).
        minimum: fewest samples the encoder accepts (`min_input_samples`,
            `stft_min_input_samples`, or ``FlamConfig.min_input_samples``).
        row_name: how the message names a row; ``{row}`` is replaced by its index.
        needed_by: what needs `minimum` samples, for the message.
        allow_empty: let rows of length 0 pass (all-padding rows, which the model accepts).
        padded_length: the padded width of the batch, refused below `minimum` even when every
            row is empty (the CNN cannot run on it); None: not checked.
        sampling_rate: the rate of the samples in Hz, to state `minimum` in seconds.

    Raises:
        ValueError: naming the first row that is too short, its length and the minimum.
    """
    if hasattr(lengths, "detach"):
        lengths = lengths.detach().cpu().numpy()
    lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
    too_short = lengths < minimum
    if allow_empty:
        too_short &= lengths > 0
    rows = np.flatnonzero(too_short)
    if rows.size == 0 and (padded_length is None or padded_length >= minimum):
        return
    row = int(rows[0]) if rows.size else 0
    raise ValueError(
        f"{row_name.format(row=row)} has {int(lengths[row])} samples, fewer than the minimum "
        f"of {needed_by}: at least {minimum} samples ({minimum / sampling_rate:.4f} s at "
        f"{sampling_rate} Hz); pad or drop clips that short"
    )


# --------------------------------------------------------------------------------------------
# Features on the tensors' device
# --------------------------------------------------------------------------------------------


def is_log_mel_extractor(extractor: Any) -> bool:
    """Whisper-style extractors: a mel filter bank, an STFT size and hop."""
    return all(hasattr(extractor, name) for name in ("mel_filters", "n_fft", "hop_length"))


def mel_frame_mask(lengths: Any, hop_length: int) -> torch.Tensor:
    """(batch, longest // hop_length) int64 mask of the mel frames of clips of `lengths`
    samples: ``samples // hop_length`` real frames each, as each clip featurized alone has
    (so a padded batch gives every clip the frames it gets on its own)."""
    import torch

    frames = torch.as_tensor(lengths) // hop_length
    return (torch.arange(int(frames.max()), device=frames.device) < frames[:, None]).long()


def normalize_tensors(waveforms: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Zero-mean unit-variance over each clip's real samples (eps 1e-7), padding 0, on the
    tensors' device: the torch twin of the collator's normalization. (batch, time) in and out."""
    import torch

    valid = attention_mask.to(torch.float64)
    count = valid.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (waveforms.double() * valid).sum(dim=1, keepdim=True) / count
    centered = (waveforms - mean.to(waveforms.dtype)) * attention_mask.to(waveforms.dtype)
    variance = centered.double().square().sum(dim=1, keepdim=True) / count
    return centered * (1.0 / (variance + NORMALIZATION_EPS).sqrt()).to(waveforms.dtype)


def whisper_log_mel(waveforms: torch.Tensor, extractor: Any) -> torch.Tensor:
    """Whisper's log-mel spectrogram of (batch, time) waveforms on their device.

    The definition Whisper's feature extractor computes (Radford et al. 2022): power STFT
    (Hann window `n_fft`, hop `hop_length`, centered), the extractor's mel filter bank,
    ``log10`` floored at 1e-10, each clip's dynamic range limited to 8 (log10 units) below
    its maximum, then ``(x + 4) / 4``. Returns (batch, mel_bins, time // hop_length) float32.
    """
    import torch

    window = torch.hann_window(extractor.n_fft, device=waveforms.device)
    stft = torch.stft(
        waveforms.float(), extractor.n_fft, extractor.hop_length, window=window, return_complex=True
    )
    power = (stft[..., :-1].abs() ** 2).contiguous()
    filters = torch.as_tensor(extractor.mel_filters, dtype=torch.float32, device=waveforms.device)
    log_spec = torch.clamp(filters.T @ power, min=1e-10).log10()
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    return (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0
