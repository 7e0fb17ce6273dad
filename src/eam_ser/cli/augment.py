"""``eam-ser augment``: write EAM-mixed copies of a corpus and their soft labels."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eam_ser.cli.options import add_setting_arguments, positive, seed, settings_from_args
from eam_ser.cli.output import add_output_argument

__all__ = ["AUGMENT_P", "add_parser", "command_augment"]

AUGMENT_FLAG_NAMES = {"p": "--p"}
"""augment's 0.3 name of the mixing probability (``train`` calls it ``--eam-p``)."""

AUGMENT_P = 1.0
"""Mixing probability of ``eam-ser augment`` (EAM's training default is 0.5): the command
writes a mixed copy of a corpus the user already has, so an unmixed row would only be a copy
of its source file. ``--p`` lowers it."""


def add_parser(commands: Any) -> None:
    """The ``augment`` subcommand: input and output folders, then the EAM setting flags."""
    augment = commands.add_parser("augment", help="write EAM-mixed examples and their soft labels")
    augment.add_argument(
        "input",
        type=Path,
        metavar="IN",
        help="CSV manifest, folder with manifest.csv, or audiofolder",
    )
    add_output_argument(
        augment, "output", kind="folder", metavar="OUT", help="folder for the mixed FLAC files"
    )
    augment.add_argument("--seed", type=seed, default=0, help="seed of the mixing draws (0)")
    augment.add_argument(
        "--batch-size",
        type=positive(int),
        default=16,
        help="utterances that draw partners from each other",
    )
    augment.add_argument(
        "--encoding", default="utf-8", help="text encoding of a CSV manifest (default utf-8)"
    )
    add_setting_arguments(
        augment, sections=("eam",), defaults={"p": AUGMENT_P}, names=AUGMENT_FLAG_NAMES
    )


def command_augment(args: argparse.Namespace) -> int:
    from eam_ser.corpora import label_names, load_local
    from eam_ser.mixup.map import EnergyAdaptiveMixupMap
    from eam_ser.mixup.offline import SOFT_LABELS_FILE, write_mixed_corpus

    settings = settings_from_args(args, "eam", defaults={"p": AUGMENT_P}, names=AUGMENT_FLAG_NAMES)
    dataset = load_local(args.input, encoding=args.encoding)
    labels = label_names(dataset)
    mixer = EnergyAdaptiveMixupMap(len(labels), settings=settings, seed=args.seed)
    written = write_mixed_corpus(dataset, labels, mixer, args.output, batch_size=args.batch_size)
    print(f"wrote {written} mixed files and {SOFT_LABELS_FILE} to {args.output}")
    return 0
