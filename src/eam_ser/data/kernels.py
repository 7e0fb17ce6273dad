"""The compiled (numba) kernels: EAM's segment mix and the collator's per-clip normalization.

`mix_rows` mixes a batch in two passes over the segments: it reads each sample's own and
partner segment once to get the two mean-square energies, then adds the scaled partner
segment in place and tracks the peak for the clipping policy. Only the segments are touched (a
mix of length ``l`` costs about ``3 l`` sample reads and ``l`` writes), where whole-batch array
operations would materialise several (batch, longest mix) temporaries. `normalize_rows` is the
collator's zero-mean unit-variance normalization in two passes over each clip's real samples.
Both run near the memory-bandwidth floor on CPU. They are the only numba code of eam-ser, in
one module below the collator and `eam_ser.mixup` (both call them) and apart from
`eam_ser.models.flam.featurize` (which travels with saved models as remote code, where numba need not be
installed).

Why numba: it compiles these plain loops to machine code at first use (cached on disk), ships
wheels for every platform torch supports, and needs no compiler on the user's machine. It is a
hard dependency, so there is no pure-numpy twin: the torch path of
`eam_ser.mixup.core.mix_tensors` (the device half of the collator) is the independent
implementation the kernel is tested against, bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

from eam_ser.models.flam.featurize import NORMALIZATION_EPS

__all__ = ["mix_rows", "normalize_rows"]


# Reassociation lets the float64 sum vectorise; the order is fixed by the compiled code, so
# results repeat exactly run to run.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _mean_square(row: np.ndarray, start: int, length: int) -> float:
    total = 0.0
    for t in range(start, start + length):
        value = np.float64(row[t])
        total += value * value
    return total / length


@numba.njit(cache=True, nogil=True)
def _mix_rows(
    out: np.ndarray,
    partners: np.ndarray,
    segments: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    snr_db: np.ndarray,
    silence_threshold: float,
    partners_alias_out: bool,
    applied: np.ndarray,
) -> None:
    # The four (batch,) int64 segment arrays of `mix_rows` come as one tuple (numba passes
    # its arrays without a copy).
    partner_index, mix_length, start, partner_start = segments
    batch = out.shape[0]
    scale = np.zeros(batch, np.float32)
    longest = 0
    for row in range(batch):
        length = mix_length[row]
        applied[row] = False
        if length <= 0:
            continue
        own_energy = _mean_square(out[row], start[row], length)
        partner_energy = _mean_square(partners[partner_index[row]], partner_start[row], length)
        if own_energy >= silence_threshold and partner_energy >= silence_threshold:
            applied[row] = True
            ratio = own_energy / (10.0 ** (snr_db[row] / 10.0) * partner_energy)
            scale[row] = np.float32(np.sqrt(ratio))
            longest = max(longest, length)
    # When the partners are the batch being written, their segments are saved first, so
    # every sample is mixed with an unmixed partner.
    saved = np.empty((batch if partners_alias_out else 0, longest), np.float32)
    if partners_alias_out:
        for row in range(batch):
            if applied[row]:
                source = partners[partner_index[row]]
                offset = partner_start[row]
                for t in range(mix_length[row]):
                    saved[row, t] = source[offset + t]
    for row in range(batch):
        if not applied[row]:
            continue
        length, offset = mix_length[row], start[row]
        own = out[row]
        gain = scale[row]
        peak = np.float32(0.0)
        if partners_alias_out:
            segment = saved[row]
            for t in range(length):
                value = own[offset + t] + gain * segment[t]
                own[offset + t] = value
                peak = max(peak, abs(value))
        else:
            source = partners[partner_index[row]]
            partner_offset = partner_start[row]
            for t in range(length):
                value = own[offset + t] + gain * source[partner_offset + t]
                own[offset + t] = value
                peak = max(peak, abs(value))
        if peak > 1.0:
            for t in range(own.shape[0]):
                own[t] = own[t] / peak


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _normalize_rows(padded: np.ndarray, lengths: np.ndarray, out: np.ndarray) -> None:
    for row in range(padded.shape[0]):
        length = lengths[row]
        clip = padded[row]
        total = 0.0
        for t in range(length):
            total += clip[t]
        mean = np.float32(total / length)
        squares = 0.0
        for t in range(length):
            centered = np.float64(clip[t] - mean)
            squares += centered * centered
        scale = np.float32(1.0 / np.sqrt(squares / length + NORMALIZATION_EPS))
        target = out[row]
        for t in range(length):
            target[t] = (clip[t] - mean) * scale
        for t in range(length, target.shape[0]):
            target[t] = 0.0


def normalize_rows(padded: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Zero-mean unit-variance over each clip's first ``lengths[i]`` samples (eps 1e-7), zeros
    after them: a new (batch, time) float32 array from `padded` (batch, time) float32."""
    out = np.empty(padded.shape, np.float32)
    _normalize_rows(np.ascontiguousarray(padded, np.float32), np.asarray(lengths, np.int64), out)
    return out


def mix_rows(
    out: np.ndarray,
    partners: np.ndarray,
    partner_index: np.ndarray,
    mix_length: np.ndarray,
    start: np.ndarray,
    partner_start: np.ndarray,
    snr_db: np.ndarray,
    silence_threshold: float,
) -> np.ndarray:
    """Mix every row of `out` (batch, time) float32 in place with its partner segment.

    Args:
        out: the clips, written in place (C-contiguous float32).
        partners: (num_partners, partner_time) float32 partner clips; may be `out` itself.
        partner_index, mix_length, start, partner_start: (batch,) int64 (see `MixParameters`);
            every segment must lie inside its array.
        snr_db: (batch,) float64 segment SNRs in dB.
        silence_threshold: mean-square energy below which a segment counts as silent.

    Returns:
        (batch,) bool: which rows were mixed.
    """
    applied = np.zeros(out.shape[0], np.bool_)
    segments = (partner_index, mix_length, start, partner_start)
    aliased = bool(np.shares_memory(out, partners))
    _mix_rows(out, partners, segments, snr_db, float(silence_threshold), aliased, applied)
    return applied
