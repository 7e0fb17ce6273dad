"""Smoke tests of the eam-ser command through `main([...])` on a tiny tone corpus."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from huggingface_hub import HfApi

from conftest import png_picture, shows_colour
from eam_ser.cli import build_parser, config_from_args, main
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification


def test_train_single_split_saves_model_results_and_card(trained: Path, capsys) -> None:
    names = {path.name for path in trained.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "README.md",
        "results.json",
        "results.md",
        "confusion_matrix.png",
    } <= names
    results = json.loads((trained / "results.json").read_text())
    assert results["folds"][0]["test_speakers"] == ["s4"]
    assert (results["folds"][0]["num_train"], results["folds"][0]["num_test"]) == (12, 4)
    assert results["config"]["training"]["max_steps"] == 3  # flag over config file
    assert results["config"]["training"]["seed"] == 7  # from the config file
    assert (
        results["protocol"] == "trained on speakers s1, s2, s3, tested on the held-out speakers s4"
    )
    assert "| held-out | s4 | 12 / 4 |" in (trained / "README.md").read_text()


def test_train_prints_scores(corpus: Path, tmp_path: Path, capsys) -> None:
    status = main(
        [
            "train",
            "--data",
            str(corpus),
            "--test-fold",
            "1",
            "--config",
            str(corpus / "tiny.json"),
            "--max-steps",
            "1",
            "--output-dir",
            str(tmp_path / "run"),
        ]
    )
    assert status == 0
    out = capsys.readouterr().out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    fold = results["folds"][0]
    # Two test speakers: each headline score with its speaker interval beside it.
    (low, high), wa = fold["intervals"]["wa"], 100 * fold["wa"]
    assert (
        f"held-out speakers s3, s4 (8 utterances): WA {wa:.1f} % [{100 * low:.1f}, "
        f"{100 * high:.1f}]  UA " in out
    )
    assert "in brackets: 95 % interval from 1000 resamples of the test speakers" in out


def test_evaluate(corpus: Path, trained: Path, tmp_path: Path, capsys) -> None:
    status = main(
        [
            "evaluate",
            str(trained),
            "--data",
            str(corpus),
            "--test-speakers",
            "s4",
            "--output",
            str(tmp_path / "metrics.json"),
        ]
    )
    assert status == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    saved = json.loads((trained / "results.json").read_text())["folds"][0]
    assert metrics["confusion_matrix"] == saved["confusion_matrix"]  # same model, same test set
    assert f"4 utterances: WA {100 * metrics['wa']:.2f} %" in capsys.readouterr().out


def test_predict_and_explain(corpus: Path, trained: Path, tmp_path: Path, capsys) -> None:
    files = [corpus / "s4_low_0.wav", corpus / "s4_high_1.wav"]
    status = main(
        ["predict", str(trained), *map(str, files), "--explain", str(tmp_path / "att.png")]
    )
    assert status == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("  ")]
    assert len(lines) == 2
    for line, path in zip(lines, files, strict=True):
        head, ranked = line.split("  (")
        assert head.startswith(f"{path}: ")
        probabilities = [float(part.split()[1]) for part in ranked.rstrip(")").split("  ")]
        assert sum(probabilities) == pytest.approx(1.0, abs=2e-3)
        assert head.endswith(ranked.split()[0])  # the label printed is the most probable one
    # Each clip's picture: 10 x 5.5 in at 120 dpi, the attention in red over the waveform and
    # a magma spectrogram (hundreds of colours); the other clip's spectrogram (the lower half)
    # is another picture.
    low, high = (png_picture(tmp_path / f"att_{path.stem}.png", 200) for path in files)
    for picture in (low, high):
        assert picture.shape[:2] == (660, 1200)
        assert shows_colour(picture, "tab:red")
    assert not np.array_equal(low[330:], high[330:])
    assert (
        main(["predict", str(trained), str(files[0]), "--explain", str(tmp_path / "one.png")]) == 0
    )
    np.testing.assert_array_equal(png_picture(tmp_path / "one.png", 200), low)


def test_augment_writes_mixed_audio_and_soft_labels(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    assert main(["augment", str(corpus), str(out), "--seed", "3", "--batch-size", "4"]) == 0
    with (out / "soft_labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 16
    for row in rows:
        soft = np.array([float(row["high"]), float(row["low"])])
        assert soft.sum() == pytest.approx(1.0, abs=1e-3)
        assert soft[["high", "low"].index(row["label"])] >= 0.5  # the first utterance dominates
        mixed, rate = sf.read(out / row["file"])
        source, _ = sf.read(row["source"])
        assert rate == 16000 and mixed.shape == source.shape
    assert any(float(row["high"]) not in (0.0, 1.0) for row in rows)  # some were really mixed
    first = (out / "soft_labels.csv").read_text()
    assert (
        main(["augment", str(corpus), str(tmp_path / "again"), "--seed", "3", "--batch-size", "4"])
        == 0
    )
    assert (tmp_path / "again" / "soft_labels.csv").read_text() == first


def test_augment_keeps_files_that_share_a_name_apart(tmp_path: Path, capsys) -> None:
    """Label folders repeat file names: angry/a.flac and sad/a.flac are two outputs."""
    rng = np.random.default_rng(0)
    for label in ("angry", "sad"):
        (tmp_path / "in" / label).mkdir(parents=True)
        for stem in ("a", "b"):
            clip = (0.1 * rng.standard_normal(8000)).astype(np.float32)
            sf.write(tmp_path / "in" / label / f"{stem}.flac", clip, 16000)
    sf.write(tmp_path / "in" / "sad" / "b.wav", rng.standard_normal(8000) * 0.1, 16000)
    out = tmp_path / "out"
    assert main(["augment", str(tmp_path / "in"), str(out), "--seed", "0"]) == 0
    assert "wrote 5 mixed files" in capsys.readouterr().out
    files = sorted(str(path.relative_to(out)) for path in out.rglob("*.flac"))
    assert files == [
        "angry/a_eam.flac",
        "angry/b_eam.flac",
        "sad/a_eam.flac",
        "sad/b_flac_eam.flac",
        "sad/b_wav_eam.flac",
    ]
    with (out / "soft_labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["file"] for row in rows) == files
    for row in rows:  # each row describes the audio in its file
        assert Path(row["source"]).parent.name == Path(row["file"]).parent.name == row["label"]
        assert sf.info(out / row["file"]).frames == sf.info(row["source"]).frames


def test_bad_input_returns_status_2(corpus: Path, tmp_path: Path, capsys) -> None:
    assert main(["train", "--data", str(corpus), "--cv", "--push-to-hub"]) == 2
    assert "--push-to-hub needs --hub-model-id" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--data",
                str(corpus),
                "--test-speakers",
                "nobody",
                "--config",
                str(corpus / "tiny.json"),
                "--output-dir",
                str(tmp_path),
            ]
        )
        == 2
    )
    # The library names its argument, the command its flag.
    assert "--test-speakers ['nobody'] are not in the dataset" in capsys.readouterr().err
    assert main(["train", "--corpus", "emodb", "--test-fold", "0"]) == 2
    assert "--corpus emodb needs --root" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", str(corpus)])  # one of --cv / --test-speakers / --test-fold


def test_predict_refuses_silent_audio(trained: Path, tmp_path: Path, capsys) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    assert main(["predict", str(trained), str(silent)]) == 2
    assert f"{silent}: silent audio (all 16000 samples are 0)" in capsys.readouterr().err


def test_config_precedence(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("eam:\n  p: 0.9\ntraining:\n  max_steps: 10\n  seed: 1\n")
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "x",
            "--cv",
            "--config",
            str(tmp_path / "c.yaml"),
            "--max-steps",
            "20",
            "--encoder",
            "microsoft/wavlm-large",
        ]
    )
    config = config_from_args(args)
    assert (config.training.max_steps, config.training.seed, config.eam.p) == (20, 1, 0.9)
    assert config.encoder == "microsoft/wavlm-large"


def test_train_cv_final_model_and_push(corpus: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    uploaded: dict[str, Path] = {}
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kwargs: repo_id)

    def fake_upload_folder(self, *, repo_id, folder_path, **kwargs):
        uploaded[repo_id] = Path(folder_path)
        return "https://huggingface.co/user/flam-tones/commit/1"

    monkeypatch.setattr(HfApi, "upload_folder", fake_upload_folder)
    output = tmp_path / "cv"
    status = main(
        [
            "train",
            "--data",
            str(corpus),
            "--cv",
            "--config",
            str(corpus / "tiny.json"),
            "--max-steps",
            "1",
            "--output-dir",
            str(output),
            "--push-to-hub",
            "--hub-model-id",
            "user/flam-tones",
        ]
    )
    assert status == 0
    assert uploaded == {"user/flam-tones": output / "model"}
    results = json.loads((output / "results.json").read_text())
    assert [fold["test_speakers"] for fold in results["folds"]] == [["s1", "s2"], ["s3", "s4"]]
    card = (output / "model" / "README.md").read_text()
    assert "| **mean ± std** |" in card and "no held-out score of its own" in card
    assert 'model="user/flam-tones"' in card
    assert FlamForSequenceClassification.from_pretrained(output / "model").config.num_labels == 2
    out = capsys.readouterr().out
    assert f"WA {100 * results['mean']['wa']:.2f} ± {100 * results['std']['wa']:.2f} %" in out
    assert "pushed to https://huggingface.co/user/flam-tones/commit/1" in out


def test_trained_folder_records_the_encoder_regime_in_results_and_card(trained: Path) -> None:
    results = json.loads((trained / "results.json").read_text())
    assert results["eam_regime"]["regime"] == "fine_tuned"  # the small encoder trains whole
    assert results["eam_regime"]["eam_p"] == 0.5
    assert results["eam_regime"]["note"] in (trained / "README.md").read_text()
