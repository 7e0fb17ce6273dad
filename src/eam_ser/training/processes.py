"""The processes of a run (torchrun, accelerate launch): which one is the main one, and how the
group ends. Only the main process writes results, models and cards."""

from __future__ import annotations

import torch
from accelerate import PartialState

__all__ = ["end_process_group", "is_main_process", "process_state"]


def process_state() -> PartialState:
    """The processes of this run (torchrun, accelerate launch), joined into their group.

    Without GPUs the group is gloo: a bare ``PartialState()`` there sees no distributed run
    before `TrainingArguments` sets one up (every process would call itself the main one),
    so it is asked for the CPU state, as ``TrainingArguments(use_cpu=True)`` does later."""
    return PartialState(cpu=not torch.cuda.is_available())


def end_process_group(state: PartialState) -> None:
    """After a successful multi-process run: wait for every process, then close the process
    group while the interpreter is still whole. Left to interpreter shutdown, gloo's worker
    threads may still hold tensors with Python references, and the process then aborts after
    its work is done ("terminate called without an active exception")."""
    if state.num_processes > 1 and torch.distributed.is_initialized():
        state.wait_for_everyone()
        torch.distributed.destroy_process_group()


def is_main_process() -> bool:
    """False in every process but the first of a multi-process run (torchrun, accelerate
    launch): only the first writes results and models."""
    return process_state().is_main_process
