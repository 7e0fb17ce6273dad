"""The evidence EAM's defaults follow, per encoder regime and corpus, from the committed runs.

Reads ``results/regimes.json`` (EmoDB, frozen and top-2 Whisper base), ``results/ablation.json``
(EmoDB, fully fine-tuned) and ``results/regimes_urdu.json`` (URDU, frozen; when present) and
writes ``src/eam_ser/experiment/evidence.json``, which `eam_ser.experiment.evidence` ships and
every run quotes (its log, ``results.json`` and the model card). Only what the runs measured
goes in; nothing is typed by hand.

Per regime and corpus, EAM at its defaults against the same run without mixing:

- the UA difference on clean test speech, in points: per fold the mean over the seeds run on
  it, then the mean over folds with a 95 % t-interval over the folds. The folds are the
  independent units (each holds out other speakers); the seeds of one fold share its test
  speakers, so they are averaged, not counted as more samples (with one seed this is the
  plain t-interval over folds);
- the same for UA averaged over white noise and interfering speech at 20 to -5 dB;
- the training time of EAM over that of no mixing: the ratio of the median training seconds
  (a median, because single runs shared the machine with other work).

    python benchmarks/evidence.py          # rewrite evidence.json from the results
    python benchmarks/evidence.py --check  # exit 1 if evidence.json differs from them
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ablation import mean_interference_ua

RESULTS = Path(__file__).resolve().parent / "results"
EVIDENCE_PATH = (
    Path(__file__).resolve().parents[1] / "src" / "eam_ser" / "experiment" / "evidence.json"
)
SOURCES = (
    # (regime, corpus, results file, EAM row, no-mixing row)
    ("frozen", "emodb", "regimes.json", "frozen_eam", "frozen_no_mix"),
    ("frozen", "urdu", "regimes_urdu.json", "frozen_eam", "frozen_no_mix"),
    ("top_layers", "emodb", "regimes.json", "top2_eam", "top2_no_mix"),
    ("fine_tuned", "emodb", "ablation.json", "eam", "no_mix"),
)


def fold_interval(
    runs: Sequence[Mapping[str, Any]], reference: Sequence[Mapping[str, Any]], value: Any
) -> tuple[list[float], int, int]:
    """([mean, low, high] of the per-fold seed-mean difference in points, folds, seeds)."""
    from scipy import stats

    by_pair = {(run["seed"], run["fold"]): run for run in reference}
    per_fold: dict[int, list[float]] = {}
    for run in runs:
        other = by_pair.get((run["seed"], run["fold"]))
        if other is not None:
            per_fold.setdefault(run["fold"], []).append(100 * (value(run) - value(other)))
    differences = np.array([np.mean(values) for _, values in sorted(per_fold.items())])
    seeds = len({run["seed"] for run in runs if (run["seed"], run["fold"]) in by_pair})
    mean = float(differences.mean())
    half = float(
        stats.t.ppf(0.975, differences.size - 1)
        * differences.std(ddof=1)
        / np.sqrt(differences.size)
    )
    return [round(mean, 1), round(mean - half, 1), round(mean + half, 1)], len(differences), seeds


def evidence() -> list[dict[str, Any]]:
    """One entry per regime and corpus whose runs are committed, every fold run by both rows."""
    entries = []
    for regime, corpus, file, eam_row, reference_row in SOURCES:
        path = RESULTS / file
        if not path.is_file():
            continue
        report = json.loads(path.read_text(encoding="utf-8"))
        rows = report["rows"]
        runs, reference = rows.get(eam_row, {}).get("runs"), rows.get(reference_row, {}).get("runs")
        if not runs or not reference:
            continue
        folds = set(report.get("arguments", {}).get("folds") or {run["fold"] for run in reference})
        done = [{run["fold"] for run in row} for row in (runs, reference)]
        if any(found != folds for found in done) or len(folds) < 2:
            continue  # a grid still running: no evidence until every fold has both rows
        clean, num_folds, num_seeds = fold_interval(runs, reference, lambda run: run["ua"])
        interference, _, _ = fold_interval(runs, reference, mean_interference_ua)
        ratio = np.median([run["train_s"] for run in runs]) / np.median(
            [run["train_s"] for run in reference]
        )
        entries.append(
            {
                "regime": regime,
                "corpus": corpus,
                "clean_ua_points": clean,
                "interference_ua_points": interference,
                "training_time_ratio": round(float(ratio), 2),
                "folds": num_folds,
                "seeds": num_seeds,
                "source": f"benchmarks/results/{file} {eam_row} vs {reference_row}",
            }
        )
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = json.dumps(evidence(), indent=1) + "\n"
    if args.check:
        same = EVIDENCE_PATH.is_file() and EVIDENCE_PATH.read_text(encoding="utf-8") == text
        print("evidence.json matches the results" if same else "evidence.json is out of date")
        return 0 if same else 1
    EVIDENCE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {EVIDENCE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
