"""SER metrics on a worked confusion matrix, Trainer adapters, the offline evaluate module, plot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from transformers import EvalPrediction

from conftest import assert_shows_confusion, png_picture
from eam_ser.evaluation.metrics import (
    SER_METRIC_PATH,
    compute_metrics,
    load_ser_metric,
    make_compute_metrics,
    ser_metrics,
)
from eam_ser.evaluation.plots import plot_confusion_matrix

# Worked example: 4 samples of class 0, 2 of class 1, 4 of class 2.
REFERENCES = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
PREDICTIONS = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
# Confusion matrix (rows = true, columns = predicted):
#   class 0: [3, 1, 0]
#   class 1: [0, 2, 0]
#   class 2: [1, 0, 3]
CONFUSION = [[3, 1, 0], [0, 2, 0], [1, 0, 3]]
# WA = (3 + 2 + 3) / 10 = 0.8
WA = 0.8
# recall = [3/4, 2/2, 3/4] -> UA = 2.5 / 3
RECALL = [0.75, 1.0, 0.75]
UA = 2.5 / 3
# precision = [3/4, 2/3, 3/3]; F1 = [0.75, 2(2/3)(1)/(5/3) = 0.8, 2(1)(3/4)/(7/4) = 6/7]
MACRO_F1 = (0.75 + 0.8 + 6 / 7) / 3
NAMES = ["anger", "boredom", "sadness"]


def test_worked_confusion_matrix():
    result = ser_metrics(PREDICTIONS, REFERENCES, label_names=NAMES)
    assert result["confusion_matrix"] == CONFUSION
    assert result["wa"] == pytest.approx(WA)
    assert result["ua"] == pytest.approx(UA)
    assert result["macro_f1"] == pytest.approx(MACRO_F1)
    assert result["recall"] == pytest.approx(dict(zip(NAMES, RECALL, strict=True)))


def test_absent_class_is_left_out_of_ua():
    # Class 3 never occurs in references nor predictions: recall NaN, UA over classes 0-2.
    result = ser_metrics(np.array(PREDICTIONS), np.array(REFERENCES), num_labels=4)
    assert result["ua"] == pytest.approx(UA)
    assert result["macro_f1"] == pytest.approx(MACRO_F1)
    assert math.isnan(result["recall"]["3"])
    assert result["confusion_matrix"][3] == [0, 0, 0, 0]


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="same length"):
        ser_metrics([0, 1], [0])
    with pytest.raises(ValueError, match="predictions"):
        ser_metrics([0, 5], [0, 1], num_labels=3)
    with pytest.raises(ValueError, match="label_names"):
        ser_metrics([0, 1], [0, 1], num_labels=3, label_names=["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        ser_metrics([], [])


def _logits_for(predictions, num_labels=3):
    logits = np.zeros((len(predictions), num_labels), dtype=np.float32)
    logits[np.arange(len(predictions)), predictions] = 5.0
    return logits


def test_compute_metrics_for_trainer():
    # The model outputs (logits, embeddings): logits come first.
    embeddings = np.ones((len(PREDICTIONS), 4), dtype=np.float32)
    eval_pred = EvalPrediction(
        predictions=(_logits_for(PREDICTIONS), embeddings), label_ids=np.array(REFERENCES)
    )
    metrics = compute_metrics(eval_pred)
    assert metrics == pytest.approx({"wa": WA, "ua": UA, "macro_f1": MACRO_F1})
    assert all(isinstance(value, float) for value in metrics.values())

    named = make_compute_metrics(NAMES)(eval_pred)
    assert named == pytest.approx(
        {
            "wa": WA,
            "ua": UA,
            "macro_f1": MACRO_F1,
            "recall_anger": 0.75,
            "recall_boredom": 1.0,
            "recall_sadness": 0.75,
        }
    )


def test_local_evaluate_module_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    assert (SER_METRIC_PATH / "ser_metrics.py").is_file()
    metric = load_ser_metric()
    result = metric.compute(predictions=PREDICTIONS, references=REFERENCES, label_names=NAMES)
    assert result["wa"] == pytest.approx(WA)
    assert result["ua"] == pytest.approx(UA)
    assert result["macro_f1"] == pytest.approx(MACRO_F1)
    assert result["confusion_matrix"] == CONFUSION
    # Incremental use, as in an evaluation loop.
    for start in range(0, len(REFERENCES), 4):
        metric.add_batch(
            predictions=PREDICTIONS[start : start + 4], references=REFERENCES[start : start + 4]
        )
    assert metric.compute(num_labels=3)["ua"] == pytest.approx(UA)


@pytest.mark.parametrize("normalize", [True, False])
def test_plot_confusion_matrix_writes_png(tmp_path, normalize):
    path = plot_confusion_matrix(
        CONFUSION, NAMES, tmp_path / "plots" / "cm.png", normalize=normalize
    )
    picture = png_picture(path)
    assert picture.shape[:2] == (280, 430)  # (1 + 0.6 * 3 classes) in + 1.5 in wider, 100 dpi
    assert_shows_confusion(picture, CONFUSION, normalize)
    # The picture depends on the matrix (and on normalize).
    transposed = np.transpose(CONFUSION)
    other = plot_confusion_matrix(transposed, NAMES, tmp_path / "t.png", normalize=normalize)
    assert_shows_confusion(png_picture(other), transposed, normalize)
    assert not np.array_equal(png_picture(other), picture)
    counts = plot_confusion_matrix(CONFUSION, NAMES, tmp_path / "c.png", normalize=not normalize)
    assert not np.array_equal(png_picture(counts), picture)
    with pytest.raises(ValueError, match="label_names"):
        plot_confusion_matrix(CONFUSION, NAMES[:2], tmp_path / "bad.png")
