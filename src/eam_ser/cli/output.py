"""The output folder of ``eam-ser train``: what it may hold, its lock, and its marker.

A folder is refused when it holds something that is not an eam-ser run (always), or a
previous run (unless ``--resume`` or ``--overwrite``); `output_lock` keeps two trainings from writing one
folder at once; `prepare_output_dir` clears a previous run and writes `RUN_MARKER`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "LOCK_WRITE_SECONDS",
    "OUTPUT_KINDS",
    "PREVIOUS_RUN_OUTPUTS",
    "RUN_LOCK",
    "RUN_MARKER",
    "add_output_argument",
    "check_output_arguments",
    "check_output_dir",
    "check_writable",
    "check_writable_file",
    "output_lock",
    "prepare_output_dir",
    "previous_run_outputs",
]

RUN_MARKER = "eam_ser_run.json"
"""Written into every `eam-ser train` output folder; a non-empty folder without it is refused,
--overwrite or not: eam-ser never replaces files it did not write."""
RUN_LOCK = ".eam_ser_train.lock"
"""Held (created exclusively, holding the pid and host) by the `eam-ser train` writing a
folder, for the run's lifetime; a second run into the folder is refused while its holder
lives, and a lock left by a process that died is taken over."""
LOCK_WRITE_SECONDS = 10.0
"""An unreadable `RUN_LOCK` younger than this (seconds) is being written by the run that
created it, not left by one that died."""
PREVIOUS_RUN_OUTPUTS = ("trainer", "fold_*", "final", "model", "results.json", "model.safetensors")
"""What marks a run folder as holding work a new run would replace: checkpoints, finished
folds, a finished model or its results."""


def check_output_dir(output_dir: Path, args: argparse.Namespace) -> None:
    """Refuse, before any work, a folder that cannot be written, a non-empty folder that is
    not an eam-ser run (with or without --overwrite) and --resume without a run to
    continue."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output-dir {output_dir} is a file, not a folder")
    check_writable(output_dir, "--output-dir")
    marker = output_dir / RUN_MARKER
    entries = (
        [path for path in output_dir.iterdir() if path.name != RUN_LOCK]
        if output_dir.is_dir()
        else []
    )
    if entries and not marker.is_file():
        # --overwrite replaces an eam-ser run, never files eam-ser did not write (a user's own
        # README.md would become the model card).
        shown = ", ".join(sorted(path.name for path in entries)[:5])
        raise ValueError(
            f"--output-dir {output_dir} is not empty and is not an eam-ser run folder (no "
            f"{RUN_MARKER}; it holds {shown}{', ...' if len(entries) > 5 else ''}): eam-ser "
            "writes only into an empty folder or one of its own runs, even with --overwrite; "
            "choose another folder"
        )
    if args.resume and not marker.is_file():
        raise ValueError(f"--resume: {output_dir} holds no eam-ser run to continue")
    previous = previous_run_outputs(output_dir) if marker.is_file() else []
    if previous and not (args.resume or args.overwrite):
        raise ValueError(
            f"--output-dir {output_dir} holds a previous run ({', '.join(previous)}): pass "
            "--resume to continue it, or --overwrite to delete it and start again"
        )


def previous_run_outputs(output_dir: Path) -> list[str]:
    """The `PREVIOUS_RUN_OUTPUTS` present in `output_dir`, by name (checkpoints listed)."""
    found = []
    for pattern in PREVIOUS_RUN_OUTPUTS:
        for path in sorted(output_dir.glob(pattern)):
            if path.name == "trainer":
                checkpoints = sorted(p.name for p in path.glob("checkpoint-*"))
                found.append(f"trainer/ ({', '.join(checkpoints) or 'no checkpoint'})")
            else:
                found.append(path.name + ("/" if path.is_dir() else ""))
    return found


@contextlib.contextmanager
def output_lock(output_dir: Path, enabled: bool) -> Iterator[None]:
    """Hold `RUN_LOCK` in `output_dir` while the block runs (when `enabled`: the first
    process of a run), so two trainings never write one folder at once.

    Raises:
        ValueError: another live process holds the lock, naming it.
    """
    if not enabled:
        yield
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    lock = output_dir / RUN_LOCK
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(2):
        try:
            with open(lock, "x", encoding="utf-8") as handle:
                json.dump(holder, handle)
            break
        except FileExistsError:
            try:
                other = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                # Empty or cut short: its holder may be writing it this instant.
                other = {"writing": _age_seconds(lock) < LOCK_WRITE_SECONDS}
            if other.get("writing") or _process_alive(other):
                since = time.strftime("%H:%M:%S", time.localtime(other.get("started", 0)))
                who = (
                    f"pid {other['pid']} on {other.get('host')}, since {since}"
                    if "pid" in other
                    else "which is creating its lock now"
                )
                raise ValueError(
                    f"--output-dir {output_dir} is being written by another eam-ser train "
                    f"({who}): wait for it or choose another folder"
                ) from None
            # The holder died without releasing it (kill -9, a crash): take it over.
            lock.unlink(missing_ok=True)
    else:  # taken over, and taken again by another run before this one could
        raise ValueError(
            f"--output-dir {output_dir} is being written by another eam-ser train: wait for it "
            "or choose another folder"
        )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _age_seconds(path: Path) -> float:
    """Seconds since `path` was last written (infinite when it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _process_alive(holder: dict[str, Any]) -> bool:
    """Whether the process recorded in a lock still runs (a lock from another host, which
    cannot be checked from here, counts as alive)."""
    if not holder.get("pid"):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


OUTPUT_KINDS = ("file", "folder")
"""What an output argument names: a file the command writes, or a folder it writes into."""


def add_output_argument(
    parser: argparse.ArgumentParser, *flags: str, kind: str, **kwargs: Any
) -> None:
    """Add an output path argument (``type=Path``) to `parser` and register it, so `main`
    checks that it can be written (`check_output_arguments`) before the command does any work.

    Args:
        parser: a subcommand's parser.
        *flags: the option strings (``"--output"``) or the positional name.
        kind: one of `OUTPUT_KINDS`.
        **kwargs: the other `add_argument` keywords (help, metavar, ...).
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"kind must be one of {OUTPUT_KINDS}, got {kind!r}")
    action = parser.add_argument(*flags, type=Path, **kwargs)
    shown = action.option_strings[0] if action.option_strings else action.metavar or action.dest
    registered = parser.get_default("output_arguments") or ()
    parser.set_defaults(output_arguments=(*registered, (action.dest, shown, kind)))


def check_output_arguments(args: argparse.Namespace) -> None:
    """Check every output argument of the command (`add_output_argument`) before its work: a
    file's folder must take a new file and the file must not be a folder; a folder must be
    (or be makeable as) a folder that takes a new file.

    Raises:
        ValueError: naming the argument, its path and why it cannot be written.
    """
    for dest, shown, kind in getattr(args, "output_arguments", ()):
        path = getattr(args, dest, None)
        if path is None:
            continue
        if kind == "file":
            check_writable_file(path, shown)
        else:
            check_writable(path, shown)


def check_writable_file(path: Path, argument: str) -> None:
    """Raise ValueError naming `argument` when the file `path` cannot be written: it is a
    folder, or its folder cannot take a new file (`check_writable`)."""
    if path.is_dir():
        raise ValueError(f"{argument} {path}: is a folder; give the name of a file to write")
    check_writable(path.parent, argument, given=path)


def check_writable(folder: Path, argument: str, *, given: Path | None = None) -> None:
    """Raise ValueError naming `argument` and the path it was `given` (default `folder`) when
    `folder` (or, while it does not exist, the nearest folder above it, where it would be made)
    cannot take a new file."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{argument} {given or folder}: {existing} is a file, so the folder cannot be made"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(
            f"{argument} {given or folder}: cannot write in {existing} ({error.strerror})"
        ) from None


def prepare_output_dir(output_dir: Path, args: argparse.Namespace) -> None:
    """Once the data passed its check: drop a previous run's checkpoints unless resuming, and
    mark the folder as an eam-ser run (main process only)."""
    from eam_ser.training.processes import is_main_process

    if not is_main_process():
        return
    if not args.resume:
        for stale in [
            path
            for pattern in PREVIOUS_RUN_OUTPUTS
            for path in output_dir.glob(pattern)
            if path.is_dir()
        ]:
            try:
                shutil.rmtree(stale)
            except OSError as error:
                # rmtree names the entry alone (relative to the folder it was clearing).
                where = stale / error.filename if error.filename else stale
                raise OSError(
                    error.errno, f"could not clear the previous run: {error.strerror}", str(where)
                ) from error
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "command": sys.argv[1:],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "resumed": bool(args.resume),
    }
    (output_dir / RUN_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
