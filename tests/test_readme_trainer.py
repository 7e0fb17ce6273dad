"""The "Fine-tuning with Trainer" guide's block for a pretrained encoder (which the snippet
runner skips: it downloads WavLM-Large), run as written for a WavLM-shaped and a Whisper encoder
(tiny ones saved to local folders instead of the Hub id)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import (
    Wav2Vec2FeatureExtractor,
    WavLMModel,
    WhisperFeatureExtractor,
    WhisperModel,
)

from conftest import tiny_wavlm_config
from eam_ser.mixup import EnergyAdaptiveMixupCollator
from test_docs_snippets import parse_snippets
from test_whisper_flam import tiny_whisper_config

ROOT = Path(__file__).resolve().parents[1]


GUIDE = "docs/guides/trainer.md"


def trainer_guide_snippet() -> str:
    """The guide's pretrained-encoder block, after the imports of the guide's first block (the
    blocks of a page share one namespace)."""
    snippets = parse_snippets((ROOT / GUIDE).read_text(encoding="utf-8"), GUIDE)
    imports = [
        line
        for line in snippets[0].code.splitlines()
        if line.startswith(("from ", "import ")) and "eam_ser" in line
    ]
    block = next(s.code for s in snippets if '"microsoft/wavlm-large"' in s.code)
    return "\n".join(imports) + "\n" + block


def encoder_folder(kind: str, folder: Path) -> Path:
    torch.manual_seed(0)
    if kind == "whisper":
        WhisperModel(tiny_whisper_config()).save_pretrained(folder)
        WhisperFeatureExtractor(feature_size=16).save_pretrained(folder)
    else:
        WavLMModel(tiny_wavlm_config()).save_pretrained(folder)
        Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


def speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)


@pytest.mark.parametrize("kind", ["wavlm", "whisper"])
def test_readme_trainer_snippet_trains_wavlm_and_whisper(tmp_path, kind, monkeypatch):
    folder = encoder_folder(kind, tmp_path / f"{kind}-encoder")
    code = trainer_guide_snippet().replace('"microsoft/wavlm-large"', repr(str(folder)))
    code = code.replace("max_steps=3000", "max_steps=2, use_cpu=True, report_to='none'")
    monkeypatch.chdir(tmp_path)
    id2label = {0: "angry", 1: "neutral", 2: "sad"}
    rows = [{"audio": speech_like(1.0 + 0.2 * i, i), "label": i % 3} for i in range(6)]
    names = {"train": Dataset.from_list(rows), "valid": Dataset.from_list(rows[:3])}
    namespace = {"id2label": id2label, **names}
    exec(compile(code, f"{GUIDE} (pretrained encoder)", "exec"), namespace)
    trainer = namespace["trainer"]
    assert trainer.state.global_step == 2
    assert np.isfinite(trainer.state.log_history[-1]["train_loss"])
    collator = namespace["collator"]
    expected = "input_features" if kind == "whisper" else "input_values"
    batch = collator.as_eval()(rows[:2])
    assert expected in batch
    assert collator.label2id == {"angry": 0, "neutral": 1, "sad": 2}


def test_for_model_reads_a_saved_folder_and_names_the_fix_for_a_bare_whisper(tmp_path):
    from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

    folder = encoder_folder("whisper", tmp_path / "encoder")
    model = FlamForSequenceClassification.from_encoder(folder, id2label={0: "a", 1: "b"})
    model.save_pretrained(tmp_path / "saved")
    WhisperFeatureExtractor(feature_size=16).save_pretrained(tmp_path / "saved")
    collator = EnergyAdaptiveMixupCollator.for_model(str(tmp_path / "saved"), p=1.0)
    assert collator.num_labels == 2 and collator.p == 1.0
    assert collator.feature_extractor.feature_size == 16
    bare = FlamForSequenceClassification(model.config)
    bare.config.encoder_config._name_or_path = ""
    with pytest.raises(ValueError, match="pass feature_extractor=WhisperFeatureExtractor"):
        EnergyAdaptiveMixupCollator.for_model(bare)
    with pytest.raises(ValueError, match=r"EnergyAdaptiveMixupCollator.for_model\(model\)"):
        bare(input_values=torch.zeros(1, 16000))
