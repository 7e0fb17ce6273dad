"""The class balance of a training set: the label of each sample, focal alpha by inverse class
frequency (`focal_alpha="inverse_frequency"`) and the class-balanced sampler
(`balanced_sampling`), the two options of `MultiLossTrainer` that read the training data."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any

import torch

from eam_ser.models.flam.losses import inverse_frequency_from_counts, inverse_frequency_weights

__all__ = ["balanced_sampler", "dataset_labels", "inverse_frequency_alpha"]


def inverse_frequency_alpha(
    config: Any,
    dataset: Any,
    collator: Any = None,
    *,
    label_counts: Sequence[int] | None = None,
    label_count_samples: int | None = None,
) -> list[float]:
    """Focal alpha `N / (num_labels * n_k)` (`focal_alpha="inverse_frequency"`), from
    `label_counts` (one per class), else the training `dataset` when it has a length, else its
    first `label_count_samples` samples.

    Args:
        config: the model config (`num_labels`, `label2id` for string labels).
        dataset: the training set (`datasets.Dataset`, a list of dicts, an iterable...).
        collator: its collator, whose `label_column` is looked for first (see
            `dataset_labels`).
        label_counts / label_count_samples: see `MultiLossTrainingArguments`.

    Raises:
        ValueError: the counts cannot be had, or do not hold one per class.
    """
    num_labels = config.num_labels
    if label_counts is not None:
        if len(label_counts) != num_labels:
            raise ValueError(
                f"label_counts has {len(label_counts)} counts for {num_labels} "
                "classes; give one per class"
            )
        return inverse_frequency_from_counts(label_counts)
    if dataset is None:
        raise ValueError('focal_alpha="inverse_frequency" needs a train_dataset or label_counts')
    has_length = hasattr(dataset, "__len__")
    if not has_length and label_count_samples is None:
        raise ValueError(
            f'focal_alpha="inverse_frequency": the train_dataset ({type(dataset).__name__}) '
            "has no length, so its class counts are unknown; pass label_counts (one count "
            "per class) or label_count_samples=N to count the classes of its first N samples"
        )
    limit = None if has_length else label_count_samples
    label2id = getattr(config, "label2id", None) or {}
    labels = [
        label2id[label] if isinstance(label, str) else int(label)
        for label in dataset_labels(dataset, collator, limit)
    ]
    return inverse_frequency_weights(labels, num_labels)


def dataset_labels(dataset: Any, collator: Any, limit: int | None = None) -> list:
    """The label of every training sample (or of the first `limit`): a `datasets` column read
    directly, else item by item (iterating when the dataset cannot be indexed).

    Looks for the collator's `label_column`, then "labels", then "label".
    """
    candidates = [getattr(collator, "label_column", None), "labels", "label"]
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:
        for name in candidates:
            if name in column_names:
                if limit is None:
                    return list(dataset[name])
                return [item[name] for item in islice(dataset, limit)]
        raise ValueError(f"train_dataset has no label column among {candidates[1:]}")
    items = (
        (dataset[index] for index in range(len(dataset)))
        if limit is None
        else islice(dataset, limit)
    )
    labels = []
    for index, item in enumerate(items):
        name = next((n for n in candidates if n is not None and n in item), None)
        if name is None:
            raise ValueError(f"train_dataset item {index} has no label key among {candidates[1:]}")
        labels.append(item[name])
    return labels


def balanced_sampler(dataset: Any, seed: int) -> torch.utils.data.WeightedRandomSampler:
    """Draws with replacement, each sample with weight 1 / (count of its class); an epoch
    keeps the dataset's length. `dataset` needs a 'label' or 'labels' column."""
    column = next(
        (
            name
            for name in ("label", "labels")
            if name in (getattr(dataset, "column_names", None) or ())
        ),
        None,
    )
    if column is None:
        raise ValueError(
            "balanced_sampling needs a training dataset with a 'label' or 'labels' column; "
            f"got {type(dataset).__name__} with columns "
            f"{getattr(dataset, 'column_names', None)}"
        )
    labels = torch.as_tensor(dataset[column], dtype=torch.long)
    counts = torch.bincount(labels)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.WeightedRandomSampler(
        (1.0 / counts[labels]).double(), len(labels), replacement=True, generator=generator
    )
