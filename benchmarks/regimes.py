"""Does EAM pay off where users can afford to train? Frozen and top-layer Whisper base on EmoDB.

The same speaker-independent 5-fold protocol, robustness ladder, paired intervals and runner as
`ablation.py` (whose `Grid` this file fills in), but in the regimes a CPU user or the standard
benchmark protocols (EmoBox, SUPERB) train in:

- ``frozen_*``: the encoder never trains (``trainable_encoder_layers: 0``); only FLAM, the
  projector, the classifier and the class centers learn. Unmixed batches come from the
  frozen-encoder feature cache; with EAM only the mixed rows go through the encoder
  (`eam_ser.training.feature_cache.PartiallyCachedMixupCollator`).
- ``top2_*``: the top two encoder layers fine-tune (``trainable_encoder_layers: 2``) at the
  encoder learning rate; no cache is possible.

Each regime has a no-mixing row and an EAM row (the library's default EAM settings, p = 0.5) at
two budgets: the library's default (10 epochs, batch 8, what ``eam-ser train`` does) and twice
that (20 epochs; the frozen no-mixing runs already fit their training clips, train WA 100 %, at
10 epochs, so 20 is long enough for the mixing rows to saturate too). Every EAM row is paired with the
no-mixing row of its regime and budget. Sweep rows (named in ``--rows``, not run by default)
vary one EAM setting of the frozen short row: ``frozen_eam_p025`` / ``frozen_eam_p1`` (mixing
probability), ``frozen_eam_snr_high`` (5 to 15 dB), ``frozen_eam_segments_short`` (segments up
to 25 % of the shorter clip), ``frozen_eam_hard`` / ``frozen_eam_length`` (label rule).

Clips are not cropped (``--max-train-seconds none``: EmoDB clips are at most 9 s, and the cache
holds whole clips); the robustness ladder and everything else is `ablation.py`'s.

Reproduce (2 CPU cores: frozen rows a few minutes per run, top-2 rows about 15; one seed):

    python benchmarks/regimes.py --workers 2 --resume
    python benchmarks/regimes.py --workers 2 --resume --rows frozen_eam_p025,frozen_eam_p1
    python benchmarks/regimes.py --table-only
    python benchmarks/regimes.py --encoder ../shared/models/whisper-tiny-en-encoder \\
        --epochs 0.2 --folds 0 --seeds 0 --rows frozen_no_mix,frozen_eam --snrs 0 \\
        --output /tmp/regimes_smoke.json --plot /tmp/regimes_smoke.png

Writes ``benchmarks/results/regimes.json`` after every finished run (``--resume`` keeps the
runs already there) and draws ``benchmarks/results/regimes.png``.
"""

from __future__ import annotations

from typing import Any

from ablation import ALL_FOUR, FLAM_HEAD, RESULTS_DIR, Grid, Row, main

LONG_EPOCHS = 20.0
"""The long budget: twice the default; training WA has saturated (see ``train WA`` in the
table)."""

FROZEN = {**FLAM_HEAD, "trainable_encoder_layers": 0}
TOP_TWO = {**FLAM_HEAD, "trainable_encoder_layers": 2}
LONG = {"num_train_epochs": LONG_EPOCHS}


def _pair(
    prefix: str, head: dict[str, Any], title: str, training: dict[str, Any]
) -> dict[str, Row]:
    """The no-mixing row and the EAM row of one regime and budget."""
    reference = f"{prefix}_no_mix{'_long' if training else ''}"
    budget = f"{LONG_EPOCHS:g} epochs" if training else "10 epochs (default)"
    return {
        reference: Row(
            f"{title}, no mixing, {budget}", head, ALL_FOUR, training=training, reference=None
        ),
        f"{prefix}_eam{'_long' if training else ''}": Row(
            f"{title}, + EAM, {budget}",
            head,
            ALL_FOUR,
            "energy",
            training=training,
            reference=reference,
        ),
    }


REGIME_ROWS: dict[str, Row] = {
    **_pair("frozen", FROZEN, "frozen", {}),
    **_pair("frozen", FROZEN, "frozen", LONG),
    **_pair("top2", TOP_TWO, "top 2 layers", {}),
    **_pair("top2", TOP_TWO, "top 2 layers", LONG),
}


def _sweep(title: str, label_mode: str = "energy", **eam: Any) -> Row:
    return Row(
        f"frozen, EAM {title}, 10 epochs",
        FROZEN,
        ALL_FOUR,
        label_mode,
        eam_overrides=eam,
        reference="frozen_no_mix",
    )


SWEEP_ROWS: dict[str, Row] = {
    "frozen_eam_p025": _sweep("p = 0.25", p=0.25),
    "frozen_eam_p1": _sweep("p = 1", p=1.0),
    "frozen_eam_snr_high": _sweep("SNR 5 to 15 dB", min_snr_db=5.0, max_snr_db=15.0),
    "frozen_eam_segments_short": _sweep("segments up to 25 %", max_mix_fraction=0.25),
    "frozen_eam_hard": _sweep("hard labels", "hard"),
    "frozen_eam_length": _sweep("length labels", "length"),
}

REGIMES = Grid(
    script="benchmarks/regimes.py",
    rows={**REGIME_ROWS, **SWEEP_ROWS},
    default_rows=list(REGIME_ROWS),
    plotted_rows=[name for name in REGIME_ROWS if not name.endswith("_long")],
    results_path=RESULTS_DIR / "regimes.json",
    plot_path=RESULTS_DIR / "regimes.png",
    plot_title="EmoDB, Whisper base frozen or top 2 layers",
    doc=__doc__,
    reference_label="no mixing (same regime and budget)",
    defaults={"epochs": 10.0, "batch_size": 8, "max_train_seconds": None, "seeds": [0]},
)

if __name__ == "__main__":
    main(grid=REGIMES)
