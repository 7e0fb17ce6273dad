"""Issue 30, problems 14 and 15 through the user's path: each value that was taken silently
or ended in a raw or nameless error is now refused where it enters, naming the argument."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from conftest import tiny_wavlm_config
from eam_ser import (
    AudioCollator,
    EmotionRecognizer,
    EnergyAdaptiveMixup,
    EnergyAdaptiveMixupCollator,
    EnergyAdaptiveMixupMap,
    FlamConfig,
    FlamForSequenceClassification,
    MultiLoss,
)
from eam_ser.cli import main

CLIPS = [np.random.default_rng(i).uniform(-0.5, 0.5, 4000).astype(np.float32) for i in range(3)]


@pytest.mark.parametrize(
    "seed",
    [-1, 1.5, float("nan"), True, np.random.default_rng(0), np.random.SeedSequence(0), [1, 2]],
    ids=["negative", "fraction", "nan", "bool", "generator", "seed-sequence", "list"],
)
@pytest.mark.parametrize(
    "build",
    [
        lambda seed: EnergyAdaptiveMixupCollator(3, seed=seed),
        lambda seed: EnergyAdaptiveMixupMap(3, seed=seed),
        lambda seed: EnergyAdaptiveMixup(CLIPS, seed=seed),
    ],
    ids=["collator", "map", "transform"],
)
def test_a_seed_numpy_would_refuse_or_truncate_is_named(build, seed):
    with pytest.raises(ValueError, match=r"^seed must be a non-negative integer|^seed must be an"):
        build(seed)


def test_the_map_takes_none_as_documented_and_keeps_the_seed_it_drew():
    mix = EnergyAdaptiveMixupMap(3, seed=None, p=1.0)
    assert isinstance(mix.seed, int) and mix.seed >= 0
    again = EnergyAdaptiveMixupMap(3, seed=mix.seed, p=1.0)
    batch = {"audio": CLIPS, "label": [0, 1, 2]}
    first, second = mix(batch, indices=[0, 1, 2]), again(batch, indices=[0, 1, 2])
    for a, b in zip(first["mixed_audio"], second["mixed_audio"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_map_labels_shorter_than_the_audio_are_named():
    mix = EnergyAdaptiveMixupMap(3, seed=0)
    with pytest.raises(ValueError, match=r"batch: 2 label for 3 rows of 'audio'"):
        mix({"audio": CLIPS, "label": [0, 1]}, indices=[0, 1, 2])


@pytest.mark.parametrize("num_labels", [True, 2.0, 0, None, "3"])
def test_num_labels_that_is_not_a_count_is_named(num_labels):
    with pytest.raises(ValueError, match="num_labels must be an integer >= 1"):
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=num_labels)
    if num_labels is not None:
        with pytest.raises(ValueError, match="num_labels must be an integer >= 1"):
            AudioCollator(num_labels=num_labels)


def test_a_whisper_extractor_at_another_rate_is_named_when_the_collator_is_built():
    """It failed inside transformers at the first batch."""
    with pytest.raises(ValueError, match=r"sampling_rate: 8000 Hz, but the feature extractor"):
        EnergyAdaptiveMixupCollator(
            3, feature_extractor=WhisperFeatureExtractor(), sampling_rate=8000
        )


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FlamForSequenceClassification(
        FlamConfig(encoder_config=tiny_wavlm_config(), num_labels=2)
    ).eval()


def test_forward_takes_list_labels_and_refuses_fractions(model):
    values = torch.from_numpy(np.stack(CLIPS[:2]))
    as_list = model(values, labels=[0, 1]).loss
    torch.testing.assert_close(as_list, model(values, labels=torch.tensor([0, 1])).loss)
    with pytest.raises(ValueError, match=r"labels must be \(batch,\) integer class indices"):
        model(values, labels=[0.7, 1.9])


def test_multi_loss_derives_the_target_it_was_not_given():
    """`MultiLoss(...)(labels=None)` raised AttributeError."""
    generator = torch.Generator().manual_seed(0)
    logits, embeddings = (
        torch.randn(4, 3, generator=generator),
        torch.randn(4, 8, generator=generator),
    )
    labels = torch.tensor([0, 1, 2, 0])
    soft = torch.nn.functional.one_hot(labels, 3).float()
    centers = torch.zeros(3, 8)
    loss = MultiLoss()
    both = loss(logits, embeddings, soft, labels, centers).loss
    torch.testing.assert_close(loss(logits, embeddings, soft, None, centers).loss, both)
    torch.testing.assert_close(loss(logits, embeddings, None, labels, centers).loss, both)
    with pytest.raises(ValueError, match="labels and soft_labels: give at least one"):
        loss(logits, embeddings, None, None, centers)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hop_s": 1e-6}, r"hop_s must be a finite number \(s\) >= 0.01, got 1e-06"),
        ({"hop_s": 3.0, "window_s": 2.0}, r"hop_s \(3 s\) must be at most window_s \(2 s\)"),
        ({"window_s": float("nan")}, r"window_s must be a finite number"),
        ({"hop_s": True}, r"hop_s must be a finite number .* got True \(bool\)"),
    ],
)
def test_segment_options_are_named_before_any_scoring(model, options, message):
    from transformers import Wav2Vec2FeatureExtractor

    recognizer = EmotionRecognizer(model, Wav2Vec2FeatureExtractor(return_attention_mask=True))
    waveform = np.zeros(16000 * 5, np.float32)
    with pytest.raises(ValueError, match=message):
        recognizer.predict_recording(waveform, "fixed", **options)


def test_compare_refuses_a_prediction_that_is_not_a_class(tmp_path, capsys):
    rows = [
        {"file": f"{i}.wav", "speaker": f"s{i % 2}", "reference": "angry", "prediction": "angry"}
        for i in range(4)
    ]
    recall = {"angry": 1.0, "sad": 0.0}
    (tmp_path / "a.json").write_text(json.dumps({"utterances": rows, "recall": recall}))
    rows[2] = {**rows[2], "prediction": "angyr"}
    (tmp_path / "b.json").write_text(json.dumps({"utterances": rows, "recall": recall}))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    error = capsys.readouterr().err
    assert f"{tmp_path / 'b.json'}: utterance 2 (2.wav) has prediction 'angyr', not one of" in error


@pytest.mark.parametrize(
    "command",
    [
        ["augment", "data", "out", "--seed", "-1"],
        ["compare", "a.json", "b.json", "--seed", "-1"],
        ["compare", "a.json", "b.json", "--seed", "1.5"],
    ],
)
def test_command_line_seeds_are_named(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(command)
    assert exit_.value.code == 2
    assert "argument --seed: must be a non-negative integer" in capsys.readouterr().err


def test_a_shorter_window_alone_takes_a_hop_that_fits(model):
    """The default hop (2 s) follows a shorter window instead of refusing it."""
    from transformers import Wav2Vec2FeatureExtractor

    recognizer = EmotionRecognizer(model, Wav2Vec2FeatureExtractor(return_attention_mask=True))
    waveform = np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 3).astype(np.float32)
    prediction = recognizer.predict_recording(waveform, "fixed", window_s=1.0)
    assert [(s.start_s, s.end_s) for s in prediction.segments] == [
        (0.0, 1.0),
        (1.0, 2.0),
        (2.0, 3.0),
    ]


def test_the_disk_guard_leaves_other_errors_alone(tmp_path, monkeypatch):
    """Only a write failure is taken for a full disk, even when little space is left."""
    import shutil
    from collections import namedtuple

    from eam_ser.training.checkpoints import DiskFullError, disk_space_guard

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10, 10, 0))
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        with disk_space_guard(tmp_path):
            raise RuntimeError("CUDA out of memory")
    with pytest.raises(DiskFullError, match=rf"no space left in {tmp_path} \(0 MiB free\)"):
        with disk_space_guard(tmp_path):
            raise RuntimeError("[enforce fail at inline_container.cc] unexpected pos 123 vs 456")
    with pytest.raises(DiskFullError, match=r"no space left in /elsewhere"):
        with disk_space_guard(tmp_path):
            raise OSError(28, "No space left on device", "/elsewhere/features.bin")


def test_batches_by_duration_and_balanced_sampling_are_not_mixed(tmp_path):
    from eam_ser.experiment.config import ExperimentConfig
    from eam_ser.training.arguments import MultiLossTrainingArguments

    with pytest.raises(ValueError, match="max_batch_seconds and balanced_sampling"):
        MultiLossTrainingArguments(
            output_dir=str(tmp_path), max_batch_seconds=30.0, balanced_sampling=True
        )
    with pytest.raises(ValueError, match=r"training\.max_batch_seconds must be a finite number"):
        ExperimentConfig.from_dict({"training": {"max_batch_seconds": 0}})
