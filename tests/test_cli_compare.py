"""``eam-ser evaluate`` reports scores per group with a speaker interval, and ``eam-ser
compare`` pairs two evaluations of the same utterances."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from eam_ser.cli import main
from eam_ser.evaluation.metrics import ser_metrics
from eam_ser.evaluation.report import format_interval


@pytest.fixture(scope="module")
def evaluation(corpus: Path, trained: Path, tmp_path_factory) -> tuple[dict, str]:
    """`evaluate --output` of the trained model on the whole tone corpus (4 speakers x 4)."""
    import io
    from contextlib import redirect_stdout

    output = tmp_path_factory.mktemp("evaluation") / "a.json"
    printed = io.StringIO()
    with redirect_stdout(printed):
        status = main(
            [
                "evaluate",
                str(trained),
                "--data",
                str(corpus),
                "--output",
                str(output),
                "--reliability-plot",
                str(output.with_suffix(".png")),
            ]
        )
    assert status == 0
    assert output.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    return json.loads(output.read_text()), printed.getvalue()


def test_evaluate_scores_every_speaker_and_gives_an_interval(evaluation):
    metrics, printed = evaluation
    labels = ["high", "low"]
    utterances = metrics["utterances"]
    # Files relative to the corpus folder, as a training run's results.json names them.
    assert all(row["file"].startswith("s") and "/" not in row["file"] for row in utterances)
    assert len(utterances) == 16 and {row["speaker"] for row in utterances} == {
        "s1",
        "s2",
        "s3",
        "s4",
    }
    by_speaker = metrics["groups"]["speaker"]["groups"]
    for speaker, group in by_speaker.items():
        rows = [row for row in utterances if row["speaker"] == speaker]
        expected = ser_metrics(
            [labels.index(row["prediction"]) for row in rows],
            [labels.index(row["reference"]) for row in rows],
            num_labels=2,
        )
        assert group["num_utterances"] == 4
        assert group["ua"] == pytest.approx(expected["ua"])
        assert group["wa"] == pytest.approx(expected["wa"])
    gap = metrics["groups"]["speaker"]["gap"]["ua"]
    assert gap == pytest.approx(
        max(g["ua"] for g in by_speaker.values()) - min(g["ua"] for g in by_speaker.values())
    )
    low, high = metrics["intervals"]["ua"]
    assert low <= metrics["ua"] <= high
    # The tone corpus gives no gender (its manifest writes the loaders' missing-value
    # marker): no gender groups, rather than one group named "unknown".
    assert "gender" not in metrics["groups"] and "UA by gender" not in printed
    shown = {
        key: format_interval(metrics[key], metrics["intervals"][key])
        for key in metrics["intervals"]
    }
    assert (
        f"16 utterances: WA {shown['wa']}  UA {shown['ua']}  macro-F1 {shown['macro_f1']}\n"
        in printed
    )
    assert "  in brackets: 95 % interval from 1000 resamples of the test speakers\n" in printed
    assert "UA by speaker: s1 " in printed
    # The model was trained without validation speakers: plain softmax, T = 1.
    assert metrics["score_temperature"] == 1.0 and "calibration_before_scaling" not in metrics
    assert sum(b["count"] for b in metrics["calibration"]["bins"]) == 16
    assert f"calibration: ECE {metrics['calibration']['ece']:.3f} (15 equal-width bins)" in printed


def test_compare_gives_the_paired_difference(evaluation, tmp_path, capsys):
    metrics, _ = evaluation
    a = tmp_path / "a.json"
    a.write_text(json.dumps(metrics))
    assert main(["compare", str(a), str(a)]) == 0
    assert "UA       A" in capsys.readouterr().out
    # B: wrong on every utterance of s1 and s2, as A elsewhere.
    worse = json.loads(json.dumps(metrics))
    for row in worse["utterances"]:
        if row["speaker"] in ("s1", "s2"):
            row["prediction"] = "low" if row["reference"] == "high" else "high"
    b = tmp_path / "b.json"
    b.write_text(json.dumps(worse))
    assert main(["compare", str(a), str(b), "--output", str(tmp_path / "ab.json")]) == 0
    result = json.loads((tmp_path / "ab.json").read_text())
    lost = sum(
        row["prediction"] == row["reference"]
        for row in metrics["utterances"]
        if row["speaker"] in ("s1", "s2")
    )
    assert lost > 0  # A is right there (training speakers): B has something to lose
    assert result["wa"]["difference"] == pytest.approx(-lost / 16)
    assert result["wa"]["b"] == pytest.approx(metrics["wa"] - lost / 16)
    assert result["wa"]["interval"][1] <= 0.0  # B is never better on any resample
    # Not the same utterances: refused, naming one.
    del worse["utterances"][0]
    b.write_text(json.dumps(worse))
    assert main(["compare", str(a), str(b)]) == 2
    assert "not evaluated on the same utterances" in capsys.readouterr().err
    (tmp_path / "c.json").write_text(json.dumps({"wa": 0.5}))
    assert main(["compare", str(a), str(tmp_path / "c.json")]) == 2
    assert "no per-utterance predictions; write it with eam-ser evaluate --output" in (
        capsys.readouterr().err
    )


def test_compare_pairs_two_cross_validation_runs_over_all_their_folds(corpus, tmp_path, capsys):
    """Two `eam-ser train --cv` runs (seeds 7 and 8) of the tone corpus: each results.json
    keeps every test utterance's prediction, and compare pools both folds (8 + 8 utterances,
    speakers s1-s4)."""
    results = {}
    for name, seed in (("a", "7"), ("b", "8")):
        command = ["train", "--data", str(corpus), "--cv", "--config", str(corpus / "tiny.json")]
        command += ["--max-steps", "2", "--seed", seed, "--no-final-model"]
        assert main([*command, "--output-dir", str(tmp_path / name)]) == 0
        results[name] = json.loads((tmp_path / name / "results.json").read_text())
    folds = results["a"]["folds"]
    assert [len(fold["utterances"]) for fold in folds] == [8, 8]
    assert set(folds[0]["utterances"][0]) == {"file", "speaker", "reference", "prediction"}
    a_rows = [row for fold in folds for row in fold["utterances"]]
    correct_a = sum(row["prediction"] == row["reference"] for row in a_rows)
    # The pooled rows score what the fold records say: two folds of 8, WA the mean of theirs.
    assert correct_a / 16 == pytest.approx((folds[0]["wa"] + folds[1]["wa"]) / 2)
    capsys.readouterr()
    paths = [str(tmp_path / name / "results.json") for name in ("a", "b")]
    # Files are named relative to the corpus folder: no local folder goes into a results.json
    # (a model folder's goes to the Hub).
    assert {row["file"] for row in a_rows} == {path.name for path in corpus.glob("*.wav")}
    assert main(["compare", *paths, "--output", str(tmp_path / "ab.json")]) == 0
    printed = capsys.readouterr().out
    assert "on 16 utterances of 4 speakers" in printed
    assert "the folds' utterances pooled" in printed
    # B rewritten by hand: right everywhere but on s1, all of whose 4 utterances (2 low, 2
    # high) it calls low: 14 of 16 right, WA 7/8; recall low 8/8, high 6/8, UA 7/8.
    for fold in results["b"]["folds"]:
        for row in fold["utterances"]:
            row["prediction"] = "low" if row["speaker"] == "s1" else row["reference"]
    (tmp_path / "b" / "results.json").write_text(json.dumps(results["b"]))
    assert main(["compare", *paths, "--output", str(tmp_path / "ab.json")]) == 0
    paired = json.loads((tmp_path / "ab.json").read_text())
    assert paired["wa"]["b"] == paired["ua"]["b"] == 7 / 8
    assert paired["wa"]["a"] == pytest.approx(correct_a / 16)
    assert paired["wa"]["difference"] == pytest.approx(7 / 8 - correct_a / 16)
    # A results.json whose folds lack the predictions (an earlier eam-ser) is refused, named.
    del results["b"]["folds"][1]["utterances"]
    (tmp_path / "b" / "results.json").write_text(json.dumps(results["b"]))
    assert main(["compare", *paths]) == 2
    assert "folds 1 hold no per-utterance predictions" in capsys.readouterr().err


def test_predict_answers_uncertain_below_min_confidence(corpus, trained, tmp_path, capsys):
    from eam_ser.inference import UNCERTAIN, EmotionRecognizer

    clip = corpus / "s4_low_0.wav"
    recognizer = EmotionRecognizer.from_pretrained(trained)
    top = max(recognizer.predict_clips([clip])[0]["scores"].values())
    sure = EmotionRecognizer.from_pretrained(trained, min_confidence=top)  # exactly at the top
    assert sure.predict_clips([clip])[0]["label"] != UNCERTAIN
    unsure = EmotionRecognizer.from_pretrained(trained, min_confidence=min(1.0, top + 1e-3))
    result = unsure.predict_clips([clip])[0]
    assert result["label"] == UNCERTAIN and max(result["scores"].values()) == pytest.approx(top)
    assert main(["predict", str(trained), str(clip), "--min-confidence", "1.0"]) == 0
    assert f"{clip}: {UNCERTAIN}  (" in capsys.readouterr().out
    with pytest.raises(
        ValueError, match=r"min_confidence must be a finite number in \(0, 1\] \(or None\), got 1.5"
    ):
        EmotionRecognizer.from_pretrained(trained, min_confidence=1.5)


def test_evaluate_reports_coverage_against_accuracy(evaluation):
    metrics, printed = evaluation
    rows = metrics["abstention"]
    assert [row["min_confidence"] for row in rows] == [0.5, 0.6, 0.7, 0.8, 0.9]
    assert rows[0]["coverage"] == 1.0  # two classes: the top score is always >= 0.5
    assert rows[0]["accuracy"] == pytest.approx(metrics["wa"])
    assert all(a["coverage"] >= b["coverage"] for a, b in itertools.pairwise(rows))
    assert "answered share and accuracy by min_confidence: 0.5: 100 % answered" in printed
