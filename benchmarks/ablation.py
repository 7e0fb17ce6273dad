"""Does EAM help? EmoDB ablation with a fine-tuned Whisper base encoder, clean and under noise.

Speaker-independent 5-fold cross-validation on ``../shared/data/emodb`` (each fold holds out
one female and one male speaker, `load_emodb(protocol="speaker_pairs")`). Every row fine-tunes
the same pretrained encoder (default ``../shared/models/whisper-base-encoder``, all six layers;
``--trainable-encoder-layers N`` for the top N) with the same budget, seeds and learning
rates, through the library's one training path (`eam_ser.experiment.run_fold`); a row is an
`ExperimentConfig` and nothing else. The last model is tested on the held-out speakers' whole
clips, then on the same clips with interference added (see ROBUSTNESS below).

Rows (``--rows`` names); "CE" is the KL term alone with one-hot targets:

- ``baseline``: mean pooling + CE, no mixup (`WhisperForAudioClassification`'s recipe);
- ``flam``: + FLAM (one block, context broadcasting, attentive pooling), CE, no mixup;
- ``no_mix``: FLAM + the four MLL losses, no mixup (the reference of the paired differences);
- ``eam``: + EAM, energy labels (the default); ``eam_length``: label_mode "length";
  ``eam_hard``: label_mode "hard";
- ``mix_original`` / ``mix_union``: whole-clip in-batch mixing at EAM's SNRs (the
  torch-audiomentations ``Mix`` recipe) with its "original" / "union" targets;
- ``mixup``: classic mixup (Zhang et al. 2018), Beta(0.4, 0.4) weight, soft label;
- ``egemaps`` / ``egemaps_speaker_norm``: openSMILE eGeMAPS v02 functionals + linear SVM
  references (CPU only; the second z-normalises each speaker's features, transductively).

Every mixing row mixes a sample with probability ``--p`` (EAM's default, 0.5). Robustness: each test clip
with stationary white noise, and with interfering speech (an utterance of a training speaker,
never a test speaker, looped to the clip's length), at ``--snrs`` dB over the whole clip; the
interferers and noise depend on the fold only, so every row and seed gets the same test sets.

Reproduce (GPU: ``--workers`` trainings share it, about 4 minutes per row-fold with 8 on an
H100; on 2 CPU cores ``--workers 2`` runs two row-folds side by side in about 28 minutes) and a
smoke run:

    python benchmarks/ablation.py --workers 8 --loader-workers 1
    python benchmarks/ablation.py --rows egemaps,egemaps_speaker_norm --output runs/egemaps.json
    python benchmarks/ablation.py --encoder ../shared/models/whisper-tiny-en-encoder \\
        --epochs 0.2 --folds 0 --seeds 0 --rows no_mix,eam --output /tmp/ablation_smoke.json
    python benchmarks/ablation.py --print-config eam   # the row as an `eam-ser train --config`

Writes ``benchmarks/results/ablation.json`` after every finished run (``--resume`` keeps the
runs already there), prints the table and draws ``benchmarks/results/robustness.png``.
"""

from __future__ import annotations

import os

# One thread per worker process: must be set before numpy / torch are imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import yaml  # noqa: E402
from datasets import Dataset  # noqa: E402
from results_file import add_output_arguments, output_path, source_revision  # noqa: E402

import eam_ser  # noqa: E402
from eam_ser.corpora import (  # noqa: E402
    CORPORA,
    label_names,
    load_corpus,
    train_test_split_by_fold,
)
from eam_ser.data.audio import DEFAULT_SAMPLING_RATE, load_audio  # noqa: E402
from eam_ser.evaluation.metrics import ser_metrics  # noqa: E402
from eam_ser.experiment import (  # noqa: E402
    ExperimentConfig,
    TrainingSettings,
    feature_cache_mode,
    run_fold,
    summarize_runs,
)
from eam_ser.inference import EmotionRecognizer  # noqa: E402
from eam_ser.inference.robustness import ROBUSTNESS_SNRS, interference_sets  # noqa: E402
from eam_ser.mixup import EAM_DEFAULTS, EnergyAdaptiveMixupSettings  # noqa: E402
from eam_ser.models.flam.loss_settings import MultiLossSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "shared" / "data"
# The corpora a grid runs on (``--corpus``), with their loader arguments: EmoDB in its 5
# speaker-pair folds, URDU in its 5 folds balanced by utterances.
CORPUS_PROTOCOLS: dict[str, dict[str, Any]] = {
    "emodb": {"protocol": "speaker_pairs"},
    "urdu": {},
}
ENCODER_DIR = ROOT / "shared" / "models" / "whisper-base-encoder"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS_PATH = RESULTS_DIR / "ablation.json"
PLOT_PATH = RESULTS_DIR / "robustness.png"

EGEMAPS_C_GRID = (1e-3, 1e-2, 1e-1, 1.0)
INTERFERENCES = ("noise", "speech")
REFERENCE_ROW = "no_mix"

BASELINE_HEAD = {"num_flam_layers": 0, "pooling": "mean"}
FLAM_HEAD = {"num_flam_layers": 1, "pooling": "attentive"}
CE_ONLY = MultiLossSettings(focal_weight=0.0, center_weight=0.0, supcon_weight=0.0)
ALL_FOUR = MultiLossSettings()


@dataclasses.dataclass(frozen=True)
class Row:
    """One row: its title, head, losses and mixing (None: no mixing); `training` overrides
    `TrainingSettings` fields of the command's budget (e.g. a longer ``num_train_epochs``);
    `reference` names the row its paired differences are taken against (None: none)."""

    title: str
    head: Mapping[str, Any]
    loss: MultiLossSettings
    label_mode: str | None = None
    baseline_mixing: Mapping[str, Any] | None = None
    eam_overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    training: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    reference: str | None = REFERENCE_ROW

    @property
    def mixes(self) -> bool:
        return self.label_mode is not None or self.baseline_mixing is not None


ROWS: dict[str, Row] = {
    "baseline": Row("mean pooling + CE, no mixup", BASELINE_HEAD, CE_ONLY),
    "flam": Row("FLAM + CE, no mixup", FLAM_HEAD, CE_ONLY),
    "no_mix": Row("FLAM + four losses, no mixup", FLAM_HEAD, ALL_FOUR),
    "eam": Row("+ EAM, energy labels (default)", FLAM_HEAD, ALL_FOUR, "energy"),
    "eam_length": Row("+ EAM, length labels", FLAM_HEAD, ALL_FOUR, "length"),
    "eam_hard": Row("+ EAM, hard labels", FLAM_HEAD, ALL_FOUR, "hard"),
    "mix_original": Row(
        "+ whole-clip mix (Mix recipe), original target",
        FLAM_HEAD,
        ALL_FOUR,
        baseline_mixing={"method": "whole_clip", "target": "original"},
    ),
    "mix_union": Row(
        "+ whole-clip mix (Mix recipe), union target",
        FLAM_HEAD,
        ALL_FOUR,
        baseline_mixing={"method": "whole_clip", "target": "union"},
    ),
    "mixup": Row(
        "+ classic mixup, Beta(0.4, 0.4)",
        FLAM_HEAD,
        ALL_FOUR,
        baseline_mixing={"method": "mixup", "alpha": 0.4},
    ),
}
# Rows that vary one EAM setting, run when named in --rows (not by default): where EAM's
# default does not help, which of its settings would?
SWEEP_ROWS: dict[str, Row] = {
    "eam_p1": Row("EAM, p = 1", FLAM_HEAD, ALL_FOUR, "energy", eam_overrides={"p": 1.0}),
    "eam_snr_high": Row(
        "EAM, SNR 5 to 15 dB",
        FLAM_HEAD,
        ALL_FOUR,
        "energy",
        eam_overrides={"min_snr_db": 5.0, "max_snr_db": 15.0},
    ),
    "eam_snr_low": Row(
        "EAM, SNR -10 to 0 dB",
        FLAM_HEAD,
        ALL_FOUR,
        "energy",
        eam_overrides={"min_snr_db": -10.0, "max_snr_db": 0.0},
    ),
    "eam_short": Row(
        "EAM, segments up to 25 %",
        FLAM_HEAD,
        ALL_FOUR,
        "energy",
        eam_overrides={"max_mix_fraction": 0.25},
    ),
}
ROWS.update(SWEEP_ROWS)
EGEMAPS_ROWS = {
    "egemaps": "reference: eGeMAPS functionals + linear SVM",
    "egemaps_speaker_norm": "reference: eGeMAPS + per-speaker z-norm + linear SVM",
}
ALL_ROWS = (*ROWS, *EGEMAPS_ROWS)
DEFAULT_ROWS = [name for name in ALL_ROWS if name not in SWEEP_ROWS]


@dataclasses.dataclass(frozen=True)
class Grid:
    """A table of rows that this runner trains and tests (the ablation; `regimes.py`'s)."""

    script: str
    rows: Mapping[str, Row]
    default_rows: Sequence[str]
    plotted_rows: Sequence[str]
    results_path: Path
    plot_path: Path
    plot_title: str
    doc: str
    reference_label: str = "no mixup"
    egemaps_rows: Mapping[str, str] = dataclasses.field(default_factory=dict)
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def all_rows(self) -> tuple[str, ...]:
        return (*self.rows, *self.egemaps_rows)


def experiment_config(row: Row, args: argparse.Namespace, seed: int) -> ExperimentConfig:
    """The `ExperimentConfig` of `row`: the same encoder, budget and rates for every row."""
    head = dict(row.head)
    if args.trainable_encoder_layers is not None and "trainable_encoder_layers" not in head:
        head["trainable_encoder_layers"] = args.trainable_encoder_layers
    mode = row.label_mode or "energy"
    return ExperimentConfig(
        encoder=str(args.encoder),
        flam=head,
        eam=EnergyAdaptiveMixupSettings(
            **{"p": args.p if row.mixes else 0.0, "label_mode": mode, **row.eam_overrides}
        ),
        loss=row.loss,
        training=TrainingSettings(
            **{
                **dict(
                    head_learning_rate=args.head_learning_rate,
                    encoder_learning_rate=args.encoder_learning_rate,
                    num_train_epochs=args.epochs,
                    per_device_train_batch_size=args.batch_size,
                    per_device_eval_batch_size=32,
                    warmup_steps=0.1,
                    seed=seed,
                    logging_steps=50,
                    dataloader_num_workers=args.loader_workers,
                    save_steps=100_000,
                    max_train_seconds=args.max_train_seconds,
                ),
                **row.training,
            }
        ),
        baseline_mixing=None if row.baseline_mixing is None else dict(row.baseline_mixing),
    )


# --------------------------------------------------------------------------------------- data


@cache
def corpus(name: str) -> Dataset:
    """Corpus `name` of `CORPUS_PROTOCOLS` from ``../shared/data/<name>``, with its 5 folds."""
    return load_corpus(name, DATA_DIR / name, **CORPUS_PROTOCOLS[name])


@cache
def corpus_waveforms(name: str) -> dict[str, np.ndarray]:
    """Audio path -> float32 (samples,) waveform at 16 kHz, for every clip of corpus `name`."""
    return {path: load_audio(path) for path in corpus(name)["audio"]}


def robustness_sets(
    name: str, fold: int, snrs: Sequence[float]
) -> dict[str, dict[float, list[np.ndarray]]]:
    """For every interference and SNR, the test clips of `fold` of corpus `name` with it added
    (`eam_ser.inference.robustness.interference_sets`, the ladder of ``eam-ser evaluate
    --robustness``).

    Noise: white Gaussian. Speech: per test clip an utterance of a training speaker (the other
    folds), drawn once per fold. Both depend only on `fold` (seed ``[fold, 7]``)."""
    dataset = corpus(name)
    train, test = train_test_split_by_fold(dataset, fold)
    waveforms = corpus_waveforms(name)
    pool = np.asarray(train["audio"])
    return interference_sets(
        [waveforms[path] for path in test["audio"]],
        lambda drawn: [waveforms[path] for path in pool[drawn]],
        len(pool),
        np.random.default_rng([fold, 7]),
        snrs,
    )


# ---------------------------------------------------------------------------------- training


def run_job(row: Row, name: str, fold: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train `row` (named `name`) on every fold but `fold` with `seed`; test it on `fold` clean
    and under every interference; also score the (unmixed, uncropped) training clips."""
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    config = experiment_config(row, args, seed)
    dataset = corpus(args.corpus)
    train, test = train_test_split_by_fold(dataset, fold)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as output_dir:
        record, model, feature_extractor = run_fold(
            dataset, fold, config, output_dir, disable_tqdm=True
        )
    recognizer = EmotionRecognizer(model, feature_extractor, batch_size=32)
    num_labels = len(label_names(dataset))

    def ua_of(clips: Sequence[np.ndarray], labels: Sequence[int]) -> dict[str, float]:
        predictions = recognizer.predict_logits(clips)
        metrics = ser_metrics(predictions.argmax(-1), np.asarray(labels), num_labels=num_labels)
        return {"wa": metrics["wa"], "ua": metrics["ua"]}

    waveforms = corpus_waveforms(args.corpus)
    train_scores = ua_of([waveforms[path] for path in train["audio"]], train["label"])
    robustness = {
        interference: {str(snr): ua_of(clips, test["label"])["ua"] for snr, clips in sets.items()}
        for interference, sets in robustness_sets(args.corpus, fold, args.snrs).items()
    }
    return {
        "row": name,
        **{key: record[key] for key in ("fold", "seed", "test_speakers", "num_train", "num_test")},
        **{key: record[key] for key in ("wa", "ua", "macro_f1", "confusion_matrix")},
        "train_wa": train_scores["wa"],
        "train_ua": train_scores["ua"],
        "robustness_ua": robustness,
        "train_s": record["train_runtime_s"],
        "feature_cache": feature_cache_mode(config, model),
        "total_s": round(time.perf_counter() - start, 1),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }


@cache
def egemaps_features(name: str) -> tuple[np.ndarray, float]:
    """eGeMAPS v02 functionals of every clip of corpus `name`, (num_clips, 88), and the seconds
    taken."""
    import opensmile

    start = time.perf_counter()
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    waveforms = corpus_waveforms(name)
    features = np.stack(
        [
            smile.process_signal(waveforms[path], DEFAULT_SAMPLING_RATE).to_numpy()[0]
            for path in corpus(name)["audio"]
        ]
    )
    return features, time.perf_counter() - start


def egemaps_results(name: str, row_name: str, folds: Sequence[int]) -> list[dict[str, Any]]:
    """eGeMAPS v02 functionals + StandardScaler + LinearSVC on each fold of corpus `name` (one
    result each).

    C is chosen per fold by GroupKFold(4) over the training speakers (balanced accuracy), never
    on the test fold. Row ``egemaps_speaker_norm`` first z-normalises each speaker's features
    over all of that speaker's utterances (no labels used).
    """
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    features, extraction_s = egemaps_features(name)
    dataset = corpus(name)
    labels = np.asarray(dataset["label"])
    speakers = np.asarray(dataset["speaker"])
    if row_name == "egemaps_speaker_norm":
        features = features.copy()
        for speaker in np.unique(speakers):
            rows = speakers == speaker
            features[rows] = (features[rows] - features[rows].mean(axis=0)) / (
                features[rows].std(axis=0) + 1e-8
            )
    dataset_folds = np.asarray(dataset["fold"])
    results = []
    for fold in folds:
        fold_start = time.perf_counter()
        train, test = dataset_folds != fold, dataset_folds == fold
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LinearSVC(max_iter=20000)),
            {"linearsvc__C": list(EGEMAPS_C_GRID)},
            scoring="balanced_accuracy",
            cv=GroupKFold(n_splits=4),
        )
        search.fit(features[train], labels[train], groups=speakers[train])
        metrics = ser_metrics(
            search.predict(features[test]), labels[test], num_labels=len(label_names(dataset))
        )
        results.append(
            {
                "row": row_name,
                "fold": fold,
                "seed": None,
                "test_speakers": sorted(set(speakers[test].tolist())),
                "num_train": int(train.sum()),
                "num_test": int(test.sum()),
                "wa": metrics["wa"],
                "ua": metrics["ua"],
                "macro_f1": metrics["macro_f1"],
                "confusion_matrix": metrics["confusion_matrix"],
                "svm_c": search.best_params_["linearsvc__C"],
                "total_s": round(time.perf_counter() - fold_start + extraction_s / len(folds), 1),
            }
        )
    return results


# ------------------------------------------------------------------------------------ results


def summarize(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`summarize_runs` (mean, sample std over every seed x fold run) plus per-seed UA, the
    training-set scores, mean UA per interference and SNR, and the wall time."""
    summary = summarize_runs(runs)
    seeds = sorted({run["seed"] for run in runs}, key=lambda seed: (seed is None, seed))
    summary["seeds"] = seeds
    summary["ua_mean_per_seed"] = {
        str(seed): float(np.mean([run["ua"] for run in runs if run["seed"] == seed]))
        for seed in seeds
    }
    if all("train_ua" in run for run in runs):
        summary["train_wa_mean"] = float(np.mean([run["train_wa"] for run in runs]))
    if all("robustness_ua" in run for run in runs):
        first = runs[0]["robustness_ua"]
        summary["robustness_ua_mean"] = {
            interference: {
                snr: float(np.mean([run["robustness_ua"][interference][snr] for run in runs]))
                for snr in first[interference]
            }
            for interference in first
        }
    summary["wall_time_s"] = round(sum(run["total_s"] for run in runs), 1)
    return summary


def paired_difference(
    runs: Sequence[Mapping[str, Any]],
    reference_runs: Sequence[Mapping[str, Any]],
    value: Any = lambda run: run["ua"],
) -> dict[str, Any] | None:
    """Mean of ``value(run) - value(reference)`` over the (seed, fold) pairs in both lists, with
    a 95 % t-interval over those pairs (treated as independent); None without pairs."""
    from scipy import stats

    reference = {(run["seed"], run["fold"]): run for run in reference_runs}
    differences = np.array(
        [
            value(run) - value(reference[(run["seed"], run["fold"])])
            for run in runs
            if (run["seed"], run["fold"]) in reference
        ]
    )
    if differences.size == 0:
        return None
    mean = float(differences.mean())
    if differences.size == 1:
        return {"mean": mean, "low": None, "high": None, "pairs": 1, "better": int(mean > 0)}
    half = float(
        stats.t.ppf(0.975, differences.size - 1)
        * differences.std(ddof=1)
        / np.sqrt(differences.size)
    )
    return {
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "pairs": int(differences.size),
        "better": int((differences > 0).sum()),
    }


def mean_interference_ua(run: Mapping[str, Any]) -> float:
    """A run's UA averaged over every interference and SNR (10 test conditions by default)."""
    return float(np.mean([ua for curve in run["robustness_ua"].values() for ua in curve.values()]))


def _interval_text(difference: Mapping[str, Any] | None) -> str:
    """``+1.3 [-4.7, +7.3] (3/5)`` in points, or "" without an interval."""
    if difference is None or difference["low"] is None:
        return ""
    return (
        f"{100 * difference['mean']:+.1f} [{100 * difference['low']:+.1f}, "
        f"{100 * difference['high']:+.1f}] ({difference['better']}/{difference['pairs']})"
    )


def markdown_table(report: Mapping[str, Any], grid: Grid | None = None) -> str:
    """The results table: WA and UA mean ± std in %, the paired UA difference to the row's
    reference (``no_mix`` in the ablation) with its 95 % interval and how many pairs
    improved, UA under 0 dB noise and 0 dB interfering speech, the paired difference of the
    UA averaged over every interference condition, training-set WA, minutes per run, and
    seeds x folds with the devices that ran them."""
    grid = ABLATION if grid is None else grid
    rows = report["rows"]
    versus_label = grid.reference_label
    lines = [
        f"| row | WA % | UA % | UA vs {versus_label} [95 % CI] (pairs better) | UA, noise 0 dB | "
        f"UA, speech 0 dB | interference UA vs {versus_label} | train WA % | min / run | "
        "seeds x folds (device) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in grid.all_rows:
        if not rows.get(name, {}).get("runs"):
            continue
        entry = rows[name]
        summary = entry["summary"]
        row = grid.rows.get(name)
        reference_name = None if row is None or row.reference == name else row.reference
        reference = rows.get(reference_name, {}).get("runs", []) if reference_name else []
        difference = paired_difference(entry["runs"], reference) if reference else None
        versus = _interval_text(difference)
        robust_difference = (
            paired_difference(entry["runs"], reference, mean_interference_ua)
            if reference and all("robustness_ua" in run for run in entry["runs"])
            else None
        )
        robust = summary.get("robustness_ua_mean", {})
        noise = robust.get("noise", {}).get("0.0")
        speech = robust.get("speech", {}).get("0.0")
        train_wa = summary.get("train_wa_mean")

        def percent(value: float | None) -> str:
            return "" if value is None else f"{100 * value:.1f}"

        lines.append(
            f"| {entry['title']} "
            f"| {100 * summary['mean']['wa']:.1f} ± {100 * summary['std']['wa']:.1f} "
            f"| {100 * summary['mean']['ua']:.1f} ± {100 * summary['std']['ua']:.1f} "
            f"| {versus} | {percent(noise)} | {percent(speech)} "
            f"| {_interval_text(robust_difference)} | {percent(train_wa)} "
            f"| {summary['wall_time_s'] / 60 / len(entry['runs']):.1f} "
            f"| {_runs_text(entry['runs'])} |"
        )
    return "\n".join(lines)


def _runs_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """``"2 x 5 (H100)"``: seeds x folds (``"7 runs"`` when that grid is incomplete) and the
    devices that trained them, with their run counts when there are several (``"3 H100, 2
    CPU"``; the eGeMAPS rows, which record none, ran on the CPU)."""
    seeds = {run["seed"] for run in runs}
    folds = {run["fold"] for run in runs}
    grid = len(seeds) * len(folds)
    shape = f"{len(seeds)} x {len(folds)}" if len(runs) == grid else f"{len(runs)} runs"
    devices = Counter(
        "CPU" if device == "cpu" else device.removeprefix("NVIDIA ").split()[0]
        for device in (run.get("device", "cpu") for run in runs)
    )
    if len(devices) == 1:
        return f"{shape} ({next(iter(devices))})"
    return f"{shape} ({', '.join(f'{count} {device}' for device, count in devices.items())})"


def plot_robustness(report: Mapping[str, Any], path: Path, grid: Grid | None = None) -> Path:
    """UA against SNR, one line per plotted row (named by its title), one panel per
    interference (clean UA drawn at the right edge, labelled "clean"); error bars: the
    standard deviation over the runs; solid lines mix with EAM, dashed ones do not."""
    grid = ABLATION if grid is None else grid
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(INTERFERENCES), figsize=(12, 4.8), sharey=True)
    plotted = [name for name in grid.plotted_rows if report["rows"].get(name, {}).get("runs")]
    for axis, interference in zip(axes, INTERFERENCES, strict=True):
        for order, name in enumerate(plotted):
            entry = report["rows"].get(name, {})
            runs = entry.get("runs", [])
            curve = entry.get("summary", {}).get("robustness_ua_mean", {}).get(interference)
            if not curve:
                continue
            snrs = sorted(float(snr) for snr in curve)
            per_run = np.array(
                [
                    [run["robustness_ua"][interference][str(snr)] for snr in snrs] + [run["ua"]]
                    for run in runs
                ]
            )
            # Rows side by side around each SNR, so that their error bars do not hide each other.
            shift = 0.5 * (order - (len(plotted) - 1) / 2)
            positions = [snr + shift for snr in [*snrs, max(snrs) + 10]]
            std = per_run.std(axis=0, ddof=1) if len(runs) > 1 else None
            style = "-" if grid.rows[name].label_mode is not None else "--"
            axis.errorbar(
                positions,
                100 * per_run.mean(axis=0),
                yerr=None if std is None else 100 * std,
                fmt=style,
                marker="o",
                markersize=3,
                capsize=2,
                label=grid.rows[name].title,
            )
        axis.set_xticks([*ROBUSTNESS_SNRS, max(ROBUSTNESS_SNRS) + 10])
        axis.set_xticklabels([*(f"{snr:g}" for snr in ROBUSTNESS_SNRS), "clean"])
        axis.invert_xaxis()
        axis.set_xlabel(
            f"SNR of the added {'white noise' if interference == 'noise' else 'interfering speech'} (dB)"
        )
        axis.grid(alpha=0.3)
    seeds = {run["seed"] for name in plotted for run in report["rows"][name]["runs"]}
    axes[0].set_ylabel(
        "UA % (held-out speakers, mean ± std over "
        + ("folds)" if len(seeds) == 1 else "seeds x folds)")
    )
    axes[-1].legend(fontsize=7, loc="lower left")
    figure.suptitle(
        f"{grid.plot_title}: UA under interference (solid: EAM, dashed: other mixing or none)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Recompute every row's summary and write the JSON atomically."""
    for row in report["rows"].values():
        if row["runs"]:
            row["summary"] = summarize(row["runs"])
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C is handled by the main process, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _terminate_like_ctrl_c(signal_number: int, frame: Any) -> None:
    """SIGTERM (``kill``, a job scheduler) stops the run as Ctrl-C does: without it the main
    process died alone and its spawned workers trained on, orphaned, for nothing."""
    raise KeyboardInterrupt


def row_settings(name: str, args: argparse.Namespace, grid: Grid | None = None) -> dict[str, Any]:
    """What a row was run with, for the JSON: its resolved `ExperimentConfig` (seed aside)."""
    grid = ABLATION if grid is None else grid
    if name in grid.egemaps_rows:
        return {
            "features": "openSMILE eGeMAPSv02 functionals (88)",
            "speaker_normalization": name == "egemaps_speaker_norm",
            "classifier": "StandardScaler + LinearSVC",
            "c_grid": list(EGEMAPS_C_GRID),
            "c_selection": "GroupKFold(4) over training speakers, balanced accuracy",
        }
    return experiment_config(grid.rows[name], args, args.seeds[0]).to_dict(resolved=True)


# The arguments that change what a run trains or how it is tested (not which runs, nor how
# many run at once): a resumed file must keep them.
RUN_ARGUMENTS = (
    "corpus",
    "trainable_encoder_layers",
    "epochs",
    "batch_size",
    "head_learning_rate",
    "encoder_learning_rate",
    "max_train_seconds",
    "p",
    "snrs",
)


def resume_conflicts(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The run-defining arguments (`RUN_ARGUMENTS`, and the encoder's folder name: the same
    weights may lie in another place on another machine) where `current` differs from the
    `previous` command's, as ``--name FILE_VALUE (this command: VALUE)`` strings."""
    conflicts = [
        f"--{key.replace('_', '-')} {previous[key]} (this command: {current[key]})"
        for key in RUN_ARGUMENTS
        if key in previous and previous[key] != current[key]
    ]
    if "encoder" in previous and Path(previous["encoder"]).name != Path(current["encoder"]).name:
        conflicts.insert(0, f"--encoder {previous['encoder']} (this command: {current['encoder']})")
    return conflicts


def _seeds(text: str) -> list[int]:
    return [int(value) for value in text.split(",")]


def parse_arguments(
    argv: Sequence[str] | None = None, grid: Grid | None = None
) -> argparse.Namespace:
    grid = ABLATION if grid is None else grid
    parser = argparse.ArgumentParser(
        description=grid.doc.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=grid.doc.split("\n\n", 1)[1],
    )
    parser.add_argument("--encoder", type=Path, default=ENCODER_DIR, help="pretrained encoder")
    parser.add_argument(
        "--corpus",
        choices=list(CORPUS_PROTOCOLS),
        default="emodb",
        help="the corpus in ../shared/data (default emodb)",
    )
    parser.add_argument(
        "--trainable-encoder-layers",
        type=int,
        default=None,
        help="fine-tune the top N encoder layers (default: all)",
    )
    parser.add_argument("--epochs", type=float, default=12.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--head-learning-rate", type=float, default=None)
    parser.add_argument("--encoder-learning-rate", type=float, default=None)
    parser.add_argument(
        "--max-train-seconds",
        type=lambda text: None if text == "none" else float(text),
        default=4.0,
    )
    parser.add_argument(
        "--p", type=float, default=EAM_DEFAULTS.p, help="mixing probability of every row"
    )
    parser.add_argument(
        "--snrs", type=lambda s: [float(v) for v in s.split(",")], default=list(ROBUSTNESS_SNRS)
    )
    parser.add_argument("--folds", type=_seeds, default=[0, 1, 2, 3, 4])
    parser.add_argument("--seeds", type=_seeds, default=[0, 1])
    parser.add_argument(
        "--rows",
        type=lambda s: s.split(","),
        default=list(grid.default_rows),
        help=f"comma-separated subset of {', '.join(grid.all_rows)} (default "
        f"{', '.join(grid.default_rows)})",
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel training processes")
    parser.add_argument(
        "--loader-workers", type=int, default=0, help="DataLoader workers per training process"
    )
    add_output_arguments(parser, grid.results_path)
    parser.add_argument("--plot", type=Path, default=grid.plot_path, help="robustness plot (PNG)")
    parser.add_argument(
        "--resume", action="store_true", help="keep the runs already in --output, run the rest"
    )
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of --output, redraw the plot"
    )
    parser.add_argument(
        "--print-config", metavar="ROW", help="print ROW's config (YAML for eam-ser train --config)"
    )
    parser.set_defaults(**grid.defaults)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows) - set(grid.all_rows))
    if unknown:
        parser.error(f"--rows: unknown {unknown}; known: {', '.join(grid.all_rows)}")
    if args.print_config is not None and args.print_config not in grid.rows:
        parser.error(
            f"--print-config: unknown row {args.print_config!r}; known: {', '.join(grid.rows)}"
        )
    return args


def main(argv: Sequence[str] | None = None, grid: Grid | None = None) -> None:
    grid = ABLATION if grid is None else grid
    args = parse_arguments(argv, grid)
    rows = grid.rows
    if args.print_config:
        config = experiment_config(rows[args.print_config], args, args.seeds[0])
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return
    if args.table_only:
        report = json.loads(args.output.read_text(encoding="utf-8"))
        print(markdown_table(report, grid))
        print(f"plot: {plot_robustness(report, args.plot, grid)}")
        return
    started = time.perf_counter()
    # Seed-major order: every row has its first seed before any second seed runs.
    jobs = [
        (name, fold, seed)
        for seed in args.seeds
        for name in rows
        if name in args.rows
        for fold in args.folds
    ]
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report: dict[str, Any] = {
        # From the registry: the corpus is loaded by the runs, not before a resume is checked.
        "corpus": CORPORA[args.corpus].title,
        "protocol": CORPORA[args.corpus].protocol,
        "commands": [" ".join(["python", grid.script, *(argv or sys.argv[1:])])],
        "arguments": arguments,
        # One entry per command (a resumed run may continue on another machine).
        "machines": [
            {
                "cpu_count": os.cpu_count(),
                "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                "workers": args.workers,
                "python": platform.python_version(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "eam_ser": eam_ser.__version__,
                "source": source_revision(),
            }
        ],
        "rows": {},
    }
    previous_text = None
    if not args.resume:
        args.output = output_path(args.output, args.overwrite)
    if args.resume and args.output.is_file():
        previous_text = args.output.read_text(encoding="utf-8")
        previous = json.loads(previous_text)
        conflicts = resume_conflicts(previous.get("arguments", {}), arguments)
        if conflicts:
            sys.exit(
                f"--resume: {args.output} was run with other settings ({'; '.join(conflicts)}); "
                "pass its values so every run of a row has the same budget, or write a new file"
            )
        report["rows"] = previous["rows"]
        report["commands"] = [*previous.get("commands", []), *report["commands"]]
        report["machines"] = [*previous.get("machines", []), *report["machines"]]
        report["arguments"] = previous.get("arguments", arguments)
        started -= previous.get("wall_time_s", 0.0)
    for name in args.rows:
        entry = report["rows"].setdefault(name, {"runs": []})
        # Title and settings as this command runs the row (a file written before a row's
        # budget changed must not keep the old title over the new runs).
        entry["title"] = rows[name].title if name in rows else grid.egemaps_rows[name]
        entry["settings"] = row_settings(name, args, grid)
    done = {
        (run["row"], run["fold"], run["seed"])
        for row in report["rows"].values()
        for run in row["runs"]
    }
    jobs = [job for job in jobs if job not in done]
    egemaps_missing = [
        name for name in grid.egemaps_rows if name in args.rows and not report["rows"][name]["runs"]
    ]
    if previous_text is not None and not jobs and not egemaps_missing:
        # A resume that adds nothing leaves the file as it was (no new command record).
        print(
            f"nothing to run: every requested run is already in {args.output} (left unchanged; "
            "--table-only prints its table, --output NEW.json reruns into a new file)"
        )
        return
    args.output.parent.mkdir(parents=True, exist_ok=True)

    for name in egemaps_missing:
        report["rows"][name]["runs"] = egemaps_results(args.corpus, name, args.folds)
        write_report(args.output, report)
        print(f"{name} done ({time.perf_counter() - started:.0f} s)", flush=True)

    signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)
    # Spawned workers: a CUDA context cannot be inherited by fork.
    pool = ProcessPoolExecutor(
        max_workers=args.workers,
        initializer=_ignore_interrupts,
        mp_context=multiprocessing.get_context("spawn"),
    )
    try:
        futures = {
            pool.submit(run_job, rows[name], name, fold, seed, args): (name, fold, seed)
            for name, fold, seed in jobs
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as error:  # one failed run must not lose the others
                name, fold, seed = futures[future]
                report.setdefault("errors", []).append(
                    {"row": name, "fold": fold, "seed": seed, "error": repr(error)}
                )
                print(f"{name} seed {seed} fold {fold} failed: {error!r}", flush=True)
                continue
            report["rows"][result["row"]]["runs"].append(result)
            report["wall_time_s"] = round(time.perf_counter() - started, 1)
            write_report(args.output, report)
            print(
                f"[{report['wall_time_s']:7.0f} s] {result['row']:13s} seed {result['seed']} "
                f"fold {result['fold']}: UA {100 * result['ua']:.1f} train WA "
                f"{100 * result['train_wa']:.1f} ({result['train_s']:.0f} s)",
                flush=True,
            )
    except KeyboardInterrupt:
        # Workers ignore SIGINT (so a Ctrl-C cannot leave half-written runs behind them): stop
        # them here. Every finished run is already in --output.
        workers = list((getattr(pool, "_processes", None) or {}).values())
        for process in workers:
            process.terminate()
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        finished = sum(len(row["runs"]) for row in report["rows"].values())
        print(
            f"interrupted: {finished} finished runs are in {args.output}"
            + ("; --resume continues" if finished else ""),
            flush=True,
        )
        sys.stderr.flush()
        # Not sys.exit: at exit concurrent.futures joins the pool's manager thread, which can
        # wait for ever on a pool whose workers were killed under it (a hang seen once in CI;
        # CPython gh-83386 is of that kind). Nothing is left to write: the report is on disk.
        os._exit(130)
    pool.shutdown()
    report["wall_time_s"] = round(time.perf_counter() - started, 1)
    write_report(args.output, report)
    print(markdown_table(report, grid))
    if any(report["rows"].get(name, {}).get("runs") for name in rows):
        print(f"plot: {plot_robustness(report, args.plot, grid)}")
    print(f"wrote {args.output} ({report['wall_time_s'] / 60:.1f} min)")


ABLATION = Grid(
    script="benchmarks/ablation.py",
    rows=ROWS,
    default_rows=DEFAULT_ROWS,
    # The reference, the best of each family and the baseline: all nine overlap unreadably
    # (every row is in the table).
    plotted_rows=["baseline", "no_mix", "eam", "eam_hard", "mix_union", "mixup"],
    results_path=RESULTS_PATH,
    plot_path=PLOT_PATH,
    plot_title="EmoDB, Whisper base fine-tuned",
    doc=__doc__,
    egemaps_rows=EGEMAPS_ROWS,
)


if __name__ == "__main__":
    main()
