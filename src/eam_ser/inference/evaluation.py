"""Evaluation of a trained model on a labelled dataset: whole clips, hard labels, no mixing.

The test step of every experiment (`eam_ser.experiment`) and of ``eam-ser evaluate``, through
the one prediction path, `EmotionRecognizer`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import FeatureExtractionMixin

from eam_ser.corpora import label_names
from eam_ser.evaluation.calibration import abstention, calibration, softmax
from eam_ser.evaluation.metrics import ser_metrics
from eam_ser.evaluation.report import group_scores, grouping_columns, speaker_bootstrap
from eam_ser.inference.recognizer import EmotionRecognizer
from eam_ser.inference.robustness import robustness_ladder
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

__all__ = [
    "audio_folder",
    "dataset_waveforms",
    "evaluate_model",
    "evaluate_robustness",
    "model_references",
    "predict_logits",
]


def predict_logits(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    dataset: Dataset | Sequence[Mapping[str, Any]],
    batch_size: int = 8,
) -> np.ndarray:
    """Logits (num_rows, num_labels) of `model` on `dataset` (rows with ``audio``), whole clips,
    no mixing: `EmotionRecognizer.predict_logits`."""
    recognizer = EmotionRecognizer(model, feature_extractor, batch_size=batch_size)
    return recognizer.predict_logits(dataset_waveforms(recognizer, dataset))


def dataset_waveforms(
    recognizer: EmotionRecognizer, dataset: Dataset | Sequence[Mapping[str, Any]]
) -> list[np.ndarray]:
    """The ``audio`` of every row, decoded at the recognizer's rate: float32 (samples,) each,
    in row order. `evaluate_model` and `evaluate_robustness` take them as ``waveforms``, so
    that one evaluation decodes its test clips once."""
    audio = dataset["audio"] if isinstance(dataset, Dataset) else [row["audio"] for row in dataset]
    return recognizer.collator.load_waveforms([{"audio": clip} for clip in audio])


def _given_or_decoded(
    recognizer: EmotionRecognizer, dataset: Dataset, waveforms: Sequence[np.ndarray] | None
) -> Sequence[np.ndarray]:
    """`waveforms` (checked to be one per row of `dataset`), else `dataset` decoded."""
    if waveforms is None:
        return dataset_waveforms(recognizer, dataset)
    if len(waveforms) != dataset.num_rows:
        raise ValueError(
            f"waveforms: {len(waveforms)} clips for a dataset of {dataset.num_rows} rows"
        )
    return waveforms


def model_references(model: Any, dataset: Dataset) -> np.ndarray:
    """(num_rows,) the model's class index of each row's label, labels matched by name.

    Raises:
        ValueError: the dataset has labels the model does not know, listing both sets.
    """
    labels = label_names(dataset)
    model_labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
    unknown = [name for name in labels if name not in model_labels]
    if unknown:
        raise ValueError(
            f"dataset labels {unknown} are not among the model's labels {model_labels} "
            f"(dataset labels: {labels})"
        )
    to_model_index = np.array([model_labels.index(name) for name in labels], dtype=np.int64)
    return to_model_index[np.asarray(dataset["label"], dtype=np.int64)]


def evaluate_robustness(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    dataset: Dataset,
    interferers: Dataset,
    batch_size: int = 8,
    seed: int = 0,
    *,
    waveforms: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """UA of `dataset` on every rung of the robustness ladder
    (`eam_ser.inference.robustness.robustness_ladder`), the interfering speech drawn from
    `interferers` (utterances of speakers who are not tested).

    Args:
        waveforms: the clips of `dataset` already decoded (`dataset_waveforms`); decoded
            here when None.

    Raises:
        ValueError: `interferers` shares a speaker with `dataset`, or is empty; `waveforms`
            is not one clip per row.
    """
    shared = sorted(set(dataset["speaker"]) & set(interferers["speaker"]))
    if shared:
        raise ValueError(f"interfering speech must come from untested speakers; shared: {shared}")
    recognizer = EmotionRecognizer(model, feature_extractor, batch_size=batch_size)
    references = model_references(model, dataset)
    num_labels = model.config.num_labels

    def ua(clips: Sequence[np.ndarray]) -> float:
        predictions = recognizer.predict_logits(clips).argmax(axis=-1)
        return ser_metrics(predictions, references, num_labels=num_labels)["ua"]

    return robustness_ladder(
        ua,
        _given_or_decoded(recognizer, dataset, waveforms),
        dataset_waveforms(recognizer, interferers),
        recognizer.sampling_rate,
        seed,
    )


def evaluate_model(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    dataset: Dataset,
    batch_size: int = 8,
    *,
    per_utterance: bool = False,
    files_relative_to: str | os.PathLike | None = None,
    seed: int = 0,
    waveforms: Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """WA, UA, macro-F1, per-class recall and confusion matrix on `dataset` (hard labels),
    with the scores per group and a speaker-bootstrap interval (`eam_ser.evaluation.report`).

    Labels are matched by name: the dataset's label names must be among the model's
    (`config.id2label`), in any order; metrics are reported over the model's classes (a class
    without test samples gets recall NaN, written as null in results files).

    Args:
        per_utterance: also return each utterance's file, speaker, reference and prediction
            (what `eam-ser compare` pairs two evaluations by).
        files_relative_to: write each utterance's file relative to this folder (`audio_folder`
            of the whole corpus), so that results name no local folder (a model folder's
            results.json goes to the Hub with it) and two evaluations of one corpus from
            different places pair; None writes the paths as given.
        seed: seed of the speaker bootstrap.
        waveforms: the clips of `dataset` already decoded (`dataset_waveforms`), e.g. to
            share them with `evaluate_robustness`; decoded here when None.

    Returns:
        `ser_metrics`' dict, plus ``"groups"`` (`group_scores` per ``gender`` and ``speaker``
        column the data has, `grouping_columns`: rows without a value left out and counted),
        ``"intervals"`` (`speaker_bootstrap`: ``{score: [low, high]}``, None with fewer than
        2 speakers or an utterance without one), ``"calibration"`` (`calibration` of the
        scores the model reports, at its ``score_temperature``; with a fitted temperature also
        ``"calibration_before_scaling"``, the plain softmax), ``"abstention"`` (`abstention`:
        coverage and accuracy per ``min_confidence``) and, with `per_utterance`,
        ``"utterances"``.

    Raises:
        ValueError: the dataset has labels the model does not know, listing both sets;
            `waveforms` is not one clip per row.
    """
    model_labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
    references = model_references(model, dataset)
    recognizer = EmotionRecognizer(model, feature_extractor, batch_size=batch_size)
    logits = recognizer.predict_logits(_given_or_decoded(recognizer, dataset, waveforms))
    predictions = logits.argmax(axis=-1)
    num_labels = len(model_labels)
    metrics = ser_metrics(predictions, references, num_labels=num_labels, label_names=model_labels)
    groups = grouping_columns(dataset)
    metrics["groups"] = {
        column: group_scores(predictions, references, values, num_labels)
        for column, values in groups.items()
    }
    speakers = groups.get("speaker")
    metrics["intervals"] = (
        speaker_bootstrap(predictions, references, speakers, num_labels, seed=seed)
        if speakers is not None and None not in speakers and len(set(speakers)) > 1
        else None
    )
    temperature = float(getattr(model.config, "score_temperature", 1.0))
    metrics["score_temperature"] = temperature
    probabilities = softmax(logits, temperature)
    metrics["calibration"] = calibration(probabilities, references)
    metrics["abstention"] = abstention(probabilities, references)
    if temperature != 1.0:
        metrics["calibration_before_scaling"] = calibration(softmax(logits), references)
    if per_utterance:
        metrics["utterances"] = [
            {
                "file": _relative(audio, files_relative_to),
                "speaker": None if speakers is None else speakers[row],
                "reference": model_labels[int(references[row])],
                "prediction": model_labels[int(predictions[row])],
            }
            for row, audio in enumerate(_audio_names(dataset))
        ]
    return metrics


def audio_folder(*datasets: Dataset) -> str | None:
    """The deepest folder that holds every audio file of `datasets` (their ``audio`` paths);
    None when no row has a path (decoded arrays)."""
    folders = [
        os.path.dirname(os.path.abspath(name))
        for dataset in datasets
        for name in _audio_names(dataset)
        if isinstance(name, str)
    ]
    return os.path.commonpath(folders) if folders else None


def _relative(name: str | None, folder: str | os.PathLike | None) -> str | None:
    """`name` relative to `folder` when it lies under it, else as given."""
    if name is None or folder is None:
        return name
    relative = os.path.relpath(os.path.abspath(name), folder)
    return name if relative.startswith(os.pardir) else Path(relative).as_posix()


def _audio_names(dataset: Dataset) -> list[str]:
    """The ``audio`` column as file names (a path, or a decoded dict's ``path``)."""
    return [clip.get("path") if isinstance(clip, Mapping) else clip for clip in dataset["audio"]]
