"""Audio enters through one function (`eam_ser.data.audio.load_audio`, with `validate_waveform`
and `check_sampling_rate`), so every entry point refuses the same bad inputs, naming them:
a sampling rate given in kHz, integer PCM stored as floats, complex, ragged or non-numeric
arrays. Checked on the user's paths: the pipeline call, the collator and `load_audio`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eam_ser.data.audio import SAMPLING_RATE_RANGE, check_sampling_rate, load_audio
from eam_ser.data.collator import AudioCollator

SPEECH_LIKE = (0.3 * np.sin(np.arange(8000) / 7.0)).astype(np.float32)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"array": SPEECH_LIKE, "sampling_rate": 16}, "16 kHz is 16000 Hz"),
        ({"raw": SPEECH_LIKE, "sampling_rate": 1}, "between 4000 and 192000 Hz, got 1"),
        ({"array": SPEECH_LIKE, "sampling_rate": True}, "a number of Hz, got True"),
        ({"array": SPEECH_LIKE, "sampling_rate": 0}, "between 4000 and 192000 Hz, got 0"),
        ({"array": SPEECH_LIKE, "sampling_rate": 22050.5}, "a whole number of Hz"),
        (SPEECH_LIKE.astype(np.complex64), "complex: give the real signal"),
        (np.round(SPEECH_LIKE * 8190), "integer PCM stored as floats"),
        ([[0.1, 0.2], [0.3]], "not a flat sequence of numbers"),
        (np.array(["a", "b"]), "is not an array of numbers"),
        (np.array([0.1, None], dtype=object), "clip.wav: 1 of 2 samples are NaN/inf"),
    ],
)
def test_bad_audio_is_refused_naming_what_is_wrong(source, message) -> None:
    with pytest.raises(ValueError, match=message):
        load_audio(source, name="clip.wav")


def test_a_list_of_numbers_is_float_samples_as_before() -> None:
    """Python ints in a list are samples in full-scale units (0.4's reading), not int64 PCM."""
    np.testing.assert_array_equal(load_audio([0, 1, 0, -1]), [0.0, 1.0, 0.0, -1.0])


def test_a_rate_in_hz_is_resampled_and_int16_is_scaled() -> None:
    assert load_audio({"array": SPEECH_LIKE, "sampling_rate": 8000}).shape == (16000,)
    as_int16 = np.round(SPEECH_LIKE * 32767).astype(np.int16)
    np.testing.assert_allclose(load_audio(as_int16), SPEECH_LIKE, atol=1 / 32767)


def test_the_collator_refuses_a_rate_in_khz_when_built() -> None:
    with pytest.raises(ValueError, match="sampling_rate must be between 4000 and 192000 Hz"):
        AudioCollator(sampling_rate=16)


def test_the_pipeline_refuses_a_rate_in_khz_naming_it(tmp_path) -> None:
    """The user's path: a ``{"raw", "sampling_rate"}`` input to the pipeline call."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, pipeline

    import eam_ser.inference.pipeline  # noqa: F401  (registers the task)
    from conftest import tiny_wavlm_config
    from eam_ser.models.flam.configuration_flam import FlamConfig
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    torch.manual_seed(0)
    FlamForSequenceClassification(
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=2)
    ).save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(tmp_path)
    classifier = pipeline("speech-emotion-recognition", model=str(tmp_path), device="cpu")
    with pytest.raises(ValueError, match="16 kHz is 16000 Hz"):
        classifier({"raw": SPEECH_LIKE, "sampling_rate": 16})
    scores = classifier({"raw": SPEECH_LIKE, "sampling_rate": 8000})
    assert sum(entry["score"] for entry in scores) == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
    )
)
def test_check_sampling_rate_accepts_exactly_the_whole_plausible_rates(value) -> None:
    low, high = SAMPLING_RATE_RANGE
    valid = (
        not isinstance(value, (bool, str))
        and value is not None
        and np.isfinite(value)
        and value == int(value)
        and low <= value <= high
    )
    if valid:
        assert check_sampling_rate(value) == int(value)
    else:
        with pytest.raises(ValueError, match="sampling_rate must be"):
            check_sampling_rate(value)


@pytest.mark.parametrize(
    ("batch_size", "message"),
    [
        (-1, "batch_size must be an integer >= 1, got -1"),
        (0, ">= 1, got 0"),
        (2.5, r"integer >= 1, got 2.5 \(float\)"),
        (True, r"got True \(bool\)"),
    ],
)
def test_a_pipeline_call_refuses_a_batch_size_that_is_not_one(tmp_path, batch_size, message):
    """Issue 30, problem 1: a negative batch_size in a pipeline call answered every clip with
    the first label at score 1/num_labels; the recognizer refuses it the same way."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, pipeline

    import eam_ser.inference.pipeline  # noqa: F401  (registers the task)
    from conftest import tiny_wavlm_config
    from eam_ser.inference.recognizer import EmotionRecognizer
    from eam_ser.models.flam.configuration_flam import FlamConfig
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    torch.manual_seed(0)
    model = FlamForSequenceClassification(
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=2)
    )
    model.save_pretrained(tmp_path)
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    extractor.save_pretrained(tmp_path)
    classifier = pipeline("speech-emotion-recognition", model=str(tmp_path), device="cpu")
    with pytest.raises(ValueError, match=message):
        classifier([SPEECH_LIKE, SPEECH_LIKE], batch_size=batch_size)
    with pytest.raises(ValueError, match=message):
        EmotionRecognizer(model, extractor, batch_size=batch_size)
    assert classifier.recognizer.batch_size == 8  # the refused call changed nothing
    with pytest.raises(
        ValueError,
        match=r"min_confidence must be a finite number in \(0, 1\] \(or None\), got True \(bool\)",
    ):
        EmotionRecognizer(model, extractor, min_confidence=True)
