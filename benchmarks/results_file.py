"""Where a benchmark writes its JSON: never over a committed result unless told to.

Every script takes ``--output PATH`` (default: its file in ``benchmarks/results/``) and
``--overwrite``. When PATH exists and ``--overwrite`` is not given, the results go to a new file
beside it, ``<stem>-<YYYYmmdd-HHMMSS>.json``, and the script says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

__all__ = ["add_output_arguments", "output_path", "source_revision", "write_report"]


def add_output_arguments(parser: argparse.ArgumentParser, default: Path) -> None:
    """``--output`` (default `default`) and ``--overwrite``."""
    parser.add_argument(
        "--output", type=Path, default=default, help=f"result JSON (default {default.name})"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --output if it exists (otherwise a new timestamped file is written)",
    )


def output_path(requested: Path, overwrite: bool) -> Path:
    """`requested`, or a new timestamped sibling when it exists and `overwrite` is False."""
    if overwrite or not requested.exists():
        return requested
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fresh = requested.with_name(f"{requested.stem}-{stamp}{requested.suffix}")
    print(f"{requested} exists (pass --overwrite to replace it): writing {fresh}", flush=True)
    return fresh


def write_report(report: dict, requested: Path, overwrite: bool) -> Path:
    """Write `report` as indented JSON to `output_path(requested, overwrite)`; returns where."""
    output = output_path(requested, overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")
    return output


def source_revision() -> str | None:
    """The checkout's abbreviated commit hash, with ``-dirty`` when there are uncommitted
    changes, so a result names the code that made it; None outside a git checkout. Tags are
    excluded: ``git describe`` would otherwise print ``v0.3.0-4-g0edcb8d`` once a release is
    tagged."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--exclude=*"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if described.returncode != 0:
        return None
    return described.stdout.strip() or None
