"""URDU, natural emotional speech cut from Urdu television talk shows (Latif et al., FIT 2018).

Layout as published: ``<root>/Angry/SM1_F10_A010.wav`` (folders ``Angry``, ``Happy``,
``Neutral``, ``Sad``; ``.wav`` as released or a ``.flac`` copy). The name is the speaker code
(``S``, gender ``F``/``M``, number), the file number of that speaker (``F10``) and the emotion
letter with its number (``A`` angry, ``H`` happy, ``N`` neutral, ``S`` sad). A file whose
emotion letter disagrees with its folder is refused. 400 utterances, 100 per label, 29 speaker
codes in the file names (11 female: SF1 to SF11, 18 male); the paper speaks of 38 speakers.

Speaker and label are confounded (26 of the 29 codes carry one label only, e.g. SM4: 48 angry),
so only speaker-independent folds are an honest test; random splits let a model score by
recognising the speaker or the show (``eam-ser check`` reports the confound).

Protocol: 5 speaker-independent folds balanced by utterances. The speakers of the files found
are dealt largest first, each to the fold holding the fewest utterances so far (ties: the lower
fold); on the full release every fold holds 80 utterances.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    find_audio_files,
    layout_error,
    match_names,
    reject_unparsed,
    speaker_fold_count,
    utterance_row,
    warn_if_incomplete,
)

URDU_LABELS = ["angry", "happy", "neutral", "sad"]
URDU_EMOTION_CODES = dict(zip("AHNS", URDU_LABELS, strict=True))
URDU_FOLDERS = {label.capitalize(): label for label in URDU_LABELS}
URDU_NUM_FOLDS = 5
URDU_NUM_UTTERANCES = 400

_NAME = re.compile(
    r"^S(?P<gender>[FM])(?P<number>\d+)_F(?P<file>\d+)_(?P<emotion>[AHNS])(?P<index>\d+)$"
)


def folds_balanced_by_utterances(speakers: Iterable[str], num_folds: int) -> dict[str, int]:
    """Fold map dealing speakers to `num_folds` folds so that the folds hold similar numbers of
    utterances: speakers with the most utterances first (ties by id), each to the fold with the
    fewest utterances so far (ties: the lower fold). `speakers` holds one id per utterance."""
    counts = Counter(speakers)
    if not 2 <= num_folds <= len(counts):
        raise ValueError(
            f"num_folds must be between 2 and the {len(counts)} speakers, got {num_folds}"
        )
    sizes = [0] * num_folds
    fold_of: dict[str, int] = {}
    for speaker, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        fold = min(range(num_folds), key=lambda index: (sizes[index], index))
        fold_of[speaker] = fold
        sizes[fold] += count
    return fold_of


def load_urdu(root: str | Path) -> Dataset:
    """Load URDU from `root` (the folder holding ``Angry/``, ``Happy/``, ``Neutral/``, ``Sad/``).

    Returns the corpus `Dataset` (see `eam_ser.corpora.base`) with 5 speaker-independent folds
    balanced by utterances; the speaker is the code of the file name (``SM1``), the gender its
    letter.
    """
    root = Path(root)
    expected = "<root>/Angry/SM1_F10_A010.wav (folders Angry Happy Neutral Sad)"
    files = find_audio_files("URDU", root, expected, recursive=True)
    matched, unparsed = match_names(files, _NAME)
    rows = []
    for path, match in matched:
        label = URDU_EMOTION_CODES[match["emotion"]]
        folder = path.parent.name
        if path.parent != root and URDU_FOLDERS.get(folder) != label:
            raise layout_error(
                "URDU",
                f"the emotion letter of each file to match its folder ({expected})",
                f"{path.relative_to(root)} (letter {match['emotion']} is {label})",
            )
        speaker = f"S{match['gender']}{int(match['number'])}"
        gender = "female" if match["gender"] == "F" else "male"
        rows.append(utterance_row(path, label, speaker, gender))
    reject_unparsed("URDU", unparsed, "SM1_F10_A010.wav (emotion letter A H N S)")
    warn_if_incomplete("URDU", len(rows), URDU_NUM_UTTERANCES)
    speakers, num_folds = speaker_fold_count("URDU", rows, URDU_NUM_FOLDS, "speakers")
    return build_dataset(
        rows,
        URDU_LABELS,
        folds_balanced_by_utterances(speakers, num_folds),
        corpus="urdu",
        protocol=f"URDU, 4 classes, {num_folds} speaker-independent folds balanced by utterances",
    )
