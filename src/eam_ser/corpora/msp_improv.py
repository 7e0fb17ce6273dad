"""MSP-IMPROV (Busso et al., IEEE TAC 2017), 4-class setting.

Assumed layout (the corpus is licensed; this follows the release as described in public
tooling, check it against your copy):

- audio: ``<root>/Audio/session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav`` (any depth under
  ``Audio`` is searched). Name fields: sentence + target emotion (``S01A``), speaker =
  gender + session (``F01``: the female actor of session 1), condition (R read, S target
  improvised, T other improvised, P natural interaction) and turn (``FM01``).
- labels: ``<root>/Evaluation.txt`` (some copies spell it ``Evalution.txt``), one consensus
  line per utterance such as ``UTD-IMPROV-S01A-F01-P-FM01.avi; N; A:3.0; V:3.0; D:3.0; N:3.0``
  followed by the raters' lines, which are ignored.

Labels: A angry, H happy, S sad, N neutral (7798 utterances); O (other) and X (no agreement)
are dropped, as are audio files without a consensus line.

Protocol: leave one session out (6 folds, fold = session - 1); each session holds one
female and one male actor, so the folds are speaker-independent.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    build_dataset,
    find_audio_files,
    layout_error,
    leave_one_session_out,
    match_names,
    reject_unparsed,
    utterance_row,
    warn_if_incomplete,
)

MSP_IMPROV_LABELS = ["angry", "happy", "sad", "neutral"]
MSP_IMPROV_EMOTION_CODES = dict(zip("AHSN", MSP_IMPROV_LABELS, strict=True))
MSP_IMPROV_NUM_SESSIONS = 6
MSP_IMPROV_NUM_UTTERANCES = 7798
MSP_IMPROV_LABEL_FILES = ("Evaluation.txt", "Evalution.txt")

_KEY = r"S\d{2}[A-Z]-(?P<gender>[FM])(?P<session>\d{2})-[A-Z]-[FM]{2}\d{2,3}"
_AUDIO_NAME = re.compile(rf"^MSP-IMPROV-(?P<key>{_KEY})$")
_LABEL_LINE = re.compile(rf"^(?:UTD|MSP)-IMPROV-(?P<key>{_KEY})\.\w+;\s*(?P<emotion>[A-Z])\s*;")


def _read_labels(root: Path) -> dict[str, str]:
    """Utterance key (``S01A-F01-P-FM01``) -> consensus label letter."""
    for name in MSP_IMPROV_LABEL_FILES:
        if (root / name).is_file():
            lines = (root / name).read_text(encoding="utf-8", errors="replace").splitlines()
            return {m["key"]: m["emotion"] for m in map(_LABEL_LINE.match, lines) if m}
    raise layout_error("MSP-IMPROV", "the label file <root>/Evaluation.txt", root)


def load_msp_improv(root: str | Path) -> Dataset:
    """Load the 4-class MSP-IMPROV set from `root` (the folder holding ``Audio/``)."""
    root = Path(root)
    labels = _read_labels(root)
    files = find_audio_files(
        "MSP-IMPROV",
        root / "Audio",
        "<root>/Audio/session1/.../MSP-IMPROV-S01A-F01-P-FM01.wav",
        recursive=True,
    )
    matched, unparsed = match_names(files, _AUDIO_NAME)
    rows = []
    for path, match in matched:
        emotion = labels.get(match["key"])
        if emotion in MSP_IMPROV_EMOTION_CODES:
            speaker, session = f"{match['gender']}{match['session']}", int(match["session"])
            gender = "female" if match["gender"] == "F" else "male"
            label = MSP_IMPROV_EMOTION_CODES[emotion]
            rows.append(utterance_row(path, label, speaker, gender, session=session))
    reject_unparsed("MSP-IMPROV", unparsed, "MSP-IMPROV-S01A-F01-P-FM01.wav")
    warn_if_incomplete("MSP-IMPROV", len(rows), MSP_IMPROV_NUM_UTTERANCES)
    fold_of = leave_one_session_out(MSP_IMPROV_NUM_SESSIONS, "{gender}{session:02d}")
    description = "MSP-IMPROV, 4 classes, leave-one-session-out (6 folds)"
    return build_dataset(
        rows, MSP_IMPROV_LABELS, fold_of, corpus="msp_improv", protocol=description
    )
