"""Flags generated from the settings dataclasses, and the `ExperimentConfig` they build.

Every scalar field of `TrainingSettings`, `EnergyAdaptiveMixupSettings` and
`MultiLossSettings` is a flag of ``eam-ser train``: ``--`` and the field name with dashes
(``training.warmup_steps`` is ``--warmup-steps``), its help the field's ``metadata["help"]``,
its type the field's annotation, its choices ``metadata["choices"]``. A setting added to one
of those classes is therefore a config key, a flag and a model-card entry at once. The table
`LEGACY_FLAGS` keeps the names eam-ser 0.3 gave a few of them (``--epochs``, ``--batch-size``,
``--eam-p``), and `POSITIVE_FLAGS` the flags that must be > 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from eam_ser.experiment.config import ExperimentConfig, TrainingSettings
from eam_ser.mixup.settings import EnergyAdaptiveMixupSettings
from eam_ser.models.flam.loss_settings import MultiLossSettings

__all__ = [
    "LEGACY_FLAGS",
    "POSITIVE_FLAGS",
    "SETTINGS_SECTIONS",
    "SettingFlag",
    "add_setting_arguments",
    "config_from_args",
    "finite",
    "positive",
    "setting_flags",
    "settings_from_args",
]

SETTINGS_SECTIONS: dict[str, type] = {
    "training": TrainingSettings,
    "eam": EnergyAdaptiveMixupSettings,
    "loss": MultiLossSettings,
}
"""`ExperimentConfig` section -> the settings dataclass whose fields become flags."""

LEGACY_FLAGS = {
    ("training", "num_train_epochs"): "--epochs",
    ("training", "per_device_train_batch_size"): "--batch-size",
    ("eam", "p"): "--eam-p",
}
"""The flags of eam-ser 0.3 whose name is not their field's: kept, instead of the generated
name, so that commands and scripts written for 0.3 run unchanged."""

POSITIVE_FLAGS = {
    ("training", "max_steps"),
    ("training", "num_train_epochs"),
    ("training", "per_device_train_batch_size"),
    ("training", "save_steps"),
    ("training", "head_learning_rate"),
    ("training", "encoder_learning_rate"),
}
"""Settings whose flag must be > 0 (refused by the parser, as in 0.3): the settings' "not set"
values (``max_steps`` -1, a learning rate None) are spelled by leaving the flag out."""

FLAM_FLAGS = {
    "trainable_encoder_layers": (
        int,
        "fine-tune only the encoder's top N transformer layers (0: frozen encoder; default: all)",
    ),
}
"""`FlamConfig` fields (the ``flam`` section, a dict) offered as flags: (type, help)."""


def finite(kind: type) -> Any:
    """argparse type: a finite number of `kind`."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        return value

    parse.__name__ = f"finite {kind.__name__}"
    return parse


def positive(kind: type) -> Any:
    """argparse type: a finite number of `kind` that is > 0."""
    number = finite(kind)

    def parse(text: str) -> Any:
        value = number(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def seed(text: str) -> int:
    """argparse type: a seed, a non-negative integer (what numpy's generators take)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


@dataclasses.dataclass(frozen=True)
class SettingFlag:
    """One setting offered as a flag.

    Attributes:
        section: its `ExperimentConfig` section (``"training"``, ``"eam"``, ...), or None for a
            top-level field (``encoder``).
        name: the field name, its config key within `section`.
        flags: the option strings, the first one shown in messages.
        kwargs: the `argparse.ArgumentParser.add_argument` keywords (type, help, ...).
    """

    section: str | None
    name: str
    flags: tuple[str, ...]
    kwargs: dict[str, Any]

    @property
    def dest(self) -> str:
        """The attribute of the parsed namespace holding the value (None: not given)."""
        return f"{self.section}.{self.name}" if self.section else self.name


def _argument_kwargs(
    setting: dataclasses.Field, default: Any, number: Any = finite
) -> dict[str, Any] | None:
    """add_argument keywords for a field from its annotation, its help stating `default`,
    numbers parsed by `number` (`finite` or `positive`); None for a type no flag can spell
    (a dict, a nested settings object)."""
    annotation = str(setting.type).replace(" ", "")
    kinds = [part for part in annotation.split("|") if part != "None"]
    help_text = setting.metadata["help"]
    if default is not dataclasses.MISSING and default is not None:
        help_text += f" (default {default})"
    kwargs: dict[str, Any] = {"help": help_text.replace("%", "%%"), "default": None}
    if kinds == ["bool"]:
        return {**kwargs, "action": argparse.BooleanOptionalAction}
    if kinds == ["int"]:
        return {**kwargs, "type": number(int), "metavar": "N"}
    if kinds == ["float"]:
        return {**kwargs, "type": number(float), "metavar": "X"}
    if kinds == ["list[float]"]:
        return {**kwargs, "type": finite(float), "nargs": "+", "metavar": "X"}
    if kinds == ["str"]:
        return {**kwargs, "choices": setting.metadata.get("choices")}
    return None


def setting_flags(
    defaults: Mapping[str, Any] | None = None, names: Mapping[str, str] | None = None
) -> list[SettingFlag]:
    """Every setting ``eam-ser train`` offers as a flag, generated from the dataclasses.

    Args:
        defaults: field name -> the default the help states, for a command whose defaults
            differ from the dataclass's.
        names: field name -> the flag, for a command whose 0.3 flag differs from
            `LEGACY_FLAGS` (``augment --p``).
    """
    defaults, names = defaults or {}, names or {}
    encoder = next(f for f in dataclasses.fields(ExperimentConfig) if f.name == "encoder")
    flags = [
        SettingFlag(
            None, "encoder", ("--encoder",), {"help": encoder.metadata["help"], "metavar": "NAME"}
        )
    ]
    for section, settings_class in SETTINGS_SECTIONS.items():
        for setting in dataclasses.fields(settings_class):
            key = (section, setting.name)
            kwargs = _argument_kwargs(
                setting,
                defaults.get(setting.name, setting.default),
                positive if key in POSITIVE_FLAGS else finite,
            )
            if kwargs is None:
                continue
            flag = names.get(setting.name) or LEGACY_FLAGS.get(key)
            flag = flag or "--" + setting.name.replace("_", "-")
            flags.append(SettingFlag(section, setting.name, (flag,), kwargs))
    for name, (kind, help_text) in FLAM_FLAGS.items():
        option = "--" + name.replace("_", "-")
        flags.append(
            SettingFlag(
                "flam", name, (option,), {"type": finite(kind), "help": help_text, "metavar": "N"}
            )
        )
    return flags


def add_setting_arguments(
    parser: argparse.ArgumentParser,
    sections: Sequence[str | None] | None = None,
    defaults: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> None:
    """Add `setting_flags` (of `sections` only, when given; `defaults` and `names` as there)
    to `parser`, in a group per section."""
    titles = {None: "model", "flam": "model", "training": "training", "eam": "EAM", "loss": "MLL"}
    groups: dict[str, Any] = {}
    for flag in setting_flags(defaults, names):
        if sections is not None and flag.section not in sections:
            continue
        title = titles[flag.section]
        if title not in groups:
            groups[title] = parser.add_argument_group(f"{title} settings")
        groups[title].add_argument(*flag.flags, dest=flag.dest, **flag.kwargs)


def settings_from_args(
    args: argparse.Namespace,
    section: str,
    defaults: dict[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> Any:
    """The `SETTINGS_SECTIONS` dataclass of `section` from `defaults` and the flags given
    (`names` as in `setting_flags`, for the messages).

    Raises:
        ValueError: a value out of its setting's range, naming the flags that set it.
    """
    given = [flag for flag in setting_flags(names=names) if flag.section == section]
    given = [flag for flag in given if getattr(args, flag.dest, None) is not None]
    values = {**(defaults or {}), **{flag.name: getattr(args, flag.dest) for flag in given}}
    try:
        return SETTINGS_SECTIONS[section](**values)
    except ValueError as error:
        raise ValueError(_name_flags(str(error), given, args)) from None


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """Defaults, overridden by ``--config``, overridden by the setting flags that were given.

    Raises:
        ValueError: a value out of its setting's range, naming the flags that set it.
    """
    values: dict[str, Any] = (
        ExperimentConfig.from_file(args.config).to_dict() if args.config else {}
    )
    given: list[SettingFlag] = []
    for flag in setting_flags():
        value = getattr(args, flag.dest, None)
        if value is None:
            continue
        given.append(flag)
        if flag.section is None:
            values[flag.name] = value
        else:
            values.setdefault(flag.section, {})[flag.name] = value
    try:
        return ExperimentConfig.from_dict(values)
    except ValueError as error:
        raise ValueError(_name_flags(str(error), given, args)) from None


def _name_flags(message: str, given: Sequence[SettingFlag], args: Any) -> str:
    """`message` led by the given flags whose setting it names (``--max-steps -5: ...``)."""
    named = [flag for flag in given if re.search(rf"\b{flag.name}\b", message)]
    if not named:
        return message
    shown = ", ".join(f"{flag.flags[0]} {_spelled(getattr(args, flag.dest))}" for flag in named)
    return f"{shown}: {message}"


def _spelled(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)
