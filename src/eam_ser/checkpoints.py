"""Is a saved model or a Trainer checkpoint complete? Checks for what a write cut short (kill -9,
a full disk) leaves broken, used before resuming training and before loading a model."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from safetensors import SafetensorError, safe_open

__all__ = [
    "CHECKPOINT_ARCHIVES",
    "checkpoint_problem",
    "last_complete_checkpoint",
    "safetensors_problem",
]

CHECKPOINT_ARCHIVES = ("optimizer.pt", "scheduler.pt")
"""Files of a checkpoint saved by torch.save (zip archives, whose directory is at the end:
a truncated copy has none)."""


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """Why the safetensors file `path` cannot be read (None: its header and size agree), e.g.
    a copy cut short: safetensors checks the header against the file's length."""
    try:
        with safe_open(os.fspath(path), framework="pt"):
            return None
    except (SafetensorError, OSError) as error:
        return str(error)


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why the checkpoint `folder` cannot be resumed from (None: it is complete).

    Checks what a write cut short (kill -9, a full disk) leaves broken: a missing or invalid
    ``trainer_state.json``, ``model.safetensors`` whose header does not match its size, and a
    truncated ``optimizer.pt`` / ``scheduler.pt``.
    """
    folder = Path(folder)
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable trainer_state.json"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return "no model.safetensors"
    if safetensors_problem(weights) is not None:
        return "model.safetensors is truncated or damaged"
    for name in CHECKPOINT_ARCHIVES:
        path = folder / name
        if not path.is_file():
            return f"no {name}"
        try:
            with zipfile.ZipFile(path):
                pass
        except (zipfile.BadZipFile, OSError):
            return f"{name} is truncated or damaged"
    return None


def last_complete_checkpoint(
    output_dir: str | os.PathLike,
) -> tuple[str | None, list[tuple[str, str]]]:
    """The newest ``checkpoint-N`` of `output_dir` that `checkpoint_problem` finds complete
    (None when there is no checkpoint at all), and the newer incomplete ones skipped on the
    way, as ``(path, problem)`` pairs.

    Raises:
        ValueError: checkpoints exist but none is complete (naming each and how to recover).
    """
    folder = Path(output_dir)
    checkpoints = (
        sorted(
            (path for path in folder.glob("checkpoint-*") if path.name.split("-")[-1].isdigit()),
            key=lambda path: int(path.name.split("-")[-1]),
            reverse=True,
        )
        if folder.is_dir()
        else []
    )
    skipped = []
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return str(checkpoint), [(str(path), reason) for path, reason in skipped]
        skipped.append((checkpoint, problem))
    if skipped:
        listed = "; ".join(f"{path.name}: {reason}" for path, reason in skipped)
        raise ValueError(
            f"resume: no complete checkpoint in {folder} ({listed}); delete the broken ones to "
            "start again from the newest complete one, or rerun with --overwrite (from scratch)"
        )
    return None, []
