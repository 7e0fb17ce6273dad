"""`EnergyAdaptiveMixupMap`: EAM as a ``datasets.Dataset.map(batched=True)`` function, for
offline augmentation. The math is `eam_ser.mixup.core`, the batch step the collator's."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from eam_ser.data.audio import check_sampling_rate, load_audio
from eam_ser.data.collator import check_num_labels, parse_label
from eam_ser.mixup.core import mix_batch
from eam_ser.mixup.settings import (
    EnergyAdaptiveMixupSettings,
    resolve_settings,
    with_setting_attributes,
)
from eam_ser.models.flam.arguments import check_seed
from eam_ser.models.flam.featurize import SAMPLING_RATE

__all__ = ["EnergyAdaptiveMixupMap"]


@with_setting_attributes
class EnergyAdaptiveMixupMap:
    """``datasets.Dataset.map(batched=True)`` function writing mixed audio and soft labels.

    Partners are drawn within each map batch (as in the collator). Adds the columns
    ``mixed_audio`` (float32 arrays at `sampling_rate`, same length as the source clip) and
    ``soft_labels`` (num_labels floats, the soft labels; the name of the FLAM forward argument
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

    Args: as `eam_ser.mixup.collator.EnergyAdaptiveMixupCollator` (`settings` or keyword
    overrides of its fields, `sampling_rate`, the columns, `label2id`), without the feature
    extractor and normalization; `seed` is a non-negative int (default 0) or None (fresh
    entropy, kept in ``seed``).
    """

    def __init__(
        self,
        num_labels: int,
        *,
        settings: EnergyAdaptiveMixupSettings | None = None,
        sampling_rate: int = SAMPLING_RATE,
        audio_column: str = "audio",
        label_column: str = "label",
        label2id: Mapping[str, int] | None = None,
        seed: int | None = 0,
        **overrides: Any,
    ) -> None:
        self.num_labels = check_num_labels(num_labels)
        self.settings = resolve_settings(settings, **overrides)
        self.sampling_rate = check_sampling_rate(sampling_rate)
        self.audio_column = audio_column
        self.label_column = label_column
        self.label2id = dict(label2id) if label2id is not None else None
        seed = check_seed(seed)
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else seed
        self.generator = np.random.default_rng(self.seed)
        self._creator_pid = os.getpid()

    def __call__(
        self, batch: Mapping[str, Sequence[Any]], indices: Sequence[int] | None = None
    ) -> dict[str, list[np.ndarray]]:
        """Mix one batch (columns -> lists); returns ``{"mixed_audio", "soft_labels"}`` lists.

        Raises:
            ValueError: called without `indices` in another process than the one that built
                this function (a ``num_proc > 1`` shard), where it would repeat the draws of
                every other shard; a missing column, or columns (and `indices`) of different
                lengths.
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
        size = len(batch[self.audio_column])
        lengths = {
            "labels" if label_column == "labels" else self.label_column: len(batch[label_column]),
            **({"indices": len(indices)} if indices is not None else {}),
        }
        for name, length in lengths.items():
            if length != size:
                raise ValueError(
                    f"batch: {length} {name} for {size} rows of {self.audio_column!r}; every "
                    "column of a batch needs one value per row"
                )
        if size == 0:  # datasets.map may hand over an empty batch
            return {"mixed_audio": [], "soft_labels": []}
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
                parse_label(value, f"{name} {label_column!r}", self.num_labels, self.label2id)
                for value, name in zip(batch[label_column], names, strict=True)
            ],
            np.int64,
        )
        generator = self.generator if indices is None else np.random.default_rng([self.seed, first])
        mixed = mix_batch(waveforms, labels, generator, self.settings, self.num_labels)
        return {
            "mixed_audio": [
                mixed.buffer[row, :length].copy() for row, length in enumerate(mixed.lengths)
            ],
            "soft_labels": list(mixed.soft_labels),
        }
