"""Time the EAM collator against plain padding and Wav2Vec2FeatureExtractor (one thread).

Batch of 32 random clips of 2-6 s at 16 kHz. Each row is the median over `--repeats` calls
(after one warm-up call) of ``time.perf_counter``, in ms per batch. Writes
``benchmarks/results/collator.json`` and prints a table.

    python benchmarks/bench_collator.py --repeats 50
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

# One thread for numpy's BLAS/OpenMP pools: must be set before numpy is first imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per row (median)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS_PATH)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(args.seed)
    sampling_rate = 16000
    lengths = rng.integers(2 * sampling_rate, 6 * sampling_rate + 1, size=args.batch_size)
    waveforms = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    features = [{"audio": w, "label": int(k % 4)} for k, w in enumerate(waveforms)]

    extractor = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    rows = {
        "Wav2Vec2FeatureExtractor pad+normalize": lambda: extractor(
            waveforms, sampling_rate=sampling_rate, padding=True, return_tensors="pt"
        ),
        "plain padding collator (eval, normalize=False)": EnergyAdaptiveMixupCollator(
            4, normalize=False, seed=0
        ).eval(),
        "padding + normalize collator (eval)": EnergyAdaptiveMixupCollator(4, seed=0).eval(),
        "EAM collator p=0.5 + normalize": EnergyAdaptiveMixupCollator(4, p=0.5, seed=0),
        "EAM collator p=1.0 + normalize": EnergyAdaptiveMixupCollator(4, p=1.0, seed=0),
    }
    timings = {}
    for name, collate in rows.items():
        call = collate if name.startswith("Wav2Vec2") else (lambda c=collate: c(features))
        timings[name] = median_ms(call, args.repeats)
    reference = timings["Wav2Vec2FeatureExtractor pad+normalize"]

    print(
        f"batch {args.batch_size} clips of 2-6 s at 16 kHz ({int(lengths.sum())} samples), "
        f"1 thread, median of {args.repeats}"
    )
    print(f"{'':50s} {'ms/batch':>9s} {'x feature extractor':>20s}")
    for name, milliseconds in timings.items():
        print(f"{name:50s} {milliseconds:9.2f} {milliseconds / reference:20.2f}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "batch_size": args.batch_size,
        "clip_seconds": [2, 6],
        "total_samples": int(lengths.sum()),
        "sampling_rate": sampling_rate,
        "threads": 1,
        "repeats": args.repeats,
        "ms_per_batch": timings,
        "ratio_to_feature_extractor": {name: ms / reference for name, ms in timings.items()},
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "machine": platform.processor() or platform.machine(),
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
