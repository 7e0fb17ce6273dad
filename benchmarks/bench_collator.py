"""Time the EAM collator against plain padding and Wav2Vec2FeatureExtractor (one thread).

Batch of 32 random clips of 2-6 s at 16 kHz. Each row is the median over `--repeats` calls
(after one warm-up call) of ``time.perf_counter``, in ms per batch. Writes
``benchmarks/results/collator.json`` and prints a table.

    python benchmarks/bench_collator.py --repeats 50
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# One thread for numpy's BLAS/OpenMP pools: must be set before numpy is first imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from results_file import add_output_arguments, write_report  # noqa: E402
from transformers import Wav2Vec2FeatureExtractor  # noqa: E402

from eam_ser.mixup import EnergyAdaptiveMixupCollator  # noqa: E402

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "collator.json"


def median_ms(function: Callable[[], object], repeats: int) -> float:
    function()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return 1e3 * float(np.median(timings))


FEATURE_EXTRACTOR_ROW = "Wav2Vec2FeatureExtractor pad+normalize"
SAMPLING_RATE = 16000


def random_clips(
    batch_size: int, seed: int, num_labels: int
) -> tuple[list[np.ndarray], list[dict[str, object]]]:
    """`batch_size` clips of noise, 2-6 s each at 16 kHz, and the collator features of them
    (labels cycling through `num_labels`)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2 * SAMPLING_RATE, 6 * SAMPLING_RATE + 1, size=batch_size)
    waveforms = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    features = [{"audio": w, "label": int(k % num_labels)} for k, w in enumerate(waveforms)]
    return waveforms, features


def collator_timings(
    collators: Mapping[str, Callable[[list], object]],
    *,
    batch_size: int,
    repeats: int,
    seed: int,
    num_labels: int,
) -> dict[str, Any]:
    """Median ms per batch of `Wav2Vec2FeatureExtractor` pad+normalize (the reference row) and
    of each collator in `collators`, all on the same random batch, with ratios to the
    reference."""
    waveforms, features = random_clips(batch_size, seed, num_labels)
    extractor = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    milliseconds = {
        FEATURE_EXTRACTOR_ROW: median_ms(
            lambda: extractor(
                waveforms, sampling_rate=SAMPLING_RATE, padding=True, return_tensors="pt"
            ),
            repeats,
        )
    }
    for name, collate in collators.items():
        milliseconds[name] = median_ms(lambda c=collate: c(features), repeats)
    reference = milliseconds[FEATURE_EXTRACTOR_ROW]
    return {
        "batch_size": batch_size,
        "clip_seconds": [2, 6],
        "total_samples": int(sum(w.size for w in waveforms)),
        "repeats": repeats,
        "ms": milliseconds,
        "ratio_to_feature_extractor": {name: ms / reference for name, ms in milliseconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per row (median)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args()
    torch.set_num_threads(1)

    collators = {
        "plain padding collator (eval, normalize=False)": EnergyAdaptiveMixupCollator(
            4, normalize=False, seed=0
        ).eval(),
        "padding + normalize collator (eval)": EnergyAdaptiveMixupCollator(4, seed=0).eval(),
        "EAM collator p=0.5 + normalize": EnergyAdaptiveMixupCollator(4, p=0.5, seed=0),
        "EAM collator p=1.0 + normalize": EnergyAdaptiveMixupCollator(4, p=1.0, seed=0),
    }
    result = collator_timings(
        collators,
        batch_size=args.batch_size,
        repeats=args.repeats,
        seed=args.seed,
        num_labels=4,
    )
    timings = result["ms"]

    print(
        f"batch {args.batch_size} clips of 2-6 s at 16 kHz ({result['total_samples']} samples), "
        f"1 thread, median of {args.repeats}"
    )
    print(f"{'':50s} {'ms/batch':>9s} {'x feature extractor':>20s}")
    for name, milliseconds in timings.items():
        print(f"{name:50s} {milliseconds:9.2f} {result['ratio_to_feature_extractor'][name]:20.2f}")

    report = {
        "batch_size": args.batch_size,
        "clip_seconds": [2, 6],
        "total_samples": result["total_samples"],
        "sampling_rate": SAMPLING_RATE,
        "threads": 1,
        "repeats": args.repeats,
        "ms_per_batch": timings,
        "ratio_to_feature_extractor": result["ratio_to_feature_extractor"],
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "machine": platform.processor() or platform.machine(),
    }
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
