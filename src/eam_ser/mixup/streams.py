"""Per-process random streams: one user seed, a distinct repeatable generator in every process.

A collator or transform is copied into each DataLoader worker and each distributed rank; if
the copies drew from the same generator they would repeat each other's mixes. A
`ProcessStream` re-seeds once in every process it lands in, by one rule
(`stream_generator`), so a run is repeatable and no two processes draw alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from eam_ser.models.flam.arguments import check_seed

__all__ = ["ProcessStream", "process_stream_key", "stream_generator"]


def process_stream_key() -> tuple[int, int]:
    """``(rank, worker)`` of the calling process: the rank from ``torch.distributed`` once it is
    initialised, else the ``RANK`` environment variable that ``torchrun`` and ``accelerate
    launch`` set, else 0; the worker is 0 in the main process and ``id + 1`` inside a
    DataLoader worker."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank = torch.distributed.get_rank()
    else:
        rank = int(os.environ.get("RANK", "0"))
    worker = torch.utils.data.get_worker_info()
    return rank, 0 if worker is None else worker.id + 1


def stream_generator(seed: int, key: tuple[int, int]) -> np.random.Generator:
    """The generator of process ``key = (rank, worker)`` for one user `seed`.

    The rule: ``default_rng(seed)`` for the main process of rank 0 (so one process without
    workers draws exactly what ``seed`` alone gives) and ``default_rng([seed, rank, worker])``
    for every other process, so ranks and workers draw distinct, repeatable streams.
    """
    return np.random.default_rng(seed if key == (0, 0) else [seed, *key])


def _json_ready(value: Any) -> Any:
    """`value` with numpy arrays and scalars turned into lists and Python numbers (for JSON)."""
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value


class ProcessStream:
    """A seed and the generator of the process drawing from it (see `stream_generator`).

    A copy that lands in another process (a DataLoader worker, another rank) re-seeds once, on
    its first draw there.

    Args:
        seed: the user seed, a non-negative integer; None draws fresh entropy (kept in `seed`).

    Raises:
        ValueError: `seed` is not a non-negative integer or None (`check_seed`), naming it.

    Attributes:
        seed: int, the seed every process's generator derives from.
        key: ``(rank, worker)`` of the process `generator` belongs to.
    """

    def __init__(self, seed: int | None = None) -> None:
        seed = check_seed(seed)
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else seed
        self.key = process_stream_key()
        self._generator = stream_generator(self.seed, self.key)

    @property
    def generator(self) -> np.random.Generator:
        """The calling process's generator: re-seeded by the rule when the process changed."""
        key = process_stream_key()
        if key != self.key:
            self.key = key
            self._generator = stream_generator(self.seed, key)
        return self._generator

    @generator.setter
    def generator(self, generator: np.random.Generator) -> None:
        self._generator = generator

    def state_dict(self) -> dict[str, Any]:
        """The random state, JSON-serializable, for checkpoints.

        Returns:
            ``{"seed": int, "bit_generator": dict}``: the seed (from which DataLoader workers
            re-seed) and ``generator.bit_generator.state`` (arrays as lists), the state the next
            draw comes from.
        """
        return {"seed": self.seed, "bit_generator": _json_ready(self.generator.bit_generator.state)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict`: the next draw is the one it would have been then.

        Raises:
            ValueError: when `state` lacks ``seed`` or ``bit_generator``, or was saved from
                another kind of bit generator than ``generator.bit_generator``.
        """
        missing = [key for key in ("seed", "bit_generator") if key not in state]
        if missing:
            raise ValueError(f"state: missing {missing}; expected the output of state_dict()")
        self.seed = int(state["seed"])
        bit_generator = self.generator.bit_generator
        saved_kind = state["bit_generator"].get("bit_generator")
        if saved_kind != type(bit_generator).__name__:
            raise ValueError(
                f"state: saved from a {saved_kind} bit generator, this collator has a "
                f"{type(bit_generator).__name__}"
            )
        bit_generator.state = state["bit_generator"]
