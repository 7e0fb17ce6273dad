"""The Concepts page's EAM figure: its script runs and draws the mix the library defines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "docs/scripts/eam_mix_figure.py"


def test_the_eam_figure_script_draws_a_mix_at_the_drawn_snr_with_the_energy_weight(tmp_path):
    output = tmp_path / "eam_mix.png"
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--output", str(output)],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    printed = re.search(
        r"l = (\d+) samples, s = (-?[\d.]+) dB \(measured (-?[\d.]+) dB\), w = ([\d.]+)",
        result.stdout,
    )
    assert printed, result.stdout
    length, snr_db, measured_snr_db, weight = (float(value) for value in printed.groups())
    # The SNR recomputed from the segments' energies is the drawn one (both printed to 0.01 dB).
    assert measured_snr_db == pytest.approx(snr_db, abs=0.011)
    # Energy mode: w = (l / len(x_i)) / (1 + 10^(s/10)), x_i being 13a01Fd.flac.
    clip_samples = soundfile.info(REPO / "examples/data/13a01Fd.flac").frames
    assert weight == pytest.approx((length / clip_samples) / (1 + 10 ** (snr_db / 10)), abs=2e-4)
    assert 0 < weight < 0.5
    # 10 x 8.6 inches at 90 dpi.
    assert Image.open(output).size == (900, 774)
