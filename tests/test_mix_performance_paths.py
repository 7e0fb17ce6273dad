"""The compiled mixing kernel, the numpy fallback and the torch path give the same mix; the
`mix_on_device` collator gives the same batch as mixing in the collator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from eam_ser import mix_kernel
from eam_ser.mixup import (
    EnergyAdaptiveMixupCollator,
    draw_mix_parameters,
    draw_partner_index,
    energy_adaptive_mix,
)
from test_mixup import features_of, noise

needs_numba = pytest.mark.skipif(not mix_kernel.AVAILABLE, reason="numba not installed")


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


@needs_numba
@pytest.mark.parametrize("seed", range(5))
def test_compiled_numpy_and_torch_paths_agree_bit_for_bit(rng, seed):
    waveforms, parameters = batch_and_draw(
        rng, [4000, 3000, 5000, 800, 4500, 2500], seed, silent_rows=(3,), loud_rows=(1,)
    )
    compiled, applied = energy_adaptive_mix(waveforms, parameters, implementation="compiled")
    fallback, fallback_applied = energy_adaptive_mix(waveforms, parameters, implementation="numpy")
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


@needs_numba
def test_compiled_kernel_refuses_segments_outside_the_clip(rng):
    waveforms, parameters = batch_and_draw(rng, [4000, 3000])
    from dataclasses import replace

    broken = replace(parameters, start=parameters.start + 5000)
    with pytest.raises(ValueError, match="a segment lies outside its clip"):
        energy_adaptive_mix(waveforms, broken, implementation="compiled")
    with pytest.raises(ValueError, match="implementation must be one of"):
        energy_adaptive_mix(waveforms, parameters, implementation="fast")


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
    torch.testing.assert_close(completed["soft_targets"], host["soft_targets"])
    assert host["soft_targets"][2].tolist() == [0.0, 0.0, 1.0]
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
    torch.testing.assert_close(completed["soft_targets"], host["soft_targets"])


def test_multi_loss_trainer_mixes_on_the_device_and_trains_like_the_host_path(tmp_path):
    from eam_ser.trainer import MultiLossTrainer
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
