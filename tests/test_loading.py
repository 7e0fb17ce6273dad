"""What loading a saved folder with transformers' own API needs, each route in a fresh
interpreter (as ``eam_ser/__init__.py`` and docs/guides/long-recordings.md state it): an
import of the model class or of the pipeline module, or ``trust_remote_code=True``; ``import eam_ser`` alone is not enough
(it registers nothing, to stay torch-free), and then transformers refuses with a message naming
``trust_remote_code``. Offline, with stdin closed, so the remote-code prompt cannot wait."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
import numpy as np
{prelude}
from transformers import AutoModelForAudioClassification, pipeline

folder, kwargs = sys.argv[1], json.loads(sys.argv[2])
report = {{}}
for api in ("auto", "pipeline"):
    try:
        if api == "auto":
            model = AutoModelForAudioClassification.from_pretrained(folder, **kwargs)
        else:
            model = pipeline("audio-classification", model=folder, device="cpu", **kwargs).model
        report[api] = {{"module": type(model).__module__}}
    except ValueError as error:
        report[api] = {{"error": str(error)}}
# On a line of its own: the remote-code prompt ends without a newline.
print("\n" + json.dumps(report))
"""


def load_in_fresh_interpreter(folder, prelude: str, tmp_path, **kwargs) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(prelude=prelude), str(folder), json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["prompted"] = "Do you wish to run the custom code?" in result.stdout
    return report


@pytest.mark.parametrize(
    "prelude",
    [
        "import eam_ser.inference.pipeline",
        "from eam_ser import FlamForSequenceClassification",
    ],
)
def test_an_import_of_the_model_or_the_pipeline_module_loads_eam_sers_classes(
    wavlm_folder, tmp_path, prelude
):
    report = load_in_fresh_interpreter(wavlm_folder, prelude, tmp_path)
    assert report == {
        "auto": {"module": "eam_ser.models.flam.modeling_flam"},
        "pipeline": {"module": "eam_ser.models.flam.modeling_flam"},
        "prompted": False,
    }


def test_trust_remote_code_loads_the_code_saved_in_the_folder(wavlm_folder, tmp_path):
    report = load_in_fresh_interpreter(wavlm_folder, "", tmp_path, trust_remote_code=True)
    for api in ("auto", "pipeline"):
        assert report[api]["module"].startswith("transformers_modules."), report
    assert not report["prompted"]


@pytest.mark.parametrize("prelude", ["", "import eam_ser", "from eam_ser import FlamConfig"])
def test_without_either_transformers_refuses_naming_trust_remote_code(
    wavlm_folder, tmp_path, prelude
):
    report = load_in_fresh_interpreter(wavlm_folder, prelude, tmp_path)
    # transformers first asks on stdin (15 s at a terminal), then raises.
    assert report["prompted"]
    for api in ("auto", "pipeline"):
        message = report[api]["error"]
        assert "contains custom code" in message, report
        assert "trust_remote_code=True" in message, report
