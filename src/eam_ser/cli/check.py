"""``eam-ser check``: probe every file of a corpus or manifest and report what is unusable."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from eam_ser.cli.data import add_data_arguments, load_dataset_from_args, split_from_args
from eam_ser.cli.options import positive
from eam_ser.cli.output import add_output_argument, check_writable_file
from eam_ser.data.audio import MAX_WHOLE_CLIP_S

__all__ = ["add_parser", "command_check"]


def add_parser(commands: Any) -> None:
    """The ``check`` subcommand."""
    check = commands.add_parser(
        "check", help="probe every file of a corpus or manifest and report what is unusable"
    )
    add_data_arguments(check, split_required=False)
    check.add_argument(
        "--model", help="saved model folder: also check its labels and minimum clip length"
    )
    check.add_argument(
        "--encoder", help="pretrained encoder (Hub id or folder) whose minimum clip length to use"
    )
    add_output_argument(
        check, "--output", kind="file", help="write every problem found, one per line"
    )
    check.add_argument(
        "--splits",
        type=Path,
        metavar="FILE",
        help="audit an external fold file (CSV with file,split columns, or JSON lines): "
        "speakers in two splits and the same audio in two splits are reported",
    )
    check.add_argument(
        "--workers",
        type=positive(int),
        default=1,
        help="processes that decode the files (default 1)",
    )
    check.add_argument(
        "--probe-record",
        type=Path,
        metavar="FILE",
        help="JSON record of the files already probed (path, size, modification time): an "
        "unchanged file is not decoded again by the next check (default "
        "$XDG_CACHE_HOME/eam-ser/audio_probes.json, ~/.cache without the variable; skipped "
        "with a warning where it cannot be written)",
    )
    check.add_argument(
        "--no-probe-record", action="store_true", help="decode every file and keep no record"
    )


def default_probe_record() -> Path:
    """``$XDG_CACHE_HOME/eam-ser/audio_probes.json`` (``~/.cache`` without the variable)."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "eam-ser" / "audio_probes.json"


def probe_record(args: argparse.Namespace) -> Path | None:
    """The probe record to use: none with ``--no-probe-record``; ``--probe-record`` (which must
    be writable); else the default, or none (warned) where the default cannot be written."""
    if args.no_probe_record:
        if args.probe_record is not None:
            raise ValueError("--probe-record and --no-probe-record: give one")
        return None
    if args.probe_record is not None:
        check_writable_file(args.probe_record, "--probe-record")
        return args.probe_record
    record = default_probe_record()
    try:
        check_writable_file(record, "the probe record")
    except ValueError as error:
        print(f"warning: {error}; every file is decoded and no record is kept")
        return None
    return record


def command_check(args: argparse.Namespace) -> int:
    """Report every problem of a dataset; exit status 1 when there is any."""
    from eam_ser.data.check import DataCheckError, check_data
    from eam_ser.experiment.build import encoder_min_input_samples
    from eam_ser.experiment.config import ExperimentConfig

    model_labels = None
    if args.model is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(args.model)
        minimum = config.min_input_samples
        model_labels = [config.id2label[i] for i in range(config.num_labels)]
    else:
        minimum = encoder_min_input_samples(ExperimentConfig(encoder=args.encoder))
    overlap = []
    if args.splits is not None:
        from eam_ser.corpora.split_file import apply_split_file, read_split_file
        from eam_ser.data.check import speaker_overlap

        if args.test_speakers or args.test_fold is not None:
            raise ValueError("--splits gives the splits: leave out --test-speakers / --test-fold")
        entries = read_split_file(args.splits)  # before the data is read: fail fast
        splits = apply_split_file(load_dataset_from_args(args), entries, args.splits)
        overlap = [str(problem) for problem in speaker_overlap(splits)]
        sizes = ", ".join(f"{name} {split.num_rows}" for name, split in splits.items())
        print(f"{args.splits}: {len(entries)} entries in {len(splits)} splits ({sizes})")
    else:
        dataset = load_dataset_from_args(args)
        splits = {"train": dataset}
        if args.test_speakers or args.test_fold is not None:
            train, test = split_from_args(dataset, args)
            splits = {"train": train, "test": test}
    try:
        _, report = check_data(
            splits,
            min_input_samples=minimum,
            model_labels=model_labels,
            max_seconds=dict.fromkeys(splits, MAX_WHOLE_CLIP_S),
            num_workers=args.workers,
            probe_record=probe_record(args),
        )
    except DataCheckError as error:
        report = error.report
    lines = overlap + report.lines()
    print(report.summary().replace(", 0 skipped", ""))
    for line in lines:
        print(f"  {line}")
    confound = report.confound
    if confound is not None and confound.warning():
        # A warning, not a problem: the corpus is usable with speaker-independent folds.
        print(f"warning: {confound.warning()}")
        for line in confound.lines():
            print(f"  {line}")
    if args.output is not None:
        args.output.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return 1 if lines else 0
