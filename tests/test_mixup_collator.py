"""Tests of eam_ser.mixup.collator: the EAM collator, its random streams and its device half."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import (
    Wav2Vec2FeatureExtractor,
    WavLMForSequenceClassification,
    WhisperFeatureExtractor,
)

import eam_ser.data.collator as collator_module
import eam_ser.mixup.collator as mixup_collator
from conftest import tiny_wavlm_config
from eam_ser.data.collator import AudioCollator
from eam_ser.mixup import core
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.mixup.core import one_hot, partner_label_weight
from eam_ser.mixup.streams import process_stream_key, stream_generator
from eam_ser.mixup.transform import EnergyAdaptiveMixup
from mixup_helpers import features_of, noise


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
        np.testing.assert_allclose(batch["soft_labels"].numpy(), expected, atol=1e-6)
        np.testing.assert_allclose(batch["soft_labels"].sum(1).numpy(), 1.0, atol=1e-6)
        np.testing.assert_array_equal(batch["labels"].numpy(), labels)
        assert batch["soft_labels"].argmax(1).tolist() == labels or label_mode == "length"
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
        np.testing.assert_array_equal(batch["soft_labels"].numpy(), one_hot([2, 0, 1], 3))
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
    np.testing.assert_array_equal(batch["soft_labels"].numpy(), [[0, 1]])
    short = [noise(rng, 3000), noise(rng, 16000)]  # 0.5 * 3000 < 1600 samples
    batch = collator(features_of(short, [0, 1]))
    np.testing.assert_array_equal(collator.last_applied, [False, False])
    np.testing.assert_array_equal(batch["soft_labels"].numpy(), [[1, 0], [0, 1]])


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
    assert set(batch) == {"input_features", "attention_mask", "labels", "soft_labels"}
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
    assert np.isfinite(values).all() and np.isfinite(batch["soft_labels"].numpy()).all()
    np.testing.assert_allclose(batch["soft_labels"].sum(1).numpy(), 1.0, atol=1e-6)
    peak_in = max(float(np.abs(w).max()) for w in waveforms)
    assert np.abs(values).max() <= max(1.0, peak_in) + 1e-6
    normalized = EnergyAdaptiveMixupCollator(3, p=1.0, seed=seed, min_length_samples=1)
    assert torch.isfinite(normalized(features_of(waveforms, labels))["input_values"]).all()
    if not any(np.any(w) for w in waveforms):  # a pool of silence would never mix: refused
        with pytest.raises(ValueError, match="partner clips are silent"):
            EnergyAdaptiveMixup(waveforms, p=1.0, seed=seed, min_length_samples=1)
        return
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
    reference.stream.key = (0, 0)
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
    expected.stream.key = (1, 0)
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


def collate_both_ways(features, **settings):
    host = EnergyAdaptiveMixupCollator(3, p=1.0, seed=7, min_length_samples=160, **settings)
    device = EnergyAdaptiveMixupCollator(
        3, p=1.0, seed=7, min_length_samples=160, mix_on_device=True, **settings
    )
    return host(features), device, device(features)


@pytest.mark.parametrize("normalize", [True, False])
def test_mix_on_device_gives_the_batch_the_collator_would_have_mixed(rng, normalize):
    waveforms = [noise(rng, n) for n in (8000, 6000, 9000, 7000)]
    waveforms[2] = np.zeros(9000, np.float32)  # silent: not mixed, one-hot soft label
    waveforms[1] = waveforms[1] * 9.0  # loud: the clipping policy rescales its mix
    host, device_collator, drawn = collate_both_ways(
        features_of(waveforms, [0, 1, 2, 0]), normalize=normalize
    )
    assert set(drawn) == {
        "input_values", "attention_mask", "labels", "mix_partner_index", "mix_length",
        "mix_start", "mix_partner_start", "mix_snr_db",
    }  # fmt: skip
    completed = device_collator.complete_on_device(drawn)
    assert set(completed) == set(host)
    for key in ("attention_mask", "labels"):
        torch.testing.assert_close(completed[key], host[key], rtol=0, atol=0)
    torch.testing.assert_close(completed["soft_labels"], host["soft_labels"])
    assert host["soft_labels"][2].tolist() == [0.0, 0.0, 1.0]
    torch.testing.assert_close(
        completed["input_values"], host["input_values"], rtol=1e-5, atol=1e-5
    )
    # Evaluation batches are complete already.
    plain = device_collator.as_eval()(features_of(waveforms, [0, 1, 2, 0]))
    assert device_collator.complete_on_device(plain).keys() == plain.keys()


def test_mix_on_device_computes_whisper_features_like_the_extractor(rng):
    waveforms = [noise(rng, n) for n in (8000, 6400, 7200)]
    host, device_collator, drawn = collate_both_ways(
        features_of(waveforms, [0, 1, 2]), feature_extractor=WhisperFeatureExtractor()
    )
    completed = device_collator.complete_on_device(drawn)
    assert completed["input_features"].shape == host["input_features"].shape == (3, 80, 50)
    torch.testing.assert_close(
        completed["input_features"], host["input_features"], rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(completed["attention_mask"], host["attention_mask"], rtol=0, atol=0)
    torch.testing.assert_close(completed["soft_labels"], host["soft_labels"])


def test_multi_loss_trainer_mixes_on_the_device_and_trains_like_the_host_path(tmp_path):
    from eam_ser.training.trainer import MultiLossTrainer
    from test_trainer import NUM_LABELS, tiny_flam, tone_dataset, training_args

    losses = {}
    for on_device in (False, True):
        collator = EnergyAdaptiveMixupCollator(
            NUM_LABELS, p=1.0, seed=0, min_length_samples=80, mix_on_device=on_device
        )
        trainer = MultiLossTrainer(
            model=tiny_flam(),
            args=training_args(
                tmp_path / str(on_device), per_device_train_batch_size=6, max_steps=4
            ),
            train_dataset=tone_dataset(24, seed=0),
            data_collator=collator,
        )
        trainer.train()
        losses[on_device] = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses[True]) == 4
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)


# ---------------------------------------------------------------- composition


@pytest.mark.parametrize("extractor", [None, "whisper"])
@pytest.mark.parametrize("normalize", [True, False])
def test_unmixed_batch_is_the_audio_collators_batch(rng, extractor, normalize) -> None:
    """One padding and featurizing path: with p = 0 the EAM collator gives exactly what the
    `AudioCollator` it holds gives."""
    feature_extractor = WhisperFeatureExtractor() if extractor else None
    features = features_of([noise(rng, n) for n in (8000, 12000, 5000)], [2, 0, 1])
    mixer = EnergyAdaptiveMixupCollator(
        3, p=0.0, seed=0, normalize=normalize, feature_extractor=feature_extractor
    )
    plain = AudioCollator(feature_extractor, normalize=normalize, num_labels=3)
    assert isinstance(mixer.audio, AudioCollator) and not isinstance(mixer, AudioCollator)
    for batch in (mixer(features), mixer.as_eval()(features)):
        expected = plain(features)
        assert set(batch) == set(expected)
        for key in expected:
            torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)
    # Every collator pads with the one function.
    assert core.pad_waveforms is mixup_collator.pad_waveforms is collator_module.pad_waveforms


def test_audio_settings_are_read_and_written_through_the_audio_collator() -> None:
    mixer = EnergyAdaptiveMixupCollator(
        2, label2id={"a": 0, "b": 1}, label_column="emotion", sampling_rate=8000
    )
    assert (mixer.num_labels, mixer.label2id, mixer.label_column, mixer.sampling_rate) == (
        2,
        {"a": 0, "b": 1},
        "emotion",
        8000,
    )
    extractor = WhisperFeatureExtractor()
    mixer.feature_extractor = extractor
    assert mixer.audio.feature_extractor is extractor
    assert mixer.seed == mixer.stream.seed and mixer.generator is mixer.stream.generator
    assert set(vars(mixer)) == {
        "settings", "audio", "stream", "mix_on_device", "max_train_samples", "training",
        "last_parameters", "last_applied",
    }  # fmt: skip


def test_audio_options_reach_the_audio_collator_and_the_rest_are_eam_settings() -> None:
    """`AUDIO_OPTIONS` go to the composed `AudioCollator`, the other keywords replace EAM
    settings, and a keyword that is neither is refused naming the EAM settings."""
    from eam_ser.data.collator import AUDIO_OPTIONS

    assert AUDIO_OPTIONS == (
        "sampling_rate",
        "normalize",
        "audio_column",
        "label_column",
        "label2id",
    )
    collator = EnergyAdaptiveMixupCollator(
        2, sampling_rate=8000, normalize=False, audio_column="wav", label2id={"a": 0, "b": 1}, p=0.3
    )
    assert collator.audio.sampling_rate == 8000 and collator.sampling_rate == 8000
    assert collator.audio.normalize is False and collator.audio.audio_column == "wav"
    assert collator.audio.label2id == {"a": 0, "b": 1} and collator.settings.p == 0.3
    with pytest.raises(TypeError, match="the EAM settings are"):
        EnergyAdaptiveMixupCollator(2, sampling_rat=8000)
