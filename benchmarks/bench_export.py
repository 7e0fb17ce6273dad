"""Inference speed of one model three ways, one thread, same run: eager PyTorch,
``torch.compile`` (inductor, ``fullgraph=True``) and the ONNX export run by onnxruntime.

Two saved models: FLAM around a WavLM encoder built from `bench_model.benchmark_encoder_config`
(hidden 256, 4 layers, the standard CNN front end; random weights) and FLAM around the
pretrained Whisper tiny.en encoder (``../shared/models/whisper-tiny-en-encoder``). Input: one
batch of `--batch-size` clips of `--seconds` seconds from `AudioCollator`. Each model is exported
with `eam_ser.inference.export_onnx` (which checks parity on other shapes); the figures are the
median wall time of one forward pass, runs interleaved (eager, compiled, onnxruntime, ...),
after warm-up (the compile time itself is reported apart). Also reports the largest logit
difference of each backend from eager on this input.

Usage:
    python benchmarks/bench_export.py [--batch-size 4] [--seconds 4] [--repeats 15]

Writes benchmarks/results/export.json.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_model import NUM_LABELS, benchmark_encoder_config, interleaved_median_ms
from results_file import add_output_arguments, write_report
from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

from eam_ser.hub.save import save_model
from eam_ser.inference import EmotionRecognizer, OnnxEmotionModel, export_onnx
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "export.json"
WHISPER_TINY_DIR = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "whisper-tiny-en-encoder"
)


def save_models(folder: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    wavlm = FlamForSequenceClassification(
        FlamConfig(encoder_config=benchmark_encoder_config(), num_labels=NUM_LABELS)
    )
    save_model(folder / "wavlm", wavlm, Wav2Vec2FeatureExtractor(return_attention_mask=True))
    whisper = FlamForSequenceClassification.from_encoder(WHISPER_TINY_DIR, num_labels=NUM_LABELS)
    save_model(folder / "whisper", whisper, AutoFeatureExtractor.from_pretrained(WHISPER_TINY_DIR))
    return {
        "FLAM + WavLM 256 x 4 (random)": folder / "wavlm",
        "FLAM + Whisper tiny.en": folder / "whisper",
    }


def bench(folder: Path, batch_size: int, seconds: float, repeats: int) -> dict[str, object]:
    recognizer = EmotionRecognizer.from_pretrained(folder)
    model, name = recognizer.model, recognizer.input_name
    generator = np.random.default_rng(0)
    clips = [
        (0.1 * generator.standard_normal(round(seconds * 16000))).astype(np.float32)
        for _ in range(batch_size)
    ]
    batch = recognizer.collator.collate_waveforms(clips)
    inputs, mask = batch[name], batch["attention_mask"]
    export_check = export_onnx(folder, folder / "onnx")
    onnx = OnnxEmotionModel(folder / "onnx", num_threads=1)
    compiled = torch.compile(model, fullgraph=True)
    start = time.perf_counter()
    with torch.inference_mode():
        compiled(**{name: inputs}, attention_mask=mask)
        compile_s = time.perf_counter() - start
        eager = model(**{name: inputs}, attention_mask=mask).logits.numpy()
        from_compiled = compiled(**{name: inputs}, attention_mask=mask).logits.numpy()
        from_onnx = onnx(inputs.numpy(), mask.numpy())
        timings = interleaved_median_ms(
            {
                "eager": lambda: model(**{name: inputs}, attention_mask=mask),
                "compiled": lambda: compiled(**{name: inputs}, attention_mask=mask),
                "onnxruntime": lambda: onnx(inputs.numpy(), mask.numpy()),
            },
            repeats,
        )
    return {
        "median_ms": {key: round(value, 2) for key, value in timings.items()},
        "speedup_vs_eager": {
            key: round(timings["eager"] / timings[key], 2) for key in ("compiled", "onnxruntime")
        },
        "max_abs_logit_difference": {
            "compiled": float(np.abs(from_compiled - eager).max()),
            "onnxruntime": float(np.abs(from_onnx - eager).max()),
        },
        "export_parity_check": export_check,
        "compile_first_call_s": round(compile_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=15)
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for title, path in save_models(Path(folder)).items():
            results[title] = bench(path, args.batch_size, args.seconds, args.repeats)
            print(
                title, results[title]["median_ms"], results[title]["speedup_vs_eager"], flush=True
            )
    report = {
        "what": f"one forward pass of a batch of {args.batch_size} x {args.seconds:g} s, one "
        "thread: eager vs torch.compile(fullgraph=True) vs onnxruntime (the ONNX export)",
        "command": f"python benchmarks/bench_export.py --batch-size {args.batch_size} "
        f"--seconds {args.seconds:g} --repeats {args.repeats}",
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": 1,
            "torch": torch.__version__,
            "onnxruntime": __import__("onnxruntime").__version__,
        },
        "models": results,
    }
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
