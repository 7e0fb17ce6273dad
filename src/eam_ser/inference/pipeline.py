"""The ``speech-emotion-recognition`` pipeline task, registered with transformers.

Importing this module registers the task (and the FLAM model with the Auto classes), so that

    import eam_ser.inference.pipeline
    from transformers import pipeline

    classifier = pipeline("speech-emotion-recognition", model="path/or/hub-id")
    classifier("speech.wav")                      # [{"label": "angry", "score": 0.91}, ...]
    classifier(["a.flac", "b.mp3"], batch_size=8)  # one list per input
    classifier("interview.wav", segmentation="vad")  # {"label", "scores", "segments": [...]}

works on a plain install: inputs are decoded with soundfile and resampled with soxr (paths,
bytes, numpy arrays at 16 kHz, or ``{"array" or "raw": ..., "sampling_rate": ...}`` at any
rate; no torchaudio, no ffmpeg). Clips are batched through `eam_ser.data.collator.AudioCollator`:
Whisper inputs are cropped to their real mel frames, and a clip's scores do not depend on its
batch mates. Everything goes through `eam_ser.inference.EmotionRecognizer`.

Options, given to ``pipeline(...)`` or to a call (a call's win): ``top_k`` (labels returned
per clip or segment, default all), ``segmentation`` (``"none"`` default, ``"auto"``,
``"fixed"``, ``"vad"``: see `eam_ser.inference.segmentation`), ``window_s``, ``hop_s``,
``batch_size`` and ``min_confidence``: below this top score (in (0, 1]) a clip, segment or
recording is labelled ``"uncertain"`` (`eam_ser.inference.UNCERTAIN`, as
``EmotionRecognizer(min_confidence=...)`` and ``eam-ser predict --min-confidence``), its scores
still given; a whole clip is then answered ``{"label", "scores": [...]}`` rather than the list
of scores alone::

    classifier("speech.wav", min_confidence=0.6)  # {"label": "uncertain", "scores": [...]}

Any other keyword is a TypeError that names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import AutoModelForAudioClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

import eam_ser.models.flam.modeling_flam  # noqa: F401  (registers FLAM with the Auto classes)
from eam_ser.inference.recognizer import (
    EmotionRecognizer,
    RecordingPrediction,
    check_batch_size,
    check_min_confidence,
    top_label,
)
from eam_ser.inference.segmentation import SEGMENTATIONS, check_segment_options
from eam_ser.models.flam.arguments import check_integer, describe

__all__ = ["CALL_OPTIONS", "TASK", "SpeechEmotionRecognitionPipeline"]

TASK = "speech-emotion-recognition"
CALL_OPTIONS = ("top_k", "segmentation", "window_s", "hop_s", "batch_size", "min_confidence")
"""The keywords the pipeline takes (see the module docstring)."""


def _ranked(scores: dict[str, float], top_k: int | None) -> list[dict[str, Any]]:
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return [{"label": label, "score": score} for label, score in ranked[:top_k]]


class SpeechEmotionRecognitionPipeline(Pipeline):
    """Emotion of speech clips or long recordings; see the module docstring."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = True
    _load_tokenizer = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        batch_size = {} if self._batch_size is None else {"batch_size": self._batch_size}
        self.recognizer = EmotionRecognizer(self.model, self.feature_extractor, **batch_size)

    def _sanitize_parameters(
        self,
        top_k: int | None = None,
        segmentation: str | None = None,
        window_s: float | None = None,
        hop_s: float | None = None,
        min_confidence: float | None = None,
        **unknown: Any,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The options of a call or of the pipeline as (preprocess, forward, postprocess)
        keywords; only those given.

        Raises:
            TypeError: a keyword the pipeline does not take, naming it.
            ValueError: naming the option: `min_confidence` outside (0, 1], `top_k` not an
                integer >= 1, an unknown `segmentation`, or `window_s` / `hop_s` outside the
                ranges of `check_segment_options` (with the values set at construction).
        """
        if unknown:
            raise TypeError(
                f"{TASK} pipeline: unexpected keyword argument{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, sorted(unknown)))}; it takes {', '.join(CALL_OPTIONS)}"
            )
        preprocess: dict[str, Any] = {}
        if segmentation is not None:
            if segmentation not in SEGMENTATIONS:
                raise ValueError(
                    f"segmentation must be one of {SEGMENTATIONS}, got {describe(segmentation)}"
                )
            preprocess["segmentation"] = segmentation
        given = {"window_s": window_s, "hop_s": hop_s}
        given = {name: value for name, value in given.items() if value is not None}
        if given:
            # Checked as a whole here, before any audio is scored (hop_s is bounded by window_s).
            defaults = getattr(self, "_preprocess_params", {})  # unset while __init__ runs
            kept = {name: defaults[name] for name in ("window_s", "hop_s") if name in defaults}
            checked = check_segment_options(**{**kept, **given})
            preprocess.update({name: checked[name] for name in given})
        postprocess: dict[str, Any] = {}
        if top_k is not None:
            postprocess["top_k"] = check_integer(top_k, "top_k", minimum=1)
        if min_confidence is not None:
            postprocess["min_confidence"] = check_min_confidence(min_confidence)
        return preprocess, {}, postprocess

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        """Score one input or a list of inputs (see the module docstring); ``batch_size``
        clips or segments go through the model at once (a call's for that call only)."""
        batch_size = kwargs.pop("batch_size", None)
        if batch_size is None:
            return self._score(inputs, **kwargs)
        default = self.recognizer.batch_size
        self.recognizer.batch_size = check_batch_size(batch_size)
        try:
            return self._score(inputs, **kwargs)
        finally:
            self.recognizer.batch_size = default

    def _score(self, inputs: Any, **kwargs: Any) -> Any:
        preprocess, _, postprocess = self._sanitize_parameters(**kwargs)
        preprocess = {**self._preprocess_params, **preprocess}
        postprocess = {**self._postprocess_params, **postprocess}
        single = not isinstance(inputs, (list, tuple))
        items: Sequence[Any] = [inputs] if single else inputs
        if preprocess.get("segmentation", "none") == "none":
            # Whole clips: every input in the same length-sorted batches.
            predictions = self.recognizer.predict_clips(items)
            results = [self._clip_result(p["scores"], **postprocess) for p in predictions]
        else:
            results = [
                self.postprocess(self._forward(self.preprocess(item, **preprocess)), **postprocess)
                for item in items
            ]
        return results[0] if single else results

    def preprocess(
        self, inputs: Any, segmentation: str = "none", **segment_options: float
    ) -> dict[str, Any]:
        return {"audio": inputs, "segmentation": segmentation, "options": segment_options}

    def _forward(self, model_inputs: dict[str, Any]) -> RecordingPrediction:
        return self.recognizer.predict_recording(
            model_inputs["audio"], model_inputs["segmentation"], **model_inputs["options"]
        )

    @staticmethod
    def _clip_result(
        scores: dict[str, float], top_k: int | None = None, min_confidence: float | None = None
    ) -> Any:
        """A whole clip's answer: its ranked scores, with its label when `min_confidence`
        is given."""
        if min_confidence is None:
            return _ranked(scores, top_k)
        return {"label": top_label(scores, min_confidence), "scores": _ranked(scores, top_k)}

    def postprocess(
        self,
        model_outputs: RecordingPrediction,
        top_k: int | None = None,
        min_confidence: float | None = None,
    ) -> Any:
        if model_outputs.segmentation == "none":
            return self._clip_result(model_outputs.scores, top_k, min_confidence)
        return {
            "label": top_label(model_outputs.scores, min_confidence)
            if model_outputs.scores
            else None,
            "scores": _ranked(model_outputs.scores, top_k),
            "duration_s": model_outputs.duration_s,
            "segments": [
                {
                    "start_s": segment.start_s,
                    "end_s": segment.end_s,
                    "label": top_label(segment.scores, min_confidence),
                    "scores": _ranked(segment.scores, top_k),
                }
                for segment in model_outputs.segments
            ],
        }


PIPELINE_REGISTRY.register_pipeline(
    TASK,
    pipeline_class=SpeechEmotionRecognitionPipeline,
    pt_model=AutoModelForAudioClassification,
    type="audio",
)
