"""Evaluation: scores, their intervals and groups, calibration, and the pictures of them.

- `metrics`: WA, UA, macro-F1 and the confusion matrix, `SCORES` and `SCORE_NAMES` (the one
  list of score names); the `evaluate` metric module;
- `report`: scores per group, speaker-bootstrap intervals, the report's lines;
- `calibration`: the one tempered softmax, calibration error, temperature scaling and
  abstention;
- `plots`: confusion matrix, frame attention, reliability diagram, robustness ladder.

May import: `eam_ser.corpora` (the missing-value marker), `eam_ser.models.flam` (its torch-free
argument checks). Numpy and matplotlib only, no torch. The names below are imported on first
use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .calibration import ABSTENTION_THRESHOLDS as ABSTENTION_THRESHOLDS
    from .calibration import CALIBRATION_BINS as CALIBRATION_BINS
    from .calibration import TEMPERATURE_RANGE as TEMPERATURE_RANGE
    from .calibration import abstention as abstention
    from .calibration import calibration as calibration
    from .calibration import fit_temperature as fit_temperature
    from .calibration import softmax as softmax
    from .metrics import SCORE_DESCRIPTIONS as SCORE_DESCRIPTIONS
    from .metrics import SCORE_METRIC_TYPES as SCORE_METRIC_TYPES
    from .metrics import SCORE_NAMES as SCORE_NAMES
    from .metrics import SCORES as SCORES
    from .metrics import SER_METRIC_PATH as SER_METRIC_PATH
    from .metrics import compute_metrics as compute_metrics
    from .metrics import load_ser_metric as load_ser_metric
    from .metrics import make_compute_metrics as make_compute_metrics
    from .metrics import ser_metrics as ser_metrics
    from .plots import HIGHLIGHT_SHARE as HIGHLIGHT_SHARE
    from .plots import plot_confusion_matrix as plot_confusion_matrix
    from .plots import plot_frame_attention as plot_frame_attention
    from .plots import plot_reliability as plot_reliability
    from .plots import plot_robustness_ladder as plot_robustness_ladder
    from .plots import top_frame_spans as top_frame_spans
    from .report import BOOTSTRAP_CONFIDENCE as BOOTSTRAP_CONFIDENCE
    from .report import BOOTSTRAP_RESAMPLES as BOOTSTRAP_RESAMPLES
    from .report import GROUPING_COLUMNS as GROUPING_COLUMNS
    from .report import INTERVAL_NOTE as INTERVAL_NOTE
    from .report import MOST_GROUPS_LISTED as MOST_GROUPS_LISTED
    from .report import SpeakerBootstrap as SpeakerBootstrap
    from .report import format_interval as format_interval
    from .report import format_scores as format_scores
    from .report import group_scores as group_scores
    from .report import grouping_columns as grouping_columns
    from .report import listed_groups as listed_groups
    from .report import paired_speaker_bootstrap as paired_speaker_bootstrap
    from .report import report_lines as report_lines
    from .report import scores_from_confusion as scores_from_confusion
    from .report import speaker_bootstrap as speaker_bootstrap

__getattr__, __dir__ = lazy_exports(__name__, __file__)
