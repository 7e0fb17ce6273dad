"""Saved model folders the `test_inference_*` modules predict with (tiny WavLM and Whisper)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import Wav2Vec2FeatureExtractor, WhisperConfig, WhisperFeatureExtractor

from conftest import tiny_wavlm_config
from eam_ser.hub.save import save_model
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

LABELS = {0: "calm", 1: "angry", 2: "sad"}


def save_wavlm_folder(folder: Path) -> Path:
    torch.manual_seed(0)
    # WavLM's real front end (320-sample stride, 50 frames/s) so long inputs stay cheap.
    front_end = {
        "conv_dim": (16,) * 7,
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
    }
    config = FlamConfig(
        encoder_config=tiny_wavlm_config(**front_end),
        id2label=LABELS,
        label2id={name: index for index, name in LABELS.items()},
        flam_num_attention_heads=2,
        embedding_size=8,
    )
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True)
    save_model(folder, FlamForSequenceClassification(config).eval(), extractor)
    return folder


def save_whisper_folder(folder: Path) -> Path:
    torch.manual_seed(0)
    whisper = WhisperConfig(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        num_mel_bins=80,
        max_source_positions=1500,
    )
    config = FlamConfig(
        encoder_config=whisper,
        id2label=LABELS,
        label2id={name: index for index, name in LABELS.items()},
        flam_num_attention_heads=2,
        embedding_size=8,
    )
    save_model(folder, FlamForSequenceClassification(config).eval(), WhisperFeatureExtractor())
    return folder
