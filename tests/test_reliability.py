"""Real data as people have it: bad files caught before training, clear refusals instead of
silent nonsense, nothing lost on a failure. CLI cases go through the `eam-ser` entry point."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import tone
from eam_ser.cli import main
from eam_ser.corpora import load_manifest
from eam_ser.data.check import DataCheckError, check_data
from eam_ser.experiment import crossval
from test_crossval import TINY_CONFIG, write_tone_corpus


def train_args(data: Path, output: Path, *extra: str) -> list[str]:
    config = data.parent / "tiny.json"
    config.write_text(json.dumps(TINY_CONFIG))
    return [
        "train",
        "--data",
        str(data),
        "--test-speakers",
        "s4",
        "--config",
        str(config),
        "--output-dir",
        str(output),
        *extra,
    ]


def error_of(capsys) -> str:
    return capsys.readouterr().err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_tone_corpus(folder)
    return folder


def append_rows(corpus: Path, *rows: str) -> None:
    with (corpus / "manifest.csv").open("a") as handle:
        handle.write("".join(f"{row}\n" for row in rows))


# ---- the data check, before any work -------------------------------------------------------


def test_corrupt_training_file_is_refused_before_training_by_line(corpus, tmp_path, capsys):
    (corpus / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wav file")
    append_rows(corpus, "broken.wav,low,s1,unknown,0")
    output = tmp_path / "run"
    assert main(train_args(corpus, output, "--max-steps", "2")) == 2
    message = error_of(capsys)
    assert "train: line 18 (" in message and "broken.wav): unreadable audio" in message
    assert not (output / "trainer").exists()  # nothing was trained
    # --on-bad-audio skip leaves it out, lists it and trains.
    assert main(train_args(corpus, output, "--max-steps", "2", "--on-bad-audio", "skip")) == 0
    skipped = (output / "skipped_files.csv").read_text()
    assert "broken.wav" in skipped and "unreadable audio" in skipped
    assert json.loads((output / "results.json").read_text())["folds"][0]["num_train"] == 12


def test_short_test_clip_and_whisper_minimum_are_refused_before_training(corpus, tmp_path, capsys):
    # 160 samples: shorter than the tiny encoder's receptive field (TINY_CONFIG keeps WavLM's
    # standard 400-sample CNN), in the *test* split.
    sf.write(corpus / "short.wav", tone(0.01, 300.0), 16000)
    append_rows(corpus, "short.wav,low,s4,unknown,1")
    assert main(train_args(corpus, tmp_path / "run", "--max-steps", "2")) == 2
    message = error_of(capsys)
    assert "test: line 18 (" in message
    assert "too short for the encoder: 160 samples" in message and "at least 400" in message
    # Whisper's STFT needs 201 samples: a 200-sample clip is named, not a torch.stft crash.
    dataset = load_manifest(corpus)
    with pytest.raises(DataCheckError, match=r"200 samples .* at least 201"):
        sf.write(corpus / "short.wav", tone(200 / 16000, 300.0), 16000)
        check_data({"train": dataset}, min_input_samples=201, progress=False)


def test_silent_nan_duplicate_and_leaked_audio_are_reported_by_check(corpus, tmp_path, capsys):
    sf.write(corpus / "silent.wav", np.zeros(8000, np.float32), 16000)
    sf.write(corpus / "nan.wav", np.full(8000, np.nan, np.float32), 16000, subtype="FLOAT")
    # s1_low_0.wav again under speaker s3: the same audio under two speakers.
    append_rows(
        corpus,
        "silent.wav,low,s1,unknown,0",
        "nan.wav,high,s2,unknown,0",
        "s1_low_0.wav,low,s1,unknown,0",
        "s1_low_0.wav,low,s3,unknown,1",
    )
    report_file = tmp_path / "problems.txt"
    assert main(["check", "--data", str(corpus), "--output", str(report_file)]) == 1
    printed = capsys.readouterr().out
    lines = report_file.read_text().splitlines()
    assert len(lines) == 5, lines
    assert any("line 18 (" in line and "silent audio" in line for line in lines)
    assert any("line 19 (" in line and "NaN/inf" in line for line in lines)
    for line_number in (20, 21):
        assert any(
            f"line {line_number} (" in line and "duplicate row: the same file as line 2" in line
            for line in lines
        )
    assert any("the same audio under speakers ['s1', 's3']" in line for line in lines)
    # 16 clean files + silent.wav + nan.wav; the repeated rows name files already counted.
    assert printed.startswith("18 files (0.00 h): 2 with audio problems, 3 data problems")
    clean = tmp_path / "clean"
    clean.mkdir()
    write_tone_corpus(clean)
    assert main(["check", "--data", str(clean)]) == 0


def test_one_class_and_empty_labels_are_refused(tmp_path, capsys):
    folder = tmp_path / "one"
    folder.mkdir()
    lines = ["file,label,speaker"]
    for index, speaker in enumerate(("s1", "s2", "s3", "s4")):
        sf.write(folder / f"{speaker}.wav", tone(0.3, 300.0, amplitude=0.2 + 0.1 * index), 16000)
        lines.append(f"{speaker}.wav,low,{speaker}")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    assert main(train_args(folder, tmp_path / "run", "--max-steps", "2")) == 2
    assert "fewer than 2 classes to train on: ['low']" in error_of(capsys)
    (folder / "manifest.csv").write_text("file,label,speaker\ns1.wav,,s1\ns2.wav,low,s2\n")
    assert main(["check", "--data", str(folder)]) == 2
    assert "manifest.csv, line 2: empty label for s1.wav" in error_of(capsys)


@pytest.mark.parametrize(
    ("flag", "value"), [("--max-steps", "-5"), ("--max-steps", "0"), ("--epochs", "0")]
)
def test_non_positive_budgets_are_flag_errors(corpus, tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        main(train_args(corpus, tmp_path / "run", flag, value))
    assert exit_info.value.code == 2
    assert f"argument {flag}: must be > 0, got {value}" in error_of(capsys)
    assert not (tmp_path / "run").exists()


def test_evaluate_refuses_an_all_silent_test_set(corpus, tmp_path, capsys):
    assert main(train_args(corpus, tmp_path / "run", "--max-steps", "2")) == 0
    silent = tmp_path / "silent"
    silent.mkdir()
    for name in ("a", "b"):
        sf.write(silent / f"{name}.wav", np.zeros(4000, np.float32), 16000)
    (silent / "manifest.csv").write_text("file,label,speaker\na.wav,low,x\nb.wav,high,y\n")
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(silent)]) == 2
    assert "silent audio" in error_of(capsys)


# ---- labels by name, strict JSON -----------------------------------------------------------


def test_labels_are_matched_by_name_and_missing_classes_are_null_in_json(corpus, tmp_path, capsys):
    assert main(train_args(corpus, tmp_path / "run", "--max-steps", "2")) == 0
    model_labels = json.loads((tmp_path / "run" / "config.json").read_text())["id2label"]
    assert list(model_labels.values()) == ["high", "low"]
    # The same clips with the labels in the other order, and only the "low" class present.
    lines = ["file,label,speaker"]
    for path in sorted(corpus.glob("s4_low_*.wav")):
        lines.append(f"{path},low,s4")
    (tmp_path / "low_only.csv").write_text("\n".join(lines) + "\n")
    output = tmp_path / "metrics.json"
    status = main(
        [
            "evaluate",
            str(tmp_path / "run"),
            "--data",
            str(tmp_path / "low_only.csv"),
            "--output",
            str(output),
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "recall high: undefined (no test sample)" in printed
    metrics = json.loads(output.read_text())  # strict JSON: json.loads would accept NaN too
    assert "NaN" not in output.read_text()
    assert metrics["recall"]["high"] is None
    assert metrics["null_values"] == {
        "recall.high": "recall undefined: no test sample of this class"
    }
    # A label the model does not know is named.
    (tmp_path / "other.csv").write_text(f"file,label,speaker\n{corpus / 's4_low_0.wav'},angry,s4\n")
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "other.csv")]) == 2
    assert "labels ['angry'] are not among the model's labels ['high', 'low']" in error_of(capsys)


def test_strict_json_replaces_non_finite_numbers_and_says_why():
    text = crossval.strict_json(
        {"mean": {"ua": math.nan}, "folds": [{"recall": {"sad": math.nan}}]}
    )
    values = json.loads(text)
    assert values["mean"]["ua"] is None and values["folds"][0]["recall"]["sad"] is None
    assert values["null_values"] == {
        "mean.ua": "not a finite number (nan)",
        "folds[0].recall.sad": "recall undefined: no test sample of this class",
    }


# ---- manifests as people have them ---------------------------------------------------------


def test_manifest_with_bom_and_other_encodings(corpus, tmp_path, capsys):
    text = (corpus / "manifest.csv").read_text()
    (corpus / "manifest.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_manifest(corpus).num_rows == 16
    sf.write(corpus / "café.wav", tone(0.3, 300.0, amplitude=0.77), 16000)
    (corpus / "manifest.csv").write_bytes(
        text.encode() + "café.wav,low,s1,unknown,0\n".encode("latin-1")
    )
    assert main(["check", "--data", str(corpus)]) == 2
    message = error_of(capsys)
    assert "manifest.csv, line 18: byte b'\\xe9' is not valid utf-8" in message
    assert "--encoding latin-1" in message
    assert main(["check", "--data", str(corpus), "--encoding", "latin-1"]) == 0


# ---- nothing lost --------------------------------------------------------------------------


def test_resume_continues_an_interrupted_single_split(corpus, tmp_path):
    output = tmp_path / "run"
    assert main(train_args(corpus, output, "--max-steps", "2", "--save-steps", "2")) == 0
    assert (output / "trainer" / "checkpoint-2").is_dir()
    assert (
        main(train_args(corpus, output, "--max-steps", "4", "--save-steps", "2", "--resume")) == 0
    )
    state = json.loads((output / "trainer" / "checkpoint-4" / "trainer_state.json").read_text())
    steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert steps == [1, 2, 3, 4] and state["global_step"] == 4


def test_interrupted_cross_validation_keeps_finished_folds_and_resumes(
    corpus, tmp_path, monkeypatch, capsys
):
    output = tmp_path / "cv"
    real_train_model = crossval.train_model
    calls = []

    def interrupted_on_second_fold(*args, **kwargs):
        calls.append(Path(args[2]).name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train_model(*args, **kwargs)

    monkeypatch.setattr(crossval, "train_model", interrupted_on_second_fold)
    cv_args = train_args(corpus, output, "--max-steps", "2")
    cv_args[cv_args.index("--test-speakers") : cv_args.index("--test-speakers") + 2] = ["--cv"]
    cv_args.append("--no-final-model")
    assert main(cv_args) == 130
    assert "interrupted; checkpoints are kept in" in error_of(capsys)
    partial = json.loads((output / "results.json").read_text())
    assert [fold["fold"] for fold in partial["folds"]] == [0]
    monkeypatch.setattr(crossval, "train_model", real_train_model)
    calls.clear()
    monkeypatch.setattr(
        crossval,
        "train_model",
        lambda *a, **k: (calls.append(Path(a[2]).name), real_train_model(*a, **k))[1],
    )
    assert main([*cv_args, "--resume"]) == 0
    assert calls == ["fold_1"]  # fold 0 was read back, not trained again
    results = json.loads((output / "results.json").read_text())
    assert [fold["fold"] for fold in results["folds"]] == [0, 1]
    assert results["folds"][0] == partial["folds"][0]


def test_output_dir_guard_and_filesystem_errors(corpus, tmp_path, capsys):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "README.md").write_text("my notes")
    assert main(train_args(corpus, precious, "--max-steps", "2")) == 2
    assert "is not empty and is not an eam-ser run folder" in error_of(capsys)
    assert (precious / "README.md").read_text() == "my notes"
    # Issue 30, problem 4: --overwrite replaced the user's README.md with the model card.
    assert main(train_args(corpus, precious, "--max-steps", "2", "--overwrite")) == 2
    message = error_of(capsys)
    assert "(no eam_ser_run.json; it holds README.md): eam-ser writes only into an empty" in message
    assert "even with --overwrite" in message
    assert sorted(path.name for path in precious.iterdir()) == ["README.md"]
    assert (precious / "README.md").read_text() == "my notes"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(train_args(corpus, a_file, "--max-steps", "2")) == 2
    assert f"--output-dir {a_file} is a file, not a folder" in error_of(capsys)
    assert main(train_args(corpus, a_file / "sub", "--max-steps", "2")) == 2
    message = error_of(capsys)
    # One line, before the data check (issue 23: the folder is checked first), no traceback.
    error_lines = [line for line in message.splitlines() if "eam-ser train: error" in line]
    assert error_lines == [
        f"eam-ser train: error: --output-dir {a_file / 'sub'}: {a_file} is a file, so the "
        "folder cannot be made"
    ]
    assert "Traceback" not in message
    assert main(train_args(corpus, tmp_path / "fresh", "--max-steps", "2", "--resume")) == 2
    assert "holds no eam-ser run to continue" in error_of(capsys)


# ---- start-up ------------------------------------------------------------------------------


def test_help_and_flag_errors_import_no_heavy_library():
    """`eam-ser --help` and flag errors must not wait for torch / transformers / datasets
    (their speed is measured by benchmarks/bench_cli_startup.py)."""
    probe = (
        "import sys\n"
        "from eam_ser.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))\n"
    )
    for argv in (["--help"], ["train", "--data", "x", "--cv", "--max-steps", "-5"]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60
        )
        assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


# ---- collator, transform, map: integers, NaN, overflow ---------------------------------------


def test_integer_pcm_is_scaled_like_decoded_files():
    from eam_ser.mixup import EnergyAdaptiveMixupCollator

    rng = np.random.default_rng(0)
    floats = rng.uniform(-0.5, 0.5, 16000).astype(np.float32)
    as_int16 = np.round(floats * 32768).astype(np.int16)
    collator = EnergyAdaptiveMixupCollator(2, p=0.0, normalize=False, seed=0)
    batch = collator([{"audio": as_int16, "label": 0}, {"audio": floats, "label": 1}])
    np.testing.assert_allclose(batch["input_values"][0].numpy(), floats, atol=1 / 32768)
    uint8 = np.array([0, 128, 255], np.uint8)
    from eam_ser.data.audio import load_audio

    np.testing.assert_allclose(load_audio(uint8), [-1.0, 0.0, 127 / 128])
    np.testing.assert_allclose(load_audio(np.array([-(2**31), 2**30], np.int32)), [-1.0, 0.5])


def test_nan_and_overflowing_amplitudes_are_refused_in_every_shape():
    from datasets import Dataset

    from eam_ser.mixup import (
        EnergyAdaptiveMixup,
        EnergyAdaptiveMixupCollator,
        EnergyAdaptiveMixupMap,
    )

    good = tone(0.5, 300.0)
    nan = np.full(8000, np.nan, np.float32)
    loud = good * 1e6
    collator = EnergyAdaptiveMixupCollator(2, p=1.0, seed=0)
    transform = EnergyAdaptiveMixup([good], p=0.0, seed=0)
    mix = EnergyAdaptiveMixupMap(2, p=1.0, seed=0)
    for bad, message in ((nan, "NaN/inf"), (loud, "far outside full scale")):
        with pytest.raises(ValueError, match=rf"features\[1\].*{message}"):
            collator([{"audio": good, "label": 0}, {"audio": bad, "label": 1}])
        with pytest.raises(ValueError, match=rf"samples: .*{message}"):
            transform(bad, 16000)  # p=0: checked even when the transform does not apply
        with pytest.raises(ValueError, match=rf"row 1 'audio'.*{message}"):
            Dataset.from_dict({"audio": [good, bad], "label": [0, 1]}).map(
                mix, batched=True, with_indices=True
            )


def test_whisper_features_of_a_too_short_clip_are_refused_by_row():
    from transformers import WhisperFeatureExtractor

    from eam_ser.mixup import EnergyAdaptiveMixupCollator

    collator = EnergyAdaptiveMixupCollator(
        2, feature_extractor=WhisperFeatureExtractor(), p=0.0, seed=0
    )
    with pytest.raises(ValueError, match=r"features\[1\] has 200 samples.*at least 201"):
        collator([{"audio": tone(0.5), "label": 0}, {"audio": tone(200 / 16000), "label": 1}])
    batch = collator([{"audio": tone(0.5), "label": 0}, {"audio": tone(201 / 16000), "label": 1}])
    assert torch.isfinite(batch["input_features"]).all()
