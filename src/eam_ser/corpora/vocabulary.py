"""One emotion vocabulary across the supported corpora, for testing a model on a corpus it was
not trained on (``eam-ser evaluate MODEL --corpus X`` with another label set).

The loaders already name the shared emotions alike (CREMA-D ``FEA``, RAVDESS ``fearful`` and
TESS ``fear`` are all ``fearful``), so the vocabulary is their union:

- shared by all 7 corpora or most of them: ``angry``, ``happy``, ``sad``, ``neutral`` (all 7);
  ``disgust``, ``fearful`` (all but IEMOCAP and MSP-IMPROV); ``surprised`` (RAVDESS, SAVEE,
  and TESS's ``pleasant_surprise``, mapped to it by `CROSS_CORPUS_MAP`);
- kept by one corpus each and never mapped onto another emotion: ``boredom`` (EmoDB) and
  ``calm`` (RAVDESS, which distinguishes it from neutral). A model without such a class cannot
  predict it, so its utterances are left out of the test and named.

A label of the data that the model does not have (after `CROSS_CORPUS_MAP` and the user's
``--label-map``) is dropped with its utterance count; a class of the model that the data lacks
has no recall and is left out of UA (`eam_ser.evaluation.metrics`). Neither is counted as an error.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from datasets import ClassLabel

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = [
    "CROSS_CORPUS_MAP",
    "HARMONISED_LABELS",
    "harmonise_labels",
    "label_key",
    "parse_label_map",
]

HARMONISED_LABELS = (
    "angry",
    "boredom",
    "calm",
    "disgust",
    "fearful",
    "happy",
    "neutral",
    "sad",
    "surprised",
)
"""Every label the 7 corpus loaders give, after `CROSS_CORPUS_MAP`."""

CROSS_CORPUS_MAP = {"pleasant_surprise": "surprised"}
"""Corpus labels renamed to the shared vocabulary when a model is tested across corpora."""


def label_key(name: str) -> str:
    """How two label names are compared everywhere (the data check, training, evaluation and
    label maps): Unicode NFC, runs of spaces as one, case folded. ``wütend`` written with a
    combining umlaut, ``Angry`` and ``angry `` are each one label written two ways."""
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()


def parse_label_map(text: str) -> dict[str, str | None]:
    """``"calm=neutral,boredom="`` as ``{"calm": "neutral", "boredom": None}`` (an empty
    right side drops the label).

    Raises:
        ValueError: an item without ``=``, without a label on its left, or a label mapped twice
            to different targets (compared by `label_key`).
    """
    mapping: dict[str, str | None] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, equals, target = item.partition("=")
        if not equals or not source.strip():
            raise ValueError(f"label_map: {item!r} is not DATA_LABEL=MODEL_LABEL")
        source, target = source.strip(), target.strip() or None
        earlier = next((name for name in mapping if label_key(name) == label_key(source)), None)
        if earlier is not None and mapping[earlier] != target:
            raise ValueError(
                f"label_map: {source!r} is mapped twice, to {mapping[earlier]!r} and {target!r}"
            )
        mapping[source] = target
    return mapping


def harmonise_labels(
    dataset: Dataset,
    model_labels: Sequence[str],
    label_map: Mapping[str, str | None] | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """`dataset` with its labels renamed to `model_labels` and the rest left out.

    Each data label goes through `label_map` (the user's, taking precedence), else
    `CROSS_CORPUS_MAP`, else becomes the model label with the same `label_key` (``Angry`` ->
    ``angry``), else stays; a result the model does not have, or None, drops the label's
    utterances. Labels are compared by `label_key` throughout.

    Returns:
        the dataset (its ``label`` ClassLabel over `model_labels`) and ``{"renamed": {data
        label: model label}, "dropped": {data label: utterances}, "absent": [model labels the
        data lacks]}``.

    Raises:
        ValueError: `label_map` names a label the data does not have, or maps onto one the
            model does not have; or no utterance is left.
    """
    names = list(dataset.features["label"].names)
    model_by_key = {label_key(label): label for label in model_labels}
    data_by_key = {label_key(name): name for name in names}
    mapped = {label_key(source): target for source, target in (label_map or {}).items()}
    unknown = sorted(source for source in label_map or {} if label_key(source) not in data_by_key)
    if unknown:
        raise ValueError(f"label_map: {unknown} are not labels of the data {names}")
    bad = sorted({t for t in mapped.values() if t is not None and label_key(t) not in model_by_key})
    if bad:
        raise ValueError(f"label_map: {bad} are not labels of the model {list(model_labels)}")

    cross_corpus = {label_key(source): target for source, target in CROSS_CORPUS_MAP.items()}

    def target_of(name: str) -> str | None:
        if label_key(name) in mapped:
            chosen = mapped[label_key(name)]
            return None if chosen is None else model_by_key[label_key(chosen)]
        renamed = cross_corpus.get(label_key(name), name)
        return model_by_key.get(label_key(renamed), renamed)

    target = {name: target_of(name) for name in names}
    column = list(dataset["label"])
    counts = Counter(names[label] for label in column)
    dropped = {
        name: counts[name]
        for name in names
        if counts[name] and (target[name] is None or target[name] not in model_labels)
    }
    kept = [row for row, label in enumerate(column) if names[label] not in dropped]
    if not kept:
        raise ValueError(
            f"labels {sorted(dropped)} are not among the model's labels {list(model_labels)}: "
            "no utterance is left to test; map them with label_map DATA_LABEL=MODEL_LABEL"
        )
    index = {name: i for i, name in enumerate(model_labels)}
    labels = [index[target[names[column[row]]]] for row in kept]
    harmonised = (
        dataset.select(kept)
        .remove_columns("label")
        .add_column("label", labels)
        .cast_column("label", ClassLabel(names=list(model_labels)))
    )
    present = {target[name] for name in names if counts[name] and name not in dropped}
    return harmonised, {
        "renamed": {n: t for n, t in target.items() if t != n and n not in dropped},
        "dropped": dropped,
        "absent": [label for label in model_labels if label not in present],
    }
