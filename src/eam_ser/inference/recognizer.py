"""The recognizer: emotions of clips, files and recordings of any length.

`EmotionRecognizer` wraps a trained model and its feature extractor (or an exported ONNX
model, `eam_ser.inference.onnx_runtime`) and is the one prediction path of the experiments
(`eam_ser.inference.evaluation`), `eam-ser predict` and the ``speech-emotion-recognition``
pipeline:

- `predict_logits` / `predict_clips`: batches of clips, padded by `AudioCollator` (a clip's
  scores do not depend on its batch mates), sorted by length to pad little;
- `predict_recording`: a recording of any length, cut into segments, scored segment by
  segment in batches, so memory stays that of the audio plus one batch; the result is a
  table of (start s, end s, label, scores) and a duration-weighted summary.

Segmentation: `eam_ser.inference.segmentation`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoFeatureExtractor

from eam_ser.data.audio import load_audio
from eam_ser.data.collator import AudioCollator
from eam_ser.evaluation.calibration import softmax
from eam_ser.inference.onnx_runtime import OnnxEmotionModel
from eam_ser.inference.segmentation import check_segment_options, segment_recording
from eam_ser.models.flam.arguments import check_integer, check_real
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from eam_ser.training.checkpoints import safetensors_problem

__all__ = [
    "BACKENDS",
    "UNCERTAIN",
    "EmotionRecognizer",
    "NonFiniteScoresError",
    "RecordingPrediction",
    "SegmentPrediction",
    "check_batch_size",
    "check_min_confidence",
    "check_model_source",
    "top_label",
]

BACKENDS = ("torch", "onnxruntime")


@dataclass
class SegmentPrediction:
    """One scored segment: times in seconds from the start of the recording, the top label and
    the probability of every label."""

    start_s: float
    end_s: float
    label: str
    scores: dict[str, float]


UNCERTAIN = "uncertain"
"""The label of a clip, segment or recording whose top score is below the recognizer's
``min_confidence``: an explicit abstention instead of a guess."""


class NonFiniteScoresError(ValueError):
    """The model's scores are NaN or infinite: the model, not the input, is broken."""


def check_min_confidence(min_confidence: Any) -> float | None:
    """`min_confidence` as a float in (0, 1] or None (never abstain); a ValueError naming it
    otherwise (a bool is not a number: True is not 1.0)."""
    return check_real(min_confidence, "min_confidence", above=0.0, maximum=1.0, allow_none=True)


def check_batch_size(batch_size: Any) -> int:
    """`batch_size` as an int >= 1, or a ValueError naming it (bools and fractions are not
    batch sizes; a negative one used to score every clip as the first label)."""
    return check_integer(batch_size, "batch_size", minimum=1)


def top_label(scores: Mapping[str, float], min_confidence: float | None) -> str:
    """The label of the highest of `scores` (label -> probability), or `UNCERTAIN` when that
    score is below `min_confidence` (None: never)."""
    top = max(scores, key=scores.__getitem__)
    below = min_confidence is not None and scores[top] < min_confidence
    return UNCERTAIN if below else top


@dataclass
class RecordingPrediction:
    """Segments of a recording and the whole-recording summary: `scores` averages the
    segments' probabilities weighted by their duration (overlapping windows count each time),
    `label` is its top label (`UNCERTAIN` below the recognizer's ``min_confidence``). No
    segment (no speech found): `label` None and empty scores."""

    duration_s: float
    segmentation: str
    segments: list[SegmentPrediction] = field(default_factory=list)
    label: str | None = None
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return {
            "duration_s": self.duration_s,
            "segmentation": self.segmentation,
            "label": self.label,
            "scores": self.scores,
            "segments": [vars(segment) for segment in self.segments],
        }


# --------------------------------------------------------------------------------- recognizer


HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def check_model_source(name_or_path: str | Path, *, weights: bool = True) -> None:
    """Refuse, naming the path, what cannot be a saved model before transformers tries it.

    A local folder must hold ``config.json`` and ``preprocessor_config.json`` and, with
    `weights`, readable ``model.safetensors`` (its header is checked against the file size, so
    a truncated copy is found here); a name that is no local path must look like a Hub id
    (``user/model``).

    Raises:
        ValueError: a missing path, a file given as the model, a folder without those files,
            or truncated weights.
    """
    path = Path(name_or_path)
    if not path.exists():
        if HUB_ID.match(str(name_or_path)) and not str(name_or_path).startswith("."):
            return
        raise ValueError(f"model {name_or_path}: no such folder (and not a Hub id user/model)")
    if not path.is_dir():
        raise ValueError(
            f"model {path}: a file, not a model folder (a folder saved by eam-ser train, with "
            "config.json); is the model argument first?"
        )
    for name in ("config.json", "preprocessor_config.json"):
        if not (path / name).is_file():
            raise ValueError(f"model {path}: no {name}: not a saved model folder")
    weights_file = path / "model.safetensors"
    if not weights or not weights_file.is_file():
        return
    problem = safetensors_problem(weights_file)
    if problem is not None:
        raise ValueError(
            f"{weights_file}: unreadable weights ({problem}); the file is truncated or damaged: "
            "copy it again or retrain"
        )


class EmotionRecognizer:
    """Scores clips and recordings with a trained model (see the module docstring).

    Args:
        model: a `FlamForSequenceClassification` (or any audio classifier taking the
            extractor's input and ``attention_mask``), or an `eam_ser.inference.OnnxEmotionModel`.
        feature_extractor: the model's feature extractor (its ``sampling_rate`` is the rate
            audio is resampled to).
        batch_size: clips per forward pass.
        labels: class names in index order (default: ``model.config.id2label``).
        min_confidence: below this top score (in (0, 1]) a clip, segment or recording is
            labelled `UNCERTAIN` (its scores are still given); None: always the top label.
    """

    def __init__(
        self,
        model: Any,
        feature_extractor: Any,
        *,
        batch_size: int = 8,
        labels: Sequence[str] | None = None,
        min_confidence: float | None = None,
    ) -> None:
        batch_size = check_batch_size(batch_size)
        self.min_confidence = check_min_confidence(min_confidence)
        check_finite = getattr(model, "check_finite", None)
        if callable(check_finite):
            check_finite(getattr(model.config, "name_or_path", "") or "EmotionRecognizer")
        self.model = model
        self.feature_extractor = feature_extractor
        self.batch_size = batch_size
        self.sampling_rate = int(feature_extractor.sampling_rate)
        self.collator = AudioCollator(feature_extractor, sampling_rate=self.sampling_rate)
        if labels is None:
            id2label = model.config.id2label
            labels = [id2label[index] for index in range(len(id2label))]
        self.labels = list(labels)
        self.input_name = feature_extractor.model_input_names[0]
        self.min_samples = getattr(model.config, "min_input_samples", 1)

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, *, backend: str = "torch", **kwargs: Any
    ) -> EmotionRecognizer:
        """Load a saved model folder (or Hub id) and its feature extractor.

        Args:
            name_or_path: a folder saved by `eam-ser train` / `save_pretrained`, or a Hub id.
            backend: ``"torch"`` (the `FlamForSequenceClassification` in eval mode) or
                ``"onnxruntime"`` (a folder written by `eam_ser.inference.export_onnx`).
            **kwargs: the other arguments of `EmotionRecognizer` (``batch_size``,
                ``min_confidence``, ...).

        Raises:
            ValueError: an unknown backend, a folder without a config or weights (or with
                truncated ones), or a name that is neither a local folder nor on the Hub.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        check_model_source(name_or_path, weights=backend == "torch")
        try:
            extractor = AutoFeatureExtractor.from_pretrained(name_or_path)
        except OSError as error:
            if Path(name_or_path).exists():
                raise
            raise ValueError(
                f"model {name_or_path}: no such local folder, and the Hugging Face Hub could not "
                f"provide it ({str(error).splitlines()[0]})"
            ) from None
        if backend == "onnxruntime":
            return cls(OnnxEmotionModel(name_or_path), extractor, **kwargs)
        model = FlamForSequenceClassification.from_pretrained(name_or_path).eval()
        return cls(model, extractor, **kwargs)

    def frame_attention(self, waveform: np.ndarray) -> np.ndarray:
        """FLAM's attention weights over the frames of one clip.

        Args:
            waveform: (samples,) float32 at `sampling_rate` (see `load`).

        Returns:
            (frames,) float32 pooling weights of the encoder frames (20 ms each for WavLM-style
            encoders and Whisper), summing to 1, zero on padded frames.
        """
        batch = self.collator.collate_waveforms([waveform])
        with torch.no_grad():
            output = self.model(
                **{self.input_name: batch[self.input_name]},
                attention_mask=batch["attention_mask"],
                output_attentions=True,
            )
        return output.frame_attention[0].float().numpy()

    def load(self, audio: Any, name: str | None = None) -> np.ndarray:
        """`audio` (path, bytes, array, ``{"array", "sampling_rate"}``...) as float32 at the
        model's rate; silence and a clip shorter than the encoder accepts are refused."""
        waveform = load_audio(audio, self.sampling_rate, name=name, allow_silence=False)
        if waveform.shape[0] < self.min_samples:
            raise ValueError(
                f"{name or 'audio'}: {waveform.shape[0]} samples "
                f"({waveform.shape[0] / self.sampling_rate:.3f} s) is shorter than the "
                f"{self.min_samples} samples the encoder accepts"
            )
        return waveform

    def _forward(self, batch: Mapping[str, torch.Tensor]) -> np.ndarray:
        """The (batch, num_labels) logits of one collated batch (torch or onnxruntime).

        Raises:
            NonFiniteScoresError: a logit is NaN or infinite (weights that diverged in training and still
                passed the finiteness check of the parameters): never a score of it.
        """
        model = self.model
        if isinstance(model, torch.nn.Module):
            device = next(model.parameters()).device
            with torch.no_grad():
                output = model(
                    **{self.input_name: batch[self.input_name].to(device)},
                    attention_mask=batch["attention_mask"].to(device),
                )
            logits = output.logits.float().cpu().numpy()
        else:
            logits = model(batch[self.input_name].numpy(), batch["attention_mask"].numpy())
        bad = int((~np.isfinite(logits)).any(axis=-1).sum())
        if bad:
            name = getattr(getattr(model, "config", None), "name_or_path", "") or "the model"
            raise NonFiniteScoresError(
                f"{name}: the scores of {bad} of {len(logits)} clips are not finite (NaN or "
                "inf): the model diverged in training; retrain it with lower learning rates "
                "(head_learning_rate, encoder_learning_rate)"
            )
        return logits

    def predict_logits(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(len(waveforms), num_labels) logits of already-loaded clips, in their order."""
        if isinstance(self.model, torch.nn.Module):
            self.model.eval()
        order = np.argsort([w.shape[0] for w in waveforms], kind="stable")
        logits = np.zeros((len(waveforms), len(self.labels)), np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self.collator.collate_waveforms([waveforms[row] for row in rows])
            logits[rows] = self._forward(batch)
        return logits

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(num_clips, num_labels) class scores ``softmax(logits / T)``, T the model's fitted
        `FlamConfig.score_temperature` (1 for a model without one)."""
        temperature = float(getattr(self.model.config, "score_temperature", 1.0))
        return softmax(logits, temperature).astype(np.float32)

    def _scores(self, logits: np.ndarray) -> list[dict[str, float]]:
        probabilities = self.probabilities(logits)
        return [
            {label: float(p) for label, p in zip(self.labels, row, strict=True)}
            for row in probabilities
        ]

    def label_of(self, scores: dict[str, float]) -> str:
        """The top label of `scores`, or `UNCERTAIN` when it is below `min_confidence`."""
        return top_label(scores, self.min_confidence)

    def predict_clips(self, clips: Sequence[Any]) -> list[dict[str, Any]]:
        """Score each clip whole.

        Args:
            clips: paths, arrays or `datasets` audio values (anything `load` takes).

        Returns:
            One ``{"label": str, "scores": {label: probability}}`` per clip, in order; the
            label is ``"uncertain"`` when the top probability is below `min_confidence`.
        """
        waveforms = [self.load(clip, name=f"clips[{index}]") for index, clip in enumerate(clips)]
        return [
            {"label": self.label_of(scores), "scores": scores}
            for scores in self._scores(self.predict_logits(waveforms))
        ]

    def predict_recording(
        self,
        audio: Any,
        segmentation: str = "auto",
        *,
        name: str | None = None,
        progress: Callable[[Iterable[Any]], Iterator[Any]] | None = None,
        **segment_options: float,
    ) -> RecordingPrediction:
        """Segment a recording and score every segment.

        Args:
            audio: a path, an array or a `datasets` audio value (anything `load` takes).
            segmentation: ``"auto"``, ``"vad"``, ``"fixed"`` or ``"none"`` (see
                `eam_ser.inference.segmentation.segment_recording`).
            name: the recording's name in error messages (default: the path).
            progress: wraps the iteration over batches of segments (e.g. ``tqdm``).
            **segment_options: ``window_s``, ``hop_s``, ``long_input_s``, ``max_segment_s``,
                ``min_segment_s``, in seconds (see `segment_recording`).

        Returns:
            A `RecordingPrediction`: the duration, the segmentation used and one
            `SegmentPrediction` (start and end in seconds, label, scores) per segment at least
            the encoder's minimum length.
        """
        check_segment_options(**segment_options)  # before the audio is read
        waveform = self.load(audio, name=name)
        rate = self.sampling_rate
        used, segments = segment_recording(waveform, rate, segmentation, **segment_options)
        segments = [(a, b) for a, b in segments if b - a >= self.min_samples]
        result = RecordingPrediction(duration_s=waveform.shape[0] / rate, segmentation=used)
        batches = range(0, len(segments), self.batch_size)
        for start in progress(batches) if progress is not None else batches:
            chunk = segments[start : start + self.batch_size]
            logits = self.predict_logits([waveform[a:b] for a, b in chunk])
            for (a, b), scores in zip(chunk, self._scores(logits), strict=True):
                result.segments.append(
                    SegmentPrediction(
                        start_s=a / rate,
                        end_s=b / rate,
                        label=self.label_of(scores),
                        scores=scores,
                    )
                )
        if result.segments:
            weights = np.array([s.end_s - s.start_s for s in result.segments])
            table = np.array([[s.scores[label] for label in self.labels] for s in result.segments])
            mean = weights @ table / weights.sum()
            result.scores = {label: float(p) for label, p in zip(self.labels, mean, strict=True)}
            result.label = self.label_of(result.scores)
        return result
