"""Frozen-encoder training with and without the encoder feature cache, side by side.

One speaker-independent EmoDB fold (fold 0 of the speaker pairs), the pretrained Whisper base
encoder frozen (``freeze_encoder_steps=-1``), FLAM + the four losses. Without mixing
(``--p 0``, default) `eam_ser.experiment.train_model` trains the head on cached encoder frames
(`TrainingSettings.cache_encoder_features`); with EAM (``--p 0.5``) only the mixed rows of a
batch go through the encoder (`eam_ser.training.feature_cache.PartiallyCachedMixupCollator`), where
before the cache every row of every batch did. The same run (same seed, same mixes) is
repeated with the cache off, and both models are tested on the held-out speakers. Reports
training wall time, the speed-up, the two UAs and the largest difference between the two
models' test logits (float rounding only: the encoder is deterministic in eval mode and
Whisper has no dropout).

Usage:
    python benchmarks/bench_feature_cache.py [--epochs 5] [--threads 2]
    python benchmarks/bench_feature_cache.py --p 0.5 --epochs 2 --batch-size 8

Writes benchmarks/results/feature_cache.json (``--p 0``) or feature_cache_eam.json.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from results_file import add_output_arguments, write_report

from eam_ser.corpora import load_emodb, train_test_split_by_fold
from eam_ser.experiment import ExperimentConfig, TrainingSettings, feature_cache_mode, run_fold
from eam_ser.inference import predict_logits
from eam_ser.mixup import EnergyAdaptiveMixupSettings

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=str(SHARED / "models" / "whisper-base-encoder"))
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--p", type=float, default=0.0, help="EAM mixing probability")
    add_output_arguments(parser, RESULTS_DIR / "feature_cache.json")
    args = parser.parse_args()
    if args.p > 0 and args.output == RESULTS_DIR / "feature_cache.json":
        args.output = RESULTS_DIR / "feature_cache_eam.json"
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    dataset = load_emodb(SHARED / "data" / "emodb", protocol="speaker_pairs")
    _, test = train_test_split_by_fold(dataset, args.fold)
    runs, logits = {}, {}
    for cache in (True, False):
        config = ExperimentConfig(
            encoder=args.encoder,
            flam={"freeze_encoder_steps": -1},
            eam=EnergyAdaptiveMixupSettings(p=args.p),
            training=TrainingSettings(
                num_train_epochs=args.epochs,
                per_device_train_batch_size=args.batch_size,
                per_device_eval_batch_size=16,
                seed=0,
                save_steps=100_000,
                cache_encoder_features=cache,
            ),
        )
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            record, model, extractor = run_fold(
                dataset, args.fold, config, folder, disable_tqdm=True
            )
        logits[cache] = predict_logits(model, extractor, test)
        runs["cached" if cache else "uncached"] = {
            "feature_cache": feature_cache_mode(config, model),
            "train_s": record["train_runtime_s"],
            "total_s": round(time.perf_counter() - start, 1),
            "ua": record["ua"],
            "wa": record["wa"],
        }
        print(f"cache {cache}: {runs['cached' if cache else 'uncached']}", flush=True)
    mixing = f"EAM p = {args.p:g}" if args.p > 0 else "no mixing"
    report = {
        "what": f"frozen Whisper base, FLAM + four losses, {mixing}, EmoDB fold "
        f"{args.fold}, {args.epochs:g} epochs of batch {args.batch_size}; training wall time "
        "with the encoder feature cache vs without, same run",
        "command": "python benchmarks/bench_feature_cache.py "
        f"--epochs {args.epochs:g} --threads {args.threads} --batch-size {args.batch_size} "
        f"--p {args.p:g}",
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "runs": runs,
        "training_speedup": round(runs["uncached"]["train_s"] / runs["cached"]["train_s"], 2),
        "test_logits_max_abs_difference": float(np.abs(logits[True] - logits[False]).max()),
        "test_predictions_equal": float(
            np.mean(logits[True].argmax(-1) == logits[False].argmax(-1))
        ),
    }
    print(f"speed-up {report['training_speedup']}x")
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
