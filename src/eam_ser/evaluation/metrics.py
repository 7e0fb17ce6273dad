"""Speech emotion recognition metrics: WA, UA, macro-F1, per-class recall, confusion matrix.

- WA (weighted accuracy) = overall accuracy: correct predictions / all predictions.
- UA (unweighted accuracy) = mean over classes of the per-class recall (balanced accuracy).
- macro-F1 = mean over classes of the per-class F1 score.

Classes are `0 .. num_labels - 1`; a class absent from the references has no recall and is
left out of UA (and gets recall NaN in the per-class output), as in scikit-learn's
`balanced_accuracy_score`. The confusion matrix has references on rows and predictions on
columns.

Three entry points: `ser_metrics` (full dict), `compute_metrics` / `make_compute_metrics` for
`transformers.Trainer` (scalars only), and the local `evaluate` module returned by
`load_ser_metric()` (works offline: it is loaded from a file shipped in this package).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from sklearn.metrics import f1_score, recall_score

__all__ = [
    "SCORES",
    "SCORE_DESCRIPTIONS",
    "SCORE_METRIC_TYPES",
    "SCORE_NAMES",
    "SER_METRIC_PATH",
    "compute_metrics",
    "load_ser_metric",
    "make_compute_metrics",
    "ser_metrics",
]

SCORES = ("wa", "ua", "macro_f1")
"""The scores every evaluation reports, as `ser_metrics` names them: the one list."""
SCORE_NAMES = {"wa": "WA", "ua": "UA", "macro_f1": "macro-F1"}
"""How reports write each of `SCORES`."""
SCORE_DESCRIPTIONS = {
    "wa": "WA (accuracy)",
    "ua": "UA (unweighted average recall)",
    "macro_f1": "macro-F1",
}
"""Each of `SCORES` with what it is, for a reader new to SER (the model card)."""
SCORE_METRIC_TYPES = {"wa": "accuracy", "ua": "recall", "macro_f1": "f1"}
"""The Hub's metric type of each of `SCORES` (model-index metadata)."""

#: Folder of the local `evaluate` module (pass it to `evaluate.load`).
SER_METRIC_PATH = Path(__file__).resolve().parent / "evaluate_metrics" / "ser_metrics"


def _as_label_array(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D class indices, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError(f"`{name}` must hold integer class indices")
        array = array.astype(np.int64)
    return array.astype(np.int64, copy=False)


def ser_metrics(
    predictions: Sequence[int] | np.ndarray,
    references: Sequence[int] | np.ndarray,
    num_labels: int | None = None,
    label_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """WA, UA, macro-F1, per-class recall and the confusion matrix.

    Args:
        predictions: (num_samples,) predicted class indices.
        references: (num_samples,) true class indices.
        num_labels: number of classes; default `len(label_names)`, else the largest index + 1.
        label_names: class names (index order) used as keys of `recall`.

    Returns:
        `{"wa": float, "ua": float, "macro_f1": float, "recall": {name: float},
        "confusion_matrix": list[list[int]]}` (recall keyed by class name, or by the index as a
        string when `label_names` is not given).
    """
    predictions = _as_label_array(predictions, "predictions")
    references = _as_label_array(references, "references")
    if predictions.shape != references.shape:
        raise ValueError(
            f"`predictions` ({predictions.shape[0]}) and `references` ({references.shape[0]}) "
            "must have the same length"
        )
    if references.size == 0:
        raise ValueError("`references` is empty: no metric can be computed")
    if num_labels is None:
        num_labels = (
            len(label_names)
            if label_names is not None
            else int(max(predictions.max(), references.max())) + 1
        )
    if label_names is not None and len(label_names) != num_labels:
        raise ValueError(f"`label_names` has {len(label_names)} names for {num_labels} classes")
    for name, array in (("predictions", predictions), ("references", references)):
        if array.min() < 0 or array.max() >= num_labels:
            raise ValueError(f"`{name}` holds a class index outside [0, {num_labels})")
    names = [str(n) for n in label_names] if label_names is not None else None
    classes = np.arange(num_labels)

    matrix = sklearn_confusion_matrix(references, predictions, labels=classes)
    present = matrix.sum(axis=1) > 0
    recalls = recall_score(
        references, predictions, labels=classes, average=None, zero_division=0.0
    ).astype(float)
    recalls[~present] = math.nan
    # F1 over the classes seen in references or predictions, like sklearn's default label set.
    seen = classes[present | (matrix.sum(axis=0) > 0)]
    macro_f1 = f1_score(references, predictions, labels=seen, average="macro", zero_division=0.0)
    keys = names if names is not None else [str(k) for k in classes]
    return {
        "wa": float(np.trace(matrix) / matrix.sum()),
        "ua": float(np.mean(recalls[present])),
        "macro_f1": float(macro_f1),
        "recall": {key: float(value) for key, value in zip(keys, recalls, strict=True)},
        "confusion_matrix": matrix.tolist(),
    }


def _predictions_and_references(eval_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Argmax predictions and hard references from a Trainer `EvalPrediction`.

    The model outputs may be a tuple (logits, embeddings, ...): logits come first.
    """
    logits, references = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    if isinstance(references, (tuple, list)):
        # Trainer gives a tuple when several `label_names` are set; hard labels come first.
        references = references[0]
    logits = np.asarray(logits)
    references = np.asarray(references)
    if references.ndim == 2:
        references = references.argmax(axis=-1)
    return logits.argmax(axis=-1), references


def make_compute_metrics(
    label_names: Sequence[str] | None = None,
) -> Callable[[Any], dict[str, float]]:
    """A `compute_metrics` for `Trainer` adding `recall_<name>` scalars to WA, UA, macro-F1.

    Args:
        label_names: class names in index order (e.g. `[id2label[i] for i in range(n)]`);
            sets the number of classes. Without it only wa, ua and macro_f1 are returned.
    """
    names = list(label_names) if label_names is not None else None

    def _compute(eval_pred: Any) -> dict[str, float]:
        predictions, references = _predictions_and_references(eval_pred)
        result = ser_metrics(
            predictions,
            references,
            num_labels=len(names) if names is not None else None,
            label_names=names,
        )
        scalars = {key: result[key] for key in SCORES}
        if names is not None:
            scalars.update({f"recall_{name}": value for name, value in result["recall"].items()})
        return scalars

    return _compute


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """`Trainer` metrics from an `EvalPrediction`: `{"wa", "ua", "macro_f1"}` as floats."""
    return make_compute_metrics()(eval_pred)


def load_ser_metric(**kwargs: Any) -> Any:
    """`evaluate.load` of the packaged SER metric module (no network needed).

    Keyword arguments go to `evaluate.load`. Use as
    `load_ser_metric().compute(predictions=..., references=..., num_labels=..., label_names=...)`.
    """
    import evaluate

    return evaluate.load(str(SER_METRIC_PATH), **kwargs)
