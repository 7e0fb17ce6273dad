"""eam_ser.corpora.vocabulary: testing across corpora with other label sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import soundfile as sf
from datasets import ClassLabel, Dataset, Features, Value

from conftest import tone
from eam_ser.cli import main
from eam_ser.corpora.vocabulary import (
    CROSS_CORPUS_MAP,
    HARMONISED_LABELS,
    harmonise_labels,
    parse_label_map,
)


def corpus_like(labels: list[str], rows: list[str]) -> Dataset:
    names = sorted(set(labels))
    features = Features({"audio": Value("string"), "label": ClassLabel(names=names)})
    return Dataset.from_dict(
        {"audio": [f"{i}.wav" for i in range(len(rows))], "label": [names.index(r) for r in rows]},
        features=features,
    )


def test_a_label_the_model_lacks_is_dropped_and_named_never_an_error():
    data = corpus_like(
        ["angry", "calm", "neutral", "pleasant_surprise"],
        ["angry", "calm", "calm", "pleasant_surprise", "neutral"],
    )
    model_labels = ["angry", "neutral", "sad", "surprised"]
    harmonised, report = harmonise_labels(data, model_labels)
    assert report == {
        "renamed": {"pleasant_surprise": "surprised"},
        "dropped": {"calm": 2},
        "absent": ["sad"],
    }
    assert harmonised.features["label"].names == model_labels
    assert [model_labels[i] for i in harmonised["label"]] == ["angry", "surprised", "neutral"]
    assert harmonised["audio"] == ["0.wav", "3.wav", "4.wav"]
    # The user's map wins: calm counted as neutral, angry dropped.
    harmonised, report = harmonise_labels(
        data, model_labels, parse_label_map("calm=neutral,angry=")
    )
    assert report["dropped"] == {"angry": 1}
    assert [model_labels[i] for i in harmonised["label"]] == [
        "neutral",
        "neutral",
        "surprised",
        "neutral",
    ]


def test_one_wording_of_what_was_left_out_renamed_and_lacking():
    from eam_ser.cli.data import label_report_lines

    report = {"renamed": {"pleasant_surprise": "surprised"}, "dropped": {"calm": 2, "x": 1}}
    report["absent"] = ["sad"]
    assert label_report_lines(report) == [
        "left out: 2 utterances labelled 'calm' (a class the model does not have)",
        "left out: 1 utterance labelled 'x' (a class the model does not have)",
        "labels renamed: pleasant_surprise -> surprised",
        "classes of the model the data lacks (no recall, out of UA): ['sad']",
    ]
    assert label_report_lines(report, source="tess")[2] == (
        "tess: labels renamed: pleasant_surprise -> surprised"
    )
    assert label_report_lines({"renamed": {}, "dropped": {}, "absent": []}) == []


def test_label_map_errors_are_named():
    data = corpus_like(["angry", "sad"], ["angry", "sad"])
    with pytest.raises(ValueError, match=r"'calm' is not DATA_LABEL=MODEL_LABEL"):
        parse_label_map("calm")
    with pytest.raises(ValueError, match=r"\['calm'\] are not labels of the data"):
        harmonise_labels(data, ["angry", "sad"], {"calm": "sad"})
    with pytest.raises(ValueError, match=r"\['joy'\] are not labels of the model"):
        harmonise_labels(data, ["angry", "sad"], {"angry": "joy"})
    with pytest.raises(
        ValueError,
        match=r"\['angry', 'sad'\] are not among the model's labels \['happy'\]: no utterance",
    ):
        harmonise_labels(data, ["happy"])
    assert set(CROSS_CORPUS_MAP.values()) <= set(HARMONISED_LABELS)


def write_three_tone_manifest(folder: Path) -> None:
    """Six tones labelled low, high, mid, low, high, mid; speaker x0 says the even ones (low,
    mid, high), x1 the odd ones (high, low, mid)."""
    rows = [("file", "label", "speaker")]
    for index, (label, frequency) in enumerate(
        [("low", 200.0), ("high", 1200.0), ("mid", 600.0)] * 2
    ):
        sf.write(folder / f"{index}.wav", tone(0.3, frequency, amplitude=0.3 + 0.05 * index), 16000)
        rows.append((f"{index}.wav", label, f"x{index % 2}"))
    with (folder / "manifest.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_evaluate_on_data_with_another_label_set(trained: Path, tmp_path: Path, capsys):
    """The tone model knows high and low; the data also has mid."""
    write_three_tone_manifest(tmp_path)
    output = tmp_path / "m.json"
    assert main(["evaluate", str(trained), "--data", str(tmp_path), "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "left out: 2 utterances labelled 'mid' (a class the model does not have)" in printed
    assert "4 utterances: WA" in printed
    command = ["evaluate", str(trained), "--data", str(tmp_path), "--label-map", "mid=low"]
    assert main(command) == 0
    assert "6 utterances: WA" in capsys.readouterr().out
    assert main([*command[:-1], "mid=medium"]) == 2
    assert "['medium'] are not labels of the model ['high', 'low']" in capsys.readouterr().err


def test_robustness_takes_interferers_whatever_their_labels(trained: Path, tmp_path: Path, capsys):
    """The untested speaker x1 says high, low and mid; mid, a class the tone model lacks, is
    left out of the test (x0) but x1's mid utterance is still interfering speech: all 3 of
    x1's utterances interfere, none is refused for its label."""
    write_three_tone_manifest(tmp_path)
    output = tmp_path / "m.json"
    command = ["evaluate", str(trained), "--data", str(tmp_path), "--test-speakers", "x0"]
    assert main([*command, "--robustness", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "left out: 1 utterance labelled 'mid' (a class the model does not have)" in printed
    assert "2 utterances: WA" in printed
    assert json.loads(output.read_text())["robustness"]["interferers"] == 3
    # With mid dropped by the map, the same: the map is for the tested labels.
    mapped = tmp_path / "mapped.json"
    assert main([*command, "--label-map", "mid=", "--robustness", "--output", str(mapped)]) == 0
    assert "UA % under speech: 20.0: " in capsys.readouterr().out
    assert json.loads(mapped.read_text())["robustness"]["interferers"] == 3


def test_train_on_one_corpus_and_test_on_another(tmp_path: Path, capsys):
    """EmoDB (the bundled clips) for training, a TESS layout for testing: TESS's pleasant
    surprise maps to 'surprised', which EmoDB lacks, so it is left out and named."""
    from test_crossval import TINY_CONFIG

    examples = Path(__file__).resolve().parents[1] / "examples" / "data"
    tess = tmp_path / "tess"
    for index, (speaker, emotion) in enumerate(
        [("OAF", "angry"), ("OAF", "sad"), ("OAF", "ps"), ("YAF", "angry"), ("YAF", "neutral")]
    ):
        folder = tess / f"{speaker}_{emotion}"
        folder.mkdir(parents=True, exist_ok=True)
        word = ("back", "bite", "chair", "dime", "food")[index]
        sf.write(folder / f"{speaker}_{word}_{emotion}.wav", tone(0.4, 300.0 + 100 * index), 16000)
    (tmp_path / "tiny.json").write_text(__import__("json").dumps(TINY_CONFIG))
    output = tmp_path / "run"
    command = ["train", "--corpus", "emodb", "--root", str(examples), "--test-corpus", "tess"]
    assert main([*command, "--output-dir", str(output)]) == 2
    assert "--test-corpus tess needs --test-root" in capsys.readouterr().err
    status = main(
        [
            *command,
            "--test-root",
            str(tess),
            "--config",
            str(tmp_path / "tiny.json"),
            "--max-steps",
            "2",
            "--output-dir",
            str(output),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    # The wording of eam-ser evaluate (`label_report_lines`), prefixed with the test corpus.
    assert (
        "tess: left out: 1 utterance labelled 'pleasant_surprise' (a class the model does not "
        "have)" in printed
    )
    assert (
        "tess: classes of the model the data lacks (no recall, out of UA): ['boredom', "
        "'disgust', 'fearful', 'happy']" in printed
    )
    fold = __import__("json").loads((output / "results.json").read_text())["folds"][0]
    assert fold["test_speakers"] == ["tess/OAF", "tess/YAF"]
    assert (fold["num_train"], fold["num_test"]) == (83, 4)

    # --label-map: only with --test-corpus, checked before any work; then it comes first.
    assert (
        main(
            [
                "train",
                "--corpus",
                "emodb",
                "--root",
                str(examples),
                "--test-speakers",
                "13",
                "--label-map",
                "ps=happy",
                "--output-dir",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "--label-map renames the labels of --test-corpus" in capsys.readouterr().err
    assert (
        main(
            [
                *command,
                "--test-root",
                str(tess),
                "--label-map",
                "pleasant_surprise",
                "--output-dir",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "'pleasant_surprise' is not DATA_LABEL=MODEL_LABEL" in capsys.readouterr().err
    mapped = tmp_path / "mapped"
    status = main(
        [
            *command,
            "--test-root",
            str(tess),
            "--label-map",
            "pleasant_surprise=happy,neutral=",
            "--config",
            str(tmp_path / "tiny.json"),
            "--max-steps",
            "2",
            "--output-dir",
            str(mapped),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "tess: labels renamed: pleasant_surprise -> happy" in printed
    assert "tess: left out: 1 utterance labelled 'neutral'" in printed
    fold = __import__("json").loads((mapped / "results.json").read_text())["folds"][0]
    # angry x2, sad, and pleasant surprise counted as happy; neutral dropped.
    assert fold["num_test"] == 4
    assert sorted(utterance["reference"] for utterance in fold["utterances"]) == [
        "angry",
        "angry",
        "happy",
        "sad",
    ]


def test_labels_are_one_label_whatever_their_case_spaces_or_unicode_form(tmp_path) -> None:
    """Issue 30, problems 5, 13 and the contradictory map of 14: `label_key` is the one
    comparison of label names; the data check refuses two spellings of one label, evaluation
    maps a label that differs from the model's only by case onto it, and a label map that
    sends one label to two targets is refused."""
    import unicodedata

    from eam_ser.corpora.vocabulary import harmonise_labels, label_key, parse_label_map

    composed, decomposed = "wütend", unicodedata.normalize("NFD", "wütend")
    assert composed != decomposed and label_key(composed) == label_key(decomposed)
    assert label_key("  Angry ") == label_key("angry") != label_key("angry2")
    with pytest.raises(ValueError, match="'ANGRY' is mapped twice, to 'happy' and 'sad'"):
        parse_label_map("angry=happy,ANGRY=sad")
    assert parse_label_map("angry=happy,Angry=happy") == {"angry": "happy", "Angry": "happy"}

    from datasets import ClassLabel, Dataset

    data = Dataset.from_dict(
        {"audio": ["a", "b", "c"], "label": [0, 1, 2], "speaker": ["1", "1", "2"]}
    ).cast_column("label", ClassLabel(names=["Angry", "wütend", "calm"]))
    harmonised, vocabulary = harmonise_labels(data, ["angry", composed, "happy"])
    assert vocabulary["renamed"] == {"Angry": "angry"}  # the same label, not left out
    assert vocabulary["dropped"] == {"calm": 1}
    assert harmonised["label"] == [0, 1]
    harmonised, _ = harmonise_labels(data, ["angry", "happy"], {"WÜTEND": "HAPPY"})
    assert harmonised["label"] == [0, 1]
    # The cross-corpus map is matched by label_key too.
    surprise = Dataset.from_dict({"audio": ["a"], "label": [0], "speaker": ["1"]}).cast_column(
        "label", ClassLabel(names=["Pleasant_Surprise"])
    )
    _, vocabulary = harmonise_labels(surprise, ["surprised"])
    assert vocabulary["renamed"] == {"Pleasant_Surprise": "surprised"}


def test_check_refuses_two_unicode_forms_of_one_label(tmp_path, capsys) -> None:
    import unicodedata

    import soundfile as sf

    from conftest import tone
    from eam_ser.cli import main

    lines = ["file,label,speaker"]
    for index, label in enumerate(["wütend", unicodedata.normalize("NFD", "wütend"), "ruhig"]):
        sf.write(tmp_path / f"c{index}.wav", tone(0.3, 200 + 50 * index), 16000)
        lines.append(f"c{index}.wav,{label},s{index}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["check", "--data", str(tmp_path)]) == 1
    assert "differ only by case, spaces or Unicode form" in capsys.readouterr().out


def test_train_test_corpus_holding_the_training_speakers_is_warned_of_as_evaluate_does(
    corpus, tmp_path, capsys
) -> None:
    """Issue 30, problem 3: the training speakers of the same corpus, given as the test corpus,
    were scored as held-out speakers (renamed ``emodb/11``) without a word; now the one
    warning of ``eam-ser evaluate`` names them and the results keep their own names."""
    import json
    import shutil

    from eam_ser.cli import main

    examples = Path(__file__).resolve().parents[1] / "examples" / "data"
    train_root, test_root = tmp_path / "train", tmp_path / "test"
    train_root.mkdir(), test_root.mkdir()
    # Speaker 11's clips split between both folders (other utterances, so no audio is shared),
    # speaker 13 only in the test folder, 15 and 16 only in the training one.
    for index, clip in enumerate(sorted(examples.glob("*.flac"))):
        speaker = clip.name[:2]
        into = test_root if speaker == "13" or (speaker == "11" and index % 2) else train_root
        shutil.copy(clip, into / clip.name)
    output = tmp_path / "run"
    status = main(
        [
            "train", "--corpus", "emodb", "--root", str(train_root), "--test-corpus", "emodb",
            "--test-root", str(test_root), "--config", str(corpus / "tiny.json"),
            "--max-steps", "1", "--output-dir", str(output),
        ]
    )  # fmt: skip
    assert status == 0
    error = capsys.readouterr().err
    eleven = len([c for c in test_root.glob("11*.flac")])
    assert f"warning: the model was trained on speakers of this data: 11 ({eleven}) " in error
    assert "the score is not speaker-independent" in error
    results = json.loads((output / "results.json").read_text())
    assert results["folds"][0]["test_speakers"] == ["11", "13"]
