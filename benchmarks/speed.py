"""Speed of eam-ser against the plain Hugging Face recipe, ratios measured in one run, one thread.

1. Collating a batch of 32 clips of 2-6 s: the EAM collator (p=0.5, normalising) vs a plain
   padding collator vs `Wav2Vec2FeatureExtractor` pad + normalize (median of ``--repeats``
   calls, `bench_collator.collator_timings`). Target: EAM collator <= 0.3x the feature extractor.
2. One training step (forward + loss + backward, `Trainer.training_step`, no optimizer step):
   `FlamForSequenceClassification` with `MultiLossTrainer` (KL + focal + center + SupCon, EAM
   soft labels) vs `WavLMForSequenceClassification` with the plain `Trainer` (cross-entropy),
   same encoder config (`bench_model.benchmark_encoder_config`: WavLM hidden 256, 4 layers,
   standard 7 x 512 CNN front end, frozen in both as in the transformers audio-classification
   recipe) and the same encoder weights, batch 8 of 4 s. Target: <= 1.05x.
3. Inference: forward under `torch.no_grad` in eval mode, same models and batch. Target: <= 1.02x.
4. Peak memory of both training steps: each runs in its own subprocess; the figure is the
   peak resident set size during one training step minus the resident set size just before
   it (models, trainer and batch built), in MiB, from ``/proc/self/status`` with the peak mark
   reset before the step (Linux).
5. The EAM mixing core against one copy of the batch (`bench_mix_core.shape_rows`).
6. Throughput users can plan with (`throughput`): training examples/s, inference real-time
   factor and the EAM collator's share of a training step, FLAM + MLL against the Hugging Face
   baseline with its stock input, for the WavLM encoder above and the pretrained Whisper
   tiny.en and base encoders in ``../shared/models`` (rows skipped when absent).

The models are timed interleaved (FLAM, WavLM, FLAM, ...; `bench_model.interleaved_median_ms`)
so that drifting machine load hits both alike. Every FLAM head in ``--flam-heads`` gets its own
rows (``default`` = the `FlamConfig` defaults).

    python benchmarks/speed.py
    python benchmarks/speed.py --repeats 2 --collator-repeats 5 --output /tmp/speed.json  # smoke

Writes ``benchmarks/results/speed.json`` and prints the tables.
"""

from __future__ import annotations

import os

# One thread everywhere: must be set before numpy / torch are imported.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    Trainer,
    TrainingArguments,
    WavLMForSequenceClassification,
    WhisperFeatureExtractor,
    WhisperForAudioClassification,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_collator import collator_timings  # noqa: E402
from bench_mix_core import SHAPES, shape_rows  # noqa: E402
from bench_model import benchmark_encoder_config, interleaved_median_ms  # noqa: E402
from results_file import add_output_arguments, write_report  # noqa: E402

from eam_ser.mixup import EnergyAdaptiveMixupCollator  # noqa: E402
from eam_ser.models.flam.configuration_flam import FlamConfig  # noqa: E402
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification  # noqa: E402
from eam_ser.training.trainer import MultiLossTrainer, MultiLossTrainingArguments  # noqa: E402

SAMPLING_RATE = 16000
NUM_LABELS = 7
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "speed.json"
# FLAM head settings measured (`--flam-heads`); "default" is FlamConfig's own defaults.
FLAM_HEADS: dict[str, dict[str, Any]] = {
    "default": {},
    "flam_hidden_size=128": {"flam_hidden_size": 128, "flam_num_attention_heads": 4},
}
TARGETS = {"collator": 0.3, "training_step": 1.05, "inference": 1.02}
MODELS_DIR = Path(__file__).resolve().parents[2] / "shared" / "models"
WHISPER_ENCODERS = {
    "whisper-tiny.en": MODELS_DIR / "whisper-tiny-en-encoder",
    "whisper-base": MODELS_DIR / "whisper-base-encoder",
}


# ---------------------------------------------------------------------------------- collators


def eam_collator_timings(batch_size: int, repeats: int, seed: int) -> dict[str, Any]:
    """Median ms per batch of the EAM collator and plain padding beside the feature extractor."""
    collators = {
        "plain padding collator": EnergyAdaptiveMixupCollator(
            NUM_LABELS, normalize=False, seed=seed
        ).eval(),
        "EAM collator (p=0.5, normalize)": EnergyAdaptiveMixupCollator(
            NUM_LABELS, p=0.5, seed=seed
        ),
    }
    return collator_timings(
        collators, batch_size=batch_size, repeats=repeats, seed=seed, num_labels=NUM_LABELS
    )


# ------------------------------------------------------------------------------------- models


def build_pair(head: Mapping[str, Any]) -> tuple[FlamForSequenceClassification, Any]:
    """FLAM (with `head` settings) and WavLMForSequenceClassification sharing encoder weights,
    both with the CNN front end frozen."""
    torch.manual_seed(0)
    baseline_config = benchmark_encoder_config()
    baseline_config.num_labels = NUM_LABELS
    baseline = WavLMForSequenceClassification(baseline_config)
    baseline.freeze_feature_encoder()
    flam = FlamForSequenceClassification(
        FlamConfig(
            encoder_config=benchmark_encoder_config(),
            num_labels=NUM_LABELS,
            freeze_feature_encoder=True,
            **head,
        )
    )
    flam.encoder.load_state_dict(baseline.wavlm.state_dict())
    return flam, baseline


def make_batch(batch_size: int, seconds: float) -> dict[str, torch.Tensor]:
    """Batch of `batch_size` random clips of `seconds` s: waveform, mask, labels, soft labels."""
    generator = torch.Generator().manual_seed(0)
    num_samples = int(seconds * SAMPLING_RATE)
    labels = torch.arange(batch_size) % NUM_LABELS
    soft_labels = 0.8 * torch.nn.functional.one_hot(labels, NUM_LABELS).float()
    soft_labels[:, 0] += 0.2
    return {
        "input_values": 0.1 * torch.randn(batch_size, num_samples, generator=generator),
        "attention_mask": torch.ones(batch_size, num_samples, dtype=torch.long),
        "labels": labels,
        "soft_labels": soft_labels,
    }


def build_trainers(
    flam: FlamForSequenceClassification, baseline: Any, output_dir: str
) -> tuple[MultiLossTrainer, Trainer]:
    """`MultiLossTrainer` (four losses, default weights) for FLAM, plain `Trainer` for WavLM."""
    common = {"output_dir": output_dir, "report_to": "none", "use_cpu": True}
    flam_trainer = MultiLossTrainer(model=flam, args=MultiLossTrainingArguments(**common))
    baseline_trainer = Trainer(model=baseline, args=TrainingArguments(**common))
    # Set by the training loop, which `training_step` is called without here.
    for trainer in (flam_trainer, baseline_trainer):
        trainer.current_gradient_accumulation_steps = 1
    return flam_trainer, baseline_trainer


def step_function(
    trainer: Trainer, batch: Mapping[str, torch.Tensor], with_soft_labels: bool
) -> Callable[[], object]:
    """One `training_step` (forward, loss, backward) on a fresh gradient."""
    inputs = {k: v for k, v in batch.items() if with_soft_labels or k != "soft_labels"}

    def step() -> object:
        trainer.model.zero_grad(set_to_none=True)
        return trainer.training_step(trainer.model, dict(inputs))

    return step


def model_timings(head_name: str, batch_size: int, seconds: float, repeats: int) -> dict[str, Any]:
    """Median ms of a training step and of inference, FLAM vs WavLM, interleaved."""
    flam, baseline = build_pair(FLAM_HEADS[head_name])
    batch = make_batch(batch_size, seconds)
    with tempfile.TemporaryDirectory() as output_dir:
        flam_trainer, baseline_trainer = build_trainers(flam, baseline, output_dir)
        training = interleaved_median_ms(
            {
                "flam": step_function(flam_trainer, batch, with_soft_labels=True),
                "wavlm": step_function(baseline_trainer, batch, with_soft_labels=False),
            },
            repeats,
        )
    flam.eval()
    baseline.eval()
    model_inputs = {k: batch[k] for k in ("input_values", "attention_mask")}
    with torch.no_grad():
        inference = interleaved_median_ms(
            {"flam": lambda: flam(**model_inputs), "wavlm": lambda: baseline(**model_inputs)},
            repeats,
        )
    head_parameters = sum(
        p.numel() for name, p in flam.named_parameters() if not name.startswith("encoder.")
    )
    baseline_head_parameters = sum(
        p.numel() for name, p in baseline.named_parameters() if not name.startswith("wavlm.")
    )
    return {
        "flam_settings": {
            key: getattr(flam.config, key)
            for key in (
                "num_flam_layers",
                "flam_hidden_size",
                "flam_num_attention_heads",
                "pooling",
                "context_broadcasting",
                "embedding_size",
            )
        },
        "flam_head_parameters": head_parameters,
        "wavlm_head_parameters": baseline_head_parameters,
        "training_step_ms": training,
        "training_step_ratio": training["flam"] / training["wavlm"],
        "inference_ms": inference,
        "inference_ratio": inference["flam"] / inference["wavlm"],
    }


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only)")


def measure_peak_memory(model_name: str, head_name: str, batch_size: int, seconds: float) -> None:
    """Subprocess entry: print, as JSON, the resident memory before one training step and the
    peak growth over it during the step, in MiB.

    The kernel's peak-RSS mark (``VmHWM``) is reset just before the step (writing 5 to
    ``/proc/self/clear_refs``), so the peak of building the models does not hide the step's.
    """
    flam, baseline = build_pair(FLAM_HEADS[head_name])
    batch = make_batch(batch_size, seconds)
    with tempfile.TemporaryDirectory() as output_dir:
        flam_trainer, baseline_trainer = build_trainers(flam, baseline, output_dir)
        if model_name == "flam":
            step = step_function(flam_trainer, batch, with_soft_labels=True)
        else:
            step = step_function(baseline_trainer, batch, with_soft_labels=False)
        Path("/proc/self/clear_refs").write_text("5")
        before_kib = _status_kib("VmRSS")
        step()
        peak_kib = _status_kib("VmHWM")
    print(
        json.dumps(
            {
                "rss_before_mib": before_kib / 1024,
                "step_peak_growth_mib": (peak_kib - before_kib) / 1024,
            }
        )
    )


def peak_memory(head_name: str, batch_size: int, seconds: float) -> dict[str, Any]:
    """Run `measure_peak_memory` for FLAM and WavLM, each in a fresh process."""
    results = {}
    for model_name in ("flam", "wavlm"):
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-probe",
                model_name,
                "--flam-heads",
                head_name,
                "--batch-size",
                str(batch_size),
                "--seconds",
                str(seconds),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[model_name] = json.loads(completed.stdout.strip().splitlines()[-1])
    results["ratio"] = (
        results["flam"]["step_peak_growth_mib"] / results["wavlm"]["step_peak_growth_mib"]
    )
    return results


# -------------------------------------------------------------------------------- throughput


def _whisper_pair(folder: Path) -> tuple[FlamForSequenceClassification, Any]:
    """FLAM around a pretrained Whisper encoder and the stock `WhisperForAudioClassification`
    from the same folder (same encoder weights), every weight trainable in both."""
    flam = FlamForSequenceClassification.from_encoder(
        str(folder), num_labels=NUM_LABELS, freeze_feature_encoder=False
    )
    baseline = WhisperForAudioClassification.from_pretrained(
        str(folder), num_labels=NUM_LABELS, ignore_mismatched_sizes=True, dtype=torch.float32
    )
    return flam, baseline


def throughput(name: str, batch_size: int, seconds: float, repeats: int) -> dict[str, Any]:
    """Training examples/s, inference real-time factor and the EAM collator's share of a
    training step, FLAM + MLL (`MultiLossTrainer`) against the Hugging Face baseline (plain
    `Trainer`, cross-entropy) on the same encoder, timed interleaved.

    The baseline gets the stock recipe's input: the whole waveform for WavLM, 30 s of log-mel
    for Whisper (`WhisperForAudioClassification` requires 3000 frames); FLAM gets what the EAM
    collator produces (log-mel cropped to the longest clip for Whisper). The collator's share is
    collate / (collate + FLAM training step) for a batch of the same clips.
    """
    rng = np.random.default_rng(0)
    num_samples = int(seconds * SAMPLING_RATE)
    clips = [(0.1 * rng.standard_normal(num_samples)).astype(np.float32) for _ in range(batch_size)]
    features = [{"audio": clip, "label": index % NUM_LABELS} for index, clip in enumerate(clips)]
    torch.manual_seed(0)
    if name in WHISPER_ENCODERS:
        flam, baseline = _whisper_pair(WHISPER_ENCODERS[name])
        extractor = WhisperFeatureExtractor.from_pretrained(str(WHISPER_ENCODERS[name]))
        collator = EnergyAdaptiveMixupCollator(
            NUM_LABELS, feature_extractor=extractor, p=0.5, seed=0
        )
        padded = extractor(clips, sampling_rate=SAMPLING_RATE, return_tensors="pt")
        baseline_inputs = {"input_features": padded["input_features"]}
    else:
        flam, baseline = build_pair(FLAM_HEADS["default"])
        collator = EnergyAdaptiveMixupCollator(NUM_LABELS, p=0.5, seed=0)
        baseline_inputs = None
    flam_batch = collator(features)
    labels = flam_batch["labels"]
    if baseline_inputs is None:
        baseline_inputs = {k: flam_batch[k] for k in ("input_values", "attention_mask")}
    collate_ms = interleaved_median_ms({"collate": lambda: collator(features)}, repeats)["collate"]
    with tempfile.TemporaryDirectory() as output_dir:
        flam_trainer, baseline_trainer = build_trainers(flam, baseline, output_dir)
        training = interleaved_median_ms(
            {
                "flam": step_function(flam_trainer, flam_batch, with_soft_labels=True),
                "baseline": step_function(
                    baseline_trainer, {**baseline_inputs, "labels": labels}, with_soft_labels=False
                ),
            },
            repeats,
        )
    flam.eval()
    baseline.eval()
    flam_inputs = {k: v for k, v in flam_batch.items() if k not in ("labels", "soft_labels")}
    with torch.no_grad():
        inference = interleaved_median_ms(
            {"flam": lambda: flam(**flam_inputs), "baseline": lambda: baseline(**baseline_inputs)},
            repeats,
        )
    audio_seconds = batch_size * seconds
    return {
        "batch_size": batch_size,
        "seconds": seconds,
        "baseline": type(baseline).__name__,
        "training_step_ms": training,
        "training_examples_per_s": {k: 1000 * batch_size / v for k, v in training.items()},
        "training_step_ratio": training["flam"] / training["baseline"],
        "inference_ms": inference,
        "inference_real_time_factor": {k: v / 1000 / audio_seconds for k, v in inference.items()},
        "inference_ratio": inference["flam"] / inference["baseline"],
        "collate_ms": collate_ms,
        "collator_share_of_training_step": collate_ms / (collate_ms + training["flam"]),
    }


# ------------------------------------------------------------------------------------ report


def markdown_tables(report: Mapping[str, Any]) -> str:
    """Collator table and model table (one row per FLAM head), ratios with their targets."""
    collator = report["collator"]
    lines = [
        f"Collating {collator['batch_size']} clips of 2-6 s, 1 thread, median of "
        f"{collator['repeats']}:",
        "",
        f"| collator | ms / batch | x feature extractor (target EAM <= "
        f"{report['targets']['collator']}) |",
        "|---|---|---|",
    ]
    for name, ms in collator["ms"].items():
        lines.append(f"| {name} | {ms:.1f} | {collator['ratio_to_feature_extractor'][name]:.2f} |")
    lines += [
        "",
        f"Batch {report['batch_size']} x {report['seconds']} s, 1 thread, median of "
        f"{report['repeats']} (interleaved); memory = peak RSS growth during one training step:",
        "",
        f"| FLAM head | train step FLAM / WavLM ms | ratio (target <= "
        f"{report['targets']['training_step']}) | inference FLAM / WavLM ms | ratio (target <= "
        f"{report['targets']['inference']}) | peak step memory FLAM / WavLM MiB |",
        "|---|---|---|---|---|---|",
    ]
    for head, timings in report["models"].items():
        memory = report["peak_memory"].get(head)
        memory_text = (
            f"{memory['flam']['step_peak_growth_mib']:.0f} / "
            f"{memory['wavlm']['step_peak_growth_mib']:.0f} ({memory['ratio']:.2f}x)"
            if memory
            else "-"
        )
        lines.append(
            f"| {head} | {timings['training_step_ms']['flam']:.0f} / "
            f"{timings['training_step_ms']['wavlm']:.0f} | {timings['training_step_ratio']:.3f} "
            f"| {timings['inference_ms']['flam']:.0f} / {timings['inference_ms']['wavlm']:.0f} "
            f"| {timings['inference_ratio']:.3f} | {memory_text} |"
        )
    lines += [
        "",
        "EAM mixing core (p = 1, not in place) against one `np.copy` of the batch (target <= 5x), "
        "1 thread:",
        "",
        "| batch | " + " | ".join(next(iter(report["mix_core_ms"].values()))) + " |",
        "|---|" + "---|" * len(next(iter(report["mix_core_ms"].values()))),
    ]
    for shape, rows in report["mix_core_ms"].items():
        copy_ms = rows["np.copy"]
        cells = [f"{ms:.2f} ms ({ms / copy_ms:.1f}x)" for ms in rows.values()]
        lines.append(f"| {shape} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Throughput, FLAM + MLL vs the Hugging Face baseline on the same encoder, 1 thread "
        "(training: examples/s; inference: real-time factor, compute s per audio s):",
        "",
        "| encoder | batch | train ex/s FLAM / baseline | step ratio | inference RTF FLAM / "
        "baseline | ratio | EAM collator share of a step |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report.get("throughput", {}).items():
        examples, rtf = row["training_examples_per_s"], row["inference_real_time_factor"]
        lines.append(
            f"| {name} ({row['baseline']}) | {row['batch_size']} x {row['seconds']:g} s "
            f"| {examples['flam']:.2f} / {examples['baseline']:.2f} "
            f"| {row['training_step_ratio']:.3f} | {rtf['flam']:.4f} / {rtf['baseline']:.4f} "
            f"| {row['inference_ratio']:.3f} | {100 * row['collator_share_of_training_step']:.1f} % |"
        )
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7, help="timed model calls (median)")
    parser.add_argument("--collator-repeats", type=int, default=50)
    parser.add_argument("--collator-batch-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--whisper-batch-size",
        type=int,
        default=2,
        help="batch of the Whisper throughput rows (the baseline pads every clip to 30 s)",
    )
    parser.add_argument(
        "--flam-heads",
        type=lambda s: s.split(","),
        default=list(FLAM_HEADS),
        help=f"comma-separated subset of {', '.join(FLAM_HEADS)}",
    )
    add_output_arguments(parser, RESULTS_PATH)
    parser.add_argument("--memory-probe", choices=("flam", "wavlm"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    if args.memory_probe:
        measure_peak_memory(args.memory_probe, args.flam_heads[0], args.batch_size, args.seconds)
        return
    report: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/speed.py", *(argv or sys.argv[1:])]),
        "machine": {
            "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "encoder": "WavLM hidden 256, 4 layers, 4 heads, intermediate 1024, CNN 7 x 512 "
        "(layer norm, frozen in both models)",
        "batch_size": args.batch_size,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "targets": TARGETS,
        "collator": eam_collator_timings(args.collator_batch_size, args.collator_repeats, seed=0),
        "models": {},
        "peak_memory": {},
    }
    for head in args.flam_heads:
        report["models"][head] = model_timings(head, args.batch_size, args.seconds, args.repeats)
        report["peak_memory"][head] = peak_memory(head, args.batch_size, args.seconds)
    report["mix_core_ms"] = {
        name: shape_rows(batch, seconds, repeats=20) for name, (batch, seconds) in SHAPES.items()
    }
    report["throughput"] = {
        "wavlm-256x4 (from config)": throughput(
            "wavlm", args.batch_size, args.seconds, args.repeats
        )
    }
    for name, folder in WHISPER_ENCODERS.items():
        if (folder / "config.json").is_file():
            report["throughput"][name] = throughput(
                name, args.whisper_batch_size, args.seconds, args.repeats
            )
        print(f"throughput {name} done", flush=True)
    print(markdown_tables(report))
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
