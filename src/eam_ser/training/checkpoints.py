"""What a Trainer checkpoint holds beyond Trainer's own files, and whether it is complete.

- Completeness: checks for what a write cut short (kill -9, a full disk) leaves broken, used
  before resuming training and before loading a model.
- The training collator's random state (`CollatorStateCheckpoint`), saved beside Trainer's
  RNG states so that a resumed run draws the mixes of the uninterrupted one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from transformers.utils import logging

from eam_ser.data.collator import SeededCollator

__all__ = [
    "CHECKPOINT_ARCHIVES",
    "COLLATOR_STATE_NAME",
    "CollatorStateCheckpoint",
    "DiskFullError",
    "checkpoint_problem",
    "disk_space_guard",
    "last_complete_checkpoint",
    "newest_complete_checkpoint",
    "safetensors_problem",
]

logger = logging.get_logger(__name__)

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


CHECKPOINT_ARCHIVE_SUFFIXES = (".pt", ".pth", ".bin")
"""Suffixes of the files torch.save writes into a checkpoint (optimizer, scheduler, RNG states,
scaler, training arguments): zip archives, whose directory is at the end, so a truncated copy
has none."""


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why the checkpoint `folder` cannot be resumed from (None: it is complete).

    Checks every file a resume reads for what a write cut short (kill -9, a full disk) leaves
    broken: ``trainer_state.json`` (a JSON object with its ``global_step``), every other
    ``.json`` (the model's ``config.json``, the collator's random state: readable JSON
    objects), ``model.safetensors`` (present, header matching its size; every other
    ``.safetensors`` too), `CHECKPOINT_ARCHIVES` (present) and every torch.save archive
    (`CHECKPOINT_ARCHIVE_SUFFIXES`, e.g. ``rng_state.pth``: a zip directory at its end).
    """
    folder = Path(folder)
    state = _json_object(folder / "trainer_state.json")
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "no readable trainer_state.json (a JSON object with its global_step)"
    if not (folder / "model.safetensors").is_file():
        return "no model.safetensors"
    missing = [name for name in CHECKPOINT_ARCHIVES if not (folder / name).is_file()]
    if missing:
        return f"no {missing[0]}"
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.suffix == ".json" and not isinstance(_json_object(path), dict):
            return f"{path.name} is truncated or damaged (not a JSON object)"
        if path.suffix == ".safetensors" and safetensors_problem(path) is not None:
            return f"{path.name} is truncated or damaged"
        if path.suffix in CHECKPOINT_ARCHIVE_SUFFIXES:
            try:
                with zipfile.ZipFile(path):
                    pass
            except (zipfile.BadZipFile, OSError):
                return f"{path.name} is truncated or damaged"
    return None


def _json_object(path: Path) -> Any:
    """The JSON value in `path`, or None when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


LOW_DISK_SPACE_BYTES = 64 * 2**20
"""Free bytes below which a failed write is taken for a full disk (torch.save and safetensors
report one with their own messages, not ENOSPC)."""


class DiskFullError(ValueError):
    """A write of the run's files ran out of disk space; the message says how to continue."""


FULL_DISK_MESSAGES = ("no space left", "unexpected pos", "file write failed", "failed to write")
"""What torch.save (``PytorchStreamWriter failed writing file ...: unexpected pos``) and
safetensors say when a write fails, lower case: taken for a full disk only with little space
left (`LOW_DISK_SPACE_BYTES`)."""


def _existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _full_disk_folder(error: BaseException, folder: Path) -> Path | None:
    """The folder whose disk filled up when `error` was raised (None: not a full disk): ENOSPC
    anywhere in the chain (its file's folder when it names one), or a write failure of torch or
    safetensors while `folder`'s disk has less than `LOW_DISK_SPACE_BYTES` free."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return Path(seen.filename).parent if seen.filename else folder
        seen = seen.__cause__ or seen.__context__
    message = str(error).lower()
    if not any(text in message for text in FULL_DISK_MESSAGES):
        return None
    try:
        low = shutil.disk_usage(_existing(folder)).free < LOW_DISK_SPACE_BYTES
    except OSError:
        return None
    return folder if low else None


def newest_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` anywhere under `output_dir` (a run's trainer
    folder, or each fold's), by modification time; None when there is none."""
    complete = [
        path
        for path in output_dir.rglob("checkpoint-*")
        if path.is_dir() and path.name.split("-")[-1].isdigit() and checkpoint_problem(path) is None
    ]
    return max(complete, key=lambda path: path.stat().st_mtime, default=None)


@contextlib.contextmanager
def disk_space_guard(output_dir: str | os.PathLike) -> Iterator[None]:
    """Turn a write that fails because a disk is full (ENOSPC, or torch's ``unexpected pos`` /
    a safetensors write error with less than `LOW_DISK_SPACE_BYTES` free under `output_dir`)
    into a `DiskFullError` that names the full folder, the newest complete checkpoint under
    `output_dir` (kept) and how to continue; other errors pass unchanged.

    Raises:
        DiskFullError: a disk filled up inside the block.
    """
    folder = Path(output_dir)
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, RuntimeError, SafetensorError) as error:
        full = _full_disk_folder(error, folder)
        if full is None:
            raise
        checkpoint = newest_complete_checkpoint(folder) if folder.is_dir() else None
        kept = (
            f"the newest complete checkpoint, {checkpoint.relative_to(folder)}, is kept"
            if checkpoint is not None
            else "no complete checkpoint was written yet"
        )
        try:
            free = f" ({shutil.disk_usage(_existing(full)).free / 2**20:.0f} MiB free)"
        except OSError:
            free = ""
        raise DiskFullError(
            f"no space left in {full}{free} while writing the run's files; {kept}. Free some "
            "space, then run it again with resume=True to continue"
        ) from error


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
            "start again from the newest complete one, or rerun with overwrite=True (from scratch)"
        )
    return None, []


class CollatorStateCheckpoint:
    """The training collator's random state in Trainer checkpoints, one file per process.

    Trainer restores its own RNG states only after it has built the first batches of a resumed
    epoch, too late for a collator that draws mixes, so the collator's state is saved and
    restored here. The dataloader builds batches before the training step that uses them
    (accelerate's `DataLoaderShard` reads one batch ahead), so at a checkpoint the collator is
    already past the next batch a resumed run must draw: `record` wraps the collator to keep
    the state from before each batch it builds, `mark_used` drops those the trainer has
    taken, and `save` writes the first one left. Exact for map-style datasets with
    ``dataloader_num_workers=0``; with workers the mixes are drawn in the workers from their
    own streams, which only the seed in the checkpoint describes.

    A collator takes part when it is a `SeededCollator` (``state_dict()`` and
    ``load_state_dict(state)``);
    `record`, `save` and `load` leave any other collator alone.

    Args:
        args: the trainer's `TrainingArguments`, read when used: ``process_index`` and
            ``world_size`` name this process's file when several train;
            ``dataloader_num_workers`` > 0 makes the resume inexact (warned).
    """

    def __init__(self, args: Any) -> None:
        self.args = args
        self.collator: Any = None
        self.states_before: deque[Mapping[str, Any]] = deque()

    @staticmethod
    def has_state(collator: Any) -> bool:
        """Whether `collator` has a random state to checkpoint."""
        return isinstance(collator, SeededCollator)

    def record(self, collator: Any) -> Callable[[Any], Any] | None:
        """A `collate_fn` that builds batches with `collator` and keeps the state from before
        each; None (nothing to record) when the collator has no state or workers draw."""
        self.collator, self.states_before = None, deque()
        if not self.has_state(collator) or self.args.dataloader_num_workers > 0:
            return None
        self.collator = collator

        def collate(features: Any) -> Any:
            state = collator.state_dict()
            batch = collator(features)
            self.states_before.append(state)
            return batch

        return collate

    def mark_used(self, num_batches: int) -> None:
        """The trainer took the `num_batches` oldest built batches."""
        for _ in range(min(num_batches, len(self.states_before))):
            self.states_before.popleft()

    def path(self, folder: str | os.PathLike) -> str:
        """This process's state file in the checkpoint `folder`."""
        name = COLLATOR_STATE_NAME
        if self.args.world_size > 1:
            name = name.replace(".json", f"_{self.args.process_index}.json")
        return os.path.join(folder, name)

    def save(self, collator: Any, folder: str | os.PathLike) -> None:
        """Write the state the next batch the trainer takes is (or will be) drawn from."""
        if not self.has_state(collator):
            return
        self._warn_if_workers_draw()
        if collator is self.collator and self.states_before:
            state = self.states_before[0]
        else:
            state = collator.state_dict()
        with open(self.path(folder), "w", encoding="utf-8") as file:
            json.dump(state, file)

    def load(self, collator: Any, folder: str | os.PathLike) -> None:
        """Restore the state `save` wrote into the checkpoint `folder`, if both are there."""
        if not self.has_state(collator):
            return
        path = self.path(folder)
        if not os.path.isfile(path):
            logger.warning(
                f"{path} not found: the collator keeps its own random state, so the mixes after "
                "resuming differ from those of the uninterrupted run."
            )
            return
        self._warn_if_workers_draw()
        with open(path, encoding="utf-8") as file:
            collator.load_state_dict(json.load(file))

    def _warn_if_workers_draw(self) -> None:
        workers = self.args.dataloader_num_workers
        if workers > 0:
            logger.warning_once(
                f"dataloader_num_workers={workers}: the collator draws its mixes "
                "inside the workers from (seed, worker id), so a checkpoint only restores its "
                "seed and a resumed run draws other mixes than the uninterrupted one. Use "
                "dataloader_num_workers=0 for an exact resume."
            )
