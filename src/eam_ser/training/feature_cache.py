"""Encoder features computed once, for training a head on a frozen encoder.

When the encoder does not train (``freeze_encoder_steps=-1`` or ``trainable_encoder_layers=0``)
every epoch would run the same clips through the same encoder again. `EncoderFeatureCache` runs
the encoder over a dataset once (`FlamForSequenceClassification.encode`, eval mode, no
gradients) and keeps each clip's frames; `CachedFeatureCollator` pads them into
``encoder_hidden_states`` batches that `FlamForSequenceClassification.forward` takes instead of
audio, so only the head runs per step (unmixed, uncropped batches: ``eam.p = 0``, validation).

With EAM, a mixed clip is new audio and needs the encoder, but an unmixed clip of the same
batch is still its cached frames: `PartiallyCachedMixupCollator` draws and mixes exactly as the
EAM collator (same generator, same mixes and soft labels) and sends only the mixed rows through
the encoder, in the training step's `complete_on_device` hook. With p = 0.5 that is about half
the encoder work of mixing every batch through the encoder.

The cached frames are those of the encoder in eval mode: encoder dropout and SpecAugment-style
time masking (train-mode-only, and off for a frozen encoder in most recipes) are not applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset
from tqdm.auto import tqdm

from eam_ser.data.collator import AudioCollator, one_hot
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator

__all__ = [
    "CachedFeatureCollator",
    "EncoderFeatureCache",
    "PartiallyCachedMixupCollator",
    "encoder_is_frozen",
]

# Keys of the mixed rows' encoder inputs in a `PartiallyCachedMixupCollator` batch.
MIXED_ROWS_KEY = "mixed_rows"
MIXED_MASK_KEY = "mixed_attention_mask"
MIXED_INPUT_PREFIX = "mixed_"


def encoder_is_frozen(model: Any) -> bool:
    """True when no encoder parameter of `model` can train (now and later in the run)."""
    config = model.config
    if config.freeze_encoder_steps > 0:
        return False
    return not any(parameter.requires_grad for parameter in model.encoder.parameters())


class EncoderFeatureCache(TorchDataset):
    """The encoder's last hidden state of every clip of a dataset, computed once.

    Items are ``{"encoder_hidden_states": float32 (frames, hidden) array, "label": int}``, plus
    ``"input_values"``: the float32 (samples,) waveform at the extractor's rate with
    `keep_waveforms` (what `PartiallyCachedMixupCollator` mixes); ``cache["label"]`` is the
    label column (for class counts and balanced sampling).

    Args:
        model: a `FlamForSequenceClassification` (its encoder is run in eval mode).
        feature_extractor: the model's feature extractor.
        dataset: rows with ``audio`` (anything `load_audio` accepts) and ``label``.
        batch_size: clips per encoder batch (clips are batched by similar length).
        keep_waveforms: keep the decoded clips in the items (for mixing).
        description: the progress bar's label (None: no progress bar).
    """

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        dataset: Sequence[Mapping[str, Any]] | Any,
        batch_size: int = 16,
        *,
        keep_waveforms: bool = False,
        description: str | None = None,
    ) -> None:
        labels = [int(label) for label in dataset["label"]]
        collator = AudioCollator(feature_extractor, sampling_rate=feature_extractor.sampling_rate)
        waveforms = collator.load_waveforms([{"audio": clip} for clip in dataset["audio"]])
        order = np.argsort([waveform.shape[0] for waveform in waveforms], kind="stable")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        frames: list[np.ndarray | None] = [None] * len(waveforms)
        progress = tqdm(
            total=len(order), desc=description, unit="clip", disable=description is None
        )
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
                progress.update(len(rows))
        finally:
            progress.close()
            model.train(was_training)
        self.frames: list[np.ndarray] = frames  # type: ignore[assignment]
        self.labels = labels
        self.waveforms = waveforms if keep_waveforms else None
        self.column_names = ["encoder_hidden_states", "label"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | str) -> Any:
        if key == "label":
            return list(self.labels)
        if key == "encoder_hidden_states":
            return list(self.frames)
        item = {"encoder_hidden_states": self.frames[key], "label": self.labels[key]}
        if self.waveforms is not None:
            item["input_values"] = self.waveforms[key]
        return item


class CachedFeatureCollator:
    """Pad cached encoder frames into a batch for `FlamForSequenceClassification.forward`.

    Returns ``encoder_hidden_states`` (batch, frames, hidden) float32 zero-padded,
    ``attention_mask`` (batch, frames) int64 frame mask, ``labels`` (batch,) and one-hot
    ``soft_labels`` (batch, num_labels): the batch of an unmixed EAM collator, after the
    encoder.
    """

    def __init__(self, num_labels: int) -> None:
        self.num_labels = num_labels

    def as_eval(self) -> CachedFeatureCollator:
        """Never mixes: itself."""
        return self

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if len(features) == 0:
            raise ValueError("features: empty batch")
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
            "soft_labels": torch.from_numpy(one_hot(labels, self.num_labels)),
        }


class PartiallyCachedMixupCollator:
    """EAM for a frozen encoder: cached frames for the unmixed rows, the encoder for the mixed.

    Takes items of an `EncoderFeatureCache` built with ``keep_waveforms=True``. In training
    mode, `mixup.mix_waveforms` draws and mixes the batch's waveforms exactly as the EAM
    collator's own call would (same generator, same draws, same soft labels); the rows left
    unmixed take their cached frames, and only the mixed rows are featurized. The batch holds

    - ``encoder_hidden_states`` (batch, frames, hidden) float32: cached frames, zeros in the
      mixed rows until `complete_on_device` fills them;
    - ``attention_mask`` (batch, frames) int64 frame mask (a mixed clip keeps its length, so
      its frame count is that of its cached frames);
    - ``labels`` (batch,), ``soft_labels`` (batch, num_labels) float32 (the EAM soft labels);
    - when a row is mixed: ``mixed_rows`` (mixed,) int64 and the mixed rows' encoder input
      (``mixed_input_features`` or ``mixed_input_values``) with ``mixed_attention_mask``.

    `complete_on_device` (called by `MultiLossTrainer` in the training step, on the model's
    device) runs the frozen encoder on the mixed rows and writes their frames into
    ``encoder_hidden_states``. The result equals the EAM collator's batch run through the
    whole model within float rounding (the cached frames come from other padded batches),
    when the encoder computes the same in train and eval mode (no dropout, no SpecAugment).

    Args:
        mixup: the EAM collator of the run (its settings, generator and feature extractor);
            it must not crop (`max_train_seconds` None) nor mix on the device.
        model: the `FlamForSequenceClassification` whose frozen encoder made the cache.
    """

    def __init__(self, mixup: EnergyAdaptiveMixupCollator, model: Any) -> None:
        if mixup.max_train_samples is not None:
            raise ValueError(
                "PartiallyCachedMixupCollator: the cache holds whole clips, so the EAM collator "
                "must not crop (max_train_seconds=None)"
            )
        if mixup.mix_on_device:
            raise ValueError("PartiallyCachedMixupCollator: the EAM collator must mix on the host")
        self.mixup = mixup
        self.model = model
        self.cached = CachedFeatureCollator(mixup.num_labels)

    def as_eval(self) -> CachedFeatureCollator:
        """Evaluation batches are never mixed: the plain cached-feature collator."""
        return self.cached

    def state_dict(self) -> dict[str, Any]:
        """The EAM collator's random state (`EnergyAdaptiveMixupCollator.state_dict`)."""
        return self.mixup.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict`."""
        self.mixup.load_state_dict(state)

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate cache items (with waveforms) into a batch; see the class docstring."""
        if not self.mixup.training:
            return self.cached(features)
        buffer, lengths, _, soft_labels = self.mixup.mix_waveforms(features)
        batch = self.cached(features)
        batch["soft_labels"] = torch.from_numpy(soft_labels)
        rows = np.flatnonzero(self.mixup.last_applied)
        if rows.size:
            inputs = self.mixup.collate_padded(buffer[rows], lengths[rows])
            batch[MIXED_ROWS_KEY] = torch.from_numpy(rows.astype(np.int64))
            batch[MIXED_MASK_KEY] = inputs.pop("attention_mask")
            (name,) = inputs
            batch[MIXED_INPUT_PREFIX + name] = inputs[name]
        return batch

    def complete_on_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the frozen encoder on the mixed rows and put their frames into
        ``encoder_hidden_states``; a batch without mixed rows is returned as it is."""
        batch = dict(batch)
        rows = batch.pop(MIXED_ROWS_KEY, None)
        if rows is None:
            return batch
        mask = batch.pop(MIXED_MASK_KEY)
        name = self.model.config.encoder_input_name
        hidden, frame_mask = self.model.encode(
            **{name: batch.pop(MIXED_INPUT_PREFIX + name)}, attention_mask=mask
        )
        states = batch["encoder_hidden_states"].clone()
        frames = min(hidden.shape[1], states.shape[1])
        fresh = hidden[:, :frames].to(states.dtype) * frame_mask[:, :frames, None]
        states[rows, :frames] = fresh
        batch["encoder_hidden_states"] = states
        return batch
