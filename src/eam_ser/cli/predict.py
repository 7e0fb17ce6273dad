"""``eam-ser predict``: the emotions of audio files or folders, whole or segment by segment."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eam_ser.cli.data import add_bad_audio_argument
from eam_ser.cli.options import positive
from eam_ser.cli.output import add_output_argument
from eam_ser.inference.segmentation import (
    DEFAULT_HOP_S,
    DEFAULT_LONG_INPUT_S,
    DEFAULT_WINDOW_S,
    MIN_HOP_S,
    SEGMENTATIONS,
)

if TYPE_CHECKING:
    from eam_ser.inference import EmotionRecognizer, RecordingPrediction

__all__ = ["AUDIO_SUFFIXES", "add_parser", "command_predict", "explain_path", "predict_inputs"]


def add_parser(commands: Any) -> None:
    """The ``predict`` subcommand."""
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
        "--window",
        dest="window_s",
        type=positive(float),
        default=DEFAULT_WINDOW_S,
        help="seconds (%(default)s)",
    )
    predict.add_argument(
        "--hop",
        dest="hop_s",
        type=positive(float),
        help=f"seconds, at least {MIN_HOP_S:g} and at most --window (default "
        f"{DEFAULT_HOP_S:g}, or --window when shorter)",
    )
    predict.add_argument("--batch-size", type=positive(int), default=8)
    predict.add_argument(
        "--min-confidence",
        type=positive(float),
        metavar="X",
        help="label a clip, segment or recording 'uncertain' when its top score is below X "
        "(in (0, 1]; its scores are still written); `eam-ser evaluate` shows the share "
        "answered and its accuracy for a few X",
    )
    add_bad_audio_argument(
        predict,
        "a file that cannot be used (unreadable, empty, silent, too short): stop there "
        "(error, default; what was predicted before it is kept in --output) or leave it out "
        "and list it at the end (skip)",
    )
    add_output_argument(
        predict,
        "--output",
        kind="file",
        help="write every segment and summary to this .csv or .json file",
    )
    predict.add_argument(
        "--backend",
        choices=("torch", "onnxruntime"),
        default="torch",
        help="onnxruntime: MODEL is a folder written by `eam-ser export` (default torch)",
    )
    add_output_argument(
        predict,
        "--explain",
        kind="file",
        metavar="OUT.png",
        help="plot the waveform with FLAM's frame attention over it (whole clips only)",
    )


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


def command_predict(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from eam_ser.cli.memory import limit_allocator_growth
    from eam_ser.inference import EmotionRecognizer
    from eam_ser.inference.recognizer import NonFiniteScoresError, check_min_confidence
    from eam_ser.inference.segmentation import check_segment_options
    from eam_ser.inference.writer import PREDICTION_SUFFIXES, PredictionWriter

    # The library's checks, before the model or any file is read.
    check_segment_options(window_s=args.window_s, hop_s=args.hop_s)
    check_min_confidence(args.min_confidence)
    files = predict_inputs(args)
    limit_allocator_growth()
    if args.output is not None and args.output.suffix.lower() not in PREDICTION_SUFFIXES:
        raise ValueError(f"--output {args.output}: give a .csv or .json file")
    if args.explain is not None and args.segment not in ("none", "auto"):
        raise ValueError("--explain plots whole clips: use it with --segment none")
    if args.explain is not None and args.backend != "torch":
        raise ValueError("--explain needs the attention weights: use --backend torch")
    recognizer = EmotionRecognizer.from_pretrained(
        args.model,
        backend=args.backend,
        batch_size=args.batch_size,
        min_confidence=args.min_confidence,
    )
    writer = None if args.output is None else PredictionWriter(args.output, recognizer.labels)
    skipped: list[tuple[Path, str]] = []
    progress = tqdm(files, unit="file", disable=len(files) == 1 or None)
    try:
        for path in progress:
            try:
                prediction = recognizer.predict_recording(
                    path, args.segment, name=str(path), window_s=args.window_s, hop_s=args.hop_s
                )
            except NonFiniteScoresError:
                raise  # the model is broken, not the file: no file to skip
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
                f"{max(segment.scores.values()):.3f}"
            )


def explain_recording(
    recognizer: EmotionRecognizer,
    path: Path,
    explain: Path,
    num_files: int,
    scores: dict[str, float],
) -> None:
    """Plot `path` with FLAM's frame attention and its predicted `scores`
    (`eam_ser.evaluation.plots.plot_frame_attention`)."""
    from eam_ser.evaluation.plots import plot_frame_attention

    waveform = recognizer.load(path, name=str(path))
    out = explain_path(explain, path, num_files)
    plot_frame_attention(
        waveform,
        recognizer.frame_attention(waveform),
        recognizer.sampling_rate,
        out,
        name=path.name,
        scores=scores,
    )
    print(f"  frame attention: {out}")


def explain_path(out: Path, audio: Path, num_files: int) -> Path:
    """`out` for a single file; ``<out stem>_<audio stem>.png`` next to it for several."""
    return (
        out if num_files == 1 else out.with_name(f"{out.stem}_{audio.stem}{out.suffix or '.png'}")
    )
