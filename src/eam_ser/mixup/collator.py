"""`EnergyAdaptiveMixupCollator`: the Trainer / DataLoader collator that mixes within a batch.

Composed, not inherited: it holds an `eam_ser.data.collator.AudioCollator` (loading, labels,
padding, normalization and features: the one path from clips to model inputs), one
`EnergyAdaptiveMixupSettings` and a `ProcessStream`, and adds the mixing step between loading
and featurizing. The math is `eam_ser.mixup.core`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from eam_ser.data.audio import random_crop
from eam_ser.data.collator import AUDIO_OPTIONS, AudioCollator, check_num_labels, pad_waveforms
from eam_ser.mixup.core import (
    MixParameters,
    draw_batch_parameters,
    mix_batch,
    mix_soft_labels,
    mix_tensors,
    partner_label_weight,
)
from eam_ser.mixup.settings import (
    Delegated,
    EnergyAdaptiveMixupSettings,
    resolve_settings,
    with_setting_attributes,
)
from eam_ser.mixup.streams import ProcessStream
from eam_ser.models.flam.arguments import check_flag, check_real
from eam_ser.models.flam.configuration_flam import is_whisper
from eam_ser.models.flam.featurize import (
    is_log_mel_extractor,
    mel_frame_mask,
    normalize_tensors,
    whisper_log_mel,
)

__all__ = ["DEVICE_MIX_KEYS", "EnergyAdaptiveMixupCollator", "complete_device_batch"]

DEVICE_MIX_KEYS = {
    "mix_partner_index": "partner_index",
    "mix_length": "mix_length",
    "mix_start": "start",
    "mix_partner_start": "partner_start",
    "mix_snr_db": "snr_db",
}
"""Batch key -> `MixParameters` field of a `mix_on_device` draw."""


@with_setting_attributes
class EnergyAdaptiveMixupCollator:
    """Trainer / DataLoader collator: an `eam_ser.data.collator.AudioCollator` with the EAM mixing
    step (load, crop, mix within the batch, then pad and normalize or featurize).

    Each feature is a dict with the audio under `audio_column` (anything `load_audio`
    accepts: array, list of floats, path, bytes, datasets audio value) or, if that key is
    missing, an already-loaded waveform under ``input_values``; and an int (or, with
    `label2id`, str) label under `label_column` (or ``labels``).

    In training mode each sample is mixed with probability `p` with a partner from the same
    batch (a random cyclic derangement, so never itself; a batch of one is never mixed). The
    mixing is vectorized over the batch on the padded (batch, time) array.

    Returns a dict of torch tensors:

    - ``input_values`` (batch, time) float32: the (mixed) waveforms padded with zeros, and with
      ``normalize=True`` zero-mean unit-variance over each clip's real samples, as
      ``Wav2Vec2FeatureExtractor(do_normalize=True)`` (eps 1e-7; padding stays 0). If a
      `feature_extractor` is given, the waveforms are mixed first and then passed to it with
      ``padding="longest"``; its main input is returned instead, e.g. ``input_features``
      (batch, 80, frames) for a ``WhisperFeatureExtractor``, computed only up to the longest
      clip of the batch (not 30 s), and `normalize` is left to the extractor.
    - ``attention_mask`` (batch, time) int64: 1 for real samples (or real mel frames).
    - ``labels`` (batch,) int64: the hard label ``y_i`` of the first utterance (see
      `eam_ser.mixup.core`: it is the argmax of the soft label when ``max_mix_fraction <=
      0.5``).
    - ``soft_labels`` (batch, num_labels) float32, the soft labels: one-hot for unmixed
      samples, else ``(1 - w) onehot(y_i) + w onehot(y_j)``.

    Mode: ``training`` (default True), ``train()`` / ``eval()`` (return self) and
    ``as_eval()`` (a copy that never mixes). In eval mode or with ``p=0`` this is a plain
    padding collator (its `audio` collator's batch, plus one-hot ``soft_labels``). After each
    call, ``last_parameters`` and ``last_applied`` hold the draw and which samples were really
    mixed (False for silent or too-short ones).

    Reproducibility: every process rank and DataLoader worker draws its own repeatable stream
    of the one `seed` (`eam_ser.mixup.streams.stream_generator`), so two GPUs or two workers
    never draw the same mixes. `state_dict` / `load_state_dict` save and restore the
    generator, so a run resumed from a checkpoint draws the same mixes as the uninterrupted
    one (``MultiLossTrainer`` does this with every checkpoint; exact only with
    ``dataloader_num_workers=0``, since workers draw from their own re-seeded copies).
    Copies made by `as_eval` get their own generator, so evaluating never moves the
    training stream.

    Args:
        num_labels: number of classes (width of ``soft_labels``).
        settings: the EAM settings (None: the defaults of `EnergyAdaptiveMixupSettings`);
            each field is also an attribute (``collator.p``).
        feature_extractor: optional transformers feature extractor to call after mixing.
        seed: seed of the generator (None: fresh entropy).
        mix_on_device: in training mode, only pad and draw here; the batch then holds the raw
            padded ``input_values``, the sample ``attention_mask``, ``labels`` and the draw
            (`DEVICE_MIX_KEYS`), and `complete_on_device` mixes, builds
            ``soft_labels`` and normalizes or computes the log-mel features on the tensors'
            device (a GPU) inside the training step; `MultiLossTrainer` calls it. The same draw
            gives the same batch as mixing here, within float rounding.
        max_train_seconds: in training mode, cut clips longer than this to a random window
            of this length (from the collator's generator) before mixing; None keeps whole
            clips. Evaluation batches are never cut.
        **options: the options of the `AudioCollator` that loads and pads (`AUDIO_OPTIONS`:
            ``sampling_rate``, rate in Hz everything is loaded / resampled to; ``normalize``,
            zero-mean unit-variance per clip, ignored with a `feature_extractor`;
            ``audio_column``, ``label_column``, the keys of the audio and the label in each
            feature; ``label2id``, mapping for str labels) and fields of `settings` to replace
            (``p=0.3``, ``min_snr_db=0.0``, ...).

    Attributes:
        audio: the `AudioCollator` that loads, pads and featurizes; its settings
            (`num_labels`, `feature_extractor`, `sampling_rate`, ...) read as this collator's.
        settings: the `EnergyAdaptiveMixupSettings`.
        stream: the `ProcessStream` (`seed`, `generator`) every random choice comes from.
    """

    num_labels = Delegated("audio")
    feature_extractor = Delegated("audio")
    sampling_rate = Delegated("audio")
    normalize = Delegated("audio")
    audio_column = Delegated("audio")
    label_column = Delegated("audio")
    label2id = Delegated("audio")
    load_waveforms = Delegated("audio")
    parse_labels = Delegated("audio")
    collate_padded = Delegated("audio")
    seed = Delegated("stream")
    generator = Delegated("stream")
    state_dict = Delegated("stream")
    load_state_dict = Delegated("stream")

    def __init__(
        self,
        num_labels: int,
        *,
        settings: EnergyAdaptiveMixupSettings | None = None,
        feature_extractor: Any = None,
        seed: int | None = None,
        mix_on_device: bool = False,
        max_train_seconds: float | None = None,
        **options: Any,
    ) -> None:
        audio_options = {name: options.pop(name) for name in AUDIO_OPTIONS if name in options}
        self.settings = resolve_settings(settings, **options)
        self.audio = AudioCollator(
            feature_extractor, num_labels=check_num_labels(num_labels), **audio_options
        )
        if mix_on_device and not (
            feature_extractor is None
            or is_log_mel_extractor(feature_extractor)
            or feature_extractor.model_input_names[0] == "input_values"
        ):
            raise ValueError(
                f"mix_on_device supports waveform input (optionally normalized) and Whisper-style "
                f"log-mel features, not a {type(feature_extractor).__name__}"
            )
        self.mix_on_device = check_flag(mix_on_device, "mix_on_device")
        # At least one sample at the collator's rate.
        max_train_seconds = check_real(
            max_train_seconds,
            "max_train_seconds",
            minimum=1 / self.sampling_rate,
            allow_none=True,
            unit="s",
        )
        self.max_train_samples = (
            None if max_train_seconds is None else round(max_train_seconds * self.sampling_rate)
        )
        self.stream = ProcessStream(seed)
        self.training = True
        self.last_parameters: MixParameters | None = None
        self.last_applied: np.ndarray | None = None

    @classmethod
    def for_model(
        cls, model: Any, *, feature_extractor: Any = None, **settings: Any
    ) -> EnergyAdaptiveMixupCollator:
        """The collator a FLAM model takes: its classes, label names and encoder input.

        Args:
            model: a `FlamForSequenceClassification` (or another model with ``config.label2id``
                and an encoder config), or the folder / Hub id of a saved one.
            feature_extractor: the encoder's feature extractor; None takes the one saved in the
                model's folder or, for a model object, in its encoder's checkpoint
                (``config.encoder_config.name_or_path``, e.g. ``"openai/whisper-base"``). A
                wav2vec-style encoder built from a config alone gets none (the collator
                normalizes each clip itself); a Whisper one must be given one.
            **settings: any other argument of the constructor (``settings``, ``p``, ``seed``,
                ...).

        Raises:
            ValueError: naming the fix, when a Whisper model's log-mel extractor cannot be
                found.
        """
        from transformers import AutoConfig, AutoFeatureExtractor

        named = isinstance(model, (str, os.PathLike))
        config = AutoConfig.from_pretrained(model) if named else model.config
        encoder_config = getattr(config, "encoder_config", config)
        source = model if named else getattr(encoder_config, "name_or_path", "") or None
        if feature_extractor is None and source is not None:
            try:
                feature_extractor = AutoFeatureExtractor.from_pretrained(source)
            except OSError:
                feature_extractor = None
        if feature_extractor is None and is_whisper(encoder_config):
            raise ValueError(
                "EnergyAdaptiveMixupCollator.for_model: this model's whisper encoder takes "
                "log-mel input_features, and no feature extractor was found beside it; pass "
                "feature_extractor=WhisperFeatureExtractor.from_pretrained(<the encoder>)"
            )
        if feature_extractor is not None:
            feature_extractor.return_attention_mask = True
            settings.setdefault("sampling_rate", feature_extractor.sampling_rate)
        label2id = {str(name): int(index) for name, index in config.label2id.items()}
        return cls(
            len(label2id), feature_extractor=feature_extractor, label2id=label2id, **settings
        )

    def train(self, mode: bool = True) -> EnergyAdaptiveMixupCollator:
        """Switch mixing on (or off with ``mode=False``); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> EnergyAdaptiveMixupCollator:
        """Switch mixing off: a plain padding collator; returns self."""
        return self.train(False)

    def as_eval(self) -> EnergyAdaptiveMixupCollator:
        """A copy in eval mode (never mixes); this collator keeps its mode and its generator."""
        clone = copy.copy(self)
        clone.training = False
        # Eval batches still draw (unused) parameters; a stream of its own keeps them from
        # advancing the training stream, which a checkpoint must be able to reproduce.
        clone.stream = copy.deepcopy(self.stream)
        return clone

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate a list of features into a batch; see the class docstring for the keys."""
        if self.mix_on_device and self.training:
            waveforms, labels = self._cropped_waveforms(features)
            return self._padded_draw(waveforms, labels)
        buffer, lengths, labels, soft_labels = self.mix_waveforms(features)
        batch = {
            "labels": torch.from_numpy(labels),
            "soft_labels": torch.from_numpy(soft_labels),
        }
        batch.update(self.audio.collate_padded(buffer, lengths))
        return batch

    def mix_waveforms(
        self, features: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The waveform half of a call, before padding to model inputs: load, crop and mix.

        Draws exactly what a call draws (`last_parameters` and `last_applied` are set), so
        ``collate_padded(buffer, lengths)`` of the result is the call's batch.

        Returns:
            ``(buffer, lengths, labels, soft_labels)``: the (mixed) clips ``buffer[i,
            :lengths[i]]`` in a float32 (batch, >= longest) array, lengths (batch,) int64 in
            samples, hard labels (batch,) int64 and soft labels (batch, num_labels) float32.
        """
        waveforms, labels = self._cropped_waveforms(features)
        mixed = mix_batch(
            waveforms,
            labels,
            self.stream.generator,
            self.settings,
            self.num_labels,
            p=None if self.training else 0.0,
        )
        self.last_parameters, self.last_applied = mixed.parameters, mixed.applied
        return mixed.buffer, mixed.lengths, labels, mixed.soft_labels

    def _cropped_waveforms(
        self, features: Sequence[Mapping[str, Any]]
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Loaded clips, cut to `max_train_seconds` in training mode, and their labels."""
        if len(features) == 0:
            raise ValueError("features: empty batch")
        waveforms = self.audio.load_waveforms(features)
        labels = self.audio.parse_labels(features, required=True)
        if self.training and self.max_train_samples is not None:
            generator = self.stream.generator
            waveforms = [random_crop(w, self.max_train_samples, generator) for w in waveforms]
        return waveforms, labels

    def _padded_draw(
        self, waveforms: Sequence[np.ndarray], labels: np.ndarray
    ) -> dict[str, torch.Tensor]:
        """The host half of `mix_on_device`: the padded clips and the draw, nothing mixed."""
        buffer, lengths = pad_waveforms(waveforms)
        parameters = draw_batch_parameters(lengths, self.stream.generator, self.settings)
        self.last_parameters, self.last_applied = parameters, None
        batch = {
            "input_values": torch.from_numpy(buffer),
            "attention_mask": torch.from_numpy(
                np.arange(buffer.shape[1]) < lengths[:, None]
            ).long(),
            "labels": torch.from_numpy(labels),
        }
        for key, name in DEVICE_MIX_KEYS.items():
            batch[key] = torch.from_numpy(np.asarray(getattr(parameters, name)))
        return batch

    def complete_on_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The device half of `mix_on_device`: mix, soft labels and features on the batch's
        device. Batches without a draw (evaluation, `mix_on_device=False`) are returned as
        they are.

        Args:
            batch: the collator's output, moved to the model's device.

        Returns:
            the model inputs: ``input_values`` (normalized when `normalize`) or
            ``input_features`` (log-mel), ``attention_mask``, ``labels``, ``soft_labels``.
        """
        if "mix_length" not in batch:
            return dict(batch)
        return complete_device_batch(
            batch, self.settings.label_mode, self.num_labels, self.feature_extractor, self.normalize
        )


def complete_device_batch(
    batch: Mapping[str, torch.Tensor],
    label_mode: str,
    num_labels: int,
    feature_extractor: Any,
    normalize: bool,
) -> dict[str, torch.Tensor]:
    """Mix a `mix_on_device` batch (the padded clips and the draw under `DEVICE_MIX_KEYS`) on its
    device, and build its soft labels (`label_mode`, `num_labels` classes) and model inputs:
    log-mel features for a Whisper-style `feature_extractor`, else the waveforms, normalized
    when `normalize` (or the extractor's ``do_normalize``)."""
    batch = dict(batch)
    waveforms = batch.pop("input_values")
    draw = {name: batch.pop(key) for key, name in DEVICE_MIX_KEYS.items()}
    mixed, applied = mix_tensors(
        waveforms,
        draw["partner_index"],
        draw["mix_length"],
        draw["start"],
        draw["partner_start"],
        draw["snr_db"],
    )
    sample_mask = batch.pop("attention_mask")
    lengths = sample_mask.sum(dim=-1)
    weight = partner_label_weight(draw["mix_length"], lengths, draw["snr_db"], label_mode)
    weight = torch.where(applied, weight, 0.0)
    labels = batch["labels"]
    partner_labels = labels[draw["partner_index"]]
    batch["soft_labels"] = mix_soft_labels(labels, partner_labels, weight, num_labels)
    if feature_extractor is not None and is_log_mel_extractor(feature_extractor):
        features = whisper_log_mel(mixed, feature_extractor)
        batch["input_features"] = features
        frames = features.shape[-1]
        batch["attention_mask"] = mel_frame_mask(lengths, feature_extractor.hop_length)[:, :frames]
        return batch
    if feature_extractor is not None:
        normalize = bool(feature_extractor.do_normalize)
    batch["input_values"] = normalize_tensors(mixed, sample_mask) if normalize else mixed
    batch["attention_mask"] = sample_mask
    return batch
