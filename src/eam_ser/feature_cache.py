"""Encoder features computed once, for training a head on a frozen encoder without mixing.

When the encoder does not train (``freeze_encoder_steps=-1`` or ``trainable_encoder_layers=0``)
and the training batches are not mixed or cropped (``eam.p = 0``, e.g. a no-mixup baseline,
or validation batches), every epoch would run the same clips through the same encoder again.
`EncoderFeatureCache` runs the encoder over a dataset once (`FlamForSequenceClassification.
encode`, eval mode, no gradients) and keeps each clip's frames; `CachedFeatureCollator` pads
them into ``encoder_hidden_states`` batches that `FlamForSequenceClassification.forward` takes
instead of audio, so only the head runs per step.

The cached frames are those of the encoder in eval mode: encoder dropout and SpecAugment-style
time masking (train-mode-only, and off for a frozen encoder in most recipes) are not applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from eam_ser.collator import AudioCollator
from eam_ser.mixup import one_hot

__all__ = ["CachedFeatureCollator", "EncoderFeatureCache", "encoder_is_frozen"]


def encoder_is_frozen(model: Any) -> bool:
    """True when no encoder parameter of `model` can train (now and later in the run)."""
    config = model.config
    if config.freeze_encoder_steps > 0:
        return False
    return not any(parameter.requires_grad for parameter in model.encoder.parameters())


class EncoderFeatureCache(TorchDataset):
    """The encoder's last hidden state of every clip of a dataset, computed once.

    Items are ``{"encoder_hidden_states": float32 (frames, hidden) array, "label": int}``;
    ``cache["label"]`` is the label column (for class counts and balanced sampling).

    Args:
        model: a `FlamForSequenceClassification` (its encoder is run in eval mode).
        feature_extractor: the model's feature extractor.
        dataset: rows with ``audio`` (anything `load_audio` accepts) and ``label``.
        batch_size: clips per encoder batch (clips are batched by similar length).
    """

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        dataset: Sequence[Mapping[str, Any]] | Any,
        batch_size: int = 16,
    ) -> None:
        labels = [int(label) for label in dataset["label"]]
        collator = AudioCollator(feature_extractor, sampling_rate=feature_extractor.sampling_rate)
        waveforms = collator.load_waveforms([{"audio": clip} for clip in dataset["audio"]])
        order = np.argsort([waveform.shape[0] for waveform in waveforms], kind="stable")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        frames: list[np.ndarray | None] = [None] * len(waveforms)
        try:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = collator.collate_waveforms([waveforms[row] for row in rows])
                name = model.config.encoder_input_name
                hidden, mask = model.encode(
                    **{name: batch[name].to(device)},
                    attention_mask=batch["attention_mask"].to(device),
                )
                lengths = mask.sum(dim=-1).tolist()
                for row, states, length in zip(
                    rows, hidden.float().cpu().numpy(), lengths, strict=True
                ):
                    frames[row] = states[: int(length)]
        finally:
            model.train(was_training)
        self.frames: list[np.ndarray] = frames  # type: ignore[assignment]
        self.labels = labels
        self.column_names = ["encoder_hidden_states", "label"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | str) -> Any:
        if key == "label":
            return list(self.labels)
        if key == "encoder_hidden_states":
            return list(self.frames)
        return {"encoder_hidden_states": self.frames[key], "label": self.labels[key]}


class CachedFeatureCollator:
    """Pad cached encoder frames into a batch for `FlamForSequenceClassification.forward`.

    Returns ``encoder_hidden_states`` (batch, frames, hidden) float32 zero-padded,
    ``attention_mask`` (batch, frames) int64 frame mask, ``labels`` (batch,) and one-hot
    ``soft_targets`` (batch, num_labels): the batch of an unmixed EAM collator, after the
    encoder.
    """

    def __init__(self, num_labels: int) -> None:
        self.num_labels = num_labels

    def as_eval(self) -> CachedFeatureCollator:
        """Never mixes: itself."""
        return self

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        states = [np.asarray(feature["encoder_hidden_states"]) for feature in features]
        labels = np.array([int(feature["label"]) for feature in features], dtype=np.int64)
        lengths = np.array([state.shape[0] for state in states])
        hidden = np.zeros((len(states), int(lengths.max()), states[0].shape[1]), np.float32)
        for row, state in enumerate(states):
            hidden[row, : state.shape[0]] = state
        return {
            "encoder_hidden_states": torch.from_numpy(hidden),
            "attention_mask": torch.from_numpy(
                np.arange(hidden.shape[1]) < lengths[:, None]
            ).long(),
            "labels": torch.from_numpy(labels),
            "soft_targets": torch.from_numpy(one_hot(labels, self.num_labels)),
        }
