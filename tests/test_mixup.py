"""Tests of eam_ser.mixup: the EAM math with hand-worked numbers and its three shapes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from audiomentations import Compose, Gain
from datasets import Audio, Dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import (
    Wav2Vec2FeatureExtractor,
    WavLMForSequenceClassification,
    WhisperFeatureExtractor,
)

from conftest import tiny_wavlm_config, tone
from eam_ser.mixup import (
    EnergyAdaptiveMixup,
    EnergyAdaptiveMixupCollator,
    EnergyAdaptiveMixupMap,
    MixParameters,
    draw_mix_parameters,
    draw_partner_index,
    energy_adaptive_mix,
    mix_soft_labels,
    one_hot,
    partner_label_weight,
    process_stream_key,
    stream_generator,
)


def params(partner_index, mix_length, start, partner_start, snr_db) -> MixParameters:
    return MixParameters(
        partner_index=np.asarray(partner_index, np.int64),
        mix_length=np.asarray(mix_length, np.int64),
        start=np.asarray(start, np.int64),
        partner_start=np.asarray(partner_start, np.int64),
        snr_db=np.asarray(snr_db, np.float64),
    )


def noise(rng: np.random.Generator, num_samples: int, amplitude: float = 0.1) -> np.ndarray:
    return (amplitude * rng.standard_normal(num_samples)).astype(np.float32)


def segment_snr_db(original: np.ndarray, mixed: np.ndarray, start: int, length: int) -> float:
    segment = slice(start, start + length)
    added = mixed[segment].astype(np.float64) - original[segment]
    return 10 * np.log10(
        np.mean(np.square(original[segment], dtype=np.float64)) / np.mean(added**2)
    )


# ---------------------------------------------------------------- functional core, hand-worked


def test_constant_segments_hand_worked() -> None:
    # P'_i = 0.1^2 = 0.01, P'_j = 0.2^2 = 0.04.
    # s = 0 dB:  scale = sqrt(0.01 / 0.04) = 0.5, so the segment becomes 0.1 + 0.5 * 0.2 = 0.2.
    # s = 10 dB: scale = sqrt(0.01 / (10 * 0.04)) = 0.158114, segment = 0.1 + 0.0316228.
    waveforms = np.stack([np.full(10, 0.1, np.float32), np.full(10, 0.2, np.float32)])
    mixed, applied = energy_adaptive_mix(
        waveforms, params([1, 0], [4, 0], [3, 0], [0, 0], [0.0, 0.0])
    )
    np.testing.assert_allclose(mixed[0], [0.1] * 3 + [0.2] * 4 + [0.1] * 3, rtol=1e-6)
    np.testing.assert_array_equal(mixed[1], waveforms[1])
    np.testing.assert_array_equal(applied, [True, False])
    mixed, _ = energy_adaptive_mix(waveforms, params([1, 0], [4, 0], [3, 0], [0, 0], [10.0, 0.0]))
    np.testing.assert_allclose(mixed[0, 3:7], 0.1316228, rtol=1e-6)
    np.testing.assert_array_equal(waveforms[0], np.float32(0.1))  # input not modified


def test_partner_label_weight_hand_worked() -> None:
    # l = 4000 of len(x_i) = 16000 -> length share 0.25.
    lengths, mix_length = [16000, 16000, 16000], [4000, 4000, 0]
    snr_db = [0.0, 10.0, 3.0]
    np.testing.assert_allclose(
        partner_label_weight(mix_length, lengths, snr_db, "energy"), [0.125, 0.25 / 11, 0.0]
    )
    np.testing.assert_allclose(
        partner_label_weight(mix_length, lengths, snr_db, "length"), [0.25, 0.25, 0.0]
    )
    np.testing.assert_array_equal(
        partner_label_weight(mix_length, lengths, snr_db, "hard"), [0, 0, 0]
    )
    soft = mix_soft_labels([0, 2, 1], [1, 2, 0], [0.125, 0.25, 0.0], num_labels=3)
    np.testing.assert_allclose(soft, [[0.875, 0.125, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize("batch_size", [1, 2, 3, 8, 33])
def test_partners_are_a_derangement(batch_size: int) -> None:
    for seed in range(5):
        partner = draw_partner_index(batch_size, np.random.default_rng(seed))
        assert sorted(partner) == list(range(batch_size))
        if batch_size > 1:
            assert np.all(partner != np.arange(batch_size))


def test_drawn_parameters_stay_in_bounds() -> None:
    lengths = np.array([3199, 3200, 16000, 40000, 8000])
    partner_lengths = np.array([16000, 16000, 8000, 96000, 100])
    drawn = draw_mix_parameters(
        lengths,
        partner_lengths,
        np.arange(5),
        np.random.default_rng(0),
        p=1.0,
        min_snr_db=-2,
        max_snr_db=4,
    )
    # 3199 * 0.5 < 1600 (too short) and a 100-sample partner (too short) are not mixed
    np.testing.assert_array_equal(drawn.mix_length[[0, 4]], 0)
    assert drawn.mix_length[1] == 1600  # longest = floor(0.5 * 3200) = 1600 = shortest
    assert 1600 <= drawn.mix_length[2] <= 4000 and 1600 <= drawn.mix_length[3] <= 20000
    assert np.all(drawn.start + drawn.mix_length <= lengths)
    assert np.all(drawn.partner_start + drawn.mix_length <= partner_lengths)
    assert np.all((drawn.snr_db >= -2) & (drawn.snr_db <= 4))


def test_measured_snr_equals_drawn_snr_and_rest_untouched(rng: np.random.Generator) -> None:
    waveforms = np.zeros((4, 32000), np.float32)
    lengths = [32000, 20000, 16000, 24000]
    for row, length in enumerate(lengths):
        waveforms[row, :length] = noise(rng, length, 0.02 * (row + 1))
    generator = np.random.default_rng(3)
    partner_index = draw_partner_index(4, generator)
    drawn = draw_mix_parameters(
        lengths,
        np.array(lengths)[partner_index],
        partner_index,
        generator,
        p=1.0,
        min_snr_db=-5,
        max_snr_db=5,
    )
    for mixed in (
        energy_adaptive_mix(waveforms, drawn)[0],
        energy_adaptive_mix(torch.from_numpy(waveforms), drawn)[0].numpy(),
    ):
        for row in range(4):
            start, length = drawn.start[row], drawn.mix_length[row]
            assert length > 0
            assert segment_snr_db(waveforms[row], mixed[row], start, length) == pytest.approx(
                drawn.snr_db[row], abs=0.05
            )
            outside = np.ones(32000, bool)
            outside[start : start + length] = False
            np.testing.assert_array_equal(mixed[row, outside], waveforms[row, outside])


def test_torch_and_numpy_cores_agree(rng: np.random.Generator) -> None:
    waveforms = np.stack([noise(rng, 9000, 0.3), noise(rng, 9000, 0.01), noise(rng, 9000, 0.5)])
    drawn = params([2, 0, 1], [3000, 4000, 0], [100, 5000, 0], [6000, 0, 0], [-5.0, 5.0, 0.0])
    mixed_numpy, applied_numpy = energy_adaptive_mix(waveforms, drawn)
    mixed_torch, applied_torch = energy_adaptive_mix(torch.from_numpy(waveforms), drawn)
    np.testing.assert_allclose(mixed_torch.numpy(), mixed_numpy, atol=1e-6)
    np.testing.assert_array_equal(applied_numpy, applied_torch)


def test_silent_partner_and_silent_segment_are_skipped() -> None:
    speech = tone(1.0, 220.0)
    half_silent = np.concatenate([np.zeros(8000, np.float32), tone(0.5, 330.0)])
    waveforms = np.stack([speech, np.zeros(16000, np.float32), half_silent])
    # row 0 takes from the silent clip, row 1 is silent, row 2's own segment lies in its silence
    drawn = params([1, 0, 0], [4000, 4000, 4000], [0, 0, 1000], [0, 0, 0], [0.0, 0.0, 0.0])
    mixed, applied = energy_adaptive_mix(waveforms, drawn)
    np.testing.assert_array_equal(applied, [False, False, False])
    np.testing.assert_array_equal(mixed, waveforms)
    collator = EnergyAdaptiveMixupCollator(
        2, p=1.0, seed=0, normalize=False, min_length_samples=100
    )
    batch = collator(
        [{"audio": speech, "label": 0}, {"audio": np.zeros(16000, np.float32), "label": 1}]
    )
    np.testing.assert_array_equal(collator.last_applied, [False, False])
    np.testing.assert_array_equal(batch["soft_targets"].numpy(), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(batch["input_values"][0].numpy(), speech)


def test_clipping_policy_scales_clip_to_peak_one() -> None:
    quiet_partner, loud = tone(1.0, 330.0, amplitude=0.9), tone(1.0, 220.0, amplitude=0.9)
    waveforms = np.stack([loud, quiet_partner])
    # s = -5 dB: the partner is added louder than the segment itself, peaks exceed 1.0
    drawn = params([1, 0], [4000, 0], [2000, 0], [0, 0], [-5.0, 0.0])
    for mixed in (
        energy_adaptive_mix(waveforms, drawn)[0],
        energy_adaptive_mix(torch.from_numpy(waveforms), drawn)[0].numpy(),
    ):
        assert np.abs(mixed[0]).max() == pytest.approx(1.0, abs=1e-6)
        audible = np.abs(loud[:2000]) > 0.1
        gain = mixed[0, :2000][audible] / loud[:2000][audible]
        assert np.ptp(gain) < 1e-5 and gain[0] < 1.0
        rescaled_original = loud * gain[0]
        assert segment_snr_db(rescaled_original, mixed[0], 2000, 4000) == pytest.approx(
            -5.0, abs=0.05
        )


def test_partner_equal_to_itself() -> None:
    clip = tone(1.0, 220.0, amplitude=0.3)
    transform = EnergyAdaptiveMixup([clip], p=1.0, seed=0)
    mixed = transform(clip, 16000)
    drawn = transform.parameters
    assert drawn["mixed"] and drawn["partner_index"] == 0
    assert segment_snr_db(clip, mixed, drawn["start"], drawn["mix_length"]) == pytest.approx(
        drawn["snr_db"], abs=0.05
    )
    # the same segment on both sides: x_seg * (1 + 10^(-s/20))
    same = params([0], [4000], [1000], [1000], [6.0])
    mixed, _ = energy_adaptive_mix(clip[None], same, clip[None])
    np.testing.assert_allclose(
        mixed[0, 1000:5000], clip[1000:5000] * (1 + 10 ** (-6 / 20)), atol=1e-6
    )


# ---------------------------------------------------------------- collator


def features_of(waveforms, labels):
    return [{"audio": w, "label": y} for w, y in zip(waveforms, labels, strict=True)]


def test_collator_soft_labels_follow_the_formula(rng: np.random.Generator) -> None:
    lengths = [16000, 24000, 32000, 40000, 20000]
    waveforms = [noise(rng, n) for n in lengths]
    labels = [0, 1, 2, 3, 1]
    for label_mode in ("energy", "length", "hard"):
        collator = EnergyAdaptiveMixupCollator(4, p=1.0, seed=5, label_mode=label_mode)
        batch = collator(features_of(waveforms, labels))
        drawn = collator.last_parameters
        assert collator.last_applied.all()
        weight = partner_label_weight(drawn.mix_length, lengths, drawn.snr_db, label_mode)
        expected = (1 - weight[:, None]) * one_hot(labels, 4) + weight[:, None] * one_hot(
            np.array(labels)[drawn.partner_index], 4
        )
        np.testing.assert_allclose(batch["soft_targets"].numpy(), expected, atol=1e-6)
        np.testing.assert_allclose(batch["soft_targets"].sum(1).numpy(), 1.0, atol=1e-6)
        np.testing.assert_array_equal(batch["labels"].numpy(), labels)
        assert batch["soft_targets"].argmax(1).tolist() == labels or label_mode == "length"
        if label_mode != "hard":
            assert np.all(weight > 0) and np.all(weight <= 0.5)


def test_collator_output_shapes_and_normalization_match_wav2vec2(rng: np.random.Generator) -> None:
    waveforms = [noise(rng, n, 0.2) + 0.05 for n in (8000, 12000, 16001)]
    batch = EnergyAdaptiveMixupCollator(3, seed=0).eval()(features_of(waveforms, [0, 1, 2]))
    reference = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)(
        waveforms, sampling_rate=16000, padding=True, return_tensors="pt"
    )
    assert (
        batch["input_values"].shape == (3, 16001) and batch["input_values"].dtype == torch.float32
    )
    assert batch["attention_mask"].dtype == torch.int64 and batch["labels"].dtype == torch.int64
    np.testing.assert_array_equal(batch["attention_mask"].sum(1).numpy(), [8000, 12000, 16001])
    np.testing.assert_allclose(
        batch["input_values"].numpy(), reference["input_values"].numpy(), atol=1e-5
    )
    np.testing.assert_array_equal(
        batch["attention_mask"].numpy(), reference["attention_mask"].numpy()
    )
    assert batch["input_values"][0, 8000:].abs().max() == 0


def test_p0_and_eval_mode_return_inputs_unchanged(rng: np.random.Generator) -> None:
    waveforms = [noise(rng, n) for n in (8000, 16000, 12000)]
    features = features_of(waveforms, [2, 0, 1])
    zero_p = EnergyAdaptiveMixupCollator(3, p=0.0, seed=0, normalize=False)
    mixing = EnergyAdaptiveMixupCollator(3, p=1.0, seed=0, normalize=False)
    evaluating = mixing.as_eval()
    assert mixing.training and not evaluating.training
    for collator in (
        zero_p,
        evaluating,
        EnergyAdaptiveMixupCollator(3, p=1.0, normalize=False).eval(),
    ):
        batch = collator(features)
        for row, waveform in enumerate(waveforms):
            np.testing.assert_array_equal(
                batch["input_values"][row, : waveform.size].numpy(), waveform
            )
        np.testing.assert_array_equal(batch["soft_targets"].numpy(), one_hot([2, 0, 1], 3))
    assert not np.array_equal(mixing(features)["input_values"][0, :8000].numpy(), waveforms[0])
    assert mixing.train() is mixing and mixing.eval() is mixing and not mixing.training


def test_same_seed_same_batch(rng: np.random.Generator) -> None:
    features = features_of([noise(rng, n) for n in (16000, 20000, 24000, 30000)], [0, 1, 0, 1])
    first = [EnergyAdaptiveMixupCollator(2, p=0.7, seed=11)(features) for _ in range(2)]
    other = EnergyAdaptiveMixupCollator(2, p=0.7, seed=12)(features)
    for key in first[0]:
        torch.testing.assert_close(first[0][key], first[1][key], rtol=0, atol=0)
    assert not torch.equal(first[0]["input_values"], other["input_values"])


def test_state_dict_round_trip_gives_the_same_next_batch(rng: np.random.Generator) -> None:
    features = features_of([noise(rng, n) for n in (16000, 20000, 24000, 30000)], [0, 1, 0, 1])
    original = EnergyAdaptiveMixupCollator(2, p=0.7, seed=11)
    original(features)
    before_evaluation = original.state_dict()
    original.as_eval()(features)
    # Evaluating through a copy does not move the training stream.
    assert original.state_dict() == before_evaluation
    state = json.loads(json.dumps(original.state_dict()))
    assert state["seed"] == 11 and state["bit_generator"]["bit_generator"] == "PCG64"
    expected = original(features)

    restored = EnergyAdaptiveMixupCollator(2, p=0.7, seed=99)
    restored.load_state_dict(state)
    assert restored.seed == 11
    batch = restored(features)
    for key in expected:
        torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)
    np.testing.assert_array_equal(restored.last_parameters.snr_db, original.last_parameters.snr_db)
    assert restored.state_dict() == original.state_dict()

    with pytest.raises(ValueError, match="bit_generator"):
        restored.load_state_dict({"seed": 11})
    mersenne = {"seed": 11, "bit_generator": np.random.MT19937(0).state}
    with pytest.raises(ValueError, match="MT19937"):
        restored.load_state_dict(mersenne)


def test_batch_of_one_and_short_clips_are_not_mixed(rng: np.random.Generator) -> None:
    collator = EnergyAdaptiveMixupCollator(2, p=1.0, seed=0, normalize=False)
    clip = noise(rng, 16000)
    batch = collator([{"audio": clip, "label": 1}])
    np.testing.assert_array_equal(batch["input_values"][0].numpy(), clip)
    np.testing.assert_array_equal(batch["soft_targets"].numpy(), [[0, 1]])
    short = [noise(rng, 3000), noise(rng, 16000)]  # 0.5 * 3000 < 1600 samples
    batch = collator(features_of(short, [0, 1]))
    np.testing.assert_array_equal(collator.last_applied, [False, False])
    np.testing.assert_array_equal(batch["soft_targets"].numpy(), [[1, 0], [0, 1]])


def test_collator_accepts_lists_paths_input_values_and_str_labels(tmp_path: Path, rng) -> None:
    clip = noise(rng, 8000)
    path = tmp_path / "clip.wav"
    soundfile.write(path, clip, 16000, subtype="FLOAT")
    collator = EnergyAdaptiveMixupCollator(
        2, seed=0, normalize=False, label2id={"neutral": 0, "anger": 1}, label_column="emotion"
    ).eval()
    batch = collator(
        [
            {"audio": clip.tolist(), "emotion": "anger"},
            {"audio": str(path), "emotion": "neutral"},
            {"input_values": clip, "labels": 1},
        ]
    )
    for row in range(3):
        np.testing.assert_allclose(batch["input_values"][row].numpy(), clip, atol=1e-7)
    np.testing.assert_array_equal(batch["labels"].numpy(), [1, 0, 1])


def test_collator_errors_name_the_feature(rng: np.random.Generator) -> None:
    collator = EnergyAdaptiveMixupCollator(2, label2id={"a": 0})
    clip = noise(rng, 100)
    with pytest.raises(ValueError, match=r"features\[1\]\['label'\]: unknown label 'b'"):
        collator([{"audio": clip, "label": "a"}, {"audio": clip, "label": "b"}])
    with pytest.raises(ValueError, match=r"features\[0\]\['label'\]: label 5 is outside \[0, 2\)"):
        collator([{"audio": clip, "label": 5}])
    with pytest.raises(ValueError, match=r"features\[0\]\['audio'\]: all samples are NaN/inf"):
        collator([{"audio": np.full(10, np.nan), "label": 0}])
    with pytest.raises(ValueError, match=r"features\[0\]: no audio"):
        collator([{"label": 0}])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 1.5}, "p .probability"),
        ({"min_snr_db": 6.0}, "min_snr_db must be <= max_snr_db"),
        ({"max_mix_fraction": 0.0}, r"max_mix_fraction .* must be in \(0, 1\]"),
        ({"max_mix_fraction": 1.5}, r"max_mix_fraction .* must be in \(0, 1\]"),
        ({"label_mode": "soft"}, "label_mode must be one of"),
        ({"min_length_samples": 0}, "min_length_samples"),
    ],
)
def test_invalid_settings_are_named(kwargs: dict, message: str) -> None:
    for build in (
        lambda: EnergyAdaptiveMixupCollator(3, **kwargs),
        lambda: EnergyAdaptiveMixupMap(3, **kwargs),
        lambda: EnergyAdaptiveMixup([np.ones(10, np.float32)], **kwargs),
    ):
        with pytest.raises(ValueError, match=message):
            build()


def test_collator_feeds_a_tiny_wavlm(rng: np.random.Generator) -> None:
    torch.manual_seed(0)
    config = tiny_wavlm_config(classifier_proj_size=16, num_labels=4)
    model = WavLMForSequenceClassification(config).eval()
    collator = EnergyAdaptiveMixupCollator(4, p=1.0, seed=0)
    batch = collator(features_of([noise(rng, n) for n in (4000, 6400, 5000)], [0, 3, 2]))
    with torch.no_grad():
        output = model(
            input_values=batch["input_values"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        )
    assert output.logits.shape == (3, 4)
    assert torch.isfinite(output.loss)


def test_whisper_features_are_computed_after_mixing_up_to_the_longest_clip(rng) -> None:
    extractor = WhisperFeatureExtractor()
    waveforms = [noise(rng, n) for n in (16000, 24000, 8000)]
    features = features_of(waveforms, [0, 1, 2])
    collator = EnergyAdaptiveMixupCollator(3, p=1.0, seed=4, feature_extractor=extractor)
    batch = collator(features)
    assert set(batch) == {"input_features", "attention_mask", "labels", "soft_targets"}
    assert batch["input_features"].shape == (3, 80, 150)  # 24000 samples / hop 160, not 3000
    np.testing.assert_array_equal(batch["attention_mask"].sum(1).numpy(), [100, 150, 50])
    assert batch["attention_mask"].dtype == torch.int64
    # the same draw on raw waveforms, then the extractor: mixing happened before the features
    raw = EnergyAdaptiveMixupCollator(3, p=1.0, seed=4, normalize=False)(features)["input_values"]
    mixed = [raw[row, : w.size].numpy() for row, w in enumerate(waveforms)]
    expected = extractor(mixed, sampling_rate=16000, padding="longest", return_tensors="pt")
    torch.testing.assert_close(batch["input_features"], expected["input_features"])
    unmixed = extractor(waveforms, sampling_rate=16000, padding="longest", return_tensors="pt")
    assert not torch.allclose(batch["input_features"], unmixed["input_features"])


def test_whisper_pretrained_extractor_loads(whisper_tiny_dir: Path, rng) -> None:
    extractor = WhisperFeatureExtractor.from_pretrained(whisper_tiny_dir)
    collator = EnergyAdaptiveMixupCollator(2, seed=0, feature_extractor=extractor)
    batch = collator(features_of([noise(rng, 16000), noise(rng, 32000)], [0, 1]))
    assert batch["input_features"].shape == (2, extractor.feature_size, 200)


# ---------------------------------------------------------------- transform, map, the three shapes


def test_transform_composes_and_records_parameters(rng: np.random.Generator) -> None:
    pool = [noise(rng, 16000, 0.2), noise(rng, 24000, 0.1)]
    clip = tone(1.0, 220.0, amplitude=0.1)
    transform = EnergyAdaptiveMixup(pool, pool_labels=[3, 5], p=1.0, seed=2, label_mode="energy")
    augmented = Compose([transform, Gain(min_gain_db=0.0, max_gain_db=0.0, p=1.0)])(clip, 16000)
    drawn = transform.parameters
    assert augmented.shape == clip.shape and augmented.dtype == np.float32
    assert drawn["mixed"] and drawn["partner_label"] == [3, 5][drawn["partner_index"]]
    assert drawn["partner_label_weight"] == pytest.approx(
        drawn["mix_length"] / 16000 / (1 + 10 ** (drawn["snr_db"] / 10))
    )
    assert segment_snr_db(clip, augmented, drawn["start"], drawn["mix_length"]) == pytest.approx(
        drawn["snr_db"], abs=0.05
    )
    transform.freeze_parameters()
    np.testing.assert_array_equal(transform(clip, 16000), augmented)
    assert "pool_size=2" in repr(transform)
    skipped = EnergyAdaptiveMixup(pool, p=0.0, seed=0)
    np.testing.assert_array_equal(skipped(clip, 16000), clip)
    assert skipped.parameters["partner_label_weight"] == 0.0


def test_transform_same_seed_same_output(rng: np.random.Generator) -> None:
    pool = [noise(rng, 20000) for _ in range(4)]
    clip = noise(rng, 16000)
    outputs = [EnergyAdaptiveMixup(pool, p=0.8, seed=9)(clip, 16000) for _ in range(2)]
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_three_shapes_agree_for_the_same_draw(rng: np.random.Generator) -> None:
    waveforms = [noise(rng, n, 0.1 * (k + 1)) for k, n in enumerate((16000, 20000, 12000, 24000))]
    labels = [0, 1, 2, 1]
    mapper = EnergyAdaptiveMixupMap(3, p=1.0, seed=21, label_mode="length")
    mapped = mapper({"audio": waveforms, "label": labels}, indices=[40, 41, 42, 43])
    collator = EnergyAdaptiveMixupCollator(3, p=1.0, normalize=False, label_mode="length")
    collator.generator = np.random.default_rng([21, 40])  # the map's generator for this batch
    batch = collator(features_of(waveforms, labels))
    drawn = collator.last_parameters
    for row, waveform in enumerate(waveforms):
        np.testing.assert_array_equal(
            mapped["mixed_audio"][row], batch["input_values"][row, : waveform.size]
        )
        partner = int(drawn.partner_index[row])
        transform = EnergyAdaptiveMixup(
            [waveforms[partner]], pool_labels=[labels[partner]], p=1.0, label_mode="length"
        )
        transform.parameters.update(
            should_apply=True,
            partner_index=0,
            mix_length=int(drawn.mix_length[row]),
            start=int(drawn.start[row]),
            partner_start=int(drawn.partner_start[row]),
            snr_db=float(drawn.snr_db[row]),
        )
        transform.freeze_parameters()
        np.testing.assert_array_equal(transform(waveform, 16000), mapped["mixed_audio"][row])
        soft = mix_soft_labels(
            [labels[row]], [labels[partner]], [transform.parameters["partner_label_weight"]], 3
        )
        np.testing.assert_allclose(soft[0], mapped["soft_targets"][row], atol=1e-7)
    np.testing.assert_allclose(
        np.stack(mapped["soft_targets"]), batch["soft_targets"].numpy(), atol=0
    )


def test_map_on_a_flac_dataset_with_num_proc(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = []
    for k in range(4):
        path = tmp_path / f"{k}.flac"
        soundfile.write(path, noise(rng, 8000 + 4000 * k, 0.2), 8000, subtype="PCM_16")
        paths.append(str(path))
    dataset = Dataset.from_dict({"audio": paths, "label": [0, 1, 1, 0]}).cast_column(
        "audio", Audio(decode=False)
    )
    mapper = EnergyAdaptiveMixupMap(2, p=1.0, seed=1)
    single = dataset.map(mapper, batched=True, batch_size=2, with_indices=True)
    double = dataset.map(mapper, batched=True, batch_size=2, with_indices=True, num_proc=2)
    assert single.column_names == ["audio", "label", "mixed_audio", "soft_targets"]
    for one, two, path in zip(single, double, paths, strict=True):
        assert len(one["mixed_audio"]) == 2 * soundfile.info(path).frames  # resampled 8 -> 16 kHz
        np.testing.assert_array_equal(one["mixed_audio"], two["mixed_audio"])
        np.testing.assert_allclose(sum(one["soft_targets"]), 1.0, atol=1e-6)
    assert any(row["soft_targets"][0] not in (0.0, 1.0) for row in single)
    # the same decode=False dataset as a transform pool and as collator input
    transform = EnergyAdaptiveMixup(dataset, p=1.0, seed=0)
    transform(noise(rng, 16000), 16000)
    assert (
        transform.parameters["partner_label"]
        == dataset[transform.parameters["partner_index"]]["label"]
    )
    batch = EnergyAdaptiveMixupCollator(2, p=1.0, seed=0)(list(dataset))
    assert batch["input_values"].shape == (4, 40000)


def test_map_errors_name_the_row() -> None:
    mapper = EnergyAdaptiveMixupMap(2)
    with pytest.raises(ValueError, match=r"row 8 'audio': empty audio"):
        mapper({"audio": [np.ones(10), np.zeros(0)], "label": [0, 1]}, indices=[7, 8])
    with pytest.raises(ValueError, match=r"batch has no column 'audio'"):
        mapper({"speech": [np.ones(10)], "label": [0]})


# ---------------------------------------------------------------- fuzz


clip_strategy = st.tuples(
    st.integers(min_value=1, max_value=3000),
    st.sampled_from([0.0, 1e-8, 0.01, 0.5, 1.0, 4.0]),
    st.integers(min_value=0, max_value=2**16),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clips=st.lists(clip_strategy, min_size=1, max_size=6),
    seed=st.integers(min_value=0, max_value=2**16),
    snr=st.tuples(st.floats(-30, 30), st.floats(0, 30)),
    max_mix_fraction=st.floats(0.01, 1.0),
    label_mode=st.sampled_from(["energy", "length", "hard"]),
)
def test_fuzz_never_produces_nan_or_inf(clips, seed, snr, max_mix_fraction, label_mode) -> None:
    waveforms = [
        (amplitude * np.random.default_rng(clip_seed).standard_normal(length)).astype(np.float32)
        for length, amplitude, clip_seed in clips
    ]
    labels = [k % 3 for k in range(len(clips))]
    min_snr_db, max_snr_db = snr[0], snr[0] + snr[1]
    collator = EnergyAdaptiveMixupCollator(
        3,
        p=1.0,
        seed=seed,
        min_snr_db=min_snr_db,
        max_snr_db=max_snr_db,
        max_mix_fraction=max_mix_fraction,
        label_mode=label_mode,
        min_length_samples=1,
        normalize=False,
    )
    batch = collator(features_of(waveforms, labels))
    values = batch["input_values"].numpy()
    assert np.isfinite(values).all() and np.isfinite(batch["soft_targets"].numpy()).all()
    np.testing.assert_allclose(batch["soft_targets"].sum(1).numpy(), 1.0, atol=1e-6)
    peak_in = max(float(np.abs(w).max()) for w in waveforms)
    assert np.abs(values).max() <= max(1.0, peak_in) + 1e-6
    normalized = EnergyAdaptiveMixupCollator(3, p=1.0, seed=seed, min_length_samples=1)
    assert torch.isfinite(normalized(features_of(waveforms, labels))["input_values"]).all()
    transform = EnergyAdaptiveMixup(waveforms, p=1.0, seed=seed, min_length_samples=1)
    assert np.isfinite(transform(waveforms[0], 16000)).all()


def test_dataloader_workers_get_their_own_repeatable_generator(monkeypatch, rng) -> None:
    features = features_of([noise(rng, 16000), noise(rng, 20000), noise(rng, 18000)], [0, 1, 2])
    main_process = EnergyAdaptiveMixupCollator(3, p=1.0, seed=8)
    built_in_main = EnergyAdaptiveMixupCollator(3, p=1.0, seed=8)
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: type("Info", (), {"id": 1})())
    # A copy built in the main process and called in worker 1 re-seeds to (seed, rank 0, 2).
    worker_batch = built_in_main(features)
    reference = EnergyAdaptiveMixupCollator(3, p=1.0)
    reference.generator = np.random.default_rng([8, 0, 2])
    monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda: None)
    reference._stream_key = (0, 0)
    torch.testing.assert_close(worker_batch["input_values"], reference(features)["input_values"])
    main_batch = main_process(features)
    assert not torch.equal(worker_batch["input_values"], main_batch["input_values"])
    # The main process of rank 0 draws exactly what the seed alone gives.
    plain = EnergyAdaptiveMixupCollator(3, p=1.0)
    plain.generator = np.random.default_rng(8)
    torch.testing.assert_close(main_batch["input_values"], plain(features)["input_values"])


def test_each_process_rank_draws_its_own_stream(monkeypatch, rng) -> None:
    """torchrun sets RANK before the process group exists; ranks must not repeat each other."""
    features = features_of([noise(rng, 16000), noise(rng, 20000), noise(rng, 18000)], [0, 1, 2])
    batches = {}
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        assert process_stream_key() == (int(rank), 0)
        batches[rank] = EnergyAdaptiveMixupCollator(3, p=1.0, seed=0)(features)["input_values"]
        again = EnergyAdaptiveMixupCollator(3, p=1.0, seed=0)(features)["input_values"]
        torch.testing.assert_close(batches[rank], again)
    assert not torch.equal(batches["0"], batches["1"])
    expected = EnergyAdaptiveMixupCollator(3, p=1.0)
    expected.generator = stream_generator(0, (1, 0))
    expected._stream_key = (1, 0)
    torch.testing.assert_close(batches["1"], expected(features)["input_values"])
    # The transform follows the same rule.
    pool = [noise(rng, 16000), noise(rng, 16000)]
    draws = {}
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        transform = EnergyAdaptiveMixup(pool, p=1.0, seed=3)
        transform.randomize_parameters(noise(rng, 16000), 16000)
        draws[rank] = (transform.parameters["snr_db"], transform.parameters["start"])
    assert draws["0"] != draws["1"]


def test_transform_copies_in_dataloader_workers_draw_different_mixes(rng) -> None:
    pool = [noise(rng, 16000) for _ in range(4)]
    transform = EnergyAdaptiveMixup(pool, p=1.0, seed=5)

    class Clips(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, index: int) -> float:
            transform.randomize_parameters(pool[index], 16000)
            return transform.parameters["snr_db"]

    loader = torch.utils.data.DataLoader(Clips(), batch_size=2, num_workers=2)
    first_batches = [batch.tolist() for batch in loader]
    # Worker 0 builds batch 0 and worker 1 batch 1, each from its own stream.
    assert first_batches[0] != first_batches[1]
    assert first_batches == [batch.tolist() for batch in loader]


def test_map_refuses_to_repeat_draws_in_shard_processes(tmp_path, rng) -> None:
    dataset = Dataset.from_dict(
        {"audio": [noise(rng, 8000) for _ in range(8)], "label": [0, 1] * 4}
    )
    mix = EnergyAdaptiveMixupMap(2, p=1.0, seed=0)
    with pytest.raises(ValueError, match="with_indices=True"):
        dataset.map(mix, batched=True, batch_size=2, num_proc=2)
    sharded = dataset.map(mix, batched=True, batch_size=2, num_proc=2, with_indices=True)
    single = dataset.map(mix, batched=True, batch_size=2, with_indices=True)
    assert sharded["soft_targets"] == single["soft_targets"]
    # Every shard draws its own mixes: the SNR-dependent soft labels differ between batches.
    weights = [round(row[1], 6) for row in sharded["soft_targets"][0::2]]
    assert len(set(weights)) == len(weights)


def test_transform_scales_integer_pcm_whether_or_not_it_applies(rng: np.random.Generator) -> None:
    pcm = (rng.normal(0, 0.1, 8000) * 32768).astype(np.int16)
    expected = pcm.astype(np.float32) / 32768.0
    pool = [rng.normal(0, 0.1, 8000).astype(np.float32)]
    skipped = EnergyAdaptiveMixup(pool, p=0.0, seed=0)(pcm, 16000)
    assert skipped.dtype == np.float32
    np.testing.assert_allclose(skipped, expected)
    applied = EnergyAdaptiveMixup(pool, p=1.0, seed=0)
    mixed = applied(pcm, 16000)
    start, length = applied.parameters["start"], applied.parameters["mix_length"]
    assert mixed.dtype == np.float32 and length > 0
    np.testing.assert_allclose(mixed[:start], expected[:start])


def test_transform_refuses_a_bad_pool_when_built_and_decodes_its_partner_once(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eam_ser.mixup as mixup_module

    good = tmp_path / "good.wav"
    soundfile.write(good, rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really")
    with pytest.raises(ValueError, match=r"pool\[1\]: unreadable audio file .*broken.wav"):
        EnergyAdaptiveMixup([good, tmp_path / "broken.wav"], p=1.0)
    with pytest.raises(ValueError, match=r"pool\[0\].*NaN"):
        EnergyAdaptiveMixup([np.full(100, np.nan, np.float32)], p=1.0)
    decoded = []
    original = mixup_module.load_audio
    monkeypatch.setattr(
        mixup_module,
        "load_audio",
        lambda source, *a, **k: decoded.append(k.get("name")) or original(source, *a, **k),
    )
    transform = EnergyAdaptiveMixup([good], p=1.0, seed=0)
    transform(rng.normal(0, 0.1, 12000).astype(np.float32), 16000)
    assert decoded.count("pool[0]") == 1  # drawn in randomize_parameters, reused by apply


def test_map_passes_an_empty_batch_through() -> None:
    mix = EnergyAdaptiveMixupMap(num_labels=3, seed=0)
    assert mix({"audio": [], "label": []}, indices=[]) == {"mixed_audio": [], "soft_targets": []}
    assert mix({"audio": [], "label": []}) == {"mixed_audio": [], "soft_targets": []}
