"""TESS, Toronto Emotional Speech Set (Dupuis & Pichora-Fuller, 2010): 2 female speakers.

Layout: ``<root>/<folder>/OAF_back_angry.wav`` with folders such as ``OAF_angry`` and
``YAF_pleasant_surprised`` (any depth is searched). The name is speaker (OAF = older adult
female, YAF = younger adult female), target word and emotion (angry, disgust, fear, happy,
neutral, ps = pleasant surprise, sad). 2800 files.

Protocol: with two speakers the only speaker-independent scheme is leave one speaker out
(2 folds: train on OAF, test on YAF and the reverse).
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    find_audio_files,
    leave_one_speaker_out,
    reject_unparsed,
    warn_if_incomplete,
)

TESS_LABELS = ["angry", "disgust", "fearful", "happy", "neutral", "pleasant_surprise", "sad"]
TESS_EMOTION_CODES = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "pleasant_surprise",
    "sad": "sad",
}
TESS_SPEAKERS = ("OAF", "YAF")
TESS_NUM_UTTERANCES = 2800

_NAME = re.compile(
    r"^(?P<speaker>OAF|YAF)_(?P<word>[A-Za-z]+)_(?P<emotion>[A-Za-z]+)$", re.IGNORECASE
)


def load_tess(root: str | Path) -> Dataset:
    """Load TESS from `root` (searched recursively for ``OAF_*`` / ``YAF_*`` audio files)."""
    root = Path(root)
    files = find_audio_files(
        "TESS", root, "files like OAF_back_angry.wav under <root>", recursive=True
    )
    rows, unparsed = [], []
    for path in files:
        match = _NAME.match(path.stem)
        if match is None or match["emotion"].lower() not in TESS_EMOTION_CODES:
            unparsed.append(path)
            continue
        rows.append(
            {
                "audio": str(path.resolve()),
                "label": TESS_EMOTION_CODES[match["emotion"].lower()],
                "speaker": match["speaker"].upper(),
                "gender": "female",
            }
        )
    reject_unparsed(
        "TESS", unparsed, "OAF_back_angry.wav (emotion angry disgust fear happy neutral ps sad)"
    )
    warn_if_incomplete("TESS", len(rows), TESS_NUM_UTTERANCES)
    return build_dataset(
        rows,
        TESS_LABELS,
        leave_one_speaker_out(TESS_SPEAKERS),
        corpus="tess",
        protocol="TESS, 7 classes, leave-one-speaker-out (2 folds)",
    )
