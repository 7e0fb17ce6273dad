"""Corpus loaders on tiny fake trees with the real naming schemes, plus the real EmoDB copy."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from eam_ser.corpora import (
    CORPORA,
    CorpusLayoutError,
    label_names,
    load_audiofolder,
    load_corpus,
    load_crema_d,
    load_emodb,
    load_iemocap,
    load_local,
    load_manifest,
    load_msp_improv,
    load_ravdess,
    load_savee,
    load_tess,
    train_test_split_by_fold,
    train_test_split_by_speakers,
)
from eam_ser.corpora.base import (
    check_speaker_disjoint,
    leave_one_session_out,
    match_names,
    utterance_row,
)


def write_audio(path: Path, duration_s: float = 0.05) -> Path:
    """A short 16 kHz tone at `path` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(duration_s), 16000)
    return path


def rows_by_file(dataset) -> dict[str, dict]:
    names = label_names(dataset)
    return {Path(row["audio"]).name: {**row, "label": names[row["label"]]} for row in dataset}


# ----------------------------------------------------------------------------------- EmoDB


@pytest.fixture
def emodb_tree(tmp_path: Path) -> Path:
    for name in ("03a01Wa", "03b10Nc", "08a02Fd", "10a04Ab", "09b03Tb", "16a05Ea", "15b01Lc"):
        write_audio(tmp_path / "wav" / f"{name}.wav")
    return tmp_path


def test_emodb_parses_names_and_both_protocols(emodb_tree: Path) -> None:
    dataset = load_emodb(emodb_tree)
    assert label_names(dataset) == [
        "angry",
        "boredom",
        "disgust",
        "fearful",
        "happy",
        "sad",
        "neutral",
    ]
    rows = rows_by_file(dataset)
    assert len(rows) == 7
    assert (rows["03a01Wa.wav"]["label"], rows["03a01Wa.wav"]["speaker"]) == ("angry", "03")
    assert rows["03a01Wa.wav"]["gender"] == "male"
    assert rows["08a02Fd.wav"]["label"] == "happy"
    assert rows["08a02Fd.wav"]["gender"] == "female"
    assert rows["10a04Ab.wav"]["label"] == "fearful"
    assert rows["09b03Tb.wav"]["label"] == "sad"
    assert rows["16a05Ea.wav"]["label"] == "disgust"
    assert rows["15b01Lc.wav"]["label"] == "boredom"
    assert rows["03b10Nc.wav"]["label"] == "neutral"
    # loso: fold = rank of the speaker among 03 08 09 10 11 12 13 14 15 16
    assert {r["speaker"]: r["fold"] for r in rows.values()} == {
        "03": 0,
        "08": 1,
        "09": 2,
        "10": 3,
        "15": 8,
        "16": 9,
    }
    pairs = rows_by_file(load_emodb(emodb_tree, protocol="speaker_pairs"))
    assert {r["speaker"]: r["fold"] for r in pairs.values()} == {
        "03": 0,
        "08": 0,
        "10": 1,
        "09": 1,
        "15": 4,
        "16": 4,
    }
    assert Path(rows["03a01Wa.wav"]["audio"]).is_file()
    assert dataset.info.dataset_name == "emodb"


def test_emodb_flat_flac_folder(tmp_path: Path) -> None:
    write_audio(tmp_path / "11a01Wa.flac")
    rows = rows_by_file(load_emodb(tmp_path))
    assert rows["11a01Wa.flac"]["speaker"] == "11"


def test_emodb_layout_errors(tmp_path: Path, emodb_tree: Path) -> None:
    with pytest.raises(
        CorpusLayoutError, match=r"expected audio files like 03a01Fa.wav.*found: .* is empty"
    ):
        load_emodb(_empty(tmp_path / "empty"))
    write_audio(emodb_tree / "wav" / "speaker3_angry.wav")
    with pytest.raises(
        CorpusLayoutError, match=r"expected file names like 03a01Fa.wav.*speaker3_angry.wav"
    ):
        load_emodb(emodb_tree)
    with pytest.raises(ValueError, match="protocol must be one of"):
        load_emodb(emodb_tree, protocol="random")


def _empty(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_emodb_real_copy(emodb_dir: Path) -> None:
    for protocol, num_folds in (("loso", 10), ("speaker_pairs", 5)):
        dataset = load_emodb(emodb_dir, protocol=protocol)
        assert dataset.num_rows == 535
        assert len(set(dataset["speaker"])) == 10
        assert len(label_names(dataset)) == 7
        counts = Counter(label_names(dataset)[i] for i in dataset["label"])
        assert counts == {
            "angry": 127,
            "boredom": 81,
            "neutral": 79,
            "happy": 71,
            "fearful": 69,
            "sad": 62,
            "disgust": 46,
        }
        assert sorted(set(dataset["fold"])) == list(range(num_folds))
        for fold in range(num_folds):
            train, test = train_test_split_by_fold(dataset, fold)
            assert not set(train["speaker"]) & set(test["speaker"])
            assert train.num_rows + test.num_rows == 535
        if protocol == "speaker_pairs":
            genders = [
                sorted(set(test["gender"]))
                for _, test in (train_test_split_by_fold(dataset, k) for k in range(5))
            ]
            assert genders == [["female", "male"]] * 5
    manifest = load_manifest(emodb_dir)
    assert manifest.num_rows == 535
    assert Counter(manifest["speaker"])["03"] == 49


# --------------------------------------------------------------------------------- RAVDESS


def test_ravdess_speech_folds_and_genders(tmp_path: Path) -> None:
    write_audio(tmp_path / "Actor_01" / "03-01-05-01-02-01-01.wav")  # angry
    write_audio(tmp_path / "Actor_01" / "03-02-05-01-02-01-01.wav")  # song: skipped
    write_audio(tmp_path / "Actor_02" / "03-01-02-02-01-02-02.wav")  # calm
    write_audio(tmp_path / "Actor_05" / "03-01-08-01-01-01-05.wav")  # surprised
    write_audio(tmp_path / "Actor_24" / "03-01-01-01-01-01-24.wav")  # neutral
    rows = rows_by_file(load_ravdess(tmp_path))
    assert sorted(rows) == [
        "03-01-01-01-01-01-24.wav",
        "03-01-02-02-01-02-02.wav",
        "03-01-05-01-02-01-01.wav",
        "03-01-08-01-01-01-05.wav",
    ]
    assert {n: (r["label"], r["speaker"], r["gender"], r["fold"]) for n, r in rows.items()} == {
        "03-01-01-01-01-01-24.wav": ("neutral", "24", "female", 5),
        "03-01-02-02-01-02-02.wav": ("calm", "02", "female", 0),
        "03-01-05-01-02-01-01.wav": ("angry", "01", "male", 0),
        "03-01-08-01-01-01-05.wav": ("surprised", "05", "male", 1),
    }


def test_ravdess_layout_errors(tmp_path: Path) -> None:
    write_audio(tmp_path / "audio" / "03-01-05-01-02-01-01.wav")
    with pytest.raises(CorpusLayoutError, match=r"expected folders Actor_01 .. Actor_24.*audio/"):
        load_ravdess(tmp_path)
    write_audio(tmp_path / "Actor_03" / "03-01-05-01-02-01-04.wav")  # actor 04 in Actor_03
    with pytest.raises(CorpusLayoutError, match=re.escape("03-01-05-01-02-01-04.wav")):
        load_ravdess(tmp_path)


# --------------------------------------------------------------------------------- IEMOCAP


def _iemocap_session(release: Path, session: int, lines: list[tuple[str, str]]) -> None:
    session_dir = release / f"Session{session}"
    by_dialog: dict[str, list[str]] = {}
    for utterance, emotion in lines:
        dialog = utterance.rsplit("_", 1)[0]
        write_audio(session_dir / "sentences" / "wav" / dialog / f"{utterance}.wav")
        by_dialog.setdefault(dialog, []).append(
            f"[6.2901 - 8.2357]\t{utterance}\t{emotion}\t[2.5000, 2.5000, 2.5000]"
        )
    evaluation = session_dir / "dialog" / "EmoEvaluation"
    evaluation.mkdir(parents=True)
    (evaluation / "Categorical").mkdir()  # rater files in a subfolder are not read
    for dialog, dialog_lines in by_dialog.items():
        header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        rater = "C-E2:\tNeutral;\t()\n"
        (evaluation / f"{dialog}.txt").write_text(
            header + "\n".join(f"{ln}\n{rater}" for ln in dialog_lines)
        )


def test_iemocap_labels_speakers_sessions(tmp_path: Path) -> None:
    release = tmp_path / "IEMOCAP_full_release"
    _iemocap_session(
        release,
        1,
        [
            ("Ses01F_impro01_F000", "neu"),
            ("Ses01F_impro01_M001", "exc"),
            ("Ses01F_impro01_F002", "fru"),
        ],
    )
    _iemocap_session(
        release,
        3,
        [
            ("Ses03M_script01_1_F000", "hap"),
            ("Ses03M_script01_1_M003", "ang"),
            ("Ses03M_script01_1_M004", "sad"),
            ("Ses03M_script01_1_M005", "xxx"),
        ],
    )
    dataset = load_iemocap(tmp_path)
    assert label_names(dataset) == ["angry", "happy", "sad", "neutral"]
    rows = rows_by_file(dataset)
    assert {
        name: (r["label"], r["speaker"], r["gender"], r["session"], r["fold"])
        for name, r in rows.items()
    } == {
        "Ses01F_impro01_F000.wav": ("neutral", "Ses01F", "female", 1, 0),
        "Ses01F_impro01_M001.wav": ("happy", "Ses01M", "male", 1, 0),
        "Ses03M_script01_1_F000.wav": ("happy", "Ses03F", "female", 3, 2),
        "Ses03M_script01_1_M003.wav": ("angry", "Ses03M", "male", 3, 2),
        "Ses03M_script01_1_M004.wav": ("sad", "Ses03M", "male", 3, 2),
    }
    assert load_iemocap(release).num_rows == 5


def test_iemocap_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(CorpusLayoutError, match=r"expected folders Session1 .. Session5.*is empty"):
        load_iemocap(_empty(tmp_path / "IEMOCAP_full_release"))
    release = tmp_path / "IEMOCAP_full_release"
    _iemocap_session(release, 2, [("Ses02F_impro01_F000", "neu")])
    (
        release / "Session2" / "sentences" / "wav" / "Ses02F_impro01" / "Ses02F_impro01_F000.wav"
    ).unlink()
    with pytest.raises(
        CorpusLayoutError,
        match=r"labelled utterance Session2/sentences/wav/Ses02F_impro01/Ses02F_impro01_F000.wav",
    ):
        load_iemocap(tmp_path)
    write_audio(
        release / "Session2" / "sentences" / "wav" / "Ses02F_impro01" / "Ses02F_impro01_F000.wav"
    )
    assert load_iemocap(release).num_rows == 1
    (release / "Session4" / "sentences" / "wav").mkdir(parents=True)
    with pytest.raises(
        CorpusLayoutError,
        match=r"expected Session4/dialog/EmoEvaluation/; found: .*Session4 contains sentences/",
    ):
        load_iemocap(release)


# ------------------------------------------------------------------------------ MSP-IMPROV


def test_msp_improv_labels_and_sessions(tmp_path: Path) -> None:
    names = {
        "MSP-IMPROV-S01A-F01-P-FM01": ("session1/S01A/P", "A"),
        "MSP-IMPROV-S02H-M01-R-MF02": ("session1/S02H/R", "H"),
        "MSP-IMPROV-S05S-F03-S-FM03": ("session3/S05S/S", "S"),
        "MSP-IMPROV-S07N-M06-T-MF10": ("session6/S07N/T", "N"),
        "MSP-IMPROV-S07N-M06-T-MF11": ("session6/S07N/T", "O"),
        "MSP-IMPROV-S07N-M06-T-MF12": ("session6/S07N/T", "X"),
    }
    lines = []
    for name, (folder, emotion) in names.items():
        write_audio(tmp_path / "Audio" / folder / f"{name}.wav")
        lines.append(
            f"{name.replace('MSP', 'UTD', 1)}.avi; {emotion}; A:3.000000; V:2.5; D:3.0; N:4.0"
        )
        lines.append("F1;N;\tNeutral;\tA:3.000000; V:3.000000; D:3.000000; N:3.000000;")
        lines.append("")
    write_audio(
        tmp_path / "Audio" / "session2" / "S01A" / "P" / "MSP-IMPROV-S01A-F02-P-FM09.wav"
    )  # no label
    (tmp_path / "Evalution.txt").write_text("\n".join(lines))
    rows = rows_by_file(load_msp_improv(tmp_path))
    assert {
        n: (r["label"], r["speaker"], r["gender"], r["session"], r["fold"]) for n, r in rows.items()
    } == {
        "MSP-IMPROV-S01A-F01-P-FM01.wav": ("angry", "F01", "female", 1, 0),
        "MSP-IMPROV-S02H-M01-R-MF02.wav": ("happy", "M01", "male", 1, 0),
        "MSP-IMPROV-S05S-F03-S-FM03.wav": ("sad", "F03", "female", 3, 2),
        "MSP-IMPROV-S07N-M06-T-MF10.wav": ("neutral", "M06", "male", 6, 5),
    }


def test_msp_improv_layout_errors(tmp_path: Path) -> None:
    write_audio(tmp_path / "Audio" / "session1" / "MSP-IMPROV-S01A-F01-P-FM01.wav")
    with pytest.raises(
        CorpusLayoutError, match=r"expected the label file <root>/Evaluation.txt; found: .* Audio/"
    ):
        load_msp_improv(tmp_path)
    (tmp_path / "Evaluation.txt").write_text("")
    write_audio(tmp_path / "Audio" / "session1" / "clip1.wav")
    with pytest.raises(CorpusLayoutError, match=re.escape("clip1.wav")):
        load_msp_improv(tmp_path)


# ------------------------------------------------------------------- SAVEE, CREMA-D, TESS


def test_savee(tmp_path: Path) -> None:
    for speaker, names in {
        "DC": ["a01", "sa02"],
        "KL": ["su15", "n30"],
        "JE": ["d03", "f04", "h05"],
    }.items():
        for name in names:
            write_audio(tmp_path / "AudioData" / speaker / f"{name}.wav")
    rows = rows_by_file(load_savee(tmp_path))
    assert len(rows) == 7
    got = {(r["speaker"], n): (r["label"], r["fold"]) for n, r in rows.items()}
    assert got[("DC", "a01.wav")] == ("angry", 0)
    assert got[("DC", "sa02.wav")] == ("sad", 0)
    assert got[("KL", "su15.wav")] == ("surprised", 3)
    assert got[("KL", "n30.wav")] == ("neutral", 3)
    assert got[("JE", "f04.wav")] == ("fearful", 1)
    assert {r["gender"] for r in rows.values()} == {"male"}
    write_audio(tmp_path / "AudioData" / "JK" / "x01.wav")
    with pytest.raises(CorpusLayoutError, match=re.escape("x01.wav")):
        load_savee(tmp_path)
    with pytest.raises(CorpusLayoutError, match="speaker folders DC, JE, JK, KL"):
        load_savee(_empty(tmp_path / "other"))


def test_crema_d_genders_and_folds(tmp_path: Path) -> None:
    actors = ["1001", "1002", "1003", "1004", "1005", "1006", "1091"]
    for index, actor in enumerate(actors):
        emotion = ["ANG", "DIS", "FEA", "HAP", "NEU", "SAD", "ANG"][index]
        write_audio(tmp_path / "AudioWAV" / f"{actor}_DFA_{emotion}_XX.wav")
    dataset = load_crema_d(tmp_path)
    rows = rows_by_file(dataset)
    assert {r["speaker"]: r["fold"] for r in rows.values()} == {
        "1001": 0,
        "1002": 1,
        "1003": 2,
        "1004": 3,
        "1005": 4,
        "1006": 0,
        "1091": 1,
    }
    assert rows["1005_DFA_NEU_XX.wav"]["label"] == "neutral"
    assert {r["gender"] for r in rows.values()} == {"unknown"}
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1002,21,Female,Caucasian,Not Hispanic\n"
    )
    rows = rows_by_file(load_crema_d(tmp_path))
    assert [
        rows[f"{a}_DFA_{e}_XX.wav"]["gender"]
        for a, e in (("1001", "ANG"), ("1002", "DIS"), ("1003", "FEA"))
    ] == ["male", "female", "unknown"]
    write_audio(tmp_path / "AudioWAV" / "1001_DFA_XYZ_XX.wav")
    with pytest.raises(CorpusLayoutError, match=re.escape("1001_DFA_XYZ_XX.wav")):
        load_crema_d(tmp_path)
    with pytest.raises(
        CorpusLayoutError,
        match=r"expected <root>/AudioWAV/1001_DFA_ANG_XX.wav; found: .* contains AudioWAV/, VideoDemographics.csv",
    ):
        load_crema_d(tmp_path / "nowhere")


def test_tess(tmp_path: Path) -> None:
    write_audio(tmp_path / "OAF_angry" / "OAF_back_angry.wav")
    write_audio(tmp_path / "OAF_Pleasant_surprise" / "OAF_bath_ps.wav")
    write_audio(tmp_path / "YAF_fear" / "YAF_youth_fear.wav")
    write_audio(tmp_path / "YAF_sad" / "YAF_chain_sad.wav")
    rows = rows_by_file(load_tess(tmp_path))
    assert {n: (r["label"], r["speaker"], r["fold"]) for n, r in rows.items()} == {
        "OAF_back_angry.wav": ("angry", "OAF", 0),
        "OAF_bath_ps.wav": ("pleasant_surprise", "OAF", 0),
        "YAF_youth_fear.wav": ("fearful", "YAF", 1),
        "YAF_chain_sad.wav": ("sad", "YAF", 1),
    }
    write_audio(tmp_path / "YAF_sad" / "YAF_chain_bored.wav")
    with pytest.raises(CorpusLayoutError, match=re.escape("YAF_chain_bored.wav")):
        load_tess(tmp_path)


# ------------------------------------------------------------------- generic loaders


def test_manifest_relative_paths_string_speakers_and_folds(tmp_path: Path) -> None:
    for name in ("a.flac", "b.flac", "c.flac", "d.flac"):
        write_audio(tmp_path / "clips" / name)
    (tmp_path / "manifest.csv").write_text(
        "file,label,speaker,gender,duration_s\n"
        "clips/a.flac,sad,03,male,0.05\nclips/b.flac,angry,03,male,0.05\n"
        "clips/c.flac,sad,08,female,0.05\nclips/d.flac,angry,009,female,0.05\n"
    )
    dataset = load_manifest(tmp_path / "manifest.csv")
    assert label_names(dataset) == ["angry", "sad"]
    assert dataset["speaker"] == ["03", "03", "08", "009"]
    assert dataset["fold"] == [1, 1, 2, 0]  # leave-one-speaker-out in sorted order 009, 03, 08
    assert dataset["label"] == [1, 0, 1, 0]
    assert load_manifest(tmp_path, num_folds=2)["fold"] == [1, 1, 0, 0]
    ordered = load_manifest(tmp_path, labels=["sad", "angry", "happy"])
    assert ordered["label"] == [0, 1, 0, 1]
    assert load_local(tmp_path).num_rows == 4
    (tmp_path / "folds.csv").write_text(
        "file,label,speaker,fold\nclips/a.flac,sad,x,3\nclips/b.flac,sad,x,4\n"
    )
    with pytest.raises(ValueError, match="speaker 'x' is in folds 3 and 4"):
        load_manifest(tmp_path / "folds.csv")


def test_manifest_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("path,emotion\nx.wav,sad\n")
    with pytest.raises(
        CorpusLayoutError,
        match=r"expected CSV columns file,label,speaker.*found: columns \['path', 'emotion'\]",
    ):
        load_manifest(tmp_path / "bad.csv")
    (tmp_path / "missing.csv").write_text("file,label,speaker\nx.wav,sad,01\n")
    with pytest.raises(ValueError, match=r"missing.csv, line 2: audio file .*x.wav does not exist"):
        load_manifest(tmp_path / "missing.csv")


def test_audiofolder(tmp_path: Path) -> None:
    write_audio(tmp_path / "happy" / "spk1_001.wav")
    write_audio(tmp_path / "happy" / "spk2_001.flac")
    write_audio(tmp_path / "sad" / "spk1_002.wav")
    dataset = load_audiofolder(tmp_path, speaker_pattern=r"^(?P<speaker>spk\d)_")
    assert dataset["speaker"] == ["spk1", "spk2", "spk1"]
    assert dataset["label"] == [0, 0, 1]
    assert dataset["fold"] == [0, 1, 0]
    assert set(load_local(tmp_path)["speaker"]) == {"unknown"}
    with pytest.raises(ValueError, match="needs a group"):
        load_audiofolder(tmp_path, speaker_pattern=r"spk\d")
    with pytest.raises(ValueError, match="does not match"):
        load_audiofolder(tmp_path, speaker_pattern=r"^(x\d)")


# ---------------------------------------------------------------- registry and splits


def test_registry_and_splits(emodb_tree: Path) -> None:
    assert set(CORPORA) == {
        "iemocap", "msp_improv", "ravdess", "savee", "emodb", "crema_d", "tess", "urdu",
    }  # fmt: skip
    dataset = load_corpus("emodb", emodb_tree, protocol="speaker_pairs")
    assert tuple(label_names(dataset)) == CORPORA["emodb"].labels
    train, test = train_test_split_by_fold(dataset, 0)
    assert sorted(set(test["speaker"])) == ["03", "08"]
    assert train.num_rows == 4 and test.num_rows == 3
    train, test = train_test_split_by_speakers(dataset, ["10", "16"])
    assert sorted(set(test["speaker"])) == ["10", "16"] and train.num_rows == 5
    with pytest.raises(ValueError, match=r"test_speakers \['99'\] are not in the dataset"):
        train_test_split_by_speakers(dataset, ["99"])
    with pytest.raises(ValueError, match="fold 2 is not in the dataset"):
        train_test_split_by_fold(dataset, 2)
    with pytest.raises(ValueError, match=r"speakers \['03'\] are in both"):
        check_speaker_disjoint(dataset.select([0]), dataset.select(np.arange(dataset.num_rows)))
    with pytest.raises(ValueError, match="name must be one of"):
        load_corpus("emodb2", emodb_tree)


# -------------------------------------------------- official releases with their known quirks

TESS_OFFICIAL_FOLDERS = {
    "OAF_angry": "angry",
    "OAF_disgust": "disgust",
    "OAF_Fear": "fear",
    "OAF_happy": "happy",
    "OAF_neutral": "neutral",
    "OAF_Pleasant_surprise": "ps",
    "OAF_Sad": "sad",
    "YAF_angry": "angry",
    "YAF_disgust": "disgust",
    "YAF_fear": "fear",
    "YAF_happy": "happy",
    "YAF_neutral": "neutral",
    "YAF_pleasant_surprised": "ps",
    "YAF_sad": "sad",
}


def write_clip(path: Path, sampling_rate: int, channels: int = 1, seconds: float = 0.05) -> Path:
    """A tone at `sampling_rate` Hz with `channels` channels (amplitude from the name, so no
    two files hold the same audio)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    amplitude = 0.1 + int(hashlib.sha1(str(path).encode()).hexdigest(), 16) % 10**6 / 2e6
    waveform = tone(seconds, 330.0, sampling_rate, amplitude)
    sf.write(
        path, np.stack([waveform] * channels, axis=1) if channels > 1 else waveform, sampling_rate
    )
    return path


def check_every_file_loads(dataset) -> None:
    from eam_ser.data.check import check_data

    _, report = check_data({"all": dataset}, min_input_samples=400, progress=False)
    assert report.audio_problems == [] and report.data_problems == []


def test_tess_official_release_quirks(tmp_path: Path) -> None:
    """The release's folder capitalisation, the misnamed OA_bite_neutral.wav and the 96 kHz
    file, inside the extra top folder of the common download."""
    top = tmp_path / "TESS Toronto emotional speech set data"
    for folder, emotion in TESS_OFFICIAL_FOLDERS.items():
        for word in ("back", "bar"):
            write_clip(top / folder / f"{folder[:3]}_{word}_{emotion}.wav", 24414)
    write_clip(top / "OAF_neutral" / "OA_bite_neutral.wav", 24414)
    write_clip(top / "YAF_happy" / "YAF_germ_happy.wav", 96000)
    dataset = load_tess(tmp_path)
    rows = rows_by_file(dataset)
    assert dataset.num_rows == 14 * 2 + 2
    assert rows["OA_bite_neutral.wav"]["speaker"] == "OAF"
    assert rows["OA_bite_neutral.wav"]["label"] == "neutral"
    assert Counter(r["label"] for r in rows.values()) == {
        "neutral": 5, "happy": 5, "angry": 4, "disgust": 4, "fearful": 4,
        "pleasant_surprise": 4, "sad": 4,
    }  # fmt: skip
    assert Counter(r["speaker"] for r in rows.values()) == {"OAF": 15, "YAF": 15}
    check_every_file_loads(dataset)
    from eam_ser.data.audio import load_audio

    assert load_audio(rows["YAF_germ_happy.wav"]["audio"]).shape == (800,)  # 0.05 s at 16 kHz


def test_ravdess_official_release_stereo_song_and_video_files(tmp_path: Path) -> None:
    """Some speech files of the release are stereo; song (channel 02) and video (modality
    01/02) files in the same folders are not part of the speech protocol."""
    write_clip(tmp_path / "Actor_01" / "03-01-05-01-02-01-01.wav", 48000)
    write_clip(tmp_path / "Actor_01" / "03-01-03-02-01-02-01.wav", 48000, channels=2)
    write_clip(tmp_path / "Actor_02" / "03-01-01-01-01-01-02.wav", 48000, channels=2)
    write_clip(tmp_path / "Actor_02" / "03-02-05-01-02-01-02.wav", 48000)  # song
    write_clip(tmp_path / "Actor_02" / "01-01-05-01-02-01-02.wav", 48000)  # audio-video
    dataset = load_ravdess(tmp_path)
    rows = rows_by_file(dataset)
    assert sorted(rows) == [
        "03-01-01-01-01-01-02.wav",
        "03-01-03-02-01-02-01.wav",
        "03-01-05-01-02-01-01.wav",
    ]
    check_every_file_loads(dataset)
    from eam_ser.data.check import probe_audio

    assert probe_audio(rows["03-01-03-02-01-02-01.wav"]["audio"]).channels == 2


def test_crema_d_misnamed_file_and_git_lfs_pointers(tmp_path: Path) -> None:
    """`1040_ITH_SAD_X.wav` (one X) of older copies is read; a copy cloned without git-lfs
    holds pointer files, which the data check names as such."""
    audio = tmp_path / "AudioWAV"
    write_clip(audio / "1001_DFA_ANG_XX.wav", 16000)
    write_clip(audio / "1040_ITH_SAD_X.wav", 16000)
    write_clip(audio / "1002_IEO_HAP_HI.wav", 16000)
    dataset = load_crema_d(tmp_path)
    assert rows_by_file(dataset)["1040_ITH_SAD_X.wav"]["label"] == "sad"
    check_every_file_loads(dataset)
    (audio / "1002_IEO_HAP_HI.wav").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:c6f9\nsize 72862\n"
    )
    from eam_ser.data.check import DataCheckError, check_data

    with pytest.raises(DataCheckError, match=r"1002_IEO_HAP_HI.wav: a git-lfs pointer, not audio"):
        check_data({"train": load_crema_d(tmp_path)}, progress=False)


def test_savee_official_release_with_info_file(tmp_path: Path) -> None:
    """AudioData/<speaker>/ at 44.1 kHz, with the release's Info.txt beside the speakers."""
    audio = tmp_path / "AudioData"
    audio.mkdir()
    (audio / "Info.txt").write_text("'DC', 'JE', 'JK' and 'KL' are four male speakers\n")
    for speaker in ("DC", "JE", "JK", "KL"):
        for name in ("a01", "sa02", "su03"):
            write_clip(audio / speaker / f"{name}.wav", 44100)
    dataset = load_savee(tmp_path)
    assert dataset.num_rows == 12
    check_every_file_loads(dataset)


def test_match_names_pairs_each_matching_stem_and_keeps_the_others_apart():
    files = [Path("/x/03a01Fa.wav"), Path("/x/notes.wav"), Path("/x/10b02Wb.flac")]
    matched, unparsed = match_names(files, re.compile(r"^(?P<speaker>\d{2})[ab]\d{2}[A-Z][a-z]$"))
    assert [(path.name, match["speaker"]) for path, match in matched] == [
        ("03a01Fa.wav", "03"),
        ("10b02Wb.flac", "10"),
    ]
    assert unparsed == [Path("/x/notes.wav")]


def test_utterance_row_resolves_the_path_and_keeps_extra_columns(tmp_path):
    row = utterance_row(tmp_path / "a" / ".." / "b.wav", "sad", "F01", "female", session=1)
    assert row == {
        "audio": str((tmp_path / "b.wav").resolve()),
        "label": "sad",
        "speaker": "F01",
        "gender": "female",
        "session": 1,
    }


def test_leave_one_session_out_names_two_speakers_per_session():
    assert leave_one_session_out(2, "Ses{session:02d}{gender}") == {
        "Ses01F": 0,
        "Ses01M": 0,
        "Ses02F": 1,
        "Ses02M": 1,
    }
