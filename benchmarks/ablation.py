"""Accuracy ablation on EmoDB: baseline -> + EAM -> + FLAM -> + focal -> + center -> + SupCon.

Speaker-independent 5-fold cross-validation on ``../shared/data/emodb`` (each fold holds out
one female and one male speaker, `load_emodb(protocol="speaker_pairs")`). Every row trains the
same encoder for the same fixed number of optimizer steps with the same seeds, then tests the
last model on the held-out speakers (no checkpoint or epoch is chosen on the test fold).

Rows (the ``--rows`` names):

- ``baseline``: mean pooling + cross-entropy, no mixup (what `WavLMForSequenceClassification`
  does: FLAM with ``num_flam_layers=0, pooling="mean"``, KL to one-hot labels = cross-entropy);
- ``eam``: + energy-adaptive mixup (p=0.5, soft labels, KL);
- ``flam``: + one FLAM block, context broadcasting and attentive pooling;
- ``focal``: + focal loss; ``center``: + center loss; ``full``: + supervised contrastive loss
  (the full method);
- ``mixup``: the full method with EAM replaced by whole-clip mixup without energy adaptation
  (`WholeClipMixupCollator`), to show what the energy and segment choices add;
- ``whisper_baseline`` / ``whisper_full``: rows ``baseline`` and ``full`` on the pretrained
  Whisper tiny.en encoder (``../shared/models/whisper-tiny-en-encoder``), frozen
  (``freeze_encoder_steps=-1``: only the head trains); the collator mixes the waveform and
  then computes log-mel features with the folder's `WhisperFeatureExtractor`;
- ``egemaps``: classic reference, openSMILE eGeMAPS v02 functionals (88 features) +
  standardisation + linear SVM, C chosen by speaker-grouped 4-fold CV on the training speakers;
- ``egemaps_speaker_norm``: the same with every speaker's features z-normalised over that
  speaker's utterances first (as in Eyben et al. 2016; uses the test speakers' unlabelled
  features, a common but transductive step the neural rows do not take).

The first six rows and ``mixup`` train a small WavLM encoder from its config (no pretrained
speech encoder can be downloaded here), see `SCRATCH_ENCODER`. Training clips are randomly
cropped to at most ``--max-train-seconds``; testing uses the full clips.

Reproduce the reported run (51 minutes on 2 cores) and a cheap smoke run:

    python benchmarks/ablation.py
    python benchmarks/ablation.py --steps 20 --whisper-steps 20 --folds 0 --seeds 0 \\
        --output /tmp/ablation_smoke.json

Writes ``benchmarks/results/ablation.json`` after every finished fold (partial results
survive an interruption; ``--resume`` skips the folds already there) and prints the markdown
table.
"""

from __future__ import annotations

import os

# One thread per worker process: must be set before numpy / torch are imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from datasets import Dataset  # noqa: E402
from results_file import add_output_arguments, output_path  # noqa: E402

from eam_ser.audio import DEFAULT_SAMPLING_RATE, load_audio  # noqa: E402
from eam_ser.corpora import label_names, load_emodb, train_test_split_by_fold  # noqa: E402
from eam_ser.crossval import (  # noqa: E402
    ExperimentConfig,
    TrainingSettings,
    build_collator,
    build_feature_extractor,
    build_model,
    evaluate_model,
    training_arguments,
)
from eam_ser.losses import MultiLossSettings as LossSettings  # noqa: E402
from eam_ser.metrics import ser_metrics  # noqa: E402
from eam_ser.mixup import EnergyAdaptiveMixupCollator, draw_partner_index, one_hot  # noqa: E402
from eam_ser.mixup import EnergyAdaptiveMixupSettings as EamSettings  # noqa: E402
from eam_ser.trainer import MultiLossTrainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EMODB_DIR = ROOT / "shared" / "data" / "emodb"
WHISPER_DIR = ROOT / "shared" / "models" / "whisper-tiny-en-encoder"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "ablation.json"

# Small WavLM trained from scratch (0.10 M encoder parameters): the crossval default encoder,
# 7-layer CNN front end with 32 channels and a 320-sample stride (50 frames/s), 2 transformer
# layers of width 64. Chosen so the whole ablation fits in under an hour on 2 CPU cores; a
# 128-wide encoder with a 64-channel CNN costs 3x per step.
SCRATCH_ENCODER: dict[str, Any] = {}
SCRATCH_LEARNING_RATE = 1e-3
# Only the head trains on the frozen Whisper encoder.
WHISPER_LEARNING_RATE = 1e-3
WHOLE_CLIP_MIXUP_ALPHA = 0.4
EGEMAPS_C_GRID = (1e-3, 1e-2, 1e-1, 1.0)

BASELINE_HEAD = {"num_flam_layers": 0, "pooling": "mean"}
FLAM_HEAD = {"num_flam_layers": 1, "pooling": "attentive"}
NO_MIX = EamSettings(p=0.0)
EAM = EamSettings(p=0.5)
KL_ONLY = LossSettings(focal_weight=0.0, center_weight=0.0, supcon_weight=0.0)
PLUS_FOCAL = LossSettings(center_weight=0.0, supcon_weight=0.0)
PLUS_CENTER = LossSettings(supcon_weight=0.0)
ALL_FOUR = LossSettings()


@dataclasses.dataclass(frozen=True)
class Row:
    """One ablation row: its table title, head, EAM settings, losses and encoder."""

    title: str
    head: Mapping[str, Any]
    eam: EamSettings
    loss: LossSettings
    pretrained: bool = False
    whole_clip_mixup: bool = False


ROWS: dict[str, Row] = {
    "baseline": Row("1. baseline: mean pooling + CE, no mixup", BASELINE_HEAD, NO_MIX, KL_ONLY),
    "eam": Row("2. + EAM (soft labels, KL)", BASELINE_HEAD, EAM, KL_ONLY),
    "flam": Row("3. + FLAM", FLAM_HEAD, EAM, KL_ONLY),
    "focal": Row("4. + focal", FLAM_HEAD, EAM, PLUS_FOCAL),
    "center": Row("5. + center", FLAM_HEAD, EAM, PLUS_CENTER),
    "full": Row("6. + SupCon = full method", FLAM_HEAD, EAM, ALL_FOUR),
    "mixup": Row(
        "7. full method, whole-clip mixup instead of EAM",
        FLAM_HEAD,
        EAM,
        ALL_FOUR,
        whole_clip_mixup=True,
    ),
    "whisper_baseline": Row(
        "Whisper tiny.en frozen: baseline", BASELINE_HEAD, NO_MIX, KL_ONLY, pretrained=True
    ),
    "whisper_full": Row(
        "Whisper tiny.en frozen: full method", FLAM_HEAD, EAM, ALL_FOUR, pretrained=True
    ),
}
EGEMAPS_ROWS = {
    "egemaps": "reference: eGeMAPS functionals + linear SVM",
    "egemaps_speaker_norm": "reference: eGeMAPS + per-speaker z-norm + linear SVM",
}
ALL_ROWS = (*ROWS, *EGEMAPS_ROWS)
# Rows run with every seed of --seeds; the others with its first seed only.
MULTI_SEED_ROWS = ("baseline", "full", "whisper_baseline", "whisper_full")


# ---------------------------------------------------------------------------------- collators


class RandomCropCollator:
    """Crop each training clip to at most `max_samples` (random offset), then collate.

    Features carry the audio path under ``audio``; the waveform comes from `waveforms`
    (path -> float32 (samples,) array at 16 kHz), so nothing is decoded during training.
    """

    def __init__(
        self,
        collator: Any,
        waveforms: Mapping[str, np.ndarray],
        max_samples: int,
        seed: int,
    ) -> None:
        self.collator = collator
        self.waveforms = waveforms
        self.max_samples = max_samples
        self.generator = np.random.default_rng([seed, 1])

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        cropped = []
        for feature in features:
            waveform = self.waveforms[feature["audio"]]
            excess = waveform.shape[0] - self.max_samples
            if excess > 0:
                start = int(self.generator.integers(0, excess + 1))
                waveform = waveform[start : start + self.max_samples]
            cropped.append({"audio": waveform, "label": feature["label"]})
        return self.collator(cropped)


class WholeClipMixupCollator:
    """Classic mixup over the whole clip, without energy adaptation (ablation row 7).

    With probability `p` a sample ``x_i`` is mixed with a partner ``x_j`` of the batch (the
    same cyclic derangement as EAM): ``lam * x_i + (1 - lam) * x_j`` over their common length
    (the partner is cut to ``len(x_i)``; a shorter partner adds nothing after its end), with
    ``lam = max(u, 1 - u)``, ``u ~ Beta(alpha, alpha)``, so ``y_i`` stays the argmax of the soft
    label ``lam * onehot(y_i) + (1 - lam) * onehot(y_j)``. Padding, normalisation and features
    come from `padding_collator`, an eval-mode EAM collator (so every row shares that path).
    """

    def __init__(
        self,
        num_labels: int,
        padding_collator: EnergyAdaptiveMixupCollator,
        *,
        p: float,
        alpha: float,
        seed: int,
    ) -> None:
        self.num_labels = num_labels
        self.padding_collator = padding_collator
        self.p = p
        self.alpha = alpha
        self.generator = np.random.default_rng([seed, 2])

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        waveforms = [np.asarray(feature["audio"], dtype=np.float32) for feature in features]
        labels = np.array([int(feature["label"]) for feature in features])
        batch_size = len(features)
        partners = draw_partner_index(batch_size, self.generator)
        draws = self.generator.beta(self.alpha, self.alpha, size=batch_size)
        own_weight = np.maximum(draws, 1.0 - draws)
        mixed = (self.generator.random(batch_size) < self.p) & (batch_size > 1)
        soft_labels = one_hot(labels, self.num_labels)
        mixed_waveforms = []
        for row, waveform in enumerate(waveforms):
            if mixed[row]:
                partner = waveforms[partners[row]][: waveform.shape[0]]
                waveform = own_weight[row] * waveform
                waveform[: partner.shape[0]] += (1.0 - own_weight[row]) * partner
                soft_labels[row] = (
                    own_weight[row] * soft_labels[row]
                    + (1.0 - own_weight[row])
                    * one_hot(labels[partners[row] : partners[row] + 1], self.num_labels)[0]
                )
            mixed_waveforms.append(waveform.astype(np.float32))
        batch = self.padding_collator(
            [{"audio": w, "label": int(y)} for w, y in zip(mixed_waveforms, labels, strict=True)]
        )
        batch["soft_targets"] = torch.from_numpy(soft_labels.astype(np.float32))
        return batch


# --------------------------------------------------------------------------------------- data


@cache
def emodb() -> Dataset:
    """EmoDB with the 5 speaker-pair folds."""
    return load_emodb(EMODB_DIR, protocol="speaker_pairs")


@cache
def emodb_waveforms() -> dict[str, np.ndarray]:
    """Audio path -> float32 (samples,) waveform at 16 kHz, for every EmoDB clip."""
    return {path: load_audio(path) for path in emodb()["audio"]}


# ---------------------------------------------------------------------------------- training


def experiment_config(row: Row, steps: int, seed: int, batch_size: int) -> ExperimentConfig:
    """The `ExperimentConfig` of `row`: same encoder, budget and seed for every row."""
    head = dict(row.head)
    if row.pretrained:
        head["freeze_encoder_steps"] = -1
    return ExperimentConfig(
        encoder=str(WHISPER_DIR) if row.pretrained else None,
        encoder_config={} if row.pretrained else dict(SCRATCH_ENCODER),
        flam=head,
        eam=row.eam,
        loss=row.loss,
        training=TrainingSettings(
            learning_rate=WHISPER_LEARNING_RATE if row.pretrained else SCRATCH_LEARNING_RATE,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            warmup_steps=0.1,
            seed=seed,
            logging_steps=max(steps // 4, 1),
        ),
    )


def run_fold(
    row_name: str, fold: int, seed: int, steps: int, batch_size: int, max_train_seconds: float
) -> dict[str, Any]:
    """Train row `row_name` on every fold but `fold`, test on `fold`; WA/UA and wall times."""
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    row = ROWS[row_name]
    dataset = emodb()
    train, test = train_test_split_by_fold(dataset, fold)
    labels = label_names(dataset)
    config = experiment_config(row, steps, seed, batch_size)
    start = time.perf_counter()
    transformers.set_seed(seed)
    model = build_model(config, labels)
    feature_extractor = build_feature_extractor(config)
    collator = build_collator(config, len(labels), feature_extractor, seed)
    if row.whole_clip_mixup:
        collator = WholeClipMixupCollator(
            len(labels),
            collator.as_eval(),
            p=row.eam.p,
            alpha=WHOLE_CLIP_MIXUP_ALPHA,
            seed=seed,
        )
    collator = RandomCropCollator(
        collator, emodb_waveforms(), int(max_train_seconds * DEFAULT_SAMPLING_RATE), seed
    )
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = dataclasses.replace(
            training_arguments(config, output_dir, seed), disable_tqdm=True
        )
        trainer = MultiLossTrainer(
            model=model, args=arguments, train_dataset=train, data_collator=collator
        )
        train_output = trainer.train()
    train_s = time.perf_counter() - start
    metrics = evaluate_model(model, feature_extractor, test, batch_size=8)
    return {
        "row": row_name,
        "fold": fold,
        "seed": seed,
        "test_speakers": sorted(set(test["speaker"])),
        "num_train": train.num_rows,
        "num_test": test.num_rows,
        "wa": metrics["wa"],
        "ua": metrics["ua"],
        "macro_f1": metrics["macro_f1"],
        "confusion_matrix": metrics["confusion_matrix"],
        "final_train_loss": train_output.training_loss,
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - start, 1),
    }


@cache
def egemaps_features() -> tuple[np.ndarray, float]:
    """eGeMAPS v02 functionals of every EmoDB clip, (num_clips, 88), and the seconds taken."""
    import opensmile

    start = time.perf_counter()
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )
    waveforms = emodb_waveforms()
    features = np.stack(
        [
            smile.process_signal(waveforms[path], DEFAULT_SAMPLING_RATE).to_numpy()[0]
            for path in emodb()["audio"]
        ]
    )
    return features, time.perf_counter() - start


def egemaps_results(row_name: str, folds: Sequence[int]) -> list[dict[str, Any]]:
    """eGeMAPS v02 functionals + StandardScaler + LinearSVC on each fold (one result each).

    C is chosen per fold by GroupKFold(4) over the training speakers (balanced accuracy), never
    on the test fold. Row ``egemaps_speaker_norm`` first z-normalises each speaker's features
    over all of that speaker's utterances (no labels used).
    """
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    features, extraction_s = egemaps_features()
    dataset = emodb()
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
    """Mean and sample std (ddof=1) of WA/UA over every (seed, fold) run, per-seed means."""
    summary: dict[str, Any] = {"num_runs": len(runs)}
    for key in ("wa", "ua", "macro_f1"):
        values = np.array([run[key] for run in runs], dtype=float)
        summary[f"{key}_mean"] = float(values.mean())
        summary[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    seeds = sorted({run["seed"] for run in runs}, key=lambda seed: (seed is None, seed))
    summary["seeds"] = seeds
    summary["ua_mean_per_seed"] = {
        str(seed): float(np.mean([run["ua"] for run in runs if run["seed"] == seed]))
        for seed in seeds
    }
    summary["wall_time_s"] = round(sum(run["total_s"] for run in runs), 1)
    return summary


# Row each row is compared with in the "vs previous" column (same seed and fold).
PREVIOUS_ROW = {
    "eam": "baseline",
    "flam": "eam",
    "focal": "flam",
    "center": "focal",
    "full": "center",
    "mixup": "full",
    "whisper_full": "whisper_baseline",
}


def paired_ua_difference(
    runs: Sequence[Mapping[str, Any]], reference_runs: Sequence[Mapping[str, Any]]
) -> float | None:
    """Mean UA difference over the (seed, fold) pairs present in both lists; None if none."""
    reference = {(run["seed"], run["fold"]): run["ua"] for run in reference_runs}
    differences = [
        run["ua"] - reference[(run["seed"], run["fold"])]
        for run in runs
        if (run["seed"], run["fold"]) in reference
    ]
    return float(np.mean(differences)) if differences else None


def markdown_table(report: Mapping[str, Any]) -> str:
    """The ablation table: WA and UA mean ± std (over every seed x fold run) in %, the UA
    difference to the baseline of the same encoder and to the previous row (both paired on
    seed and fold; eGeMAPS against the mean of the from-scratch baseline), seeds, minutes."""
    lines = [
        "| row | WA % | UA % | UA vs baseline | UA vs previous row | seeds x folds | "
        "1-thread min |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = report["rows"]

    def runs_of(name: str) -> list[Mapping[str, Any]]:
        return rows[name]["runs"] if name in rows else []

    def points(value: float | None) -> str:
        return "" if value is None else f"{100 * value:+.1f}"

    for name in ALL_ROWS:
        if not runs_of(name):
            continue
        summary = rows[name]["summary"]
        if name in EGEMAPS_ROWS:
            baseline_runs = runs_of("baseline")
            versus_baseline = (
                summary["ua_mean"] - float(np.mean([run["ua"] for run in baseline_runs]))
                if baseline_runs
                else None
            )
        else:
            base = "whisper_baseline" if ROWS[name].pretrained else "baseline"
            versus_baseline = (
                None if name == base else paired_ua_difference(runs_of(name), runs_of(base))
            )
        previous = PREVIOUS_ROW.get(name)
        versus_previous = (
            paired_ua_difference(runs_of(name), runs_of(previous)) if previous else None
        )
        seeds = summary["seeds"]
        folds = summary["num_runs"] // max(len(seeds), 1)
        seed_text = "-" if seeds == [None] else ",".join(map(str, seeds))
        lines.append(
            f"| {rows[name]['title']} "
            f"| {100 * summary['wa_mean']:.1f} ± {100 * summary['wa_std']:.1f} "
            f"| {100 * summary['ua_mean']:.1f} ± {100 * summary['ua_std']:.1f} "
            f"| {points(versus_baseline)} | {points(versus_previous)} "
            f"| {seed_text} x {folds} | {summary['wall_time_s'] / 60:.1f} |"
        )
    return "\n".join(lines)


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Recompute every row's summary and write the JSON atomically."""
    for row in report["rows"].values():
        row["summary"] = summarize(row["runs"])
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def _ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C is handled by the main process, which stops the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def row_settings(name: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """What a row was run with, for the JSON."""
    if name in EGEMAPS_ROWS:
        return {
            "features": "openSMILE eGeMAPSv02 functionals (88)",
            "speaker_normalization": name == "egemaps_speaker_norm",
            "classifier": "StandardScaler + LinearSVC",
            "c_grid": list(EGEMAPS_C_GRID),
            "c_selection": "GroupKFold(4) over training speakers, balanced accuracy",
        }
    row = ROWS[name]
    steps = args.whisper_steps if row.pretrained else args.steps
    settings = experiment_config(row, steps, seed, args.batch_size).to_dict()
    settings["max_train_seconds"] = args.max_train_seconds
    settings["mixup"] = (
        {"kind": "whole-clip mixup", "p": row.eam.p, "alpha": WHOLE_CLIP_MIXUP_ALPHA}
        if row.whole_clip_mixup
        else {"kind": "energy-adaptive mixup" if row.eam.p > 0 else "none"}
    )
    return settings


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps, scratch rows")
    parser.add_argument(
        "--whisper-steps", type=int, default=120, help="optimizer steps, frozen Whisper rows"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-train-seconds", type=float, default=2.5)
    parser.add_argument(
        "--folds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2, 3, 4]
    )
    parser.add_argument(
        "--seeds",
        type=lambda s: [int(v) for v in s.split(",")],
        default=[0, 1],
        help=f"all seeds run for {', '.join(MULTI_SEED_ROWS)}; the first only for the others",
    )
    parser.add_argument(
        "--rows",
        type=lambda s: s.split(","),
        default=list(ALL_ROWS),
        help=f"comma-separated subset of {', '.join(ALL_ROWS)}",
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel training processes")
    add_output_arguments(parser, RESULTS_PATH)
    parser.add_argument(
        "--resume", action="store_true", help="keep the runs already in --output, run the rest"
    )
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of --output and exit"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.rows) - set(ALL_ROWS))
    if unknown:
        parser.error(f"--rows: unknown {unknown}; known: {', '.join(ALL_ROWS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    if args.table_only:
        print(markdown_table(json.loads(args.output.read_text(encoding="utf-8"))))
        return
    started = time.perf_counter()
    jobs = []
    # Seed-major order so that every row has its first seed before any second seed runs; the
    # headline rows first, so that an interrupted run still has them.
    order = [*MULTI_SEED_ROWS, *(name for name in ROWS if name not in MULTI_SEED_ROWS)]
    for seed_index, seed in enumerate(args.seeds):
        for name in order:
            if name in args.rows and (seed_index == 0 or name in MULTI_SEED_ROWS):
                jobs.extend((name, fold, seed) for fold in args.folds)
    report: dict[str, Any] = {
        "corpus": "EmoDB, 535 utterances, 7 classes",
        "protocol": "speaker-independent, 5 folds of one female + one male speaker",
        "commands": [" ".join(["python", "benchmarks/ablation.py", *(argv or sys.argv[1:])])],
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpu_count": os.cpu_count(),
            "threads_per_worker": 1,
            "workers": args.workers,
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "rows": {},
    }
    if not (args.resume or args.table_only):
        args.output = output_path(args.output, args.overwrite)
    if args.resume and args.output.is_file():
        previous = json.loads(args.output.read_text(encoding="utf-8"))
        report["rows"] = previous["rows"]
        earlier = previous.get("commands") or [previous.get("command", "")]
        report["commands"] = [*earlier, *report["commands"]]
        report["arguments"] = previous.get("arguments", report["arguments"])
        started -= previous.get("wall_time_s", 0.0)
    for name in args.rows:
        seed = args.seeds[0]
        entry = report["rows"].setdefault(
            name,
            {"title": ROWS[name].title if name in ROWS else EGEMAPS_ROWS[name], "runs": []},
        )
        entry["settings"] = row_settings(name, args, seed)
    done = {
        (run["row"], run["fold"], run["seed"])
        for row in report["rows"].values()
        for run in row["runs"]
    }
    jobs = [job for job in jobs if job not in done]
    args.output.parent.mkdir(parents=True, exist_ok=True)

    for name in EGEMAPS_ROWS:
        if name in args.rows and not report["rows"][name]["runs"]:
            report["rows"][name]["runs"] = egemaps_results(name, args.folds)
            write_report(args.output, report)
            print(f"{name} done ({time.perf_counter() - started:.0f} s)", flush=True)

    pool = ProcessPoolExecutor(max_workers=args.workers, initializer=_ignore_interrupts)
    try:
        futures = {
            pool.submit(
                run_fold,
                name,
                fold,
                seed,
                args.whisper_steps if ROWS[name].pretrained else args.steps,
                args.batch_size,
                args.max_train_seconds,
            ): (name, fold, seed)
            for name, fold, seed in jobs
        }
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as error:  # one failed fold must not lose the others
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
                f"[{report['wall_time_s']:7.0f} s] {result['row']:16s} seed {result['seed']} "
                f"fold {result['fold']}: WA {100 * result['wa']:.1f} UA {100 * result['ua']:.1f} "
                f"({result['total_s']:.0f} s)",
                flush=True,
            )
    except KeyboardInterrupt:
        # Workers ignore SIGINT (so a Ctrl-C cannot leave half-written runs behind them): stop
        # them here. Every finished run is already in --output.
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()
        finished = sum(len(row["runs"]) for row in report["rows"].values())
        print(
            f"interrupted: {finished} finished runs are in {args.output}"
            + ("; --resume continues" if finished else ""),
            flush=True,
        )
        sys.exit(130)
    pool.shutdown()
    report["wall_time_s"] = round(time.perf_counter() - started, 1)
    write_report(args.output, report)
    print(markdown_table(report))
    print(f"wrote {args.output} ({report['wall_time_s'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
