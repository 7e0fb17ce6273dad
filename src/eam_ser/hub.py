"""What a trained model leaves behind: the saved folder, its model card, the Hub upload.

`save_model` writes weights, config and feature extractor (and the card); `write_model_card`
renders the card with `huggingface_hub.ModelCard`; `push_to_hub` uploads a saved folder. In a
multi-process run (torchrun, accelerate launch) only the main process writes
(`is_main_process`): the experiment drivers, the results files and the ``eam-ser`` command ask
here.

The template is the top-level ``model_card.md`` of the repository (Jinja2; the package reaches
it through the symlink ``eam_ser/model_card.md``, shipped as package data). It is filled from a
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
from typing import TYPE_CHECKING, Any

import torch
from accelerate import PartialState
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

from eam_ser.corpora import CORPORA
from eam_ser.loss_settings import MultiLossSettings
from eam_ser.mixup.settings import EnergyAdaptiveMixupSettings

if TYPE_CHECKING:
    from transformers import FeatureExtractionMixin

    from eam_ser.modeling_flam import FlamForSequenceClassification

__all__ = [
    "TEMPLATE_PATH",
    "calibration_markdown",
    "config_sha256",
    "groups_markdown",
    "is_main_process",
    "process_state",
    "push_to_hub",
    "render_model_card",
    "results_markdown",
    "results_summary",
    "robustness_markdown",
    "robustness_section",
    "save_model",
    "write_model_card",
    "write_robustness_section",
]

TEMPLATE_PATH = Path(__file__).resolve().with_name("model_card.md")
METRICS = (("wa", "WA"), ("ua", "UA"), ("macro_f1", "macro-F1"))

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


def results_markdown(results: Mapping[str, Any]) -> str:
    """Markdown table: one row per fold (test speakers, sizes, WA/UA/macro-F1 in %) and, for
    more than one fold, a final row with mean ± standard deviation over the folds."""
    header = "| fold | test speakers | train / test utterances | WA (%) | UA (%) | macro-F1 (%) |"
    lines = [header, "|---|---|---|---|---|---|"]
    for fold in results["folds"]:
        name = _fold_name(fold)
        speakers = ", ".join(fold["test_speakers"])
        scores = " | ".join(_percent(fold[key]) for key, _ in METRICS)
        lines.append(
            f"| {name} | {speakers} | {fold['num_train']} / {fold['num_test']} | {scores} |"
        )
    if len(results["folds"]) > 1:
        scores = " | ".join(
            f"**{_percent(results['mean'][key])} ± {_percent(results['std'][key])}**"
            for key, _ in METRICS
        )
        lines.append(f"| **mean ± std** | | | {scores} |")
    groups = groups_markdown(results)
    return "\n".join(lines) + (f"\n\n{groups}" if groups else "")


def groups_markdown(results: Mapping[str, Any]) -> str:
    """Markdown table, one row per fold that has them: the UA interval over its test speakers
    and UA per gender and per speaker (`eam_ser.report`); empty when no fold has them
    (results of eam-ser 0.3)."""
    rows = []
    for fold in results["folds"]:
        groups, interval = fold.get("groups") or {}, fold.get("intervals")
        if not groups and not interval:
            continue
        name = _fold_name(fold)
        shown_interval = (
            f"[{_percent(interval['ua'][0])}, {_percent(interval['ua'][1])}]" if interval else ""
        )
        gender = groups.get("gender", {}).get("groups", {})
        by_gender = ", ".join(f"{g} {_percent(v['ua'])}" for g, v in gender.items())
        gender_gap = _percent(groups["gender"]["gap"]["ua"]) if len(gender) > 1 else ""
        speaker = groups.get("speaker")
        worst = (
            f"{speaker['worst']['ua']} ({_percent(speaker['groups'][speaker['worst']['ua']]['ua'])})"
            if speaker
            else ""
        )
        rows.append(f"| {name} | {shown_interval} | {by_gender} | {gender_gap} | {worst} |")
    if not rows:
        return ""
    header = (
        "| fold | UA 95 % interval over test speakers (%) | UA by gender (%) | gender gap "
        "(points) | worst speaker (UA %) |"
    )
    return "\n".join([header, "|---|---|---|---|---|", *rows])


def calibration_markdown(results: Mapping[str, Any]) -> str:
    """Markdown table, one row per fold that has it: ECE, NLL and Brier score of the scores the
    model reports, the score temperature, and the ECE before temperature scaling; empty when
    no fold has a calibration (results of eam-ser 0.3)."""
    rows = []
    for fold in results["folds"]:
        calibration = fold.get("calibration")
        if not calibration:
            continue
        name = _fold_name(fold)
        before = fold.get("calibration_before_scaling")
        scaling = (
            f"{fold.get('score_temperature', 1.0):.3f} | {before['ece']:.3f}"
            if before
            else "1 (not fitted) |"
        )
        rows.append(
            f"| {name} | {calibration['ece']:.3f} | {calibration['nll']:.3f} | "
            f"{calibration['brier']:.3f} | {scaling} |"
        )
    if not rows:
        return ""
    header = "| fold | ECE | NLL | Brier | score temperature | ECE before scaling |"
    return "\n".join([header, "|---|---|---|---|---|---|", *rows])


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
    """One sentence with the mean scores, e.g. 'Mean over 5 folds: WA 78.47 %, ...'."""
    folds = len(results["folds"])
    scope = f"Mean over {folds} speaker-independent folds" if folds > 1 else "Held-out speakers"
    scores = ", ".join(f"{label} {_percent(results['mean'][key])} %" for key, label in METRICS)
    return f"{scope}: {scores}."


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
    metric_names = {
        "wa": "WA (accuracy)",
        "ua": "UA (unweighted average recall)",
        "macro_f1": "macro-F1",
    }
    metric_types = {"wa": "accuracy", "ua": "recall", "macro_f1": "f1"}
    eval_results = [
        EvalResult(
            task_type="audio-classification",
            task_name="Speech emotion recognition",
            dataset_type=corpus,
            dataset_name=corpus_title,
            metric_type=metric_types[key],
            metric_name=metric_names[key],
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


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload eam-ser model",
) -> str:
    """Create (if needed) the Hub model repo `repo_id` and upload `folder`; returns the commit URL.

    `folder` is a saved model folder (weights, config, feature extractor and README.md card).
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"folder {folder} has no config.json: save the model there first")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), commit_message=commit_message, repo_type="model"
    )
    return str(getattr(commit, "commit_url", commit))


# ------------------------------------------------------------------------ saving, main process


def process_state() -> PartialState:
    """The processes of this run (torchrun, accelerate launch), joined into their group.

    Without GPUs the group is gloo: a bare ``PartialState()`` there sees no distributed run
    before `TrainingArguments` sets one up (every process would call itself the main one),
    so it is asked for the CPU state, as ``TrainingArguments(use_cpu=True)`` does later."""
    return PartialState(cpu=not torch.cuda.is_available())


def end_process_group(state: PartialState) -> None:
    """After a successful multi-process run: wait for every process, then close the process
    group while the interpreter is still whole. Left to interpreter shutdown, gloo's worker
    threads may still hold tensors with Python references, and the process then aborts after
    its work is done ("terminate called without an active exception")."""
    if state.num_processes > 1 and torch.distributed.is_initialized():
        state.wait_for_everyone()
        torch.distributed.destroy_process_group()


def is_main_process() -> bool:
    """False in every process but the first of a multi-process run (torchrun, accelerate
    launch): only the first writes results and models."""
    return process_state().is_main_process


def _hub_id(encoder: str | None) -> str | None:
    """`encoder` if it names a Hub repo, None for a local folder (not valid card metadata)."""
    return encoder if encoder and not Path(encoder).exists() else None


def save_model(
    folder: str | Path,
    model: FlamForSequenceClassification,
    feature_extractor: FeatureExtractionMixin,
    results: Mapping[str, Any] | None = None,
    *,
    model_id: str | None = None,
    final_model_note: str | None = None,
) -> Path:
    """Save weights, config, feature extractor and, given `results`, the rendered model card
    (README.md; see `write_model_card`).

    The folder then loads with `FlamForSequenceClassification.from_pretrained`,
    `transformers.pipeline("audio-classification", model=folder)` and `eam-ser predict`.
    Only the main process writes (see `is_main_process`).
    """
    folder = Path(folder)
    if not is_main_process():
        return folder
    model.check_finite(f"saving {folder}")
    model.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    if results is not None:
        write_model_card(folder, results, model_id=model_id, final_model_note=final_model_note)
    return folder


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
