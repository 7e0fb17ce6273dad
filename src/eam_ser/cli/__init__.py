"""The ``eam-ser`` command: train, evaluate, compare, check, predict, export and augment.

::

    eam-ser train --corpus emodb --root examples/data --test-speakers 13 --max-steps 150 \\
        --output-dir runs/quickstart
    eam-ser train --corpus iemocap --root IEMOCAP_full_release --cv --encoder microsoft/wavlm-large
    eam-ser evaluate runs/quickstart --corpus emodb --root examples/data --test-speakers 13
    eam-ser compare runs/a/test.json runs/b/test.json   # two `evaluate --output` files
    eam-ser predict runs/quickstart examples/data/13a01Wa.flac --explain attention.png
    eam-ser augment examples/data mixed/ --seed 0

Data: ``--corpus NAME --root DIR`` (a corpus in its official layout, see `eam_ser.corpora`) or
``--data PATH`` (a CSV manifest ``file,label,speaker[,gender][,fold]``, a folder holding
``manifest.csv``, or an audiofolder ``<label>/<file>.wav``).

Settings: defaults < ``--config file.yaml|json`` (the nested `ExperimentConfig` dict) < flags.

May import: every layer (`eam_ser.models`, `eam_ser.corpora`, `eam_ser.data`, `eam_ser.mixup`,
`eam_ser.evaluation`, `eam_ser.training`, `eam_ser.inference`, `eam_ser.hub`,
`eam_ser.experiment`); nothing imports it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

# Only light modules at import time: `eam-ser --help` and flag errors answer in well under a
# second; torch, transformers and datasets are imported by the commands that need them.
from eam_ser.cli import augment, check, compare, evaluate, export, predict, train
from eam_ser.cli.options import config_from_args
from eam_ser.cli.output import RUN_LOCK, RUN_MARKER, check_output_arguments, output_lock

__all__ = [
    "COMMANDS",
    "INTERRUPTED_EXIT_STATUS",
    "RUN_LOCK",
    "RUN_MARKER",
    "build_parser",
    "config_from_args",
    "main",
    "output_lock",
    "with_flag_names",
]

INTERRUPTED_EXIT_STATUS = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""

COMMANDS = {
    "train": (train.add_parser, train.command_train),
    "evaluate": (evaluate.add_parser, evaluate.command_evaluate),
    "compare": (compare.add_parser, compare.command_compare),
    "check": (check.add_parser, check.command_check),
    "predict": (predict.add_parser, predict.command_predict),
    "export": (export.add_parser, export.command_export),
    "augment": (augment.add_parser, augment.command_augment),
}
"""Subcommand -> (adds its parser, runs it and returns the exit status)."""


# A name in quotes or brackets is a key of a config file, not an argument: left as it is.
_ARGUMENT = re.compile(
    r"(?<![\[\"'/\\.\w-])"  # not inside quotes, brackets (a config key) or a path
    r"(?P<name>(?:[a-z]+\.)?[a-z]+(?:_[a-z]+)*)(?![\w/\\])"
    r"(?:=(?P<quote>[\"']?)(?P<value>[\w.-]+)(?P=quote))?"
)


def with_flag_names(message: str, parser: argparse.ArgumentParser) -> str:
    """`message` (a library error naming arguments and settings: ``label_map``,
    ``on_bad_audio="skip"``, ``overwrite=True``) in the words of the command line: each
    argument or setting of `parser` becomes its flag (``--label-map``, ``--on-bad-audio skip``,
    ``--overwrite``, ``training.max_train_seconds`` -> ``--max-train-seconds``). Only names
    with an underscore or a dot, or followed by ``=``, are arguments: a plain word stays a
    word."""
    flags = {}
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            # A setting's flag answers to its dotted name (training.seed) and its own (seed).
            # The positive form of a --x / --no-x pair.
            flag = max(
                action.option_strings,
                key=lambda option: (not option.startswith("--no-"), len(option)),
            )
            flags[action.dest] = flags[action.dest.rpartition(".")[2]] = flag

    def flag(match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        if name not in flags or ("_" not in name and "." not in name and value is None):
            return match[0]
        if value is None or value == "True":
            return flags[name]
        return f"{flags[name]} {value}"

    return _ARGUMENT.sub(flag, message)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``eam-ser`` with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="eam-ser",
        description="Speech emotion recognition with Energy-Adaptive Mixup, Frame-Level "
        "Attention and Multi-Loss Learning.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for add_parser, _ in COMMANDS.values():
        add_parser(commands)
    parser.set_defaults(command_parsers=commands.choices)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``eam-ser``; returns the exit status (2 for bad input, with a message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_output_arguments(args)
        return COMMANDS[args.command][1](args)
    except ValueError as error:
        message = with_flag_names(str(error), args.command_parsers[args.command])
        print(f"eam-ser {args.command}: error: {message}", file=sys.stderr)
        return 2
    except ImportError as error:
        # An optional extra that is not installed (e.g. eam-ser[onnx] for export).
        print(f"eam-ser {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # Filesystem trouble (missing folder, no permission, disk full): one line, no traceback.
        where = f": {error.filename}" if error.filename else ""
        print(f"eam-ser {args.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if args.command == "train":
            hint = (
                f"; checkpoints are kept in {args.output_dir}: run the same command with "
                "--resume to continue"
            )
        print(f"eam-ser {args.command}: interrupted{hint}", file=sys.stderr)
        return INTERRUPTED_EXIT_STATUS


if __name__ == "__main__":
    sys.exit(main())
