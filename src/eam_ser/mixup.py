r"""Energy-Adaptive Mixup (EAM): mix a segment of a partner utterance in at a drawn SNR.

For an utterance :math:`x_i` (label :math:`y_i`) EAM picks a partner :math:`x_j` (label
:math:`y_j`), a mix length :math:`l` in samples (uniform in ``[min_length_samples,
floor(max_mix_fraction * min(len(x_i), len(x_j)))]``), a start offset in each clip, and a
segment SNR :math:`s` uniform in ``[min_snr_db, max_snr_db]`` dB. With :math:`P'_i, P'_j` the
mean-square energies of the two *segments* it adds

.. math:: x_i[a:a+l] \mathrel{+}= \sqrt{P'_i / (10^{s/10} P'_j)}\; x_j[b:b+l]

so that the SNR of the segment, :math:`10 \log_{10}(P'_i / P_{added})`, is exactly :math:`s`.
The mixed sample gets the soft label :math:`(1 - w)\,\mathrm{onehot}(y_i) + w\,\mathrm{onehot}(y_j)`
with the partner weight chosen by ``label_mode``:

- ``"energy"`` (default): :math:`w = \frac{l}{len(x_i)} \cdot \frac{1}{1 + 10^{s/10}}`, the
  partner's share of the clip's length times its share of the segment's energy;
- ``"length"``: :math:`w = l / len(x_i)` (length share only, as in Label-Adaptive Mixup);
- ``"hard"``: :math:`w = 0`, the first utterance keeps its label (as in the precursor EAM).

Hard labels of a mixed sample are always :math:`y_i`. With ``max_mix_fraction <= 0.5``,
:math:`l \le len(x_i)/2` so :math:`w \le 0.5` and :math:`y_i` is also the argmax of the soft
label (strictly below 0.5 in ``"energy"`` mode; ``"length"`` mode can tie at exactly 0.5).

Policies (the same in every shape below):

- *Too short*: a pair whose allowed mix length is below ``min_length_samples`` is not mixed.
- *Silence*: if either segment's mean-square energy is below ``silence_threshold`` (1e-10,
  i.e. -100 dB re full scale) the scale would be 0/0 or inf, so that sample is not mixed and
  keeps its one-hot label; the returned ``applied`` mask records it.
- *Clipping*: if the mix lifts a sample of the segment above 1.0 in magnitude, the whole clip
  is divided by the segment's peak (gain only: the segment SNR and the soft label stay the
  same). Audio that was already above full scale outside the segment is left as it is.
- *Partner equal to the sample*: the formula holds as it is (a segment mixed with itself at
  SNR s is scaled by ``1 + 10^(-s/20)``).

Layout (as ``timm.data.mixup``): a pure functional core (:func:`draw_partner_index`,
:func:`draw_mix_parameters`, :func:`energy_adaptive_mix` for numpy and torch,
:func:`partner_label_weight`, :func:`mix_soft_labels`) and three thin shapes that share it,
so the same drawn :class:`MixParameters` give the same waveform and soft label in each:

- :class:`EnergyAdaptiveMixup`: an audiomentations transform drawing partners from a pool;
- :class:`EnergyAdaptiveMixupCollator`: a Trainer / DataLoader collator mixing within a batch;
- :class:`EnergyAdaptiveMixupMap`: a ``datasets.map(batched=True)`` function for offline
  augmentation.

Every random choice goes through an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile
import torch
from audiomentations.core.transforms_interface import BaseWaveformTransform
from numpy.lib.stride_tricks import sliding_window_view

from eam_ser import mix_kernel
from eam_ser.audio import DEFAULT_SAMPLING_RATE, load_audio, random_crop
from eam_ser.collator import AudioCollator, is_log_mel_extractor, mel_frame_mask, parse_label
from eam_ser.mixup_settings import EAM_DEFAULTS, LABEL_MODES, EnergyAdaptiveMixupSettings

__all__ = [
    "EAM_DEFAULTS",
    "LABEL_MODES",
    "SILENCE_THRESHOLD",
    "EnergyAdaptiveMixup",
    "EnergyAdaptiveMixupCollator",
    "EnergyAdaptiveMixupMap",
    "EnergyAdaptiveMixupSettings",
    "MixParameters",
    "draw_mix_parameters",
    "draw_partner_index",
    "energy_adaptive_mix",
    "mix_soft_labels",
    "mix_tensors",
    "normalize_tensors",
    "one_hot",
    "partner_label_weight",
    "process_stream_key",
    "snr_scale",
    "stream_generator",
    "whisper_log_mel",
]

MIX_IMPLEMENTATIONS = ("auto", "compiled", "numpy", "torch")
SILENCE_THRESHOLD = 1e-10
"""Mean-square energy (full scale = 1.0) below which a segment counts as silent (-100 dB)."""


# --------------------------------------------------------------------------------------------
# Functional core
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixParameters:
    """The random choices of one EAM draw, one entry per sample; all arrays have shape (batch,).

    Attributes:
        partner_index: int64, row of the partner in the partner waveforms (the batch itself for
            the collator and the map, the pool for the transform).
        mix_length: int64, mix length ``l`` in samples; 0 means the sample is not mixed.
        start: int64, first mixed sample in ``x_i``.
        partner_start: int64, first sample of the segment taken from the partner ``x_j``.
        snr_db: float64, segment SNR ``s`` in dB.
    """

    partner_index: np.ndarray
    mix_length: np.ndarray
    start: np.ndarray
    partner_start: np.ndarray
    snr_db: np.ndarray

    def __getitem__(self, rows: Any) -> MixParameters:
        """The parameters of a subset of the samples (``rows`` as in numpy indexing)."""
        return MixParameters(
            partner_index=np.atleast_1d(self.partner_index[rows]),
            mix_length=np.atleast_1d(self.mix_length[rows]),
            start=np.atleast_1d(self.start[rows]),
            partner_start=np.atleast_1d(self.partner_start[rows]),
            snr_db=np.atleast_1d(self.snr_db[rows]),
        )


def one_hot(labels: Any, num_labels: int) -> np.ndarray:
    """One-hot float32 targets of shape (batch, num_labels) for int labels of shape (batch,)."""
    labels = np.asarray(labels, dtype=np.int64)
    targets = np.zeros((labels.shape[0], num_labels), dtype=np.float32)
    targets[np.arange(labels.shape[0]), labels] = 1.0
    return targets


def draw_partner_index(batch_size: int, generator: np.random.Generator) -> np.ndarray:
    """A random partner for each sample of a batch, never the sample itself when batch > 1.

    The samples are put in a random order and each is paired with the next one in that order
    (a random cyclic derangement), so every sample is also some other sample's partner once.

    Returns:
        int64 array of shape (batch_size,); ``[0]`` for a batch of one.
    """
    order = generator.permutation(batch_size)
    partner_index = np.empty(batch_size, dtype=np.int64)
    partner_index[order] = np.roll(order, -1)
    return partner_index


def draw_mix_parameters(
    lengths: Any,
    partner_lengths: Any,
    partner_index: Any,
    generator: np.random.Generator,
    *,
    p: float = EAM_DEFAULTS.p,
    min_snr_db: float = EAM_DEFAULTS.min_snr_db,
    max_snr_db: float = EAM_DEFAULTS.max_snr_db,
    max_mix_fraction: float = EAM_DEFAULTS.max_mix_fraction,
    min_length_samples: int = EAM_DEFAULTS.min_length_samples,
) -> MixParameters:
    """Draw mix length, start offsets and SNR for each sample, vectorized over the batch.

    Args:
        lengths: lengths of the clips ``x_i`` in samples, shape (batch,).
        partner_lengths: lengths of their partners ``x_j`` in samples, shape (batch,).
        partner_index: partner row of each sample, shape (batch,), kept as is.
        generator: the source of every random choice. Exactly ``5 * batch`` uniforms are drawn
            whatever the outcome, so the generator's state after the call depends only on the
            batch size.
        p: probability that a sample is mixed.
        min_snr_db, max_snr_db: range of the segment SNR ``s`` in dB.
        max_mix_fraction: longest mix length as a fraction of the shorter clip of the pair.
        min_length_samples: shortest mix length in samples; shorter pairs are not mixed.

    Returns:
        :class:`MixParameters`; ``mix_length`` is 0 (and the offsets 0) for unmixed samples.
    """
    EnergyAdaptiveMixupSettings(
        p=p,
        min_snr_db=min_snr_db,
        max_snr_db=max_snr_db,
        max_mix_fraction=max_mix_fraction,
        min_length_samples=min_length_samples,
    )
    lengths = np.asarray(lengths, dtype=np.int64)
    partner_lengths = np.asarray(partner_lengths, dtype=np.int64)
    uniforms = generator.random((5, lengths.shape[0]))
    longest = np.floor(max_mix_fraction * np.minimum(lengths, partner_lengths)).astype(np.int64)
    mixed = (uniforms[0] < p) & (longest >= min_length_samples)
    span = np.maximum(longest - min_length_samples + 1, 1)
    mix_length = np.where(mixed, min_length_samples + (uniforms[1] * span).astype(np.int64), 0)
    start = (uniforms[2] * (lengths - mix_length + 1)).astype(np.int64)
    partner_start = (uniforms[3] * (partner_lengths - mix_length + 1)).astype(np.int64)
    return MixParameters(
        partner_index=np.asarray(partner_index, dtype=np.int64),
        mix_length=mix_length,
        start=np.where(mixed, start, 0),
        partner_start=np.where(mixed, partner_start, 0),
        snr_db=min_snr_db + uniforms[4] * (max_snr_db - min_snr_db),
    )


def partner_label_weight(
    mix_length: Any, lengths: Any, snr_db: Any, label_mode: str = "energy"
) -> np.ndarray | torch.Tensor:
    """Weight ``w`` of the partner's label in the soft label, shape (batch,), float64.

    ``"energy"``: ``w = (l / len(x_i)) / (1 + 10^(s/10))``; ``"length"``: ``w = l / len(x_i)``;
    ``"hard"``: ``w = 0``. ``mix_length`` (``l``) and ``lengths`` (``len(x_i)``) in samples,
    ``snr_db`` (``s``) in dB; ``l = 0`` gives ``w = 0``. Torch tensors in give a tensor out
    on their device.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
    if isinstance(mix_length, torch.Tensor):
        length_share = mix_length.double() / lengths.double()
        snr_db = snr_db.double()
    else:
        length_share = np.asarray(mix_length, np.float64) / np.asarray(lengths, np.float64)
        snr_db = np.asarray(snr_db, dtype=np.float64)
    if label_mode == "hard":
        return length_share * 0.0
    if label_mode == "length":
        return length_share
    return length_share / (1.0 + 10.0 ** (snr_db / 10.0))


def mix_soft_labels(
    labels: Any, partner_labels: Any, partner_weight: Any, num_labels: int
) -> np.ndarray | torch.Tensor:
    """Soft labels ``(1 - w) * onehot(y_i) + w * onehot(y_j)``, float32 (batch, num_labels).
    Torch tensors in give a tensor out on their device."""
    if isinstance(partner_weight, torch.Tensor):
        weight = partner_weight.double()[:, None]
        own = torch.nn.functional.one_hot(labels, num_labels).double()
        partner = torch.nn.functional.one_hot(partner_labels, num_labels).double()
        return ((1.0 - weight) * own + weight * partner).float()
    weight = np.asarray(partner_weight, dtype=np.float64)[:, None]
    soft = (1.0 - weight) * one_hot(labels, num_labels) + weight * one_hot(
        partner_labels, num_labels
    )
    return soft.astype(np.float32)


def energy_adaptive_mix(
    waveforms: np.ndarray | torch.Tensor,
    parameters: MixParameters,
    partner_waveforms: np.ndarray | torch.Tensor | None = None,
    *,
    silence_threshold: float = SILENCE_THRESHOLD,
    inplace: bool = False,
    implementation: str = "auto",
) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
    """Mix each sample's partner segment in at the drawn SNR (vectorized, numpy or torch).

    Args:
        waveforms: padded clips ``x_i``, shape (batch, time), float32, numpy or torch.
        parameters: the draw, see :class:`MixParameters` and :func:`draw_mix_parameters`.
        partner_waveforms: padded partner clips, shape (num_partners, partner_time), indexed
            by ``parameters.partner_index``; ``None`` means the batch itself (the partners are
            read before anything is written, so every partner is unmixed).
        silence_threshold: segments with mean-square energy below this are not mixed.
        inplace: write into `waveforms` (numpy only).
        implementation: ``"compiled"`` (the numba kernel of `eam_ser.mix_kernel`, for numpy
            arrays and CPU float32 tensors), ``"numpy"`` (whole-batch array operations, the
            fallback), ``"torch"`` (gather / scatter on the tensor's device) or ``"auto"`` (the
            kernel when numba is installed and the input is on the CPU, else numpy for arrays
            and torch for tensors). All give the same mix within float rounding.

    Returns:
        ``(mixed, applied)``: the mixed clips (same kind, shape and dtype as `waveforms`) and a
        bool array (batch,) that is False for samples left as they were (``mix_length`` 0 or a
        silent segment). Samples outside each segment keep their exact values, unless the
        clipping policy (module docstring) rescaled the clip.
    """
    if implementation not in MIX_IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {MIX_IMPLEMENTATIONS}, got {implementation!r}"
        )
    if isinstance(waveforms, torch.Tensor):
        if inplace:
            raise ValueError("inplace=True is only supported for numpy waveforms")
        # Tensors that carry gradients stay on the torch path, which keeps the graph.
        on_cpu = (
            waveforms.device.type == "cpu"
            and waveforms.dtype == torch.float32
            and not waveforms.requires_grad
        )
        partners_on_cpu = partner_waveforms is None or (
            partner_waveforms.device.type == "cpu" and partner_waveforms.dtype == torch.float32
        )
        compiled = implementation == "compiled" or (
            implementation == "auto" and mix_kernel.AVAILABLE and on_cpu and partners_on_cpu
        )
        if compiled or implementation == "numpy":
            # CPU tensors share memory with numpy views: the array paths run on them directly.
            mixed, applied = energy_adaptive_mix(
                waveforms.detach().numpy(),
                parameters,
                None if partner_waveforms is None else partner_waveforms.detach().numpy(),
                silence_threshold=silence_threshold,
                implementation="compiled" if compiled else "numpy",
            )
            return torch.from_numpy(mixed), applied
        return _mix_torch(waveforms, parameters, partner_waveforms, silence_threshold)
    if implementation == "torch":
        raise ValueError("implementation='torch' needs torch tensors")
    if implementation == "compiled" or (implementation == "auto" and mix_kernel.AVAILABLE):
        return _mix_compiled(waveforms, parameters, partner_waveforms, silence_threshold, inplace)
    return _mix_numpy(waveforms, parameters, partner_waveforms, silence_threshold, inplace)


def _mix_compiled(
    waveforms: np.ndarray,
    parameters: MixParameters,
    partner_waveforms: np.ndarray | None,
    silence_threshold: float,
    inplace: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """`energy_adaptive_mix` through the numba kernel (`eam_ser.mix_kernel.mix_rows`)."""
    if not mix_kernel.AVAILABLE:
        raise ValueError("implementation='compiled' needs numba (pip install numba)")
    if inplace and not (waveforms.dtype == np.float32 and waveforms.flags.c_contiguous):
        raise ValueError("inplace=True needs a C-contiguous float32 array")
    # In place, `source` is `waveforms` itself (no conversion is needed).
    source = np.ascontiguousarray(waveforms, dtype=np.float32)
    out = source if inplace else source.copy()
    # Not in place, the untouched input is the partner source: no segment needs saving.
    partners = (
        source if partner_waveforms is None else np.ascontiguousarray(partner_waveforms, np.float32)
    )
    mix_length = np.asarray(parameters.mix_length, np.int64)
    start = np.asarray(parameters.start, np.int64)
    partner_start = np.asarray(parameters.partner_start, np.int64)
    partner_index = np.asarray(parameters.partner_index, np.int64)
    mixed = mix_length > 0
    if mixed.any() and (
        (start[mixed] < 0).any()
        or (start + mix_length)[mixed].max() > out.shape[1]
        or (partner_start[mixed] < 0).any()
        or (partner_start + mix_length)[mixed].max() > partners.shape[1]
        or (partner_index[mixed] < 0).any()
        or partner_index[mixed].max() >= partners.shape[0]
    ):
        raise ValueError(
            "parameters: a segment lies outside its clip (start + mix_length beyond the "
            "array, or a partner_index outside the partners)"
        )
    applied = mix_kernel.mix_rows(
        out,
        partners,
        partner_index,
        mix_length,
        start,
        partner_start,
        np.asarray(parameters.snr_db, np.float64),
        silence_threshold,
    )
    return out, applied


def snr_scale(own_energy: Any, partner_energy: Any, snr_db: Any) -> np.ndarray:
    """Gain that puts an added signal of mean-square energy `partner_energy` at `snr_db` dB
    below a signal of energy `own_energy`: ``sqrt(P_i / (10^(snr/10) P_j))`` (numpy,
    broadcasting; float64)."""
    return np.sqrt(
        np.asarray(own_energy, np.float64)
        / (10.0 ** (np.asarray(snr_db, np.float64) / 10.0) * partner_energy)
    )


def _scale_and_applied(
    own_energy: np.ndarray,
    partner_energy: np.ndarray,
    parameters: MixParameters,
    silence_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Partner gain ``sqrt(P'_i / (10^(s/10) P'_j))`` (batch,) and the applied mask (batch,)."""
    applied = (
        (parameters.mix_length > 0)
        & (own_energy >= silence_threshold)
        & (partner_energy >= silence_threshold)
    )
    scale = snr_scale(own_energy, np.maximum(partner_energy, silence_threshold), parameters.snr_db)
    return np.where(applied, scale, 0.0), applied


def _mix_numpy(
    waveforms: np.ndarray,
    parameters: MixParameters,
    partner_waveforms: np.ndarray | None,
    silence_threshold: float,
    inplace: bool,
) -> tuple[np.ndarray, np.ndarray]:
    mix_length = parameters.mix_length
    window = int(mix_length.max(initial=0))
    if window == 0:
        return (waveforms if inplace else waveforms.copy()), np.zeros(mix_length.shape[0], bool)
    time = waveforms.shape[1]
    # The segments are read and written through length-`window` sliding windows (one strided
    # block copy per row instead of an element-wise gather), which needs `window` samples of
    # headroom after the last possible start.
    own_headroom = int((parameters.start + window).max()) - time
    buffer = waveforms if inplace and own_headroom <= 0 else waveforms.copy()
    if own_headroom > 0:
        buffer = np.pad(buffer, ((0, 0), (0, own_headroom)))
    partners = buffer if partner_waveforms is None else np.asarray(partner_waveforms, np.float32)
    partner_headroom = int((parameters.partner_start + window).max()) - partners.shape[1]
    if partner_headroom > 0:
        partners = np.pad(partners, ((0, 0), (0, partner_headroom)))

    rows = np.arange(mix_length.shape[0])
    segment_mask = np.arange(window) < mix_length[:, None]
    own_windows = sliding_window_view(buffer, window, axis=1, writeable=True)
    own = own_windows[rows, parameters.start]
    partner = sliding_window_view(partners, window, axis=1)[
        parameters.partner_index, parameters.partner_start
    ]
    partner = np.where(segment_mask, partner, np.float32(0.0))
    safe_length = np.maximum(mix_length, 1)
    own_masked = np.where(segment_mask, own, np.float32(0.0))
    own_energy = np.einsum("ij,ij->i", own_masked, own_masked, dtype=np.float64) / safe_length
    partner_energy = np.einsum("ij,ij->i", partner, partner, dtype=np.float64) / safe_length
    scale, applied = _scale_and_applied(own_energy, partner_energy, parameters, silence_threshold)

    mixed_rows = np.flatnonzero(applied)
    mixed = own[mixed_rows] + scale[mixed_rows, None].astype(np.float32) * partner[mixed_rows]
    own_windows[mixed_rows, parameters.start[mixed_rows]] = mixed
    peak = np.abs(np.where(segment_mask[mixed_rows], mixed, np.float32(0.0))).max(
        axis=1, initial=0.0
    )
    over = peak > 1.0
    if over.any():
        clipped_rows = mixed_rows[over]
        buffer[clipped_rows] /= peak[over, None]

    if own_headroom > 0:
        buffer = buffer[:, :time]
        if inplace:
            waveforms[...] = buffer
            buffer = waveforms
    return buffer, applied


def _mix_torch(
    waveforms: torch.Tensor,
    parameters: MixParameters,
    partner_waveforms: torch.Tensor | None,
    silence_threshold: float,
) -> tuple[torch.Tensor, np.ndarray]:
    device = waveforms.device
    mixed, applied = mix_tensors(
        waveforms,
        *(
            torch.as_tensor(value, device=device)
            for value in (
                parameters.partner_index,
                parameters.mix_length,
                parameters.start,
                parameters.partner_start,
                parameters.snr_db,
            )
        ),
        partner_waveforms=partner_waveforms,
        silence_threshold=silence_threshold,
    )
    return mixed, applied.cpu().numpy()


def mix_tensors(
    waveforms: torch.Tensor,
    partner_index: torch.Tensor,
    mix_length: torch.Tensor,
    start: torch.Tensor,
    partner_start: torch.Tensor,
    snr_db: torch.Tensor,
    *,
    partner_waveforms: torch.Tensor | None = None,
    silence_threshold: float = SILENCE_THRESHOLD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`energy_adaptive_mix` on tensors of any device, with no host synchronisation.

    Args:
        waveforms: (batch, time) float clips.
        partner_index, mix_length, start, partner_start: (batch,) int64 (see `MixParameters`).
        snr_db: (batch,) float segment SNRs in dB.
        partner_waveforms: (num_partners, partner_time); None = the batch itself (unmixed).
        silence_threshold: mean-square energy below which a segment counts as silent.

    Returns:
        (mixed clips (batch, time), applied (batch,) bool tensor).
    """
    device = waveforms.device
    partners = waveforms if partner_waveforms is None else partner_waveforms
    # A window as long as the clip covers every segment without reading the lengths back.
    window = min(waveforms.shape[1], partners.shape[1])
    offsets = torch.arange(window, device=device)
    segment_mask = offsets < mix_length[:, None]
    own_index = (start[:, None] + offsets).clamp_max(waveforms.shape[1] - 1)
    partner_samples = (partner_start[:, None] + offsets).clamp_max(partners.shape[1] - 1)
    own = torch.where(segment_mask, waveforms.gather(1, own_index), 0.0)
    partner = torch.where(segment_mask, partners[partner_index[:, None], partner_samples], 0.0)
    safe_length = mix_length.clamp_min(1).to(torch.float64)
    own_energy = own.double().square().sum(dim=1) / safe_length
    partner_energy = partner.double().square().sum(dim=1) / safe_length
    applied = (
        (mix_length > 0) & (own_energy >= silence_threshold) & (partner_energy >= silence_threshold)
    )
    ratio = own_energy / (
        10.0 ** (snr_db.double() / 10.0) * partner_energy.clamp_min(silence_threshold)
    )
    scale = torch.where(applied, ratio.sqrt(), 0.0).to(torch.float32).to(waveforms.dtype)
    # scatter_add of zeros outside the segment leaves those samples bit-exact, and the
    # clamped duplicate indices only ever add zeros.
    added = torch.where(segment_mask, scale[:, None] * partner, 0.0)
    mixed = waveforms.clone().scatter_add_(1, own_index, added)
    peak = torch.where(segment_mask, (own + added).abs(), 0.0).amax(dim=1)
    # Only a mix that lifts its segment above full scale is rescaled (clipping policy).
    rescale = applied & (peak > 1.0)
    mixed = torch.where(rescale[:, None], mixed / peak.clamp_min(1.0)[:, None], mixed)
    return mixed, applied


# --------------------------------------------------------------------------------------------
# Shared batch logic of the collator and the map function
# --------------------------------------------------------------------------------------------


class _BatchMixer:
    """Settings, label parsing and the pad-then-mix step shared by the collator and the map."""

    def __init__(
        self,
        num_labels: int,
        *,
        p: float,
        min_snr_db: float,
        max_snr_db: float,
        max_mix_fraction: float,
        label_mode: str,
        sampling_rate: int,
        audio_column: str,
        label_column: str,
        label2id: Mapping[str, int] | None,
        min_length_samples: int,
    ) -> None:
        if int(num_labels) != num_labels or num_labels < 1:
            raise ValueError(f"num_labels must be an integer >= 1, got {num_labels}")
        EnergyAdaptiveMixupSettings(
            p=p,
            min_snr_db=min_snr_db,
            max_snr_db=max_snr_db,
            max_mix_fraction=max_mix_fraction,
            min_length_samples=min_length_samples,
            label_mode=label_mode,
        )
        self.num_labels = int(num_labels)
        self.p = float(p)
        self.min_snr_db = float(min_snr_db)
        self.max_snr_db = float(max_snr_db)
        self.max_mix_fraction = float(max_mix_fraction)
        self.label_mode = label_mode
        self.sampling_rate = int(sampling_rate)
        self.audio_column = audio_column
        self.label_column = label_column
        self.label2id = dict(label2id) if label2id is not None else None
        self.min_length_samples = int(min_length_samples)

    def _label_index(self, value: Any, where: str) -> int:
        return parse_label(value, where, self.num_labels, self.label2id)

    def _pad_and_mix(
        self,
        waveforms: Sequence[np.ndarray],
        labels: np.ndarray,
        generator: np.random.Generator,
        p: float,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, MixParameters, np.ndarray]:
        """Pad to (batch, longest + headroom), draw within-batch partners and mix in place.

        Returns ``(buffer, lengths, soft_labels, parameters, applied)``; the clips are
        ``buffer[i, :lengths[i]]`` and ``buffer[:, lengths.max():]`` is zero headroom.
        """
        buffer, lengths, parameters = self._pad_and_draw(waveforms, generator, p)
        _, applied = energy_adaptive_mix(buffer, parameters, inplace=True)
        weight = np.where(
            applied,
            partner_label_weight(
                parameters.mix_length, lengths, parameters.snr_db, self.label_mode
            ),
            0.0,
        )
        partner_labels = labels[parameters.partner_index]
        soft_labels = mix_soft_labels(labels, partner_labels, weight, self.num_labels)
        return buffer, lengths, soft_labels, parameters, applied

    def _pad_and_draw(
        self, waveforms: Sequence[np.ndarray], generator: np.random.Generator, p: float
    ) -> tuple[np.ndarray, np.ndarray, MixParameters]:
        """Pad to (batch, longest [+ headroom for the numpy path]) and draw within-batch
        partners and mix parameters: ``(buffer, lengths, parameters)``."""
        lengths = np.fromiter((w.shape[0] for w in waveforms), dtype=np.int64, count=len(waveforms))
        batch = lengths.shape[0]
        partner_index = draw_partner_index(batch, generator)
        parameters = draw_mix_parameters(
            lengths,
            lengths[partner_index],
            partner_index,
            generator,
            # A sample is never its own partner in a batch: a batch of one is not mixed.
            p=p if batch > 1 else 0.0,
            min_snr_db=self.min_snr_db,
            max_snr_db=self.max_snr_db,
            max_mix_fraction=self.max_mix_fraction,
            min_length_samples=self.min_length_samples,
        )
        # The numpy path reads segments through sliding windows, which need headroom.
        headroom = 0 if mix_kernel.AVAILABLE else int(parameters.mix_length.max())
        buffer = np.zeros((batch, int(lengths.max()) + headroom), np.float32)
        for row, waveform in enumerate(waveforms):
            buffer[row, : waveform.shape[0]] = waveform
        return buffer, lengths, parameters


def _seed_entropy(seed: int | None) -> int:
    return int(np.random.SeedSequence().entropy if seed is None else seed)


def process_stream_key() -> tuple[int, int]:
    """``(rank, worker)`` of the calling process: the rank from ``torch.distributed`` once it is
    initialised, else the ``RANK`` environment variable that ``torchrun`` and ``accelerate
    launch`` set, else 0; the worker is 0 in the main process and ``id + 1`` inside a
    DataLoader worker."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank = torch.distributed.get_rank()
    else:
        rank = int(os.environ.get("RANK", "0"))
    worker = torch.utils.data.get_worker_info()
    return rank, 0 if worker is None else worker.id + 1


def stream_generator(seed: int, key: tuple[int, int]) -> np.random.Generator:
    """The generator of process ``key = (rank, worker)`` for one user `seed`.

    The rule: ``default_rng(seed)`` for the main process of rank 0 (so one process without
    workers draws exactly what ``seed`` alone gives) and ``default_rng([seed, rank, worker])``
    for every other process, so ranks and workers draw distinct, repeatable streams.
    """
    return np.random.default_rng(seed if key == (0, 0) else [seed, *key])


class _ProcessStreams:
    """A seed and the generator of the process using it (see :func:`stream_generator`).

    A copy that lands in another process (a DataLoader worker, another rank) re-seeds once,
    on its first draw there.
    """

    def _init_streams(self, seed: int | None) -> None:
        self.seed = _seed_entropy(seed)
        self._stream_key = process_stream_key()
        self.generator = stream_generator(self.seed, self._stream_key)

    def _active_generator(self) -> np.random.Generator:
        key = process_stream_key()
        if key != self._stream_key:
            self._stream_key = key
            self.generator = stream_generator(self.seed, key)
        return self.generator


# --------------------------------------------------------------------------------------------
# Collator
# --------------------------------------------------------------------------------------------


class EnergyAdaptiveMixupCollator(AudioCollator, _BatchMixer, _ProcessStreams):
    """Trainer / DataLoader collator: `eam_ser.collator.AudioCollator` plus the EAM mixing step
    (load, crop, mix within the batch, then pad and normalize or featurize).

    Each feature is a dict with the audio under `audio_column` (anything :func:`load_audio`
    accepts: array, list of floats, path, bytes, datasets audio value) or, if that key is
    missing, an already-loaded waveform under ``input_values``; and an int (or, with
    `label2id`, str) label under `label_column` (or ``labels``).

    In training mode each sample is mixed with probability `p` with a partner from the same
    batch (a random cyclic derangement, so never itself; a batch of one is never mixed). The
    mixing is vectorized over the batch on the padded (batch, time) array.

    Returns a dict of torch tensors:

    - ``input_values`` (batch, time) float32: the (mixed) waveforms padded with zeros, and with
      ``normalize=True`` zero-mean unit-variance over each clip's real samples, as
      ``Wav2Vec2FeatureExtractor(do_normalize=True)`` (eps 1e-7; padding stays 0). If a
      `feature_extractor` is given, the waveforms are mixed first and then passed to it with
      ``padding="longest"``; its main input is returned instead, e.g. ``input_features``
      (batch, 80, frames) for a ``WhisperFeatureExtractor``, computed only up to the longest
      clip of the batch (not 30 s), and `normalize` is left to the extractor.
    - ``attention_mask`` (batch, time) int64: 1 for real samples (or real mel frames).
    - ``labels`` (batch,) int64: the hard label ``y_i`` of the first utterance (see the module
      docstring: it is the argmax of the soft label when ``max_mix_fraction <= 0.5``).
    - ``soft_targets`` (batch, num_labels) float32, the soft labels: one-hot for unmixed samples, else
      ``(1 - w) onehot(y_i) + w onehot(y_j)``.

    Mode: ``training`` (default True), ``train()`` / ``eval()`` (return self) and
    ``as_eval()`` (a copy that never mixes). In eval mode or with ``p=0`` this is a plain
    padding collator. After each call, ``last_parameters`` and ``last_applied`` hold the draw
    and which samples were really mixed (False for silent or too-short ones).

    Reproducibility: every process rank and DataLoader worker draws its own repeatable stream
    of the one `seed` (:func:`stream_generator`: ``default_rng(seed)`` in the main process of
    rank 0, ``default_rng([seed, rank, worker id + 1])`` elsewhere), so two GPUs or two workers
    never draw the same mixes. :meth:`state_dict` / :meth:`load_state_dict` save and restore the
    generator, so a run resumed from a checkpoint draws the same mixes as the uninterrupted
    one (``MultiLossTrainer`` does this with every checkpoint; exact only with
    ``dataloader_num_workers=0``, since workers draw from their own re-seeded copies).
    Copies made by :meth:`as_eval` get their own generator, so evaluating never moves the
    training stream.

    Args:
        num_labels: number of classes (width of ``soft_targets``).
        feature_extractor: optional transformers feature extractor to call after mixing.
        p: probability of mixing each sample in training mode.
        min_snr_db, max_snr_db: segment SNR range in dB.
        max_mix_fraction: longest mix as a fraction of the shorter clip of a pair, in (0, 1].
        label_mode: ``"energy"``, ``"length"`` or ``"hard"`` (see module docstring).
        sampling_rate: rate in Hz everything is loaded / resampled to.
        normalize: zero-mean unit-variance per clip (ignored when `feature_extractor` is set).
        audio_column, label_column: keys of the audio and the label in each feature.
        label2id: mapping for str labels.
        seed: seed of the generator (None: fresh entropy).
        min_length_samples: shortest mix in samples (default 1600 = 0.1 s at 16 kHz).
        mix_on_device: in training mode, only pad and draw here; the batch then holds the raw
            padded ``input_values``, the sample ``attention_mask``, ``labels`` and the draw
            (``mix_partner_index``, ``mix_length``, ``mix_start``, ``mix_partner_start``,
            ``mix_snr_db``), and :meth:`complete_on_device` mixes, builds ``soft_targets`` and
            normalizes or computes the log-mel features on the tensors' device (a GPU) inside
            the training step; `MultiLossTrainer` calls it. The same draw gives the same batch
            as mixing here, within float rounding.
        max_train_seconds: in training mode, cut clips longer than this to a random window
            of this length (from the collator's generator) before mixing; None keeps whole
            clips. Evaluation batches are never cut.
    """

    def __init__(
        self,
        num_labels: int,
        *,
        feature_extractor: Any = None,
        p: float = EAM_DEFAULTS.p,
        min_snr_db: float = EAM_DEFAULTS.min_snr_db,
        max_snr_db: float = EAM_DEFAULTS.max_snr_db,
        max_mix_fraction: float = EAM_DEFAULTS.max_mix_fraction,
        label_mode: str = EAM_DEFAULTS.label_mode,
        sampling_rate: int = DEFAULT_SAMPLING_RATE,
        normalize: bool = True,
        audio_column: str = "audio",
        label_column: str = "label",
        label2id: Mapping[str, int] | None = None,
        seed: int | None = None,
        min_length_samples: int = EAM_DEFAULTS.min_length_samples,
        mix_on_device: bool = False,
        max_train_seconds: float | None = None,
    ) -> None:
        AudioCollator.__init__(
            self,
            feature_extractor,
            sampling_rate=sampling_rate,
            normalize=normalize,
            audio_column=audio_column,
            label_column=label_column,
            label2id=label2id,
            num_labels=num_labels,
        )
        _BatchMixer.__init__(
            self,
            num_labels,
            p=p,
            min_snr_db=min_snr_db,
            max_snr_db=max_snr_db,
            max_mix_fraction=max_mix_fraction,
            label_mode=label_mode,
            sampling_rate=sampling_rate,
            audio_column=audio_column,
            label_column=label_column,
            label2id=label2id,
            min_length_samples=min_length_samples,
        )
        if mix_on_device and not (
            feature_extractor is None
            or is_log_mel_extractor(feature_extractor)
            or feature_extractor.model_input_names[0] == "input_values"
        ):
            raise ValueError(
                f"mix_on_device supports waveform input (optionally normalized) and Whisper-style "
                f"log-mel features, not a {type(feature_extractor).__name__}"
            )
        self.mix_on_device = bool(mix_on_device)
        if max_train_seconds is not None and not max_train_seconds > 0:
            raise ValueError(f"max_train_seconds must be > 0 (or None), got {max_train_seconds}")
        self.max_train_samples = (
            None if max_train_seconds is None else round(max_train_seconds * sampling_rate)
        )
        self._init_streams(seed)
        self.training = True
        self.last_parameters: MixParameters | None = None
        self.last_applied: np.ndarray | None = None

    @classmethod
    def for_model(
        cls, model: Any, *, feature_extractor: Any = None, **settings: Any
    ) -> EnergyAdaptiveMixupCollator:
        """The collator a FLAM model takes: its classes, label names and encoder input.

        Args:
            model: a `FlamForSequenceClassification` (or another model with ``config.label2id``
                and an encoder config), or the folder / Hub id of a saved one.
            feature_extractor: the encoder's feature extractor; None takes the one saved in the
                model's folder or, for a model object, in its encoder's checkpoint
                (``config.encoder_config._name_or_path``, e.g. ``"openai/whisper-base"``). A
                wav2vec-style encoder built from a config alone gets none (the collator
                normalizes each clip itself); a Whisper one must be given one.
            **settings: any other argument of the constructor (``p``, ``seed``, ...).

        Raises:
            ValueError: naming the fix, when a Whisper model's log-mel extractor cannot be
                found.
        """
        from transformers import AutoConfig, AutoFeatureExtractor

        named = isinstance(model, (str, os.PathLike))
        config = AutoConfig.from_pretrained(model) if named else model.config
        encoder_config = getattr(config, "encoder_config", config)
        source = model if named else getattr(encoder_config, "_name_or_path", "") or None
        if feature_extractor is None and source is not None:
            try:
                feature_extractor = AutoFeatureExtractor.from_pretrained(source)
            except OSError:
                feature_extractor = None
        if feature_extractor is None and encoder_config.model_type == "whisper":
            raise ValueError(
                "EnergyAdaptiveMixupCollator.for_model: this model's whisper encoder takes "
                "log-mel input_features, and no feature extractor was found beside it; pass "
                "feature_extractor=WhisperFeatureExtractor.from_pretrained(<the encoder>)"
            )
        if feature_extractor is not None:
            feature_extractor.return_attention_mask = True
            settings.setdefault("sampling_rate", feature_extractor.sampling_rate)
        label2id = {str(name): int(index) for name, index in config.label2id.items()}
        return cls(
            len(label2id), feature_extractor=feature_extractor, label2id=label2id, **settings
        )

    def train(self, mode: bool = True) -> EnergyAdaptiveMixupCollator:
        """Switch mixing on (or off with ``mode=False``); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> EnergyAdaptiveMixupCollator:
        """Switch mixing off: a plain padding collator; returns self."""
        return self.train(False)

    def as_eval(self) -> EnergyAdaptiveMixupCollator:
        """A copy in eval mode (never mixes); this collator keeps its mode and its generator."""
        clone = copy.copy(self)
        clone.training = False
        # Eval batches still draw (unused) parameters; a generator of its own keeps them from
        # advancing the training stream, which a checkpoint must be able to reproduce.
        clone.generator = copy.deepcopy(self.generator)
        return clone

    def state_dict(self) -> dict[str, Any]:
        """The random state of the collator, JSON-serializable, for checkpoints.

        Returns:
            ``{"seed": int, "bit_generator": dict}``: the seed (from which DataLoader workers
            re-seed) and ``generator.bit_generator.state`` (arrays as lists), the state the next
            batch is drawn from. The settings (`p`, SNR range, ...) and the mode are not
            included: they come from the constructor.
        """
        return {
            "seed": self.seed,
            "bit_generator": _json_ready(self._active_generator().bit_generator.state),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: the next batch gets the mixes it would have had then.

        Raises:
            ValueError: when `state` lacks ``seed`` or ``bit_generator``, or was saved from
                another kind of bit generator than ``generator.bit_generator``.
        """
        missing = [key for key in ("seed", "bit_generator") if key not in state]
        if missing:
            raise ValueError(f"state: missing {missing}; expected the output of state_dict()")
        self.seed = int(state["seed"])
        bit_generator = self._active_generator().bit_generator
        saved_kind = state["bit_generator"].get("bit_generator")
        if saved_kind != type(bit_generator).__name__:
            raise ValueError(
                f"state: saved from a {saved_kind} bit generator, this collator has a "
                f"{type(bit_generator).__name__}"
            )
        bit_generator.state = state["bit_generator"]

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate a list of features into a batch; see the class docstring for the keys."""
        if self.mix_on_device and self.training:
            waveforms, labels = self._cropped_waveforms(features)
            return self._padded_draw(waveforms, labels, self.p)
        buffer, lengths, labels, soft_labels = self.mix_waveforms(features)
        batch = {
            "labels": torch.from_numpy(labels),
            "soft_targets": torch.from_numpy(soft_labels),
        }
        batch.update(self.collate_padded(buffer, lengths))
        return batch

    def mix_waveforms(
        self, features: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The waveform half of a call, before padding to model inputs: load, crop and mix.

        Draws exactly what a call draws (`last_parameters` and `last_applied` are set), so
        ``collate_padded(buffer, lengths)`` of the result is the call's batch.

        Returns:
            ``(buffer, lengths, labels, soft_labels)``: the (mixed) clips ``buffer[i,
            :lengths[i]]`` in a float32 (batch, >= longest) array, lengths (batch,) int64 in
            samples, hard labels (batch,) int64 and soft labels (batch, num_labels) float32.
        """
        waveforms, labels = self._cropped_waveforms(features)
        buffer, lengths, soft_labels, parameters, applied = self._pad_and_mix(
            waveforms, labels, self._active_generator(), self.p if self.training else 0.0
        )
        self.last_parameters, self.last_applied = parameters, applied
        return buffer, lengths, labels, soft_labels

    def _cropped_waveforms(
        self, features: Sequence[Mapping[str, Any]]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Loaded clips, cut to `max_train_seconds` in training mode, and their labels."""
        if len(features) == 0:
            raise ValueError("features: empty batch")
        waveforms = self.load_waveforms(features)
        labels = self.parse_labels(features, required=True)
        if self.training and self.max_train_samples is not None:
            generator = self._active_generator()
            waveforms = [random_crop(w, self.max_train_samples, generator) for w in waveforms]
        return waveforms, labels

    def _padded_draw(
        self, waveforms: Sequence[np.ndarray], labels: np.ndarray, p: float
    ) -> dict[str, torch.Tensor]:
        """The host half of `mix_on_device`: the padded clips and the draw, nothing mixed."""
        buffer, lengths, parameters = self._pad_and_draw(waveforms, self._active_generator(), p)
        self.last_parameters, self.last_applied = parameters, None
        time = int(lengths.max())
        batch = {
            "input_values": torch.from_numpy(np.ascontiguousarray(buffer[:, :time])),
            "attention_mask": torch.from_numpy(np.arange(time) < lengths[:, None]).long(),
            "labels": torch.from_numpy(labels),
        }
        for key, name in DEVICE_MIX_KEYS.items():
            batch[key] = torch.from_numpy(np.asarray(getattr(parameters, name)))
        return batch

    def complete_on_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The device half of `mix_on_device`: mix, soft targets and features on the batch's
        device. Batches without a draw (evaluation, `mix_on_device=False`) are returned as
        they are.

        Args:
            batch: the collator's output, moved to the model's device.

        Returns:
            the model inputs: ``input_values`` (normalized when `normalize`) or
            ``input_features`` (log-mel), ``attention_mask``, ``labels``, ``soft_targets``.
        """
        if "mix_length" not in batch:
            return dict(batch)
        batch = dict(batch)
        waveforms = batch.pop("input_values")
        draw = {name: batch.pop(key) for key, name in DEVICE_MIX_KEYS.items()}
        mixed, applied = mix_tensors(
            waveforms,
            draw["partner_index"],
            draw["mix_length"],
            draw["start"],
            draw["partner_start"],
            draw["snr_db"],
        )
        sample_mask = batch.pop("attention_mask")
        lengths = sample_mask.sum(dim=-1)
        weight = partner_label_weight(draw["mix_length"], lengths, draw["snr_db"], self.label_mode)
        weight = torch.where(applied, weight, 0.0)
        labels = batch["labels"]
        partner_labels = labels[draw["partner_index"]]
        batch["soft_targets"] = mix_soft_labels(labels, partner_labels, weight, self.num_labels)
        extractor = self.feature_extractor
        if extractor is not None and is_log_mel_extractor(extractor):
            features = whisper_log_mel(mixed, extractor)
            batch["input_features"] = features
            frames = features.shape[-1]
            batch["attention_mask"] = mel_frame_mask(lengths, extractor.hop_length)[:, :frames]
            return batch
        normalize = self.normalize if extractor is None else bool(extractor.do_normalize)
        batch["input_values"] = normalize_tensors(mixed, sample_mask) if normalize else mixed
        batch["attention_mask"] = sample_mask
        return batch


def _json_ready(value: Any) -> Any:
    """`value` with numpy arrays and scalars turned into lists and Python numbers (for JSON)."""
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


DEVICE_MIX_KEYS = {
    "mix_partner_index": "partner_index",
    "mix_length": "mix_length",
    "mix_start": "start",
    "mix_partner_start": "partner_start",
    "mix_snr_db": "snr_db",
}
"""Batch key -> `MixParameters` field of a `mix_on_device` draw."""


def normalize_tensors(waveforms: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Zero-mean unit-variance over each clip's real samples (eps 1e-7), padding 0, on the
    tensors' device: the torch twin of the collator's normalization. (batch, time) in and out."""
    valid = attention_mask.to(torch.float64)
    count = valid.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (waveforms.double() * valid).sum(dim=1, keepdim=True) / count
    centered = (waveforms - mean.to(waveforms.dtype)) * attention_mask.to(waveforms.dtype)
    variance = centered.double().square().sum(dim=1, keepdim=True) / count
    return centered * (1.0 / (variance + 1e-7).sqrt()).to(waveforms.dtype)


def whisper_log_mel(waveforms: torch.Tensor, extractor: Any) -> torch.Tensor:
    """Whisper's log-mel spectrogram of (batch, time) waveforms on their device.

    The definition Whisper's feature extractor computes (Radford et al. 2022): power STFT
    (Hann window `n_fft`, hop `hop_length`, centered), the extractor's mel filter bank,
    ``log10`` floored at 1e-10, each clip's dynamic range limited to 8 (log10 units) below
    its maximum, then ``(x + 4) / 4``. Returns (batch, mel_bins, time // hop_length) float32.
    """
    window = torch.hann_window(extractor.n_fft, device=waveforms.device)
    stft = torch.stft(
        waveforms.float(), extractor.n_fft, extractor.hop_length, window=window, return_complex=True
    )
    power = (stft[..., :-1].abs() ** 2).contiguous()
    filters = torch.as_tensor(extractor.mel_filters, dtype=torch.float32, device=waveforms.device)
    log_spec = torch.clamp(filters.T @ power, min=1e-10).log10()
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    return (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0


# --------------------------------------------------------------------------------------------
# datasets.map function
# --------------------------------------------------------------------------------------------


class EnergyAdaptiveMixupMap(_BatchMixer):
    """``datasets.Dataset.map(batched=True)`` function writing mixed audio and soft labels.

    Partners are drawn within each map batch (as in the collator). Adds the columns
    ``mixed_audio`` (float32 arrays at `sampling_rate`, same length as the source clip) and
    ``soft_targets`` (num_labels floats, the soft labels; the name of the FLAM forward argument
    they feed, so a plain Trainer passes the column on); the source columns are kept.

    Seeding: with ``with_indices=True`` the generator of a batch is
    ``numpy.random.default_rng([seed, first index of the batch])``, so the output depends only on
    `seed` and the batch composition (fixed by ``batch_size`` and ``num_proc``), not on which
    process runs the batch or in what order, and every shard draws its own mixes. Without
    indices a single generator seeded with `seed` is advanced batch after batch; that is
    refused in ``num_proc > 1`` shard processes, which would all repeat the same draws.

    Example::

        mix = EnergyAdaptiveMixupMap(num_labels=7, seed=0)
        augmented = dataset.map(mix, batched=True, batch_size=32, with_indices=True, num_proc=4)

    Args: as :class:`EnergyAdaptiveMixupCollator` (without the feature extractor and
    normalization; `seed` is an int, default 0).
    """

    def __init__(
        self,
        num_labels: int,
        *,
        p: float = EAM_DEFAULTS.p,
        min_snr_db: float = EAM_DEFAULTS.min_snr_db,
        max_snr_db: float = EAM_DEFAULTS.max_snr_db,
        max_mix_fraction: float = EAM_DEFAULTS.max_mix_fraction,
        label_mode: str = EAM_DEFAULTS.label_mode,
        sampling_rate: int = DEFAULT_SAMPLING_RATE,
        audio_column: str = "audio",
        label_column: str = "label",
        label2id: Mapping[str, int] | None = None,
        seed: int = 0,
        min_length_samples: int = EAM_DEFAULTS.min_length_samples,
    ) -> None:
        super().__init__(
            num_labels,
            p=p,
            min_snr_db=min_snr_db,
            max_snr_db=max_snr_db,
            max_mix_fraction=max_mix_fraction,
            label_mode=label_mode,
            sampling_rate=sampling_rate,
            audio_column=audio_column,
            label_column=label_column,
            label2id=label2id,
            min_length_samples=min_length_samples,
        )
        self.seed = int(seed)
        self.generator = np.random.default_rng(self.seed)
        self._creator_pid = os.getpid()

    def __call__(
        self, batch: Mapping[str, Sequence[Any]], indices: Sequence[int] | None = None
    ) -> dict[str, list[np.ndarray]]:
        """Mix one batch (columns -> lists); returns ``{"mixed_audio", "soft_targets"}`` lists.

        Raises:
            ValueError: called without `indices` in another process than the one that built
                this function (a ``num_proc > 1`` shard), where it would repeat the draws of
                every other shard.
        """
        if indices is None and os.getpid() != self._creator_pid:
            raise ValueError(
                "EnergyAdaptiveMixupMap runs in a map worker process (num_proc > 1) without "
                "indices: every shard would draw the same mixes. Call dataset.map(..., "
                "with_indices=True) so each batch draws from (seed, its first index)."
            )
        if self.audio_column not in batch:
            raise ValueError(f"batch has no column {self.audio_column!r}; columns: {sorted(batch)}")
        label_column = self.label_column if self.label_column in batch else "labels"
        if label_column not in batch:
            raise ValueError(f"batch has no label column {self.label_column!r} or 'labels'")
        if len(batch[self.audio_column]) == 0:  # datasets.map may hand over an empty batch
            return {"mixed_audio": [], "soft_targets": []}
        first = 0 if indices is None else int(indices[0])
        names = [
            f"row {first + offset}" if indices is not None else f"batch row {offset}"
            for offset in range(len(batch[self.audio_column]))
        ]
        waveforms = [
            load_audio(audio, self.sampling_rate, name=f"{name} {self.audio_column!r}")
            for audio, name in zip(batch[self.audio_column], names, strict=True)
        ]
        labels = np.array(
            [
                self._label_index(value, f"{name} {label_column!r}")
                for value, name in zip(batch[label_column], names, strict=True)
            ],
            np.int64,
        )
        generator = self.generator if indices is None else np.random.default_rng([self.seed, first])
        buffer, lengths, soft_labels, _, _ = self._pad_and_mix(waveforms, labels, generator, self.p)
        return {
            "mixed_audio": [buffer[row, :length].copy() for row, length in enumerate(lengths)],
            "soft_targets": list(soft_labels),
        }


# --------------------------------------------------------------------------------------------
# audiomentations transform
# --------------------------------------------------------------------------------------------


class EnergyAdaptiveMixup(BaseWaveformTransform, _ProcessStreams):
    """audiomentations transform: mix a segment of a partner drawn from `pool` at a random SNR.

    Composes inside ``audiomentations.Compose``. The waveform is mono float32 (time,). The
    transform changes only the audio; the partner's label and its weight ``w`` in the soft
    label are recorded in ``self.parameters`` (build the soft label with
    :func:`mix_soft_labels`).

    ``self.parameters`` after a call: ``should_apply``, ``partner_index`` (row in the pool),
    ``mix_length`` and ``start`` / ``partner_start`` (samples), ``snr_db`` (dB),
    ``partner_label`` (None when the pool has no labels), ``partner_label_weight`` (``w``, 0
    when not mixed) and ``mixed`` (False when the clip was too short or a segment silent).
    ``freeze_parameters()`` keeps them for the next calls (they must fit the next sample).

    Args:
        pool: partners: a sequence of waveforms (float arrays at the call's sample rate) or
            file paths (loaded and resampled when drawn), or a ``datasets.Dataset`` with an
            `audio_column` (any value :func:`load_audio` accepts). The input itself may be in
            the pool; mixing a clip with itself follows the same formula.
        pool_labels: labels of the pool (default: the dataset's `label_column`, if any).
        min_snr_db, max_snr_db: segment SNR range in dB.
        max_mix_fraction: longest mix as a fraction of the shorter clip, in (0, 1].
        min_length_samples: shortest mix in samples; shorter pairs are left unmixed.
        label_mode: how ``partner_label_weight`` is computed (see module docstring).
        audio_column, label_column: columns of a ``datasets.Dataset`` pool.
        p: probability of applying the transform.
        seed: seed of every random choice, ``should_apply`` included. Each process rank and
            DataLoader worker draws its own repeatable stream of it (:func:`stream_generator`),
            so copies of the transform in workers do not repeat each other's draws.
    """

    supports_multichannel = False

    def __init__(
        self,
        pool: Sequence[Any] | Any,
        *,
        pool_labels: Sequence[Any] | None = None,
        min_snr_db: float = EAM_DEFAULTS.min_snr_db,
        max_snr_db: float = EAM_DEFAULTS.max_snr_db,
        max_mix_fraction: float = EAM_DEFAULTS.max_mix_fraction,
        min_length_samples: int = EAM_DEFAULTS.min_length_samples,
        label_mode: str = EAM_DEFAULTS.label_mode,
        audio_column: str = "audio",
        label_column: str = "label",
        p: float = EAM_DEFAULTS.p,
        seed: int | None = None,
    ) -> None:
        EnergyAdaptiveMixupSettings(
            p=p,
            min_snr_db=min_snr_db,
            max_snr_db=max_snr_db,
            max_mix_fraction=max_mix_fraction,
            min_length_samples=min_length_samples,
            label_mode=label_mode,
        )
        super().__init__(p)
        if len(pool) == 0:
            raise ValueError("pool: needs at least one partner clip")
        is_dataset = hasattr(pool, "column_names")
        if is_dataset and audio_column not in pool.column_names:
            raise ValueError(
                f"pool: dataset has no column {audio_column!r}; columns: {pool.column_names}"
            )
        if pool_labels is None and is_dataset and label_column in pool.column_names:
            pool_labels = pool[label_column]
        if pool_labels is not None and len(pool_labels) != len(pool):
            raise ValueError(
                f"pool_labels: {len(pool_labels)} labels for a pool of {len(pool)} clips"
            )
        self.pool = pool
        self.pool_labels = pool_labels
        self._is_dataset = is_dataset
        self.audio_column = audio_column
        self.label_column = label_column
        for index in range(len(pool)):
            self._check_partner(index)
        # The partner drawn by randomize_parameters, decoded once for apply (audiomentations
        # caches its sounds the same way): (index, sample rate) -> waveform.
        self._partner_cache: tuple[tuple[int, int], np.ndarray] | None = None
        self.min_snr_db = float(min_snr_db)
        self.max_snr_db = float(max_snr_db)
        self.max_mix_fraction = float(max_mix_fraction)
        self.min_length_samples = int(min_length_samples)
        self.label_mode = label_mode
        self._init_streams(seed)

    def get_transform_init_args(self) -> dict[str, Any]:
        """Init args for repr / serialization (the pool is summarized by its size)."""
        return {
            "pool_size": len(self.pool),
            "min_snr_db": self.min_snr_db,
            "max_snr_db": self.max_snr_db,
            "max_mix_fraction": self.max_mix_fraction,
            "min_length_samples": self.min_length_samples,
            "label_mode": self.label_mode,
        }

    def _pool_item(self, index: int) -> Any:
        item = self.pool[index]
        return item[self.audio_column] if self._is_dataset else item

    def _check_partner(self, index: int) -> None:
        """Refuse a bad pool entry when the pool is built, not at a random later call: audio
        in memory is checked whole (`load_audio`), a file by its header."""
        item = self._pool_item(index)
        if isinstance(item, Mapping) and item.get("array") is None and item.get("bytes") is None:
            item = item.get("path", item)
        if isinstance(item, (str, os.PathLike)):
            try:
                soundfile.info(os.fspath(item))
            except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError) as error:
                raise ValueError(f"pool[{index}]: unreadable audio file {item} ({error})") from None
            return
        load_audio(item, name=f"pool[{index}]")

    def _partner(self, index: int, sample_rate: int) -> np.ndarray:
        key = (index, sample_rate)
        if self._partner_cache is None or self._partner_cache[0] != key:
            waveform = load_audio(self._pool_item(index), sample_rate, name=f"pool[{index}]")
            self._partner_cache = (key, waveform)
        return self._partner_cache[1]

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mix (with probability `p`) and return float32 (time,): integer PCM input is scaled
        to [-1, 1) whether or not the transform applies (see `load_audio`)."""
        return super().__call__(load_audio(samples, sample_rate, name="samples"), sample_rate)

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int) -> None:
        """Draw ``should_apply``, the partner, mix length, offsets and SNR from this process's
        generator (``self.generator``)."""
        generator = self._active_generator()
        self.parameters["should_apply"] = bool(generator.random() < self.p)
        self.parameters.update(mixed=False, partner_label_weight=0.0)
        if not self.parameters["should_apply"]:
            return
        partner_index = int(generator.integers(len(self.pool)))
        partner = self._partner(partner_index, sample_rate)
        drawn = draw_mix_parameters(
            [samples.shape[-1]],
            [partner.shape[0]],
            [partner_index],
            generator,
            p=1.0,
            min_snr_db=self.min_snr_db,
            max_snr_db=self.max_snr_db,
            max_mix_fraction=self.max_mix_fraction,
            min_length_samples=self.min_length_samples,
        )
        self.parameters.update(
            partner_index=partner_index,
            mix_length=int(drawn.mix_length[0]),
            start=int(drawn.start[0]),
            partner_start=int(drawn.partner_start[0]),
            snr_db=float(drawn.snr_db[0]),
            partner_label=None if self.pool_labels is None else self.pool_labels[partner_index],
        )

    def apply(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mix the drawn partner segment into `samples` (time,); returns a new float32 array.

        Raises:
            ValueError: `samples` is empty, holds NaN/inf or peaks far outside full scale.
        """
        samples = load_audio(samples, sample_rate, name="samples")
        partner_index = self.parameters["partner_index"]
        partner = self._partner(partner_index, sample_rate)
        mix_length, start = self.parameters["mix_length"], self.parameters["start"]
        partner_start = self.parameters["partner_start"]
        if start + mix_length > samples.shape[0] or partner_start + mix_length > partner.shape[0]:
            raise ValueError(
                f"frozen parameters do not fit: segment [{start}, {start + mix_length}) of a "
                f"{samples.shape[0]}-sample clip, [{partner_start}, {partner_start + mix_length}) "
                f"of pool[{partner_index}] ({partner.shape[0]} samples)"
            )
        parameters = MixParameters(
            partner_index=np.zeros(1, np.int64),
            mix_length=np.array([mix_length], np.int64),
            start=np.array([start], np.int64),
            partner_start=np.array([partner_start], np.int64),
            snr_db=np.array([self.parameters["snr_db"]], np.float64),
        )
        mixed, applied = energy_adaptive_mix(samples[None], parameters, partner[None])
        weight = partner_label_weight(
            [mix_length], [samples.shape[0]], parameters.snr_db, self.label_mode
        )
        self.parameters["mixed"] = bool(applied[0])
        self.parameters["partner_label_weight"] = float(weight[0]) if applied[0] else 0.0
        return mixed[0]
