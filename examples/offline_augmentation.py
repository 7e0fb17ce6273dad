"""Offline energy-adaptive mixup with ``datasets.map``: write mixed clips and soft labels.

Each map batch draws partners among its own rows; ``with_indices=True`` makes the result
depend only on the seed and the batching, so ``num_proc`` can be raised safely.

    python examples/offline_augmentation.py --output runs/augmented
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from eam_ser.corpora import label_names, load_manifest
from eam_ser.mixup import EnergyAdaptiveMixupMap


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--output", type=Path, default=Path("runs/augmented"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    dataset = load_manifest(args.data)
    mix = EnergyAdaptiveMixupMap(
        len(label_names(dataset)), p=1.0, min_snr_db=-5.0, max_snr_db=5.0, seed=args.seed
    )
    augmented = dataset.map(mix, batched=True, batch_size=16, with_indices=True, num_proc=1)
    audio_dir = args.output / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)

    def write_flac(row: dict, index: int) -> dict:
        path = audio_dir / f"{index:05d}_{Path(row['audio']).stem}_eam.flac"
        sf.write(path, np.asarray(row["mixed_audio"], dtype=np.float32), 16000)
        return {"mixed_audio": str(path)}

    # Replace the arrays by FLAC files: the saved dataset stays small and any tool can play them.
    augmented = augmented.map(write_flac, with_indices=True)
    augmented.save_to_disk(str(args.output / "dataset"))
    first = augmented[0]
    names = label_names(augmented)
    soft = ", ".join(
        f"{name} {value:.2f}" for name, value in zip(names, first["soft_labels"], strict=True)
    )
    print(
        f"saved {augmented.num_rows} mixed rows to {args.output}; first row: {names[first['label']]} -> {soft}"
    )


if __name__ == "__main__":
    main()
