"""Tests of eam_ser.mixup.settings: validation, one settings object for every mixer."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from eam_ser.mixup.baselines import MixupCollator, WholeClipMixCollator
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.mixup.core import draw_mix_parameters
from eam_ser.mixup.map import EnergyAdaptiveMixupMap
from eam_ser.mixup.settings import EAM_DEFAULTS, EnergyAdaptiveMixupSettings, resolve_settings
from eam_ser.mixup.transform import EnergyAdaptiveMixup
from mixup_helpers import features_of, noise


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p": 1.5}, "p .probability"),
        ({"min_snr_db": 6.0}, "min_snr_db must be <= max_snr_db"),
        ({"max_mix_fraction": 0.0}, r"max_mix_fraction .* must be a finite number in \(0, 1\]"),
        ({"max_mix_fraction": 1.5}, r"max_mix_fraction .* must be a finite number in \(0, 1\]"),
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


# ---------------------------------------------------------------- one settings object


CHOSEN = EnergyAdaptiveMixupSettings(
    p=0.8, min_snr_db=-2.0, max_snr_db=7.0, max_mix_fraction=0.4, min_length_samples=400,
    label_mode="length",
)  # fmt: skip
CHOSEN_KEYWORDS = dataclasses.asdict(CHOSEN)


def test_every_setting_has_a_one_line_help_and_a_default_written_once() -> None:
    for setting in dataclasses.fields(EnergyAdaptiveMixupSettings):
        text = setting.metadata["help"]
        assert isinstance(text, str) and text and "\n" not in text
        assert getattr(EAM_DEFAULTS, setting.name) == setting.default
    assert [setting.name for setting in dataclasses.fields(EnergyAdaptiveMixupSettings)] == [
        "p", "min_snr_db", "max_snr_db", "max_mix_fraction", "min_length_samples", "label_mode",
    ]  # fmt: skip


def test_settings_resolve_from_an_object_keywords_or_both() -> None:
    assert resolve_settings() is EAM_DEFAULTS
    assert resolve_settings(CHOSEN) is CHOSEN
    assert resolve_settings(**CHOSEN_KEYWORDS) == CHOSEN
    assert resolve_settings(CHOSEN, p=0.1) == dataclasses.replace(CHOSEN, p=0.1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'snr'"):
        resolve_settings(snr=3.0)
    with pytest.raises(TypeError, match="EnergyAdaptiveMixupSettings"):
        resolve_settings({"p": 0.5})
    with pytest.raises(TypeError, match="unexpected keyword argument 'snr'"):
        EnergyAdaptiveMixupCollator(3, snr=3.0)


def test_keyword_overrides_give_what_the_settings_object_gives(rng: np.random.Generator) -> None:
    waveforms = [noise(rng, n) for n in (8000, 12000, 9000, 16000)]
    labels = [0, 1, 2, 1]
    by_object = EnergyAdaptiveMixupCollator(3, settings=CHOSEN, seed=3)
    by_keywords = EnergyAdaptiveMixupCollator(3, seed=3, **CHOSEN_KEYWORDS)
    assert by_object.settings == by_keywords.settings == CHOSEN
    assert (by_object.p, by_object.label_mode) == (0.8, "length")  # fields read as attributes
    for _ in range(2):
        expected, batch = (
            by_object(features_of(waveforms, labels)),
            by_keywords(features_of(waveforms, labels)),
        )
        for key in expected:
            torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)

    columns = {"audio": waveforms, "label": labels}
    mapped = EnergyAdaptiveMixupMap(3, settings=CHOSEN, seed=1)(columns, indices=[0, 1, 2, 3])
    again = EnergyAdaptiveMixupMap(3, seed=1, **CHOSEN_KEYWORDS)(columns, indices=[0, 1, 2, 3])
    for one, two in zip(mapped["mixed_audio"], again["mixed_audio"], strict=True):
        np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(mapped["soft_labels"], again["soft_labels"])

    transforms = [
        EnergyAdaptiveMixup(waveforms[1:], settings=CHOSEN, seed=2),
        EnergyAdaptiveMixup(waveforms[1:], seed=2, **CHOSEN_KEYWORDS),
    ]
    assert transforms[0].p == transforms[1].p == 0.8 and repr(transforms[0]) == repr(transforms[1])
    for _ in range(3):
        outputs = [transform(waveforms[0], 16000) for transform in transforms]
        np.testing.assert_array_equal(outputs[0], outputs[1])

    lengths = np.array([8000, 12000, 9000])
    draws = [
        draw_mix_parameters(lengths, lengths, [1, 2, 0], np.random.default_rng(0), settings=CHOSEN),
        draw_mix_parameters(lengths, lengths, [1, 2, 0], np.random.default_rng(0), **CHOSEN_KEYWORDS),
    ]  # fmt: skip
    for name in ("mix_length", "start", "partner_start", "snr_db"):
        np.testing.assert_array_equal(getattr(draws[0], name), getattr(draws[1], name))


def test_baselines_take_the_same_settings_object(rng: np.random.Generator) -> None:
    features = features_of([noise(rng, n) for n in (8000, 12000, 9000)], [0, 1, 2])
    padding = EnergyAdaptiveMixupCollator(3, normalize=False, seed=0)
    for build in (
        lambda **kwargs: WholeClipMixCollator(padding, target="union", seed=4, **kwargs),
        lambda **kwargs: MixupCollator(padding, alpha=0.3, seed=4, **kwargs),
    ):
        by_object, by_keywords = build(settings=CHOSEN), build(**CHOSEN_KEYWORDS)
        assert by_object.settings == by_keywords.settings == CHOSEN
        expected, batch = by_object(features), by_keywords(features)
        for key in expected:
            torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)
    whole = WholeClipMixCollator(padding, settings=CHOSEN)
    assert (whole.p, whole.min_snr_db, whole.max_snr_db) == (0.8, -2.0, 7.0)


def test_setting_a_field_replaces_the_settings_validated() -> None:
    collator = EnergyAdaptiveMixupCollator(3, settings=CHOSEN)
    collator.p = 0.25
    assert collator.settings == dataclasses.replace(CHOSEN, p=0.25)
    with pytest.raises(ValueError, match=r"p \(probability"):
        collator.p = 1.5
    transform = EnergyAdaptiveMixup([np.ones(3200, np.float32)], p=0.3)
    transform.p = 0.9  # as audiomentations sets it
    assert transform.settings.p == 0.9


# ---------------------------------------------------------------- imports


def imported_modules(statement: str) -> set[str]:
    """Top-level packages loaded by `statement` in a fresh interpreter."""
    code = f"import sys; {statement}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    return set(result.stdout.split())


def test_settings_and_the_package_import_without_torch() -> None:
    for statement in (
        "import eam_ser.mixup.settings",
        "from eam_ser.mixup import EnergyAdaptiveMixupSettings",
        "import eam_ser.models.flam.featurize, eam_ser.data.audio",
    ):
        loaded = imported_modules(statement)
        assert "eam_ser" in loaded
        assert not loaded & {"torch", "audiomentations", "numba", "transformers"}, statement


def test_the_mixup_package_names_only_its_own_layer() -> None:
    """0.5 removed the 0.3 re-exports: `eam_ser.mixup` lists EAM's names, each defined in one of
    its modules; the audio, collator and featurizing names live in their own layers."""
    import eam_ser
    import eam_ser.mixup as package
    from eam_ser._lazy import type_checking_exports

    exports = type_checking_exports("eam_ser.mixup", package.__file__)
    assert sorted(exports) == package.__all__
    for name, export in exports.items():
        assert export.module.startswith("eam_ser.mixup."), name
        assert getattr(package, name) is getattr(importlib.import_module(export.module), name)
    assert package.EnergyAdaptiveMixupCollator is EnergyAdaptiveMixupCollator
    assert eam_ser.EnergyAdaptiveMixupCollator is EnergyAdaptiveMixupCollator
    for moved in ("load_audio", "AudioCollator", "whisper_log_mel", "one_hot", "random_crop"):
        with pytest.raises(AttributeError, match=f"no attribute '{moved}'"):
            getattr(package, moved)


@pytest.mark.parametrize(
    "old",
    [
        "eam_ser.mixup_settings",
        "eam_ser.mix_kernel",
        "eam_ser.mixing_baselines",
        "eam_ser.crossval",
        "eam_ser.segmentation",
        "eam_ser.export",
        "eam_ser.pipeline",
        "eam_ser.modelcard",
    ],
)
def test_the_0_3_module_paths_are_gone(old: str) -> None:
    """Deprecated in 0.4, removed in 0.5 as the CHANGELOG announced."""
    sys.modules.pop(old, None)
    with pytest.raises(ModuleNotFoundError, match=old):
        importlib.import_module(old)
