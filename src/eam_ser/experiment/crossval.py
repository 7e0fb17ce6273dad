"""Experiments: train EAM + FLAM + MLL on a corpus split or over every speaker-independent fold.

One `ExperimentConfig` drives every run. Per fold: `train_model` trains what the run builder
(`eam_ser.experiment.build.build_trainer`) assembles for a fixed budget (``max_steps`` or
``num_train_epochs``), then the model is tested on the held-out speakers with hard labels and
no mixing (`eam_ser.inference.evaluate_model`), keeping each test utterance's prediction so
that ``eam-ser compare`` can pair two runs over all their folds.

No checkpoint or epoch is chosen on the test fold (a common source of inflated SER numbers):
the budget is fixed before training and the last model is the one tested (or, with
`training.validation_speakers`, the epoch chosen on held-out *training* speakers).

The drivers: `run_split` (one train / test split, the model saved with its card),
`run_fold` (one fold of a corpus, the path the benchmarks reuse through its `collator_factory`
and `disable_tqdm` hooks) and `run_cross_validation` (every fold, resumable, optionally a final
model on all speakers). Results files: `eam_ser.experiment.results`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import FeatureExtractionMixin

from eam_ser.corpora import train_test_split_by_fold
from eam_ser.data.check import DataCheckReport, holds_files
from eam_ser.evaluation.calibration import fit_temperature
from eam_ser.evaluation.report import format_scores
from eam_ser.experiment.build import CollatorFactory, build_trainer, check_run_data_of
from eam_ser.experiment.config import ExperimentConfig
from eam_ser.experiment.results import (
    aggregate_results,
    fold_record,
    strict_json,
    write_results,
)
from eam_ser.hub.card import write_model_card
from eam_ser.hub.save import save_model
from eam_ser.inference.evaluation import (
    audio_folder,
    dataset_waveforms,
    evaluate_model,
    model_references,
    predict_logits,
)
from eam_ser.inference.recognizer import EmotionRecognizer, NonFiniteScoresError
from eam_ser.models.flam.arguments import check_seed
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from eam_ser.training.processes import is_main_process
from eam_ser.training.trainer import TrainingDivergedError, last_complete_checkpoint

__all__ = [
    "FOLD_RESULT_NAME",
    "fit_score_temperature",
    "run_cross_validation",
    "run_fold",
    "run_split",
    "split_validation_speakers",
    "train_model",
]

FOLD_RESULT_NAME = "fold_result.json"
"""Per-fold record written as soon as a fold is tested; a resumed cross-validation skips folds
that have one."""


def split_validation_speakers(
    train_dataset: Dataset, num_speakers: int, seed: int
) -> tuple[Dataset, Dataset]:
    """Hold `num_speakers` of the training speakers out for validation.

    The speakers are drawn with `seed` (``numpy.random.default_rng``) from the sorted training
    speakers; returns (training part, validation part).

    Raises:
        ValueError: fewer than ``num_speakers + 1`` speakers to split.
    """
    speakers = sorted(set(train_dataset["speaker"]))
    if len(speakers) <= num_speakers:
        raise ValueError(
            f"training.validation_speakers={num_speakers} needs more training speakers than "
            f"that; the training data has {len(speakers)} ({', '.join(speakers)})"
        )
    held_out = set(np.random.default_rng(seed).choice(speakers, num_speakers, replace=False))
    column = train_dataset["speaker"]
    validation = [index for index, speaker in enumerate(column) if speaker in held_out]
    training = [index for index, speaker in enumerate(column) if speaker not in held_out]
    return train_dataset.select(training), train_dataset.select(validation)


def train_model(
    train_dataset: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    seed: int | None = None,
    resume: bool = False,
    collator_factory: CollatorFactory | None = None,
    disable_tqdm: bool | None = None,
    on_bad_audio: str | None = "error",
) -> tuple[FlamForSequenceClassification, FeatureExtractionMixin]:
    """Train on `train_dataset` (columns ``audio`` path, ``label`` ClassLabel, ``speaker``) for
    the fixed budget, after the data check of `build_trainer` (`on_bad_audio`; None: the
    caller checked the files).

    Checkpoints go to `output_dir`; with `resume`, training continues from the last one there
    (and starts afresh when there is none). `collator_factory` builds the training collator
    (default `eam_ser.experiment.build.build_collator`: EAM as configured). With
    `training.validation_speakers`, that many training speakers are held out
    (`split_validation_speakers`) and the epoch with the best UA on them is returned.
    """
    seed = config.training.seed if check_seed(seed) is None else seed
    if on_bad_audio is not None and holds_files(train_dataset):
        train_dataset = check_run_data_of(config, {"train": train_dataset}, on_bad_audio)[0][
            "train"
        ]
    validation_dataset = None
    if config.training.validation_speakers:
        train_dataset, validation_dataset = split_validation_speakers(
            train_dataset, config.training.validation_speakers, seed
        )
    trainer = build_trainer(
        train_dataset,
        config,
        output_dir,
        seed=seed,
        validation_dataset=validation_dataset,
        collator_factory=collator_factory,
        disable_tqdm=disable_tqdm,
        on_bad_audio=None,
    )
    checkpoint, skipped = last_complete_checkpoint(output_dir) if resume else (None, [])
    for path, problem in skipped:
        tqdm.write(f"resume: skipping the incomplete {path} ({problem})")
    if checkpoint is not None:
        tqdm.write(f"resuming from {checkpoint}")
    trainer.train(resume_from_checkpoint=checkpoint)
    model, feature_extractor = trainer.model, trainer.processing_class
    _check_scores_finite(model, feature_extractor, train_dataset, trainer.state.global_step)
    if validation_dataset is not None:
        fit_score_temperature(model, feature_extractor, validation_dataset, config)
    return model, feature_extractor


FINITE_PROBE_SECONDS = 4.0
"""How much of each of the first training clips the after-training finiteness check scores."""


def _check_scores_finite(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    train_dataset: Dataset,
    step: int,
) -> None:
    """After the last step, before the model is saved, scored or carded: the scores of a few
    training clips must be finite. The per-step loss check cannot see the last update, which
    may leave weights that are finite but give NaN scores.

    Raises:
        TrainingDivergedError: naming the step and what to change.
    """
    if not holds_files(train_dataset):
        return
    recognizer = EmotionRecognizer(model, feature_extractor)
    rows = train_dataset.select(range(min(4, train_dataset.num_rows)))
    # The first seconds of each: a training clip may be hours long when training crops.
    probe = int(FINITE_PROBE_SECONDS * recognizer.sampling_rate)
    waveforms = [waveform[:probe] for waveform in dataset_waveforms(recognizer, rows)]
    try:
        recognizer.predict_logits(waveforms)
    except NonFiniteScoresError:
        raise TrainingDivergedError(
            f"training diverged by its last step ({step}): the model's scores are NaN or "
            "infinite; lower the learning rates (head_learning_rate, encoder_learning_rate). "
            "Nothing was saved as the model."
        ) from None


def fit_score_temperature(
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    validation_dataset: Dataset,
    config: ExperimentConfig,
) -> float:
    """Temperature scaling on the validation speakers (never the test fold): sets
    ``model.config.score_temperature`` to the T that minimises their NLL
    (`eam_ser.evaluation.calibration.fit_temperature`), so the saved model reports calibrated scores.

    Returns:
        the fitted temperature.
    """
    logits = predict_logits(
        model, feature_extractor, validation_dataset, config.training.per_device_eval_batch_size
    )
    references = model_references(model, validation_dataset)
    model.config.score_temperature = fit_temperature(logits, references)
    tqdm.write(
        f"score temperature {model.config.score_temperature:.3f}, fitted on the "
        f"{validation_dataset.num_rows} utterances of the validation speakers"
    )
    return model.config.score_temperature


def run_split(
    train: Dataset,
    test: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    fold: int | None = None,
    model_id: str | None = None,
    resume: bool = False,
    on_bad_audio: str | None = "error",
) -> dict[str, Any]:
    """Train on `train`, save the model to `output_dir`, then test it on the held-out speakers
    of `test` and write the results files and the model card. Returns the results dict (one
    fold). The model is saved before testing, so a failure there loses no training; with
    `resume`, training continues from the last checkpoint in ``output_dir/trainer``.

    Before any training, every file of both splits is checked (`check_run_data_of`) with the
    policy `on_bad_audio` (``"error"``: a bad file refuses the run; ``"skip"``: it is left
    out, and the skipped files are listed in ``output_dir/skipped_files.csv``); None: the
    caller checked them (as ``eam-ser train`` does before preparing its folder).
    """
    output_dir = Path(output_dir)
    if on_bad_audio is not None and holds_files(train) and holds_files(test):
        kept, report = check_run_data_of(config, {"train": train, "test": test}, on_bad_audio)
        train, test = kept["train"], kept["test"]
        _list_skipped(report, output_dir)
    seed = config.training.seed
    start = time.perf_counter()
    model, feature_extractor = train_model(
        train, config, output_dir / "trainer", seed=seed, resume=resume, on_bad_audio=None
    )
    runtime_s = time.perf_counter() - start
    save_model(output_dir, model, feature_extractor)
    record = _tested_record(fold, (train, test), model, feature_extractor, config, seed, runtime_s)
    protocol = (
        f"trained on speakers {', '.join(sorted(set(train['speaker'])))}, "
        f"tested on the held-out speakers {', '.join(sorted(set(test['speaker'])))}"
    )
    results = aggregate_results([record], train, config, protocol=protocol)
    write_results(results, output_dir)
    write_model_card(output_dir, results, model_id=model_id)
    return results


def run_fold(
    dataset: Dataset,
    fold: int,
    config: ExperimentConfig,
    output_dir: str | Path,
    *,
    seed: int | None = None,
    **train_options: Any,
) -> tuple[dict[str, Any], FlamForSequenceClassification, FeatureExtractionMixin]:
    """Train on every fold of `dataset` but `fold` and test on `fold` (hard labels, whole
    clips, no mixing): the one training path of `run_cross_validation` and the benchmarks.

    Args:
        dataset: a corpus Dataset with a ``fold`` column (see `eam_ser.corpora`).
        fold: the held-out fold.
        config: the experiment settings.
        output_dir: the trainer's checkpoint folder.
        seed: overrides `config.training.seed`.
        **train_options: the keyword arguments of `train_model`: ``resume`` (continue from
            the last checkpoint in `output_dir`), ``collator_factory`` (builds the training
            collator; default `eam_ser.experiment.build.build_collator`) and ``disable_tqdm``
            (overrides Trainer's progress bars); ``on_bad_audio=None`` skips the data check of
            the fold's files (made by the caller; otherwise a bad file refuses the fold).

    Returns:
        (fold record: test speakers, sizes, metrics with every test utterance's prediction,
        seed, training seconds; the trained model; its feature extractor).
    """
    seed = config.training.seed if seed is None else seed
    train, test = train_test_split_by_fold(dataset, fold)
    on_bad_audio = train_options.pop("on_bad_audio", "error")
    if on_bad_audio is not None and holds_files(dataset):
        kept, _ = check_run_data_of(config, {"train": train, "test": test}, on_bad_audio)
        train, test = kept["train"], kept["test"]
    start = time.perf_counter()
    model, feature_extractor = train_model(
        train, config, output_dir, seed=seed, on_bad_audio=None, **train_options
    )
    runtime_s = time.perf_counter() - start
    record = _tested_record(
        fold, (train, test), model, feature_extractor, config, seed, runtime_s, corpus=dataset
    )
    return record, model, feature_extractor


def _tested_record(
    fold: int | None,
    split: tuple[Dataset, Dataset],
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    config: ExperimentConfig,
    seed: int,
    runtime_s: float,
    corpus: Dataset | None = None,
) -> dict[str, Any]:
    """The fold record (`fold_record`) of `model`, trained on ``split[0]`` in `runtime_s`
    seconds, tested on ``split[1]``: whole clips, no mixing, every test utterance's prediction
    kept (what `eam-ser compare` pairs), its file relative to the folder of the whole `corpus`
    (default: of both splits), so the results name no local folder."""
    train, test = split
    metrics = evaluate_model(
        model,
        feature_extractor,
        test,
        config.training.per_device_eval_batch_size,
        per_utterance=True,
        files_relative_to=audio_folder(*((corpus,) if corpus is not None else split)),
    )
    return fold_record(fold, train, test, metrics, seed, runtime_s)


def _list_skipped(report: DataCheckReport, output_dir: Path) -> None:
    """Write the files the data check skipped to ``output_dir/skipped_files.csv`` (main
    process only) and say where."""
    if report.skipped and is_main_process():
        output_dir.mkdir(parents=True, exist_ok=True)
        tqdm.write(f"  list: {report.write_skipped(output_dir / 'skipped_files.csv')}")


FINAL_MODEL_NOTE = (
    "The scores above are the cross-validation estimate. This model was then trained "
    "on all speakers with the same budget, so it has no held-out score of its own."
)


def run_cross_validation(
    dataset: Dataset,
    config: ExperimentConfig,
    output_dir: str | Path,
    folds: Sequence[int] | None = None,
    *,
    final_model: bool = False,
    model_id: str | None = None,
    resume: bool = False,
    on_bad_audio: str | None = "error",
) -> dict[str, Any]:
    """Train and test on every speaker-independent fold of `dataset` (its ``fold`` column).

    Before any training every file is checked once (`check_run_data_of`, policy
    `on_bad_audio` as in `run_split`; None: the caller checked them).

    After each fold its record goes to ``fold_<k>/fold_result.json`` and the results files are
    rewritten over the folds finished so far, so an interrupted run keeps every finished fold.
    With `resume`, finished folds are read back instead of trained again and the first
    unfinished fold continues from its last checkpoint.

    Args:
        dataset: a corpus Dataset (see `eam_ser.corpora`).
        config: the experiment settings; every fold uses `config.training.seed`.
        output_dir: receives results.json, results.md, confusion_matrix.png and ``fold_<k>/``
            trainer folders.
        folds: the folds to run (default all).
        final_model: afterwards train one model on all speakers with the same budget and save
            it, with the cross-validation results in its card, to ``output_dir / "model"``.
        model_id: Hub id shown in that model's card.
        resume: continue an interrupted run in `output_dir` (see above).

    Returns:
        The results dict written to results.json.
    """
    output_dir = Path(output_dir)
    available = sorted(set(dataset["fold"]))
    if len(available) < 2:
        raise ValueError(f"dataset: cross-validation needs at least 2 folds, found {available}")
    folds = available if folds is None else list(folds)
    missing = sorted(set(folds) - set(available))
    if missing:
        raise ValueError(f"folds {missing} are not in the dataset (folds: {available})")
    if on_bad_audio is not None and holds_files(dataset):
        kept, report = check_run_data_of(
            config, {"train": dataset}, on_bad_audio, tested_whole=True
        )
        dataset = kept["train"]
        _list_skipped(report, output_dir)
    fold_results = []
    for fold in tqdm(folds, desc="folds", unit="fold"):
        fold_dir = output_dir / f"fold_{fold}"
        record = fold_dir / FOLD_RESULT_NAME
        if resume and record.is_file():
            fold_results.append(json.loads(record.read_text(encoding="utf-8")))
            tqdm.write(f"fold {fold}: finished before, read from {record}")
            continue
        fold_result, _, _ = run_fold(
            dataset, fold, config, fold_dir, resume=resume, on_bad_audio=None
        )
        fold_results.append(fold_result)
        if is_main_process():
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(strict_json(fold_result), encoding="utf-8")
        write_results(aggregate_results(fold_results, dataset, config), output_dir)
        tqdm.write(f"fold {fold}: {format_scores(fold_result)}")
    results = aggregate_results(fold_results, dataset, config)
    write_results(results, output_dir)
    if final_model:
        model, feature_extractor = train_model(
            dataset,
            config,
            output_dir / "final",
            seed=config.training.seed,
            resume=resume,
            on_bad_audio=None,
        )
        save_model(
            output_dir / "model",
            model,
            feature_extractor,
            results,
            model_id=model_id,
            final_model_note=FINAL_MODEL_NOTE,
        )
    return results
