r"""Energy-Adaptive Mixup (EAM): mix a segment of a partner utterance in at a drawn SNR.

For an utterance \(x_i\) (label \(y_i\)) EAM picks a partner \(x_j\) (label
\(y_j\)), a mix length \(l\) in samples (uniform in ``[min_length_samples,
floor(max_mix_fraction * min(len(x_i), len(x_j)))]``), a start offset in each clip, and a
segment SNR \(s\) uniform in ``[min_snr_db, max_snr_db]`` dB. With \(P'_i, P'_j\) the
mean-square energies of the two *segments* it adds

\[ x_i[a:a+l] \mathrel{+}= \sqrt{P'_i / (10^{s/10} P'_j)}\; x_j[b:b+l] \]

so that the SNR of the segment, \(10 \log_{10}(P'_i / P_{added})\), is exactly \(s\).
The mixed sample gets the soft label \((1 - w)\,\mathrm{onehot}(y_i) + w\,\mathrm{onehot}(y_j)\)
with the partner weight chosen by ``label_mode``:

- ``"energy"`` (default): \(w = \frac{l}{len(x_i)} \cdot \frac{1}{1 + 10^{s/10}}\), the
  partner's share of the clip's length times its share of the segment's energy;
- ``"length"``: \(w = l / len(x_i)\) (length share only, as in Label-Adaptive Mixup);
- ``"hard"``: \(w = 0\), the first utterance keeps its label (as in the precursor EAM).

Hard labels of a mixed sample are always \(y_i\). With ``max_mix_fraction <= 0.5``,
\(l \le len(x_i)/2\) so \(w \le 0.5\) and \(y_i\) is also the argmax of the soft
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

Layout (as ``timm.data.mixup``): this module is the pure functional core
(`draw_partner_index`, `draw_mix_parameters`, `energy_adaptive_mix` for numpy
and torch, `partner_label_weight`, `mix_soft_labels`); three thin shapes share it,
so the same drawn `MixParameters` give the same waveform and soft label in each:

- `eam_ser.mixup.transform.EnergyAdaptiveMixup`: an audiomentations transform drawing
  partners from a pool;
- `eam_ser.mixup.collator.EnergyAdaptiveMixupCollator`: a Trainer / DataLoader collator mixing
  within a batch;
- `eam_ser.mixup.map.EnergyAdaptiveMixupMap`: a ``datasets.map(batched=True)`` function for
  offline augmentation.

Two mixing paths compute the same mix bit for bit: the compiled kernel
(`eam_ser.data.kernels.mix_rows`) for arrays and CPU tensors, and `mix_tensors` (gather /
scatter) for tensors on any device, which the collator's device half uses.

Every random choice goes through an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eam_ser.data.collator import one_hot, pad_waveforms
from eam_ser.data.kernels import mix_rows
from eam_ser.mixup.settings import LABEL_MODES, EnergyAdaptiveMixupSettings, resolve_settings

__all__ = [
    "MIX_IMPLEMENTATIONS",
    "SILENCE_THRESHOLD",
    "BatchMix",
    "MixParameters",
    "draw_batch_parameters",
    "draw_mix_parameters",
    "draw_partner_index",
    "energy_adaptive_mix",
    "mix_batch",
    "mix_soft_labels",
    "mix_tensors",
    "partner_label_weight",
    "snr_scale",
]

MIX_IMPLEMENTATIONS = ("auto", "compiled", "torch", "numpy")
"""Values of `energy_adaptive_mix`'s ``implementation``; ``"numpy"`` is a deprecated name of
``"compiled"`` (the pure-numpy twin it named gave the same mix bit for bit)."""
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
    settings: EnergyAdaptiveMixupSettings | None = None,
    **overrides: Any,
) -> MixParameters:
    """Draw mix length, start offsets and SNR for each sample, vectorized over the batch.

    Args:
        lengths: lengths of the clips ``x_i`` in samples, shape (batch,).
        partner_lengths: lengths of their partners ``x_j`` in samples, shape (batch,).
        partner_index: partner row of each sample, shape (batch,), kept as is.
        generator: the source of every random choice. Exactly ``5 * batch`` uniforms are drawn
            whatever the outcome, so the generator's state after the call depends only on the
            batch size.
        settings: `p`, the SNR range, `max_mix_fraction` and `min_length_samples` (None: the
            defaults); `label_mode` is not used here.
        **overrides: fields of `settings` to replace (``p=1.0``, ...).

    Returns:
        `MixParameters`; ``mix_length`` is 0 (and the offsets 0) for unmixed samples.
    """
    settings = resolve_settings(settings, **overrides)
    p, max_mix_fraction = float(settings.p), float(settings.max_mix_fraction)
    min_snr_db, max_snr_db = float(settings.min_snr_db), float(settings.max_snr_db)
    min_length_samples = int(settings.min_length_samples)
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
        parameters: the draw, see `MixParameters` and `draw_mix_parameters`.
        partner_waveforms: padded partner clips, shape (num_partners, partner_time), indexed
            by ``parameters.partner_index``; ``None`` means the batch itself (the partners are
            read before anything is written, so every partner is unmixed).
        silence_threshold: segments with mean-square energy below this are not mixed.
        inplace: write into `waveforms` (numpy only).
        implementation: ``"compiled"`` (the numba kernel `eam_ser.data.kernels.mix_rows`, for numpy
            arrays and CPU float32 tensors), ``"torch"`` (`mix_tensors`: gather /
            scatter on the tensor's device) or ``"auto"`` (the kernel for arrays and for CPU
            float32 tensors without gradients, else torch). Both give the same mix bit for
            bit. ``"numpy"`` is a deprecated name of ``"compiled"`` (it named a pure-numpy
            twin of the kernel, removed in 0.4.0, that gave the same mix bit for bit).

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
    if implementation == "numpy":
        warnings.warn(
            "energy_adaptive_mix(implementation='numpy') is deprecated: the numpy twin of the "
            "compiled kernel is gone and 'numpy' now means 'compiled' (the same mix, bit for "
            "bit); pass 'compiled' or 'auto'",
            DeprecationWarning,
            stacklevel=2,
        )
        implementation = "compiled"
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
        if implementation == "compiled" or (
            implementation == "auto" and on_cpu and partners_on_cpu
        ):
            # CPU tensors share memory with numpy views: the kernel runs on them directly.
            mixed, applied = _mix_compiled(
                waveforms.detach().numpy(),
                parameters,
                None if partner_waveforms is None else partner_waveforms.detach().numpy(),
                silence_threshold,
                inplace=False,
            )
            return torch.from_numpy(mixed), applied
        return _mix_torch(waveforms, parameters, partner_waveforms, silence_threshold)
    if implementation == "torch":
        raise ValueError("implementation='torch' needs torch tensors")
    return _mix_compiled(waveforms, parameters, partner_waveforms, silence_threshold, inplace)


def _mix_compiled(
    waveforms: np.ndarray,
    parameters: MixParameters,
    partner_waveforms: np.ndarray | None,
    silence_threshold: float,
    inplace: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """`energy_adaptive_mix` through the numba kernel (`eam_ser.data.kernels.mix_rows`)."""
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
    segments = (partner_index, mix_length, start, partner_start)
    snr_db = np.asarray(parameters.snr_db, np.float64)
    applied = mix_rows(out, partners, *segments, snr_db, silence_threshold)
    return out, applied


def snr_scale(own_energy: Any, partner_energy: Any, snr_db: Any) -> np.ndarray:
    """Gain that puts an added signal of mean-square energy `partner_energy` at `snr_db` dB
    below a signal of energy `own_energy`: ``sqrt(P_i / (10^(snr/10) P_j))`` (numpy,
    broadcasting; float64)."""
    return np.sqrt(
        np.asarray(own_energy, np.float64)
        / (10.0 ** (np.asarray(snr_db, np.float64) / 10.0) * partner_energy)
    )


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
# A batch mixed within itself: the collator and the map function
# --------------------------------------------------------------------------------------------


def draw_batch_parameters(
    lengths: np.ndarray,
    generator: np.random.Generator,
    settings: EnergyAdaptiveMixupSettings,
    p: float | None = None,
) -> MixParameters:
    """Partners within the batch (`draw_partner_index`) and a draw for clips of
    `lengths` (batch,) samples; `p` replaces ``settings.p`` (0 for an evaluation batch). A
    sample is never its own partner in a batch, so a batch of one is never mixed."""
    batch = lengths.shape[0]
    partner_index = draw_partner_index(batch, generator)
    p = settings.p if p is None else p
    return draw_mix_parameters(
        lengths,
        lengths[partner_index],
        partner_index,
        generator,
        settings=settings,
        p=p if batch > 1 else 0.0,
    )


@dataclass(frozen=True)
class BatchMix:
    """A batch mixed within itself (`mix_batch`).

    Attributes:
        buffer: (batch, longest) float32, the (mixed) clips ``buffer[i, :lengths[i]]``, zeros
            after each.
        lengths: (batch,) int64 clip lengths in samples.
        soft_labels: (batch, num_labels) float32.
        parameters: the draw.
        applied: (batch,) bool, the samples really mixed (not silent, not too short).
    """

    buffer: np.ndarray
    lengths: np.ndarray
    soft_labels: np.ndarray
    parameters: MixParameters
    applied: np.ndarray


def mix_batch(
    waveforms: Sequence[np.ndarray],
    labels: np.ndarray,
    generator: np.random.Generator,
    settings: EnergyAdaptiveMixupSettings,
    num_labels: int,
    *,
    p: float | None = None,
) -> BatchMix:
    """Pad float32 (samples,) clips (`eam_ser.data.collator.pad_waveforms`), draw within-batch
    partners and mix in place; soft labels from (batch,) int64 `labels` by
    ``settings.label_mode``. `p` replaces ``settings.p``."""
    buffer, lengths = pad_waveforms(waveforms)
    parameters = draw_batch_parameters(lengths, generator, settings, p)
    _, applied = energy_adaptive_mix(buffer, parameters, inplace=True)
    weight = np.where(
        applied,
        partner_label_weight(
            parameters.mix_length, lengths, parameters.snr_db, settings.label_mode
        ),
        0.0,
    )
    soft_labels = mix_soft_labels(labels, labels[parameters.partner_index], weight, num_labels)
    return BatchMix(buffer, lengths, soft_labels, parameters, applied)
