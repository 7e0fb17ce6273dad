"""SAVEE, Surrey Audio-Visual Expressed Emotion (Haq & Jackson, 2009), audio part.

Layout: ``<root>/AudioData/{DC,JE,JK,KL}/a01.wav`` (the folder ``AudioData`` may also be the
root itself). File prefixes: a angry, d disgust, f fearful, h happy, n neutral, sa sad,
su surprised, followed by a 2-digit sentence number. 4 male speakers, 480 files.

Protocol: leave one speaker out (4 folds, in the order DC, JE, JK, KL).
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    find_audio_files,
    layout_error,
    leave_one_speaker_out,
    match_names,
    reject_unparsed,
    utterance_row,
    warn_if_incomplete,
)

SAVEE_LABELS = ["angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
SAVEE_EMOTION_CODES = dict(zip(("a", "d", "f", "h", "n", "sa", "su"), SAVEE_LABELS, strict=True))
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
SAVEE_NUM_UTTERANCES = 480

_NAME = re.compile(r"^(?P<emotion>sa|su|a|d|f|h|n)(?P<sentence>\d{2})$")


def load_savee(root: str | Path) -> Dataset:
    """Load SAVEE from `root` (the folder holding ``AudioData/`` or the speaker folders)."""
    root = Path(root)
    audio_dir = root / "AudioData" if (root / "AudioData").is_dir() else root
    speaker_dirs = [
        audio_dir / speaker for speaker in SAVEE_SPEAKERS if (audio_dir / speaker).is_dir()
    ]
    if not speaker_dirs:
        raise layout_error("SAVEE", "speaker folders DC, JE, JK, KL in <root>/AudioData", audio_dir)
    rows, unparsed = [], []
    for speaker_dir in speaker_dirs:
        files = find_audio_files("SAVEE", speaker_dir, f"files like a01.wav in {speaker_dir.name}")
        matched, speaker_unparsed = match_names(files, _NAME)
        unparsed += speaker_unparsed
        for path, match in matched:
            label = SAVEE_EMOTION_CODES[match["emotion"]]
            rows.append(utterance_row(path, label, speaker_dir.name, "male"))
    reject_unparsed("SAVEE", unparsed, "a01.wav, sa01.wav, su15.wav")
    warn_if_incomplete("SAVEE", len(rows), SAVEE_NUM_UTTERANCES)
    fold_of = leave_one_speaker_out(SAVEE_SPEAKERS)
    description = "SAVEE, 7 classes, leave-one-speaker-out (4 folds)"
    return build_dataset(rows, SAVEE_LABELS, fold_of, corpus="savee", protocol=description)
