"""`eam_ser.inference.segmentation`: fixed windows and speech regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eam_ser.inference.segmentation import fixed_windows, segment_recording


def test_fixed_windows_hand_worked() -> None:
    # 10 s, 4 s windows every 2 s: 0-4, 2-6, 4-8, and the last one moved to end at 10 s.
    assert fixed_windows(160000, 16000, 4.0, 2.0) == [
        (0, 64000),
        (32000, 96000),
        (64000, 128000),
        (96000, 160000),
    ]
    assert fixed_windows(170000, 16000, 4.0, 4.0)[-1] == (106000, 170000)
    assert fixed_windows(30000, 16000, 4.0, 2.0) == [(0, 30000)]
    with pytest.raises(ValueError, match=r"window_s must be a finite number \(s\) in \[0.01, 60\]"):
        fixed_windows(100, 16000, 0.0, 1.0)
    assert segment_recording(np.zeros(16000 * 5), 16000, "auto") == ("none", [(0, 80000)])
    with pytest.raises(ValueError, match="segmentation must be one of"):
        segment_recording(np.zeros(10), 16000, "words")


def test_vad_finds_the_utterances_between_silences(emodb_dir: Path) -> None:
    from eam_ser.data.audio import load_audio

    files = sorted(emodb_dir.glob("*.flac"))[:3]
    gap = np.zeros(2 * 16000, np.float32)
    pieces, bounds, position = [], [], 0
    for file in files:
        clip = load_audio(file)
        pieces += [gap, clip]
        bounds.append((position + gap.shape[0], position + gap.shape[0] + clip.shape[0]))
        position += gap.shape[0] + clip.shape[0]
    recording = np.concatenate([*pieces, gap])
    used, segments = segment_recording(recording, 16000, "vad")
    assert used == "vad" and len(segments) >= 3
    for start, end in segments:  # every segment lies inside an utterance (0.3 s tolerance)
        assert any(a - 4800 <= start and end <= b + 4800 for a, b in bounds), (start, end)
    for a, b in bounds:  # and every utterance is mostly covered
        covered = sum(max(0, min(b, end) - max(a, start)) for start, end in segments)
        assert covered >= 0.7 * (b - a)
    assert segment_recording(recording, 16000, "auto")[0] == "none"  # 14 s: whole clip
