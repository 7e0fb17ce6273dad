"""FLAM around Whisper encoders: cropped log-mel encoding, masking, loading from checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForAudioClassification,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForAudioClassification,
)

from conftest import tone
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification

FULL_MEL_FRAMES = 3000


def tiny_whisper_config() -> WhisperConfig:
    return WhisperConfig(
        d_model=32,
        encoder_layers=2,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        num_mel_bins=16,
        vocab_size=64,
        pad_token_id=1,
        bos_token_id=2,
        eos_token_id=2,
        decoder_start_token_id=3,
        dropout=0.0,
    )


def tiny_whisper_flam(**overrides) -> FlamForSequenceClassification:
    torch.manual_seed(0)
    config = FlamConfig(
        encoder_config=tiny_whisper_config(),
        num_labels=3,
        flam_num_attention_heads=4,
        embedding_size=8,
        flam_dropout=0.0,
        final_dropout=0.0,
        **overrides,
    )
    return FlamForSequenceClassification(config).eval()


def padded_features(
    mel_lengths: list[int], num_mel_bins: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random log-mel clips padded to 30 s with a constant (as Whisper pads), and their mask."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.full((len(mel_lengths), num_mel_bins, FULL_MEL_FRAMES), -0.7)
    mask = torch.zeros(len(mel_lengths), FULL_MEL_FRAMES, dtype=torch.long)
    for row, length in enumerate(mel_lengths):
        features[row, :, :length] = torch.randn(num_mel_bins, length, generator=generator)
        mask[row, :length] = 1
    return features, mask


def test_config_records_log_mel_input():
    model = tiny_whisper_flam()
    assert model.config.encoder_input_name == "input_features"
    assert model.main_input_name == "input_features"
    assert FlamForSequenceClassification.main_input_name == "input_values"
    assert model.layer_weights is None and model.config.num_encoder_hidden_states == 3


@pytest.mark.parametrize("use_weighted_layer_sum", [False, True])
def test_padded_and_cropped_clips_give_same_logits(use_weighted_layer_sum):
    model = tiny_whisper_flam(use_weighted_layer_sum=use_weighted_layer_sum)
    features, mask = padded_features([301, 120], num_mel_bins=16)
    with torch.no_grad():
        batch = model(input_features=features, attention_mask=mask, output_attentions=True)
        alone = model(input_features=features[1:, :, :120], output_attentions=True)
    # Cropped to the longest clip: ceil(301 / 2) = 151 frames, of which ceil(120 / 2) = 60 real.
    assert batch.frame_attention.shape == (2, 151)
    assert batch.frame_attention[1, 60:].abs().max() == 0
    torch.testing.assert_close(batch.logits[1], alone.logits[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.embeddings[1], alone.embeddings[0], atol=1e-5, rtol=0)


def test_bad_whisper_input_raises():
    model = tiny_whisper_flam()
    with pytest.raises(ValueError, match="input_features"):
        model(input_values=torch.zeros(1, 16000))
    with pytest.raises(ValueError, match="3001 mel frames"):
        model(input_features=torch.zeros(1, 16, 3001))
    with pytest.raises(ValueError, match="attention_mask must be"):
        model(input_features=torch.zeros(1, 16, 100), attention_mask=torch.ones(1, 15000))


def test_padded_rows_and_bf16_are_finite_and_an_empty_row_is_refused():
    # A wide initialisation and non-zero biases, so that the logits are far from 0.
    model = tiny_whisper_flam(initializer_range=0.5)
    with torch.no_grad():
        for layer in (model.projector, model.classifier):
            layer.bias.copy_(torch.linspace(-1.0, 1.0, layer.bias.numel()))
    features, mask = padded_features([200, 120], num_mel_bins=16)
    labels = torch.tensor([0, 2])
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output = model(input_features=features, attention_mask=mask, labels=labels)
        full = model(input_features=features, attention_mask=mask, labels=labels)
        alone = [
            model(input_features=features[i : i + 1, :, :n]).logits[0]
            for i, n in ((0, 200), (1, 120))
        ]
    assert torch.isfinite(output.logits.float()).all() and torch.isfinite(output.loss)
    assert full.logits.abs().min() > 0.5
    # Padding changes nothing: each row gives what it gives alone.
    torch.testing.assert_close(full.logits, torch.stack(alone), atol=1e-5, rtol=0)
    # bf16 gives the float32 values to bf16's precision (8 significant bits).
    torch.testing.assert_close(output.logits.float(), full.logits, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(output.loss.float(), full.loss, atol=0, rtol=2e-2)
    # A row without a real frame is refused by name (issue 30): no answer about nothing.
    features, mask = padded_features([200, 0], num_mel_bins=16)
    with pytest.raises(ValueError, match="attention_mask row 1 is all 0"):
        model(input_features=features, attention_mask=mask)


# -- the shared pretrained tiny.en encoder ------------------------------------------------------


@pytest.fixture
def shared_whisper_flam(whisper_tiny_dir):
    model = FlamForSequenceClassification.from_encoder(whisper_tiny_dir, num_labels=4)
    return whisper_tiny_dir, model.eval()


def test_shared_encoder_loads_untouched(shared_whisper_flam):
    directory, model = shared_whisper_flam
    reference = WhisperForAudioClassification.from_pretrained(directory, dtype=torch.float32)
    for name, tensor in reference.encoder.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[name], tensor, atol=0, rtol=0)
    assert model.dtype == torch.float32
    assert model.config.encoder_config.d_model == 384 and model.main_input_name == "input_features"


def test_shared_encoder_padded_and_unpadded_clip_same_logits(shared_whisper_flam):
    directory, model = shared_whisper_flam
    extractor = WhisperFeatureExtractor.from_pretrained(directory)
    rng = np.random.default_rng(7)
    short_clip = tone(1.0, 220.0) + 0.01 * rng.standard_normal(16000).astype(np.float32)
    long_clip = tone(2.0, 330.0)
    padded = extractor(
        [short_clip, long_clip],
        sampling_rate=16000,
        return_tensors="pt",
        return_attention_mask=True,
    )
    real_mel_frames = int(padded.attention_mask[0].sum())
    assert padded.input_features.shape[-1] == FULL_MEL_FRAMES and real_mel_frames == 100
    with torch.no_grad():
        batch = model(input_features=padded.input_features, attention_mask=padded.attention_mask)
        alone = model(input_features=padded.input_features[:1, :, :real_mel_frames])
    torch.testing.assert_close(batch.logits[0], alone.logits[0], atol=1e-5, rtol=0)


def test_shared_encoder_save_load_round_trip(shared_whisper_flam, tmp_path):
    _, model = shared_whisper_flam
    features, mask = padded_features([150], num_mel_bins=80)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert (
        isinstance(loaded, FlamForSequenceClassification)
        and loaded.main_input_name == "input_features"
    )
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, atol=0, rtol=0)
    with torch.no_grad():
        # Weights are bit-identical; safetensors hands back tensors at unaligned addresses, which
        # can send the matrix products down another SIMD path (differences ~1e-8).
        torch.testing.assert_close(
            loaded(input_features=features, attention_mask=mask).logits,
            model(input_features=features, attention_mask=mask).logits,
            atol=1e-6,
            rtol=0,
        )


def test_stock_audio_classification_pipeline_works_on_a_saved_whisper_folder(tmp_path):
    """Whisper's extractor hands the stock pipeline a sample-level mask over 30 s; the model
    reads the real frames from it and scores as the library's own (cropped) path does."""
    from transformers import WhisperFeatureExtractor, pipeline

    from eam_ser.mixup import EnergyAdaptiveMixupCollator

    model = tiny_whisper_flam()
    extractor = WhisperFeatureExtractor(feature_size=16, return_attention_mask=True)
    model.save_pretrained(tmp_path)
    extractor.save_pretrained(tmp_path)
    clip = (0.1 * np.random.default_rng(0).standard_normal(25600)).astype(np.float32)  # 1.6 s
    scores = pipeline("audio-classification", model=str(tmp_path))(
        {"raw": clip, "sampling_rate": 16000}, top_k=3
    )
    batch = EnergyAdaptiveMixupCollator(3, feature_extractor=extractor, seed=0).eval()(
        [{"audio": clip, "label": 0}]
    )
    assert batch["input_features"].shape[-1] == 160  # the library path crops to 1.6 s
    with torch.no_grad():
        logits = model(
            input_features=batch["input_features"], attention_mask=batch["attention_mask"]
        ).logits
    probabilities = logits.softmax(-1)[0]
    expected = {model.config.id2label[i]: float(p) for i, p in enumerate(probabilities)}
    assert {row["label"]: pytest.approx(expected[row["label"]], abs=1e-4) for row in scores} == {
        row["label"]: row["score"] for row in scores
    }


def test_whisper_flam_exports_and_compiles_whole():
    model = tiny_whisper_flam()
    auto = torch.export.Dim.AUTO
    features, mask = padded_features([300, 200], 16)
    features, mask = features[..., :300], mask[:, :300]
    exported = torch.export.export(
        model,
        (),
        {"input_features": features, "attention_mask": mask},
        dynamic_shapes={"input_features": {0: auto, 2: auto}, "attention_mask": {0: auto, 1: auto}},
    )
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    other, other_mask = padded_features([411, 411, 100], 16, seed=3)
    other, other_mask = other[..., :411], other_mask[:, :411]
    with torch.no_grad():
        eager = model(input_features=other, attention_mask=other_mask).logits
        from_export = exported.module()(input_features=other, attention_mask=other_mask).logits
        from_compile = compiled(input_features=other, attention_mask=other_mask).logits
    torch.testing.assert_close(from_export, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_compile, eager, rtol=1e-5, atol=1e-5)


def test_collated_whisper_batch_gives_each_clip_its_own_logits():
    from eam_ser.mixup import EnergyAdaptiveMixupCollator

    model = tiny_whisper_flam()
    extractor = WhisperFeatureExtractor(feature_size=16)
    collator = EnergyAdaptiveMixupCollator(3, feature_extractor=extractor, seed=0).eval()
    # Lengths that are not multiples of the 160-sample hop: a clip alone gets samples // 160
    # mel frames, and so must its row of a padded batch.
    clips = [np.concatenate([tone(0.5), tone(0.005)]), tone(0.61, 350.0), tone(0.8, 500.0)]
    batch = collator([{"audio": clip, "label": 0} for clip in clips])
    assert batch["attention_mask"].sum(dim=1).tolist() == [len(c) // 160 for c in clips]
    with torch.no_grad():
        together = model(
            input_features=batch["input_features"], attention_mask=batch["attention_mask"]
        ).logits
        for row, clip in enumerate(clips):
            alone = collator([{"audio": clip, "label": 0}])
            logits = model(
                input_features=alone["input_features"], attention_mask=alone["attention_mask"]
            ).logits
            torch.testing.assert_close(together[row], logits[0], atol=1e-5, rtol=0)
