"""`eam_ser.inference.recognizer`: batching, recordings of any length, and `eam-ser predict`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from eam_ser.cli import main
from eam_ser.data.collator import AudioCollator
from eam_ser.inference import EmotionRecognizer
from inference_helpers import LABELS

# ---------------------------------------------------------------------------------- collator


def test_audio_collator_labels_optional_and_checked() -> None:
    collator = AudioCollator(num_labels=3, label2id={"calm": 0, "angry": 1, "sad": 2})
    batch = collator([{"audio": tone(0.1)}, {"audio": tone(0.2)}])
    assert set(batch) == {"input_values", "attention_mask"}
    assert batch["input_values"].shape == (2, 3200)
    assert batch["attention_mask"].sum(dim=1).tolist() == [1600, 3200]
    # zero mean, unit variance over each clip's real samples; padding stays 0
    first = batch["input_values"][0, :1600].double()
    assert abs(float(first.mean())) < 1e-5 and float(first.std(unbiased=False)) == pytest.approx(
        1.0, abs=1e-3
    )
    assert float(batch["input_values"][0, 1600:].abs().max()) == 0.0
    labelled = collator([{"audio": tone(0.1), "label": "sad"}, {"audio": tone(0.1), "label": 0}])
    assert labelled["labels"].tolist() == [2, 0]
    assert labelled["soft_labels"].tolist() == [[0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match=r"features\[1\]: no label under 'label'"):
        collator([{"audio": tone(0.1), "label": 1}, {"audio": tone(0.1)}])
    with pytest.raises(ValueError, match=r"features\[0\]\['label'\]: label 5 is outside \[0, 3\)"):
        collator([{"audio": tone(0.1), "label": 5}])
    with pytest.raises(ValueError, match="features: empty batch"):
        collator([])


def test_batched_clips_score_as_each_alone(wavlm_folder: Path) -> None:
    recognizer = EmotionRecognizer.from_pretrained(wavlm_folder, batch_size=3)
    clips = [tone(0.4, 200.0), tone(1.3, 700.0), tone(0.9, 450.0), tone(0.25, 1000.0)]
    together = recognizer.predict_logits(clips)
    for row, clip in enumerate(clips):
        np.testing.assert_allclose(together[row], recognizer.predict_logits([clip])[0], atol=1e-5)


# -------------------------------------------------------------------------------- recordings


def test_ten_minute_recording_in_fixed_windows(wavlm_folder: Path) -> None:
    recognizer = EmotionRecognizer.from_pretrained(wavlm_folder, batch_size=16)
    rng = np.random.default_rng(0)
    minutes = 10
    recording = np.concatenate(
        [tone(1.0, float(rng.integers(150, 900)), amplitude=0.3) for _ in range(60 * minutes)]
    )
    prediction = recognizer.predict_recording(
        {"array": recording, "sampling_rate": 16000}, "fixed", window_s=5.0, hop_s=5.0
    )
    assert prediction.segmentation == "fixed" and prediction.duration_s == 600.0
    assert len(prediction.segments) == 120
    assert [(s.start_s, s.end_s) for s in prediction.segments[:2]] == [(0.0, 5.0), (5.0, 10.0)]
    # Equal windows: the summary is the plain mean of the segments' probabilities.
    table = np.array([[s.scores[name] for name in LABELS.values()] for s in prediction.segments])
    assert list(prediction.scores.values()) == pytest.approx(table.mean(axis=0).tolist())
    assert prediction.label == max(prediction.scores, key=prediction.scores.get)
    # A segment's scores are those of the clip alone.
    alone = recognizer.predict_clips([recording[5 * 16000 : 10 * 16000]])[0]["scores"]
    assert prediction.segments[1].scores == pytest.approx(alone, abs=1e-5)


def test_summary_weights_segments_by_duration(wavlm_folder: Path) -> None:
    recognizer = EmotionRecognizer.from_pretrained(wavlm_folder)
    recording = np.concatenate([tone(3.0, 200.0), tone(1.0, 800.0)])
    prediction = recognizer.predict_recording(recording, "fixed", window_s=3.0, hop_s=3.0)
    first, second = prediction.segments
    assert (first.end_s - first.start_s, second.end_s - second.start_s) == (3.0, 3.0)
    uneven = recognizer.predict_recording(recording, "fixed", window_s=3.0, hop_s=2.5)
    durations = np.array([s.end_s - s.start_s for s in uneven.segments])
    table = np.array([[s.scores[name] for name in LABELS.values()] for s in uneven.segments])
    expected = durations @ table / durations.sum()
    assert list(uneven.scores.values()) == pytest.approx(expected.tolist())


# ----------------------------------------------------------------------------- command line


def test_predict_folder_and_file_list_to_csv_and_json(wavlm_folder: Path, tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    (audio / "sub").mkdir(parents=True)
    sf.write(audio / "a.wav", tone(1.0), 16000)
    sf.write(audio / "sub" / "b.flac", tone(9.0, 500.0, sampling_rate=44100), 44100)
    (audio / "notes.txt").write_text("not audio")
    table = tmp_path / "out.csv"
    assert (
        main(
            [
                "predict",
                str(wavlm_folder),
                str(audio),
                "--segment",
                "fixed",
                "--window",
                "4",
                "--hop",
                "4",
                "--output",
                str(table),
            ]
        )
        == 0
    )
    import csv

    rows = list(csv.DictReader(table.open()))
    kinds = [(Path(row["file"]).name, row["kind"]) for row in rows]
    # a.wav (1 s): one window; b.flac (9 s): 0-4, 4-8, 5-9.
    assert kinds == [
        ("a.wav", "segment"),
        ("a.wav", "recording"),
        *[("b.flac", "segment")] * 3,
        ("b.flac", "recording"),
    ]
    assert [(row["start_s"], row["end_s"]) for row in rows[2:5]] == [
        ("0.000", "4.000"),
        ("4.000", "8.000"),
        ("5.000", "9.000"),
    ]
    for row in rows:
        assert sum(float(row[name]) for name in LABELS.values()) == pytest.approx(1.0, abs=1e-5)
    file_list = tmp_path / "list.txt"
    file_list.write_text(f"# clips\n{audio / 'a.wav'}\n\n{audio / 'sub' / 'b.flac'}\n")
    report = tmp_path / "out.json"
    assert (
        main(["predict", str(wavlm_folder), "--file-list", str(file_list), "--output", str(report)])
        == 0
    )
    written = json.loads(report.read_text())
    assert [Path(entry["file"]).name for entry in written] == ["a.wav", "b.flac"]
    assert [entry["segmentation"] for entry in written] == ["none", "none"]
    assert written[1]["duration_s"] == pytest.approx(9.0)


def test_predict_input_errors_name_the_culprit(wavlm_folder: Path, tmp_path: Path, capsys) -> None:
    file_list = tmp_path / "list.txt"
    file_list.write_text("# header\nmissing.wav\n")
    assert main(["predict", str(wavlm_folder), "--file-list", str(file_list)]) == 2
    assert f"{file_list}, line 2: missing.wav: no such file" in capsys.readouterr().err
    sf.write(tmp_path / "a.wav", tone(1.0), 16000)
    assert (
        main(
            [
                "predict",
                str(wavlm_folder),
                str(tmp_path / "a.wav"),
                "--output",
                str(tmp_path / "out.txt"),
            ]
        )
        == 2
    )
    assert "give a .csv or .json file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(wavlm_folder), str(tmp_path / "empty")]) == 2
    assert "no audio files" in capsys.readouterr().err
