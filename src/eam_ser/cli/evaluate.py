"""``eam-ser evaluate``: test a saved model on a corpus, a manifest or one of their splits."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eam_ser.cli import data
from eam_ser.cli.options import positive
from eam_ser.cli.output import add_output_argument

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["add_parser", "check_card_folder", "command_evaluate", "seen_speakers", "tested_on"]


def add_parser(commands: Any) -> None:
    """The ``evaluate`` subcommand."""
    evaluate = commands.add_parser("evaluate", help="test a saved model on a corpus or split")
    evaluate.add_argument("model", help="saved model folder or Hub id")
    data.add_data_arguments(evaluate, split_required=False)
    evaluate.add_argument("--batch-size", type=positive(int), default=8)
    add_output_argument(
        evaluate,
        "--output",
        kind="file",
        help="write the metrics as JSON, with every utterance's prediction (for eam-ser compare)",
    )
    add_output_argument(
        evaluate,
        "--reliability-plot",
        kind="file",
        metavar="OUT.png",
        help="draw the reliability diagram of the scores (before and after temperature scaling)",
    )
    data.add_label_map_argument(evaluate)
    evaluate.add_argument(
        "--robustness",
        action="store_true",
        help="also score the test clips under white noise and interfering speech (from the "
        "untested speakers) at 20 to -5 dB SNR, through a 300-3400 Hz telephone band and "
        "clipped at 25 %% of their peak",
    )
    add_output_argument(
        evaluate,
        "--robustness-plot",
        kind="file",
        metavar="OUT.png",
        help="with --robustness: plot UA per condition",
    )
    evaluate.add_argument(
        "--update-card",
        action="store_true",
        help="with --robustness: write the ladder into the model card (MODEL/README.md, a local "
        "folder) as its 'Robustness' section, replacing the one an earlier run wrote; only "
        "for speakers the model was not trained on",
    )
    data.add_bad_audio_argument(evaluate)


def command_evaluate(args: argparse.Namespace) -> int:
    from eam_ser.corpora.vocabulary import harmonise_labels, parse_label_map
    from eam_ser.data.check import check_run_data
    from eam_ser.evaluation.report import format_scores, report_lines
    from eam_ser.experiment.results import strict_json
    from eam_ser.inference import EmotionRecognizer, evaluate_model
    from eam_ser.inference.evaluation import audio_folder, dataset_waveforms

    label_map = parse_label_map(args.label_map or "")  # a typo fails before any work
    if args.update_card:
        check_card_folder(args)
    recognizer = EmotionRecognizer.from_pretrained(args.model)
    model, feature_extractor = recognizer.model, recognizer.feature_extractor
    dataset = data.load_dataset_from_args(args)
    corpus_folder = audio_folder(dataset)
    splits = {"test": dataset}
    if args.test_speakers or args.test_fold is not None:
        untested, splits["test"] = data.split_from_args(dataset, args)
        if args.robustness:
            splits["interference"] = untested
    elif args.robustness:
        raise ValueError(
            "--robustness draws its interfering speech from speakers that are not tested: "
            "choose the tested ones with --test-speakers or --test-fold"
        )
    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    splits["test"], vocabulary = harmonise_labels(splits["test"], model_labels, label_map)
    for line in data.label_report_lines(vocabulary):
        print(line)
    # The interferers' labels are never a target: left as they are, not checked.
    kept, _ = check_run_data(
        splits,
        min_input_samples=model.config.min_input_samples,
        on_bad_audio=args.on_bad_audio,
        model_labels=model_labels,
        unscored_splits=("interference",),
    )
    dataset = kept["test"]
    if dataset.num_rows == 0:
        raise ValueError("data check: no usable file left to evaluate")
    seen = seen_speakers(model, dataset)
    if seen and args.update_card:
        raise ValueError(
            "--update-card: the model was trained on speakers of this data "
            f"({', '.join(seen)}); the card states scores on unseen speakers only"
        )
    # Decoded once, for the clean test and every rung of the robustness ladder.
    waveforms = dataset_waveforms(recognizer, dataset)
    metrics = evaluate_model(
        model,
        feature_extractor,
        dataset,
        args.batch_size,
        per_utterance=args.output is not None,
        files_relative_to=corpus_folder,
        waveforms=waveforms,
    )
    metrics["training_speakers_in_data"] = seen
    metrics["labels"] = vocabulary
    print(f"{dataset.num_rows} utterances: {format_scores(metrics)}")
    for name, recall in metrics["recall"].items():
        shown = "undefined (no test sample)" if recall != recall else f"{100 * recall:.2f} %"
        print(f"  recall {name}: {shown}")
    for line in report_lines(metrics):
        print(f"  {line}")
    if args.robustness:
        from eam_ser.evaluation.plots import plot_robustness_ladder
        from eam_ser.inference import evaluate_robustness

        ladder = evaluate_robustness(
            model,
            feature_extractor,
            dataset,
            kept["interference"],
            args.batch_size,
            waveforms=waveforms,
        )
        metrics["robustness"] = ladder
        for condition, levels in ladder["ua"].items():
            shown = ", ".join(f"{level}: {100 * ua:.1f}" for level, ua in levels.items())
            print(f"  UA % under {condition}: {shown}")
        if args.robustness_plot is not None:
            plot = plot_robustness_ladder(ladder, metrics["ua"], args.robustness_plot)
            print(f"  robustness plot: {plot}")
        if args.update_card:
            from eam_ser.hub.card import write_robustness_section

            card = write_robustness_section(
                args.model, ladder, metrics["ua"], tested_on(args, dataset)
            )
            print(f"  model card: robustness section written to {card}")
    if args.reliability_plot is not None:
        from eam_ser.evaluation.plots import plot_reliability

        curves = {"scores": metrics["calibration"]}
        if "calibration_before_scaling" in metrics:
            curves = {
                "softmax (T = 1)": metrics["calibration_before_scaling"],
                f"T = {metrics['score_temperature']:.2f}": metrics["calibration"],
            }
        print(f"  reliability diagram: {plot_reliability(curves, args.reliability_plot)}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(strict_json(metrics), encoding="utf-8")
    return 0


def check_card_folder(args: argparse.Namespace) -> None:
    """Refuse ``--update-card`` before any work when it cannot be done.

    Raises:
        ValueError: without ``--robustness``, or when MODEL is not a local folder with a
            README.md model card.
    """
    if not args.robustness:
        raise ValueError("--update-card writes the robustness ladder: add --robustness")
    if not (Path(args.model) / "README.md").is_file():
        raise ValueError(
            f"--update-card: {args.model} is not a local model folder with a model card "
            "(README.md); evaluate a downloaded copy of it"
        )


def tested_on(args: argparse.Namespace, dataset: Dataset) -> str:
    """The tested data in words for the model card: speakers, source and size."""
    source = args.corpus if args.data is None else Path(args.data).name
    speakers = ", ".join(sorted({str(speaker) for speaker in dataset["speaker"]}))
    return f"speakers {speakers} of {source} ({dataset.num_rows} utterances)"


def seen_speakers(model: Any, dataset: Dataset) -> dict[str, int]:
    """Speakers of `dataset` that the model was trained on (`FlamConfig.training_speakers`),
    warned of (`eam_ser.cli.data.warn_of_seen_speakers`)."""
    trained_on = getattr(model.config, "training_speakers", None) or []
    return data.warn_of_seen_speakers(trained_on, dataset)
