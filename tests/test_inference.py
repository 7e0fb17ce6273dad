"""Prediction: the plain collator, segmentation, recordings of any length, the command line,
the ``speech-emotion-recognition`` pipeline and the model card's snippet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2FeatureExtractor, WhisperConfig, WhisperFeatureExtractor

from conftest import tiny_wavlm_config, tone
from eam_ser.cli import main
from eam_ser.collator import AudioCollator
from eam_ser.configuration_flam import FlamConfig
from eam_ser.crossval import save_model, write_model_card
from eam_ser.inference import EmotionRecognizer
from eam_ser.modeling_flam import FlamForSequenceClassification
from eam_ser.segmentation import fixed_windows, segment_recording

LABELS = {0: "calm", 1: "angry", 2: "sad"}


def save_wavlm_folder(folder: Path) -> Path:
    torch.manual_seed(0)
    # WavLM's real front end (320-sample stride, 50 frames/s) so long inputs stay cheap.
    front_end = {
        "conv_dim": (16,) * 7,
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    }
    config = FlamConfig(
        encoder_config=tiny_wavlm_config(**front_end),
        id2label=LABELS,
        label2id={name: index for index, name in LABELS.items()},
        flam_num_attention_heads=2,
        embedding_size=8,
    )
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True)
    save_model(folder, FlamForSequenceClassification(config).eval(), extractor)
    return folder


def save_whisper_folder(folder: Path) -> Path:
    torch.manual_seed(0)
    whisper = WhisperConfig(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        num_mel_bins=80,
        max_source_positions=1500,
    )
    config = FlamConfig(
        encoder_config=whisper,
        id2label=LABELS,
        label2id={name: index for index, name in LABELS.items()},
        flam_num_attention_heads=2,
        embedding_size=8,
    )
    save_model(folder, FlamForSequenceClassification(config).eval(), WhisperFeatureExtractor())
    return folder


@pytest.fixture(scope="module")
def wavlm_folder(tmp_path_factory) -> Path:
    return save_wavlm_folder(tmp_path_factory.mktemp("wavlm"))


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
    assert labelled["soft_targets"].tolist() == [[0, 0, 1], [1, 0, 0]]
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


# ------------------------------------------------------------------------------ segmentation


def test_fixed_windows_hand_worked() -> None:
    # 10 s, 4 s windows every 2 s: 0-4, 2-6, 4-8, and the last one moved to end at 10 s.
    assert fixed_windows(160000, 16000, 4.0, 2.0) == [
        (0, 64000),
        (32000, 96000),
        (64000, 128000),
        (96000, 160000),
    ]
    assert fixed_windows(170000, 16000, 4.0, 4.0)[-1] == (106000, 170000)
    assert fixed_windows(30000, 16000, 4.0, 2.0) == [(0, 30000)]
    with pytest.raises(ValueError, match="window_s and hop_s must be > 0"):
        fixed_windows(100, 16000, 0.0, 1.0)
    assert segment_recording(np.zeros(16000 * 5), 16000, "auto") == ("none", [(0, 80000)])
    with pytest.raises(ValueError, match="segmentation must be one of"):
        segment_recording(np.zeros(10), 16000, "words")


def test_vad_finds_the_utterances_between_silences(emodb_dir: Path) -> None:
    from eam_ser.audio import load_audio

    files = sorted(emodb_dir.glob("*.flac"))[:3]
    gap = np.zeros(2 * 16000, np.float32)
    pieces, bounds, position = [], [], 0
    for file in files:
        clip = load_audio(file)
        pieces += [gap, clip]
        bounds.append((position + gap.shape[0], position + gap.shape[0] + clip.shape[0]))
        position += gap.shape[0] + clip.shape[0]
    recording = np.concatenate([*pieces, gap])
    used, segments = segment_recording(recording, 16000, "vad")
    assert used == "vad" and len(segments) >= 3
    for start, end in segments:  # every segment lies inside an utterance (0.3 s tolerance)
        assert any(a - 4800 <= start and end <= b + 4800 for a, b in bounds), (start, end)
    for a, b in bounds:  # and every utterance is mostly covered
        covered = sum(max(0, min(b, end) - max(a, start)) for start, end in segments)
        assert covered >= 0.7 * (b - a)
    assert segment_recording(recording, 16000, "auto")[0] == "none"  # 14 s: whole clip


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


# -------------------------------------------------------------------------- pipeline, card


def test_pipeline_decodes_any_rate_and_batches_invariantly(wavlm_folder: Path, tmp_path) -> None:
    from transformers import pipeline

    import eam_ser.pipeline  # noqa: F401

    classifier = pipeline("speech-emotion-recognition", model=str(wavlm_folder))
    clip = tone(0.8, 300.0)
    sf.write(tmp_path / "clip_8k.wav", tone(0.8, 300.0, sampling_rate=8000), 8000)
    alone = classifier(clip)
    assert [entry["label"] for entry in alone] == sorted(
        LABELS.values(), key=lambda name: -next(e["score"] for e in alone if e["label"] == name)
    )
    batch = classifier(
        [tone(2.0, 900.0), clip, (tmp_path / "clip_8k.wav").read_bytes()], batch_size=3, top_k=3
    )
    assert {e["label"]: e["score"] for e in batch[1]} == pytest.approx(
        {e["label"]: e["score"] for e in alone}, abs=1e-5
    )
    resampled = {e["label"]: e["score"] for e in batch[2]}
    assert sum(resampled.values()) == pytest.approx(1.0, abs=1e-5)
    long = classifier(
        {"raw": np.tile(clip, 30), "sampling_rate": 16000},
        segmentation="fixed",
        window_s=6.0,
        hop_s=6.0,
        top_k=1,
    )
    assert len(long["segments"]) == 4 and long["duration_s"] == pytest.approx(24.0)
    assert long["label"] == long["scores"][0]["label"]


@pytest.mark.parametrize("family", ["wavlm", "whisper"])
def test_model_card_snippet_runs_as_written(family: str, tmp_path: Path) -> None:
    folder = (save_wavlm_folder if family == "wavlm" else save_whisper_folder)(tmp_path / "model")
    results = {
        "corpus": "custom",
        "label_names": list(LABELS.values()),
        "folds": [
            {
                "fold": 0,
                "test_speakers": ["s1"],
                "num_train": 4,
                "num_test": 2,
                "wa": 0.5,
                "ua": 0.5,
                "macro_f1": 0.5,
            }
        ],
        "mean": {"wa": 0.5, "ua": 0.5, "macro_f1": 0.5},
        "std": {"wa": 0.0, "ua": 0.0, "macro_f1": 0.0},
        "config": {},
    }
    write_model_card(folder, results, model_id=str(folder))
    card = (folder / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", card, flags=re.DOTALL)
    sf.write(tmp_path / "speech.wav", tone(25.0, 300.0, sampling_rate=22050), 22050)
    # As written; only each call's result is printed so the test can read it.
    script = "\n".join(
        f"print({line.split('  #')[0]})" if line.startswith("classifier(") else line
        for line in snippet.splitlines()
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    printed = [line for line in result.stdout.splitlines() if line.startswith(("[", "{"))]
    assert len(printed) == 2 and "'segments'" in printed[1]


# ------------------------------------------------------------------------------------ export


@pytest.mark.parametrize("family", ["wavlm", "whisper"])
def test_onnx_export_matches_eager_and_predicts(family: str, tmp_path: Path, capfd) -> None:
    import onnxruntime  # noqa: F401

    folder = (save_wavlm_folder if family == "wavlm" else save_whisper_folder)(tmp_path / "model")
    exported = tmp_path / "onnx"
    assert main(["export", str(folder), str(exported), "--format", "onnx"]) == 0
    out, err = capfd.readouterr()
    assert "logits within" in out and "ship the whole folder" in out
    # The exporter's notes about its own internals are held back (issue 23, item 11).
    for noise in ("torchvision is not installed", "Skipping constant folding", "axis name"):
        assert noise not in err, err[-2000:]
    assert {"model.onnx", "config.json", "preprocessor_config.json"} <= {
        path.name for path in exported.iterdir()
    }
    eager = EmotionRecognizer.from_pretrained(folder)
    onnx = EmotionRecognizer.from_pretrained(exported, backend="onnxruntime", batch_size=4)
    # Other lengths and batch sizes than the export example (1.0 s and 0.7 s, batch 2).
    clips = [
        tone(3.1, 250.0),
        tone(0.33, 900.0),
        tone(1.45, 600.0),
        tone(5.0, 400.0),
        tone(0.8, 350.0),
    ]
    np.testing.assert_allclose(
        onnx.predict_logits(clips), eager.predict_logits(clips), atol=1e-4, rtol=0
    )
    sf.write(tmp_path / "clip.wav", tone(1.2, 300.0), 16000)
    table = tmp_path / "onnx.json"
    assert (
        main(
            [
                "predict",
                str(exported),
                str(tmp_path / "clip.wav"),
                "--backend",
                "onnxruntime",
                "--output",
                str(table),
            ]
        )
        == 0
    )
    (entry,) = json.loads(table.read_text())
    expected = eager.predict_clips([tone(1.2, 300.0)])[0]["scores"]
    assert entry["scores"] == pytest.approx(expected, abs=1e-4)


def test_onnx_model_checks_inputs_before_the_graph(wavlm_folder: Path, tmp_path: Path) -> None:
    from eam_ser.export import OnnxEmotionModel, export_onnx

    check = export_onnx(wavlm_folder, tmp_path / "onnx")
    assert check["max_abs_difference"] <= 1e-4 and check["batch_size"] == 3
    model = OnnxEmotionModel(tmp_path / "onnx")
    minimum = model.config.min_input_samples
    inputs = np.zeros((2, 4000), np.float32)
    mask = np.ones((2, 4000), np.int64)
    mask[1, minimum - 1 :] = 0
    # The eager model refuses this row; the graph alone would score it.
    with pytest.raises(ValueError, match=rf"row 1 has {minimum - 1} samples, fewer than"):
        model(inputs, mask)
    mask[1] = 0
    with pytest.raises(ValueError, match="row 1 is empty"):
        model(inputs, mask)
    recognizer = EmotionRecognizer.from_pretrained(tmp_path / "onnx", backend="onnxruntime")
    with pytest.raises(ValueError, match="shorter than the 400 samples the encoder accepts"):
        recognizer.predict_clips([tone(0.01)])
    with pytest.raises(ValueError, match=r"no model\.onnx"):
        OnnxEmotionModel(wavlm_folder)


def test_export_without_the_onnx_extra_says_what_to_install(
    wavlm_folder: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    assert main(["export", str(wavlm_folder), str(tmp_path / "onnx")]) == 2
    assert 'pip install "eam-ser[onnx]"' in capsys.readouterr().err
    assert not (tmp_path / "onnx").exists()
