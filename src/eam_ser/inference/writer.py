"""Prediction files: the segments and summaries of `EmotionRecognizer.predict_recording`
written as CSV or JSON while a batch of recordings is scored."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eam_ser.inference.recognizer import RecordingPrediction

__all__ = ["PREDICTION_SUFFIXES", "PredictionWriter"]

PREDICTION_SUFFIXES = (".csv", ".json")
"""The file types `PredictionWriter` writes."""


class PredictionWriter:
    """Writes predictions to `path` as they come, so an error or Ctrl-C at file N keeps the
    N - 1 before it (``eam-ser predict --output``).

    ``.csv``: one row per segment (``kind`` "segment") and per recording summary (``kind``
    "recording"), a probability column per label of `labels` (the model's, in its order),
    flushed after every recording. ``.json``: a list of recordings with their segments,
    rewritten (atomically) after every recording.
    """

    def __init__(self, path: Path, labels: Sequence[str]) -> None:
        self.path = path
        self.labels = list(labels)
        self.records: list[dict[str, Any]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self.csv_file = None
        if path.suffix.lower() == ".csv":
            self.csv_file = path.open("w", newline="", encoding="utf-8")
            self.csv = csv.writer(self.csv_file)
            self.csv.writerow(["file", "kind", "start_s", "end_s", "label", *self.labels])
            self.csv_file.flush()
        else:
            self._write_json()

    def add(self, name: str, prediction: RecordingPrediction) -> None:
        """Write one recording's prediction."""
        if self.csv_file is None:
            self.records.append({"file": name, **prediction.to_dict()})
            self._write_json()
            return
        labels = self.labels
        for segment in prediction.segments:
            self.csv.writerow(
                [
                    name,
                    "segment",
                    f"{segment.start_s:.3f}",
                    f"{segment.end_s:.3f}",
                    segment.label,
                    *(f"{segment.scores[label]:.6f}" for label in labels),
                ]
            )
        self.csv.writerow(
            [
                name,
                "recording",
                "0.000",
                f"{prediction.duration_s:.3f}",
                prediction.label or "",
                *(f"{prediction.scores.get(label, float('nan')):.6f}" for label in labels),
            ]
        )
        self.csv_file.flush()

    def _write_json(self) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.records, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self.path)

    def close(self) -> None:
        if self.csv_file is not None:
            self.csv_file.close()
