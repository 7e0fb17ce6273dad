"""IEMOCAP (Busso et al., Language Resources and Evaluation 2008), 4-class setting.

Layout: ``<root>/Session1 .. Session5`` (``root`` is ``IEMOCAP_full_release`` or its parent),
each with ``sentences/wav/<dialog>/<utterance>.wav`` and labels in
``dialog/EmoEvaluation/<dialog>.txt``, one line per utterance::

    [6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]

Labels: ang -> angry, hap and exc -> happy (the usual merge), sad, neu -> neutral; the other
categories (fru, sur, fea, dis, oth, xxx) are dropped, leaving 5531 utterances. The speaker
is the session plus the letter that starts the utterance's last part (``Ses01F_impro01_M000``
-> speaker ``Ses01M``, male), so each session holds one female and one male speaker.

Protocol: leave one session out (5 folds, fold = session - 1).
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    layout_error,
    leave_one_session_out,
    require_dir,
    utterance_row,
    warn_if_incomplete,
)

IEMOCAP_LABELS = ["angry", "happy", "sad", "neutral"]
# "exc" (excited) is merged into happy, as usual.
IEMOCAP_EMOTION_CODES = {
    **dict(zip(("ang", "hap", "sad", "neu"), IEMOCAP_LABELS, strict=True)),
    "exc": "happy",
}
IEMOCAP_NUM_SESSIONS = 5
IEMOCAP_NUM_UTTERANCES = 5531

_LINE = re.compile(
    r"^\[(?P<start>[\d.]+) - (?P<end>[\d.]+)\]\s+(?P<utterance>Ses(?P<session>\d{2})[FM]_\S+_(?P<letter>[FM])\d+)"
    r"\s+(?P<emotion>\w+)\s+\["
)


def _session_dirs(root: Path) -> list[Path]:
    base = root / "IEMOCAP_full_release" if (root / "IEMOCAP_full_release").is_dir() else root
    sessions = [base / f"Session{n}" for n in range(1, IEMOCAP_NUM_SESSIONS + 1)]
    present = [session for session in sessions if session.is_dir()]
    if not present:
        raise layout_error("IEMOCAP", "folders Session1 .. Session5 in IEMOCAP_full_release", base)
    return present


def _read_labels(session_dir: Path) -> dict[str, str]:
    """Utterance id -> kept label name, from the session's EmoEvaluation/*.txt files."""
    evaluation_dir = require_dir(
        "IEMOCAP",
        session_dir / "dialog" / "EmoEvaluation",
        f"{session_dir.name}/dialog/EmoEvaluation/",
    )
    files = sorted(p for p in evaluation_dir.glob("*.txt") if not p.name.startswith("."))
    if not files:
        raise layout_error("IEMOCAP", "label files like Ses01F_impro01.txt", evaluation_dir)
    labels = {}
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LINE.match(line)
            if match is not None and match["emotion"] in IEMOCAP_EMOTION_CODES:
                labels[match["utterance"]] = IEMOCAP_EMOTION_CODES[match["emotion"]]
    return labels


def load_iemocap(root: str | Path) -> Dataset:
    """Load the 4-class IEMOCAP set from `root` (``IEMOCAP_full_release`` or its parent)."""
    rows = []
    for session_dir in _session_dirs(Path(root)):
        wav_dir = require_dir(
            "IEMOCAP", session_dir / "sentences" / "wav", f"{session_dir.name}/sentences/wav/"
        )
        for utterance, label in sorted(_read_labels(session_dir).items()):
            dialog = utterance.rsplit("_", 1)[0]
            path = wav_dir / dialog / f"{utterance}.wav"
            if not path.is_file():
                raise layout_error(
                    "IEMOCAP",
                    f"the labelled utterance {path.relative_to(session_dir.parent)}",
                    path.parent,
                )
            letter = utterance.rsplit("_", 1)[1][0]
            gender = "female" if letter == "F" else "male"
            speaker = f"{utterance[:5]}{letter}"
            rows.append(utterance_row(path, label, speaker, gender, session=int(utterance[3:5])))
    warn_if_incomplete("IEMOCAP", len(rows), IEMOCAP_NUM_UTTERANCES)
    fold_of = leave_one_session_out(IEMOCAP_NUM_SESSIONS, "Ses{session:02d}{gender}")
    description = "IEMOCAP, 4 classes (excited merged into happy), leave-one-session-out (5 folds)"
    return build_dataset(rows, IEMOCAP_LABELS, fold_of, corpus="iemocap", protocol=description)
