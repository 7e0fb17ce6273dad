"""The URDU loader (official layout, folds balanced by utterances) and the speaker/label
confound audit of the data check and ``eam-ser check``, on constructed trees with the official
names and on the real corpus when it is there."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from conftest import tone
from eam_ser.cli import main
from eam_ser.corpora import CorpusLayoutError, label_names, load_corpus, load_manifest
from eam_ser.corpora.urdu import folds_balanced_by_utterances, load_urdu
from eam_ser.data.check import check_data, speaker_label_confound

FOLDERS = {"A": "Angry", "H": "Happy", "N": "Neutral", "S": "Sad"}


def write_urdu(root: Path, files: list[str], suffix: str = ".wav") -> Path:
    """Clips under the published names (``Angry/SM1_F10_A010.wav``), each a distinct tone."""
    for index, stem in enumerate(files):
        path = root / FOLDERS[stem.split("_")[2][0]] / f"{stem}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(0.05, frequency_hz=200 + 10 * index), 16000)
    return root


def test_balanced_folds_deal_the_largest_speakers_first() -> None:
    # 10 + 6 + 5 + 4 + 3 + 2 utterances into 3 folds, each to the emptiest (ties: the lower):
    # a 10 | b 6 | c 5, d 4 -> 10, 6, 9; e 3 -> fold 1 (9); f 2 -> fold 1 (ties 9, 9) -> 10, 11, 9.
    speakers = ["a"] * 10 + ["b"] * 6 + ["c"] * 5 + ["d"] * 4 + ["e"] * 3 + ["f"] * 2
    fold_of = folds_balanced_by_utterances(speakers, 3)
    assert fold_of == {"a": 0, "b": 1, "c": 2, "d": 2, "e": 1, "f": 1}
    sizes = Counter(fold_of[speaker] for speaker in speakers)
    assert sorted(sizes.values()) == [9, 10, 11]
    with pytest.raises(ValueError, match="num_folds must be between 2 and the 6 speakers"):
        folds_balanced_by_utterances(speakers, 7)


def test_official_names_give_speaker_gender_label_and_folds(tmp_path: Path) -> None:
    files = [
        "SM1_F10_A010", "SM1_F11_A011", "SF2_F1_H001", "SM3_F2_N002", "SM3_F3_S003",
        "SM4_F4_S004", "SF5_F5_N005",
    ]  # fmt: skip
    dataset = load_urdu(write_urdu(tmp_path, files))
    assert label_names(dataset) == ["angry", "happy", "neutral", "sad"]
    rows = {Path(row["audio"]).stem: row for row in dataset}
    assert rows["SM1_F10_A010"]["speaker"] == "SM1" and rows["SM1_F10_A010"]["gender"] == "male"
    assert rows["SF2_F1_H001"]["speaker"] == "SF2" and rows["SF2_F1_H001"]["gender"] == "female"
    assert [
        label_names(dataset)[rows[stem]["label"]] for stem in ("SM3_F2_N002", "SM3_F3_S003")
    ] == [
        "neutral",
        "sad",
    ]
    # 5 speakers, 5 folds: SM1 and SM3 (2 each) first, then SF2, SF5, SM4 (1 each) in id order.
    assert {row["speaker"]: row["fold"] for row in rows.values()} == {
        "SM1": 0, "SM3": 1, "SF2": 2, "SF5": 3, "SM4": 4,
    }  # fmt: skip
    assert load_corpus("urdu", tmp_path).num_rows == 7


def test_a_letter_that_disagrees_with_its_folder_is_refused(tmp_path: Path) -> None:
    write_urdu(tmp_path, ["SM1_F10_A010", "SM2_F1_H001"])
    (tmp_path / "Angry" / "SM1_F10_A010.wav").rename(tmp_path / "Happy" / "SM1_F10_A010.wav")
    with pytest.raises(CorpusLayoutError, match=re.escape("Happy/SM1_F10_A010.wav (letter A")):
        load_urdu(tmp_path)


def test_unparsed_names_are_listed(tmp_path: Path) -> None:
    write_urdu(tmp_path, ["SM1_F10_A010", "SM2_F1_H001"])
    sf.write(tmp_path / "Angry" / "interview.wav", tone(0.05), 16000)
    with pytest.raises(CorpusLayoutError, match=re.escape("interview.wav")):
        load_urdu(tmp_path)


def test_the_real_corpus_loads_with_five_balanced_speaker_independent_folds(urdu_dir) -> None:
    dataset = load_urdu(urdu_dir)
    assert dataset.num_rows == 400
    assert Counter(dataset["label"]) == {0: 100, 1: 100, 2: 100, 3: 100}
    assert Counter(dataset["fold"]) == {0: 80, 1: 80, 2: 80, 3: 80, 4: 80}
    speakers = set(dataset["speaker"])
    assert len(speakers) == 29
    # 11 female codes (SF1..SF11) and 18 male ones, as the file names say.
    assert sum(1 for speaker in speakers if speaker.startswith("SF")) == 11
    folds_of = {}
    for speaker, fold in zip(dataset["speaker"], dataset["fold"], strict=True):
        folds_of.setdefault(speaker, set()).add(fold)
    assert all(len(folds) == 1 for folds in folds_of.values())
    # The manifest shipped beside the audio agrees with the file names, row by row.
    with (urdu_dir / "manifest.csv").open(newline="") as handle:
        manifest = {Path(row["file"]).stem: row for row in csv.DictReader(handle)}
    names = label_names(dataset)
    for row in dataset:
        stem = Path(row["audio"]).stem
        assert (row["speaker"], names[row["label"]], row["gender"]) == (
            manifest[stem]["speaker"],
            manifest[stem]["label"],
            manifest[stem]["gender"],
        )


def write_manifest(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    """A manifest of distinct tones with (speaker, label) per row."""
    lines = ["file,label,speaker"]
    for index, (speaker, label) in enumerate(rows):
        name = f"clip{index:03d}.wav"
        sf.write(tmp_path / name, tone(0.05, frequency_hz=100 + 7 * index), 16000)
        lines.append(f"{name},{label},{speaker}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "manifest.csv"


def test_the_confound_audit_counts_one_label_speakers(tmp_path: Path) -> None:
    # s1..s3 carry one label each (3 of 4 speakers), s4 carries two: speaker -> label is
    # right for 3 + 3 + 3 + 2 = 11 of 12 utterances; the most common label is 4 of 12.
    rows = [("s1", "angry")] * 3 + [("s2", "sad")] * 3 + [("s3", "happy")] * 3
    rows += [("s4", "neutral"), ("s4", "neutral"), ("s4", "angry")]
    confound = speaker_label_confound({"all": load_manifest(write_manifest(tmp_path, rows))})
    assert confound.one_label_speakers == ("s1", "s2", "s3")
    assert confound.counted_speakers == 4
    assert confound.speaker_accuracy == pytest.approx(11 / 12)
    assert confound.majority_share == pytest.approx(4 / 12)
    assert confound.confounded
    assert "3 of 4 speakers carry one label" in confound.warning()
    assert confound.lines()[3] == "speaker s4: 3 utterances, 67 % neutral"


def test_a_balanced_corpus_is_not_confounded(tmp_path: Path) -> None:
    rows = [(f"s{k}", label) for k in range(4) for label in ("angry", "sad", "happy")]
    confound = speaker_label_confound({"all": load_manifest(write_manifest(tmp_path, rows))})
    assert confound.one_label_speakers == ()
    assert confound.speaker_accuracy == pytest.approx(1 / 3)
    assert not confound.confounded and confound.warning() is None


def test_check_warns_of_a_constructed_confound_and_keeps_status_0(tmp_path, capsys) -> None:
    rows = [("s1", "angry")] * 3 + [("s2", "sad")] * 3 + [("s3", "happy"), ("s3", "angry")]
    manifest = write_manifest(tmp_path, rows)
    assert main(["check", "--data", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "warning: speaker and label are confounded: 2 of 3 speakers carry one label" in out
    assert "knowing the speaker predicts 87.5 % of the labels" in out
    assert "speaker s3: 2 utterances, 50 % angry" in out
    _, report = check_data({"train": load_manifest(manifest)}, progress=False)
    assert report.confound is not None and report.confound.confounded


def test_check_flags_the_real_urdu_confound(urdu_dir, capsys) -> None:
    assert main(["check", "--corpus", "urdu", "--root", str(urdu_dir)]) == 0
    out = capsys.readouterr().out
    assert "400 files" in out
    assert "speaker and label are confounded: 27 of 29 speakers carry one label" in out
    assert (
        "knowing the speaker predicts 96.0 % of the labels (the most common label: 25.0 %)" in out
    )
    assert "speaker SM4: 48 utterances, 100 % angry" in out


def test_check_does_not_warn_on_emodb(emodb_dir, capsys) -> None:
    assert main(["check", "--corpus", "emodb", "--root", str(emodb_dir)]) == 0
    assert "confounded" not in capsys.readouterr().out
