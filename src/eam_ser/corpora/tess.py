"""TESS, Toronto Emotional Speech Set (Dupuis & Pichora-Fuller, 2010): 2 female speakers.

Layout: ``<root>/<folder>/OAF_back_angry.wav`` with folders such as ``OAF_angry`` and
``YAF_pleasant_surprised`` (any depth is searched). The name is speaker (OAF = older adult
female, YAF = younger adult female), target word and emotion (angry, disgust, fear, happy,
neutral, ps = pleasant surprise, sad). 2800 files.

Quirks of the official release, all read as intended: the folders are capitalised
inconsistently (``OAF_Fear``, ``OAF_Pleasant_surprise``, ``YAF_pleasant_surprised``); one file
is misnamed ``OA_bite_neutral.wav`` (inside ``OAF_neutral``): the speaker is taken from the
``OAF_`` / ``YAF_`` folder a file sits in, and from its name only outside such a folder; files
are 24.4 kHz, one at 96 kHz, all resampled when loaded.

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
    match_names,
    reject_unparsed,
    utterance_row,
    warn_if_incomplete,
)

TESS_LABELS = ["angry", "disgust", "fearful", "happy", "neutral", "pleasant_surprise", "sad"]
TESS_EMOTION_CODES = dict(
    zip(("angry", "disgust", "fear", "happy", "neutral", "ps", "sad"), TESS_LABELS, strict=True)
)
TESS_SPEAKERS = ("OAF", "YAF")
TESS_NUM_UTTERANCES = 2800

# The speaker prefix of a file name is matched loosely (OA_ as well as OAF_): the folder says
# which speaker it is.
_NAME = re.compile(
    r"^(?P<speaker>OAF?|YAF?)_(?P<word>[A-Za-z]+)_(?P<emotion>[A-Za-z]+)$", re.IGNORECASE
)
_SPEAKER_FOLDER = re.compile(r"^(?P<speaker>OAF|YAF)_", re.IGNORECASE)


def _folder_speaker(path: Path, root: Path) -> str | None:
    """The speaker of the nearest ``OAF_*`` / ``YAF_*`` folder between `path` and `root`."""
    for parent in path.relative_to(root).parents:
        match = _SPEAKER_FOLDER.match(parent.name)
        if match is not None:
            return match["speaker"].upper()
    return None


def load_tess(root: str | Path) -> Dataset:
    """Load TESS from `root` (searched recursively for ``OAF_*`` / ``YAF_*`` audio files)."""
    root = Path(root)
    files = find_audio_files(
        "TESS", root, "files like OAF_back_angry.wav under <root>", recursive=True
    )
    matched, unparsed = match_names(files, _NAME)
    rows = []
    for path, match in matched:
        emotion = match["emotion"].lower()
        speaker = _folder_speaker(path, root) or match["speaker"].upper()
        if emotion not in TESS_EMOTION_CODES or speaker not in TESS_SPEAKERS:
            unparsed.append(path)
            continue
        rows.append(utterance_row(path, TESS_EMOTION_CODES[emotion], speaker, "female"))
    reject_unparsed(
        "TESS", unparsed, "OAF_back_angry.wav (emotion angry disgust fear happy neutral ps sad)"
    )
    warn_if_incomplete("TESS", len(rows), TESS_NUM_UTTERANCES)
    fold_of = leave_one_speaker_out(TESS_SPEAKERS)
    description = "TESS, 7 classes, leave-one-speaker-out (2 folds)"
    return build_dataset(rows, TESS_LABELS, fold_of, corpus="tess", protocol=description)
