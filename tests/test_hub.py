"""`eam_ser.hub`: model card rendering from the top-level template, saving and the Hub upload
path (no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from huggingface_hub import HfApi, ModelCard
from transformers import AutoModelForAudioClassification, pipeline

import eam_ser.hub.card
from conftest import tone
from eam_ser.experiment.build import build_feature_extractor, build_model
from eam_ser.experiment.config import ExperimentConfig
from eam_ser.hub import TEMPLATE_PATH, render_model_card, results_markdown
from eam_ser.hub.save import push_to_hub, save_model
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from test_crossval import TINY_CONFIG

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_results(num_folds: int = 2) -> dict:
    folds = [
        {
            "fold": 0,
            "test_speakers": ["03", "08"],
            "num_train": 428,
            "num_test": 107,
            "wa": 0.8,
            "ua": 0.75,
            "macro_f1": 0.7,
            "confusion_matrix": [[1, 0], [0, 1]],
            "seed": 42,
        },
        {
            "fold": 1,
            "test_speakers": ["09", "10"],
            "num_train": 454,
            "num_test": 81,
            "wa": 0.6,
            "ua": 0.55,
            "macro_f1": 0.5,
            "confusion_matrix": [[1, 0], [1, 0]],
            "seed": 42,
        },
    ][:num_folds]
    return {
        "corpus": "emodb",
        "corpus_title": "EmoDB (Berlin Database of Emotional Speech)",
        "protocol": "EmoDB, 7 classes, 5 folds of one male + one female speaker",
        "label_names": ["angry", "sad"],
        "folds": folds,
        "mean": {"wa": 0.7, "ua": 0.65, "macro_f1": 0.6},
        "std": {"wa": 0.1414, "ua": 0.1414, "macro_f1": 0.1414},
        "confusion_matrix": [[2, 0], [1, 1]],
        "seeds": [42] * num_folds,
        "config": ExperimentConfig.from_dict(TINY_CONFIG).to_dict(),
    }


def test_template_is_a_file_of_the_package() -> None:
    """One home: the template is package data (a wheel carries it), not a link out of it."""
    assert TEMPLATE_PATH.parent == Path(eam_ser.hub.card.__file__).parent
    assert TEMPLATE_PATH.is_file() and not TEMPLATE_PATH.is_symlink()
    assert "{{ card_data }}" in TEMPLATE_PATH.read_text()


def test_results_markdown_rows() -> None:
    table = results_markdown(make_results()).splitlines()
    assert table[2] == "| 0 | 03, 08 | 428 / 107 | 80.00 | 75.00 | 70.00 |"
    assert table[3] == "| 1 | 09, 10 | 454 / 81 | 60.00 | 55.00 | 50.00 |"
    assert (
        table[4]
        == "| **mean ± std** | | | **70.00 ± 14.14** | **65.00 ± 14.14** | **60.00 ± 14.14** |"
    )
    single = make_results(1)
    single["folds"][0]["fold"] = None
    assert results_markdown(single).splitlines()[2].startswith("| held-out | 03, 08 |")
    assert len(results_markdown(single).splitlines()) == 3


def test_render_model_card_metadata_and_body() -> None:
    card = render_model_card(
        make_results(),
        model_id="user/flam-emodb",
        corpus_citation="Burkhardt et al. (2005)",
        base_model="microsoft/wavlm-large",
    )
    assert card.data.pipeline_tag == "audio-classification"
    assert card.data.library_name == "transformers"
    assert card.data.base_model == "microsoft/wavlm-large"
    values = {result.metric_type: result.metric_value for result in card.data.eval_results}
    assert values == {"accuracy": 0.7, "recall": 0.65, "f1": 0.6}
    assert card.data.eval_results[0].dataset_type == "emodb"
    text = str(card)
    assert "# user/flam-emodb" in text
    assert "angry, sad" in text
    assert (
        "Mean over 2 speaker-independent folds: WA 70.00 %, UA 65.00 %, macro-F1 60.00 %." in text
    )
    assert "| 0 | 03, 08 | 428 / 107 | 80.00 | 75.00 | 70.00 |" in text
    assert "| `label_mode` | energy |" in text and "| `center_weight` | 0.01 |" in text
    assert "arXiv:2512.04551" in text and "Burkhardt et al. (2005)" in text
    assert 'pipeline("speech-emotion-recognition", model="user/flam-emodb")' in text
    assert "{{" not in text and "{%" not in text
    reparsed = ModelCard(text)
    assert reparsed.data.model_name == "user/flam-emodb"


def test_push_to_hub_uploads_a_loadable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote_root = tmp_path / "remote"
    calls: list[tuple[str, dict]] = []

    def fake_create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def fake_upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", {"repo_id": repo_id, **kwargs}))
        shutil.copytree(folder_path, remote_root / repo_id)
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", fake_upload_folder)

    config = ExperimentConfig.from_dict(TINY_CONFIG)
    model = build_model(config, ["angry", "sad"])
    folder = save_model(
        tmp_path / "model",
        model,
        build_feature_extractor(config),
        make_results(),
        model_id="user/flam-emodb",
    )
    url = push_to_hub(folder, "user/flam-emodb", private=True)
    assert url == "https://huggingface.co/user/flam-emodb/commit/0"
    assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
    assert calls[0][1]["private"] is True and calls[0][1]["exist_ok"] is True

    remote = remote_root / "user/flam-emodb"
    loaded = FlamForSequenceClassification.from_pretrained(remote)
    assert loaded.config.id2label == {0: "angry", 1: "sad"}
    for name, parameter in model.state_dict().items():
        assert np.array_equal(parameter.numpy(), loaded.state_dict()[name].numpy()), name
    assert isinstance(
        AutoModelForAudioClassification.from_pretrained(remote), FlamForSequenceClassification
    )
    card = ModelCard.load(remote / "README.md")
    assert card.data.eval_results[0].metric_value == 0.7
    assert "| 1 | 09, 10 | 454 / 81 | 60.00 | 55.00 | 50.00 |" in card.text

    classifier = pipeline("audio-classification", model=str(remote))
    scores = classifier({"raw": tone(0.5), "sampling_rate": 16000}, top_k=2)
    assert {score["label"] for score in scores} == {"angry", "sad"}
    assert sum(score["score"] for score in scores) == pytest.approx(1.0, abs=1e-5)


def test_push_to_hub_needs_a_saved_model(tmp_path: Path) -> None:
    sf.write(tmp_path / "x.wav", tone(0.1), 16000)
    with pytest.raises(ValueError, match=r"has no config\.json"):
        push_to_hub(tmp_path, "user/x")


def test_results_and_card_state_the_encoder_regime_and_its_evidence(tmp_path):
    from eam_ser.experiment.evidence import encoder_regime, regime_note

    assert encoder_regime(None) == "fine_tuned"
    assert encoder_regime(2) == "top_layers"
    assert encoder_regime(0) == encoder_regime(None, -1) == "frozen"
    fine_tuned = ExperimentConfig(encoder="x").eam_regime
    assert fine_tuned["regime"] == "fine_tuned" and fine_tuned["eam_p"] == 0.5
    assert fine_tuned["note"] == regime_note("fine_tuned")
    assert "+1.3 UA points on clean speech [95 % CI -4.7, +7.3]" in fine_tuned["note"]
    frozen = ExperimentConfig.from_dict({"flam": {"trainable_encoder_layers": 0}})
    assert frozen.eam_regime["regime"] == "frozen"
    top = ExperimentConfig.from_dict({"encoder": "x", "flam": {"trainable_encoder_layers": 2}})
    assert top.eam_regime["regime"] == "top_layers"
    assert top.eam_regime["note"] == (
        "EAM with the encoder's top layers fine-tuned, measured (benchmarks/results): EmoDB "
        "(5 folds): +3.3 UA points on clean speech [95 % CI -7.0, +13.6], +10.6 [+2.4, +18.7] "
        "under noise and interfering speech, 0.95x the training time of no mixing."
    )
    unmixed = ExperimentConfig.from_dict({"eam": {"p": 0.0}})
    assert unmixed.eam_regime["note"] is None  # nothing to say when EAM does not mix


LADDER = {
    "ua": {
        "noise": {"20.0": 0.5, "-5.0": 0.25},
        "speech": {"0.0": 0.375},
        "telephone": {"300-3400 Hz": 0.6},
        "clipping": {"25 % of peak": 0.8125},
    },
    "seed": 0,
    "interferers": 12,
}


def test_robustness_markdown_rows() -> None:
    from eam_ser.hub import robustness_markdown

    # Clean UA 75 %: 50 % is 25 points below, 81.25 % is 6.25 above.
    assert robustness_markdown(LADDER, 0.75).splitlines() == [
        "| condition | level | UA (%) | change from clean (points) |",
        "|---|---|---|---|",
        "| clean | | 75.00 | |",
        "| white noise | 20 dB SNR | 50.00 | -25.00 |",
        "| white noise | -5 dB SNR | 25.00 | -50.00 |",
        "| interfering speech | 0 dB SNR | 37.50 | -37.50 |",
        "| telephone band | 300-3400 Hz | 60.00 | -15.00 |",
        "| clipping | 25 % of peak | 81.25 | +6.25 |",
    ]


def test_robustness_section_is_placed_after_the_results_and_replaced_on_a_rerun(tmp_path):
    from eam_ser.hub import robustness_markdown, write_robustness_section

    card = tmp_path / "README.md"
    original = "---\nx: 1\n---\n\n# m\n\n## Results\n\nscores\n\n## Usage\n\ncode\n"
    card.write_text(original)
    assert write_robustness_section(tmp_path, LADDER, 0.75, "speakers s4 of tones (4 utterances)")
    first = card.read_text()
    assert first.startswith("---\nx: 1\n---\n\n# m\n\n## Results\n\nscores\n\n## Robustness\n\n")
    assert first.endswith(f"{robustness_markdown(LADDER, 0.75)}\n\n## Usage\n\ncode\n")
    assert "UA of speakers s4 of tones (4 utterances), clean and corrupted" in first
    assert "drawn from 12 utterances of speakers who were not tested" in first
    assert "seed 0)" in first
    write_robustness_section(tmp_path, LADDER, 0.75, "speakers s4 of tones (4 utterances)")
    assert card.read_text() == first  # the same ladder again: the same card
    write_robustness_section(tmp_path, LADDER, 0.5, "speakers s3 of tones (5 utterances)")
    second = card.read_text()
    assert second.count("## Robustness") == 1 and "| clean | | 50.00 | |" in second
    assert "s4" not in second and "| clean | | 75.00 | |" not in second
    # Outside the section the card is as it was.
    start, end = second.index("## Robustness"), second.index("## Usage")
    assert second[:start] + second[end:] == original
    # A card without a Results section gets it at the end; a folder without a card is refused.
    card.write_text("# m\n\ntext")
    write_robustness_section(tmp_path, LADDER, 0.75, "x")
    assert card.read_text().startswith("# m\n\ntext\n\n## Robustness\n\n")
    with pytest.raises(ValueError, match=r"no model card README\.md"):
        write_robustness_section(tmp_path / "nowhere", LADDER, 0.75, "x")
