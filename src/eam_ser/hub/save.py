"""A trained model's folder and its upload: `save_model` writes weights, config, feature
extractor and card; `push_to_hub` uploads a saved folder. In a multi-process run only the main
process writes (`eam_ser.training.processes.is_main_process`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huggingface_hub import HfApi

from eam_ser.hub.card import write_model_card
from eam_ser.training.processes import is_main_process

if TYPE_CHECKING:
    from transformers import FeatureExtractionMixin

    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

__all__ = ["push_to_hub", "save_model"]


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
