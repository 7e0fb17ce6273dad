"""Shared helpers of the EAM tests: synthetic clips, hand-built draws and measured SNRs."""

from __future__ import annotations

import numpy as np

from eam_ser.mixup.core import MixParameters


def params(partner_index, mix_length, start, partner_start, snr_db) -> MixParameters:
    return MixParameters(
        partner_index=np.asarray(partner_index, np.int64),
        mix_length=np.asarray(mix_length, np.int64),
        start=np.asarray(start, np.int64),
        partner_start=np.asarray(partner_start, np.int64),
        snr_db=np.asarray(snr_db, np.float64),
    )


def noise(rng: np.random.Generator, num_samples: int, amplitude: float = 0.1) -> np.ndarray:
    return (amplitude * rng.standard_normal(num_samples)).astype(np.float32)


def segment_snr_db(original: np.ndarray, mixed: np.ndarray, start: int, length: int) -> float:
    segment = slice(start, start + length)
    added = mixed[segment].astype(np.float64) - original[segment]
    return 10 * np.log10(
        np.mean(np.square(original[segment], dtype=np.float64)) / np.mean(added**2)
    )


def features_of(waveforms, labels):
    return [{"audio": w, "label": y} for w, y in zip(waveforms, labels, strict=True)]
