"""CREMA-D (Cao et al., IEEE TAC 2014): 91 actors, 6 emotions, 7442 clips.

Layout: ``<root>/AudioWAV/1001_DFA_ANG_XX.wav`` (actor 1001..1091, sentence code, emotion
ANG DIS FEA HAP NEU SAD, intensity LO MD HI XX). Gender comes from ``<root>/VideoDemographics.csv``
(columns ``ActorID``, ``Sex``) when it is there, else `MISSING_VALUE`.

Protocol: with 91 speakers leave-one-speaker-out is impractical, so 5 speaker-independent
folds deal the sorted actor ids in turn (actor ``i`` in sorted order -> fold ``i % 5``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    MISSING_VALUE,
    build_dataset,
    find_audio_files,
    layout_error,
    match_names,
    reject_unparsed,
    round_robin_folds,
    speaker_fold_count,
    utterance_row,
    warn_if_incomplete,
)

CREMA_D_LABELS = ["angry", "disgust", "fearful", "happy", "neutral", "sad"]
CREMA_D_EMOTION_CODES = dict(
    zip(("ANG", "DIS", "FEA", "HAP", "NEU", "SAD"), CREMA_D_LABELS, strict=True)
)
CREMA_D_NUM_FOLDS = 5
CREMA_D_NUM_UTTERANCES = 7442

_NAME = re.compile(
    r"^(?P<actor>1\d{3})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>LO|MD|HI|XX|X)$"
)


def _read_genders(path: Path) -> dict[str, str]:
    """Actor id -> "female"/"male" from VideoDemographics.csv (columns ActorID, Sex)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"ActorID", "Sex"} <= set(reader.fieldnames):
            raise layout_error(
                "CREMA-D", f"columns ActorID and Sex in {path.name}", f"columns {reader.fieldnames}"
            )
        return {row["ActorID"].strip(): row["Sex"].strip().lower() for row in reader}


def load_crema_d(root: str | Path) -> Dataset:
    """Load CREMA-D from `root` (the folder holding ``AudioWAV/``)."""
    root = Path(root)
    files = find_audio_files("CREMA-D", root / "AudioWAV", "<root>/AudioWAV/1001_DFA_ANG_XX.wav")
    demographics = root / "VideoDemographics.csv"
    genders = _read_genders(demographics) if demographics.is_file() else {}
    matched, unparsed = match_names(files, _NAME)
    rows = []
    for path, match in matched:
        if match["emotion"] not in CREMA_D_EMOTION_CODES:
            unparsed.append(path)
            continue
        label, actor = CREMA_D_EMOTION_CODES[match["emotion"]], match["actor"]
        rows.append(utterance_row(path, label, actor, genders.get(actor, MISSING_VALUE)))
    reject_unparsed("CREMA-D", unparsed, "1001_DFA_ANG_XX.wav (emotion ANG DIS FEA HAP NEU SAD)")
    warn_if_incomplete("CREMA-D", len(rows), CREMA_D_NUM_UTTERANCES)
    speakers, num_folds = speaker_fold_count("CREMA-D", rows, CREMA_D_NUM_FOLDS, "actors")
    return build_dataset(
        rows,
        CREMA_D_LABELS,
        round_robin_folds(speakers, num_folds),
        corpus="crema_d",
        protocol=f"CREMA-D, 6 classes, {num_folds} speaker-independent folds (actors dealt in turn)",
    )
