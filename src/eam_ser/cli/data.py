"""What every data-reading command shares: the data flags (``--data`` or ``--corpus
--root [--protocol]``, the held-out split), loading them, the lines saying how a test set's
labels were matched to the model's and the data check before any work."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eam_ser.corpora import CORPORA
from eam_ser.data.check import ON_BAD_AUDIO

if TYPE_CHECKING:
    from datasets import Dataset


__all__ = [
    "add_bad_audio_argument",
    "add_data_arguments",
    "add_label_map_argument",
    "label_report_lines",
    "load_dataset_from_args",
    "split_from_args",
    "warn_of_seen_speakers",
]


def add_data_arguments(
    parser: argparse.ArgumentParser, *, split_required: bool, split: bool = True
) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", type=Path, help="CSV manifest, folder with manifest.csv, or audiofolder"
    )
    source.add_argument(
        "--corpus", choices=sorted(CORPORA), help="corpus in its official layout (with --root)"
    )
    parser.add_argument("--root", type=Path, help="folder of the corpus given with --corpus")
    parser.add_argument("--protocol", help="corpus protocol, e.g. emodb: loso or speaker_pairs")
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="text encoding of a CSV manifest (default utf-8, with or without BOM; e.g. latin-1)",
    )
    if not split:
        return
    group = parser.add_mutually_exclusive_group(required=split_required)
    group.add_argument("--test-speakers", nargs="+", metavar="SPEAKER", help="held-out speaker ids")
    group.add_argument("--test-fold", type=int, metavar="K", help="held-out fold of the protocol")
    if split_required:
        group.add_argument("--cv", action="store_true", help="cross-validate over every fold")
        group.add_argument(
            "--test-corpus",
            choices=sorted(CORPORA),
            help="train on all of the data and test on this corpus (with --test-root), its "
            "labels harmonised to the training labels (eam_ser.corpora.vocabulary)",
        )
        parser.add_argument("--test-root", type=Path, help="folder of the --test-corpus")
        add_label_map_argument(parser, "with --test-corpus: ")


_DATA_CHECK_BAD_AUDIO_HELP = (
    "files the data check finds unusable (unreadable, empty, NaN, silent, too short): "
    "stop before any work (error, default) or leave them out and list them (skip)"
)


def add_label_map_argument(parser: argparse.ArgumentParser, condition: str = "") -> None:
    """``--label-map A=B,...`` (`eam_ser.corpora.vocabulary.parse_label_map`); `condition`
    starts its help (e.g. when the flag applies)."""
    parser.add_argument(
        "--label-map",
        metavar="A=B,...",
        help=f"{condition}test on data with other labels: rename data label A to the model's B "
        "(A= drops it); labels the model does not have are left out and named, never counted "
        "as errors (see eam_ser.corpora.vocabulary)",
    )


def add_bad_audio_argument(
    parser: argparse.ArgumentParser, help_text: str = _DATA_CHECK_BAD_AUDIO_HELP
) -> None:
    """``--on-bad-audio`` (`ON_BAD_AUDIO`, default error); `help_text` says what the command
    does with a bad file (default: the data check's policy, before any work)."""
    parser.add_argument("--on-bad-audio", choices=ON_BAD_AUDIO, default="error", help=help_text)


def load_dataset_from_args(args: argparse.Namespace) -> Dataset:
    """The corpus Dataset named by ``--data`` or ``--corpus/--root [--protocol]``."""
    from eam_ser.corpora import load_corpus, load_local

    if args.data is not None:
        if args.protocol is not None:
            raise ValueError("--protocol applies to --corpus, not to --data")
        return load_local(args.data, encoding=args.encoding)
    if args.root is None:
        raise ValueError(f"--corpus {args.corpus} needs --root, the folder of the corpus")
    kwargs = {"protocol": args.protocol} if args.protocol is not None else {}
    return load_corpus(args.corpus, args.root, **kwargs)


def label_report_lines(vocabulary: Mapping[str, Any], source: str | None = None) -> list[str]:
    """How `eam_ser.corpora.vocabulary.harmonise_labels` matched a test set's labels to the
    model's, one line each: every label left out with its utterance count, the labels
    renamed, and the model's classes the data lacks; each line prefixed with `source` (the
    test corpus) when given. The one wording of ``eam-ser evaluate`` and ``train
    --test-corpus``.

    Args:
        vocabulary: `harmonise_labels`' report, ``{"dropped", "renamed", "absent"}``.
    """
    prefix = f"{source}: " if source else ""
    lines = [
        f"{prefix}left out: {count} utterance{'' if count == 1 else 's'} labelled {name!r} "
        "(a class the model does not have)"
        for name, count in vocabulary["dropped"].items()
    ]
    if vocabulary["renamed"]:
        renamed = ", ".join(f"{a} -> {b}" for a, b in vocabulary["renamed"].items())
        lines.append(f"{prefix}labels renamed: {renamed}")
    if vocabulary["absent"]:
        lines.append(
            f"{prefix}classes of the model the data lacks (no recall, out of UA): "
            f"{vocabulary['absent']}"
        )
    return lines


def warn_of_seen_speakers(trained_on: Collection[str], dataset: Dataset) -> dict[str, int]:
    """Speakers of `dataset` among `trained_on`, with their utterance counts, printed as a
    warning: their scores are not speaker-independent and inflate the result. The one
    warning of `eam-ser evaluate` and `eam-ser train --test-corpus`."""
    trained_on = set(trained_on)
    counts = Counter(str(speaker) for speaker in dataset["speaker"])
    seen = {speaker: counts[speaker] for speaker in sorted(counts) if speaker in trained_on}
    if seen:
        listed = ", ".join(f"{speaker} ({count})" for speaker, count in seen.items())
        print(
            f"warning: the model was trained on speakers of this data: {listed} utterances; "
            "the score is not speaker-independent (--test-speakers / --test-fold keep to "
            "unseen speakers)",
            file=sys.stderr,
        )
    return seen


def split_from_args(dataset: Dataset, args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    """(train, test) from ``--test-speakers``, ``--test-fold`` or ``--test-corpus``.

    With ``--test-corpus`` all of `dataset` trains; the test corpus is loaded, its labels
    harmonised to the training labels (``--label-map`` first; labels the training data lacks
    are left out and named) and its speakers prefixed with the corpus name, so that no
    speaker id of one corpus is taken for one of the other."""
    from eam_ser.corpora import (
        label_names,
        load_corpus,
        train_test_split_by_fold,
        train_test_split_by_speakers,
    )

    if getattr(args, "test_corpus", None):
        from eam_ser.corpora.vocabulary import harmonise_labels, parse_label_map

        test, vocabulary = harmonise_labels(
            load_corpus(args.test_corpus, args.test_root),
            label_names(dataset),
            parse_label_map(args.label_map or ""),
        )
        for line in label_report_lines(vocabulary, source=args.test_corpus):
            print(line)
        if args.test_corpus == getattr(args, "corpus", None):
            # One corpus, one speaker namespace: a test folder holding training speakers is the
            # leak `eam-ser evaluate` warns of, and is warned of alike.
            warn_of_seen_speakers({str(speaker) for speaker in dataset["speaker"]}, test)
            return dataset, test
        prefix = f"{args.test_corpus}/"
        speakers = [prefix + str(speaker) for speaker in test["speaker"]]
        return dataset, test.remove_columns("speaker").add_column("speaker", speakers)
    if args.test_speakers:
        return train_test_split_by_speakers(dataset, args.test_speakers)
    return train_test_split_by_fold(dataset, args.test_fold)
