"""Peak memory, time and disk of the frozen-encoder feature cache, in memory and on disk, as the
corpus grows (issue 32).

Each measurement runs in its own process (peak RSS is per process): it builds an
`EncoderFeatureCache` over a manifest of N clips that cycles through the EmoDB files of
``../shared/data/emodb`` (synthetic corpora of real clips, as the issue's table), keeping the
waveforms as the partial-cache EAM path does, then reads every item once. The encoder is a
random WavLM as wide as Whisper base (512-dimensional frames at 50 per second, one layer), so
the frames weigh what Whisper base's do while the encoder pass stays cheap; its weights do not
change what is measured (the cache's size and memory, not the features' quality)::

    python benchmarks/bench_feature_cache_scale.py --sizes 1000,4000,16000 \\
        --output benchmarks/results/feature_cache_scale.json

A size whose in-memory cache would not fit (``--memory-limit-gib``, default 12) is measured on
disk only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMODB = ROOT.parent / "shared" / "data" / "emodb"
BYTES_PER_CLIP_IN_MEMORY = 0.55 * 2**20 + 2.8 * 16000 * 4
"""The in-memory cache's cost per EmoDB clip: frames (issue 32's 0.55 MiB) and the waveform."""


def emodb_files() -> list[str]:
    files = sorted(str(path) for path in EMODB.glob("*.flac"))
    if not files:
        raise SystemExit(f"no EmoDB files under {EMODB}: see ../shared/data/README")
    return files


def wide_random_model():
    import torch
    from transformers import WavLMConfig

    from eam_ser import FlamConfig, FlamForSequenceClassification

    torch.manual_seed(0)
    encoder = WavLMConfig(
        hidden_size=512,
        num_hidden_layers=1,
        num_attention_heads=8,
        intermediate_size=1024,
        conv_dim=(32,) * 7,
        feat_extract_norm="layer",
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    config = FlamConfig(encoder_config=encoder, num_labels=7, freeze_encoder_steps=-1)
    return FlamForSequenceClassification(config).eval()


def child(size: int, mode: str, cache_dir: str) -> dict:
    """One measurement (in this process): build the cache, read every item, report."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor

    from eam_ser.cli.memory import limit_allocator_growth
    from eam_ser.training.feature_cache import EncoderFeatureCache

    torch.set_num_threads(1)
    # As `eam-ser train` does: freed batch buffers go back to the system, so the peak measures
    # what is held, not glibc's fragmentation after batches of every shape.
    limit_allocator_growth()
    files = emodb_files()
    dataset = {
        "audio": [files[row % len(files)] for row in range(size)],
        "label": [row % 7 for row in range(size)],
    }

    class Rows(dict):
        def __getitem__(self, key):
            if isinstance(key, int):
                return {"audio": dataset["audio"][key], "label": dataset["label"][key]}
            return dataset[key]

    model = wide_random_model()
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    started = time.perf_counter()
    cache = EncoderFeatureCache(
        model,
        extractor,
        Rows(),
        16,
        keep_waveforms=True,
        cache_dir=None if mode == "memory" else cache_dir,
    )
    built = time.perf_counter() - started
    rss_after_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    frames = 0
    for row in range(len(cache)):
        frames += cache[row]["encoder_hidden_states"].shape[0]
    read = time.perf_counter() - started
    return {
        "clips": size,
        "mode": mode,
        "build_s": round(built, 1),
        "read_all_items_s": round(read, 1),
        "frames": frames,
        "peak_rss_build_mib": round(rss_after_build),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "disk_mib": round(cache.disk_bytes / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,4000,16000")
    parser.add_argument("--memory-limit-gib", type=float, default=12.0)
    parser.add_argument("--modes", default="memory,disk", help="memory, disk or both")
    parser.add_argument("--output", type=Path)
    parser.add_argument("--child", nargs=3, metavar=("SIZE", "MODE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, mode, folder = args.child
        print(json.dumps(child(int(size), mode, folder)))
        return
    rows = []
    for size in [int(text) for text in args.sizes.split(",")]:
        modes = [mode for mode in args.modes.split(",") if mode == "disk"]
        fits = size * BYTES_PER_CLIP_IN_MEMORY < args.memory_limit_gib * 2**30
        if "memory" in args.modes.split(",") and fits:
            modes.insert(0, "memory")
        for mode in modes:
            with tempfile.TemporaryDirectory() as folder:
                output = subprocess.run(
                    [sys.executable, __file__, "--child", str(size), mode, folder],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "TQDM_DISABLE": "1"},
                )
            row = json.loads(output.stdout.strip().splitlines()[-1])
            print(row, flush=True)
            rows.append(row)
    hours = {row["clips"]: row["frames"] / 50 / 3600 for row in rows}
    disk = [row for row in rows if row["mode"] == "disk"]
    record = {
        "command": "python benchmarks/bench_feature_cache_scale.py " + " ".join(sys.argv[1:]),
        "encoder": "random WavLM, 512-dimensional frames at 50/s (Whisper base's width)",
        "rows": rows,
        "disk_mib_per_hour_of_audio": round(disk[-1]["disk_mib"] / hours[disk[-1]["clips"]], 1),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(record, indent=1))
    if args.output is not None:
        args.output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
