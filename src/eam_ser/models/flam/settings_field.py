"""`setting`: how a settings dataclass declares a field, its default and its help in one call.

The ``eam-ser`` command, `HfArgumentParser` and the model cards read a setting's meaning from
``field.metadata["help"]``; `setting` writes it there, so each setting of
`EnergyAdaptiveMixupSettings`, `MultiLossSettings`, `TrainingSettings`, `ExperimentConfig`
and `MultiLossTrainingArguments` is one declaration: name, type, default, help. Torch-free.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["setting"]


def setting(default: Any, help_text: str, **metadata: Any) -> Any:
    """A dataclass field with `default` (an immutable value) and ``metadata["help"]`` =
    `help_text` (its meaning, unit and range), plus any other `metadata` (``choices``)."""
    return dataclasses.field(default=default, metadata={"help": help_text, **metadata})
