"""``eam-ser compare A B``: two evaluations of the same test data, B minus A, with a paired
speaker-bootstrap interval (`eam_ser.evaluation.report.paired_speaker_bootstrap`).

An evaluation is a file of ``eam-ser evaluate --output`` (its ``"utterances"``) or the
results.json of ``eam-ser train`` (the ``"utterances"`` of all its folds, pooled: a run's
folds test disjoint speakers, so each utterance is in one fold)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from eam_ser.cli.options import seed
from eam_ser.cli.output import add_output_argument

__all__ = ["add_parser", "command_compare", "paired_predictions"]


def add_parser(commands: Any) -> None:
    """The ``compare`` subcommand."""
    compare = commands.add_parser(
        "compare",
        help="B minus A on the same test data, with a paired interval over speakers",
        description="Compare two evaluations of the same utterances, files written by "
        "`eam-ser evaluate --output` or the results.json of two `eam-ser train` runs (all "
        "their folds pooled): each score of B minus A, with a 95 % interval from resampling "
        "the test speakers (both models on the same resamples).",
    )
    compare.add_argument(
        "a", type=Path, metavar="A.json", help="the baseline evaluation (or results.json)"
    )
    compare.add_argument("b", type=Path, metavar="B.json", help="the evaluation compared to it")
    compare.add_argument("--seed", type=seed, default=0, help="seed of the bootstrap (0)")
    add_output_argument(compare, "--output", kind="file", help="write the comparison as JSON")


UTTERANCE_KEYS = ("file", "speaker", "reference", "prediction")
"""The keys of each per-utterance row an evaluation file holds."""


def _utterances(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The per-utterance predictions of an evaluation file or of a training run's results.json
    (every fold's, in fold order), and how many folds they pool (1 for an evaluation file).

    Raises:
        ValueError: naming `path`, when it is not JSON or holds no per-utterance predictions
            (or a fold without them: results of an earlier eam-ser), or a row that lacks a key
            of `UTTERANCE_KEYS` or names a class the file's model does not have.
    """
    rows, folds, classes = _read_utterances(path)
    for number, row in enumerate(rows):
        missing = [key for key in UTTERANCE_KEYS if not isinstance(row, dict) or key not in row]
        if missing:
            raise ValueError(f"{path}: utterance {number} has no {', '.join(missing)}")
        for key in ("reference", "prediction"):
            if classes is not None and row[key] not in classes:
                raise ValueError(
                    f"{path}: utterance {number} ({row['file']}) has {key} {row[key]!r}, not one "
                    f"of the model's classes {sorted(classes)}"
                )
    return rows, folds


def _read_utterances(path: Path) -> tuple[list[Any], int, set[str] | None]:
    """`_utterances` before its row checks, with the file's classes (its ``label_names`` or
    the keys of its per-class ``recall``; None when it names none)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValueError as error:
        raise ValueError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(record, dict):
        record = {}
    if "utterances" not in record and record.get("folds"):
        folds = record["folds"]
        bare = [fold.get("fold") for fold in folds if not fold.get("utterances")]
        if bare:
            named = (
                f"folds {', '.join(map(str, bare))} hold"
                if bare != [None]
                else "its held-out speakers' record holds"
            )
            raise ValueError(
                f"{path}: {named} no per-utterance predictions (a run of an earlier eam-ser, "
                "which did not keep them): train it again to compare it"
            )
        return [row for fold in folds for row in fold["utterances"]], len(folds), _classes(record)
    utterances = record.get("utterances")
    if not utterances:
        raise ValueError(
            f"{path}: no per-utterance predictions; write it with eam-ser evaluate --output "
            "(or compare the results.json of two eam-ser train runs)"
        )
    return utterances, 1, _classes(record)


def _classes(record: dict[str, Any]) -> set[str] | None:
    names = record.get("label_names") or record.get("recall")
    return set(names) if isinstance(names, (list, dict)) and names else None


def paired_predictions(
    a: list[dict[str, Any]], b: list[dict[str, Any]], names: tuple[str, str]
) -> tuple[list[int], list[int], list[int], list[str], list[str]]:
    """(predictions A, predictions B, references, speakers, labels) with the utterances of `b`
    put in the order of `a` (matched by file).

    Raises:
        ValueError: the two files do not hold the same utterances with the same labels and
            speakers, naming the first difference.
    """
    by_file = {row["file"]: row for row in b}
    missing = [row["file"] for row in a if row["file"] not in by_file]
    extra = sorted(set(by_file) - {row["file"] for row in a})
    twice = len(by_file) != len(b) or len({row["file"] for row in a}) != len(a)
    if missing or extra or twice:
        first = (missing or extra or ["a file listed twice"])[0]
        raise ValueError(
            f"{names[0]} and {names[1]} were not evaluated on the same utterances "
            f"(first difference: {first}); evaluate both on the same data and split"
        )
    labels = sorted({row[key] for row in [*a, *b] for key in ("reference", "prediction")})
    index = {label: i for i, label in enumerate(labels)}
    for row in a:
        other = by_file[row["file"]]
        if (row["reference"], row["speaker"]) != (other["reference"], other["speaker"]):
            raise ValueError(
                f"{row['file']}: label or speaker differs between {names[0]} and {names[1]}"
            )
    without = sum(row["speaker"] is None for row in a)
    if without:
        raise ValueError(
            f"{names[0]}: {without} of {len(a)} utterances have no speaker, and the interval "
            "resamples speakers: compare data whose every utterance names its speaker"
        )
    return (
        [index[row["prediction"]] for row in a],
        [index[by_file[row["file"]]["prediction"]] for row in a],
        [index[row["reference"]] for row in a],
        [str(row["speaker"]) for row in a],
        labels,
    )


def command_compare(args: argparse.Namespace) -> int:
    from eam_ser.evaluation.metrics import SCORE_NAMES
    from eam_ser.evaluation.report import BOOTSTRAP_RESAMPLES, paired_speaker_bootstrap

    names = (str(args.a), str(args.b))
    (rows_a, folds_a), (rows_b, folds_b) = _utterances(args.a), _utterances(args.b)
    predictions_a, predictions_b, references, speakers, labels = paired_predictions(
        rows_a, rows_b, names
    )
    result = paired_speaker_bootstrap(
        predictions_a, predictions_b, references, speakers, len(labels), seed=args.seed
    )
    print(
        f"B ({args.b}) minus A ({args.a}) on {len(references)} utterances of "
        f"{len(set(speakers))} speakers, 95 % interval from {BOOTSTRAP_RESAMPLES} paired "
        "resamples of the speakers:"
    )
    if max(folds_a, folds_b) > 1:
        print(
            "  (the folds' utterances pooled: each score is over all of them, not the mean of "
            "the folds' scores that results.json reports)"
        )
    for key, row in result.items():
        low, high = row["interval"]
        print(
            f"  {SCORE_NAMES[key]:8s} A {100 * row['a']:.1f} %  B {100 * row['b']:.1f} %  "
            f"B - A {100 * row['difference']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] points"
        )
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0
