"""RAVDESS speech (Livingstone & Russo, PLoS ONE 2018), the audio-only speech part.

Layout: ``<root>/Actor_01/03-01-05-01-02-01-01.wav`` ... ``Actor_24``. The seven fields are
modality (03 = audio-only), vocal channel (01 = speech, 02 = song: skipped), emotion
(01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised),
intensity, statement, repetition and actor (odd = male, even = female). 1440 files.

Protocol: 6 speaker-independent folds of 4 consecutive actors (fold 0 = actors 01-04, ...,
fold 5 = 21-24), each with two male and two female actors.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    find_audio_files,
    layout_error,
    reject_unparsed,
    utterance_row,
    warn_if_incomplete,
)

RAVDESS_LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
RAVDESS_NUM_ACTORS = 24
RAVDESS_ACTORS_PER_FOLD = 4
RAVDESS_NUM_SPEECH_FILES = 1440

_NAME = re.compile(
    r"^(?P<modality>0[1-3])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])"
    r"-(?P<statement>0[12])-(?P<repetition>0[12])-(?P<actor>\d{2})$"
)


def load_ravdess(root: str | Path) -> Dataset:
    """Load the RAVDESS speech files under `root` (the folder holding ``Actor_01``..``Actor_24``)."""
    root = Path(root)
    actor_dirs = sorted(path for path in root.glob("Actor_*") if path.is_dir())
    if not actor_dirs:
        raise layout_error("RAVDESS", "folders Actor_01 .. Actor_24", root)
    rows, unparsed = [], []
    for actor_dir in actor_dirs:
        expected = f"files like 03-01-05-01-02-01-{actor_dir.name[-2:]}.wav in {actor_dir.name}"
        for path in find_audio_files("RAVDESS", actor_dir, expected):
            match = _NAME.match(path.stem)
            if match is None or f"Actor_{match['actor']}" != actor_dir.name:
                unparsed.append(path)
                continue
            if match["modality"] != "03" or match["channel"] != "01":
                continue  # video files and song: not part of the speech protocol
            label = RAVDESS_LABELS[int(match["emotion"]) - 1]
            gender = "male" if int(match["actor"]) % 2 else "female"
            rows.append(utterance_row(path, label, match["actor"], gender))
    reject_unparsed("RAVDESS", unparsed, "03-01-05-01-02-01-01.wav inside the matching Actor_01")
    warn_if_incomplete("RAVDESS", len(rows), RAVDESS_NUM_SPEECH_FILES)
    fold_of = {
        f"{actor:02d}": (actor - 1) // RAVDESS_ACTORS_PER_FOLD
        for actor in range(1, RAVDESS_NUM_ACTORS + 1)
    }
    return build_dataset(
        rows,
        RAVDESS_LABELS,
        fold_of,
        corpus="ravdess",
        protocol="RAVDESS speech, 8 classes, 6 folds of 4 actors (speaker-independent)",
    )
