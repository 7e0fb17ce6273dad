"""The robustness ladder: test clips under white noise and interfering speech at falling SNRs,
through a telephone band and clipped, scored like the clean test (``eam-ser evaluate
--robustness``; `benchmarks/ablation.py` builds its test sets with the same functions).

- Noise: stationary white Gaussian noise over the whole clip.
- Speech: per test clip one utterance of *another* speaker (never a tested one when the data
  has untested speakers), looped or cut to the clip's length.
- Both at `ROBUSTNESS_SNRS` dB, ``10 log10(P_clip / P_added)`` over the whole clip (P: mean
  square), the noise and interferers drawn once from one generator, so every model tested
  with the same seed hears the same corrupted clips.
- Telephone: only 300-3400 Hz kept (a brick-wall band-pass in the frequency domain), the band
  of narrowband telephony.
- Clipping: the waveform hard-limited at `CLIPPING_LEVEL` of its peak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from eam_ser.mixup.core import snr_scale

__all__ = [
    "CLIPPING_LEVEL",
    "ROBUSTNESS_SNRS",
    "TELEPHONE_BAND_HZ",
    "add_at_snr",
    "clip_peaks",
    "corrupted_sets",
    "interference_sets",
    "robustness_ladder",
    "telephone_band",
]

ROBUSTNESS_SNRS = (20.0, 10.0, 5.0, 0.0, -5.0)
"""SNRs of the noise and speech conditions, in dB."""
TELEPHONE_BAND_HZ = (300.0, 3400.0)
"""The pass band of the telephone condition, in Hz."""
CLIPPING_LEVEL = 0.25
"""The clipping condition's limit, as a fraction of each clip's peak amplitude (-12 dB)."""


def add_at_snr(clip: np.ndarray, interference: np.ndarray, snr_db: float) -> np.ndarray:
    """`clip` plus `interference` (looped or cut to the clip's length) scaled so that
    ``10 log10(P_clip / P_added) = snr_db`` over the whole clip (P: mean square); float32."""
    repeats = -(-clip.shape[0] // interference.shape[0])
    interference = np.tile(interference, repeats)[: clip.shape[0]].astype(np.float64)
    scale = snr_scale(
        np.mean(np.square(clip, dtype=np.float64)), np.mean(np.square(interference)), snr_db
    )
    return (clip + scale * interference).astype(np.float32)


def telephone_band(clip: np.ndarray, sampling_rate: int) -> np.ndarray:
    """`clip` with only `TELEPHONE_BAND_HZ` kept (frequency-domain brick wall); float32."""
    spectrum = np.fft.rfft(clip.astype(np.float64))
    frequencies = np.fft.rfftfreq(clip.shape[0], d=1.0 / sampling_rate)
    low, high = TELEPHONE_BAND_HZ
    spectrum[(frequencies < low) | (frequencies > high)] = 0.0
    return np.fft.irfft(spectrum, n=clip.shape[0]).astype(np.float32)


def clip_peaks(clip: np.ndarray, level: float = CLIPPING_LEVEL) -> np.ndarray:
    """`clip` hard-limited at ``level`` times its peak amplitude; float32."""
    limit = level * float(np.abs(clip).max())
    return np.clip(clip, -limit, limit).astype(np.float32)


def interference_sets(
    clips: Sequence[np.ndarray],
    interferers: Sequence[np.ndarray] | Callable[[int], Sequence[np.ndarray]],
    num_interferers: int,
    generator: np.random.Generator,
    snrs: Sequence[float] = ROBUSTNESS_SNRS,
) -> dict[str, dict[float, list[np.ndarray]]]:
    """``{"noise": {snr: clips}, "speech": {snr: clips}}``: every clip with white noise and
    with an interfering utterance added at each SNR.

    Args:
        clips: the (samples,) float32 test clips.
        interferers: the pool of interfering utterances (or a function giving the waveforms
            of the drawn indices, to load only those), `num_interferers` long.
        generator: draws one interferer index per clip (``generator.choice``), then one
            noise signal per clip, in that order.
    """
    drawn = generator.choice(num_interferers, size=len(clips))
    noises = [generator.standard_normal(clip.shape[0]) for clip in clips]
    speech = interferers(drawn) if callable(interferers) else [interferers[i] for i in drawn]
    return {
        "noise": {
            snr: [add_at_snr(c, n, snr) for c, n in zip(clips, noises, strict=True)] for snr in snrs
        },
        "speech": {
            snr: [add_at_snr(c, s, snr) for c, s in zip(clips, speech, strict=True)] for snr in snrs
        },
    }


def corrupted_sets(
    clips: Sequence[np.ndarray],
    interferers: Sequence[np.ndarray],
    sampling_rate: int,
    seed: int = 0,
    snrs: Sequence[float] = ROBUSTNESS_SNRS,
) -> dict[str, dict[str, list[np.ndarray]]]:
    """Every condition of the ladder: `interference_sets` (generator
    ``numpy.random.default_rng(seed)``), the telephone band and clipping, keyed by condition
    and level as strings (``{"noise": {"20.0": clips, ...}, "telephone": {"300-3400 Hz":
    clips}, "clipping": {"25 % of peak": clips}}``)."""
    sets = interference_sets(
        clips, interferers, len(interferers), np.random.default_rng(seed), snrs
    )
    low, high = TELEPHONE_BAND_HZ
    return {
        **{name: {str(snr): c for snr, c in levels.items()} for name, levels in sets.items()},
        "telephone": {
            f"{low:g}-{high:g} Hz": [telephone_band(clip, sampling_rate) for clip in clips]
        },
        "clipping": {f"{100 * CLIPPING_LEVEL:g} % of peak": [clip_peaks(c) for c in clips]},
    }


def robustness_ladder(
    score: Callable[[Sequence[np.ndarray]], float],
    clips: Sequence[np.ndarray],
    interferers: Sequence[np.ndarray],
    sampling_rate: int,
    seed: int = 0,
) -> dict[str, Any]:
    """UA under every condition of `corrupted_sets`.

    Args:
        score: the UA of a list of clips (in the order of `clips`, whose labels it knows).
        clips, interferers, sampling_rate, seed: as in `corrupted_sets`.

    Returns:
        ``{"ua": {condition: {level: UA}}, "seed": seed, "interferers": len(interferers)}``.
    """
    if not interferers:
        raise ValueError("the robustness ladder needs interfering utterances of other speakers")
    sets = corrupted_sets(clips, interferers, sampling_rate, seed)
    return {
        "ua": {
            condition: {level: float(score(corrupted)) for level, corrupted in levels.items()}
            for condition, levels in sets.items()
        },
        "seed": seed,
        "interferers": len(interferers),
    }
