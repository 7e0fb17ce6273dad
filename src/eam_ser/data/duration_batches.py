"""Batches by total seconds: clips of similar length together, so that little of a batch is
padding, and as many clips per batch as a budget of padded seconds allows.

A fixed number of clips per batch pads every short clip to the longest one beside it; with
clips of 1 to 10 s most of such a batch can be zeros. `DurationBatchSampler` sorts the clips by
duration into `num_buckets` buckets of similar lengths, shuffles within each bucket, cuts each
into batches of as many clips as fit `max_seconds` at the bucket's longest clip (so every
epoch has the same number of batches, as Trainer's schedule and resume need), and shuffles the
order of all batches, anew each epoch (`set_epoch`), from one seed. It is a batch sampler: ``DataLoader(dataset, batch_sampler=...)``, or
``MultiLossTrainingArguments(max_batch_seconds=...)`` in `MultiLossTrainer` (see
``docs/guides/trainer.md`` for a plain `Trainer`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import soundfile as sf
from torch.utils.data import Sampler

from eam_ser.data.audio import check_sampling_rate
from eam_ser.models.flam.arguments import check_flag, check_integer, check_real, check_seed

__all__ = ["DurationBatchSampler", "clip_durations", "padding_fraction"]


def _duration(audio: Any, sampling_rate: int | None, row: int) -> float:
    if isinstance(audio, Mapping):
        array = audio.get("array", audio.get("raw"))
        if array is not None:
            rate = audio.get("sampling_rate") or sampling_rate
            if rate is None:
                raise ValueError(f"audio[{row}]: an array without its sampling_rate")
            return len(array) / check_sampling_rate(rate, f"audio[{row}]: sampling_rate")
        if audio.get("bytes") is not None:
            return sf.info(io.BytesIO(audio["bytes"])).duration
        audio = audio.get("path")
    if isinstance(audio, (str, os.PathLike)):
        try:
            return sf.info(os.fspath(audio)).duration
        except (RuntimeError, sf.LibsndfileError) as error:
            raise ValueError(f"audio[{row}]: {audio}: unreadable audio ({error})") from None
    if sampling_rate is None:
        raise ValueError(f"audio[{row}]: an array needs sampling_rate to have a duration")
    return len(audio) / sampling_rate


def clip_durations(audio: Sequence[Any], sampling_rate: int | None = None) -> np.ndarray:
    """(clips,) float64 durations in seconds, read from the files' headers (no decoding).

    Args:
        audio: a dataset's ``audio`` column: paths, ``{"path"}`` / ``{"bytes"}`` values, or
            arrays (``{"array", "sampling_rate"}`` or bare, at `sampling_rate`).
        sampling_rate: Hz of bare arrays.

    Raises:
        ValueError: naming the row, for an unreadable file or an array of unknown rate.
    """
    if sampling_rate is not None:
        sampling_rate = check_sampling_rate(sampling_rate)
    return np.array([_duration(clip, sampling_rate, row) for row, clip in enumerate(audio)])


def padding_fraction(durations: Sequence[float], batches: Sequence[Sequence[int]]) -> float:
    """The share of the padded seconds of `batches` that is padding (0: none)."""
    durations = np.asarray(durations, dtype=np.float64)
    padded = sum(float(durations[batch].max()) * len(batch) for batch in batches)
    real = sum(float(durations[batch].sum()) for batch in batches)
    return 1.0 - real / padded if padded else 0.0


class DurationBatchSampler(Sampler[list[int]]):
    """Batches of clips of similar length whose padded duration stays within `max_seconds`.

    Args:
        durations: (clips,) seconds of each clip (`clip_durations`).
        max_seconds: budget of one batch, in padded seconds (longest clip x clips); a clip
            longer than it is a batch of its own.
        num_buckets: buckets of similar lengths (quantiles of the durations); 1 sorts the whole
            set into one run of batches.
        shuffle: shuffle within the buckets and the order of the batches (each epoch anew);
            False gives the length-sorted batches in order.
        seed: seed of the shuffles; epoch ``e`` draws from ``default_rng([seed, e])``.
        max_clips: at most this many clips in a batch (None: no limit).

    Raises:
        ValueError: naming the argument, for a value outside its range or a duration that is
            not finite and > 0.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_seconds: float,
        *,
        num_buckets: int = 8,
        shuffle: bool = True,
        seed: int = 0,
        max_clips: int | None = None,
    ) -> None:
        durations = np.asarray(durations, dtype=np.float64)
        if durations.ndim != 1 or durations.size == 0:
            raise ValueError(
                f"durations must be a non-empty (clips,) sequence, got {durations.shape}"
            )
        bad = np.flatnonzero(~(np.isfinite(durations) & (durations > 0)))
        if bad.size:
            raise ValueError(
                f"durations[{bad[0]}] is {durations[bad[0]]}: every clip needs a finite "
                "duration > 0 s"
            )
        self.durations = durations
        self.max_seconds = check_real(max_seconds, "max_seconds", above=0.0, unit="s")
        self.num_buckets = check_integer(num_buckets, "num_buckets", minimum=1)
        self.shuffle = check_flag(shuffle, "shuffle")
        self.seed = check_seed(seed, allow_none=False)
        self.max_clips = check_integer(max_clips, "max_clips", minimum=1, allow_none=True)
        order = np.argsort(durations, kind="stable")
        self.buckets = [
            bucket
            for bucket in np.array_split(order, min(self.num_buckets, order.size))
            if bucket.size
        ]
        # Clips per batch in each bucket: as many as fit at its longest clip (at least one).
        self.bucket_batch_sizes = [
            max(
                1,
                min(
                    int(self.max_seconds // float(durations[bucket].max())),
                    self.max_clips or bucket.size,
                ),
            )
            for bucket in self.buckets
        ]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of `epoch` (the Trainer calls this at the start of each)."""
        self.epoch = check_integer(epoch, "epoch", minimum=0)

    def batches(self) -> list[list[int]]:
        """This epoch's batches (lists of dataset indices), in the order they are given.

        Each bucket holds clips of similar length; its batches take as many clips as fit
        `max_seconds` at the bucket's longest clip (and `max_clips`), so every epoch has the
        same number of batches (what Trainer plans its schedule and resumes by) while the clips
        that share a batch are drawn anew.
        """
        generator = np.random.default_rng([self.seed, self.epoch])
        batches: list[list[int]] = []
        for bucket, size in zip(self.buckets, self.bucket_batch_sizes, strict=True):
            rows = (generator.permutation(bucket) if self.shuffle else bucket).tolist()
            batches.extend(rows[start : start + size] for start in range(0, len(rows), size))
        if self.shuffle:
            order = generator.permutation(len(batches))
            batches = [batches[index] for index in order]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())
