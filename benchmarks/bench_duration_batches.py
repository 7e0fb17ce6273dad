"""Padding saved by batches by duration on real corpora (issue 32, point 3): the share of the
padded seconds that is padding with Trainer's fixed batches of 8 clips in random order against
`DurationBatchSampler` with a budget of 8 mean clips, averaged over 5 epochs (arithmetic on the
files' durations, nothing is trained)::

    python benchmarks/bench_duration_batches.py --output benchmarks/results/duration_batches.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eam_ser.corpora import load_corpus
from eam_ser.data.duration_batches import DurationBatchSampler, clip_durations, padding_fraction

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def measure(durations: np.ndarray, batch_size: int = 8, epochs: int = 5) -> dict:
    budget = batch_size * float(durations.mean())
    fixed, sampled, sizes = [], [], []
    sampler = DurationBatchSampler(durations, budget, seed=0)
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(durations.size)
        fixed.append(
            padding_fraction(
                durations, [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
            )
        )
        sampler.set_epoch(epoch)
        batches = list(sampler)
        sampled.append(padding_fraction(durations, batches))
        sizes.extend(len(batch) for batch in batches)
    return {
        "clips": int(durations.size),
        "hours": round(float(durations.sum()) / 3600, 2),
        "duration_s": {
            "min": round(float(durations.min()), 2),
            "max": round(float(durations.max()), 2),
        },
        "fixed_8_padding": round(float(np.mean(fixed)), 3),
        "by_duration_padding": round(float(np.mean(sampled)), 3),
        "by_duration_budget_s": round(budget, 1),
        "by_duration_clips_per_batch": {
            "min": min(sizes),
            "mean": round(float(np.mean(sizes)), 1),
            "max": max(sizes),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    record = {"command": "python benchmarks/bench_duration_batches.py " + " ".join(sys.argv[1:])}
    for corpus in ("emodb", "urdu"):
        root = SHARED / corpus
        if not root.is_dir():
            print(f"{corpus}: no corpus under {root}, skipped")
            continue
        dataset = load_corpus(corpus, root)
        record[corpus] = measure(clip_durations(dataset["audio"]))
        print(corpus, record[corpus])
    if args.output is not None:
        args.output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
