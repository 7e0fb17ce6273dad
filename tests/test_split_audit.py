"""``eam-ser check --splits FILE``: an external fold file audited for speakers on both sides and
the same audio in two splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eam_ser.cli import main
from eam_ser.corpora import load_manifest
from eam_ser.corpora.split_file import apply_split_file, read_split_file
from test_crossval import write_tone_corpus


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    """The tone corpus plus s1_copy.wav, the same audio as s1_low_0.wav (speaker s1)."""
    write_tone_corpus(tmp_path)
    shutil.copy(tmp_path / "s1_low_0.wav", tmp_path / "s1_copy.wav")
    with (tmp_path / "manifest.csv").open("a") as handle:
        handle.write("s1_copy.wav,low,s1,unknown,0\n")
    return tmp_path


def test_a_leaky_fold_file_is_reported(leaky: Path, tmp_path: Path, capsys):
    rows = ["file,split"]
    rows += [
        f"s{s}_{label}_{c}.wav,train" for s in (1, 2) for label in ("low", "high") for c in (0, 1)
    ]
    rows += [
        f"s{s}_{label}_{c}.wav,test" for s in (3, 4) for label in ("low", "high") for c in (0, 1)
    ]
    rows += ["s1_copy.wav,test"]  # speaker s1 on both sides, and s1_low_0's audio again
    split_file = tmp_path / "folds.csv"
    split_file.write_text("\n".join(rows) + "\n")
    assert main(["check", "--data", str(leaky), "--splits", str(split_file)]) == 1
    out = capsys.readouterr().out
    assert f"{split_file}: 17 entries in 2 splits (train 8, test 9)" in out
    assert (
        "test/train: speaker s1: in test (1 utterances), train (4 utterances): the splits are "
        "not speaker-independent"
    ) in out
    assert "the same audio in training and test" in out
    # The same file without the leak passes.
    split_file.write_text("\n".join(rows[:-1]) + "\n")
    assert main(["check", "--data", str(leaky), "--splits", str(split_file)]) == 0


def test_split_files_are_read_as_csv_or_json_lines_with_clear_errors(leaky: Path, tmp_path: Path):
    lines = tmp_path / "folds.jsonl"
    lines.write_text(
        json.dumps({"file": "s1_low_0.wav", "split": "train"})
        + "\n\n"
        + json.dumps({"file": str(leaky / "s4_high_1.wav"), "split": 1})
        + "\n"
    )
    entries = read_split_file(lines)
    assert entries == [(1, "s1_low_0.wav", "train"), (3, str(leaky / "s4_high_1.wav"), "1")]
    splits = apply_split_file(load_manifest(leaky / "manifest.csv"), entries, lines)
    assert {name: split["speaker"] for name, split in splits.items()} == {
        "train": ["s1"],
        "1": ["s4"],
    }
    bad = tmp_path / "bad.csv"
    bad.write_text("path,fold\na.wav,1\n")
    with pytest.raises(
        ValueError, match=r"bad.csv, line 1: the header needs the columns file and split"
    ):
        read_split_file(bad)
    bad.write_text("file,split\ns1_low_0.wav,\n")
    with pytest.raises(
        ValueError, match=r"bad.csv, line 2: empty or missing split for s1_low_0.wav"
    ):
        read_split_file(bad)
    bad.write_text("file,split\nnowhere.wav,test\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 2: nowhere.wav is not a file of the data"):
        apply_split_file(load_manifest(leaky / "manifest.csv"), read_split_file(bad), bad)
    lines.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match=r"folds.jsonl, line 1: not a JSON object"):
        read_split_file(lines)
