"""Generic loaders: a CSV manifest (``file,label,speaker[,gender][,fold]``) or an audiofolder.

- CSV manifest: ``file`` is a path relative to the manifest's folder (or absolute), ``label`` a
  class name, ``speaker`` an id read as a string (``"03"`` stays ``"03"``), ``gender`` optional
  (female / male / unknown; empty or absent: `MISSING_VALUE`), ``fold`` optional; other
  columns (e.g. ``duration_s`` in ``../shared/data/<corpus>/manifest.csv``) are ignored.
- audiofolder: ``<root>/<label>/<file>.wav|.flac``; the speaker is `MISSING_VALUE` unless
  `speaker_pattern`, a regular expression searched in the file name (without extension), has a
  group named ``speaker`` (or a first group) that captures it.

Folds: a ``fold`` column is used as given; otherwise ``num_folds=None`` means leave one
speaker out and an int deals the sorted speakers to that many folds in turn.
Labels are ordered as `labels` when given, else alphabetically.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset

from eam_ser.corpora.base import (
    AUDIO_EXTENSIONS,
    MISSING_VALUE,
    build_dataset,
    find_audio_files,
    layout_error,
    leave_one_speaker_out,
    round_robin_folds,
)

MANIFEST_REQUIRED_COLUMNS = ("file", "label", "speaker")
MANIFEST_FILE_NAME = "manifest.csv"


def _finish(
    rows: list[dict],
    *,
    labels: Sequence[str] | None,
    num_folds: int | None,
    corpus: str,
    source: str,
) -> Dataset:
    label_list = list(labels) if labels is not None else sorted({str(r["label"]) for r in rows})
    speakers = [str(row["speaker"]) for row in rows]
    if all("fold" in row for row in rows):
        fold_of: dict[str, int] = {}
        for row in rows:
            speaker, fold = str(row["speaker"]), int(row["fold"])
            if fold_of.setdefault(speaker, fold) != fold:
                raise ValueError(
                    f"{source}: speaker {speaker!r} is in folds {fold_of[speaker]} and {fold}"
                )
        protocol = f"{corpus}: folds as given in {source}"
    elif num_folds is None:
        fold_of = leave_one_speaker_out(speakers)
        protocol = f"{corpus}: leave-one-speaker-out ({len(fold_of)} folds)"
    else:
        fold_of = round_robin_folds(speakers, num_folds)
        protocol = f"{corpus}: {num_folds} speaker-independent folds (speakers dealt in turn)"
    for row in rows:
        row.pop("fold", None)
    return build_dataset(rows, label_list, fold_of, corpus=corpus, protocol=protocol)


def _read_text(path: Path, encoding: str) -> str:
    """The manifest's text; UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8") by
    default. Undecodable bytes raise ValueError naming the file, the line and the `encoding`
    argument."""
    data = path.read_bytes()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError:
        raise ValueError(f"{path}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"{path}, line {line}: byte {data[error.start : error.start + 1]!r} is not valid "
            f"{encoding}; if the file was saved in another encoding, say which with "
            "encoding (e.g. encoding=latin-1 or encoding=cp1252)"
        ) from None


def load_manifest(
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    num_folds: int | None = None,
    corpus: str = "custom",
    encoding: str = "utf-8",
) -> Dataset:
    """Load a CSV manifest (``file,label,speaker[,gender][,fold]``) into a corpus `Dataset`.

    The dataset gets a ``manifest_line`` column (line of each row in the file) so problems found
    later are reported by line. `encoding` is that of the file (UTF-8 with or without BOM by
    default).

    Raises:
        ValueError: undecodable bytes, or rows with a missing audio file (or a folder in its
            place), an empty label or speaker, or a fold that is not an integer: every such
            row is listed, by file and line.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE_NAME
    if not path.is_file():
        raise layout_error(corpus, f"a CSV manifest at {path}", path.parent)
    rows = []
    problems: list[str] = []
    text = _read_text(path, encoding)
    with io.StringIO(text, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        if not set(MANIFEST_REQUIRED_COLUMNS) <= set(columns):
            raise layout_error(
                corpus,
                f"CSV columns {','.join(MANIFEST_REQUIRED_COLUMNS)}[,gender][,fold] in {path}",
                f"columns {columns}",
            )
        for record in reader:
            line_number = reader.line_num
            where = f"{path}, line {line_number}"
            audio = Path((record["file"] or "").strip())
            audio = audio if audio.is_absolute() else path.parent / audio
            if audio.is_dir():
                problems.append(f"{where}: {audio} is a folder, not an audio file")
                continue
            if not audio.is_file():
                problems.append(f"{where}: audio file {audio} does not exist")
                continue
            empty = [
                column for column in ("label", "speaker") if not (record[column] or "").strip()
            ]
            if empty:
                problems.append(f"{where}: empty {' and '.join(empty)} for {audio.name}")
                continue
            row = {
                "audio": str(audio.resolve()),
                "label": record["label"].strip(),
                "speaker": record["speaker"].strip(),
                "gender": (record.get("gender") or MISSING_VALUE).strip().lower(),
                "manifest_line": line_number,
            }
            fold = (record.get("fold") or "").strip()
            if fold:
                try:
                    row["fold"] = int(fold)
                except ValueError:
                    problems.append(f"{where}: fold {fold!r} is not an integer")
                    continue
            rows.append(row)
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ValueError(f"{path}: {len(problems)} rows cannot be used:\n  {shown}{more}")
    if not rows:
        raise layout_error(corpus, f"at least one row in {path}", "only a header")
    return _finish(rows, labels=labels, num_folds=num_folds, corpus=corpus, source=str(path))


def load_audiofolder(
    root: str | Path,
    *,
    speaker_pattern: str | None = None,
    labels: Sequence[str] | None = None,
    num_folds: int | None = None,
    corpus: str = "custom",
) -> Dataset:
    """Load ``<root>/<label>/*.wav|.flac`` into a corpus `Dataset` (see module docstring)."""
    root = Path(root)
    label_dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not label_dirs:
        raise layout_error(corpus, "one folder per label, <root>/<label>/<file>.wav", root)
    pattern = re.compile(speaker_pattern) if speaker_pattern is not None else None
    if pattern is not None and pattern.groups == 0:
        raise ValueError(
            f"speaker_pattern {speaker_pattern!r} needs a group that captures the speaker"
        )
    rows = []
    for label_dir in label_dirs:
        expected = f"audio files ({', '.join(AUDIO_EXTENSIONS)}) in {label_dir.name}/"
        for audio in find_audio_files(corpus, label_dir, expected):
            speaker = MISSING_VALUE
            if pattern is not None:
                match = pattern.search(audio.stem)
                if match is None:
                    raise ValueError(f"speaker_pattern {speaker_pattern!r} does not match {audio}")
                speaker = match.groupdict().get("speaker") or match.group(1)
            rows.append(
                {
                    "audio": str(audio.resolve()),
                    "label": label_dir.name,
                    "speaker": speaker,
                    "gender": MISSING_VALUE,
                }
            )
    return _finish(rows, labels=labels, num_folds=num_folds, corpus=corpus, source=str(root))


def load_local(path: str | Path, *, encoding: str = "utf-8", **kwargs) -> Dataset:
    """A CSV file or a folder with ``manifest.csv`` -> `load_manifest` (in `encoding`); other
    folders -> `load_audiofolder`."""
    path = Path(path)
    if path.suffix.lower() == ".csv" or (path / MANIFEST_FILE_NAME).is_file():
        return load_manifest(path, encoding=encoding, **kwargs)
    return load_audiofolder(path, **kwargs)
