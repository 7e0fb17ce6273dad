"""Issue 32, point 1: the frozen-encoder feature cache on disk (`EncoderFeatureCache` with
`cache_dir`): the same frames as in memory, reused by a later run, rebuilt when the audio or
the encoder changes, float16 within its precision, and the same trained model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import eam_ser.training.feature_cache as feature_cache
from eam_ser.corpora import load_manifest
from eam_ser.experiment.build import build_feature_extractor
from eam_ser.experiment.config import ExperimentConfig
from eam_ser.experiment.crossval import train_model
from eam_ser.inference.evaluation import predict_logits
from eam_ser.training.feature_cache import EncoderFeatureCache, feature_cache_key
from test_crossval import write_tone_corpus
from test_training_options import frozen_deterministic_config, tiny_model


@pytest.fixture
def setup(tmp_path: Path):
    torch.manual_seed(0)
    model = tiny_model(freeze_encoder_steps=-1).eval()
    extractor = build_feature_extractor(ExperimentConfig())
    (tmp_path / "corpus").mkdir()
    dataset = load_manifest(write_tone_corpus(tmp_path / "corpus"))
    return model, extractor, dataset


def test_the_disk_cache_holds_the_frames_of_the_memory_cache(setup, tmp_path):
    model, extractor, dataset = setup
    memory = EncoderFeatureCache(model, extractor, dataset, 4, keep_waveforms=True)
    disk = EncoderFeatureCache(
        model, extractor, dataset, 4, keep_waveforms=True, cache_dir=tmp_path / "cache"
    )
    assert len(disk) == len(memory) == dataset.num_rows
    for row in range(len(memory)):
        # One chunk, the same length-sorted batches: the same bits.
        np.testing.assert_array_equal(disk[row]["encoder_hidden_states"], memory.frames[row])
        np.testing.assert_array_equal(disk[row]["input_values"], memory[row]["input_values"])
        assert disk[row]["label"] == memory[row]["label"]
    frames = sum(frames.shape[0] for frames in memory.frames)
    assert disk.disk_bytes >= frames * model.config.encoder_hidden_size * 4
    assert disk.waveforms is None  # decoded again when read, not held
    # Both know each clip's duration (for batches by duration), as the files' headers say.
    from eam_ser.data.duration_batches import clip_durations

    np.testing.assert_allclose(memory.durations, clip_durations(dataset["audio"]), atol=1e-4)
    np.testing.assert_array_equal(disk.durations, memory.durations)


def test_a_later_run_reuses_the_cache_and_a_change_builds_another(setup, tmp_path, monkeypatch):
    model, extractor, dataset = setup
    first = EncoderFeatureCache(model, extractor, dataset, 4, cache_dir=tmp_path / "cache")

    def no_encoder(*args, **kwargs):
        raise AssertionError("the encoder ran although the cache was complete")

    with monkeypatch.context() as patch:
        patch.setattr(model, "encode", no_encoder)
        again = EncoderFeatureCache(model, extractor, dataset, 4, cache_dir=tmp_path / "cache")
    assert again.folder == first.folder
    np.testing.assert_array_equal(again.frames[3], first.frames[3])
    # A rewritten clip, other weights, another dtype: other keys.
    audio = dataset["audio"]
    key = feature_cache_key(model, extractor, audio, "float32")
    path = Path(audio[0]["path"] if isinstance(audio[0], dict) else audio[0])
    waveform, rate = sf.read(path, dtype="float32")
    sf.write(path, waveform * 0.5, rate)
    assert feature_cache_key(model, extractor, audio, "float32") != key
    assert feature_cache_key(model, extractor, audio, "float16") != feature_cache_key(
        model, extractor, audio, "float32"
    )
    changed = feature_cache_key(model, extractor, audio, "float32")
    with torch.no_grad():
        next(model.encoder.parameters()).add_(1e-3)
    assert feature_cache_key(model, extractor, audio, "float32") != changed


def test_a_build_cut_short_leaves_nothing_to_read(setup, tmp_path, monkeypatch):
    model, extractor, dataset = setup
    calls = {"count": 0}
    encode = model.encode

    def fails_on_the_second_batch(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            raise KeyboardInterrupt
        return encode(*args, **kwargs)

    monkeypatch.setattr(model, "encode", fails_on_the_second_batch)
    with pytest.raises(KeyboardInterrupt):
        EncoderFeatureCache(model, extractor, dataset, 4, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    monkeypatch.setattr(model, "encode", encode)
    cache = EncoderFeatureCache(model, extractor, dataset, 4, cache_dir=tmp_path / "cache")
    assert json.loads((cache.folder / "index.json").read_text())["clips"] == dataset.num_rows


def test_chunks_and_float16_stay_within_their_precision(setup, tmp_path, monkeypatch):
    model, extractor, dataset = setup
    memory = EncoderFeatureCache(model, extractor, dataset, 4)
    monkeypatch.setattr(feature_cache, "CHUNK_CLIPS", 3)  # other batches: float rounding only
    chunked = EncoderFeatureCache(model, extractor, dataset, 4, cache_dir=tmp_path / "a")
    half = EncoderFeatureCache(
        model, extractor, dataset, 4, cache_dir=tmp_path / "b", dtype="float16"
    )
    for row in range(len(memory)):
        np.testing.assert_allclose(chunked.frames[row], memory.frames[row], atol=1e-5, rtol=0)
        np.testing.assert_allclose(half.frames[row], memory.frames[row], rtol=1e-3, atol=1e-3)
        assert half.frames[row].dtype == np.float32
    assert half.disk_bytes < 0.6 * chunked.disk_bytes
    with pytest.raises(ValueError, match="dtype must be float32 or float16, got 'int8'"):
        EncoderFeatureCache(model, extractor, dataset, 4, cache_dir=tmp_path / "c", dtype="int8")


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_training_on_the_disk_cache_gives_the_model_of_the_memory_cache(tmp_path, p):
    (tmp_path / "corpus").mkdir()
    dataset = load_manifest(write_tone_corpus(tmp_path / "corpus"))
    values = frozen_deterministic_config()
    values["eam"] = {"p": p}
    values["training"]["max_steps"] = 3
    memory_model, extractor = train_model(
        dataset, ExperimentConfig.from_dict(values), tmp_path / "memory"
    )
    values["training"]["feature_cache_dir"] = str(tmp_path / "cache")
    disk_model, _ = train_model(dataset, ExperimentConfig.from_dict(values), tmp_path / "disk")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    for (name, a), (_, b) in zip(
        memory_model.named_parameters(), disk_model.named_parameters(), strict=True
    ):
        assert torch.equal(a, b), name
    np.testing.assert_array_equal(
        predict_logits(memory_model, extractor, dataset),
        predict_logits(disk_model, extractor, dataset),
    )


def test_a_stream_mapped_before_the_trainer_names_the_lost_label_names(tmp_path):
    """Issue 32: `.map()` on a streaming dataset before `build_trainer` failed with
    `AttributeError: 'NoneType' object has no attribute 'get'`; the map drops the features,
    and the error now says how to keep them, and the stream mapped that way trains."""
    from datasets import Features, Value

    from eam_ser.experiment.build import build_trainer

    (tmp_path / "corpus").mkdir()
    dataset = load_manifest(write_tone_corpus(tmp_path / "corpus"))
    values = frozen_deterministic_config()
    values["training"]["max_steps"] = 1
    config = ExperimentConfig.from_dict(values)
    stream = dataset.to_iterable_dataset()
    with pytest.raises(ValueError, match=r"features are unknown.*pass features=dataset.features"):
        build_trainer(stream.map(lambda row: {"loud": 1}), config, tmp_path / "a")
    features = Features({**dataset.features, "loud": Value("int64")})
    mapped = stream.map(lambda row: {"loud": 1}, features=features)
    trainer = build_trainer(mapped, config, tmp_path / "b")
    assert trainer.train().global_step == 1


def test_frozen_training_on_the_cache_takes_batches_by_duration(tmp_path):
    """`training.max_batch_seconds` with the feature cache: the cache's durations drive the
    batches, and the run trains."""
    from eam_ser.experiment.build import build_trainer

    (tmp_path / "corpus").mkdir()
    dataset = load_manifest(write_tone_corpus(tmp_path / "corpus"))
    values = frozen_deterministic_config()
    values["eam"] = {"p": 0.0}
    values["training"].update(
        max_steps=2, max_batch_seconds=1.0, feature_cache_dir=str(tmp_path / "c")
    )
    trainer = build_trainer(dataset, ExperimentConfig.from_dict(values), tmp_path / "run")
    assert isinstance(trainer.train_dataset, EncoderFeatureCache)
    sizes = [batch["labels"].shape[0] for batch in trainer.get_train_dataloader()]
    assert sum(sizes) == dataset.num_rows and len(set(sizes)) >= 1
    assert max(sizes) * min(trainer.train_dataset.durations) <= 1.0 + 1e-9 or max(sizes) == 1
    assert trainer.train().global_step == 2


def test_the_key_covers_zero_dimensional_buffers_and_refuses_opaque_audio(setup):
    """An encoder with a 0-d int64 buffer (BatchNorm's num_batches_tracked) has a key; audio the
    cache cannot tell apart is refused by name instead of hashed by its address."""
    model, extractor, dataset = setup
    model.encoder.register_buffer("num_batches_tracked", torch.tensor(3))
    key = feature_cache_key(model, extractor, dataset["audio"], "float32")
    model.encoder.num_batches_tracked.fill_(4)
    assert feature_cache_key(model, extractor, dataset["audio"], "float32") != key
    with pytest.raises(ValueError, match="the feature cache cannot tell one such clip"):
        feature_cache_key(model, extractor, [object()], "float32")
