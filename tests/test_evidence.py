"""`eam_ser.experiment.evidence`: the figures every run quotes come from the committed runs
(`benchmarks/evidence.py` writes them; nothing is typed by hand), per regime and corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eam_ser.experiment import evidence
from eam_ser.experiment.evidence import RegimeEvidence, regime_note

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_evidence_is_what_the_committed_runs_measured() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/evidence.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_regime_has_emodb_evidence_with_the_published_figures() -> None:
    frozen = {entry.corpus: entry for entry in evidence.EAM_REGIME_EVIDENCE["frozen"]}
    # README's Results table: frozen +3.1 [-1.4, +7.6] clean, +8.1 [+4.3, +11.9] interference.
    assert frozen["emodb"].clean_ua_points == (3.1, -1.4, 7.6)
    assert frozen["emodb"].interference_ua_points == (8.1, 4.3, 11.9)
    for regime in evidence.ENCODER_REGIMES:
        assert "emodb" in {entry.corpus for entry in evidence.EAM_REGIME_EVIDENCE[regime]}


def entry(corpus: str, clean: tuple[float, float, float]) -> RegimeEvidence:
    return RegimeEvidence("frozen", corpus, clean, (1.0, 0.5, 1.5), 1.2, 5, 3, "test")


@pytest.mark.parametrize(
    ("cleans", "disagree"),
    [
        ([(3.0, 1.0, 5.0), (-4.0, -6.0, -2.0)], True),  # a significant gain and loss
        ([(3.0, 1.0, 5.0), (-4.0, -9.0, 1.0)], False),  # the loss is not significant
        ([(3.0, 1.0, 5.0)], False),
    ],
)
def test_the_note_says_when_the_corpora_disagree(monkeypatch, cleans, disagree) -> None:
    corpora = ("emodb", "urdu")
    monkeypatch.setitem(
        evidence.EAM_REGIME_EVIDENCE,
        "frozen",
        tuple(entry(corpus, clean) for corpus, clean in zip(corpora, cleans, strict=False)),
    )
    note = regime_note("frozen")
    assert note.startswith("EAM with a frozen encoder, measured (benchmarks/results): EmoDB")
    assert "EmoDB (5 folds, 3 seeds): +3.0 UA points on clean speech [95 % CI +1.0, +5.0]" in note
    assert ("URDU (5 folds, 3 seeds)" in note) == (len(cleans) > 1)
    assert ("The corpora disagree on clean speech" in note) == disagree
