"""The records of a run: one per fold, their summary, and the results files.

`aggregate_results` gathers fold records into the results dict (schema in `eam_ser.hub`);
`write_results` writes it to an output folder:

- ``results.json``: per-fold and mean / std (sample std, ddof=1) WA, UA, macro-F1, per-class
  recall, confusion matrices, each fold's per-utterance predictions (file, speaker, reference,
  prediction: what ``eam-ser compare`` pairs; no scores, so about 135 bytes plus the path per
  utterance, some 100 kB for EmoDB's 535), seeds and the config, as strict JSON
  (`strict_json`),
- ``results.md``: the markdown fold, group and calibration tables,
- ``confusion_matrix.png``: the confusion matrix summed over the folds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eam_ser.corpora import CORPORA, label_names
from eam_ser.evaluation.metrics import SCORES
from eam_ser.evaluation.plots import plot_confusion_matrix
from eam_ser.hub.card import calibration_markdown, results_markdown
from eam_ser.training.processes import is_main_process

if TYPE_CHECKING:
    from datasets import Dataset

    from eam_ser.experiment.config import ExperimentConfig

__all__ = [
    "aggregate_results",
    "fold_record",
    "strict_json",
    "summarize_runs",
    "write_results",
]


def fold_record(
    fold: int | None,
    train: Dataset,
    test: Dataset,
    metrics: Mapping[str, Any],
    seed: int,
    runtime_s: float,
) -> dict[str, Any]:
    """The record of one trained and tested split: fold (None for a split by speakers), test
    speakers, sizes, the metrics of `eam_ser.inference.evaluate_model` (with its
    ``"utterances"`` when evaluated ``per_utterance``), seed and training seconds (rounded to
    0.1 s)."""
    return {
        "fold": fold,
        "test_speakers": sorted(set(test["speaker"])),
        "num_train": train.num_rows,
        "num_test": test.num_rows,
        **metrics,
        "seed": seed,
        "train_runtime_s": round(runtime_s, 1),
    }


def summarize_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample std (ddof=1; 0 for a single run) of WA, UA and macro-F1 over `runs`
    (fold records, or seed x fold records of several seeds)."""
    if not runs:
        raise ValueError("summarize_runs: no runs")
    values = {key: np.array([run[key] for run in runs], dtype=float) for key in SCORES}
    ddof = 1 if len(runs) > 1 else 0
    return {
        "num_runs": len(runs),
        "mean": {key: float(values[key].mean()) for key in SCORES},
        "std": {key: float(values[key].std(ddof=ddof)) for key in SCORES},
    }


def aggregate_results(
    fold_results: Sequence[Mapping[str, Any]],
    dataset: Dataset,
    config: ExperimentConfig,
    *,
    protocol: str | None = None,
) -> dict[str, Any]:
    """Results dict (schema in `eam_ser.hub`): folds, mean, sample std (ddof=1; 0 for a
    single fold), summed confusion matrix, seeds, config and corpus description.

    `protocol` defaults to the dataset's own (``dataset.info.description``)."""
    summary = summarize_runs(fold_results)
    corpus_name = dataset.info.dataset_name or "custom"
    corpus = CORPORA.get(corpus_name)
    return {
        "corpus": corpus_name,
        "corpus_title": corpus.title if corpus is not None else corpus_name,
        "protocol": protocol if protocol is not None else dataset.info.description or "",
        "label_names": label_names(dataset),
        "folds": [dict(fold) for fold in fold_results],
        "mean": summary["mean"],
        "std": summary["std"],
        "confusion_matrix": np.sum(
            [fold["confusion_matrix"] for fold in fold_results], axis=0
        ).tolist(),
        "seeds": [fold["seed"] for fold in fold_results],
        "config": config.to_dict(resolved=True),
        "eam_regime": config.eam_regime,
    }


def strict_json(results: Mapping[str, Any]) -> str:
    """`results` as strict JSON (RFC 8259: no NaN or Infinity).

    A non-finite number becomes ``null`` and its place is explained under ``"null_values"``
    (e.g. ``"folds[0].recall.sad": "recall undefined: no test sample of this class"``).
    """
    reasons: dict[str, str] = {}

    def clean(value: Any, where: str) -> Any:
        if isinstance(value, Mapping):
            return {
                key: clean(item, f"{where}.{key}" if where else str(key))
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [clean(item, f"{where}[{index}]") for index, item in enumerate(value)]
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            reasons[where] = (
                "recall undefined: no test sample of this class"
                if ".recall." in f".{where}"
                else f"not a finite number ({value})"
            )
            return None
        if isinstance(value, np.generic):
            return value.item()
        return value

    cleaned = clean(results, "")
    if reasons:
        cleaned["null_values"] = reasons
    return json.dumps(cleaned, indent=2, allow_nan=False) + "\n"


def write_results(results: Mapping[str, Any], output_dir: str | Path) -> Path:
    """Write ``results.json``, ``results.md`` and ``confusion_matrix.png`` to `output_dir`
    (in the main process only, see `eam_ser.training.processes.is_main_process`)."""
    output_dir = Path(output_dir)
    if not is_main_process():
        return output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(strict_json(results), encoding="utf-8")
    title = f"{results['corpus_title']}: {results['protocol']}"
    calibration = calibration_markdown(results)
    (output_dir / "results.md").write_text(
        f"# {title}\n\n{results_markdown(results)}\n"
        + (f"\n{calibration}\n" if calibration else ""),
        encoding="utf-8",
    )
    plot_confusion_matrix(
        results["confusion_matrix"],
        results["label_names"],
        output_dir / "confusion_matrix.png",
        title="Confusion matrix summed over folds"
        if len(results["folds"]) > 1
        else "Confusion matrix",
    )
    return output_dir
