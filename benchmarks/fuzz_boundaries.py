"""Fuzz every public entry point of eam-ser with values whose validity is known in advance.

Each case passes one generated value to one argument of one entry point (the others at valid
defaults) and sorts the outcome:

- ``ok``: a valid value gave a finite result, or an invalid one an error naming the argument;
- ``refused_valid``: a valid value was refused (or crashed);
- ``silent``: an invalid value was accepted;
- ``raw``: an invalid value ended in an exception other than ValueError / TypeError (numpy's,
  torch's, AttributeError, ...);
- ``nameless``: an invalid value gave a ValueError / TypeError that does not name the argument.

The values come from `hypothesis` strategies per kind of argument (integers, reals in a range,
flags, seeds, sampling rates, audio arrays, labels, choices), hostile ones included: bools for
numbers, floats for integers, NaN and infinities, strings, None, numpy generators, complex,
object and ragged arrays. ``tests/test_fuzz_boundaries.py`` runs a bounded number in CI and
requires every outcome to be ``ok``; this script runs more and writes the counts::

    python benchmarks/fuzz_boundaries.py --cases 20000 --output benchmarks/results/fuzz.json

It only uses names that 0.4.0 had too, so the same script measures an earlier release
(``PYTHONPATH=<checkout>/src python benchmarks/fuzz_boundaries.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

OUTCOMES = ("ok", "refused_valid", "silent", "raw", "nameless")

# -------------------------------------------------------------------- kinds of argument values


class Opaque:
    """An object no entry point should take for a number, a string or audio."""

    def __repr__(self) -> str:
        return "Opaque()"


HOSTILE = [
    "3",
    b"3",
    [1],
    (2,),
    {"a": 1},
    1 + 0j,
    Opaque(),
    np.random.default_rng(0),
    np.random.SeedSequence(0),
]


def _cases(values: st.SearchStrategy, valid: Callable[[Any], bool]) -> st.SearchStrategy:
    return values.map(lambda value: (value, bool(valid(value))))


def integers(
    minimum: int,
    maximum: int | None = None,
    *,
    none: bool = False,
    top: int | None = None,
    whole_floats: bool = False,
) -> Any:
    """(value, valid) for an integer argument in [minimum, maximum] (None allowed if `none`);
    values are drawn up to `top` (default `maximum`, or a million above `minimum`), so a slow
    but valid value (a million bootstrap resamples) is not drawn."""
    top = top if top is not None else maximum if maximum is not None else minimum + 10**6

    def inside(value: Any) -> bool:
        return minimum <= value and (maximum is None or value <= maximum)

    return st.one_of(
        _cases(st.integers(minimum - 100, top + 100), inside),
        _cases(st.integers(minimum, top).map(np.int64), lambda _: True),
        # Floats are not integers, except where a whole-number float is documented as taken.
        _cases(
            st.floats(allow_nan=True, allow_infinity=True),
            lambda value: (
                whole_floats and math.isfinite(value) and value.is_integer() and inside(value)
            ),
        ),
        _cases(st.booleans(), lambda _: False),
        _cases(st.sampled_from(HOSTILE), lambda _: False),
        _cases(st.just(None), lambda _: none),
    )


def reals(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    above: float | None = None,
    below: float | None = None,
    none: bool = False,
    span: float = 1e6,
) -> Any:
    """(value, valid) for a real argument within the bounds given (finite always)."""

    def inside(value: Any) -> bool:
        number = float(value)
        return (
            math.isfinite(number)
            and (minimum is None or number >= minimum)
            and (maximum is None or number <= maximum)
            and (above is None or number > above)
            and (below is None or number < below)
        )

    return st.one_of(
        _cases(st.floats(-span, span), inside),
        _cases(st.floats(allow_nan=True, allow_infinity=True), inside),
        _cases(st.integers(-100, 100), inside),
        _cases(st.floats(-span, span, width=32).map(np.float32), inside),
        _cases(st.booleans(), lambda _: False),
        _cases(st.sampled_from(HOSTILE), lambda _: False),
        _cases(st.just(None), lambda _: none),
    )


def flags() -> Any:
    """(value, valid) for a True / False argument."""
    return st.one_of(
        _cases(st.booleans(), lambda _: True),
        _cases(st.booleans().map(np.bool_), lambda _: True),
        _cases(st.integers(-2, 2), lambda _: False),
        _cases(st.sampled_from(["yes", "True", None, 1.0]), lambda _: False),
    )


def seeds(*, none: bool = True) -> Any:
    """(value, valid) for a seed: a non-negative integer (None where fresh entropy is taken)."""
    return st.one_of(
        _cases(st.integers(-(2**40), 2**70), lambda value: value >= 0),
        _cases(st.integers(0, 2**32 - 1).map(np.uint32), lambda _: True),
        _cases(st.floats(allow_nan=True, allow_infinity=True), lambda _: False),
        _cases(st.booleans(), lambda _: False),
        _cases(st.sampled_from(HOSTILE), lambda _: False),
        _cases(st.just(None), lambda _: none),
    )


def sampling_rates() -> Any:
    """(value, valid) for an in-memory sampling rate: a whole number of Hz in 4-192 kHz."""

    def inside(value: Any) -> bool:
        number = float(value)
        return math.isfinite(number) and number == int(number) and 4000 <= number <= 192000

    return st.one_of(
        _cases(st.integers(-10, 400_000), inside),
        _cases(st.sampled_from([8000, 16000, 22050, 44100, 48000]), lambda _: True),
        _cases(st.floats(-1e6, 1e6), inside),
        _cases(st.floats(allow_nan=True, allow_infinity=True), inside),
        _cases(st.booleans(), lambda _: False),
        _cases(st.sampled_from(HOSTILE), lambda _: False),
    )


def audio() -> Any:
    """(value, valid) for audio in memory: float in full scale or integer PCM is valid;
    complex, object, ragged, non-finite, empty, silent-and-huge or whole-number floats above
    full scale (integer PCM stored as floats) are not."""
    noise = st.integers(800, 8000).map(lambda n: np.random.default_rng(n).uniform(-0.5, 0.5, n))
    return st.one_of(
        _cases(noise.map(lambda x: x.astype(np.float32)), lambda _: True),
        _cases(noise, lambda _: True),  # float64
        _cases(noise.map(lambda x: (x * 32767).astype(np.int16)), lambda _: True),
        _cases(noise.map(lambda x: x.astype(np.complex64)), lambda _: False),
        _cases(noise.map(lambda x: x.astype(object)), lambda _: True),  # numbers, as a list
        _cases(noise.map(lambda x: np.array([*x[:5], "a"], dtype=object)), lambda _: False),
        _cases(noise.map(lambda x: [x[:10].tolist(), [0.1]]), lambda _: False),
        _cases(noise.map(lambda x: np.where(x > 0.4, np.nan, x)), lambda _: False),
        _cases(noise.map(lambda x: np.round(x * 16000).astype(np.float32)), lambda _: False),
        _cases(st.just(np.zeros(0, np.float32)), lambda _: False),
        _cases(
            st.sampled_from([h for h in HOSTILE[:7] if not isinstance(h, (list, tuple))]),
            lambda _: False,
        ),
    )


def labels(num_labels: int) -> Any:
    """(value, valid) for a class index of a `num_labels`-class model."""
    return st.one_of(
        _cases(st.integers(-3, num_labels + 3), lambda value: 0 <= value < num_labels),
        # A whole-number float is a class index (a table column with a gap reads as floats).
        _cases(
            st.floats(allow_nan=True, allow_infinity=True),
            lambda value: math.isfinite(value) and value == int(value) and 0 <= value < num_labels,
        ),
        _cases(st.booleans(), lambda _: False),
        _cases(st.sampled_from([None, Opaque(), [0], "no-such-label"]), lambda _: False),
    )


def command_line(
    kind: str,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    above: float | None = None,
) -> Any:
    """(text, valid) for a flag's value on the command line: `kind` ``"int"`` (whole numbers
    in [minimum, maximum]) or ``"real"`` (finite numbers within the bounds)."""

    def inside(number: float) -> bool:
        return (
            math.isfinite(number)
            and (minimum is None or number >= minimum)
            and (maximum is None or number <= maximum)
            and (above is None or number > above)
        )

    words = st.sampled_from(["nan", "inf", "-inf", "abc", "", "1e400", "0x10", "True", "1,5"])
    if kind == "int":
        numbers = _cases(st.integers(-(10**7), 10**7).map(str), lambda text: inside(int(text)))
        fractions = _cases(st.floats(-1e6, 1e6).map(repr), lambda _: False)
    else:
        numbers = _cases(st.floats(-1e6, 1e6).map(repr), lambda text: inside(float(text)))
        fractions = _cases(st.integers(-100, 100).map(str), lambda text: inside(float(text)))
    return st.one_of(numbers, fractions, _cases(words, lambda _: False))


def choices(options: tuple[str, ...], *, none: bool = False) -> Any:
    """(value, valid) for one of `options` (None too when `none`: the default)."""
    return st.one_of(
        _cases(st.sampled_from(options), lambda _: True),
        _cases(st.text(max_size=8), lambda value: value in options),
        _cases(st.sampled_from([1, True, Opaque()]), lambda _: False),
        _cases(st.just(None), lambda _: none),
    )


# ----------------------------------------------------------------------------- entry points

NUM_LABELS = 3


def clips(count: int = 2, length: int = 4000) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(-0.5, 0.5, length + 500 * i).astype(np.float32) for i in range(count)]


@dataclass
class Target:
    """One public entry point: its arguments (name -> strategy of (value, valid)), the valid
    default of each, and how to call it (returns arrays to check finite, or None)."""

    name: str
    arguments: dict[str, Any]
    defaults: dict[str, Any]
    call: Callable[..., Any]
    names: dict[str, str] = field(default_factory=dict)  # the name an error must say

    def shown(self, argument: str) -> str:
        return self.names.get(argument, argument)


def _collator(**kwargs: Any) -> Any:
    from eam_ser import EnergyAdaptiveMixupCollator

    label = kwargs.pop("label")
    audio_value = kwargs.pop("audio")
    collator = EnergyAdaptiveMixupCollator(**kwargs)
    features = [{"audio": a, "label": 0} for a in clips()]
    features.append({"audio": audio_value, "label": label})
    batch = collator(features)
    # With mix_on_device the batch carries the mixing parameters instead of soft labels.
    return [value.numpy() for value in batch.values() if value.dtype.is_floating_point]


def _map(**kwargs: Any) -> Any:
    from eam_ser import EnergyAdaptiveMixupMap

    label = kwargs.pop("label")
    audio_value = kwargs.pop("audio")
    mix = EnergyAdaptiveMixupMap(**kwargs)
    batch = {"audio": [*clips(), audio_value], "label": [0, 0, label]}
    out = mix(batch, indices=[0, 1, 2])
    return [np.concatenate(out["mixed_audio"]), np.stack(out["soft_labels"])]


def _transform(**kwargs: Any) -> Any:
    from eam_ser import EnergyAdaptiveMixup

    sample_rate = kwargs.pop("sample_rate")
    samples = kwargs.pop("samples")
    transform = EnergyAdaptiveMixup(clips(3), pool_labels=[0, 1, 2], **kwargs)
    return [transform(samples=samples, sample_rate=sample_rate)]


def _audio_collator(**kwargs: Any) -> Any:
    from eam_ser import AudioCollator

    audio_value = kwargs.pop("audio")
    collator = AudioCollator(**kwargs)
    batch = collator([{"audio": clips(1)[0]}, {"audio": audio_value}])
    return [batch["input_values"].numpy()]


def _load_audio(**kwargs: Any) -> Any:
    from eam_ser import load_audio

    return [load_audio({"array": kwargs["audio"], "sampling_rate": kwargs["sampling_rate"]})]


def _multi_loss(**kwargs: Any) -> Any:
    import torch

    from eam_ser import MultiLoss, MultiLossSettings

    loss = MultiLoss(MultiLossSettings(**kwargs))
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, NUM_LABELS, generator=generator)
    embeddings = torch.randn(4, 8, generator=generator)
    labels_ = torch.tensor([0, 1, 2, 0])
    soft = torch.nn.functional.one_hot(labels_, NUM_LABELS).float()
    result = loss(logits, embeddings, soft, labels_, torch.zeros(NUM_LABELS, 8))
    return [result.loss.detach().numpy()]


def _flam_config(**kwargs: Any) -> Any:
    from transformers import WavLMConfig

    from eam_ser import FlamConfig

    encoder = WavLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    kwargs.setdefault("flam_num_attention_heads", 2)
    FlamConfig(encoder_config=encoder, **kwargs)
    return None


@contextlib.contextmanager
def _quiet() -> Any:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        yield


_MODEL: dict[str, Any] = {}


def tiny_model() -> tuple[Any, Any]:
    """A 2-class FLAM on a tiny random WavLM and its extractor (built once)."""
    if not _MODEL:
        import torch
        from transformers import Wav2Vec2FeatureExtractor, WavLMConfig

        from eam_ser import FlamConfig, FlamForSequenceClassification

        torch.manual_seed(0)
        encoder = WavLMConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(32, 32),
            conv_kernel=(10, 8),
            conv_stride=(5, 4),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            feat_extract_norm="layer",
        )
        config = FlamConfig(encoder_config=encoder, num_labels=2, flam_num_attention_heads=2)
        _MODEL["model"] = FlamForSequenceClassification(config).eval()
        _MODEL["extractor"] = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    return _MODEL["model"], _MODEL["extractor"]


def _recognizer(**kwargs: Any) -> Any:
    from eam_ser import EmotionRecognizer

    model, extractor = tiny_model()
    audio_value = kwargs.pop("audio")
    recognizer = EmotionRecognizer(model, extractor, **kwargs)
    predictions = recognizer.predict_clips([clips(1)[0], audio_value])
    return [np.array([list(p["scores"].values()) for p in predictions])]


def _segments(**kwargs: Any) -> Any:
    from eam_ser import EmotionRecognizer

    model, extractor = tiny_model()
    recognizer = EmotionRecognizer(model, extractor)
    waveform = np.random.default_rng(1).uniform(-0.5, 0.5, 16000 * 9).astype(np.float32)
    prediction = recognizer.predict_recording(waveform, "fixed", **kwargs)
    return [np.array(list(prediction.scores.values()))]


def _pipeline(**kwargs: Any) -> Any:
    from transformers import pipeline

    try:  # registers the task
        import eam_ser.inference.pipeline
    except ImportError:  # 0.4.0's layout
        import eam_ser.pipeline  # noqa: F401

    model, extractor = tiny_model()
    with _quiet():
        classify = pipeline("speech-emotion-recognition", model=model, feature_extractor=extractor)
    waveform = np.random.default_rng(1).uniform(-0.5, 0.5, 16000 * 3).astype(np.float32)
    options = {key: value for key, value in kwargs.items() if key != "segmentation"}
    result = classify([waveform, waveform[:8000]], segmentation=kwargs["segmentation"], **options)
    return [np.array([row["score"] for item in result for row in _rows(item)])]


def _rows(item: Any) -> list[dict[str, Any]]:
    if isinstance(item, list):
        return item
    return item["scores"] if isinstance(item.get("scores"), list) else []


def _bootstrap(**kwargs: Any) -> Any:
    try:
        from eam_ser.evaluation.report import speaker_bootstrap
    except ImportError:  # 0.4.0's layout
        from eam_ser.report import speaker_bootstrap

    rng = np.random.default_rng(0)
    predictions, references = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    speakers = [f"s{i % 4}" for i in range(40)]
    intervals = speaker_bootstrap(predictions, references, speakers, 3, **kwargs)
    return [np.array(list(intervals.values()))]


def _cli(command: list[str]) -> Callable[..., Any]:
    """Parse ``eam-ser`` `command` with the generated value spelled on the command line, then
    run the command's own checks up to the first file it would read (none exist)."""

    def call(value: Any) -> Any:
        from eam_ser.cli import main

        argv = [part if part != "{}" else str(value) for part in command]
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(argv)
            except SystemExit as exit_:
                status = exit_.code
        text = stderr.getvalue()
        if status == 2 and "no-such" not in text and "no such" not in text:
            raise ValueError(text)
        return None

    return call


def targets() -> list[Target]:
    """Every entry point fuzzed, with its arguments."""
    eam = {
        "p": reals(0.0, 1.0),
        "min_length_samples": integers(1, 2**31 - 1, top=10**5, whole_floats=True),
        "max_mix_fraction": reals(above=0.0, maximum=1.0),
    }
    eam_defaults = {"p": 1.0, "min_length_samples": 400, "max_mix_fraction": 0.5}
    waveform = clips(1)[0]
    train = ["train", "--data", "no-such", "--cv"]
    predict = ["predict", "no-such-model", "no-such.wav"]
    cli_values = {
        "--max-steps": (command_line("int", 1), [*train, "--max-steps", "{}"]),
        "--seed (train)": (command_line("int", 0), [*train, "--seed", "{}"]),
        "--eam-p": (command_line("real", 0.0, 1.0), [*train, "--eam-p", "{}"]),
        "--max-train-seconds": (
            command_line("real", above=0.0),
            [*train, "--max-train-seconds", "{}"],
        ),
        "--batch-size": (command_line("int", 1), [*predict, "--batch-size", "{}"]),
        "--min-confidence": (
            command_line("real", maximum=1.0, above=0.0),
            [*predict, "--min-confidence", "{}"],
        ),
        "--hop": (command_line("real", 0.01, 4.0), [*predict, "--hop", "{}"]),
        "--window": (
            command_line("real", 0.01, 60.0),
            [*predict, "--window", "{}", "--hop", "0.01"],
        ),
        "--seed (augment)": (
            command_line("int", 0),
            ["augment", "no-such", "no-such-out", "--seed", "{}"],
        ),
        "--seed (compare)": (
            command_line("int", 0),
            ["compare", "no-such-a", "no-such-b", "--seed", "{}"],
        ),
    }
    return [
        Target(
            "EnergyAdaptiveMixupCollator",
            {
                "num_labels": integers(1),
                "seed": seeds(),
                "max_train_seconds": reals(1 / 16000, none=True),
                "mix_on_device": flags(),
                "sampling_rate": sampling_rates(),
                "label": labels(NUM_LABELS),
                "audio": audio(),
                **eam,
            },
            {
                "num_labels": NUM_LABELS,
                "seed": 0,
                "max_train_seconds": None,
                "mix_on_device": False,
                "sampling_rate": 16000,
                "label": 0,
                "audio": waveform,
                **eam_defaults,
            },
            _collator,
            {"label": "features[2]", "audio": "features[2]"},
        ),
        Target(
            "EnergyAdaptiveMixupMap",
            {
                "num_labels": integers(1),
                "seed": seeds(),
                "sampling_rate": sampling_rates(),
                "label": labels(NUM_LABELS),
                "audio": audio(),
                **eam,
            },
            {
                "num_labels": NUM_LABELS,
                "seed": 0,
                "sampling_rate": 16000,
                "label": 0,
                "audio": waveform,
                **eam_defaults,
            },
            _map,
            {"label": "row 2", "audio": "row 2"},
        ),
        Target(
            "EnergyAdaptiveMixup",
            {"seed": seeds(), "sample_rate": sampling_rates(), "samples": audio(), **eam},
            {"seed": 0, "sample_rate": 16000, "samples": waveform, **eam_defaults},
            _transform,
        ),
        Target(
            "AudioCollator",
            {
                "sampling_rate": sampling_rates(),
                "normalize": flags(),
                "num_labels": integers(1, none=True),
                "audio": audio(),
            },
            {"sampling_rate": 16000, "normalize": True, "num_labels": None, "audio": waveform},
            _audio_collator,
            {"audio": "features[1]"},
        ),
        Target(
            "load_audio",
            {"audio": audio(), "sampling_rate": sampling_rates()},
            {"audio": waveform, "sampling_rate": 16000},
            _load_audio,
            {"audio": "array"},
        ),
        Target(
            "MultiLossSettings",
            {
                "kl_weight": reals(0.0, 1e6),
                "focal_gamma": reals(minimum=0.0),
                "supcon_temperature": reals(0.001),
            },
            {"kl_weight": 1.0, "focal_gamma": 2.0, "supcon_temperature": 0.07},
            _multi_loss,
        ),
        Target(
            "FlamConfig",
            {
                "num_labels": integers(1),
                "embedding_size": integers(1, top=4096),
                "flam_dropout": reals(0.0, below=1.0),
                "score_temperature": reals(above=0.0),
                "freeze_feature_encoder": flags(),
                "pooling": choices(("attentive", "mean", "attentive_statistics")),
            },
            {
                "num_labels": 2,
                "embedding_size": 16,
                "flam_dropout": 0.1,
                "score_temperature": 1.0,
                "freeze_feature_encoder": True,
                "pooling": "attentive",
            },
            _flam_config,
        ),
        Target(
            "EmotionRecognizer",
            {
                "batch_size": integers(1),
                "min_confidence": reals(above=0.0, maximum=1.0, none=True),
                "audio": audio(),
            },
            {"batch_size": 8, "min_confidence": None, "audio": waveform},
            _recognizer,
            {"audio": "clips[1]"},
        ),
        Target(
            "EmotionRecognizer.predict_recording",
            {"window_s": reals(1.0, 60.0), "hop_s": reals(0.01, 2.0, none=True)},
            {"window_s": 2.0, "hop_s": 1.0},
            _segments,
        ),
        Target(
            "pipeline call",
            {
                "batch_size": integers(1, none=True),
                "top_k": integers(1, none=True),
                "hop_s": reals(0.01, 4.0, none=True),
                "min_confidence": reals(above=0.0, maximum=1.0, none=True),
                "segmentation": choices(("none", "fixed"), none=True),
            },
            {
                "batch_size": 2,
                "top_k": 2,
                "hop_s": 2.0,
                "min_confidence": 0.5,
                "segmentation": "fixed",
            },
            _pipeline,
        ),
        Target(
            "speaker_bootstrap",
            {
                "num_resamples": integers(1, top=2000),
                "confidence": reals(above=0.0, below=1.0),
                "seed": seeds(none=False),
            },
            {"num_resamples": 50, "confidence": 0.95, "seed": 0},
            _bootstrap,
        ),
        *[
            Target(
                f"eam-ser {flag}",
                {"value": strategy},
                {"value": None},
                lambda value, command=command: _cli(command)(value),
                {"value": flag.split(" ")[0]},
            )
            for flag, (strategy, command) in cli_values.items()
        ],
    ]


# ----------------------------------------------------------------------------- the verdict


def names_argument(message: str, name: str) -> bool:
    """Whether `message` names `name` as a word (``p`` in ``p must be``, not in ``step``)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) is not None


def verdict(target: Target, argument: str, value: Any, valid: bool) -> tuple[str, str]:
    """The outcome of one case and its message (see the module docstring)."""
    arguments = {**target.defaults, argument: value}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = target.call(**arguments)
    except (ValueError, TypeError) as error:
        message = str(error)
        if valid:
            return "refused_valid", f"{type(error).__name__}: {message[:300]}"
        if names_argument(message, target.shown(argument)):
            return "ok", ""
        return "nameless", f"{type(error).__name__}: {message[:300]}"
    except Exception as error:
        return ("refused_valid" if valid else "raw"), f"{type(error).__name__}: {str(error)[:300]}"
    if not valid:
        return "silent", "accepted"
    for array in result or []:
        if not np.isfinite(np.asarray(array, dtype=np.float64)).all():
            return "refused_valid", "a non-finite result"
    return "ok", ""


@dataclass
class Tally:
    """Counts per outcome and target, and the first examples of each bad outcome."""

    counts: Counter = field(default_factory=Counter)
    by_target: dict[str, Counter] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, target: Target, argument: str, value: Any, outcome: str, message: str) -> None:
        self.counts[outcome] += 1
        self.by_target.setdefault(target.name, Counter())[outcome] += 1
        if outcome != "ok":
            shown = f"{target.name}({argument}={value!r:.60}): {message}"
            self.examples.setdefault(outcome, [])
            if len(self.examples[outcome]) < 25:
                self.examples[outcome].append(shown)


def case_strategy(all_targets: list[Target]) -> st.SearchStrategy:
    """(target, argument, value, valid): one argument of one entry point, one generated value."""

    def of(target: Target) -> st.SearchStrategy:
        return st.sampled_from(sorted(target.arguments)).flatmap(
            lambda argument: target.arguments[argument].map(lambda case: (target, argument, *case))
        )

    return st.one_of([of(target) for target in all_targets])


def run(num_cases: int, seed: int = 0) -> Tally:
    """Fuzz `num_cases` cases (hypothesis, derandomised by `seed`) and tally them."""
    tally = Tally()
    all_targets = targets()

    @settings(
        max_examples=num_cases,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=case_strategy(all_targets), _seed=st.just(seed))
    def fuzz(case: tuple[Target, str, Any, bool], _seed: int) -> None:
        target, argument, value, valid = case
        tally.add(target, argument, value, *verdict(target, argument, value, valid))

    fuzz()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    tally = run(args.cases)
    record = {
        "cases": sum(tally.counts.values()),
        "counts": {outcome: tally.counts.get(outcome, 0) for outcome in OUTCOMES},
        "by_target": {name: dict(counts) for name, counts in sorted(tally.by_target.items())},
        "examples": tally.examples,
        "seconds": round(time.perf_counter() - start, 1),
        "command": "python benchmarks/fuzz_boundaries.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(record["counts"]), f"in {record['seconds']} s")
    for outcome, examples in tally.examples.items():
        print(f"-- {outcome}")
        for example in examples[:8]:
            print("  ", example)
    if args.output is not None:
        args.output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
