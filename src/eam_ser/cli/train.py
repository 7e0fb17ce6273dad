"""``eam-ser train``: train on one split, or cross-validate (``--cv``), into an output folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eam_ser.cli import data
from eam_ser.cli.options import add_setting_arguments, config_from_args
from eam_ser.cli.output import check_output_dir, output_lock, prepare_output_dir

if TYPE_CHECKING:
    from eam_ser.experiment.config import ExperimentConfig

__all__ = ["add_parser", "command_train"]


def add_parser(commands: Any) -> None:
    """The ``train`` subcommand: data, run-folder and Hub flags, then every setting flag."""
    train = commands.add_parser("train", help="train on one split or cross-validate (--cv)")
    data.add_data_arguments(train, split_required=True)
    train.add_argument(
        "--folds", type=int, nargs="+", metavar="K", help="with --cv: only these folds"
    )
    train.add_argument(
        "--config", type=Path, help="YAML or JSON file with the ExperimentConfig dict"
    )
    train.add_argument("--output-dir", type=Path, default=Path("runs/eam-ser"))
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the previous run in --output-dir (its checkpoints, folds, model and "
        "results are deleted); a non-empty folder that is not an eam-ser run is refused even "
        "so (eam-ser never replaces files it did not write)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --output-dir from its last checkpoint "
        "(with --cv: finished folds are kept, the first unfinished one continues)",
    )
    data.add_bad_audio_argument(train)
    train.add_argument(
        "--no-final-model",
        action="store_true",
        help="with --cv: skip training the final model on all speakers",
    )
    train.add_argument("--push-to-hub", action="store_true", help="upload the saved model folder")
    train.add_argument("--hub-model-id", help="Hub repo id for --push-to-hub, e.g. user/flam-emodb")
    train.add_argument("--hub-private", action="store_true", help="create the Hub repo as private")
    add_setting_arguments(train)


def command_train(args: argparse.Namespace) -> int:
    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push-to-hub needs --hub-model-id (e.g. user/flam-emodb)")
    if args.test_corpus and args.test_root is None:
        raise ValueError(f"--test-corpus {args.test_corpus} needs --test-root, the corpus folder")
    if args.test_root is not None and not args.test_corpus:
        raise ValueError("--test-root is the folder of --test-corpus: give --test-corpus too")
    if args.label_map is not None:
        if not args.test_corpus:
            raise ValueError("--label-map renames the labels of --test-corpus: give it too")
        from eam_ser.corpora.vocabulary import parse_label_map

        parse_label_map(args.label_map)  # a typo fails before any work
    if args.folds and not args.cv:
        raise ValueError("--folds chooses cross-validation folds: it needs --cv")
    if args.cv and args.push_to_hub and args.no_final_model:
        raise ValueError("--push-to-hub with --cv uploads the final model: drop --no-final-model")
    config = config_from_args(args)
    from eam_ser.cli.memory import limit_allocator_growth
    from eam_ser.training.processes import end_process_group, process_state

    limit_allocator_growth()  # batches of every shape (the feature cache, mixing) do not pile up

    # Every process checks the folder before any of them changes it, and only the first
    # clears and marks it, while the others wait (several processes: torchrun, accelerate).
    processes = process_state()
    check_output_dir(args.output_dir, args)
    created = not args.output_dir.exists()
    try:
        with output_lock(args.output_dir, processes.is_main_process):
            # Again with the lock held: a run that held it before may have finished meanwhile.
            check_output_dir(args.output_dir, args)
            processes.wait_for_everyone()
            from eam_ser.training.checkpoints import disk_space_guard

            # Also the final model, card and results, written after the trainer's checkpoints.
            with disk_space_guard(args.output_dir):
                status = _train(args, config, processes)
    finally:
        if created and args.output_dir.is_dir() and not any(args.output_dir.iterdir()):
            args.output_dir.rmdir()  # nothing was written: leave no empty folder behind
    end_process_group(processes)
    return status


def _train(args: argparse.Namespace, config: ExperimentConfig, processes: Any) -> int:
    """`command_train` once the output folder is checked and locked."""
    from eam_ser.evaluation.metrics import SCORE_NAMES
    from eam_ser.evaluation.report import format_scores, report_lines
    from eam_ser.experiment.build import check_run_data_of
    from eam_ser.experiment.crossval import run_cross_validation, run_split
    from eam_ser.hub.save import push_to_hub
    from eam_ser.training.processes import is_main_process

    dataset = data.load_dataset_from_args(args)
    # The library's run check, made here before the output folder is prepared (a refused
    # check changes nothing there); the run functions are then told it was made.
    if args.cv:
        kept, report = check_run_data_of(
            config, {"train": dataset}, args.on_bad_audio, tested_whole=True
        )
        dataset = kept["train"]
    else:
        train, test = data.split_from_args(dataset, args)
        kept, report = check_run_data_of(config, {"train": train, "test": test}, args.on_bad_audio)
        train, test = kept["train"], kept["test"]
    prepare_output_dir(args.output_dir, args)
    processes.wait_for_everyone()
    if report.skipped and is_main_process():
        print(f"  list: {report.write_skipped(args.output_dir / 'skipped_files.csv')}")
    if args.cv:
        results = run_cross_validation(
            dataset,
            config,
            args.output_dir,
            folds=args.folds,
            final_model=not args.no_final_model,
            model_id=args.hub_model_id,
            resume=args.resume,
            on_bad_audio=None,
        )
        model_dir = args.output_dir / "model"
        if not is_main_process():
            return 0
        print(f"cross-validation over {len(results['folds'])} folds, mean ± std:")
        for key, label in SCORE_NAMES.items():
            print(f"  {label} {100 * results['mean'][key]:.2f} ± {100 * results['std'][key]:.2f} %")
    else:
        results = run_split(
            train,
            test,
            config,
            args.output_dir,
            fold=args.test_fold,
            model_id=args.hub_model_id,
            resume=args.resume,
            on_bad_audio=None,
        )
        model_dir = args.output_dir
        if not is_main_process():
            return 0
        speakers = ", ".join(results["folds"][0]["test_speakers"])
        print(
            f"held-out speakers {speakers} ({test.num_rows} utterances): "
            f"{format_scores(results['folds'][0])}"
        )
        for line in report_lines(results["folds"][0]):
            print(f"  {line}")
    print(f"results: {args.output_dir / 'results.md'}")
    if not (args.cv and args.no_final_model):
        print(f"model: {model_dir}")
    if args.push_to_hub:
        url = push_to_hub(model_dir, args.hub_model_id, private=args.hub_private)
        print(f"pushed to {url}")
    return 0
