"""What a deployer reads beside the headline score: results per group, and how sure the score is.

- `group_scores`: WA, UA and macro-F1 per group (gender, speaker, ...), the gap between the
  best and the worst group and the worst group by name.
- `speaker_bootstrap`: a confidence interval for WA, UA and macro-F1 by resampling *speakers*
  with replacement (the utterances of one speaker are not independent draws, so resampling
  utterances would give intervals that are too narrow).
- `paired_speaker_bootstrap`: the difference between two models' scores on the same test
  utterances, with its interval from the same speaker resamples.
- `calibration`: whether a score of 0.9 is right 90 % of the time (expected calibration error,
  negative log-likelihood, Brier score, the reliability-diagram bins), and `fit_temperature`,
  temperature scaling fitted on validation speakers (`FlamConfig.score_temperature`).

Scores follow `eam_ser.metrics.ser_metrics`: UA is the mean recall over the classes present in
the references, macro-F1 the mean F1 over the classes present in references or predictions.
Numpy only (`grouping_columns` reads the loaders' missing-value marker from
`eam_ser.corpora.base`, imported when it is called); a bootstrap of 1000 resamples over a few
thousand utterances takes well under a second (one confusion matrix per resample by
`np.bincount`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ABSTENTION_THRESHOLDS",
    "BOOTSTRAP_CONFIDENCE",
    "BOOTSTRAP_RESAMPLES",
    "CALIBRATION_BINS",
    "GROUPING_COLUMNS",
    "INTERVAL_NOTE",
    "MOST_GROUPS_LISTED",
    "SCORES",
    "SCORE_NAMES",
    "TEMPERATURE_RANGE",
    "SpeakerBootstrap",
    "abstention",
    "calibration",
    "fit_temperature",
    "format_interval",
    "format_scores",
    "group_scores",
    "grouping_columns",
    "listed_groups",
    "paired_speaker_bootstrap",
    "report_lines",
    "scores_from_confusion",
    "softmax",
    "speaker_bootstrap",
]

ABSTENTION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
"""``min_confidence`` values whose coverage and accuracy every evaluation reports."""
CALIBRATION_BINS = 15
"""Equal-width confidence bins of the expected calibration error over [0, 1] (Guo et al.
2017, "On Calibration of Modern Neural Networks")."""
SCORES = ("wa", "ua", "macro_f1")
"""The scores every function here reports, in `ser_metrics`' keys."""
SCORE_NAMES = {"wa": "WA", "ua": "UA", "macro_f1": "macro-F1"}
"""How the report writes each of `SCORES`."""
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
        lines.append(f"answered share and accuracy by --min-confidence: {shown}")
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


def softmax(logits: Any, temperature: float = 1.0) -> np.ndarray:
    """(num_utterances, num_labels) class probabilities ``softmax(logits / temperature)``,
    float64."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exponentials = np.exp(scaled)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def calibration(
    probabilities: Any, references: Any, num_bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """How far the scores can be read as probabilities.

    Args:
        probabilities: (num_utterances, num_labels) class probabilities, rows summing to 1.
        references: (num_utterances,) true class indices.
        num_bins: equal-width bins of the confidence (the top score) over [0, 1]; a
            confidence of exactly 1 falls in the last bin.

    Returns:
        ``{"ece"}``: the expected calibration error, sum over bins of (share of utterances) x
        |accuracy - mean confidence|; ``{"nll"}``: mean negative log-likelihood of the true
        class (nats); ``{"brier"}``: mean over utterances of the squared distance between the
        probabilities and the one-hot truth (summed over classes, 0 to 2); ``{"bins"}``: per
        non-empty bin its range, count, accuracy and mean confidence (the reliability
        diagram).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    references = np.asarray(references, dtype=np.int64).reshape(-1)
    if probabilities.ndim != 2 or probabilities.shape[0] != references.size or not references.size:
        raise ValueError(
            f"probabilities must be (num_utterances, num_labels) for {references.size} "
            f"references, got shape {probabilities.shape}"
        )
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == references
    which = np.minimum((confidence * num_bins).astype(np.int64), num_bins - 1)
    bins, ece = [], 0.0
    for index in range(num_bins):
        members = which == index
        if not members.any():
            continue
        accuracy, mean_confidence = (
            float(correct[members].mean()),
            float(confidence[members].mean()),
        )
        ece += members.mean() * abs(accuracy - mean_confidence)
        bins.append(
            {
                "range": [index / num_bins, (index + 1) / num_bins],
                "count": int(members.sum()),
                "accuracy": accuracy,
                "confidence": mean_confidence,
            }
        )
    truth = np.eye(probabilities.shape[1])[references]
    true_probability = np.clip(probabilities[np.arange(references.size), references], 1e-12, 1.0)
    return {
        "ece": float(ece),
        "nll": float(-np.log(true_probability).mean()),
        "brier": float(((probabilities - truth) ** 2).sum(axis=-1).mean()),
        "num_bins": num_bins,
        "bins": bins,
    }


TEMPERATURE_RANGE = (1e-4, 1e4)
"""The temperatures `fit_temperature` searches: a fit at either end is no calibration (warned)."""


def fit_temperature(logits: Any, references: Any) -> float:
    """The temperature T > 0 minimising the mean NLL of ``softmax(logits / T)`` (temperature
    scaling). The NLL is convex in 1 / T, so a golden-section search over log(1 / T) over
    `TEMPERATURE_RANGE` finds the minimum (to a relative 1e-6).

    Without a minimum inside the range it warns and returns 1 (the scores as trained): every
    validation utterance right with a margin (the NLL keeps falling as T -> 0, and is 0 to
    float precision well before), or scores that say nothing (a flat NLL) are too few or too
    easy utterances to calibrate on, and a T at the end of the range would make every score
    about 1 (or uniform), so that no ``min_confidence`` abstains.

    Args:
        logits: (num_utterances, num_labels) of held-out *validation* utterances.
        references: (num_utterances,) their true classes.
    """
    logits = np.asarray(logits, dtype=np.float64)
    references = np.asarray(references, dtype=np.int64).reshape(-1)

    def nll(log_inverse: float) -> float:
        probabilities = softmax(logits, float(np.exp(-log_inverse)))
        true = probabilities[np.arange(references.size), references]
        return float(-np.log(np.clip(true, 1e-300, 1.0)).mean())

    smallest, largest = TEMPERATURE_RANGE
    ends = (np.log(1 / largest), np.log(1 / smallest))
    low, high = ends
    ratio = (np.sqrt(5.0) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    f_a, f_b = nll(a), nll(b)
    while high - low > 1e-6:
        if f_a <= f_b:
            high, b, f_b = b, a, f_a
            a = high - ratio * (high - low)
            f_a = nll(a)
        else:
            low, a, f_a = a, b, f_b
            b = low + ratio * (high - low)
            f_b = nll(b)
    fitted = (low + high) / 2
    temperature = float(np.exp(-fitted))
    # No minimum inside the range: an end of it is as good (the NLL falls or stays flat).
    if min(nll(end) for end in ends) <= nll(fitted) + 1e-12:
        warnings.warn(
            f"fit_temperature: the NLL of the {references.size} validation utterances is "
            f"lowest at the end of the searched range ({smallest:g} to {largest:g}): no "
            "temperature is fitted (T = 1, the scores as trained); use more (or harder) "
            "validation utterances",
            UserWarning,
            stacklevel=2,
        )
        return 1.0
    return temperature


def abstention(
    probabilities: Any, references: Any, thresholds: Sequence[float] = ABSTENTION_THRESHOLDS
) -> list[dict[str, float]]:
    """Coverage against accuracy when utterances whose top score is below a threshold are
    answered "uncertain" (``EmotionRecognizer(min_confidence=...)``).

    Returns:
        per threshold ``{"min_confidence", "coverage"}`` (the share answered) and
        ``"accuracy"`` (WA on the answered utterances; None when none is answered).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    references = np.asarray(references, dtype=np.int64).reshape(-1)
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == references
    rows = []
    for threshold in thresholds:
        answered = confidence >= threshold
        rows.append(
            {
                "min_confidence": float(threshold),
                "coverage": float(answered.mean()),
                "accuracy": float(correct[answered].mean()) if answered.any() else None,
            }
        )
    return rows
