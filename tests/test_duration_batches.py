"""Issue 32, point 3: batches by total seconds (`DurationBatchSampler`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from eam_ser.data.duration_batches import DurationBatchSampler, clip_durations, padding_fraction


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.floats(0.1, 12.0), min_size=1, max_size=80),
    max_seconds=st.floats(0.5, 40.0),
    num_buckets=st.integers(1, 10),
    seed=st.integers(0, 2**16),
    epoch=st.integers(0, 5),
)
def test_every_clip_once_per_epoch_within_the_budget(
    durations, max_seconds, num_buckets, seed, epoch
):
    sampler = DurationBatchSampler(durations, max_seconds, num_buckets=num_buckets, seed=seed)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert sorted(row for batch in batches for row in batch) == list(range(len(durations)))
    assert len(sampler) == len(batches)
    for batch in batches:
        padded = max(durations[row] for row in batch) * len(batch)
        # Over budget only as a clip longer than the budget alone.
        assert padded <= max_seconds + 1e-9 or len(batch) == 1
    # The same seed and epoch: the same batches; the next epoch: drawn anew.
    again = DurationBatchSampler(durations, max_seconds, num_buckets=num_buckets, seed=seed)
    again.set_epoch(epoch)
    assert list(again) == batches


def test_hand_worked_batches_without_shuffling():
    durations = [1.0, 4.0, 1.5, 3.0, 0.5, 4.0]
    # Sorted: 0.5 (4), 1.0 (0), 1.5 (2) | 3.0 (3), 4.0 (1), 4.0 (5). Under 8 padded s the first
    # bucket takes 8 // 1.5 = 5 clips a batch, the second 8 // 4 = 2.
    sampler = DurationBatchSampler(durations, 8.0, num_buckets=2, shuffle=False)
    assert list(sampler) == [[4, 0, 2], [3, 1], [5]]
    assert padding_fraction(durations, list(sampler)) == pytest.approx(1 - 14.0 / (4.5 + 8 + 4))
    # One bucket: 2 clips a batch throughout (its longest clip is 4 s).
    sampler = DurationBatchSampler(durations, 8.0, num_buckets=1, shuffle=False)
    assert list(sampler) == [[4, 0], [2, 3], [1, 5]]
    sampler = DurationBatchSampler(durations, 8.0, num_buckets=2, shuffle=False, max_clips=2)
    assert list(sampler) == [[4, 0], [2], [3, 1], [5]]


def test_every_epoch_has_the_same_number_of_batches():
    """Trainer plans its schedule and resumes by len(dataloader): it must not change."""
    durations = np.random.default_rng(1).lognormal(0.8, 0.5, 535)
    sampler = DurationBatchSampler(durations, 16.0, seed=0)
    counts = set()
    for epoch in range(6):
        sampler.set_epoch(epoch)
        counts.add(len(list(sampler)))
    assert counts == {len(sampler)}


def test_sorted_batches_pad_less_than_fixed_size_batches():
    rng = np.random.default_rng(0)
    durations = rng.uniform(1.0, 10.0, 400)
    fixed = [list(range(start, start + 8)) for start in range(0, 400, 8)]  # random order
    sampler = DurationBatchSampler(durations, 8 * 5.5, seed=0)
    assert padding_fraction(durations, list(sampler)) < padding_fraction(durations, fixed) / 3
    epochs = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        epochs.append(list(sampler))
    assert epochs[0] != epochs[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"durations": [1.0, float("nan")]}, r"durations\[1\] is nan"),
        ({"durations": [1.0, 0.0]}, r"durations\[1\] is 0.0"),
        ({"durations": []}, "non-empty"),
        ({"max_seconds": 0}, "max_seconds must be a finite number"),
        ({"max_seconds": True}, r"max_seconds must be .* got True \(bool\)"),
        ({"num_buckets": 0}, "num_buckets must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"shuffle": 1}, "shuffle must be True or False"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"durations": [1.0, 2.0], "max_seconds": 4.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        DurationBatchSampler(arguments.pop("durations"), arguments.pop("max_seconds"), **arguments)


def test_durations_come_from_the_headers_and_arrays(tmp_path: Path):
    sf.write(tmp_path / "a.wav", np.zeros(8000, np.float32), 16000)
    sf.write(tmp_path / "b.flac", np.zeros(4410, np.float32), 44100)
    audio = [
        str(tmp_path / "a.wav"),
        {"path": str(tmp_path / "b.flac")},
        {"array": np.zeros(3200), "sampling_rate": 16000},
        np.zeros(1600),
    ]
    np.testing.assert_allclose(clip_durations(audio, 16000), [0.5, 0.1, 0.2, 0.1])
    with pytest.raises(ValueError, match=r"audio\[0\]: .*missing.wav: unreadable audio"):
        clip_durations([str(tmp_path / "missing.wav")])
    with pytest.raises(ValueError, match=r"audio\[0\]: an array needs sampling_rate"):
        clip_durations([np.zeros(10)])


def test_the_trainer_takes_batches_by_duration(tmp_path: Path):
    """`MultiLossTrainingArguments(max_batch_seconds=...)`: the training dataloader gives the
    sampler's batches (variable sizes), and a run trains through them."""
    from eam_ser.corpora import load_manifest
    from eam_ser.experiment.build import build_trainer
    from eam_ser.experiment.config import ExperimentConfig
    from test_crossval import TINY_CONFIG, write_tone_corpus

    (tmp_path / "corpus").mkdir()
    dataset = load_manifest(write_tone_corpus(tmp_path / "corpus"))
    trainer = build_trainer(dataset, ExperimentConfig.from_dict(TINY_CONFIG), tmp_path / "run")
    trainer.args.max_batch_seconds = 1.0
    durations = clip_durations(dataset["audio"])
    loader = trainer.get_train_dataloader()
    sizes = [batch["labels"].shape[0] for batch in loader]
    expected = DurationBatchSampler(durations, 1.0, seed=trainer.args.seed)
    assert sizes == [len(batch) for batch in expected]
    assert sum(sizes) == dataset.num_rows
    trainer.args.max_steps = 2
    assert trainer.train().global_step == 2
