"""FlamConfig / FrameLevelAttention / FlamForSequenceClassification on tiny wav2vec-style encoders."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForAudioClassification,
    BertConfig,
    Wav2Vec2FeatureExtractor,
    pipeline,
)

from conftest import TINY_CONV, tiny_wavlm_config, tone
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.losses import MultiLossSettings
from eam_ser.models.flam.modeling_flam import (
    FlamForSequenceClassification,
    FrameLevelAttention,
    FrameLevelAttentionLayer,
    context_broadcast,
    masked_mean,
    masked_softmax,
    min_input_samples,
)

TINY_MIN_SAMPLES = 40  # (1 - 1) * 2 + 3 = 3 -> (3 - 1) * 2 + 3 = 7 -> (7 - 1) * 5 + 10 = 40
ID2LABEL = {0: "angry", 1: "happy", 2: "neutral", 3: "sad"}


def tiny_model(
    seed: int = 0, encoder_config=None, **flam_overrides
) -> FlamForSequenceClassification:
    settings = {
        "encoder_config": encoder_config or tiny_wavlm_config(),
        "id2label": dict(ID2LABEL),
        "label2id": {name: index for index, name in ID2LABEL.items()},
        "flam_num_attention_heads": 4,
        "embedding_size": 16,
        "flam_dropout": 0.0,
        "final_dropout": 0.0,
    }
    settings.update(flam_overrides)
    torch.manual_seed(seed)
    return FlamForSequenceClassification(FlamConfig(**settings)).eval()


def waveforms(*lengths: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(length, generator=generator) for length in lengths]


def pad_batch(clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(clip) for clip in clips)
    values = torch.zeros(len(clips), longest)
    mask = torch.zeros(len(clips), longest, dtype=torch.long)
    for row, clip in enumerate(clips):
        values[row, : len(clip)] = clip
        mask[row, : len(clip)] = 1
    return values, mask


# -- pure functions ---------------------------------------------------------------------------


def test_min_input_samples_matches_hand_computation():
    assert min_input_samples((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2)) == 400
    assert min_input_samples(TINY_CONV["conv_kernel"], TINY_CONV["conv_stride"]) == TINY_MIN_SAMPLES


def test_masked_mean_softmax_and_context_broadcast_hand_values():
    hidden = torch.tensor([[[2.0], [4.0], [100.0]], [[1.0], [1.0], [1.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert masked_mean(hidden, mask).flatten().tolist() == [3.0, 0.0]
    broadcast = context_broadcast(hidden, mask)
    assert broadcast[0].flatten().tolist() == [2.5, 3.5, 51.5]
    weights = masked_softmax(torch.tensor([[0.0, math.log(3.0), 9.0], [1.0, 2.0, 3.0]]), mask)
    torch.testing.assert_close(weights, torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0]]))


def test_context_broadcasting_layer_follows_formula():
    torch.manual_seed(0)
    plain = FrameLevelAttentionLayer(8, 2, 16, dropout=0.0, context_broadcasting=False).eval()
    broadcasting = FrameLevelAttentionLayer(8, 2, 16, dropout=0.0, context_broadcasting=True).eval()
    broadcasting.load_state_dict(plain.state_dict())
    hidden = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    without = plain(hidden, mask)
    expected = 0.5 * without + 0.5 * masked_mean(without, mask)[:, None, :]
    torch.testing.assert_close(broadcasting(hidden, mask), expected)
    # The mean excludes the padded frames: row 1 frame 0 by hand.
    row_mean = without[1, :3].mean(dim=0)
    torch.testing.assert_close(
        broadcasting(hidden, mask)[1, 0], 0.5 * without[1, 0] + 0.5 * row_mean
    )


def test_context_broadcasting_changes_model_logits():
    with_cb = tiny_model(context_broadcasting=True)
    without_cb = tiny_model(context_broadcasting=False)
    without_cb.load_state_dict(with_cb.state_dict())
    values = torch.stack(waveforms(4000, 4000))
    with torch.no_grad():
        assert not torch.allclose(with_cb(values).logits, without_cb(values).logits, atol=1e-6)


# -- forward ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["attentive", "mean", "attentive_statistics"])
def test_shapes_and_padded_copy_gives_same_logits(pooling):
    model = tiny_model(pooling=pooling, num_flam_layers=2)
    long_clip, short_clip = waveforms(6000, 3500)
    values, mask = pad_batch([long_clip, short_clip])
    with torch.no_grad():
        batch = model(values, attention_mask=mask, output_attentions=True)
        alone = model(short_clip[None], output_attentions=True)
    frames = model.encoder._get_feat_extract_output_lengths(torch.tensor([6000, 3500])).tolist()
    assert batch.logits.shape == (2, 4)
    assert batch.embeddings.shape == (2, 16)
    assert batch.frame_attention.shape == (2, frames[0])
    torch.testing.assert_close(batch.frame_attention.sum(dim=-1), torch.ones(2))
    assert batch.frame_attention[1, frames[1] :].abs().max() == 0
    torch.testing.assert_close(batch.logits[1], alone.logits[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.embeddings[1], alone.embeddings[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(
        batch.frame_attention[1, : frames[1]], alone.frame_attention[0], atol=1e-5, rtol=0
    )
    if pooling == "mean":
        torch.testing.assert_close(
            alone.frame_attention[0], torch.full((frames[1],), 1.0 / frames[1])
        )


# Eval mode for repeatable outputs; soft labels there are warned of as a mixed evaluation batch
# (that warning is tested in test_trainer.py).
EVAL_WITH_SOFT_LABELS = pytest.mark.filterwarnings("ignore:soft_labels that are not one-hot")


@EVAL_WITH_SOFT_LABELS
def test_forward_computes_the_four_term_objective_with_config_weights():
    model = tiny_model(multi_loss={"center_weight": 0.5, "supcon_weight": 0.25, "focal_gamma": 1.0})
    model.eval()
    values = torch.stack(waveforms(3000, 3000, 3000, 3000))
    labels = torch.tensor([2, 0, 2, 1])
    soft_labels = torch.tensor(
        [[0.0, 0.3, 0.7, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.2, 0.8, 0.0, 0.0]]
    )
    with torch.no_grad():
        output = model(values, labels=labels, soft_labels=soft_labels)
        hard = model(values, labels=labels)
        from_soft_only = model(values, soft_labels=soft_labels)
    log_probs = output.logits.log_softmax(dim=-1)
    probs = log_probs.exp()
    # KL(t || p) = sum t log t - sum t log p, with 0 log 0 = 0.
    entropy_part = torch.where(soft_labels > 0, soft_labels * soft_labels.log(), 0.0).sum(-1)
    kl = (entropy_part - (soft_labels * log_probs).sum(-1)).mean()
    focal = (-(soft_labels * (1 - probs) * log_probs).sum(-1)).mean()  # gamma 1, no alpha
    distances = (output.embeddings[:, None, :] - model.class_centers[None]).pow(2).sum(-1)
    center = 0.5 * (soft_labels * distances).sum(-1).mean()
    torch.testing.assert_close(output.kl_loss, kl)
    torch.testing.assert_close(output.focal_loss, focal)
    torch.testing.assert_close(output.center_loss, center)
    # SupCon: anchors 0 and 2 (label 2) are each other's only positive; 1 and 3 have none.
    unit = F.normalize(output.embeddings, dim=-1)
    similarity = unit @ unit.T / 0.07
    anchor_losses = [
        -(similarity[i, j] - torch.logsumexp(similarity[i, [k for k in range(4) if k != i]], 0))
        for i, j in ((0, 2), (2, 0))
    ]
    torch.testing.assert_close(output.supervised_contrastive_loss, sum(anchor_losses) / 2)
    torch.testing.assert_close(
        output.loss,
        kl + focal + 0.5 * center + 0.25 * output.supervised_contrastive_loss,
    )
    # Hard labels alone: one-hot targets (KL = cross-entropy); soft targets alone: argmax labels.
    torch.testing.assert_close(hard.kl_loss, F.cross_entropy(hard.logits, labels))
    # argmax of soft_labels is [2, 0, 2, 1] = labels.
    torch.testing.assert_close(from_soft_only.loss, output.loss)
    with pytest.raises(ValueError, match="soft_labels"):
        model(values, soft_labels=soft_labels[:, :3])
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        model(values, labels=torch.tensor([0, 1, 2, 4]))


@EVAL_WITH_SOFT_LABELS
def test_the_deprecated_soft_targets_keyword_warns_and_gives_the_same_loss():
    model = tiny_model(multi_loss={"center_weight": 0.5, "supcon_weight": 0.25})
    model.eval()
    values = torch.stack(waveforms(3000, 3000, 3000))
    labels = torch.tensor([2, 0, 1])
    soft_labels = torch.tensor([[0.0, 0.3, 0.7, 0.0], [1.0, 0.0, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0]])
    with torch.no_grad():
        output = model(values, labels=labels, soft_labels=soft_labels)
        with pytest.warns(
            FutureWarning, match=r"soft_targets .* removed in 0\.6: pass soft_labels"
        ):
            old = model(values, labels=labels, soft_targets=soft_labels)
    assert torch.equal(old.loss, output.loss)
    for term in ("kl_loss", "focal_loss", "center_loss", "supervised_contrastive_loss"):
        assert torch.equal(getattr(old, term), getattr(output, term)), term
    with pytest.raises(ValueError, match="give soft_labels only"):
        model(values, soft_labels=soft_labels, soft_targets=soft_labels)


def test_every_trainable_parameter_gets_a_gradient_inside_forward():
    """DDP and ZeRO-3 need every parameter used by the loss to be used in forward."""
    model = tiny_model(freeze_feature_encoder=False)
    model.train()
    values = torch.stack(waveforms(3000, 3000, 3000, 3000))
    output = model(values, labels=torch.tensor([0, 1, 0, 1]))
    output.loss.backward()
    assert model.class_centers.grad is not None and model.class_centers.grad.abs().sum() > 0
    unused = [
        name
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and parameter.grad is None
    ]
    # WavLM's mask embedding is used only with mask_time_prob > 0 (SpecAugment).
    assert unused == ["encoder.masked_spec_embed"]


def test_loss_settings_are_saved_and_a_term_with_weight_zero_is_left_out(tmp_path):
    model = tiny_model(multi_loss={"supcon_weight": 0.0, "focal_alpha": [1.0, 2.0, 1.0, 1.0]})
    model.save_pretrained(tmp_path)
    loaded = FlamForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.config.multi_loss == model.config.multi_loss
    assert loaded.config.multi_loss["center_weight"] == 0.01  # the default, written out
    values = torch.stack(waveforms(3000, 3000))
    with torch.no_grad():
        output = loaded(values, labels=torch.tensor([1, 1]))
    assert output.supervised_contrastive_loss is None
    torch.testing.assert_close(
        output.loss,
        output.kl_loss + output.focal_loss + 0.01 * output.center_loss,
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="focal_alpha has 2 weights for 4 classes"):
        tiny_model(multi_loss={"focal_alpha": [1.0, 2.0]})
    with pytest.raises(ValueError, match="multi_loss: unknown keys \\['center'\\]"):
        tiny_model(multi_loss={"center": 1.0})


def test_trainer_label_inputs_and_predictions_are_logits():
    """transformers' Trainer counts forward arguments holding "label" as label inputs: `labels`
    is the only one (the soft labels are a keyword of **kwargs), so a plain TrainingArguments
    gathers the hard labels, as MultiLossTrainingArguments does."""
    from transformers.utils import find_labels

    from eam_ser.training.arguments import MultiLossTrainingArguments

    assert find_labels(FlamForSequenceClassification) == ["labels"]
    assert MultiLossTrainingArguments(output_dir="unused", report_to=[]).label_names == ["labels"]
    ignored = FlamConfig.keys_to_ignore_at_inference
    output = tiny_model()(torch.stack(waveforms(3000)), labels=torch.tensor([1]))
    assert [key for key in output if key not in [*ignored, "loss"]] == ["logits"]


def test_return_dict_false_and_hidden_states():
    model = tiny_model()
    values = torch.stack(waveforms(3000))
    with torch.no_grad():
        output = model(values, output_hidden_states=True)
        as_tuple = model(values, return_dict=False)
    assert len(output.hidden_states) == 3  # embedding output + 2 layers
    assert output.frame_attention is None
    torch.testing.assert_close(as_tuple[0], output.logits)


def test_weighted_layer_sum_uses_all_layers():
    model = tiny_model(use_weighted_layer_sum=True)
    assert model.layer_weights.shape == (3,)
    torch.testing.assert_close(model.layer_weights.detach(), torch.full((3,), 1.0 / 3.0))
    values = torch.stack(waveforms(3000, 3000))
    model(values).logits.sum().backward()
    assert (model.layer_weights.grad.abs() > 0).all()
    # Putting all weight on the last state reproduces the model without the weighted sum.
    last_only = tiny_model(use_weighted_layer_sum=False)
    state = {key: value for key, value in model.state_dict().items() if key != "layer_weights"}
    last_only.load_state_dict(state)
    with torch.no_grad():
        model.layer_weights.copy_(torch.tensor([-1e4, -1e4, 0.0]))
        torch.testing.assert_close(model(values).logits, last_only(values).logits)


def test_flam_hidden_size_projects_before_attention():
    model = tiny_model(flam_hidden_size=8, flam_num_attention_heads=2)
    assert model.input_projection.weight.shape == (8, 32)
    assert model.flam.layers[0].qkv.weight.shape == (24, 8)
    with torch.no_grad():
        assert model(torch.stack(waveforms(3000))).logits.shape == (1, 4)


def test_attentive_statistics_doubles_the_pooled_width():
    model = tiny_model(pooling="attentive_statistics")
    assert isinstance(model.flam, FrameLevelAttention)
    assert model.projector.in_features == 64


# -- bad input --------------------------------------------------------------------------------


def test_clip_shorter_than_receptive_field_raises():
    model = tiny_model()
    with pytest.raises(
        ValueError, match=r"input_values row 0 has 30 samples.*40 samples \(0\.0025 s"
    ):
        model(torch.zeros(1, 30))
    values, mask = pad_batch(waveforms(3000, 20))
    with pytest.raises(ValueError, match="input_values row 1 has 20 samples"):
        model(values, attention_mask=mask)
    with pytest.raises(ValueError, match="input_values"):
        model(input_features=torch.zeros(1, 80, 100))


def test_all_padding_row_is_refused_by_name():
    """Issue 30, problem 14: an all-zero attention-mask row returned logits (an answer about
    nothing); forward now names the row."""
    model = tiny_model().train()
    values, mask = pad_batch(waveforms(3000, 3000))
    mask[1] = 0
    with pytest.raises(ValueError, match="attention_mask row 1 is all 0"):
        model(values, attention_mask=mask, labels=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="attention_mask row 0 is all 0"):
        model(values, attention_mask=torch.zeros_like(mask))


def test_frame_attention_on_a_row_without_frames_stays_finite():
    """Inside the model a row without a valid frame (the module's own contract) pools to
    finite values with zero attention and finite gradients: never NaN."""
    model = tiny_model().train()
    features = torch.randn(2, 9, model.config.flam_width, requires_grad=True)
    frame_mask = torch.ones(2, 9, dtype=torch.bool)
    frame_mask[1] = False
    pooled, attention = model.flam(features, frame_mask)
    assert torch.isfinite(pooled).all()
    assert attention[1].abs().max() == 0
    pooled.sum().backward()
    assert torch.isfinite(features.grad).all()
    assert features.grad[0].abs().sum() > 0


# -- config -----------------------------------------------------------------------------------


def test_config_validation_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match="flam_num_attention_heads"):
        FlamConfig(encoder_config=tiny_wavlm_config(), flam_num_attention_heads=5)
    with pytest.raises(ValueError, match="encoder_input_name"):
        FlamConfig(encoder_config=tiny_wavlm_config(), encoder_input_name="input_features")
    with pytest.raises(ValueError, match="freeze_encoder_steps"):
        FlamConfig(encoder_config=tiny_wavlm_config(), freeze_encoder_steps=-2)
    with pytest.raises(ValueError, match="pooling"):
        FlamConfig(encoder_config=tiny_wavlm_config(), pooling="max")
    with pytest.raises(ValueError, match="not a supported speech encoder"):
        FlamForSequenceClassification(FlamConfig(encoder_config=BertConfig(hidden_size=32)))
    config = FlamConfig(encoder_config=tiny_wavlm_config(), id2label=ID2LABEL, pooling="mean")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, FlamConfig)
    assert loaded.encoder_config.model_type == "wavlm" and loaded.encoder_config.hidden_size == 32
    assert (loaded.pooling, loaded.num_labels, loaded.id2label) == ("mean", 4, ID2LABEL)
    assert loaded.encoder_input_name == "input_values"


# -- transformers integration -----------------------------------------------------------------


def test_save_load_round_trip_and_auto_class(tmp_path):
    model = tiny_model(use_weighted_layer_sum=True)
    values, mask = pad_batch(waveforms(4000, 2500))
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, FlamForSequenceClassification)
    torch.testing.assert_close(loaded.class_centers, model.class_centers, atol=0, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(values, attention_mask=mask).logits,
            model(values, attention_mask=mask).logits,
            atol=0,
            rtol=0,
        )


def test_audio_classification_pipeline(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(tmp_path)
    wav_path = tmp_path / "clip.wav"
    soundfile.write(wav_path, tone(0.5, 330.0), 16000)
    classifier = pipeline("audio-classification", model=str(tmp_path), device="cpu")
    # A path or bytes would need ffmpeg inside the pipeline; give it the decoded file instead.
    waveform, sampling_rate = soundfile.read(wav_path, dtype="float32")
    predictions = classifier({"raw": waveform, "sampling_rate": sampling_rate}, top_k=4)
    assert sorted(item["label"] for item in predictions) == sorted(ID2LABEL.values())
    assert math.isclose(sum(item["score"] for item in predictions), 1.0, abs_tol=1e-5)


def test_gradient_checkpointing_gives_same_gradients():
    values = torch.stack(waveforms(3000, 3000))
    labels = torch.tensor([1, 3])
    gradients = []
    for checkpointing in (False, True):
        model = tiny_model(seed=1).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert model.encoder.encoder.layers[0].gradient_checkpointing
        model(values, labels=labels).loss.backward()
        gradients.append(
            model.encoder.encoder.layers[0].feed_forward.intermediate_dense.weight.grad
        )
    assert gradients[1].abs().sum() > 0
    torch.testing.assert_close(gradients[0], gradients[1])


def test_bf16_autocast_forward_is_finite():
    model = tiny_model()
    values, mask = pad_batch(waveforms(4000, 2000))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(values, attention_mask=mask, labels=torch.tensor([0, 1]))
    assert torch.isfinite(output.logits.float()).all() and torch.isfinite(output.loss)
    with torch.no_grad():
        reference = model(values, attention_mask=mask).logits
    np.testing.assert_allclose(output.logits.float().numpy(), reference.numpy(), atol=0.05)


def test_torch_export_and_compile_fullgraph_match_eager_and_checks_stay_in_python():
    """The data-dependent length checks run in eager mode and in `check_inputs`, never inside a
    traced graph, so torch.export and torch.compile(fullgraph=True) take the model whole."""
    model = tiny_model()
    values = torch.stack(waveforms(3000, 3000))
    mask = torch.ones(2, 3000, dtype=torch.long)
    mask[1, 2000:] = 0
    auto = torch.export.Dim.AUTO
    exported = torch.export.export(
        model,
        (),
        {"input_values": values, "attention_mask": mask},
        dynamic_shapes={"input_values": {0: auto, 1: auto}, "attention_mask": {0: auto, 1: auto}},
    )
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    # Another batch size and length than the export example.
    other = torch.stack(waveforms(5123, 5123, 5123, seed=1))
    other_mask = torch.ones(3, 5123, dtype=torch.long)
    other_mask[0, 4000:] = 0
    with torch.no_grad():
        eager = model(input_values=other, attention_mask=other_mask).logits
        from_export = exported.module()(input_values=other, attention_mask=other_mask).logits
        from_compile = compiled(input_values=other, attention_mask=other_mask).logits
    torch.testing.assert_close(from_export, eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_compile, eager, rtol=1e-5, atol=1e-5)
    short_mask = other_mask.clone()
    short_mask[2, 30:] = 0  # 30 samples: below the 40-sample receptive field
    with pytest.raises(ValueError, match="row 2 has 30 samples"):
        model(input_values=other, attention_mask=short_mask)
    with pytest.raises(ValueError, match="row 2 has 30 samples"):
        model.check_inputs(input_values=other, attention_mask=short_mask)


def test_set_loss_settings_keeps_the_cross_process_switch_and_the_training_mode():
    model = tiny_model()
    assert not model.multi_loss.cross_process
    model.set_loss_settings(model.config.loss_settings, cross_process=True)
    assert model.multi_loss.cross_process and not model.multi_loss.training
    model.train()
    model.set_loss_settings(MultiLossSettings(center_weight=0.5))
    assert model.multi_loss.cross_process and model.multi_loss.training
    assert model.config.multi_loss["center_weight"] == 0.5


def test_saved_folder_loads_with_trust_remote_code_without_eam_ser(tmp_path):
    """The folder carries modeling_flam.py and every module it imports relatively."""
    model = tiny_model()
    model.save_pretrained(tmp_path)
    values = torch.stack(waveforms(3000))
    # One thread on both sides: a reduction split over another thread count may round the
    # last bit differently, and the comparison below is exact.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            # Loaded as the other side loads it: from_pretrained may pick another attention
            # implementation than the constructor, which rounds the last bit differently.
            loaded = FlamForSequenceClassification.from_pretrained(tmp_path).eval()
            expected = loaded(values).logits
    finally:
        torch.set_num_threads(threads)
    torch.save(values, tmp_path / "values.pt")
    script = (
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        "sys.modules['eam_ser'] = None  # importing eam_ser would fail\n"
        "from transformers import AutoModelForAudioClassification\n"
        f"path = {str(tmp_path)!r}\n"
        "model = AutoModelForAudioClassification.from_pretrained(path, trust_remote_code=True)\n"
        "with torch.no_grad():\n"
        "    logits = model.eval()(torch.load(path + '/values.pt')).logits\n"
        "torch.save(logits, path + '/logits.pt')\n"
        "print(type(model).__module__)\n"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().startswith("transformers_modules.")
    torch.testing.assert_close(torch.load(tmp_path / "logits.pt"), expected, atol=0, rtol=0)
