"""Offline EAM: a corpus mixed once and written to disk, each mix a FLAC file with its soft
label in ``soft_labels.csv`` (what ``eam-ser augment`` writes)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasets import Dataset

    from eam_ser.mixup.map import EnergyAdaptiveMixupMap

__all__ = ["SOFT_LABELS_FILE", "augmented_file_names", "write_mixed_corpus"]

SOFT_LABELS_FILE = "soft_labels.csv"
"""Written beside the mixes: ``file, source, label`` and one soft-label column per class."""


def write_mixed_corpus(
    dataset: Dataset,
    labels: Sequence[str],
    mixer: EnergyAdaptiveMixupMap,
    output: Path,
    *,
    batch_size: int,
) -> int:
    """Mix `dataset` (an ``audio`` column of file paths, a ``label`` column of class
    indices) with `mixer`, partners drawn within batches of `batch_size`, and write every row
    to `output` under `augmented_file_names` with its soft label in `SOFT_LABELS_FILE`.

    Returns:
        the number of FLAC files written.
    """
    import soundfile as sf

    mixed = dataset.map(mixer, batched=True, batch_size=batch_size, with_indices=True)
    names = augmented_file_names([Path(path) for path in dataset["audio"]])
    output.mkdir(parents=True, exist_ok=True)
    with (output / SOFT_LABELS_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source", "label", *labels])
        for row, name in zip(mixed, names, strict=True):
            (output / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(
                output / name, np.asarray(row["mixed_audio"], dtype=np.float32), mixer.sampling_rate
            )
            writer.writerow(
                [
                    name,
                    str(Path(row["audio"])),
                    labels[row["label"]],
                    *(f"{value:.4f}" for value in row["soft_labels"]),
                ]
            )
    return sum(1 for name in names if (output / name).is_file())


def augmented_file_names(sources: Sequence[Path]) -> list[str]:
    """One distinct output name per source file: its path below the sources' common folder,
    with ``_eam.flac`` for the extension (``angry/a.wav`` -> ``angry/a_eam.flac``), so files
    that share a name in label or speaker folders never overwrite each other. Sources that
    differ only by extension keep it in the name (``a_wav_eam.flac``, ``a_flac_eam.flac``)."""
    resolved = [source.resolve() for source in sources]
    root = Path(os.path.commonpath([source.parent for source in resolved])) if resolved else None
    relative = [source.relative_to(root) for source in resolved]
    stems = Counter(path.with_suffix("") for path in relative)
    return [
        str(
            path.with_name(
                f"{path.stem}_{path.suffix.lstrip('.').lower()}_eam.flac"
                if stems[path.with_suffix("")] > 1
                else f"{path.stem}_eam.flac"
            )
        )
        for path in relative
    ]
