"""What 0.4.0 users rely on, kept by 0.5. 0.5 moved the package-root modules of 0.4 into the layer folders. Their 0.4 paths still
import until 0.6, with a DeprecationWarning naming the new home, and serve every name of their
0.4 ``__all__`` (pinned in ``fixtures/release_0_4_0/module_names.json``) as the very object the
new home holds."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from eam_ser._lazy import MOVED_MODULES

NAMES_0_4 = json.loads(
    (Path(__file__).parent / "fixtures" / "release_0_4_0" / "module_names.json").read_text()
)


def test_every_0_4_root_module_has_a_home() -> None:
    assert set(MOVED_MODULES) == set(NAMES_0_4) - {"eam_ser.hub"}


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_a_0_4_module_path_imports_with_a_warning_and_serves_its_names(old: str) -> None:
    sys.modules.pop(old, None)
    home = MOVED_MODULES[old][0]
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {home} in 0.5"):
        module = importlib.import_module(old)
    for name in NAMES_0_4[old]:
        value = getattr(module, name)
        holders = [
            getattr(importlib.import_module(new), name)
            for new in MOVED_MODULES[old]
            if hasattr(importlib.import_module(new), name)
        ]
        assert holders and value is holders[0], name
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        module.nothing  # noqa: B018


def test_a_star_import_of_a_0_4_path_imports_what_its_homes_export() -> None:
    namespace: dict = {}
    with pytest.warns(DeprecationWarning):
        sys.modules.pop("eam_ser.trainer", None)
        exec("from eam_ser.trainer import *", namespace)
    from eam_ser.data.collator import CompletesOnDevice
    from eam_ser.training.trainer import MultiLossTrainer

    assert namespace["MultiLossTrainer"] is MultiLossTrainer
    assert namespace["CompletesOnDevice"] is CompletesOnDevice


def test_the_hub_package_serves_its_0_4_names() -> None:
    import eam_ser.hub as hub
    from eam_ser.hub import card, save
    from eam_ser.training import processes

    moved = {"end_process_group", "is_main_process", "process_state"}
    for name in sorted(set(NAMES_0_4["eam_ser.hub"]) - moved):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # still public here: no warning
            value = getattr(hub, name)
        assert value is getattr(card if hasattr(card, name) else save, name), name
    for name in sorted(moved):
        with pytest.warns(DeprecationWarning, match=f"eam_ser.hub.{name} moved to"):
            assert getattr(hub, name) is getattr(processes, name)


def test_the_package_imports_no_moved_path_itself() -> None:
    """No module of eam-ser uses a 0.4 path (the warning filter makes that an error too)."""
    source = Path(importlib.import_module("eam_ser").__file__).parent
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for old in MOVED_MODULES:
            assert f"{old} import" not in text and f"import {old}\n" not in text, (path, old)


FOLDER_0_4 = Path(__file__).parent / "fixtures" / "release_0_4_0" / "flam-wavlm"
"""A tiny FLAM model saved by eam-ser 0.4.0 (commit 657f2b8) with ``save_pretrained``: its
config, weights and remote code (the 0.4 flat modules), and its logits on the release pins'
fixed inputs (`test_release_pins.wavlm_inputs`, one torch thread)."""


@pytest.fixture
def one_torch_thread():
    """The thread count the logits were taken with."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_folder_saved_by_0_4_0_loads_with_the_installed_classes_and_predicts_the_same(
    one_torch_thread,
) -> None:
    from transformers import AutoModelForAudioClassification

    from eam_ser import FlamForSequenceClassification
    from test_release_pins import ENCODER_RTOL, logits_of, wavlm_inputs

    expected = np.load(FOLDER_0_4 / "logits.npy")
    for loader in (FlamForSequenceClassification, AutoModelForAudioClassification):
        model = loader.from_pretrained(FOLDER_0_4).eval()
        assert type(model).__module__ == "eam_ser.models.flam.modeling_flam"
        np.testing.assert_allclose(
            logits_of(model, wavlm_inputs()), expected, rtol=ENCODER_RTOL, atol=0
        )


def test_a_folder_saved_by_0_4_0_loads_with_its_own_code_where_eam_ser_is_absent(tmp_path) -> None:
    """``trust_remote_code=True`` runs the 0.4 modules saved in the folder, in an interpreter
    that never imports eam-ser."""
    from test_release_pins import ENCODER_RTOL, wavlm_inputs

    inputs = {name: value.numpy() for name, value in wavlm_inputs().items()}
    np.savez(tmp_path / "inputs.npz", **inputs)
    code = (
        "import sys, numpy as np, torch\n"
        "from transformers import AutoModelForAudioClassification\n"
        "torch.set_num_threads(1)\n"
        f"model = AutoModelForAudioClassification.from_pretrained({str(FOLDER_0_4)!r}, "
        "trust_remote_code=True).eval()\n"
        "assert 'eam_ser' not in sys.modules, 'eam_ser was imported'\n"
        f"inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))\n"
        "with torch.no_grad():\n"
        "    logits = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits\n"
        f"np.save({str(tmp_path / 'logits.npy')!r}, logits.numpy())\n"
        "print(type(model).__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "modeling_flam" in result.stdout and "eam_ser" not in result.stdout
    np.testing.assert_allclose(
        np.load(tmp_path / "logits.npy"),
        np.load(FOLDER_0_4 / "logits.npy"),
        rtol=ENCODER_RTOL,
        atol=0,
    )
