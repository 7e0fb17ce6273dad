"""External fold files: the train/test lists published with a corpus or a paper, read so that
``eam-ser check --splits FILE`` can audit them (speakers on both sides, the same audio in two
splits) before anyone trains on them.

A split file is a CSV with a header holding ``file`` and ``split`` columns, or JSON lines with
those keys (``{"file": "wav/03a01Fa.wav", "split": "test"}``), one utterance per line. A file
is matched to the dataset by its path (absolute, or relative to the dataset's common folder) or,
when that does not match, by its name if exactly one dataset file has it.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["SplitEntry", "apply_split_file", "read_split_file"]

SplitEntry = tuple[int, str, str]
"""(line number, file as written, split name) of one line of a split file."""


def read_split_file(path: Path) -> list[SplitEntry]:
    """The entries of a split file (CSV or JSON lines, see the module docstring).

    Raises:
        ValueError: naming the file and line, for a missing column or key, an empty value, a
            line that is not JSON, or a file without entries.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"splits {path}: no such file")
    text = path.read_text(encoding="utf-8-sig")
    entries: list[SplitEntry] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}, line {number}: not a JSON object") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number}: not a JSON object")
            entries.append(_entry(path, number, record.get("file"), record.get("split")))
    else:
        reader = csv.DictReader(text.splitlines())
        missing = {"file", "split"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{path}, line 1: the header needs the columns file and split, it has "
                f"{reader.fieldnames}"
            )
        for number, row in enumerate(reader, start=2):
            entries.append(_entry(path, number, row["file"], row["split"]))
    if not entries:
        raise ValueError(f"{path}: no entries")
    return entries


def _entry(path: Path, number: int, file: object, split: object) -> SplitEntry:
    if not isinstance(file, str) or not file.strip():
        raise ValueError(f"{path}, line {number}: empty or missing file")
    if not isinstance(split, str | int) or not str(split).strip():
        raise ValueError(f"{path}, line {number}: empty or missing split for {file}")
    return number, file.strip(), str(split).strip()


def apply_split_file(
    dataset: Dataset, entries: list[SplitEntry], source: Path
) -> dict[str, Dataset]:
    """The rows of `dataset` named by each split of `entries`, as ``{split: Dataset}``.

    Raises:
        ValueError: an entry matches no dataset file or several, naming its line.
    """
    paths = [str(Path(path).resolve()) for path in dataset["audio"]]
    root = Path(os.path.commonpath([str(Path(p).parent) for p in paths])) if paths else Path()
    by_path = {path: row for row, path in enumerate(paths)}
    by_relative = {str(Path(path).relative_to(root)): row for path, row in by_path.items()}
    by_name: dict[str, list[int]] = {}
    for path, row in by_path.items():
        by_name.setdefault(Path(path).name, []).append(row)
    rows: dict[str, list[int]] = {}
    for number, file, split in entries:
        normalised = file.replace("\\", "/")
        row = by_path.get(str(Path(normalised).resolve())) if os.path.isabs(normalised) else None
        row = row if row is not None else by_relative.get(str(Path(normalised)))
        if row is None:
            named = by_name.get(Path(normalised).name, [])
            if len(named) > 1:
                raise ValueError(
                    f"{source}, line {number}: {file} matches {len(named)} files of the data by "
                    "name; write its path relative to the data folder"
                )
            row = named[0] if named else None
        if row is None:
            raise ValueError(f"{source}, line {number}: {file} is not a file of the data")
        rows.setdefault(split, []).append(row)
    return {split: dataset.select(indices) for split, indices in rows.items()}
