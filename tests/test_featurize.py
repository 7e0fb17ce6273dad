"""Tests of eam_ser.models.flam.featurize: the sampling rate, the minimum-length check, log-mel, masks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor, WhisperFeatureExtractor
from transformers.dynamic_module_utils import get_imports, get_relative_imports

import eam_ser.models.flam.featurize as featurize
from eam_ser.data import audio
from eam_ser.models.flam import configuration_flam
from eam_ser.models.flam.featurize import (
    SAMPLING_RATE,
    WHISPER_MIN_INPUT_SAMPLES,
    check_min_length,
    is_log_mel_extractor,
    mel_frame_mask,
    min_input_samples,
    stft_min_input_samples,
    whisper_log_mel,
)
from mixup_helpers import noise


def test_one_sampling_rate_and_one_minimum_length_rule() -> None:
    assert SAMPLING_RATE == 16000 and audio.DEFAULT_SAMPLING_RATE is SAMPLING_RATE
    # The standard wav2vec 2.0 front end: 400 samples = 25 ms.
    assert min_input_samples((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == 400
    # (1 - 1) * 2 + 3 = 3, then (3 - 1) * 5 + 10 = 20.
    assert min_input_samples((10, 3), (5, 2)) == 20
    assert stft_min_input_samples(400) == WHISPER_MIN_INPUT_SAMPLES == 201
    assert configuration_flam.min_input_samples is min_input_samples
    assert configuration_flam.WHISPER_MIN_INPUT_SAMPLES == WHISPER_MIN_INPUT_SAMPLES


def test_the_module_travels_as_remote_code() -> None:
    """transformers copies every module `modeling_flam.py` imports relatively and requires
    their imports to be installed: this one needs only numpy and torch."""
    third_party = set(get_imports(featurize.__file__)) - set(sys.stdlib_module_names)
    assert third_party == {"numpy", "torch"}
    assert get_relative_imports(featurize.__file__) == []


@pytest.mark.parametrize("to_lengths", [np.asarray, torch.tensor])
def test_check_min_length_names_the_first_short_row(to_lengths) -> None:
    check_min_length(to_lengths([400, 401, 16000]), 400)
    with pytest.raises(
        ValueError,
        match=r"^input_values row 1 has 399 samples, fewer than the minimum of the encoder's "
        r"receptive field: at least 400 samples \(0\.0250 s at 16000 Hz\); pad or drop clips "
        r"that short$",
    ):
        check_min_length(to_lengths([400, 399, 10]), 400)
    # All-padding rows pass where they are allowed, a narrow padded batch does not.
    check_min_length(to_lengths([0, 500]), 400, allow_empty=True)
    with pytest.raises(ValueError, match="row 0 has 0 samples"):
        check_min_length(to_lengths([0, 500]), 400)
    with pytest.raises(ValueError, match="row 0 has 0 samples"):
        check_min_length(to_lengths([0, 0]), 400, allow_empty=True, padded_length=300)
    with pytest.raises(
        ValueError,
        match=r"features\[2\] has 200 samples, fewer than the minimum of the STFT: at least 201",
    ):
        check_min_length(
            to_lengths([201, 201, 200]), 201, row_name="features[{row}]", needed_by="the STFT"
        )


def test_whisper_minimum_is_refused_by_the_collator_with_the_row_named(rng) -> None:
    from eam_ser.data.collator import AudioCollator

    collator = AudioCollator(WhisperFeatureExtractor())
    collator.collate_waveforms([noise(rng, 201), noise(rng, 4000)])
    with pytest.raises(
        ValueError,
        match=r"features\[1\] has 200 samples, fewer than the minimum of the "
        r"WhisperFeatureExtractor STFT \(n_fft 400\): at least 201 samples",
    ):
        collator.collate_waveforms([noise(rng, 4000), noise(rng, 200)])


def test_mel_frame_mask_hand_worked() -> None:
    # 480 samples / hop 160 = 3 frames, 479 -> 2, 160 -> 1.
    mask = mel_frame_mask(np.array([480, 479, 160]), 160)
    assert mask.dtype == torch.int64
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0], [1, 0, 0]]


def test_whisper_log_mel_is_the_extractors_features(rng) -> None:
    extractor = WhisperFeatureExtractor()
    assert is_log_mel_extractor(extractor)
    assert not is_log_mel_extractor(Wav2Vec2FeatureExtractor())
    waveforms = np.stack([noise(rng, 4800, 0.2), noise(rng, 4800, 0.01)])
    features = whisper_log_mel(torch.from_numpy(waveforms), extractor)
    expected = extractor(
        list(waveforms), sampling_rate=SAMPLING_RATE, padding="longest", return_tensors="pt"
    )["input_features"]
    assert features.shape == expected.shape == (2, 80, 30)
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-4)
