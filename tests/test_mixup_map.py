"""Tests of eam_ser.mixup.map (the datasets.map function) and of the three shapes agreeing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from datasets import Audio, Dataset

from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.mixup.core import mix_soft_labels
from eam_ser.mixup.map import EnergyAdaptiveMixupMap
from eam_ser.mixup.transform import EnergyAdaptiveMixup
from mixup_helpers import features_of, noise


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
        np.testing.assert_allclose(soft[0], mapped["soft_labels"][row], atol=1e-7)
    np.testing.assert_allclose(
        np.stack(mapped["soft_labels"]), batch["soft_labels"].numpy(), atol=0
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
    assert single.column_names == ["audio", "label", "mixed_audio", "soft_labels"]
    for one, two, path in zip(single, double, paths, strict=True):
        assert len(one["mixed_audio"]) == 2 * soundfile.info(path).frames  # resampled 8 -> 16 kHz
        np.testing.assert_array_equal(one["mixed_audio"], two["mixed_audio"])
        np.testing.assert_allclose(sum(one["soft_labels"]), 1.0, atol=1e-6)
    assert any(row["soft_labels"][0] not in (0.0, 1.0) for row in single)
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


def test_map_refuses_to_repeat_draws_in_shard_processes(tmp_path, rng) -> None:
    dataset = Dataset.from_dict(
        {"audio": [noise(rng, 8000) for _ in range(8)], "label": [0, 1] * 4}
    )
    mix = EnergyAdaptiveMixupMap(2, p=1.0, seed=0)
    with pytest.raises(ValueError, match="with_indices=True"):
        dataset.map(mix, batched=True, batch_size=2, num_proc=2)
    sharded = dataset.map(mix, batched=True, batch_size=2, num_proc=2, with_indices=True)
    single = dataset.map(mix, batched=True, batch_size=2, with_indices=True)
    assert sharded["soft_labels"] == single["soft_labels"]
    # Every shard draws its own mixes: the SNR-dependent soft labels differ between batches.
    weights = [round(row[1], 6) for row in sharded["soft_labels"][0::2]]
    assert len(set(weights)) == len(weights)


def test_map_passes_an_empty_batch_through() -> None:
    mix = EnergyAdaptiveMixupMap(num_labels=3, seed=0)
    assert mix({"audio": [], "label": []}, indices=[]) == {"mixed_audio": [], "soft_labels": []}
    assert mix({"audio": [], "label": []}) == {"mixed_audio": [], "soft_labels": []}
