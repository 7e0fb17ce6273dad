"""Frozen-encoder training with and without the encoder feature cache, side by side.

One speaker-independent EmoDB fold (fold 0 of the speaker pairs), the pretrained Whisper base
encoder frozen (``freeze_encoder_steps=-1``), FLAM + the four losses, no mixing (``eam.p = 0``):
the setting where `eam_ser.crossval.train_model` trains the head on cached encoder frames
(`TrainingSettings.cache_encoder_features`). The same run is repeated with the cache off, and
both models are tested on the held-out speakers. Reports training wall time, the speed-up and
the two UAs (equal up to float rounding: the encoder is deterministic in eval mode and Whisper
has no dropout).

Usage:
    python benchmarks/bench_feature_cache.py [--epochs 5] [--threads 2]

Writes benchmarks/results/feature_cache.json.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
import transformers
from results_file import add_output_arguments, write_report

from eam_ser.corpora import load_emodb
from eam_ser.crossval import ExperimentConfig, TrainingSettings, run_fold
from eam_ser.mixup import EnergyAdaptiveMixupSettings

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "feature_cache.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=str(SHARED / "models" / "whisper-base-encoder"))
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fold", type=int, default=0)
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    dataset = load_emodb(SHARED / "data" / "emodb", protocol="speaker_pairs")
    runs = {}
    for cache in (True, False):
        config = ExperimentConfig(
            encoder=args.encoder,
            flam={"freeze_encoder_steps": -1},
            eam=EnergyAdaptiveMixupSettings(p=0.0),
            training=TrainingSettings(
                num_train_epochs=args.epochs,
                per_device_train_batch_size=16,
                per_device_eval_batch_size=16,
                seed=0,
                save_steps=100_000,
                cache_encoder_features=cache,
            ),
        )
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            record, _, _ = run_fold(dataset, args.fold, config, folder, disable_tqdm=True)
        runs["cached" if cache else "uncached"] = {
            "train_s": record["train_runtime_s"],
            "total_s": round(time.perf_counter() - start, 1),
            "ua": record["ua"],
            "wa": record["wa"],
        }
        print(f"cache {cache}: {runs['cached' if cache else 'uncached']}", flush=True)
    report = {
        "what": "frozen Whisper base, FLAM + four losses, no mixing, EmoDB fold "
        f"{args.fold}, {args.epochs:g} epochs of batch 16; training wall time with the encoder "
        "feature cache vs without, same run",
        "command": "python benchmarks/bench_feature_cache.py "
        f"--epochs {args.epochs:g} --threads {args.threads}",
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": args.threads,
            "torch": torch.__version__,
        },
        "runs": runs,
        "training_speedup": round(runs["uncached"]["train_s"] / runs["cached"]["train_s"], 2),
    }
    print(f"speed-up {report['training_speedup']}x")
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
