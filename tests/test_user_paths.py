"""Every public entry point, end to end on real speech: the 83 EmoDB clips bundled in
``examples/data`` (speakers 11, 13, 15, 16), each command checked against a number worked out
here by hand (a score recomputed from the saved predictions, a count of files, a softmax), not
only its exit status.

One tiny model is trained once for the module (``eam-ser train``, 2 steps, about 15 s on 2
cores) with speakers 13 and 15 held out (two: ``eam-ser compare`` resamples the test speakers);
every other command uses it. ``transformers.Trainer`` on the
same clips: `test_plain_trainer.test_a_plain_trainer_evaluates_with_loss_and_label_ids`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from eam_ser.cli import main
from test_crossval import TINY_CONFIG

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
HELD_OUT = ("13", "15")  # a woman and a man, 21 clips each


def manifest_rows() -> list[dict[str, str]]:
    with (EXAMPLES / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def held_out_files() -> list[Path]:
    """The clips of the held-out speakers, sorted by name."""
    return sorted(EXAMPLES / row["file"] for row in manifest_rows() if row["speaker"] in HELD_OUT)


def hand_scores(utterances: list[dict]) -> dict[str, float]:
    """WA (share right) and UA (mean over the reference classes of the share of that class
    right) of per-utterance predictions, worked out without eam-ser."""
    right = [row["prediction"] == row["reference"] for row in utterances]
    classes = sorted({row["reference"] for row in utterances})
    recalls = []
    for name in classes:
        rows = [row for row in utterances if row["reference"] == name]
        recalls.append(sum(row["prediction"] == name for row in rows) / len(rows))
    return {"wa": sum(right) / len(right), "ua": sum(recalls) / len(recalls)}


def hand_probabilities(model_dir: Path, paths: list[Path]) -> list[dict[str, float]]:
    """softmax(logits / T) of each whole clip, one at a time through the saved feature
    extractor and model directly (soundfile; no eam-ser loading, batching or padding)."""
    from transformers import AutoFeatureExtractor

    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    model = FlamForSequenceClassification.from_pretrained(model_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    temperature = float(model.config.score_temperature)
    answers = []
    for path in paths:
        waveform, rate = sf.read(path, dtype="float32")
        inputs = extractor(waveform, sampling_rate=rate, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[0].double()
        probabilities = torch.softmax(logits / temperature, dim=-1).tolist()
        answers.append({model.config.id2label[i]: p for i, p in enumerate(probabilities)})
    return answers


def run(argv: list[str]) -> str:
    """``eam-ser ARGV`` (status 0 asserted); what it printed."""
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = main(argv)
    assert status == 0, printed.getvalue()[-3000:]
    return printed.getvalue()


@pytest.fixture(scope="module")
def emodb_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``eam-ser train`` on the bundled clips, speakers 13 and 15 held out (tiny config, 2 steps):
    (the model folder, what the command printed)."""
    folder = tmp_path_factory.mktemp("emodb_run")
    (folder / "tiny.json").write_text(json.dumps(TINY_CONFIG))
    output = folder / "model"
    printed = run(
        [
            "train",
            "--corpus",
            "emodb",
            "--root",
            str(EXAMPLES),
            "--test-speakers",
            *HELD_OUT,
            "--config",
            str(folder / "tiny.json"),
            "--max-steps",
            "2",
            "--output-dir",
            str(output),
        ]
    )
    return output, printed


@pytest.fixture(scope="module")
def evaluation(emodb_run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``eam-ser evaluate --output`` of the trained model on the held-out speakers:
    (the metrics file, what the command printed)."""
    model, _ = emodb_run
    output = tmp_path_factory.mktemp("evaluation") / "metrics.json"
    printed = run(
        [
            "evaluate",
            str(model),
            "--corpus",
            "emodb",
            "--root",
            str(EXAMPLES),
            "--test-speakers",
            *HELD_OUT,
            "--output",
            str(output),
        ]
    )
    return output, printed


def test_train_scores_the_held_out_speaker_as_its_predictions_say(emodb_run) -> None:
    model, printed = emodb_run
    results = json.loads((model / "results.json").read_text())
    (fold,) = results["folds"]
    rows = manifest_rows()
    held_out = {row["file"]: row["label"] for row in rows if row["speaker"] in HELD_OUT}
    assert (fold["num_train"], fold["num_test"]) == (len(rows) - len(held_out), len(held_out))
    assert (fold["num_train"], fold["num_test"]) == (41, 42)
    assert fold["test_speakers"] == list(HELD_OUT)
    # Every held-out clip predicted once, with its manifest label as the reference.
    utterances = fold["utterances"]
    assert {row["file"]: row["reference"] for row in utterances} == held_out
    assert len(utterances) == len(held_out)
    hand = hand_scores(utterances)
    assert fold["wa"] == pytest.approx(hand["wa"], abs=1e-12)
    assert fold["ua"] == pytest.approx(hand["ua"], abs=1e-12)
    # The confusion matrix counts the same predictions: rows are the references.
    names = results["label_names"]
    matrix = np.array(fold["confusion_matrix"])
    references = Counter(held_out.values())
    assert matrix.sum(axis=1).tolist() == [references[name] for name in names]
    predictions = Counter(row["prediction"] for row in utterances)
    assert matrix.sum(axis=0).tolist() == [predictions[name] for name in names]
    assert np.trace(matrix) == round(hand["wa"] * len(utterances))
    # Printed with one decimal beside the speaker interval.
    headline = next(line for line in printed.splitlines() if line.startswith("held-out"))
    assert headline.startswith(
        f"held-out speakers 13, 15 (42 utterances): WA {100 * hand['wa']:.1f} % ["
    )
    assert f"  UA {100 * hand['ua']:.1f} % [" in headline


def test_evaluate_prints_the_ua_of_its_saved_predictions(evaluation) -> None:
    output, printed = evaluation
    metrics = json.loads(output.read_text())
    utterances = metrics["utterances"]
    assert sorted(EXAMPLES / row["file"] for row in utterances) == held_out_files()
    hand = hand_scores(utterances)
    assert metrics["ua"] == pytest.approx(hand["ua"], abs=1e-12)
    assert metrics["wa"] == pytest.approx(hand["wa"], abs=1e-12)
    headline = next(line for line in printed.splitlines() if " utterances: WA " in line)
    assert headline.startswith(f"42 utterances: WA {100 * hand['wa']:.1f} % [")
    assert f"  UA {100 * hand['ua']:.1f} % [" in headline
    # Per-class recall, as printed: the share of that class's clips predicted as it.
    for name, recall in metrics["recall"].items():
        rows = [row for row in utterances if row["reference"] == name]
        if not rows:
            assert recall != recall  # NaN: a class the held-out speakers do not have
            continue
        share = sum(row["prediction"] == name for row in rows) / len(rows)
        assert recall == pytest.approx(share)
        assert f"  recall {name}: {100 * share:.2f} %" in printed


def test_compare_of_an_evaluation_with_itself_and_with_the_training_run(
    emodb_run, evaluation, tmp_path: Path
) -> None:
    model, _ = emodb_run
    evaluated, _ = evaluation
    same = tmp_path / "same.json"
    printed = run(["compare", str(evaluated), str(evaluated), "--output", str(same)])
    assert "on 42 utterances of 2 speakers" in printed
    hand = hand_scores(json.loads(evaluated.read_text())["utterances"])
    for key, row in json.loads(same.read_text()).items():
        assert row["difference"] == 0.0 and row["interval"] == [0.0, 0.0], key
        assert row["a"] == row["b"]
        if key in hand:
            assert row["a"] == pytest.approx(hand[key], abs=1e-12)
    # The training run's own predictions (results.json) against the saved model's: the same
    # 42 clips, and B - A is the difference of the two hand-worked scores.
    trained = json.loads((model / "results.json").read_text())["folds"][0]["utterances"]
    paired = tmp_path / "paired.json"
    run(["compare", str(model / "results.json"), str(evaluated), "--output", str(paired)])
    result = json.loads(paired.read_text())
    for key in ("wa", "ua"):
        assert result[key]["a"] == pytest.approx(hand_scores(trained)[key], abs=1e-12)
        assert result[key]["difference"] == pytest.approx(
            hand[key] - hand_scores(trained)[key], abs=1e-12
        )


def test_check_counts_every_clip_and_its_hours(tmp_path: Path) -> None:
    problems = tmp_path / "problems.txt"
    printed = run(
        ["check", "--corpus", "emodb", "--root", str(EXAMPLES), "--output", str(problems)]
    )
    clips = sorted(EXAMPLES.glob("*.flac"))
    assert len(clips) == len(manifest_rows()) == 83
    hours = sum(sf.info(path).frames / sf.info(path).samplerate for path in clips) / 3600
    assert f"{len(clips)} files ({hours:.2f} h): 0 with audio problems, 0 data problems" in printed
    assert problems.read_text() == ""  # nothing to report


def test_predict_writes_one_summary_per_clip_with_the_models_softmax(
    emodb_run, tmp_path: Path
) -> None:
    model, _ = emodb_run
    files = held_out_files()[:3]
    table = tmp_path / "predictions.csv"
    printed = run(["predict", str(model), *map(str, files), "--output", str(table)])
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    recordings = [row for row in rows if row["kind"] == "recording"]
    assert [row["file"] for row in recordings] == list(map(str, files))
    assert len(rows) == 2 * len(files)  # a short clip is one whole-clip segment
    labels = list(json.loads((model / "config.json").read_text())["id2label"].values())
    by_hand = hand_probabilities(model, files)
    for row, path, expected in zip(recordings, files, by_hand, strict=True):
        scores = {label: float(row[label]) for label in labels}  # written with 6 decimals
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(scores, key=scores.__getitem__)
        assert float(row["end_s"]) == pytest.approx(sf.info(path).duration, abs=1e-3)
        assert scores == pytest.approx(expected, abs=1e-5)
        assert f"{path}: {row['label']}  (" in printed


def test_export_then_onnxruntime_predicts_what_torch_predicts(emodb_run, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model, _ = emodb_run
    exported = tmp_path / "onnx"
    printed = run(["export", str(model), str(exported)])
    within = float(re.search(r"logits within (\S+) of PyTorch", printed)[1])
    assert within <= 1e-4
    file_list = tmp_path / "held_out.txt"
    file_list.write_text("".join(f"{path}\n" for path in held_out_files()))
    answers = {}
    for backend, folder in (("torch", model), ("onnxruntime", exported)):
        output = tmp_path / f"{backend}.json"
        run(
            [
                "predict",
                str(folder),
                "--file-list",
                str(file_list),
                "--backend",
                backend,
                "--output",
                str(output),
            ]
        )
        answers[backend] = json.loads(output.read_text())
    torch_rows, onnx_rows = answers["torch"], answers["onnxruntime"]
    assert len(torch_rows) == len(onnx_rows) == 42
    compared = 0
    for eager, onnx in zip(torch_rows, onnx_rows, strict=True):
        assert onnx["file"] == eager["file"]
        assert onnx["scores"] == pytest.approx(eager["scores"], abs=1e-6)
        # The same label, unless the top two scores are closer than that tolerance (a model
        # trained 2 steps scores close to 1/7 each).
        top, second = sorted(eager["scores"].values(), reverse=True)[:2]
        if top - second > 2e-6:
            assert onnx["label"] == eager["label"], eager["file"]
            compared += 1
    assert compared >= len(torch_rows) // 2


def test_augment_writes_a_mixed_copy_of_every_clip_with_soft_labels(tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    printed = run(["augment", str(EXAMPLES), str(out), "--seed", "0"])
    rows = manifest_rows()
    assert f"wrote {len(rows)} mixed files" in printed
    written = sorted(out.rglob("*.flac"))
    assert len(written) == len(rows) == 83
    with (out / "soft_labels.csv").open(newline="") as handle:
        soft_rows = list(csv.DictReader(handle))
    assert sorted(out / row["file"] for row in soft_rows) == written
    labels = sorted({row["label"] for row in rows})
    by_file = {row["file"]: row["label"] for row in rows}
    mixed_count = 0
    for row in soft_rows:
        soft = {label: float(row[label]) for label in labels}
        assert sum(soft.values()) == pytest.approx(1.0, abs=1e-3)
        assert min(soft.values()) >= 0.0
        assert row["label"] == by_file[Path(row["source"]).name]
        assert soft[row["label"]] >= 0.5  # the clip itself dominates its mix
        mixed, rate = sf.read(out / row["file"], dtype="float32")
        source, source_rate = sf.read(row["source"], dtype="float32")
        assert (rate, mixed.shape) == (source_rate, source.shape)
        mixed_count += soft[row["label"]] < 1.0
    assert mixed_count > 0  # --p 1 (augment's default): partners were mixed in


def test_pipeline_scores_clip_files_with_the_models_softmax(emodb_run) -> None:
    from transformers import pipeline

    import eam_ser.inference.pipeline  # noqa: F401  (registers the task)

    model, _ = emodb_run
    files = held_out_files()[:3]
    classifier = pipeline("speech-emotion-recognition", model=str(model))
    answers = classifier([str(path) for path in files], batch_size=3)
    assert len(answers) == len(files)
    for ranked, expected in zip(answers, hand_probabilities(model, files), strict=True):
        scores = {entry["label"]: entry["score"] for entry in ranked}
        assert len(ranked) == len(scores) == 7
        assert [entry["score"] for entry in ranked] == sorted(scores.values(), reverse=True)
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
        assert scores == pytest.approx(expected, abs=1e-5)
