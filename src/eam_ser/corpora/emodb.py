"""EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al., Interspeech 2005).

Layout: the official release keeps the audio in ``<root>/wav/03a01Fa.wav``; a flat folder of
``03a01Fa.wav`` / ``.flac`` files (as in ``../shared/data/emodb``) is accepted too. The file
name encodes speaker (2 digits), text code (``a01``..``b10``), emotion letter and version:
W angry (Wut), L boredom (Langeweile), E disgust (Ekel), A fearful (Angst), F happy (Freude),
T sad (Trauer), N neutral. 535 utterances, 10 speakers (female: 08 09 13 14 16).

Protocols (speaker-independent):
- ``"loso"``: leave one speaker out, 10 folds, fold ``k`` = ``k``-th speaker in sorted order.
- ``"speaker_pairs"``: 5 folds of one female + one male speaker, pairing the sorted male ids
  with the sorted female ids: (03, 08), (10, 09), (11, 13), (12, 14), (15, 16).
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    find_audio_files,
    folds_from_groups,
    leave_one_speaker_out,
    match_names,
    reject_unparsed,
    utterance_row,
    warn_if_incomplete,
)

EMODB_LABELS = ["angry", "boredom", "disgust", "fearful", "happy", "sad", "neutral"]
EMODB_EMOTION_CODES = dict(zip("WLEAFTN", EMODB_LABELS, strict=True))
EMODB_FEMALE_SPEAKERS = ("08", "09", "13", "14", "16")
EMODB_MALE_SPEAKERS = ("03", "10", "11", "12", "15")
EMODB_SPEAKER_PAIRS = tuple(zip(EMODB_MALE_SPEAKERS, EMODB_FEMALE_SPEAKERS, strict=True))
EMODB_NUM_UTTERANCES = 535
EMODB_PROTOCOLS = ("loso", "speaker_pairs")

_NAME = re.compile(
    r"^(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[WLEAFTN])(?P<version>[a-z])$"
)


def load_emodb(root: str | Path, *, protocol: str = "loso") -> Dataset:
    """Load EmoDB from `root` (the folder holding ``wav/`` or the audio files themselves).

    `protocol` is ``"loso"`` (10 folds) or ``"speaker_pairs"`` (5 folds, one female + one male
    speaker each). Returns the corpus `Dataset` (see `eam_ser.corpora.base`).
    """
    if protocol not in EMODB_PROTOCOLS:
        raise ValueError(f"protocol must be one of {EMODB_PROTOCOLS}, got {protocol!r}")
    root = Path(root)
    audio_dir = root / "wav" if (root / "wav").is_dir() else root
    files = find_audio_files(
        "EmoDB", audio_dir, "audio files like 03a01Fa.wav in <root>/wav or <root>"
    )
    matched, unparsed = match_names(files, _NAME)
    rows = []
    for path, match in matched:
        speaker = match["speaker"]
        if speaker not in EMODB_FEMALE_SPEAKERS + EMODB_MALE_SPEAKERS:
            unparsed.append(path)
            continue
        gender = "female" if speaker in EMODB_FEMALE_SPEAKERS else "male"
        rows.append(utterance_row(path, EMODB_EMOTION_CODES[match["emotion"]], speaker, gender))
    reject_unparsed("EmoDB", unparsed, "03a01Fa.wav (speakers 03 08 09 10 11 12 13 14 15 16)")
    warn_if_incomplete("EmoDB", len(rows), EMODB_NUM_UTTERANCES)
    if protocol == "loso":
        fold_of = leave_one_speaker_out(EMODB_FEMALE_SPEAKERS + EMODB_MALE_SPEAKERS)
        description = "EmoDB, 7 classes, leave-one-speaker-out (10 folds)"
    else:
        fold_of = folds_from_groups(EMODB_SPEAKER_PAIRS)
        description = "EmoDB, 7 classes, 5 folds of one male + one female speaker"
    return build_dataset(rows, EMODB_LABELS, fold_of, corpus="emodb", protocol=description)
