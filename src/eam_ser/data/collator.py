"""`AudioCollator`: clips in, model inputs out (load, resample, pad, normalize or featurize).

The one place where audio becomes a batch. Training with EAM uses it through
`eam_ser.mixup.EnergyAdaptiveMixupCollator` (which holds one and adds the mixing step); evaluation,
`eam-ser predict`, the ``speech-emotion-recognition`` pipeline and the feature cache use it as
it is. A clip's row of a padded batch gives the model the same input as the clip alone
(the mask covers exactly its samples, or the ``samples // hop`` mel frames it has alone), so
results do not depend on what a clip is batched with.

The collator protocol, declared once here: every collator is a callable from a list of
examples to a batch dict; what a trainer may ask of it beyond that is three structural types
(`typing.Protocol`, so a collator implements them without importing this module):
`EvaluationSwitch` (``as_eval()``, the same collator without mixing), `CompletesOnDevice`
(``complete_on_device(batch)``, work left for the training step on the model's device) and
`SeededCollator` (``state_dict()`` / ``load_state_dict()``, the random state a checkpoint
keeps).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from eam_ser.data.audio import check_sampling_rate, load_audio
from eam_ser.data.kernels import normalize_rows
from eam_ser.models.flam.arguments import check_flag, check_integer
from eam_ser.models.flam.featurize import (
    SAMPLING_RATE,
    check_min_length,
    is_log_mel_extractor,
    mel_frame_mask,
    stft_min_input_samples,
)

__all__ = [
    "AUDIO_OPTIONS",
    "AudioCollator",
    "CompletesOnDevice",
    "EvaluationSwitch",
    "SeededCollator",
    "check_num_labels",
    "is_log_mel_extractor",
    "mel_frame_mask",
    "one_hot",
    "pad_waveforms",
    "parse_label",
]


@runtime_checkable
class EvaluationSwitch(Protocol):
    """A collator that mixes training batches and gives a copy of itself that does not, for
    evaluation (`MultiLossTrainer` builds its evaluation dataloaders with it)."""

    def as_eval(self) -> Any:
        """The same collator (shared padding and featurizing) without mixing."""
        ...


@runtime_checkable
class CompletesOnDevice(Protocol):
    """A collator that leaves part of its work to the training step, where the batch is on the
    model's device (`EnergyAdaptiveMixupCollator(mix_on_device=True)` mixes and featurizes on
    the GPU). `MultiLossTrainer.compute_loss` calls `complete_on_device` on every batch before
    the model sees it; a batch with nothing left to do must come back unchanged."""

    def complete_on_device(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model inputs (`labels` included) of `batch`, already on the model's device."""
        ...


@runtime_checkable
class SeededCollator(Protocol):
    """A collator with a random state that a checkpoint saves and a resume restores
    (`eam_ser.training.checkpoints.CollatorStateCheckpoint`)."""

    def state_dict(self) -> dict[str, Any]:
        """The random state of the next batch."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from `state`."""
        ...


def parse_label(
    value: Any, where: str, num_labels: int | None, label2id: Mapping[str, int] | None
) -> int:
    """Class index of a label given as int, str (through `label2id`) or a whole-number float
    (a table column with a missing value reads as floats).

    Raises:
        ValueError: naming `where`, for an unknown str, a bool, a non-integer value or an index
            outside ``[0, num_labels)``.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: label must be an int or str, got {value!r} (a bool)")
    if isinstance(value, str):
        if label2id is None or value not in label2id:
            known = sorted(label2id) if label2id else "none (label2id not given)"
            raise ValueError(f"{where}: unknown label {value!r}; known labels: {known}")
        index = label2id[value]
    else:
        try:
            index = int(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: label must be an int or str, got {value!r}") from error
        if index != value:
            raise ValueError(f"{where}: label must be an int or str, got {value!r}")
    if num_labels is not None and not 0 <= index < num_labels:
        raise ValueError(f"{where}: label {index} is outside [0, {num_labels})")
    return index


def one_hot(labels: Any, num_labels: int) -> np.ndarray:
    """One-hot float32 targets of shape (batch, num_labels) for int labels of shape (batch,)."""
    labels = np.asarray(labels, dtype=np.int64)
    targets = np.zeros((labels.shape[0], num_labels), dtype=np.float32)
    targets[np.arange(labels.shape[0]), labels] = 1.0
    return targets


def check_num_labels(num_labels: Any) -> int:
    """`num_labels` as an int.

    Raises:
        ValueError: unless it is an integer >= 1 (not a bool, not a float), naming it.
    """
    return check_integer(num_labels, "num_labels", minimum=1)


def pad_waveforms(waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad float32 (samples,) clips: the one padding step of every collator.

    Returns:
        ``(buffer, lengths)``: (batch, longest) float32, clip ``i`` in ``buffer[i, :lengths[i]]``
        and zeros after it; (batch,) int64 lengths in samples.
    """
    lengths = np.fromiter((w.shape[0] for w in waveforms), dtype=np.int64, count=len(waveforms))
    buffer = np.zeros((len(waveforms), int(lengths.max())), np.float32)
    for row, waveform in enumerate(waveforms):
        buffer[row, : waveform.shape[0]] = waveform
    return buffer, lengths


class AudioCollator:
    """Trainer / DataLoader collator and inference batcher for speech clips.

    Each feature is a dict with the audio under `audio_column` (anything `load_audio` accepts:
    array, list of floats, path, bytes, datasets audio value) or, if that key is missing, an
    already-loaded waveform under ``input_values``; and optionally a label (int, or str with
    `label2id`) under `label_column` (or ``labels``). Audio at another rate is resampled to
    `sampling_rate` (soxr) when it carries its rate (files, datasets audio values).

    Returns a dict of torch tensors:

    - ``input_values`` (batch, time) float32: the waveforms padded with zeros and, with
      ``normalize=True``, zero-mean unit-variance over each clip's real samples (eps 1e-7,
      padding stays 0); or, with a `feature_extractor`, its main input, e.g. Whisper's
      ``input_features`` (batch, mel_bins, frames) computed up to the longest clip (not 30 s);
    - ``attention_mask`` (batch, time or frames) int64: 1 for real samples / mel frames;
    - ``labels`` (batch,) int64 and ``soft_labels`` (batch, num_labels) one-hot, when the
      features carry labels (all of them, or none) and `num_labels` is given for the latter.

    Args:
        feature_extractor: a transformers feature extractor to featurize with (Whisper log-mel,
            or a `Wav2Vec2FeatureExtractor`); None pads waveforms.
        sampling_rate: rate in Hz everything is loaded / resampled to.
        normalize: per-clip normalization of waveforms (ignored with a `feature_extractor`).
        audio_column: key of the audio in each feature.
        label_column: key of the label in each feature.
        label2id: mapping for str labels.
        num_labels: number of classes: checks labels and sizes ``soft_labels``.

    Raises:
        ValueError: an argument of the wrong type or range, naming it; a `feature_extractor`
            made for another rate than `sampling_rate`.
    """

    def __init__(
        self,
        feature_extractor: Any = None,
        *,
        sampling_rate: int = SAMPLING_RATE,
        normalize: bool = True,
        audio_column: str = "audio",
        label_column: str = "label",
        label2id: Mapping[str, int] | None = None,
        num_labels: int | None = None,
    ) -> None:
        self.feature_extractor = feature_extractor
        self.sampling_rate = check_sampling_rate(sampling_rate)
        extractor_rate = getattr(feature_extractor, "sampling_rate", None)
        if extractor_rate is not None and extractor_rate != self.sampling_rate:
            raise ValueError(
                f"sampling_rate: {self.sampling_rate} Hz, but the feature extractor "
                f"({type(feature_extractor).__name__}) takes {extractor_rate} Hz audio; pass "
                f"sampling_rate={extractor_rate} (clips are resampled to it) or an extractor "
                f"made for {self.sampling_rate} Hz"
            )
        self.normalize = check_flag(normalize, "normalize")
        for name, column in (("audio_column", audio_column), ("label_column", label_column)):
            if not isinstance(column, str) or not column:
                raise ValueError(f"{name} must be a column name (a non-empty str), got {column!r}")
        self.audio_column = audio_column
        self.label_column = label_column
        self.label2id = dict(label2id) if label2id is not None else None
        self.num_labels = None if num_labels is None else check_num_labels(num_labels)

    def as_eval(self) -> AudioCollator:
        """This collator never mixes: itself (the interface of the training collators)."""
        return self

    # -- stages ------------------------------------------------------------------------------

    def load_waveforms(self, features: Sequence[Mapping[str, Any]]) -> list[np.ndarray]:
        """Each feature's audio as float32 (samples,) at `sampling_rate`.

        Raises:
            ValueError / TypeError: naming ``features[i]``, for an empty batch, a feature that
                is not a dict or has no audio, or audio `load_audio` refuses.
        """
        if len(features) == 0:
            raise ValueError("features: empty batch")
        waveforms = []
        for index, feature in enumerate(features):
            if not isinstance(feature, Mapping):
                raise TypeError(f"features[{index}]: expected a dict, got {type(feature).__name__}")
            key = self.audio_column if self.audio_column in feature else "input_values"
            if key not in feature:
                raise ValueError(
                    f"features[{index}]: no audio under {self.audio_column!r} or 'input_values'"
                )
            waveforms.append(
                load_audio(feature[key], self.sampling_rate, name=f"features[{index}][{key!r}]")
            )
        return waveforms

    def parse_labels(
        self, features: Sequence[Mapping[str, Any]], *, required: bool = False
    ) -> np.ndarray | None:
        """(batch,) int64 class indices, or None when no feature has a label (and not
        `required`).

        Raises:
            ValueError: naming ``features[i]``, when some features have a label and others do
                not, or a label is invalid (see `parse_label`).
        """
        keys = [
            self.label_column if self.label_column in feature else "labels" for feature in features
        ]
        present = [key in feature for key, feature in zip(keys, features, strict=True)]
        if not any(present) and not required:
            return None
        if not all(present):
            index = present.index(False)
            raise ValueError(f"features[{index}]: no label under {self.label_column!r} or 'labels'")
        return np.array(
            [
                parse_label(
                    feature[key], f"features[{index}][{key!r}]", self.num_labels, self.label2id
                )
                for index, (key, feature) in enumerate(zip(keys, features, strict=True))
            ],
            dtype=np.int64,
        )

    def collate_padded(self, buffer: np.ndarray, lengths: np.ndarray) -> dict[str, torch.Tensor]:
        """Model inputs of clips ``buffer[i, :lengths[i]]`` (buffer (batch, >= longest) float32,
        zero beyond each clip): normalized waveforms or features, and the attention mask."""
        if self.feature_extractor is not None:
            return self._featurize(buffer, lengths)
        time = int(lengths.max())
        valid = np.arange(time) < lengths[:, None]
        padded = buffer[:, :time]
        if self.normalize:
            input_values = normalize_rows(padded, lengths)
        else:
            input_values = np.ascontiguousarray(padded)
        return {
            "input_values": torch.from_numpy(input_values),
            "attention_mask": torch.from_numpy(valid).long(),
        }

    def collate_waveforms(self, waveforms: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
        """Pad already-loaded float32 waveforms and `collate_padded` them."""
        return self.collate_padded(*pad_waveforms(waveforms))

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Collate a list of features into a batch; see the class docstring for the keys."""
        batch = self.collate_waveforms(self.load_waveforms(features))
        labels = self.parse_labels(features)
        if labels is not None:
            batch["labels"] = torch.from_numpy(labels)
            if self.num_labels is not None:
                batch["soft_labels"] = torch.from_numpy(one_hot(labels, self.num_labels))
        return batch

    def _featurize(self, buffer: np.ndarray, lengths: np.ndarray) -> dict[str, torch.Tensor]:
        extractor = self.feature_extractor
        input_name = extractor.model_input_names[0]
        n_fft = getattr(extractor, "n_fft", None)
        if n_fft is not None:
            check_min_length(
                lengths,
                stft_min_input_samples(n_fft),
                row_name="features[{row}]",
                needed_by=f"the {type(extractor).__name__} STFT (n_fft {n_fft})",
                sampling_rate=self.sampling_rate,
            )
        encoded = extractor(
            [buffer[row, :length] for row, length in enumerate(lengths)],
            sampling_rate=self.sampling_rate,
            padding="longest",
            return_attention_mask=True,
            return_tensors="pt",
        )
        features = encoded[input_name]
        hop_length = getattr(extractor, "hop_length", None)
        if input_name == "input_features" and hop_length is not None:
            expected_frames = int(lengths.max()) // hop_length
            if features.shape[-1] != expected_frames:
                raise ValueError(
                    f"feature_extractor returned {features.shape[-1]} frames for a longest clip of "
                    f"{int(lengths.max())} samples; expected {expected_frames} (padding='longest')"
                )
            # A clip alone gets `samples // hop` frames; the extractor's padded-batch mask
            # rounds up and would mark one padding frame as real.
            return {input_name: features, "attention_mask": mel_frame_mask(lengths, hop_length)}
        return {input_name: features, "attention_mask": encoded["attention_mask"].long()}


AUDIO_OPTIONS = tuple(
    name
    for name, parameter in inspect.signature(AudioCollator).parameters.items()
    if parameter.kind is parameter.KEYWORD_ONLY and name != "num_labels"
)
"""The keyword options of `AudioCollator` (``sampling_rate``, ``normalize``, ``audio_column``,
``label_column``, ``label2id``) that a collator composed over one passes on to it."""
