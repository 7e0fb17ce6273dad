"""The model card: what a trained model tells its readers, rendered from its results.

`write_model_card` renders the card with `huggingface_hub.ModelCard` into ``README.md`` of a
saved folder (main process only, `eam_ser.training.processes.is_main_process`).

The template is ``eam_ser/hub/model_card.md`` (Jinja2, shipped as package data). It is filled
from a
*results* dict, the same dict the cross-validation runner writes to ``results.json``::

    {
      "corpus": "emodb", "corpus_title": "EmoDB (...)", "protocol": "...",
      "label_names": ["angry", ...],
      "folds": [{"fold": 0, "test_speakers": ["03", "08"], "num_train": 428, "num_test": 107,
                 "wa": 0.81, "ua": 0.79, "macro_f1": 0.78, "confusion_matrix": [[...]],
                 "seed": 42}, ...],
      "mean": {"wa": ..., "ua": ..., "macro_f1": ...},
      "std": {"wa": ..., "ua": ..., "macro_f1": ...},
      "confusion_matrix": [[...]],   # summed over folds
      "seeds": [42, ...],
      "config": {"encoder": ..., "flam": {...}, "eam": {...}, "loss": {...}, "training": {...}},
      "eam_regime": {"regime": "frozen" | "top_layers" | "fine_tuned", "eam_p": 0.5,
                     "note": "what EAM's defaults were measured to do there" | None}
    }

A single train/test split is a results dict with one fold (``"fold": None``).

The robustness ladder is not part of training's results: ``eam-ser evaluate MODEL
--robustness --update-card`` measures it and `write_robustness_section` writes it into the
saved card as its "Robustness" section (after "Results"), replacing the one a former run wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from eam_ser.corpora import CORPORA
from eam_ser.evaluation.metrics import SCORE_DESCRIPTIONS, SCORE_METRIC_TYPES, SCORE_NAMES
from eam_ser.evaluation.report import GROUPING_COLUMNS, INTERVAL_NOTE, listed_groups
from eam_ser.mixup.settings import EnergyAdaptiveMixupSettings
from eam_ser.models.flam.loss_settings import MultiLossSettings
from eam_ser.training.processes import is_main_process

__all__ = [
    "TEMPLATE_PATH",
    "calibration_markdown",
    "config_sha256",
    "groups_markdown",
    "render_model_card",
    "results_markdown",
    "results_summary",
    "robustness_markdown",
    "robustness_section",
    "write_model_card",
    "write_robustness_section",
]

TEMPLATE_PATH = Path(__file__).resolve().with_name("model_card.md")
METRICS = tuple(SCORE_NAMES.items())

PAPER_CITATION = """@article{wang2025multiloss,
  title   = {Multi-Loss Learning for Speech Emotion Recognition with Energy-Adaptive Mixup
             and Frame-Level Attention},
  author  = {Wang, Cong and Geng, Yizhong and Wen, Yuhua and Li, Qifei and Gao, Yingming and
             Wang, Ruimin and Wang, Chunfeng and Li, Hao and Li, Ya and Chen, Wei},
  journal = {arXiv preprint arXiv:2512.04551},
  year    = {2025}
}"""


def _percent(value: float) -> str:
    return f"{100 * value:.2f}"


def _fold_name(fold: Mapping[str, Any]) -> str:
    """A fold's name in the tables: its index, or "held-out" for a split by speakers."""
    return "held-out" if fold["fold"] is None else str(fold["fold"])


def _score_cell(record: Mapping[str, Any], key: str, unit: str = "") -> str:
    """A score in % (followed by `unit`), with its 95 % speaker-bootstrap interval in brackets
    when `record` (a fold record) has one: ``"75.00 [50.00, 100.00]"``."""
    interval = (record.get("intervals") or {}).get(key)
    shown = _percent(record[key]) + unit
    if interval is None:
        return shown
    return f"{shown} [{_percent(interval[0])}, {_percent(interval[1])}]"


CARD_INTERVAL_NOTE = (
    f"{INTERVAL_NOTE[0].upper()}{INTERVAL_NOTE[1:]} of each fold (each speaker brings all its "
    "utterances)."
)


GROUPS_NOTE = (
    "Per group of the test utterances: the gap is the best group's score minus the worst "
    "group's, in points, with the worst group named."
)


def results_markdown(results: Mapping[str, Any]) -> str:
    """Markdown: the fold table, one row per fold (test speakers, sizes, WA/UA/macro-F1 in %,
    each with its speaker-bootstrap interval where the fold has one) and, for more than one
    fold, a final row with mean ± standard deviation over the folds; then `groups_markdown`,
    each table with a line that says how to read it."""
    header = "| fold | test speakers | train / test utterances | WA (%) | UA (%) | macro-F1 (%) |"
    lines = [header, "|---|---|---|---|---|---|"]
    for fold in results["folds"]:
        name = _fold_name(fold)
        speakers = ", ".join(fold["test_speakers"])
        scores = " | ".join(_score_cell(fold, key) for key, _ in METRICS)
        lines.append(
            f"| {name} | {speakers} | {fold['num_train']} / {fold['num_test']} | {scores} |"
        )
    if len(results["folds"]) > 1:
        scores = " | ".join(
            f"**{_percent(results['mean'][key])} ± {_percent(results['std'][key])}**"
            for key, _ in METRICS
        )
        lines.append(f"| **mean ± std** | | | {scores} |")
    if any(fold.get("intervals") for fold in results["folds"]):
        lines += ["", CARD_INTERVAL_NOTE]
    groups = groups_markdown(results)
    if groups:
        lines += ["", GROUPS_NOTE, "", groups]
    return "\n".join(lines)


def _group_rows(fold_name: str, column: str, result: Mapping[str, Any]) -> list[str]:
    """The rows of one fold's groups by `column` (`eam_ser.evaluation.report.group_scores`' dict): each
    group `eam_ser.evaluation.report.listed_groups` lists, the best-worst gap naming the worst group,
    and the utterances without a value."""
    groups = result["groups"]
    names = listed_groups(groups)
    rows = [
        f"| {fold_name} | {column} | {name} | {groups[name]['num_utterances']} | "
        + " | ".join(_percent(groups[name][key]) for key, _ in METRICS)
        + " |"
        for name in names
    ]
    if len(names) < len(groups):
        rows.append(
            f"| {fold_name} | {column} | {len(groups) - len(names)} more (results.json) | | | | |"
        )
    if len(groups) > 1:
        gaps = " | ".join(
            f"{_percent(result['gap'][key])} ({result['worst'][key]})" for key, _ in METRICS
        )
        rows.append(f"| {fold_name} | {column} | gap, points (worst) | | {gaps} |")
    without = result.get("num_without_value", 0)
    if without:
        rows.append(f"| {fold_name} | {column} | no {column}: left out | {without} | | | |")
    return rows


def groups_markdown(results: Mapping[str, Any]) -> str:
    """Markdown table of the scores per group (`eam_ser.evaluation.report.group_scores`): for each fold
    that has them, WA, UA and macro-F1 per gender and per speaker, the best-worst gap in points
    with the worst group named, and how many utterances had no value; empty when no fold has
    groups (results of eam-ser 0.3)."""
    rows = []
    for fold in results["folds"]:
        groups = fold.get("groups") or {}
        for column in GROUPING_COLUMNS:
            if column in groups:
                rows += _group_rows(_fold_name(fold), column, groups[column])
    if not rows:
        return ""
    header = "| fold | by | group | utterances | WA (%) | UA (%) | macro-F1 (%) |"
    return "\n".join([header, "|---|---|---|---|---|---|---|", *rows])


def calibration_markdown(results: Mapping[str, Any]) -> str:
    """Markdown table, one row per fold and scoring (`eam_ser.evaluation.calibration.calibration`): ECE, NLL
    and Brier score of the scores the model reports and, where a temperature was fitted, of
    the plain softmax before scaling; empty when no fold has a calibration (results of
    eam-ser 0.3)."""
    rows = []
    for fold in results["folds"]:
        calibration = fold.get("calibration")
        if not calibration:
            continue
        name = _fold_name(fold)
        before = fold.get("calibration_before_scaling")
        scorings = (
            [
                (f"T = {fold.get('score_temperature', 1.0):.3f}", calibration),
                ("softmax, before scaling", before),
            ]
            if before
            else [("softmax (no temperature fitted)", calibration)]
        )
        rows += [
            f"| {name} | {scoring} | {values['ece']:.3f} | {values['nll']:.3f} | "
            f"{values['brier']:.3f} |"
            for scoring, values in scorings
        ]
    if not rows:
        return ""
    header = "| fold | scores | ECE | NLL | Brier |"
    return "\n".join([header, "|---|---|---|---|---|", *rows])


ROBUSTNESS_CONDITIONS = {
    "noise": "white noise",
    "speech": "interfering speech",
    "telephone": "telephone band",
    "clipping": "clipping",
}
"""The card's name of each condition of `eam_ser.inference.robustness.corrupted_sets`."""


def _robustness_level(level: str) -> str:
    """A ladder level as the card shows it: an SNR ("-5.0") as "-5 dB SNR", others as given."""
    try:
        return f"{float(level):g} dB SNR"
    except ValueError:
        return level


def robustness_markdown(ladder: Mapping[str, Any], clean_ua: float) -> str:
    """Markdown table of a robustness ladder (`eam_ser.inference.evaluate_robustness`'s
    ``{"ua": {condition: {level: UA}}, ...}``): the clean UA, then one row per condition and
    level with its UA and its change from the clean UA, in % and points."""
    lines = [
        "| condition | level | UA (%) | change from clean (points) |",
        "|---|---|---|---|",
        f"| clean | | {_percent(clean_ua)} | |",
    ]
    for condition, levels in ladder["ua"].items():
        name = ROBUSTNESS_CONDITIONS.get(condition, condition)
        for level, ua in levels.items():
            lines.append(
                f"| {name} | {_robustness_level(level)} | {_percent(ua)} | "
                f"{100 * (ua - clean_ua):+.2f} |"
            )
    return "\n".join(lines)


ROBUSTNESS_HEADING = "## Robustness"


def robustness_section(ladder: Mapping[str, Any], clean_ua: float, tested_on: str) -> str:
    """The card's "Robustness" section: what was corrupted and how, then `robustness_markdown`.

    Args:
        tested_on: the test data in words, e.g. "speakers 03, 08 of emodb (107 utterances)".
    """
    return (
        f"{ROBUSTNESS_HEADING}\n\n"
        f"UA of {tested_on}, clean and corrupted: white noise and interfering speech (one "
        f"utterance per clip, drawn from {ladder['interferers']} utterances of speakers who "
        "were not tested) at falling SNR over the whole clip, a telephone band and clipping at "
        f"a fraction of each clip's peak (`eam-ser evaluate --robustness`, seed "
        f"{ladder['seed']}).\n\n{robustness_markdown(ladder, clean_ua)}\n"
    )


def _replace_section(card: str, heading: str, section: str) -> str:
    """`card` (markdown) with its level-2 `heading` section (up to the next ``## `` heading)
    replaced by `section`; a card without one gets it after its "## Results" section, or at
    the end."""
    lines = card.splitlines(keepends=True)

    def end_of_section(start: int) -> int:
        for index in range(start + 1, len(lines)):
            if lines[index].startswith("## "):
                return index
        return len(lines)

    headings = [index for index, line in enumerate(lines) if line.rstrip() == heading]
    if headings:
        start, end = headings[0], end_of_section(headings[0])
    else:
        results = [index for index, line in enumerate(lines) if line.rstrip() == "## Results"]
        start = end = end_of_section(results[0]) if results else len(lines)
    before = "".join(lines[:start])
    if before and not before.endswith("\n\n"):
        before = before.rstrip("\n") + "\n\n"
    after = "".join(lines[end:])
    return before + section.rstrip("\n") + "\n" + ("\n" + after if after else "")


def write_robustness_section(
    folder: str | Path, ladder: Mapping[str, Any], clean_ua: float, tested_on: str
) -> Path:
    """Write `robustness_section` into the model card ``folder/README.md``, replacing the
    section an earlier run wrote; returns the card's path.

    Raises:
        ValueError: `folder` has no README.md (a model saved without results has no card).
    """
    card = Path(folder) / "README.md"
    if not card.is_file():
        raise ValueError(f"{folder}: no model card README.md to write the robustness summary to")
    text = card.read_text(encoding="utf-8")
    section = robustness_section(ladder, clean_ua, tested_on)
    card.write_text(_replace_section(text, ROBUSTNESS_HEADING, section), encoding="utf-8")
    return card


def config_sha256(config: Mapping[str, Any]) -> str:
    """SHA-256 of the resolved configuration as compact JSON with sorted keys: two runs with
    the same hash were configured the same."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def results_summary(results: Mapping[str, Any]) -> str:
    """One sentence with the mean scores, e.g. 'Mean over 5 folds: WA 78.47 %, ...'; for a
    single split each with its speaker-bootstrap interval (`INTERVAL_NOTE`) where it has one."""
    folds = results["folds"]
    if len(folds) > 1:
        scores = ", ".join(f"{label} {_percent(results['mean'][key])} %" for key, label in METRICS)
        return f"Mean over {len(folds)} speaker-independent folds: {scores}."
    scores = ", ".join(f"{label} {_score_cell(folds[0], key, ' %')}" for key, label in METRICS)
    return f"Held-out speakers: {scores}."


def _settings_table(settings: Mapping[str, Any], descriptions: Mapping[str, str]) -> str:
    lines = ["| setting | value | meaning |", "|---|---|---|"]
    for name, value in settings.items():
        lines.append(f"| `{name}` | {value} | {descriptions.get(name, '')} |")
    return "\n".join(lines)


def _field_help(settings_class: type) -> dict[str, str]:
    """``{field: metadata["help"]}`` of a settings dataclass: the card's "meaning" column."""
    return {
        setting.name: setting.metadata["help"] for setting in dataclasses.fields(settings_class)
    }


EAM_DESCRIPTIONS = _field_help(EnergyAdaptiveMixupSettings)
LOSS_DESCRIPTIONS = _field_help(MultiLossSettings)


def render_model_card(
    results: Mapping[str, Any],
    *,
    model_id: str | None = None,
    model_name: str | None = None,
    corpus_citation: str = "",
    base_model: str | None = None,
    license: str | None = None,
    final_model_note: str | None = None,
    template_path: str | Path | None = None,
) -> ModelCard:
    """Fill the model card template from a results dict (see module docstring).

    Args:
        results: per-fold and mean/std metrics, label names, corpus, protocol and config.
        model_id: Hub repo id (or local folder) shown in the usage snippet.
        model_name: title of the card (default: `model_id`, else ``flam-<corpus>``).
        corpus_citation: reference of the training corpus.
        base_model: Hub id of the pretrained encoder, recorded in the card metadata.
        license: license id of the weights for the metadata (e.g. "apache-2.0"), if known.
        final_model_note: extra paragraph under the results (e.g. "trained on all folds").
        template_path: another Jinja2 template (default: the package's ``model_card.md``).
    """
    config = results.get("config", {})
    corpus = results.get("corpus") or "custom"
    corpus_title = results.get("corpus_title") or corpus
    name = model_name or model_id or f"flam-{corpus}"
    eval_results = [
        EvalResult(
            task_type="audio-classification",
            task_name="Speech emotion recognition",
            dataset_type=corpus,
            dataset_name=corpus_title,
            metric_type=SCORE_METRIC_TYPES[key],
            metric_name=SCORE_DESCRIPTIONS[key],
            metric_value=round(float(results["mean"][key]), 4),
            metric_args=None if key == "wa" else {"average": "macro"},
        )
        for key, _ in METRICS
    ]
    card_data = ModelCardData(
        model_name=name,
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=["speech-emotion-recognition", "eam-ser", "flam", "energy-adaptive-mixup"],
        base_model=base_model,
        license=license,
        metrics=["accuracy", "recall", "f1"],
        eval_results=eval_results,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path or TEMPLATE_PATH),
        model_name=name,
        model_id=model_id or "path/to/model",
        labels=list(results["label_names"]),
        encoder=config.get("encoder")
        or "small WavLM-style encoder built from a config (no pretraining)",
        corpus_title=corpus_title,
        protocol=results.get("protocol", ""),
        results_summary=results_summary(results),
        results_table=results_markdown(results),
        final_model_note=final_model_note,
        eam_table=_settings_table(config.get("eam", {}), EAM_DESCRIPTIONS),
        eam_regime=(results.get("eam_regime") or {}).get("note"),
        loss_table=_settings_table(config.get("loss", {}), LOSS_DESCRIPTIONS),
        config_json=json.dumps(config, indent=2, sort_keys=True),
        config_sha256=config_sha256(config),
        calibration_table=calibration_markdown(results),
        seeds=", ".join(str(seed) for seed in results.get("seeds", [])) or "not recorded",
        paper_citation=PAPER_CITATION,
        corpus_citation=corpus_citation or "see the corpus's own documentation.",
    )


def _hub_id(encoder: str | None) -> str | None:
    """`encoder` if it names a Hub repo, None for a local folder (not valid card metadata)."""
    return encoder if encoder and not Path(encoder).exists() else None


def write_model_card(
    folder: str | Path,
    results: Mapping[str, Any],
    *,
    model_id: str | None = None,
    final_model_note: str | None = None,
) -> Path:
    """Render the model card of `results` into ``folder/README.md`` (main process only)."""
    folder = Path(folder)
    if not is_main_process():
        return folder
    corpus = CORPORA.get(str(results.get("corpus")))
    card = render_model_card(
        results,
        model_id=model_id or str(folder),
        model_name=model_id or folder.resolve().name,
        corpus_citation=corpus.citation if corpus is not None else "",
        base_model=_hub_id(results.get("config", {}).get("encoder")),
        final_model_note=final_model_note,
    )
    card.save(folder / "README.md")
    return folder
