"""eam_ser.evaluation.report: per-group scores and speaker-bootstrap intervals, against hand-worked
values and against ser_metrics on the same utterances."""

from __future__ import annotations

import numpy as np
import pytest

from eam_ser.corpora.base import MISSING_VALUE
from eam_ser.evaluation.metrics import ser_metrics
from eam_ser.evaluation.report import (
    SpeakerBootstrap,
    group_scores,
    grouping_columns,
    paired_speaker_bootstrap,
    scores_from_confusion,
    speaker_bootstrap,
)


@pytest.mark.parametrize("seed", range(5))
def test_scores_from_confusion_are_ser_metrics(seed):
    rng = np.random.default_rng(seed)
    references = rng.integers(0, 4, 60)
    references[references == 3] = 2  # class 3 absent from the references: left out of UA
    predictions = np.where(rng.random(60) < 0.6, references, rng.integers(0, 4, 60))
    expected = ser_metrics(predictions, references, num_labels=4)
    matrix = np.asarray(expected["confusion_matrix"])
    got = scores_from_confusion(matrix)
    for key in ("wa", "ua", "macro_f1"):
        assert float(got[key]) == pytest.approx(expected[key], abs=1e-12)
    stacked = scores_from_confusion(np.stack([matrix, matrix]))
    assert stacked["ua"].shape == (2,)


def test_group_scores_hand_worked():
    # Women: 4 utterances, all right. Men: reference [0, 1], predicted [1, 1].
    references = [0, 0, 1, 1, 0, 1]
    predictions = [0, 0, 1, 1, 1, 1]
    groups = ["female"] * 4 + ["male"] * 2
    result = group_scores(predictions, references, groups, num_labels=2)
    assert result["groups"]["female"] == {
        "wa": 1.0,
        "ua": 1.0,
        "macro_f1": 1.0,
        "num_utterances": 4,
    }
    male = result["groups"]["male"]
    # recall: class 0 0/1, class 1 1/1; F1: class 0 0, class 1 2*1/(1+2).
    assert (male["wa"], male["ua"]) == (0.5, 0.5)
    assert male["macro_f1"] == pytest.approx((0 + 2 / 3) / 2)
    assert result["gap"] == pytest.approx({"wa": 0.5, "ua": 0.5, "macro_f1": 1 - 1 / 3})
    assert result["worst"] == {"wa": "male", "ua": "male", "macro_f1": "male"}


def test_speaker_bootstrap_hand_worked():
    """Speaker A is always right, speaker B always wrong: a resample of two speakers scores
    WA 1 (A, A), 0.5 (A, B or B, A) or 0 (B, B), a quarter of the time each end, so the 95 %
    interval is [0, 1] although the utterance count (4) would suggest more certainty."""
    references = [0, 1, 0, 1]
    predictions = [0, 1, 1, 0]
    speakers = ["A", "A", "B", "B"]
    interval = speaker_bootstrap(predictions, references, speakers, 2, seed=0)
    assert interval["wa"] == [0.0, 1.0]
    assert interval["ua"] == [0.0, 1.0]


def test_speaker_bootstrap_is_the_resampled_ser_metrics():
    """The same draws, scored one by one with ser_metrics: the same percentiles."""
    rng = np.random.default_rng(3)
    speakers = np.repeat([f"s{i}" for i in range(6)], rng.integers(3, 9, 6))
    references = rng.integers(0, 3, speakers.size)
    predictions = np.where(rng.random(speakers.size) < 0.7, references, (references + 1) % 3)
    got = speaker_bootstrap(predictions, references, speakers, 3, num_resamples=200, seed=7)
    draws = np.random.default_rng(7).integers(0, 6, size=(200, 6))
    names = np.unique(speakers)
    values = {"wa": [], "ua": [], "macro_f1": []}
    for draw in draws:
        rows = np.concatenate([np.flatnonzero(speakers == names[i]) for i in draw])
        scores = ser_metrics(predictions[rows], references[rows], num_labels=3)
        for key in values:
            values[key].append(scores[key])
    for key, samples in values.items():
        assert got[key] == pytest.approx(list(np.percentile(samples, [2.5, 97.5])), abs=1e-12)
    whole = ser_metrics(predictions, references, num_labels=3)
    assert got["ua"][0] <= whole["ua"] <= got["ua"][1]


def test_paired_bootstrap_of_two_models():
    references = [0, 1, 0, 1, 0, 1]
    a = [0, 1, 1, 0, 0, 1]  # wrong on speaker B
    b = [0, 1, 0, 1, 0, 1]  # right everywhere
    speakers = ["A", "A", "B", "B", "C", "C"]
    same = paired_speaker_bootstrap(a, a, references, speakers, 2)
    assert same["ua"]["difference"] == 0.0 and same["ua"]["interval"] == [0.0, 0.0]
    better = paired_speaker_bootstrap(a, b, references, speakers, 2, seed=0)
    assert better["wa"]["a"] == pytest.approx(4 / 6) and better["wa"]["b"] == 1.0
    assert better["wa"]["difference"] == pytest.approx(2 / 6)
    low, high = better["wa"]["interval"]
    assert low == 0.0 and high > better["wa"]["difference"]  # B never does worse than A


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least 2 test speakers, got 1"):
        speaker_bootstrap([0, 1], [0, 1], ["A", "A"], 2)
    with pytest.raises(ValueError, match=r"predictions \(2\), references \(2\) and speakers \(3\)"):
        speaker_bootstrap([0, 1], [0, 1], ["A", "B", "C"], 2)
    with pytest.raises(ValueError, match=r"class index outside \[0, 2\)"):
        group_scores([0, 2], [0, 1], ["A", "B"], 2)


def test_grouping_columns_keeps_filled_gender_and_speaker():
    columns = {"speaker": [1, 2], "gender": ["", ""], "label": [0, 1]}
    assert grouping_columns(columns) == {"speaker": ["1", "2"]}
    # The loaders' marker for a gender the source does not give is no value either.
    columns["gender"] = [MISSING_VALUE, MISSING_VALUE]
    assert grouping_columns(columns) == {"speaker": ["1", "2"]}


def test_rows_without_a_gender_are_left_out_of_the_gender_groups_and_counted():
    """Two of six utterances have no gender: they are in no gender group, not a group of
    their own, and the report says how many were left out."""
    from eam_ser.evaluation.report import report_lines

    references = [0, 1, 0, 1, 0, 1]
    predictions = [0, 1, 1, 1, 1, 0]
    genders = ["female", "female", MISSING_VALUE, "male", "male", ""]
    columns = grouping_columns({"gender": genders, "speaker": ["a", "a", "b", "c", "c", "b"]})
    assert columns["gender"] == ["female", "female", None, "male", "male", None]
    result = group_scores(predictions, references, columns["gender"], num_labels=2)
    assert list(result["groups"]) == ["female", "male"]
    # female: references [0, 1], predictions [0, 1]: all right.
    assert result["groups"]["female"] == {
        "wa": 1.0,
        "ua": 1.0,
        "macro_f1": 1.0,
        "num_utterances": 2,
    }
    # male: references [1, 0], predictions [1, 1]: WA 1/2; recall 0/1 and 1/1, UA 1/2;
    # F1 0 and 2 * 1 / (1 + 2), macro-F1 1/3. The two rows without a gender are both
    # wrong: as a group "unknown" (UA 0) they would have been named the worst.
    male = result["groups"]["male"]
    assert (male["wa"], male["ua"], male["num_utterances"]) == (0.5, 0.5, 2)
    assert male["macro_f1"] == pytest.approx(1 / 3)
    assert result["worst"] == {"wa": "male", "ua": "male", "macro_f1": "male"}
    assert result["gap"]["ua"] == 0.5 and result["num_without_value"] == 2
    lines = report_lines({"groups": {"gender": result}})
    assert lines == [
        "UA by gender: female 100.0 % (2), male 50.0 % (2); gap 50.0 points (worst: male); "
        "2 utterances without a gender left out"
    ]
    with pytest.raises(ValueError, match="no utterance has a group"):
        group_scores([0], [0], [None], num_labels=2)


def test_results_and_the_card_carry_the_groups_table():
    from eam_ser.hub.card import (
        CARD_INTERVAL_NOTE,
        GROUPS_NOTE,
        render_model_card,
        results_markdown,
        results_summary,
    )
    from test_hub import make_results

    results = make_results()
    references, predictions = [0, 0, 1, 1, 0, 1], [0, 0, 1, 1, 1, 1]
    genders = ["female"] * 4 + ["male"] * 2
    speakers = ["03", "03", "08", "08", "08", "08"]
    results["folds"][0]["groups"] = {
        "gender": group_scores(predictions, references, genders, 2),
        "speaker": group_scores(predictions, references, speakers, 2),
    }
    results["folds"][0]["intervals"] = {"wa": [0.5, 1.0], "ua": [0.5, 1.0], "macro_f1": [0.3, 1.0]}
    table = results_markdown(results).splitlines()
    # Each headline score with its interval beside it; fold 1 has none.
    assert table[2] == (
        "| 0 | 03, 08 | 428 / 107 | 80.00 [50.00, 100.00] | 75.00 [50.00, 100.00] | "
        "70.00 [30.00, 100.00] |"
    )
    assert table[3] == "| 1 | 09, 10 | 454 / 81 | 60.00 | 55.00 | 50.00 |"
    assert table[5:10] == ["", CARD_INTERVAL_NOTE, "", GROUPS_NOTE, ""]
    assert "1000 resamples of the test speakers of each fold" in CARD_INTERVAL_NOTE
    # female: all 4 right. male: references [0, 1], predictions [1, 1]: WA 1/2, UA (0 + 1) / 2,
    # macro-F1 (0 + 2 * 1 / (1 + 2)) / 2 = 1/3. Speaker 03: references [0, 0], both right (F1
    # over class 0 only). Speaker 08: references [1, 1, 0, 1], predictions [1, 1, 1, 1]: WA
    # 3/4, UA (0 + 1) / 2, macro-F1 (0 + 2 * 3 / (3 + 4)) / 2 = 3/7 = 42.86 %.
    groups_table = [
        "| fold | by | group | utterances | WA (%) | UA (%) | macro-F1 (%) |",
        "|---|---|---|---|---|---|---|",
        "| 0 | gender | female | 4 | 100.00 | 100.00 | 100.00 |",
        "| 0 | gender | male | 2 | 50.00 | 50.00 | 33.33 |",
        "| 0 | gender | gap, points (worst) | | 50.00 (male) | 50.00 (male) | 66.67 (male) |",
        "| 0 | speaker | 03 | 2 | 100.00 | 100.00 | 100.00 |",
        "| 0 | speaker | 08 | 4 | 75.00 | 50.00 | 42.86 |",
        "| 0 | speaker | gap, points (worst) | | 25.00 (08) | 50.00 (08) | 57.14 (08) |",
    ]
    assert table[10:] == groups_table
    assert results_markdown(results) in str(render_model_card(results, model_id="user/x"))
    # A single split states the intervals in its headline sentence.
    single = make_results(1)
    single["folds"][0]["intervals"] = results["folds"][0]["intervals"]
    assert results_summary(single) == (
        "Held-out speakers: WA 80.00 % [50.00, 100.00], UA 75.00 % [50.00, 100.00], "
        "macro-F1 70.00 % [30.00, 100.00]."
    )


def test_the_groups_table_names_the_worst_and_best_of_many_and_counts_the_missing():
    """Six speakers of two utterances each (references [0, 1]); only speakers a and b have a
    gender (female), c is male, d-f have none."""
    from eam_ser.hub import groups_markdown

    references = [0, 1] * 6
    predictions = [0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1]  # a right, b half, c wrong, d-f right
    speakers = [name for name in "abcdef" for _ in range(2)]
    genders = ["female"] * 4 + ["male"] * 2 + [MISSING_VALUE] * 6
    columns = grouping_columns({"gender": genders, "speaker": speakers})
    fold = {
        "fold": 0,
        "groups": {c: group_scores(predictions, references, v, 2) for c, v in columns.items()},
    }
    rows = groups_markdown({"folds": [fold]}).splitlines()[2:]
    # female (a, b): predictions [0, 1, 0, 0]: WA 3/4, recall 2/2 and 1/2, UA 3/4; F1
    # 2 * 2 / (2 + 3) and 2 * 1 / (2 + 1), macro-F1 (0.8 + 2/3) / 2 = 73.33 %. male (c): all
    # wrong. By UA, c (0) is the worst and f the last of the best (1): the 4 others are in
    # results.json.
    assert rows == [
        "| 0 | gender | female | 4 | 75.00 | 75.00 | 73.33 |",
        "| 0 | gender | male | 2 | 0.00 | 0.00 | 0.00 |",
        "| 0 | gender | gap, points (worst) | | 75.00 (male) | 75.00 (male) | 73.33 (male) |",
        "| 0 | gender | no gender: left out | 6 | | | |",
        "| 0 | speaker | c | 2 | 0.00 | 0.00 | 0.00 |",
        "| 0 | speaker | f | 2 | 100.00 | 100.00 | 100.00 |",
        "| 0 | speaker | 4 more (results.json) | | | | |",
        "| 0 | speaker | gap, points (worst) | | 100.00 (c) | 100.00 (c) | 100.00 (c) |",
    ]


def test_the_headline_carries_each_interval():
    from eam_ser.evaluation.report import format_scores, report_lines

    metrics = {"wa": 0.794, "ua": 0.798, "macro_f1": 0.71}
    assert format_scores(metrics) == "WA 79.40 %  UA 79.80 %  macro-F1 71.00 %"
    metrics["intervals"] = {"wa": [0.77, 0.81], "ua": [0.763, 0.803], "macro_f1": [0.65, 0.75]}
    assert format_scores(metrics) == (
        "WA 79.4 % [77.0, 81.0]  UA 79.8 % [76.3, 80.3]  macro-F1 71.0 % [65.0, 75.0]"
    )
    assert report_lines(metrics) == [
        "in brackets: 95 % interval from 1000 resamples of the test speakers"
    ]


def test_calibration_of_a_constructed_example():
    from eam_ser.evaluation.calibration import calibration

    probabilities = [[0.9, 0.1], [0.9, 0.1], [0.7, 0.3], [0.7, 0.3]]
    references = [0, 1, 0, 0]
    result = calibration(probabilities, references)
    # 15 bins: 0.9 in [13/15, 14/15) with accuracy 1/2, 0.7 in [10/15, 11/15) with accuracy 1.
    assert [(b["count"], b["accuracy"]) for b in result["bins"]] == [(2, 1.0), (2, 0.5)]
    assert result["ece"] == pytest.approx(0.5 * abs(1.0 - 0.7) + 0.5 * abs(0.5 - 0.9))
    assert result["nll"] == pytest.approx(-(np.log(0.9) + np.log(0.1) + 2 * np.log(0.7)) / 4)
    assert result["brier"] == pytest.approx((0.02 + 1.62 + 0.18 + 0.18) / 4)
    assert result["num_bins"] == 15


def test_temperature_scaling_lowers_the_nll_of_an_overconfident_model():
    from eam_ser.evaluation.calibration import calibration, fit_temperature, softmax

    # Logits [4, 0] everywhere, right 3 times in 4: the NLL is lowest where
    # sigmoid(4 / T) = 3/4, i.e. T = 4 / ln 3.
    logits = np.array([[4.0, 0.0]] * 4)
    references = np.array([0, 0, 0, 1])
    temperature = fit_temperature(logits, references)
    assert temperature == pytest.approx(4 / np.log(3), rel=1e-5)
    before = calibration(softmax(logits), references)
    after = calibration(softmax(logits, temperature), references)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]
    assert after["ece"] == pytest.approx(0.0, abs=1e-5)  # confidence 0.75 = accuracy 0.75
    # A model already calibrated keeps T = 1 (within the search's tolerance).
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3)) * 2
    sampled = np.array([rng.choice(3, p=p) for p in softmax(logits)])
    assert fit_temperature(logits, sampled) == pytest.approx(1.0, abs=0.1)


def test_a_temperature_at_the_end_of_the_searched_range_is_warned_of():
    import warnings

    from eam_ser.evaluation.calibration import TEMPERATURE_RANGE, fit_temperature

    # Every validation utterance right: the NLL falls all the way to T -> 0.
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    with pytest.warns(UserWarning, match="lowest at the end of the searched range"):
        temperature = fit_temperature(logits, np.array([0, 1, 0]))
    # Not the T -> 0 the search ran to (every score about 1): the scores as trained.
    assert temperature == 1.0
    assert TEMPERATURE_RANGE == (1e-4, 1e4)
    # Scores that say nothing (equal logits): the NLL is flat.
    with pytest.warns(UserWarning, match=r"no temperature is fitted \(T = 1"):
        assert fit_temperature(np.zeros((4, 3)), np.array([0, 1, 2, 0])) == 1.0
    # A minimum inside the range (T = 4 / ln 3 above) is not warned of.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_temperature(np.array([[4.0, 0.0]] * 4), np.array([0, 0, 0, 1]))


def test_abstention_coverage_and_accuracy_hand_worked():
    from eam_ser.evaluation.calibration import abstention

    probabilities = [[0.95, 0.05], [0.85, 0.15], [0.55, 0.45], [0.4, 0.6]]
    references = [0, 1, 0, 0]  # right, wrong, right, wrong (its top score 0.6 is class 1)
    rows = {row["min_confidence"]: row for row in abstention(probabilities, references)}
    assert rows[0.5] == {"min_confidence": 0.5, "coverage": 1.0, "accuracy": 0.5}
    assert rows[0.6] == {"min_confidence": 0.6, "coverage": 0.75, "accuracy": pytest.approx(1 / 3)}
    assert rows[0.7] == {"min_confidence": 0.7, "coverage": 0.5, "accuracy": 0.5}
    assert rows[0.9] == {"min_confidence": 0.9, "coverage": 0.25, "accuracy": 1.0}
    assert abstention(probabilities, references, [0.99]) == [
        {"min_confidence": 0.99, "coverage": 0.0, "accuracy": None}
    ]


def test_the_card_carries_calibration_and_the_config_hash():
    import hashlib
    import json

    from eam_ser.hub import render_model_card
    from test_hub import make_results

    results = make_results()
    results["config"] = {"training": {"seed": 1}, "eam": {"p": 0.5}}
    results["folds"][0]["calibration"] = {"ece": 0.05, "nll": 0.61, "brier": 0.3}
    results["folds"][0]["calibration_before_scaling"] = {"ece": 0.12, "nll": 0.8, "brier": 0.35}
    results["folds"][0]["score_temperature"] = 1.7
    results["folds"][1]["calibration"] = {"ece": 0.2, "nll": 1.1, "brier": 0.5}
    card = str(render_model_card(results, model_id="user/x"))
    # One row per fold and scoring: after the fitted temperature, then before it.
    assert (
        "| fold | scores | ECE | NLL | Brier |\n|---|---|---|---|---|\n"
        "| 0 | T = 1.700 | 0.050 | 0.610 | 0.300 |\n"
        "| 0 | softmax, before scaling | 0.120 | 0.800 | 0.350 |\n"
        "| 1 | softmax (no temperature fitted) | 0.200 | 1.100 | 0.500 |\n"
    ) in card
    expected = hashlib.sha256(b'{"eam":{"p":0.5},"training":{"seed":1}}').hexdigest()
    assert f"SHA-256 of this configuration (keys sorted, no spaces): `{expected}`" in card
    assert json.dumps(results["config"], sort_keys=True, separators=(",", ":")).startswith('{"eam"')


def test_speaker_bootstrap_settings_are_those_of_speaker_bootstrap_class():
    """The keyword arguments of both bootstraps are the `SpeakerBootstrap` fields: the same
    draws give the same intervals, and a name that is no field is refused."""
    references = [0, 1, 0, 1, 0, 1]
    predictions = [0, 1, 1, 0, 0, 1]
    speakers = ["A", "A", "B", "B", "C", "C"]
    bootstrap = SpeakerBootstrap(num_resamples=50, confidence=0.8, seed=3)
    checked, _, (scores,) = bootstrap.resample([predictions], references, speakers, 2)
    assert checked[0].tolist() == predictions
    assert scores["wa"].shape == (50,)
    got = speaker_bootstrap(
        predictions, references, speakers, 2, num_resamples=50, confidence=0.8, seed=3
    )
    assert got == {key: bootstrap.interval(scores[key]) for key in ("wa", "ua", "macro_f1")}
    with pytest.raises(TypeError, match="resamples"):
        paired_speaker_bootstrap(predictions, predictions, references, speakers, 2, resamples=5)


def test_a_one_class_validation_set_fits_no_temperature_and_says_so():
    """Issue 30, problem 6: a temperature fitted on one class made calibration worse,
    silently."""
    from eam_ser.evaluation.calibration import fit_temperature

    logits = np.array([[2.0, 0.5, 0.1], [1.5, 1.4, 0.2], [0.3, 2.5, 0.1], [3.0, 0.1, 0.0]])
    with pytest.warns(UserWarning, match="4 validation utterances of 1 class cannot support"):
        assert fit_temperature(logits, [0, 0, 0, 0]) == 1.0
    with pytest.warns(UserWarning, match="1 validation utterances of 1 class"):
        assert fit_temperature(logits[:1], [0]) == 1.0
    # Two classes with a wrong answer: a temperature is fitted, without a warning.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_temperature(logits, [0, 1, 1, 0]) != 1.0
