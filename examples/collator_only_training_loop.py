"""Use only the EAM collator in your own PyTorch training loop, with any audio classifier.

The collator loads and pads the clips, mixes training batches (energy-adaptive mixup) and
returns ``input_values``, ``attention_mask``, hard ``labels`` and ``soft_labels``; this loop
trains a plain transformers ``Wav2Vec2ForSequenceClassification`` with cross-entropy to the
soft labels. Runs offline on the bundled sample (a small randomly initialised model):

    python examples/collator_only_training_loop.py --steps 30
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

from eam_ser.corpora import label_names, load_manifest, train_test_split_by_speakers
from eam_ser.mixup import EnergyAdaptiveMixupCollator


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    train, test = train_test_split_by_speakers(load_manifest(args.data), ["13"])
    labels = label_names(train)
    model = Wav2Vec2ForSequenceClassification(
        Wav2Vec2Config(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            conv_dim=(32,) * 7,
            feat_extract_norm="layer",
            num_labels=len(labels),
        )
    )
    collator = EnergyAdaptiveMixupCollator(len(labels), p=0.5, seed=0)
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(train, batch_size=8, shuffle=True, collate_fn=collator, generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    model.train()
    step = 0
    while step < args.steps:
        for batch in loader:
            logits = model(
                input_values=batch["input_values"], attention_mask=batch["attention_mask"]
            ).logits
            loss = torch.nn.functional.cross_entropy(logits, batch["soft_labels"])  # soft targets
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            step += 1
            if step % 10 == 0:
                print(f"step {step}: loss {loss.item():.3f}")
            if step == args.steps:
                break

    model.eval()
    correct = 0
    with torch.no_grad():
        for batch in DataLoader(test, batch_size=8, collate_fn=collator.as_eval()):  # no mixing
            logits = model(
                input_values=batch["input_values"], attention_mask=batch["attention_mask"]
            ).logits
            correct += int((logits.argmax(-1) == batch["labels"]).sum())
    print(f"held-out speaker 13: accuracy {correct / test.num_rows:.3f} over {test.num_rows} clips")


if __name__ == "__main__":
    main()
