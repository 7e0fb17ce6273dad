"""SER metrics (WA, UA, macro-F1, per-class recall, confusion matrix) as a local `evaluate` module.

Load it without network access with `eam_ser.evaluation.metrics.load_ser_metric()` or
`evaluate.load("<path to this folder>")`. The computation is `eam_ser.evaluation.metrics.ser_metrics`.
"""

import datasets
import evaluate

from eam_ser.evaluation.metrics import ser_metrics

_DESCRIPTION = """\
Speech emotion recognition metrics. WA (weighted accuracy) is the overall accuracy; UA
(unweighted accuracy) is the mean per-class recall over the classes present in the
references; macro_f1 is the mean per-class F1. Also returns the per-class recall and the
confusion matrix (references on rows, predictions on columns).
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions (list of int): predicted class indices.
    references (list of int): true class indices.
    num_labels (int, optional): number of classes (default: len(label_names), else max index + 1).
    label_names (list of str, optional): class names, keys of the per-class recall.
Returns:
    wa (float), ua (float), macro_f1 (float), recall (dict[str, float]),
    confusion_matrix (list[list[int]]).
Example:
    >>> metric = evaluate.load("path/to/ser_metrics")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0])["wa"]
    0.6666666666666666
"""

_CITATION = """\
@article{wang2025mll,
  title={Multi-Loss Learning for Speech Emotion Recognition with Energy-Adaptive Mixup and
         Frame-Level Attention},
  author={Wang, Cong and others},
  journal={arXiv preprint arXiv:2512.04551},
  year={2025}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SerMetrics(evaluate.Metric):
    """WA, UA, macro-F1, per-class recall and confusion matrix."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            reference_urls=["https://arxiv.org/abs/2512.04551"],
        )

    def _compute(self, predictions, references, num_labels=None, label_names=None) -> dict:
        return ser_metrics(predictions, references, num_labels=num_labels, label_names=label_names)
