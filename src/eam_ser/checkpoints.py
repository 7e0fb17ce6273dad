"""Trainer checkpoints and saved models: is one complete (checks for what a write cut short,
kill -9 or a full disk, leaves broken; used before resuming training and before loading a
model), and the training collator's random state saved in each checkpoint (so a resumed run
draws the mixes of the uninterrupted one)."""

from __future__ import annotations

import json
import os
import zipfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

__all__ = [
    "CHECKPOINT_ARCHIVES",
    "COLLATOR_STATE_NAME",
    "CollatorStateRecorder",
    "checkpoint_problem",
    "collator_state_file",
    "has_collator_state",
    "last_complete_checkpoint",
    "safetensors_problem",
]

CHECKPOINT_ARCHIVES = ("optimizer.pt", "scheduler.pt")
"""Files of a checkpoint saved by torch.save (zip archives, whose directory is at the end:
a truncated copy has none)."""
COLLATOR_STATE_NAME = "collator_rng_state.json"
"""File of the collator's random state in a checkpoint (`collator_rng_state_{rank}.json` when
several processes train)."""


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


def collator_state_file(folder: str | os.PathLike, process_index: int | None = None) -> str:
    """Path of the collator's state in the checkpoint `folder`: `COLLATOR_STATE_NAME`, or one
    file per process (`collator_rng_state_{process_index}.json`) when several train."""
    name = COLLATOR_STATE_NAME
    if process_index is not None:
        name = name.replace(".json", f"_{process_index}.json")
    return os.path.join(folder, name)


class CollatorStateRecorder:
    """Training `collate_fn` that keeps the collator's state from before each batch it builds.

    The dataloader builds batches before the training step that uses them (accelerate's
    `DataLoaderShard` reads one batch ahead), so at a checkpoint the collator's own state is
    already past the next batch a resumed run must draw. `mark_used` drops the states of the
    batches the trainer has taken; the first one left is the state to save.
    """

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.states_before: deque[Mapping[str, Any]] = deque()

    def __call__(self, features: Any) -> Any:
        state = self.collator.state_dict()
        batch = self.collator(features)
        self.states_before.append(state)
        return batch

    def mark_used(self, num_batches: int) -> None:
        """The trainer took the `num_batches` oldest built batches."""
        for _ in range(min(num_batches, len(self.states_before))):
            self.states_before.popleft()

    def next_state(self) -> Mapping[str, Any]:
        """State the next batch the trainer takes is (or will be) drawn from."""
        return self.states_before[0] if self.states_before else self.collator.state_dict()


def has_collator_state(collator: Any) -> bool:
    """Whether `collator` has a random state to checkpoint (`state_dict` / `load_state_dict`)."""
    return callable(getattr(collator, "state_dict", None)) and callable(
        getattr(collator, "load_state_dict", None)
    )
