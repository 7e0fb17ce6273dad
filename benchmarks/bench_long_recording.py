"""Peak memory and time of segmented inference on recordings of 1, 5, 20 and 60 minutes.

Each recording is made of EmoDB utterances (``../shared/data/emodb``) in a fixed shuffled order,
0.5 s of silence between them, repeated until the duration is reached, and written as a 16 kHz
FLAC file. Every duration is then scored in a fresh process, as a user would run it:
`EmotionRecognizer.predict_recording(path, "auto")` after `limit_allocator_growth()` as
`eam-ser predict` runs it (beyond 20 s: Silero VAD segments, regions
over 10 s cut into 4 s windows every 2 s), with FLAM around the pretrained Whisper tiny.en encoder
(``../shared/models/whisper-tiny-en-encoder``; the head is untrained, which does not change the
cost). The child reports its peak resident memory (``ru_maxrss``) and the wall time of the call,
split into decoding + VAD and scoring.

Target: peak memory at 60 min within 1.5x that at 1 min plus the decoded audio (60 min of
float32 at 16 kHz = 230 MB); time linear in duration.

Usage:
    python benchmarks/bench_long_recording.py [--minutes 1 5 20 60] [--threads 2]

Writes benchmarks/results/long_recording.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from results_file import add_output_arguments, write_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
RESULTS_PATH = Path(__file__).resolve().parent / "results" / "long_recording.json"
SAMPLING_RATE = 16000
GAP_S = 0.5

CHILD = """
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
from eam_ser.data.audio import load_audio
from eam_ser.cli.memory import limit_allocator_growth
from eam_ser.inference import EmotionRecognizer
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from eam_ser.inference.segmentation import segment_recording
from transformers import AutoFeatureExtractor
limit_allocator_growth()  # as `eam-ser predict` does
torch.manual_seed(0)
model = FlamForSequenceClassification.from_encoder({encoder!r}, num_labels=7).eval()
recognizer = EmotionRecognizer(model, AutoFeatureExtractor.from_pretrained({encoder!r}), batch_size=8)
# Warm-up (first-call costs), then the baseline memory before the recording.
recognizer.predict_recording(load_audio({warmup!r}), "none")
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
waveform = recognizer.load({path!r})
_, segments = segment_recording(waveform, 16000, "auto")
segmented = time.perf_counter() - start
del waveform
start = time.perf_counter()
prediction = recognizer.predict_recording({path!r}, "auto")
total = time.perf_counter() - start
print(json.dumps({{
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "baseline_rss_mb": baseline,
    "decode_and_vad_s": segmented,
    "predict_recording_s": total,
    "segments": len(prediction.segments),
    "label": prediction.label,
}}))
"""


def make_recording(path: Path, minutes: float, clips: list[np.ndarray]) -> None:
    """Write `minutes` of EmoDB utterances with 0.5 s gaps to `path` (16 kHz FLAC)."""
    target = round(minutes * 60 * SAMPLING_RATE)
    gap = np.zeros(round(GAP_S * SAMPLING_RATE), np.float32)
    with sf.SoundFile(path, "w", SAMPLING_RATE, 1, format="FLAC", subtype="PCM_16") as out:
        written = 0
        index = 0
        while written < target:
            piece = np.concatenate([clips[index % len(clips)], gap])[: target - written]
            out.write(piece)
            written += piece.shape[0]
            index += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 20, 60])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encoder", default=str(SHARED / "models" / "whisper-tiny-en-encoder"))
    add_output_arguments(parser, RESULTS_PATH)
    args = parser.parse_args()
    files = sorted((SHARED / "data" / "emodb").glob("*.flac"))
    order = np.random.default_rng(0).permutation(len(files))
    clips = [sf.read(files[i], dtype="float32")[0] for i in order]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        warmup = Path(folder) / "warmup.flac"
        sf.write(warmup, clips[0], SAMPLING_RATE)
        for minutes in args.minutes:
            path = Path(folder) / f"recording_{minutes:g}min.flac"
            make_recording(path, minutes, clips)
            code = CHILD.format(
                threads=args.threads, encoder=args.encoder, warmup=str(warmup), path=str(path)
            )
            start = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            )
            row = json.loads(result.stdout.strip().splitlines()[-1])
            row.update(
                minutes=minutes,
                decoded_audio_mb=minutes * 60 * SAMPLING_RATE * 4 / 2**20,
                process_s=round(time.perf_counter() - start, 1),
            )
            row["seconds_per_audio_minute"] = row["predict_recording_s"] / minutes
            rows.append(row)
            print(json.dumps(row), flush=True)
    first, last = rows[0], rows[-1]
    budget = 1.5 * first["peak_rss_mb"] + last["decoded_audio_mb"]
    report = {
        "what": "segmented inference (auto: Silero VAD) of EmoDB-made recordings, FLAM around "
        "Whisper tiny.en, batch 8, each duration in a fresh process",
        "command": "python benchmarks/bench_long_recording.py --minutes "
        + " ".join(f"{m:g}" for m in args.minutes)
        + f" --threads {args.threads}",
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": args.threads,
        },
        "rows": rows,
        "target": {
            "peak_rss_mb_limit": round(budget, 1),
            "rule": "peak RSS at the longest <= 1.5 x peak at the shortest + decoded audio",
            "met": last["peak_rss_mb"] <= budget,
        },
    }
    print(f"peak at {last['minutes']:g} min {last['peak_rss_mb']:.0f} MB, limit {budget:.0f} MB")
    write_report(report, args.output, args.overwrite)


if __name__ == "__main__":
    main()
