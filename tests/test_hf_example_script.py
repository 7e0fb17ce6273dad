"""Hugging Face's own `examples/pytorch/audio-classification/run_audio_classification.py`,
unmodified, fine-tunes and evaluates a saved FLAM folder.

The script is not part of this repository: point `HF_RUN_AUDIO_CLASSIFICATION` at the file in a
transformers checkout (`examples/pytorch/audio-classification/run_audio_classification.py`,
Apache-2.0, The HuggingFace Inc. team); the test is skipped without it. The script never imports
eam-ser: it loads the model through the code and `auto_map` that `save_pretrained` writes into
the folder (`--trust_remote_code True`), with a plain `transformers.Trainer`. The only shims
(`tests/hf_example_shims/sitecustomize.py`) are unrelated to eam-ser: a local accuracy metric
for `evaluate.load("accuracy")` and soundfile decoding for `datasets.Audio`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import Wav2Vec2FeatureExtractor

from conftest import TINY_CONV, tiny_wavlm_config
from eam_ser.corpora import load_emodb
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "data"
SHIMS_DIR = Path(__file__).with_name("hf_example_shims")
LABELS = ("angry", "neutral", "sad")


@pytest.fixture
def example_script() -> Path:
    path = os.environ.get("HF_RUN_AUDIO_CLASSIFICATION")
    if not path or not Path(path).is_file():
        pytest.skip(
            "set HF_RUN_AUDIO_CLASSIFICATION to transformers' "
            "examples/pytorch/audio-classification/run_audio_classification.py"
        )
    return Path(path)


def write_audiofolder(root: Path) -> None:
    """`train/<label>/*.flac` from speakers 11, 15, 16 and `validation/<label>/*.flac` from
    speaker 13 of the quick-start EmoDB sample, three classes."""
    dataset = load_emodb(SAMPLE_DIR)
    names = dataset.features["label"].names
    for row in dataset:
        label = names[row["label"]]
        if label not in LABELS:
            continue
        split = "validation" if row["speaker"] == "13" else "train"
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(row["audio"], folder / Path(row["audio"]).name)


def test_official_audio_classification_script_trains_and_evaluates_flam(tmp_path, example_script):
    torch.manual_seed(0)
    model = FlamForSequenceClassification(
        FlamConfig(
            encoder_config=tiny_wavlm_config(**TINY_CONV),
            id2label=dict(enumerate(LABELS)),
            embedding_size=16,
            flam_num_attention_heads=4,
        )
    )
    model_dir = tmp_path / "flam"
    model.save_pretrained(model_dir)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(model_dir)
    data_dir = tmp_path / "emodb_audiofolder"
    write_audiofolder(data_dir)
    output_dir = tmp_path / "output"
    command = [
        sys.executable,
        str(example_script),
        "--model_name_or_path",
        str(model_dir),
        "--trust_remote_code",
        "True",
        # As in the README's command: needed when the data's classes differ from the model's.
        "--ignore_mismatched_sizes",
        "True",
        "--dataset_name",
        str(data_dir),
        "--output_dir",
        str(output_dir),
        "--do_train",
        "--do_eval",
        "--max_steps",
        "6",
        "--learning_rate",
        "1e-3",
        "--per_device_train_batch_size",
        "4",
        "--per_device_eval_batch_size",
        "4",
        "--max_length_seconds",
        "1",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--use_cpu",
        "True",
        # As in the script's own README: its transforms read the raw audio column.
        "--remove_unused_columns",
        "False",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SHIMS_DIR), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "datasets_cache"),
        "HF_MODULES_CACHE": str(tmp_path / "modules_cache"),
    }
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    metrics = json.loads((output_dir / "eval_results.json").read_text())
    # Speaker 13 holds 3 clips each of angry, neutral and sad: accuracy is k / 9.
    assert "eval_accuracy" in metrics
    assert 9 * metrics["eval_accuracy"] == pytest.approx(round(9 * metrics["eval_accuracy"]))
    train_metrics = json.loads((output_dir / "train_results.json").read_text())
    assert train_metrics["train_loss"] > 0
    # The Trainer saved the model together with the code that loads it without eam-ser.
    saved = json.loads((output_dir / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForAudioClassification"].endswith(
        "FlamForSequenceClassification"
    )
    assert (output_dir / "modeling_flam.py").is_file()
