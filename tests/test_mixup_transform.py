"""Tests of eam_ser.mixup.transform: the audiomentations transform with a partner pool."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from audiomentations import Compose, Gain

from conftest import tone
from eam_ser.mixup.transform import EnergyAdaptiveMixup
from mixup_helpers import noise, segment_snr_db


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

    def three_calls(seed: int) -> list[np.ndarray]:
        transform = EnergyAdaptiveMixup(pool, p=1.0, seed=seed)
        return [transform(clip, 16000) for _ in range(3)]

    same, again, other = three_calls(9), three_calls(9), three_calls(10)
    for first, second in zip(same, again, strict=True):
        np.testing.assert_array_equal(first, second)
    # The control: at p=1 every call mixes a partner in (so the output is not the clip), the
    # stream moves on between calls, and another seed draws other mixes.
    for output in same:
        assert output.shape == clip.shape and not np.array_equal(output, clip)
    assert not np.array_equal(same[0], same[1]) and not np.array_equal(same[1], same[2])
    for first, second in zip(same, other, strict=True):
        assert not np.array_equal(first, second)


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
    import eam_ser.mixup.transform as mixup_module

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


def test_partner_is_decoded_once_across_calls_and_the_cache_survives_pickling(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eam_ser.mixup.transform as transform_module

    paths = []
    for index in range(2):
        paths.append(tmp_path / f"{index}.wav")
        soundfile.write(paths[-1], rng.normal(0, 0.1, 16000).astype(np.float32), 16000)
    decoded = []
    original = transform_module.load_audio
    monkeypatch.setattr(
        transform_module,
        "load_audio",
        lambda source, *a, **k: decoded.append(k.get("name")) or original(source, *a, **k),
    )
    transform = EnergyAdaptiveMixup(paths, p=1.0, seed=0)
    clip = rng.normal(0, 0.1, 12000).astype(np.float32)
    outputs = [transform(clip, 16000) for _ in range(6)]
    partners = [name for name in decoded if name.startswith("pool")]
    # Six calls, each drawing one of two partners: each partner is decoded once at most.
    assert 1 <= len(partners) <= 2 and len(set(partners)) == len(partners)
    # A copy sent to a spawned DataLoader worker rebuilds its cache and draws the same.
    copy = pickle.loads(pickle.dumps(EnergyAdaptiveMixup(paths, p=1.0, seed=0)))
    for expected in outputs:
        np.testing.assert_array_equal(copy(clip, 16000), expected)


def test_an_all_silent_partner_pool_is_refused_when_built():
    """Issue 30, problem 12: a pool of silent partners never mixed, and nothing said so."""
    from eam_ser.mixup.transform import EnergyAdaptiveMixup

    silent = [np.zeros(8000, np.float32), np.zeros(4000, np.float32)]
    with pytest.raises(ValueError, match="pool: all 2 partner clips are silent"):
        EnergyAdaptiveMixup(silent, p=1.0, seed=0)
    speech = (0.3 * np.sin(np.arange(8000) / 5.0)).astype(np.float32)
    transform = EnergyAdaptiveMixup([*silent, speech], p=1.0, seed=0)  # one partner suffices
    assert len(transform.pool) == 3
