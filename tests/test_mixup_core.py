"""Tests of eam_ser.mixup.core: the EAM math and its policies with hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tone
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.mixup.core import (
    draw_mix_parameters,
    draw_partner_index,
    energy_adaptive_mix,
    mix_soft_labels,
    one_hot,
    partner_label_weight,
)
from eam_ser.mixup.transform import EnergyAdaptiveMixup
from mixup_helpers import noise, params, segment_snr_db


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
    np.testing.assert_array_equal(batch["soft_labels"].numpy(), [[1, 0], [0, 1]])
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
