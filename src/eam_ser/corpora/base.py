"""Shared plumbing for the corpus loaders: layout errors, fold maps, Dataset building, splits.

Every corpus module turns a local copy into rows (``audio`` path, ``label`` name, ``speaker``,
``gender``, optional ``session``) and a speaker -> fold map, then calls `build_dataset`.
The resulting `datasets.Dataset` has the columns

- ``audio``: absolute path of the audio file (str; decode with `eam_ser.data.audio.load_audio`),
- ``label``: `datasets.ClassLabel` over the corpus's ordered label list,
- ``speaker``: speaker id (str, e.g. ``"03"``),
- ``gender``: ``"female"``, ``"male"`` or `MISSING_VALUE` (``"unknown"``) when the source
  does not say,
- ``fold``: int fold index (0-based) of the corpus's speaker-independent protocol,
- ``session``: int recording session (IEMOCAP, MSP-IMPROV only),
- ``manifest_line``: int line of the row in its CSV manifest (manifests only),

and ``dataset.info.dataset_name`` / ``dataset.info.description`` name the corpus and the
protocol. `train_test_split_by_fold` and `train_test_split_by_speakers` split it
and refuse any split that puts one speaker on both sides.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, DatasetInfo, Features, Value

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac")
MISSING_VALUE = "unknown"
"""What a loader writes for a gender or speaker its source does not give; the per-group report
(`eam_ser.evaluation.report.grouping_columns`) leaves such rows out of that column's groups."""
GENDERS = ("female", "male", MISSING_VALUE)


class CorpusLayoutError(ValueError):
    """A corpus folder does not have the layout its loader expects."""


def _describe(path: Path, limit: int = 8) -> str:
    """Short listing of a folder for error messages: 'a/, b.wav, ... (N entries)'."""
    if not path.exists():
        return f"{path} does not exist"
    if not path.is_dir():
        return f"{path} is a file, not a folder"
    entries = sorted(path.iterdir())
    if not entries:
        return f"{path} is empty"
    names = [entry.name + ("/" if entry.is_dir() else "") for entry in entries[:limit]]
    more = f", ... ({len(entries)} entries)" if len(entries) > limit else ""
    return f"{path} contains " + ", ".join(names) + more


def layout_error(corpus: str, expected: str, found: str | Path) -> CorpusLayoutError:
    """Error that says what the loader of `corpus` expected and what it found.

    `found` is either a message or a folder, which is then listed.
    """
    found_text = _describe(found) if isinstance(found, Path) else found
    return CorpusLayoutError(f"{corpus}: expected {expected}; found: {found_text}")


def require_dir(corpus: str, path: Path, expected: str) -> Path:
    """Return `path` if it is a folder, else raise a layout error listing its nearest existing
    ancestor (so the message shows what is there instead)."""
    if not path.is_dir():
        existing = next((parent for parent in path.parents if parent.is_dir()), path)
        raise layout_error(corpus, expected, existing)
    return path


def find_audio_files(
    corpus: str, folder: Path, expected: str, *, recursive: bool = False
) -> list[Path]:
    """Sorted audio files (.wav / .flac) in `folder`; a layout error when there are none.

    Hidden files (macOS ``._*`` resource forks) are skipped.
    """
    require_dir(corpus, folder, expected)
    pattern = "**/*" if recursive else "*"
    files = sorted(
        path
        for path in folder.glob(pattern)
        if path.suffix.lower() in AUDIO_EXTENSIONS
        and path.is_file()
        and not path.name.startswith(".")
    )
    if not files:
        raise layout_error(corpus, expected, folder)
    for path in files:
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            raise layout_error(
                corpus,
                "file names that are valid UTF-8",
                f"{os.fsencode(path)!r}; rename it (e.g. convmv -f latin1 -t utf8)",
            ) from None
    return files


def match_names(
    files: Iterable[Path], name: re.Pattern[str]
) -> tuple[list[tuple[Path, re.Match[str]]], list[Path]]:
    """Each file whose stem (name without extension) matches the naming scheme `name`, with the
    match, and apart the files whose stem does not (for `reject_unparsed`)."""
    matched, unparsed = [], []
    for path in files:
        match = name.match(path.stem)
        if match is None:
            unparsed.append(path)
        else:
            matched.append((path, match))
    return matched, unparsed


def utterance_row(
    path: Path, label: str, speaker: str, gender: str, **extra: int
) -> dict[str, object]:
    """A row for `build_dataset`: the resolved audio path, the label name, the speaker id,
    the gender and the optional int columns in `extra` (``session``)."""
    return {
        "audio": str(path.resolve()),
        "label": label,
        "speaker": speaker,
        "gender": gender,
        **extra,
    }


def reject_unparsed(corpus: str, unparsed: Sequence[Path], expected: str) -> None:
    """Raise a layout error listing audio files whose names do not follow the naming scheme."""
    if unparsed:
        shown = ", ".join(path.name for path in unparsed[:5])
        more = f" and {len(unparsed) - 5} more" if len(unparsed) > 5 else ""
        raise layout_error(
            corpus, f"file names like {expected}", f"{len(unparsed)} other files: {shown}{more}"
        )


def leave_one_speaker_out(speakers: Iterable[str]) -> dict[str, int]:
    """Fold map with one fold per speaker, in sorted speaker order."""
    return {speaker: fold for fold, speaker in enumerate(sorted(set(speakers)))}


def folds_from_groups(groups: Sequence[Sequence[str]]) -> dict[str, int]:
    """Fold map where fold ``k`` holds the speakers of ``groups[k]``; a speaker twice -> error."""
    fold_of: dict[str, int] = {}
    for fold, group in enumerate(groups):
        for speaker in group:
            if speaker in fold_of:
                raise ValueError(
                    f"groups: speaker {speaker!r} is in folds {fold_of[speaker]} and {fold}"
                )
            fold_of[speaker] = fold
    return fold_of


def leave_one_session_out(num_sessions: int, speaker_name: str) -> dict[str, int]:
    """Fold map of a corpus whose sessions 1 .. `num_sessions` each hold one female and one male
    speaker, named ``speaker_name.format(session=k, gender="F" or "M")``: fold = session - 1."""
    return {
        speaker_name.format(session=session, gender=gender): session - 1
        for session in range(1, num_sessions + 1)
        for gender in "FM"
    }


def round_robin_folds(speakers: Iterable[str], num_folds: int) -> dict[str, int]:
    """Fold map dealing the sorted speakers to `num_folds` folds in turn (speaker ``i`` -> ``i % k``)."""
    unique = sorted(set(speakers))
    if not 2 <= num_folds <= len(unique):
        raise ValueError(
            f"num_folds must be between 2 and the {len(unique)} speakers, got {num_folds}"
        )
    return {speaker: index % num_folds for index, speaker in enumerate(unique)}


def speaker_fold_count(
    corpus: str, rows: Sequence[Mapping[str, object]], num_folds: int, speakers_are: str
) -> tuple[list[str], int]:
    """The speaker of each row and the number of folds a corpus dealing its speakers into
    `num_folds` folds can have: at most one per speaker; a layout error naming the speakers
    (`speakers_are`, e.g. "actors") when fewer than 2 are found."""
    speakers = [str(row["speaker"]) for row in rows]
    found = sorted(set(speakers))
    if len(found) < 2:
        raise layout_error(
            corpus, f"clips from at least 2 {speakers_are}", f"{speakers_are} {found}"
        )
    return speakers, min(num_folds, len(found))


def build_dataset(
    rows: Sequence[Mapping[str, object]],
    labels: Sequence[str],
    fold_of: Mapping[str, int],
    *,
    corpus: str,
    protocol: str,
) -> Dataset:
    """Build the corpus `Dataset` from rows with ``audio``, ``label``, ``speaker``, ``gender``
    (and optionally ``session``).

    `labels` is the ordered label list (becomes the `ClassLabel` names), `fold_of` maps each
    speaker to its fold, `protocol` is a one-line description stored in ``info.description``.
    Rows are sorted by audio path so the result does not depend on file-system order.
    """
    if not rows:
        raise ValueError(f"{corpus}: no utterances with one of the labels {list(labels)}")
    label_index = {name: index for index, name in enumerate(labels)}
    optional = [name for name in ("session", "manifest_line") if name in rows[0]]
    columns: dict[str, list] = {"audio": [], "label": [], "speaker": [], "gender": [], "fold": []}
    for name in optional:
        columns[name] = []
    for row in sorted(rows, key=lambda r: str(r["audio"])):
        label, speaker, gender = str(row["label"]), str(row["speaker"]), str(row["gender"])
        if label not in label_index:
            raise ValueError(
                f"{corpus}: label {label!r} of {row['audio']} is not one of {list(labels)}"
            )
        if gender not in GENDERS:
            raise ValueError(
                f"{corpus}: gender {gender!r} of {row['audio']} is not one of {GENDERS}"
            )
        if speaker not in fold_of:
            raise ValueError(f"{corpus}: speaker {speaker!r} of {row['audio']} has no fold")
        columns["audio"].append(str(row["audio"]))
        columns["label"].append(label_index[label])
        columns["speaker"].append(speaker)
        columns["gender"].append(gender)
        columns["fold"].append(int(fold_of[speaker]))
        for name in optional:
            columns[name].append(int(row[name]))  # type: ignore[call-overload]
    feature_types = {
        "audio": Value("string"),
        "label": ClassLabel(names=list(labels)),
        "speaker": Value("string"),
        "gender": Value("string"),
        "fold": Value("int32"),
    }
    for name in optional:
        feature_types[name] = Value("int32")
    features = Features(feature_types)
    info = DatasetInfo(dataset_name=corpus, description=protocol, features=features)
    return Dataset.from_dict(columns, features=features, info=info)


def label_names(dataset: Dataset) -> list[str]:
    """The ordered label names of a corpus dataset (its ``label`` ClassLabel).

    Raises:
        ValueError: no ``label`` ClassLabel, naming the fix; in particular a streaming
            (`datasets.IterableDataset`) dataset after ``.map()``, whose features are unknown.
    """
    if getattr(dataset, "features", None) is None:
        raise ValueError(
            "dataset: its features are unknown, so the label names are too (an "
            "IterableDataset after .map() loses them): pass features=dataset.features (with "
            "the new columns) to .map(), or cast the column: "
            ".cast_column('label', ClassLabel(names=[...]))"
        )
    feature = dataset.features.get("label")
    if not isinstance(feature, ClassLabel):
        raise ValueError(f"dataset: column 'label' must be a ClassLabel, got {feature!r}")
    return list(feature.names)


def check_speaker_disjoint(train: Dataset, test: Dataset) -> None:
    """Raise ValueError when a speaker appears in both `train` and `test`."""
    shared = sorted(set(train["speaker"]) & set(test["speaker"]))
    if shared:
        raise ValueError(f"speakers {shared} are in both the training and the test split")


def _split(dataset: Dataset, in_test: np.ndarray) -> tuple[Dataset, Dataset]:
    train = dataset.select(np.flatnonzero(~in_test))
    test = dataset.select(np.flatnonzero(in_test))
    check_speaker_disjoint(train, test)
    return train, test


def train_test_split_by_fold(dataset: Dataset, fold: int) -> tuple[Dataset, Dataset]:
    """(train, test) where test is fold `fold` and train all other folds; speaker-disjoint."""
    folds = np.asarray(dataset["fold"])
    if fold not in set(folds.tolist()):
        raise ValueError(
            f"fold {fold} is not in the dataset (folds: {sorted(set(folds.tolist()))})"
        )
    return _split(dataset, folds == fold)


def train_test_split_by_speakers(
    dataset: Dataset, test_speakers: Sequence[str]
) -> tuple[Dataset, Dataset]:
    """(train, test) where test holds the utterances of `test_speakers` (ids as str)."""
    speakers = np.asarray(dataset["speaker"], dtype=object)
    unknown = sorted(set(map(str, test_speakers)) - set(speakers.tolist()))
    if unknown:
        raise ValueError(
            f"test_speakers {unknown} are not in the dataset (speakers: {sorted(set(speakers.tolist()))})"
        )
    in_test = np.isin(speakers, [str(s) for s in test_speakers])
    if in_test.all():
        raise ValueError("test_speakers: every speaker is in the test split, none left to train on")
    return _split(dataset, in_test)


def warn_if_incomplete(corpus: str, found: int, expected: int) -> None:
    """Log a warning when a corpus copy has fewer utterances than the full release."""
    if found != expected:
        logger.warning("%s: found %d utterances, the full release has %d", corpus, found, expected)
