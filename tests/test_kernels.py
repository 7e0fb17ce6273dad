"""Tests of eam_ser.data.kernels: the compiled mix gives the torch path's mix bit for bit (and what
the removed numpy twin gave, through the deprecated ``implementation="numpy"``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eam_ser.data.kernels import normalize_rows
from eam_ser.mixup.core import draw_mix_parameters, draw_partner_index, energy_adaptive_mix
from eam_ser.models.flam.featurize import normalize_tensors
from mixup_helpers import noise


def batch_and_draw(rng, lengths, seed=0, silent_rows=(), loud_rows=()):
    time = max(lengths)
    waveforms = np.zeros((len(lengths), time), np.float32)
    for row, length in enumerate(lengths):
        waveforms[row, :length] = noise(rng, length, 0.1)
    for row in silent_rows:
        waveforms[row] = 0.0
    for row in loud_rows:
        waveforms[row] *= 9.0  # peaks near 3: the mix must be rescaled (clipping policy)
    generator = np.random.default_rng(seed)
    lengths = np.asarray(lengths)
    partner_index = draw_partner_index(len(lengths), generator)
    parameters = draw_mix_parameters(
        lengths, lengths[partner_index], partner_index, generator, p=1.0, min_length_samples=16
    )
    return waveforms, parameters


@pytest.mark.parametrize("seed", range(5))
def test_compiled_numpy_and_torch_paths_agree_bit_for_bit(rng, seed):
    waveforms, parameters = batch_and_draw(
        rng, [4000, 3000, 5000, 800, 4500, 2500], seed, silent_rows=(3,), loud_rows=(1,)
    )
    compiled, applied = energy_adaptive_mix(waveforms, parameters, implementation="compiled")
    with pytest.warns(DeprecationWarning, match="implementation='numpy'. is deprecated"):
        fallback, fallback_applied = energy_adaptive_mix(
            waveforms, parameters, implementation="numpy"
        )
    on_torch, torch_applied = energy_adaptive_mix(
        torch.from_numpy(waveforms), parameters, implementation="torch"
    )
    np.testing.assert_array_equal(applied, fallback_applied)
    np.testing.assert_array_equal(applied, torch_applied)
    assert not applied[3]  # the silent row is left as it was
    if seed == 0:
        # Row 1 peaks near 3 before mixing; its partner (row 3) is silent, so it is not mixed
        # and, by the clipping policy, not rescaled either (the torch path used to rescale it).
        assert parameters.partner_index[1] == 3 and not applied[1]
        np.testing.assert_array_equal(on_torch.numpy()[1], waveforms[1])
    np.testing.assert_array_equal(compiled, fallback)
    np.testing.assert_array_equal(compiled, on_torch.numpy())
    # Mixing in place (the partners are then the batch being written) gives the same result.
    buffer = waveforms.copy()
    mixed_in_place, _ = energy_adaptive_mix(buffer, parameters, inplace=True)
    assert mixed_in_place is buffer
    np.testing.assert_array_equal(buffer, compiled)
    # A CPU tensor takes the compiled kernel by default and shares its memory.
    default_tensor, _ = energy_adaptive_mix(torch.from_numpy(waveforms), parameters)
    np.testing.assert_array_equal(default_tensor.numpy(), compiled)


def test_compiled_kernel_refuses_segments_outside_the_clip(rng):
    waveforms, parameters = batch_and_draw(rng, [4000, 3000])
    from dataclasses import replace

    broken = replace(parameters, start=parameters.start + 5000)
    with pytest.raises(ValueError, match="a segment lies outside its clip"):
        energy_adaptive_mix(waveforms, broken, implementation="compiled")
    with pytest.raises(ValueError, match="implementation must be one of"):
        energy_adaptive_mix(waveforms, parameters, implementation="fast")


def test_numpy_implementation_is_a_deprecated_name_of_the_kernel(rng):
    waveforms, parameters = batch_and_draw(rng, [4000, 3000, 5000])
    compiled, _ = energy_adaptive_mix(waveforms, parameters, implementation="compiled")
    with pytest.warns(DeprecationWarning, match=r"implementation='numpy'\) is deprecated"):
        renamed, _ = energy_adaptive_mix(waveforms, parameters, implementation="numpy")
    np.testing.assert_array_equal(renamed, compiled)


def test_normalize_rows_matches_the_torch_normalization(rng):
    lengths = np.array([3000, 5000, 1])
    padded = np.zeros((3, 5000), np.float32)
    for row, length in enumerate(lengths):
        padded[row, :length] = noise(rng, length, 0.3) + 0.1
    normalized = normalize_rows(padded, lengths)
    mask = torch.from_numpy(np.arange(5000) < lengths[:, None])
    expected = normalize_tensors(torch.from_numpy(padded), mask.long()).numpy()
    np.testing.assert_allclose(normalized, expected, atol=1e-5)
    assert normalized[0, 3000:].max() == 0 and normalized[2, 0] == 0  # one sample: 0 / sqrt(eps)
    np.testing.assert_allclose(normalized[1].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(normalized[1].std(), 1.0, atol=1e-4)
