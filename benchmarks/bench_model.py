"""Inference cost of FLAM: FlamForSequenceClassification vs WavLMForSequenceClassification.

Both models share one encoder (WavLM, hidden 256, 4 layers, 4 heads, intermediate 1024, the
standard 7-layer 512-channel CNN front end with layer norm); FLAM uses its default head
settings. Input: a batch of 4 s clips at 16 kHz with an all-ones attention mask. Runs are
interleaved (FLAM, WavLM, FLAM, ...) so drifting machine load hits both alike; the figure is
the median wall time of one forward pass under `torch.inference_mode`, in milliseconds.

Also times FLAM around a Whisper encoder on one 2 s clip: cropped to the real mel frames
(attention mask given) vs the full 30 s padding (no mask). The pretrained tiny.en encoder from
../shared/models is used when present, else a random encoder of the same shape.

Usage:
    python benchmarks/bench_model.py [--threads 1] [--batch-size 8] [--repeats 7]

Writes benchmarks/results/model_forward.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from results_file import add_output_arguments, write_report
from transformers import WavLMConfig, WavLMForSequenceClassification, WhisperConfig

from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

SAMPLING_RATE = 16000
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "model_forward.json"
WHISPER_TINY_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "whisper-tiny-en-encoder"
)
WHISPER_MEL_FRAMES = 3000
WHISPER_MEL_FRAMES_PER_SECOND = 100
NUM_LABELS = 4


def benchmark_encoder_config() -> WavLMConfig:
    return WavLMConfig(
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        feat_extract_norm="layer",
        num_labels=NUM_LABELS,
    )


def interleaved_median_ms(
    functions: dict[str, Callable[[], object]], repeats: int
) -> dict[str, float]:
    """Median wall time in ms of each function, run round-robin `repeats` times after one warm-up."""
    timings: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            timings[name].append(1000.0 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in timings.items()}


def bench_wavlm_head(batch_size: int, seconds: float, repeats: int) -> dict[str, object]:
    encoder_config = benchmark_encoder_config()
    torch.manual_seed(0)
    baseline = WavLMForSequenceClassification(encoder_config).eval()
    flam = FlamForSequenceClassification(
        FlamConfig(encoder_config=benchmark_encoder_config(), num_labels=NUM_LABELS)
    ).eval()
    flam.encoder.load_state_dict(baseline.wavlm.state_dict())
    generator = torch.Generator().manual_seed(0)
    num_samples = int(seconds * SAMPLING_RATE)
    input_values = 0.1 * torch.randn(batch_size, num_samples, generator=generator)
    attention_mask = torch.ones(batch_size, num_samples, dtype=torch.long)

    def run_flam() -> object:
        return flam(input_values, attention_mask=attention_mask)

    def run_baseline() -> object:
        return baseline(input_values, attention_mask=attention_mask)

    with torch.inference_mode():
        medians = interleaved_median_ms({"flam": run_flam, "wavlm": run_baseline}, repeats)
    head_parameters = sum(
        p.numel() for name, p in flam.named_parameters() if not name.startswith("encoder.")
    )
    return {
        "encoder": "wavlm hidden 256, 4 layers, 4 heads, intermediate 1024, conv 7x512 (layer norm)",
        "flam_settings": {
            "num_flam_layers": flam.config.num_flam_layers,
            "flam_num_attention_heads": flam.config.flam_num_attention_heads,
            "pooling": flam.config.pooling,
            "context_broadcasting": flam.config.context_broadcasting,
            "embedding_size": flam.config.embedding_size,
        },
        "flam_head_parameters": head_parameters,
        "batch_size": batch_size,
        "clip_seconds": seconds,
        "flam_median_ms": round(medians["flam"], 2),
        "wavlm_median_ms": round(medians["wavlm"], 2),
        "ratio_flam_over_wavlm": round(medians["flam"] / medians["wavlm"], 4),
    }


def bench_whisper_crop(seconds: float, repeats: int) -> dict[str, object]:
    if (WHISPER_TINY_DIR / "config.json").is_file():
        model = FlamForSequenceClassification.from_encoder(WHISPER_TINY_DIR, num_labels=NUM_LABELS)
        source = "pretrained whisper tiny.en encoder"
    else:
        encoder_config = WhisperConfig(
            d_model=384, encoder_layers=4, encoder_attention_heads=6, encoder_ffn_dim=1536
        )
        model = FlamForSequenceClassification(
            FlamConfig(encoder_config=encoder_config, num_labels=NUM_LABELS)
        )
        source = "random encoder shaped like whisper tiny"
    model.eval()
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(
        1, model.config.encoder_config.num_mel_bins, WHISPER_MEL_FRAMES, generator=generator
    )
    real_frames = int(seconds * WHISPER_MEL_FRAMES_PER_SECOND)
    attention_mask = torch.zeros(1, WHISPER_MEL_FRAMES, dtype=torch.long)
    attention_mask[:, :real_frames] = 1

    def run_cropped() -> object:
        return model(input_features=features, attention_mask=attention_mask)

    def run_padded() -> object:
        return model(input_features=features)

    with torch.inference_mode():
        medians = interleaved_median_ms({"cropped": run_cropped, "padded": run_padded}, repeats)
    return {
        "encoder": source,
        "clip_seconds": seconds,
        "cropped_median_ms": round(medians["cropped"], 2),
        "padded_30s_median_ms": round(medians["padded"], 2),
        "speedup_padded_over_cropped": round(medians["padded"] / medians["cropped"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--seconds", type=float, default=4.0, help="clip length for the WavLM comparison"
    )
    parser.add_argument("--repeats", type=int, default=7)
    add_output_arguments(parser, RESULTS_PATH)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)

    results = {
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": arguments.threads,
        "repeats": arguments.repeats,
        "wavlm_vs_flam": bench_wavlm_head(
            arguments.batch_size, arguments.seconds, arguments.repeats
        ),
        "whisper_crop_vs_pad": bench_whisper_crop(2.0, arguments.repeats),
    }
    print(json.dumps(results, indent=2))
    write_report(results, arguments.output, arguments.overwrite)


if __name__ == "__main__":
    main()
