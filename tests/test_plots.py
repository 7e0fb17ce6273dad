"""The pictures of `eam_ser.evaluation.plots`: what they mark, checked on the drawn figure."""

from __future__ import annotations

import numpy as np
import pytest

from eam_ser.evaluation.plots import plot_frame_attention, top_frame_spans


def test_top_frame_spans_are_the_runs_of_the_highest_frames():
    # 10 frames over 1 s; share 0.3 -> the 3 highest: frames 2, 3 and 7.
    attention = np.array([1, 1, 5, 6, 1, 1, 1, 4, 1, 1], np.float64)
    attention /= attention.sum()
    spans = top_frame_spans(attention, 1.0, share=0.3)
    assert np.allclose(spans, [(0.2, 0.4), (0.7, 0.8)])
    assert top_frame_spans(np.full(4, 0.25), 2.0, share=0.1) == [(0.0, 0.5)]  # at least one


def test_attention_picture_shows_relative_attention_spans_and_the_top_two(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    rng = np.random.default_rng(0)
    waveform = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    waveform[8000:8800] = 0.0  # digital silence draws without a warning
    attention = np.full(50, 1.0)
    attention[10:15] = 3.0
    attention /= attention.sum()
    scores = {"angry": 0.2, "happy": 0.359, "fearful": 0.356, "sad": 0.085}
    with np.errstate(all="raise"):
        path = plot_frame_attention(
            waveform, attention, 16000, tmp_path / "a" / "att.png", name="x.wav", scores=scores
        )
    assert path.read_bytes()[:4] == b"\x89PNG"
    wave_axis, spectrum_axis, attention_axis = kept[0].axes
    assert wave_axis.get_title().splitlines()[0] == "x.wav: happy 0.359 (runner-up fearful 0.356)"
    assert attention_axis.get_ylabel() == "attention / uniform"
    # The line is num_frames x weight: 1 where attention is uniform, 3 / mean above it.
    stairs = next(artist for artist in attention_axis.patches)
    values = np.asarray(stairs.get_data().values)
    assert values.mean() == pytest.approx(1.0)
    assert values[12] == pytest.approx(3.0 * 50 / (45 + 15))
    # The top 10 % (5 frames, 10..14) are shaded on both panels: one span each.
    for axis in (wave_axis, spectrum_axis):
        shaded = [patch for patch in axis.patches if patch is not stairs]
        assert len(shaded) == 1
        start = shaded[0].get_x()
        assert (start, start + shaded[0].get_width()) == pytest.approx((0.2, 0.3))
