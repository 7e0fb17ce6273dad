"""What EAM was measured to do, per encoder regime and corpus: the evidence its defaults follow.

Every run records its regime and the measured effect of EAM there (``eam_regime`` in
``results.json``, the model card, the run's log). The figures are not typed here: they are read
from ``evidence.json`` beside this module, which ``python benchmarks/evidence.py`` writes from
the committed runs in ``benchmarks/results/`` (and ``--check`` compares, in the test suite).
Where the corpora disagree (EAM helps on one, hurts on another), the note says so with both
figures. Torch-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "EAM_REGIME_EVIDENCE",
    "ENCODER_REGIMES",
    "RegimeEvidence",
    "encoder_regime",
    "regime_note",
]


ENCODER_REGIMES = ("frozen", "top_layers", "fine_tuned")
"""How much of the encoder trains: none of it, its top layers, or all of it."""
_REGIME_PHRASES = {
    "frozen": "a frozen encoder",
    "top_layers": "the encoder's top layers fine-tuned",
    "fine_tuned": "a fully fine-tuned encoder",
}
_CORPUS_NAMES = {"emodb": "EmoDB", "urdu": "URDU"}


def encoder_regime(trainable_encoder_layers: int | None, freeze_encoder_steps: int = 0) -> str:
    """The `ENCODER_REGIMES` entry of a FLAM configuration (``FlamConfig`` fields)."""
    if trainable_encoder_layers == 0 or freeze_encoder_steps == -1:
        return "frozen"
    return "fine_tuned" if trainable_encoder_layers is None else "top_layers"


@dataclass(frozen=True)
class RegimeEvidence:
    """What EAM at its defaults (p = 0.5) did in one encoder regime on one corpus, against the
    same run without mixing: speaker-independent folds, Whisper base.

    Attributes:
        regime: one of `ENCODER_REGIMES`.
        corpus: the corpus (``"emodb"``, ``"urdu"``).
        clean_ua_points: mean UA difference (EAM - no mixing) on clean test speech, in points,
            and its 95 % t-interval over the folds (each fold's difference averaged over its
            seeds first).
        interference_ua_points: the same, averaged over white noise and interfering speech at
            20 to -5 dB.
        training_time_ratio: median training time of EAM over that of no mixing.
        folds: the folds measured.
        seeds: the seeds per fold.
        source: the results file and rows that measured it.
    """

    regime: str
    corpus: str
    clean_ua_points: tuple[float, float, float]
    interference_ua_points: tuple[float, float, float]
    training_time_ratio: float
    folds: int
    seeds: int
    source: str

    def figures(self) -> str:
        """The figures in one clause."""
        clean, interference = self.clean_ua_points, self.interference_ua_points
        seeds = f", {self.seeds} seeds" if self.seeds > 1 else ""
        return (
            f"{_CORPUS_NAMES.get(self.corpus, self.corpus)} ({self.folds} folds{seeds}): "
            f"{clean[0]:+.1f} UA points on clean speech [95 % CI {clean[1]:+.1f}, "
            f"{clean[2]:+.1f}], {interference[0]:+.1f} [{interference[1]:+.1f}, "
            f"{interference[2]:+.1f}] under noise and interfering speech, "
            f"{self.training_time_ratio:.2g}x the training time of no mixing"
        )

    @property
    def significant_clean_sign(self) -> int:
        """+1 / -1 when the clean interval lies above / below 0, else 0."""
        _, low, high = self.clean_ua_points
        return 1 if low > 0 else -1 if high < 0 else 0


def _load() -> dict[str, tuple[RegimeEvidence, ...]]:
    entries = json.loads(resources.files(__package__).joinpath("evidence.json").read_text())
    evidence: dict[str, list[RegimeEvidence]] = {regime: [] for regime in ENCODER_REGIMES}
    for entry in entries:
        entry = {
            **entry,
            "clean_ua_points": tuple(entry["clean_ua_points"]),
            "interference_ua_points": tuple(entry["interference_ua_points"]),
        }
        evidence[entry["regime"]].append(RegimeEvidence(**entry))
    return {regime: tuple(found) for regime, found in evidence.items()}


EAM_REGIME_EVIDENCE: dict[str, tuple[RegimeEvidence, ...]] = _load()
"""The measured effect of EAM's defaults per encoder regime, one entry per corpus measured
(from ``evidence.json``). EAM stays on (p = 0.5) in every regime; `regime_note` says where the
corpora disagree."""


def regime_note(regime: str) -> str:
    """One paragraph for the run's log, ``results.json`` and the model card: EAM's measured
    effect in `regime` on every corpus measured, and, when one corpus shows a significant gain
    and another a significant loss on clean speech, that they disagree."""
    found = EAM_REGIME_EVIDENCE[regime]
    if not found:
        return f"EAM with {_REGIME_PHRASES[regime]}: not measured yet."
    text = (
        f"EAM with {_REGIME_PHRASES[regime]}, measured (benchmarks/results): "
        + "; ".join(evidence.figures() for evidence in found)
        + "."
    )
    signs = {evidence.significant_clean_sign for evidence in found}
    if {1, -1} <= signs:
        text += " The corpora disagree on clean speech: check EAM on your own data."
    return text
