"""The ``eam-ser`` command: train, evaluate, predict and augment.

::

    eam-ser train --corpus emodb --root examples/data --test-speakers 13 --max-steps 150 \\
        --output-dir runs/quickstart
    eam-ser train --corpus iemocap --root IEMOCAP_full_release --cv --encoder microsoft/wavlm-large
    eam-ser evaluate runs/quickstart --corpus emodb --root examples/data --test-speakers 13
    eam-ser predict runs/quickstart examples/data/13a01Wa.flac --explain attention.png
    eam-ser augment examples/data mixed/ --seed 0

Data: ``--corpus NAME --root DIR`` (a corpus in its official layout, see `eam_ser.corpora`) or
``--data PATH`` (a CSV manifest ``file,label,speaker[,gender][,fold]``, a folder holding
``manifest.csv``, or an audiofolder ``<label>/<file>.wav``).

Settings: defaults < ``--config file.yaml|json`` (the nested `ExperimentConfig` dict) < flags.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only light modules at import time: `eam-ser --help` and flag errors answer in well under a
# second; torch, transformers and datasets are imported by the commands that need them.
from eam_ser.corpora import CORPORA
from eam_ser.datacheck import ON_BAD_AUDIO
from eam_ser.mixup_settings import EAM_DEFAULTS, LABEL_MODES
from eam_ser.segmentation import (
    DEFAULT_HOP_S,
    DEFAULT_LONG_INPUT_S,
    DEFAULT_WINDOW_S,
    MAX_WHOLE_CLIP_S,
    SEGMENTATIONS,
)

if TYPE_CHECKING:
    from datasets import Dataset

    from eam_ser.crossval import ExperimentConfig
    from eam_ser.datacheck import DataCheckReport
    from eam_ser.inference import EmotionRecognizer, RecordingPrediction
    from eam_ser.modeling_flam import FlamForSequenceClassification

RUN_MARKER = "eam_ser_run.json"
"""Written into every `eam-ser train` output folder; a non-empty folder without it is refused
unless --overwrite is given."""
RUN_LOCK = ".eam_ser_train.lock"
"""Held (created exclusively, holding the pid and host) by the `eam-ser train` writing a
folder, for the run's lifetime; a second run into the folder is refused while its holder
lives, and a lock left by a process that died is taken over."""
LOCK_WRITE_SECONDS = 10.0
"""An unreadable `RUN_LOCK` younger than this (seconds) is being written by the run that
created it, not left by one that died."""
PREVIOUS_RUN_OUTPUTS = ("trainer", "fold_*", "final", "model", "results.json", "model.safetensors")
"""What marks a run folder as holding work a new run would replace: checkpoints, finished
folds, a finished model or its results."""
INTERRUPTED_EXIT_STATUS = 130

# ------------------------------------------------------------------------------------- parser


def _positive(kind: type) -> Any:
    """argparse type: a number of `kind` that is > 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        if value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _add_data_arguments(
    parser: argparse.ArgumentParser, *, split_required: bool, split: bool = True
) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data", type=Path, help="CSV manifest, folder with manifest.csv, or audiofolder"
    )
    source.add_argument(
        "--corpus", choices=sorted(CORPORA), help="corpus in its official layout (with --root)"
    )
    parser.add_argument("--root", type=Path, help="folder of the corpus given with --corpus")
    parser.add_argument("--protocol", help="corpus protocol, e.g. emodb: loso or speaker_pairs")
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="text encoding of a CSV manifest (default utf-8, with or without BOM; e.g. latin-1)",
    )
    if not split:
        return
    group = parser.add_mutually_exclusive_group(required=split_required)
    group.add_argument("--test-speakers", nargs="+", metavar="SPEAKER", help="held-out speaker ids")
    group.add_argument("--test-fold", type=int, metavar="K", help="held-out fold of the protocol")
    if split_required:
        group.add_argument("--cv", action="store_true", help="cross-validate over every fold")


def _add_bad_audio_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--on-bad-audio",
        choices=ON_BAD_AUDIO,
        default="error",
        help="files the data check finds unusable (unreadable, empty, NaN, silent, too short): "
        "stop before any work (error, default) or leave them out and list them (skip)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``eam-ser`` with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="eam-ser",
        description="Speech emotion recognition with Energy-Adaptive Mixup, Frame-Level "
        "Attention and Multi-Loss Learning.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on one split or cross-validate (--cv)")
    _add_data_arguments(train, split_required=True)
    train.add_argument(
        "--folds", type=int, nargs="+", metavar="K", help="with --cv: only these folds"
    )
    train.add_argument(
        "--config", type=Path, help="YAML or JSON file with the ExperimentConfig dict"
    )
    train.add_argument(
        "--encoder",
        help="Hub id (microsoft/wavlm-large) or local folder of a pretrained "
        "encoder; default: a small encoder built from a config (offline)",
    )
    train.add_argument("--output-dir", type=Path, default=Path("runs/eam-ser"))
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the previous run in --output-dir (its checkpoints, folds, model and "
        "results are deleted), or write into a non-empty folder that is not an eam-ser run",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --output-dir from its last checkpoint "
        "(with --cv: finished folds are kept, the first unfinished one continues)",
    )
    train.add_argument("--max-steps", type=_positive(int), help="optimizer steps per training run")
    train.add_argument(
        "--epochs", type=_positive(float), help="epochs per training run (when no --max-steps)"
    )
    train.add_argument("--batch-size", type=_positive(int), help="training batch size")
    train.add_argument("--save-steps", type=_positive(int), help="checkpoint every N steps")
    train.add_argument(
        "--head-learning-rate",
        type=_positive(float),
        help="learning rate of FLAM, projector, classifier and centers (default 1e-3)",
    )
    train.add_argument(
        "--encoder-learning-rate",
        type=_positive(float),
        help="learning rate of the encoder layers that train (default 5e-5 pretrained, "
        "1e-3 for the small encoder trained from scratch)",
    )
    train.add_argument(
        "--trainable-encoder-layers",
        type=int,
        help="fine-tune only the encoder's top N transformer layers (0: frozen encoder)",
    )
    train.add_argument(
        "--validation-speakers",
        type=int,
        help="hold N training speakers out and test the epoch with the best UA on them",
    )
    train.add_argument("--seed", type=int)
    train.add_argument("--eam-p", type=float, help="probability of mixing a training utterance")
    train.add_argument("--label-mode", choices=LABEL_MODES, help="EAM soft-label weighting")
    _add_bad_audio_argument(train)
    train.add_argument(
        "--no-final-model",
        action="store_true",
        help="with --cv: skip training the final model on all speakers",
    )
    train.add_argument("--push-to-hub", action="store_true", help="upload the saved model folder")
    train.add_argument("--hub-model-id", help="Hub repo id for --push-to-hub, e.g. user/flam-emodb")
    train.add_argument("--hub-private", action="store_true", help="create the Hub repo as private")

    evaluate = commands.add_parser("evaluate", help="test a saved model on a corpus or split")
    evaluate.add_argument("model", help="saved model folder or Hub id")
    _add_data_arguments(evaluate, split_required=False)
    evaluate.add_argument("--batch-size", type=_positive(int), default=8)
    evaluate.add_argument("--output", type=Path, help="write the metrics as JSON")
    _add_bad_audio_argument(evaluate)

    check = commands.add_parser(
        "check", help="probe every file of a corpus or manifest and report what is unusable"
    )
    _add_data_arguments(check, split_required=False)
    check.add_argument(
        "--model", help="saved model folder: also check its labels and minimum clip length"
    )
    check.add_argument(
        "--encoder", help="pretrained encoder (Hub id or folder) whose minimum clip length to use"
    )
    check.add_argument("--output", type=Path, help="write every problem found, one per line")

    predict = commands.add_parser(
        "predict",
        help="emotions of audio files or folders, whole or segment by segment",
        description="Label and class probabilities of each recording. Long recordings are cut "
        f"into segments (--segment; by default voice-activity segments beyond "
        f"{DEFAULT_LONG_INPUT_S:g} s) and scored "
        "batch by batch: a table of (start, end, label, scores) per recording plus a "
        "duration-weighted summary.",
    )
    predict.add_argument("model", help="saved model folder or Hub id")
    predict.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="audio files, or folders searched recursively for audio files",
    )
    predict.add_argument(
        "--file-list", type=Path, help="a text file with one audio path per line (# comments)"
    )
    predict.add_argument(
        "--segment",
        choices=SEGMENTATIONS,
        default="auto",
        help=f"auto: the whole clip up to {DEFAULT_LONG_INPUT_S:g} s, voice-activity segments "
        "(Silero VAD) beyond; fixed: --window second windows every --hop seconds; vad; none "
        "(default auto)",
    )
    predict.add_argument(
        "--window", type=_positive(float), default=DEFAULT_WINDOW_S, help="seconds (%(default)s)"
    )
    predict.add_argument(
        "--hop", type=_positive(float), default=DEFAULT_HOP_S, help="seconds (%(default)s)"
    )
    predict.add_argument("--batch-size", type=_positive(int), default=8)
    predict.add_argument(
        "--on-bad-audio",
        choices=ON_BAD_AUDIO,
        default="error",
        help="a file that cannot be used (unreadable, empty, silent, too short): stop there "
        "(error, default; what was predicted before it is kept in --output) or leave it out "
        "and list it at the end (skip)",
    )
    predict.add_argument(
        "--output",
        type=Path,
        help="write every segment and summary to this .csv or .json file",
    )
    predict.add_argument(
        "--backend",
        choices=("torch", "onnxruntime"),
        default="torch",
        help="onnxruntime: MODEL is a folder written by `eam-ser export` (default torch)",
    )
    predict.add_argument(
        "--explain",
        type=Path,
        metavar="OUT.png",
        help="plot the waveform with FLAM's frame attention over it (whole clips only)",
    )

    export = commands.add_parser(
        "export",
        help="write the model as ONNX (dynamic batch and length), checked against PyTorch",
    )
    export.add_argument("model", help="saved model folder or Hub id")
    export.add_argument("output", type=Path, help="folder for model.onnx, config and extractor")
    export.add_argument("--format", choices=("onnx",), default="onnx")

    augment = commands.add_parser("augment", help="write EAM-mixed examples and their soft labels")
    augment.add_argument(
        "input",
        type=Path,
        metavar="IN",
        help="CSV manifest, folder with manifest.csv, or audiofolder",
    )
    augment.add_argument("output", type=Path, metavar="OUT", help="folder for the mixed FLAC files")
    augment.add_argument("--seed", type=int, default=0)
    augment.add_argument(
        "--p", type=float, default=1.0, help="probability of mixing each utterance"
    )
    augment.add_argument("--min-snr-db", type=float, default=EAM_DEFAULTS.min_snr_db)
    augment.add_argument("--max-snr-db", type=float, default=EAM_DEFAULTS.max_snr_db)
    augment.add_argument("--max-mix-fraction", type=float, default=EAM_DEFAULTS.max_mix_fraction)
    augment.add_argument("--label-mode", choices=LABEL_MODES, default=EAM_DEFAULTS.label_mode)
    augment.add_argument(
        "--batch-size",
        type=_positive(int),
        default=16,
        help="utterances that draw partners from each other",
    )
    augment.add_argument(
        "--encoding", default="utf-8", help="text encoding of a CSV manifest (default utf-8)"
    )
    return parser


# ------------------------------------------------------------------------------------ helpers


def load_dataset_from_args(args: argparse.Namespace) -> Dataset:
    """The corpus Dataset named by ``--data`` or ``--corpus/--root [--protocol]``."""
    from eam_ser.corpora import load_corpus, load_local

    if args.data is not None:
        if args.protocol is not None:
            raise ValueError("--protocol applies to --corpus, not to --data")
        return load_local(args.data, encoding=args.encoding)
    if args.root is None:
        raise ValueError(f"--corpus {args.corpus} needs --root, the folder of the corpus")
    kwargs = {"protocol": args.protocol} if args.protocol is not None else {}
    return load_corpus(args.corpus, args.root, **kwargs)


def split_from_args(dataset: Dataset, args: argparse.Namespace) -> tuple[Dataset, Dataset]:
    """(train, test) from ``--test-speakers`` or ``--test-fold``."""
    from eam_ser.corpora import train_test_split_by_fold, train_test_split_by_speakers

    if args.test_speakers:
        return train_test_split_by_speakers(dataset, args.test_speakers)
    return train_test_split_by_fold(dataset, args.test_fold)


# flag name -> (section of ExperimentConfig or None for top level, field)
CONFIG_FLAGS = {
    "encoder": (None, "encoder"),
    "max_steps": ("training", "max_steps"),
    "epochs": ("training", "num_train_epochs"),
    "batch_size": ("training", "per_device_train_batch_size"),
    "save_steps": ("training", "save_steps"),
    "head_learning_rate": ("training", "head_learning_rate"),
    "encoder_learning_rate": ("training", "encoder_learning_rate"),
    "trainable_encoder_layers": ("flam", "trainable_encoder_layers"),
    "validation_speakers": ("training", "validation_speakers"),
    "seed": ("training", "seed"),
    "eam_p": ("eam", "p"),
    "label_mode": ("eam", "label_mode"),
}


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """Defaults, overridden by ``--config``, overridden by the flags that were given."""
    from eam_ser.crossval import ExperimentConfig

    values: dict[str, Any] = (
        ExperimentConfig.from_file(args.config).to_dict() if args.config else {}
    )
    for flag, (section, name) in CONFIG_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if section is None:
            values[name] = value
        else:
            values.setdefault(section, {})[name] = value
    return ExperimentConfig.from_dict(values)


def run_data_check(
    splits: dict[str, Dataset],
    *,
    min_input_samples: int,
    on_bad_audio: str,
    model_labels: Sequence[str] | None = None,
    cropped_training: bool = False,
) -> tuple[dict[str, Dataset], DataCheckReport]:
    """`check_data` with its summary printed (and the skipped files listed); every split is
    used whole (at most `MAX_WHOLE_CLIP_S` per clip) but a ``"train"`` split that is
    `cropped_training` (``training.max_train_seconds``) and tested nowhere."""
    from eam_ser.datacheck import check_data

    kept, report = check_data(
        splits,
        min_input_samples=min_input_samples,
        model_labels=model_labels,
        on_bad_audio=on_bad_audio,
        max_seconds={
            name: None if name == "train" and cropped_training else MAX_WHOLE_CLIP_S
            for name in splits
        },
    )
    print(f"data check: {report.summary()}")
    for problem in report.skipped:
        print(f"  skipped {problem}")
    return kept, report


def check_output_dir(output_dir: Path, args: argparse.Namespace) -> None:
    """Refuse, before any work, a folder that cannot be written, a non-empty folder that is
    not an eam-ser run (unless --overwrite) and --resume without a run to continue."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output-dir {output_dir} is a file, not a folder")
    check_writable(output_dir, "--output-dir")
    marker = output_dir / RUN_MARKER
    entries = (
        [path for path in output_dir.iterdir() if path.name != RUN_LOCK]
        if output_dir.is_dir()
        else []
    )
    if entries and not marker.is_file():
        if not args.overwrite:
            raise ValueError(
                f"--output-dir {output_dir} is not empty and is not an eam-ser run folder (no "
                f"{RUN_MARKER}); choose another folder or pass --overwrite"
            )
    if args.resume and not marker.is_file():
        raise ValueError(f"--resume: {output_dir} holds no eam-ser run to continue")
    previous = previous_run_outputs(output_dir) if marker.is_file() else []
    if previous and not (args.resume or args.overwrite):
        raise ValueError(
            f"--output-dir {output_dir} holds a previous run ({', '.join(previous)}): pass "
            "--resume to continue it, or --overwrite to delete it and start again"
        )


def previous_run_outputs(output_dir: Path) -> list[str]:
    """The `PREVIOUS_RUN_OUTPUTS` present in `output_dir`, by name (checkpoints listed)."""
    found = []
    for pattern in PREVIOUS_RUN_OUTPUTS:
        for path in sorted(output_dir.glob(pattern)):
            if path.name == "trainer":
                checkpoints = sorted(p.name for p in path.glob("checkpoint-*"))
                found.append(f"trainer/ ({', '.join(checkpoints) or 'no checkpoint'})")
            else:
                found.append(path.name + ("/" if path.is_dir() else ""))
    return found


@contextlib.contextmanager
def output_lock(output_dir: Path, enabled: bool) -> Iterator[None]:
    """Hold `RUN_LOCK` in `output_dir` while the block runs (when `enabled`: the first
    process of a run), so two trainings never write one folder at once.

    Raises:
        ValueError: another live process holds the lock, naming it.
    """
    if not enabled:
        yield
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    lock = output_dir / RUN_LOCK
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(2):
        try:
            with open(lock, "x", encoding="utf-8") as handle:
                json.dump(holder, handle)
            break
        except FileExistsError:
            try:
                other = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                # Empty or cut short: its holder may be writing it this instant.
                other = {"writing": _age_seconds(lock) < LOCK_WRITE_SECONDS}
            if other.get("writing") or _process_alive(other):
                since = time.strftime("%H:%M:%S", time.localtime(other.get("started", 0)))
                who = (
                    f"pid {other['pid']} on {other.get('host')}, since {since}"
                    if "pid" in other
                    else "which is creating its lock now"
                )
                raise ValueError(
                    f"--output-dir {output_dir} is being written by another eam-ser train "
                    f"({who}): wait for it or choose another folder"
                ) from None
            # The holder died without releasing it (kill -9, a crash): take it over.
            lock.unlink(missing_ok=True)
    else:  # taken over, and taken again by another run before this one could
        raise ValueError(
            f"--output-dir {output_dir} is being written by another eam-ser train: wait for it "
            "or choose another folder"
        )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _age_seconds(path: Path) -> float:
    """Seconds since `path` was last written (infinite when it is gone)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _process_alive(holder: dict[str, Any]) -> bool:
    """Whether the process recorded in a lock still runs (a lock from another host, which
    cannot be checked from here, counts as alive)."""
    if not holder.get("pid"):
        return False
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_writable(folder: Path, argument: str) -> None:
    """Raise ValueError naming `argument` when `folder` (or, while it does not exist, the
    nearest folder above it, where it would be made) cannot take a new file."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{argument} {folder}: {existing} is a file, so the folder cannot be made")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(
            f"{argument} {folder}: cannot write in {existing} ({error.strerror})"
        ) from None


def prepare_output_dir(output_dir: Path, args: argparse.Namespace) -> None:
    """Once the data passed its check: drop a previous run's checkpoints unless resuming, and
    mark the folder as an eam-ser run (main process only)."""
    from eam_ser.crossval import is_main_process

    if not is_main_process():
        return
    if not args.resume:
        for stale in [
            path
            for pattern in PREVIOUS_RUN_OUTPUTS
            for path in output_dir.glob(pattern)
            if path.is_dir()
        ]:
            try:
                shutil.rmtree(stale)
            except OSError as error:
                # rmtree names the entry alone (relative to the folder it was clearing).
                where = stale / error.filename if error.filename else stale
                raise OSError(
                    error.errno, f"could not clear the previous run: {error.strerror}", str(where)
                ) from error
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "command": sys.argv[1:],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "resumed": bool(args.resume),
    }
    (output_dir / RUN_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def _format_scores(metrics: dict[str, Any]) -> str:
    return (
        f"WA {100 * metrics['wa']:.2f} %  UA {100 * metrics['ua']:.2f} %  "
        f"macro-F1 {100 * metrics['macro_f1']:.2f} %"
    )


def load_model(name_or_path: str) -> tuple[FlamForSequenceClassification, Any]:
    """A saved FLAM model and its feature extractor (folder or Hub id), in eval mode."""
    from transformers import AutoFeatureExtractor

    from eam_ser.inference import check_model_source
    from eam_ser.modeling_flam import FlamForSequenceClassification

    check_model_source(name_or_path)
    model = FlamForSequenceClassification.from_pretrained(name_or_path)
    return model.eval(), AutoFeatureExtractor.from_pretrained(name_or_path)


# ----------------------------------------------------------------------------------- commands


def command_train(args: argparse.Namespace) -> int:
    from eam_ser.crossval import process_state

    if args.push_to_hub and not args.hub_model_id:
        raise ValueError("--push-to-hub needs --hub-model-id (e.g. user/flam-emodb)")
    if args.folds and not args.cv:
        raise ValueError("--folds chooses cross-validation folds: it needs --cv")
    if args.cv and args.push_to_hub and args.no_final_model:
        raise ValueError("--push-to-hub with --cv uploads the final model: drop --no-final-model")
    config = config_from_args(args)
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
            return _train(args, config, processes)
    finally:
        if created and args.output_dir.is_dir() and not any(args.output_dir.iterdir()):
            args.output_dir.rmdir()  # nothing was written: leave no empty folder behind


def _train(args: argparse.Namespace, config: ExperimentConfig, processes: Any) -> int:
    """`command_train` once the output folder is checked and locked."""
    from eam_ser.crossval import (
        encoder_min_input_samples,
        is_main_process,
        run_cross_validation,
        run_split,
    )
    from eam_ser.modelcard import push_to_hub

    dataset = load_dataset_from_args(args)
    minimum = encoder_min_input_samples(config)
    if args.cv:
        kept, report = run_data_check(
            {"train": dataset}, min_input_samples=minimum, on_bad_audio=args.on_bad_audio
        )
        dataset = kept["train"]
    else:
        train, test = split_from_args(dataset, args)
        kept, report = run_data_check(
            {"train": train, "test": test},
            min_input_samples=minimum,
            on_bad_audio=args.on_bad_audio,
            cropped_training=config.training.max_train_seconds is not None,
        )
        train, test = kept["train"], kept["test"]
        if test.num_rows == 0:
            raise ValueError("data check: no usable test file left")
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
        )
        model_dir = args.output_dir / "model"
        if not is_main_process():
            return 0
        print(f"cross-validation over {len(results['folds'])} folds, mean ± std:")
        for key, label in (("wa", "WA"), ("ua", "UA"), ("macro_f1", "macro-F1")):
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
        )
        model_dir = args.output_dir
        if not is_main_process():
            return 0
        speakers = ", ".join(results["folds"][0]["test_speakers"])
        print(
            f"held-out speakers {speakers} ({test.num_rows} utterances): {_format_scores(results['mean'])}"
        )
    print(f"results: {args.output_dir / 'results.md'}")
    if not (args.cv and args.no_final_model):
        print(f"model: {model_dir}")
    if args.push_to_hub:
        url = push_to_hub(model_dir, args.hub_model_id, private=args.hub_private)
        print(f"pushed to {url}")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from eam_ser.crossval import evaluate_model, strict_json

    model, feature_extractor = load_model(args.model)
    dataset = load_dataset_from_args(args)
    if args.test_speakers or args.test_fold is not None:
        _, dataset = split_from_args(dataset, args)
    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    kept, _ = run_data_check(
        {"test": dataset},
        min_input_samples=model.config.min_input_samples,
        on_bad_audio=args.on_bad_audio,
        model_labels=model_labels,
    )
    dataset = kept["test"]
    if dataset.num_rows == 0:
        raise ValueError("data check: no usable file left to evaluate")
    seen = seen_speakers(model, dataset)
    metrics = evaluate_model(model, feature_extractor, dataset, args.batch_size)
    metrics["training_speakers_in_data"] = seen
    print(f"{dataset.num_rows} utterances: {_format_scores(metrics)}")
    for name, recall in metrics["recall"].items():
        shown = "undefined (no test sample)" if recall != recall else f"{100 * recall:.2f} %"
        print(f"  recall {name}: {shown}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(strict_json(metrics), encoding="utf-8")
    return 0


def seen_speakers(model: Any, dataset: Dataset) -> dict[str, int]:
    """Speakers of `dataset` that the model was trained on (`FlamConfig.training_speakers`)
    with their utterance counts, printed as a warning: their scores are not speaker-
    independent and inflate the result."""
    trained_on = set(getattr(model.config, "training_speakers", None) or [])
    counts = Counter(str(speaker) for speaker in dataset["speaker"])
    seen = {speaker: counts[speaker] for speaker in sorted(counts) if speaker in trained_on}
    if seen:
        listed = ", ".join(f"{speaker} ({count})" for speaker, count in seen.items())
        print(
            f"warning: the model was trained on speakers of this data: {listed} utterances; "
            "the score is not speaker-independent (--test-speakers / --test-fold keep to "
            "unseen speakers)",
            file=sys.stderr,
        )
    return seen


def command_check(args: argparse.Namespace) -> int:
    """Report every problem of a dataset; exit status 1 when there is any."""
    from eam_ser.crossval import ExperimentConfig, encoder_min_input_samples
    from eam_ser.datacheck import DataCheckError, check_data

    model_labels = None
    if args.model is not None:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(args.model)
        minimum = config.min_input_samples
        model_labels = [config.id2label[i] for i in range(config.num_labels)]
    else:
        minimum = encoder_min_input_samples(ExperimentConfig(encoder=args.encoder))
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
        )
    except DataCheckError as error:
        report = error.report
    lines = report.lines()
    print(report.summary().replace(", 0 skipped", ""))
    for line in lines:
        print(f"  {line}")
    if args.output is not None:
        args.output.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return 1 if lines else 0


def explain_path(out: Path, audio: Path, num_files: int) -> Path:
    """`out` for a single file; ``<out stem>_<audio stem>.png`` next to it for several."""
    return (
        out if num_files == 1 else out.with_name(f"{out.stem}_{audio.stem}{out.suffix or '.png'}")
    )


def command_predict(args: argparse.Namespace) -> int:
    return _predict(args)


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif")


def predict_inputs(args: argparse.Namespace) -> list[Path]:
    """The audio files named by the arguments: files as given, folders searched recursively
    for `AUDIO_SUFFIXES`, and the lines of ``--file-list``.

    Raises:
        ValueError: naming the path, for a missing input, a folder without audio, a missing
            list entry (with its line number), or no input at all.
    """
    files: list[Path] = []
    for path in args.inputs:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise ValueError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in it")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"{path}: no such file or folder")
    if args.file_list is not None:
        if not args.file_list.is_file():
            raise ValueError(f"--file-list {args.file_list}: no such file")
        lines = args.file_list.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if not Path(entry).is_file():
                raise ValueError(f"{args.file_list}, line {number}: {entry}: no such file")
            files.append(Path(entry))
    if not files:
        raise ValueError("predict: give audio files, folders or --file-list")
    return files


class PredictionWriter:
    """Writes predictions to ``--output`` as they come, so an error or Ctrl-C at file N keeps
    the N - 1 before it.

    ``.csv``: one row per segment (``kind`` "segment") and per recording summary (``kind``
    "recording"), a probability column per label of `labels` (the model's, in its order),
    flushed after every recording. ``.json``: a list of recordings with their segments,
    rewritten (atomically) after every recording.
    """

    def __init__(self, path: Path, labels: Sequence[str]) -> None:
        self.path = path
        self.labels = list(labels)
        self.records: list[dict[str, Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self.csv_file = None
        if path.suffix.lower() == ".csv":
            self.csv_file = path.open("w", newline="", encoding="utf-8")
            self.csv = csv.writer(self.csv_file)
            self.csv.writerow(["file", "kind", "start_s", "end_s", "label", *self.labels])
            self.csv_file.flush()
        else:
            self._write_json()

    def add(self, name: str, prediction: RecordingPrediction) -> None:
        """Write one recording's prediction."""
        if self.csv_file is None:
            self.records.append({"file": name, **prediction.to_dict()})
            self._write_json()
            return
        labels = self.labels
        for segment in prediction.segments:
            self.csv.writerow(
                [
                    name,
                    "segment",
                    f"{segment.start_s:.3f}",
                    f"{segment.end_s:.3f}",
                    segment.label,
                    *(f"{segment.scores[label]:.6f}" for label in labels),
                ]
            )
        self.csv.writerow(
            [
                name,
                "recording",
                "0.000",
                f"{prediction.duration_s:.3f}",
                prediction.label or "",
                *(f"{prediction.scores.get(label, float('nan')):.6f}" for label in labels),
            ]
        )
        self.csv_file.flush()

    def _write_json(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.records, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.path)

    def close(self) -> None:
        if self.csv_file is not None:
            self.csv_file.close()


def _predict(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from eam_ser.inference import EmotionRecognizer, limit_allocator_growth

    files = predict_inputs(args)
    limit_allocator_growth()
    if args.output is not None and args.output.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--output {args.output}: give a .csv or .json file")
    if args.explain is not None and args.segment not in ("none", "auto"):
        raise ValueError("--explain plots whole clips: use it with --segment none")
    if args.explain is not None and args.backend != "torch":
        raise ValueError("--explain needs the attention weights: use --backend torch")
    if args.output is not None:
        check_writable(args.output.parent, "--output")
    recognizer = EmotionRecognizer.from_pretrained(
        args.model, backend=args.backend, batch_size=args.batch_size
    )
    writer = None if args.output is None else PredictionWriter(args.output, recognizer.labels)
    skipped: list[tuple[Path, str]] = []
    progress = tqdm(files, unit="file", disable=len(files) == 1 or None)
    try:
        for path in progress:
            try:
                prediction = recognizer.predict_recording(
                    path, args.segment, name=str(path), window_s=args.window, hop_s=args.hop
                )
            except ValueError as error:
                if args.on_bad_audio == "error":
                    raise ValueError(
                        f"{error}; --on-bad-audio skip leaves such files out"
                        + (f" (the results so far are in {args.output})" if writer else "")
                    ) from None
                skipped.append((path, str(error)))
                tqdm.write(f"{path}: skipped ({str(error).removeprefix(f'{path}: ')})")
                continue
            if writer is not None:
                writer.add(str(path), prediction)
            _print_prediction(path, prediction, args, tqdm.write)
            if args.explain is not None and prediction.segmentation == "none":
                explain_recording(recognizer, path, args.explain, len(files), prediction.scores)
    finally:
        if writer is not None:
            writer.close()
    if skipped:
        print(f"skipped {len(skipped)} of {len(files)} files (--on-bad-audio skip):")
        for path, reason in skipped:
            print(f"  {path}: {reason.removeprefix(f'{path}: ')}")
    if args.output is not None:
        print(f"wrote {args.output}")
    return 0


def _print_prediction(
    path: Path, prediction: RecordingPrediction, args: argparse.Namespace, write: Any
) -> None:
    """The recording's label and ranked scores (and its segments without --output)."""
    if prediction.label is None:
        write(f"{path}: no speech found ({prediction.duration_s:.1f} s)")
        return
    ranked = "  ".join(
        f"{label} {score:.3f}"
        for label, score in sorted(prediction.scores.items(), key=lambda item: -item[1])
    )
    write(f"{path}: {prediction.label}  ({ranked})")
    if len(prediction.segments) > 1 and args.output is None:
        for segment in prediction.segments:
            write(
                f"  {segment.start_s:8.2f}-{segment.end_s:8.2f} s  {segment.label}  "
                f"{segment.scores[segment.label]:.3f}"
            )


def explain_recording(
    recognizer: EmotionRecognizer,
    path: Path,
    explain: Path,
    num_files: int,
    scores: dict[str, float],
) -> None:
    """Plot `path` with FLAM's frame attention and its predicted `scores`
    (`eam_ser.plots.plot_frame_attention`)."""
    import torch

    waveform = recognizer.load(path, name=str(path))
    batch = recognizer.collator.collate_waveforms([waveform])
    with torch.no_grad():
        output = recognizer.model(
            **{recognizer.input_name: batch[recognizer.input_name]},
            attention_mask=batch["attention_mask"],
            output_attentions=True,
        )
    from eam_ser.plots import plot_frame_attention

    attention = output.frame_attention[0].float().numpy()
    out = explain_path(explain, path, num_files)
    plot_frame_attention(
        waveform, attention, recognizer.sampling_rate, out, name=path.name, scores=scores
    )
    print(f"  frame attention: {out}")


def command_export(args: argparse.Namespace) -> int:
    from eam_ser.export import export_onnx

    check = export_onnx(args.model, args.output)
    weights = args.output / "model.onnx.data"
    print(
        f"wrote {args.output / 'model.onnx'}"
        + (f" and its weights {weights.name}" if weights.is_file() else "")
        + f": logits within {check['max_abs_difference']:.1e} of PyTorch on "
        f"{check['batch_size']} clips of {check['lengths_s']} s; ship the whole folder"
    )
    return 0


def command_augment(args: argparse.Namespace) -> int:
    import numpy as np
    import soundfile as sf

    from eam_ser.corpora import label_names, load_local
    from eam_ser.mixup import EnergyAdaptiveMixupMap

    dataset = load_local(args.input, encoding=args.encoding)
    labels = label_names(dataset)
    mixer = EnergyAdaptiveMixupMap(
        len(labels),
        p=args.p,
        min_snr_db=args.min_snr_db,
        max_snr_db=args.max_snr_db,
        max_mix_fraction=args.max_mix_fraction,
        label_mode=args.label_mode,
        seed=args.seed,
    )
    mixed = dataset.map(mixer, batched=True, batch_size=args.batch_size, with_indices=True)
    names = augmented_file_names([Path(path) for path in dataset["audio"]])
    args.output.mkdir(parents=True, exist_ok=True)
    with (args.output / "soft_labels.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "source", "label", *labels])
        for row, name in zip(mixed, names, strict=True):
            source = Path(row["audio"])
            (args.output / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(
                args.output / name,
                np.asarray(row["mixed_audio"], dtype=np.float32),
                mixer.sampling_rate,
            )
            writer.writerow(
                [
                    name,
                    str(source),
                    labels[row["label"]],
                    *(f"{v:.4f}" for v in row["soft_targets"]),
                ]
            )
    written = sum(1 for name in names if (args.output / name).is_file())
    print(f"wrote {written} mixed files and soft_labels.csv to {args.output}")
    return 0


def augmented_file_names(sources: Sequence[Path]) -> list[str]:
    """One distinct output name per source file: its path below the sources' common folder,
    with ``_eam.flac`` for the extension (``angry/a.wav`` -> ``angry/a_eam.flac``), so files
    that share a name in label or speaker folders never overwrite each other. Sources that
    differ only by extension keep it in the name (``a_wav_eam.flac``, ``a_flac_eam.flac``)."""
    resolved = [source.resolve() for source in sources]
    root = Path(os.path.commonpath([source.parent for source in resolved])) if resolved else None
    relative = [source.relative_to(root) for source in resolved]
    stems = Counter(path.with_suffix("") for path in relative)
    return [
        str(
            path.with_name(
                f"{path.stem}_{path.suffix.lstrip('.').lower()}_eam.flac"
                if stems[path.with_suffix("")] > 1
                else f"{path.stem}_eam.flac"
            )
        )
        for path in relative
    ]


COMMANDS = {
    "train": command_train,
    "evaluate": command_evaluate,
    "check": command_check,
    "predict": command_predict,
    "export": command_export,
    "augment": command_augment,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``eam-ser``; returns the exit status (2 for bad input, with a message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ValueError as error:
        print(f"eam-ser {args.command}: error: {error}", file=sys.stderr)
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
