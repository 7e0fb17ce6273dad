"""What a deployer reads beside the headline score: results per group, and how sure the score is.

- `group_scores`: WA, UA and macro-F1 per group (gender, speaker, ...), the gap between the
  best and the worst group and the worst group by name.
- `speaker_bootstrap`: a confidence interval for WA, UA and macro-F1 by resampling *speakers*
  with replacement (the utterances of one speaker are not independent draws, so resampling
  utterances would give intervals that are too narrow).
- `paired_speaker_bootstrap`: the difference between two models' scores on the same test
  utterances, with its interval from the same speaker resamples.

Calibration (is a score of 0.9 right 90 % of the time?) is `eam_ser.evaluation.calibration`.

Scores follow `eam_ser.evaluation.metrics.ser_metrics`: UA is the mean recall over the classes present in
the references, macro-F1 the mean F1 over the classes present in references or predictions.
Numpy only (`grouping_columns` reads the loaders' missing-value marker from
`eam_ser.corpora.base`, imported when it is called); a bootstrap of 1000 resamples over a few
thousand utterances takes well under a second (one confusion matrix per resample by
`np.bincount`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eam_ser.evaluation.metrics import SCORE_NAMES, SCORES
from eam_ser.models.flam.arguments import check_integer, check_real, check_seed

__all__ = [
    "BOOTSTRAP_CONFIDENCE",
    "BOOTSTRAP_RESAMPLES",
    "GROUPING_COLUMNS",
    "INTERVAL_NOTE",
    "MOST_GROUPS_LISTED",
    "SpeakerBootstrap",
    "format_interval",
    "format_scores",
    "group_scores",
    "grouping_columns",
    "listed_groups",
    "paired_speaker_bootstrap",
    "report_lines",
    "scores_from_confusion",
    "speaker_bootstrap",
]

BOOTSTRAP_RESAMPLES = 1000
"""Speaker resamples per interval."""
BOOTSTRAP_CONFIDENCE = 0.95
"""Coverage of the percentile intervals."""
GROUPING_COLUMNS = ("gender", "speaker")
"""The data columns whose groups every evaluation scores, in the order reports show them."""
MOST_GROUPS_LISTED = 4
"""Past this many groups (speakers, mostly) a report lists only the worst and the best."""
INTERVAL_NOTE = (
    f"in brackets: {100 * BOOTSTRAP_CONFIDENCE:g} % interval from {BOOTSTRAP_RESAMPLES} "
    "resamples of the test speakers"
)
"""What the brackets beside a score are, in every report."""


def scores_from_confusion(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """WA, UA and macro-F1 of confusion matrices (references on rows, predictions on columns).

    Args:
        matrices: (..., num_labels, num_labels) counts.

    Returns:
        ``{"wa", "ua", "macro_f1"}``, each of shape ``matrices.shape[:-2]`` (float64).
    """
    matrices = np.asarray(matrices, dtype=np.float64)
    correct = np.diagonal(matrices, axis1=-2, axis2=-1)
    reference_counts = matrices.sum(axis=-1)
    predicted_counts = matrices.sum(axis=-2)
    present = reference_counts > 0
    seen = present | (predicted_counts > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, correct / reference_counts, 0.0)
        f1 = np.where(seen, 2 * correct / (reference_counts + predicted_counts), 0.0)
        return {
            "wa": correct.sum(axis=-1) / matrices.sum(axis=(-2, -1)),
            "ua": recall.sum(axis=-1) / present.sum(axis=-1),
            "macro_f1": f1.sum(axis=-1) / seen.sum(axis=-1),
        }


def _checked(
    predictions: Any, references: Any, keys: Any, num_labels: int, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    predictions = np.asarray(predictions, dtype=np.int64).reshape(-1)
    references = np.asarray(references, dtype=np.int64).reshape(-1)
    keys = np.asarray([str(key) for key in keys])
    if not predictions.size == references.size == keys.size:
        raise ValueError(
            f"predictions ({predictions.size}), references ({references.size}) and {what} "
            f"({keys.size}) must have one entry per utterance"
        )
    if predictions.size == 0:
        raise ValueError("no utterances: no score can be computed")
    for name, array in (("predictions", predictions), ("references", references)):
        if array.min() < 0 or array.max() >= num_labels:
            raise ValueError(f"{name} holds a class index outside [0, {num_labels})")
    return predictions, references, keys


def _confusions(
    predictions: np.ndarray, references: np.ndarray, index: np.ndarray, num_labels: int
) -> np.ndarray:
    """(num_indices, num_labels, num_labels): one confusion matrix per value of `index`."""
    cells = (index * num_labels + references) * num_labels + predictions
    size = int(index.max()) + 1
    return np.bincount(cells, minlength=size * num_labels**2).reshape(size, num_labels, num_labels)


def group_scores(
    predictions: Any, references: Any, groups: Sequence[Any], num_labels: int
) -> dict[str, Any]:
    """WA, UA and macro-F1 of each group, the best-worst gap and the worst group.

    Args:
        predictions, references: (num_utterances,) class indices.
        groups: (num_utterances,) the group of each utterance (a gender, a speaker id...), or
            None for an utterance without one, which is left out of every group.
        num_labels: number of classes.

    Returns:
        ``{"groups": {group: {"wa", "ua", "macro_f1", "num_utterances"}}, "gap": {score: best
        minus worst}, "worst": {score: group}, "num_without_value": utterances left out}``,
        groups in sorted order; a tie for the worst names the first group in that order.

    Raises:
        ValueError: inputs of different lengths, or no utterance with a group.
    """
    predictions, references, keys = _checked(predictions, references, groups, num_labels, "groups")
    has_value = np.array([group is not None for group in groups], dtype=bool)
    if not has_value.any():
        raise ValueError("no utterance has a group: no group can be scored")
    predictions, references, keys = predictions[has_value], references[has_value], keys[has_value]
    names, index = np.unique(keys, return_inverse=True)
    scores = scores_from_confusion(_confusions(predictions, references, index, num_labels))
    counts = np.bincount(index, minlength=names.size)
    by_group = {
        str(name): {**{key: float(scores[key][i]) for key in SCORES}, "num_utterances": int(n)}
        for i, (name, n) in enumerate(zip(names, counts, strict=True))
    }
    return {
        "groups": by_group,
        "gap": {key: float(scores[key].max() - scores[key].min()) for key in SCORES},
        "worst": {key: str(names[int(np.argmin(scores[key]))]) for key in SCORES},
        "num_without_value": int(has_value.size - has_value.sum()),
    }


def _resampled_scores(
    predictions: np.ndarray,
    references: np.ndarray,
    speakers: np.ndarray,
    num_labels: int,
    draws: np.ndarray,
) -> dict[str, np.ndarray]:
    """Scores of each resample: row r of `draws` (num_resamples, num_speakers) lists the
    speakers drawn, each bringing all its utterances."""
    _, speaker_index = np.unique(speakers, return_inverse=True)
    per_speaker = _confusions(predictions, references, speaker_index, num_labels)
    return scores_from_confusion(per_speaker[draws].sum(axis=1))


@dataclass(frozen=True)
class SpeakerBootstrap:
    """How a speaker bootstrap resamples, for `speaker_bootstrap` and `paired_speaker_bootstrap`
    (whose keyword arguments are these fields).

    Each resample draws as many speakers as the test set has, with replacement (generator
    ``numpy.random.default_rng(seed)``), and scores all utterances of the drawn speakers.

    Attributes:
        num_resamples: speaker resamples per interval.
        confidence: coverage of the percentile intervals, in (0, 1).
        seed: seed of the speaker draws.
    """

    num_resamples: int = BOOTSTRAP_RESAMPLES
    confidence: float = BOOTSTRAP_CONFIDENCE
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer(self.num_resamples, "num_resamples", minimum=1)
        check_real(self.confidence, "confidence", above=0.0, below=1.0)
        check_seed(self.seed, allow_none=False)

    def resample(
        self, models: Sequence[Any], references: Any, speakers: Sequence[Any], num_labels: int
    ) -> tuple[list[np.ndarray], np.ndarray, list[dict[str, np.ndarray]]]:
        """The checked predictions of each of `models` (one sequence of class indices per
        model, on the same utterances), the checked references, and each model's scores on the
        same speaker resamples (``{score: (num_resamples,)}``)."""
        checked = []
        for predictions in models:
            predictions, references, speakers = _checked(
                predictions, references, speakers, num_labels, "speakers"
            )
            checked.append(predictions)
        num_speakers = np.unique(speakers).size
        if num_speakers < 2:
            raise ValueError(
                f"a speaker bootstrap needs at least 2 test speakers, got {num_speakers}: with "
                "one speaker the score has no spread to estimate"
            )
        generator = np.random.default_rng(self.seed)
        draws = generator.integers(0, num_speakers, size=(self.num_resamples, num_speakers))
        resampled = [
            _resampled_scores(predictions, references, speakers, num_labels, draws)
            for predictions in checked
        ]
        return checked, references, resampled

    def interval(self, values: np.ndarray) -> list[float]:
        """``[low, high]``: the percentile interval of `values` at `confidence`."""
        tail = 100 * (1 - self.confidence) / 2
        low, high = np.nanpercentile(values, [tail, 100 - tail])
        return [float(low), float(high)]


def speaker_bootstrap(
    predictions: Any, references: Any, speakers: Sequence[Any], num_labels: int, **settings: Any
) -> dict[str, list[float]]:
    """Percentile confidence intervals of WA, UA and macro-F1 by resampling test speakers.

    `settings` are the fields of `SpeakerBootstrap` (``num_resamples``, ``confidence``,
    ``seed``; defaults 1000, 0.95 and 0).

    Returns:
        ``{score: [low, high]}`` for `SCORES` (fractions).

    Raises:
        ValueError: fewer than 2 speakers, or inputs of different lengths.
    """
    bootstrap = SpeakerBootstrap(**settings)
    _, _, (scores,) = bootstrap.resample([predictions], references, speakers, num_labels)
    return {key: bootstrap.interval(scores[key]) for key in SCORES}


def paired_speaker_bootstrap(
    predictions_a: Any,
    predictions_b: Any,
    references: Any,
    speakers: Sequence[Any],
    num_labels: int,
    **settings: Any,
) -> dict[str, dict[str, Any]]:
    """Score of model B minus model A on the same utterances, with a paired speaker-bootstrap
    interval (both models scored on the same resamples; `settings` as for `speaker_bootstrap`).

    Returns:
        ``{score: {"a", "b", "difference", "interval": [low, high]}}`` for `SCORES`.
    """
    bootstrap = SpeakerBootstrap(**settings)
    checked, references, (resampled_a, resampled_b) = bootstrap.resample(
        [predictions_a, predictions_b], references, speakers, num_labels
    )
    a, b = (
        scores_from_confusion(
            _confusions(predictions, references, np.zeros_like(references), num_labels)[0]
        )
        for predictions in checked
    )
    return {
        key: {
            "a": float(a[key]),
            "b": float(b[key]),
            "difference": float(b[key] - a[key]),
            "interval": bootstrap.interval(resampled_b[key] - resampled_a[key]),
        }
        for key in SCORES
    }


def format_interval(value: float, interval: Sequence[float]) -> str:
    """``"78.5 % [71.2, 84.0]"`` for a fraction and its interval."""
    return f"{100 * value:.1f} % [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def format_scores(metrics: Mapping[str, Any]) -> str:
    """The headline: WA, UA and macro-F1 of `metrics` (fractions; `evaluate_model`'s dict or
    a fold record) as percentages on one line, each with its speaker-bootstrap interval
    (`format_interval`, one decimal: the interval is wider than that) where `metrics` has
    ``"intervals"``, else with two decimals."""
    intervals = metrics.get("intervals")
    return "  ".join(
        f"{SCORE_NAMES[key]} "
        + (
            format_interval(metrics[key], intervals[key])
            if intervals
            else f"{100 * metrics[key]:.2f} %"
        )
        for key in SCORES
    )


def grouping_columns(dataset: Any) -> dict[str, list[str | None]]:
    """The grouping columns `dataset` (a `datasets.Dataset` or a dict of columns) has:
    ``gender`` and ``speaker`` where present and with a value in some row, as strings, with
    None for a row without a value (empty, None or the loaders' `MISSING_VALUE`), which
    `group_scores` leaves out."""
    from eam_ser.corpora.base import MISSING_VALUE

    names = getattr(dataset, "column_names", None) or list(dataset)
    found = {}
    for column in GROUPING_COLUMNS:
        if column not in names:
            continue
        values = [
            None if str(value) in ("", "None", MISSING_VALUE) else str(value)
            for value in dataset[column]
        ]
        if any(value is not None for value in values):
            found[column] = values
    return found


def report_lines(metrics: Mapping[str, Any]) -> list[str]:
    """What the intervals on the headline (`format_scores`) are, then the calibration,
    abstention and per-group lines of an evaluation (`evaluate_model`'s dict), as ``eam-ser
    evaluate`` prints them under the headline."""
    lines = []
    if metrics.get("intervals"):
        lines.append(INTERVAL_NOTE)
    if metrics.get("calibration"):
        lines.append(_calibration_line(metrics["calibration"], "calibration"))
        if metrics.get("calibration_before_scaling"):
            temperature = metrics.get("score_temperature", 1.0)
            lines.append(
                _calibration_line(
                    metrics["calibration_before_scaling"],
                    f"before temperature scaling (T = {temperature:.3f} fitted on validation "
                    "speakers)",
                )
            )
    if metrics.get("abstention"):
        shown = ", ".join(
            f"{row['min_confidence']:g}: {100 * row['coverage']:.0f} % answered"
            + ("" if row["accuracy"] is None else f" at {100 * row['accuracy']:.1f} % WA")
            for row in metrics["abstention"]
        )
        lines.append(f"answered share and accuracy by min_confidence: {shown}")
    for column, result in (metrics.get("groups") or {}).items():
        groups = result["groups"]
        shown = listed_groups(groups)
        if len(shown) < len(groups):
            listed = f"worst {_group(shown[0], groups)}, best {_group(shown[-1], groups)}"
        else:
            listed = ", ".join(_group(name, groups) for name in shown)
        gap = f"{100 * result['gap']['ua']:.1f} points (worst: {result['worst']['ua']})"
        lines.append(
            f"UA by {column}: {listed}"
            + (f"; gap {gap}" if len(groups) > 1 else "")
            + _without_value(result, column)
        )
    return lines


def listed_groups(groups: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The groups (`group_scores`' ``"groups"``) a report lists: all of them, or past
    `MOST_GROUPS_LISTED` only the worst and the best by UA."""
    names = list(groups)
    if len(names) <= MOST_GROUPS_LISTED:
        return names
    ranked = sorted(names, key=lambda name: groups[name]["ua"])
    return [ranked[0], ranked[-1]]


def _calibration_line(result: Mapping[str, Any], title: str) -> str:
    return (
        f"{title}: ECE {result['ece']:.3f} ({result['num_bins']} equal-width bins), NLL "
        f"{result['nll']:.3f}, Brier {result['brier']:.3f}"
    )


def _without_value(result: Mapping[str, Any], column: str) -> str:
    """``"; 3 utterances without a gender left out"`` when `group_scores` left some out."""
    count = result.get("num_without_value", 0)
    if not count:
        return ""
    return f"; {count} utterance{'' if count == 1 else 's'} without a {column} left out"


def _group(name: str, groups: Mapping[str, Mapping[str, Any]]) -> str:
    group = groups[name]
    return f"{name} {100 * group['ua']:.1f} % ({group['num_utterances']})"
