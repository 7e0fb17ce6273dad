"""The EAM mixing core against one copy of the padded batch: the memory-bandwidth floor.

For each batch shape (32 x 4 s and 8 x 16 s at 16 kHz, float32) and each implementation of
`energy_adaptive_mix` (p = 1: every sample mixed, not in place, so the result includes its own
copy of the batch), the median wall time of ``--repeats`` calls, one thread, beside the median
time of ``np.copy`` of the same batch measured in the same run. Target: at most 5x the copy.

    python benchmarks/bench_mix_core.py           # writes results/mix_core.json
"""

from __future__ import annotations

import os

# One thread for numpy's BLAS/OpenMP pools and for torch: must be set before they load.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import torch
from results_file import add_output_arguments, write_report

from eam_ser.mixup import draw_mix_parameters, draw_partner_index, energy_adaptive_mix

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "mix_core.json"
SHAPES = {"32 x 4 s": (32, 4.0), "8 x 16 s": (8, 16.0)}
SAMPLING_RATE = 16000
TARGET_RATIO = 5.0


def median_ms(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up (and numba compilation, cached on disk afterwards)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def shape_rows(batch: int, seconds: float, repeats: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    samples = int(seconds * SAMPLING_RATE)
    waveforms = (0.1 * rng.standard_normal((batch, samples))).astype(np.float32)
    lengths = np.full(batch, samples)
    generator = np.random.default_rng(1)
    partner_index = draw_partner_index(batch, generator)
    parameters = draw_mix_parameters(lengths, lengths, partner_index, generator, p=1.0)
    tensor = torch.from_numpy(waveforms)
    candidates = {
        "np.copy": lambda: np.copy(waveforms),
        "numpy array, compiled kernel": lambda: energy_adaptive_mix(
            waveforms, parameters, implementation="compiled"
        ),
        "torch CPU tensor, compiled kernel": lambda: energy_adaptive_mix(
            tensor, parameters, implementation="compiled"
        ),
        "torch CPU tensor, torch gather/scatter": lambda: energy_adaptive_mix(
            tensor, parameters, implementation="torch"
        ),
    }
    # Interleaved rounds, so drifting machine load hits every row alike.
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(3):
        for name, function in candidates.items():
            times[name].append(median_ms(function, repeats))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per row and round")
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = {"target_ratio_to_copy": TARGET_RATIO, "repeats": args.repeats, "shapes": {}}
    for shape_name, (batch, seconds) in SHAPES.items():
        rows = shape_rows(batch, seconds, args.repeats)
        copy_ms = rows["np.copy"]
        report["shapes"][shape_name] = {
            "megabytes": batch * seconds * SAMPLING_RATE * 4 / 1e6,
            "ms": rows,
            "ratio_to_copy": {name: ms / copy_ms for name, ms in rows.items()},
        }
        print(f"{shape_name} ({report['shapes'][shape_name]['megabytes']:.1f} MB):")
        for name, ms in rows.items():
            print(f"  {name:40s} {ms:8.3f} ms  {ms / copy_ms:6.2f}x copy")
    report["machine"] = {
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "numba": numba.__version__,
    }
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
