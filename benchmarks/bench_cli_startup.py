"""Start-up time of the `eam-ser` command: `--help` and a flag error (target: under 1 s).

    python benchmarks/bench_cli_startup.py            # writes results/cli_startup.json

Each row is the median wall time of `--repeats` runs of the installed `eam-ser` entry point in
a fresh process, the Python interpreter's own start-up included.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_file import add_output_arguments, write_report

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "cli_startup.json"
COMMANDS = {
    "eam-ser --help": ["--help"],
    "eam-ser train --help": ["train", "--help"],
    "flag error (--max-steps -5)": ["train", "--data", "x", "--cv", "--max-steps", "-5"],
    "python -c pass (interpreter alone)": None,
}


def wall_time_s(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args()
    entry_point = shutil.which("eam-ser") or sys.exit("eam-ser is not installed (pip install -e .)")
    rows = {}
    for name, arguments in COMMANDS.items():
        argv = [sys.executable, "-c", "pass"] if arguments is None else [entry_point, *arguments]
        times = [wall_time_s(argv) for _ in range(args.repeats)]
        rows[name] = round(statistics.median(times), 3)
        print(f"{name:40s} {rows[name]:.3f} s")
    report = {
        "median_wall_time_s": rows,
        "repeats": args.repeats,
        "target_s": 1.0,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
    }
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
