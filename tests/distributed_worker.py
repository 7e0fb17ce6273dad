"""One process of a 2-process CPU run, launched by `tests/test_distributed.py` with
`torchrun --nproc_per_node 2` or `accelerate launch --multi_gpu --num_processes 2` (gloo).

Trains a tiny FLAM with the EAM collator and `MultiLossTrainer` under default
`TrainingArguments` (DDP, `find_unused_parameters` as Trainer chooses it), checkpointing every
2 steps, then writes `report_rank{rank}.pt` to the output folder: the final parameters, the
mixes this rank drew, the log history and, from a fixed batch of 8 embeddings split 4 + 4, this
rank's cross-process supervised contrastive loss and gradient.

Usage: distributed_worker.py OUTPUT_DIR MAX_STEPS [CHECKPOINT_TO_RESUME]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from datasets import Dataset
from transformers import set_seed

from conftest import tiny_wavlm_config
from eam_ser.mixup import EnergyAdaptiveMixupCollator
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.losses import cross_process_supervised_contrastive_loss
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from eam_ser.training.processes import end_process_group, process_state
from eam_ser.training.trainer import MultiLossTrainer, MultiLossTrainingArguments

NUM_LABELS = 3
SUPCON_EMBEDDINGS = torch.linspace(-1.0, 1.0, 8 * 5).reshape(8, 5).sin()
SUPCON_LABELS = torch.tensor([0, 1, 0, 2, 1, 1, 2, 0])


def tone_dataset(num_samples: int) -> Dataset:
    rng = np.random.default_rng(0)
    t = np.arange(480) / 16000
    audio, labels = [], []
    for index in range(num_samples):
        label = index % NUM_LABELS
        waveform = rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * (300.0, 1500.0, 4000.0)[label] * t)
        audio.append((waveform + rng.normal(0.0, 0.01, t.shape)).astype(np.float32))
        labels.append(label)
    return Dataset.from_dict({"audio": audio, "label": labels})


class RecordingCollator(EnergyAdaptiveMixupCollator):
    """The EAM collator, keeping the segment SNR of every sample it mixed."""

    drawn_snr_db: list[float]

    def __call__(self, features):
        batch = super().__call__(features)
        if self.training:
            self.drawn_snr_db.extend(self.last_parameters.snr_db[self.last_applied].tolist())
        return batch


def main() -> None:
    output_dir, max_steps = Path(sys.argv[1]), int(sys.argv[2])
    resume = sys.argv[3] if len(sys.argv) > 3 else None
    args = MultiLossTrainingArguments(
        output_dir=str(output_dir),
        # On a machine without GPUs this makes the launched processes one gloo DDP group.
        use_cpu=True,
        max_steps=max_steps,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        center_learning_rate=0.05,
        warmup_steps=0,
        save_strategy="steps",
        save_steps=2,
        logging_steps=1,
        seed=0,
        data_seed=0,
        report_to=[],
        disable_tqdm=True,
    )
    set_seed(0)
    encoder_config = tiny_wavlm_config(
        hidden_size=16,
        num_hidden_layers=1,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=8,
    )
    model = FlamForSequenceClassification(
        FlamConfig(
            encoder_config=encoder_config,
            num_labels=NUM_LABELS,
            embedding_size=8,
            flam_num_attention_heads=2,
            flam_dropout=0.0,
            final_dropout=0.0,
            freeze_feature_encoder=False,
        )
    )
    collator = RecordingCollator(NUM_LABELS, p=1.0, seed=0, min_length_samples=80)
    collator.drawn_snr_db = []
    trainer = MultiLossTrainer(
        model=model, args=args, train_dataset=tone_dataset(32), data_collator=collator
    )
    trainer.train(resume_from_checkpoint=resume)

    rank = dist.get_rank()
    rows = slice(4 * rank, 4 * rank + 4)
    embeddings = SUPCON_EMBEDDINGS[rows].clone().requires_grad_(True)
    supcon = cross_process_supervised_contrastive_loss(embeddings, SUPCON_LABELS[rows], 0.1)
    supcon.backward()
    torch.save(
        {
            "world_size": dist.get_world_size(),
            "parameters": {name: p.detach().clone() for name, p in model.named_parameters()},
            "drawn_snr_db": collator.drawn_snr_db,
            "log_history": trainer.state.log_history,
            "supcon": supcon.detach(),
            "supcon_gradient": embeddings.grad,
        },
        output_dir / f"report_rank{rank}.pt",
    )
    end_process_group(process_state())  # as eam-ser train ends


if __name__ == "__main__":
    main()
