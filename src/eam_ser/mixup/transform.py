"""`EnergyAdaptiveMixup`: EAM as an audiomentations transform, mixing in a partner drawn from a
pool. The math is `eam_ser.mixup.core`."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import soundfile
from audiomentations.core.transforms_interface import BaseWaveformTransform

from eam_ser.data.audio import check_sampling_rate, load_audio
from eam_ser.mixup.core import (
    MixParameters,
    draw_mix_parameters,
    energy_adaptive_mix,
    partner_label_weight,
)
from eam_ser.mixup.settings import (
    Delegated,
    EnergyAdaptiveMixupSettings,
    resolve_settings,
    with_setting_attributes,
)
from eam_ser.mixup.streams import ProcessStream

__all__ = ["PARTNER_CACHE_SIZE", "EnergyAdaptiveMixup"]

PARTNER_CACHE_SIZE = 2
"""Decoded partners kept per transform (least recently used first out), as audiomentations'
``AddBackgroundNoise(lru_cache_size=2)``: the partner drawn by ``randomize_parameters`` is
decoded once and reused by ``apply``, and a partner drawn again soon is not decoded again."""


@with_setting_attributes
class EnergyAdaptiveMixup(BaseWaveformTransform):
    """audiomentations transform: mix a segment of a partner drawn from `pool` at a random SNR.

    Composes inside ``audiomentations.Compose``. The waveform is mono float32 (time,). The
    transform changes only the audio; the partner's label and its weight ``w`` in the soft
    label are recorded in ``self.parameters`` (build the soft label with
    `mix_soft_labels`).

    ``self.parameters`` after a call: ``should_apply``, ``partner_index`` (row in the pool),
    ``mix_length`` and ``start`` / ``partner_start`` (samples), ``snr_db`` (dB),
    ``partner_label`` (None when the pool has no labels), ``partner_label_weight`` (``w``, 0
    when not mixed) and ``mixed`` (False when the clip was too short or a segment silent).
    ``freeze_parameters()`` keeps them for the next calls (they must fit the next sample).

    Args:
        pool: partners: a sequence of waveforms (float arrays at the call's sample rate) or
            file paths (loaded and resampled when drawn), or a ``datasets.Dataset`` with an
            `audio_column` (any value `load_audio` accepts). The input itself may be in
            the pool; mixing a clip with itself follows the same formula.
        pool_labels: labels of the pool (default: the dataset's `label_column`, if any).
        settings: the EAM settings (None: the defaults); `p` is the probability of applying
            the transform, `label_mode` how ``partner_label_weight`` is computed.
        audio_column: audio column of a ``datasets.Dataset`` pool.
        label_column: label column of a ``datasets.Dataset`` pool.
        seed: seed of every random choice, ``should_apply`` included. Each process rank and
            DataLoader worker draws its own repeatable stream of it
            (`eam_ser.mixup.streams.stream_generator`), so copies of the transform in workers
            do not repeat each other's draws.
        **overrides: fields of `settings` to replace (``p=1.0``, ``min_snr_db=0.0``, ...).
    """

    supports_multichannel = False
    seed = Delegated("stream")
    generator = Delegated("stream")

    def __init__(
        self,
        pool: Sequence[Any] | Any,
        *,
        pool_labels: Sequence[Any] | None = None,
        settings: EnergyAdaptiveMixupSettings | None = None,
        audio_column: str = "audio",
        label_column: str = "label",
        seed: int | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = resolve_settings(settings, **overrides)
        super().__init__(self.settings.p)
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
        silent = [self._check_partner(index) for index in range(len(pool))]
        if all(silent):
            # A silent partner is never mixed (the energy ratio is undefined; core policy).
            raise ValueError(
                f"pool: all {len(pool)} partner clips are silent (every sample 0): the "
                "transform would never mix; give partners with speech"
            )
        self._partner = self._partner_cache()
        self.stream = ProcessStream(seed)

    def _partner_cache(self) -> Any:
        """``(pool index, sample rate) -> decoded waveform``, least recently used first out."""
        return functools.lru_cache(maxsize=PARTNER_CACHE_SIZE)(self._decode_partner)

    def __getstate__(self) -> dict[str, Any]:
        # The cache (a bound method) is rebuilt, not pickled, when the transform is sent to a
        # spawned DataLoader worker.
        state = self.__dict__.copy()
        del state["_partner"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._partner = self._partner_cache()

    def get_transform_init_args(self) -> dict[str, Any]:
        """Init args for repr / serialization (the pool is summarized by its size; `p` is the
        base transform's)."""
        settings = dataclasses.asdict(self.settings)
        del settings["p"]
        return {"pool_size": len(self.pool), **settings}

    def _pool_item(self, index: int) -> Any:
        item = self.pool[index]
        return item[self.audio_column] if self._is_dataset else item

    def _check_partner(self, index: int) -> bool:
        """Refuse a bad pool entry when the pool is built, not at a random later call: audio
        in memory is checked whole (`load_audio`), a file by its header. Returns whether the
        entry is known to be silent (a file is not decoded here: False)."""
        item = self._pool_item(index)
        if isinstance(item, Mapping) and item.get("array") is None and item.get("bytes") is None:
            item = item.get("path", item)
        if isinstance(item, (str, os.PathLike)):
            try:
                soundfile.info(os.fspath(item))
            except (soundfile.LibsndfileError, RuntimeError, OSError, TypeError) as error:
                raise ValueError(f"pool[{index}]: unreadable audio file {item} ({error})") from None
            return False
        return not load_audio(item, name=f"pool[{index}]").any()

    def _decode_partner(self, index: int, sample_rate: int) -> np.ndarray:
        return load_audio(self._pool_item(index), sample_rate, name=f"pool[{index}]")

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mix (with probability `p`) and return float32 (time,): integer PCM input is scaled
        to [-1, 1) whether or not the transform applies (see `load_audio`)."""
        sample_rate = check_sampling_rate(sample_rate, "sample_rate")
        return super().__call__(load_audio(samples, sample_rate, name="samples"), sample_rate)

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int) -> None:
        """Draw ``should_apply``, the partner, mix length, offsets and SNR from this process's
        generator (``self.generator``)."""
        generator = self.stream.generator
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
            settings=self.settings,
            p=1.0,
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
