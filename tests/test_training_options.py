"""Issue 12's training options: partial fine-tuning, learning rates per part, class-balanced
sampling, a validation split of training speakers, training crops, the comparison mixers,
and the frozen-encoder feature cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperFeatureExtractor

from conftest import tiny_wavlm_config, tone
from eam_ser.cli import build_parser, config_from_args
from eam_ser.corpora import load_manifest
from eam_ser.data.audio import random_crop
from eam_ser.experiment.build import build_collator, build_feature_extractor, feature_cache_mode
from eam_ser.experiment.config import ExperimentConfig
from eam_ser.experiment.crossval import split_validation_speakers, train_model
from eam_ser.experiment.results import summarize_runs
from eam_ser.inference.evaluation import predict_logits
from eam_ser.mixup import EnergyAdaptiveMixupCollator
from eam_ser.mixup.baselines import MixupCollator, WholeClipMixCollator
from eam_ser.models.flam.configuration_flam import FlamConfig
from eam_ser.models.flam.modeling_flam import FlamForSequenceClassification
from eam_ser.training.feature_cache import (
    CachedFeatureCollator,
    EncoderFeatureCache,
    PartiallyCachedMixupCollator,
)
from eam_ser.training.trainer import MultiLossTrainer, MultiLossTrainingArguments
from test_crossval import TINY_CONFIG, write_tone_corpus
from test_whisper_flam import tiny_whisper_flam


def tiny_model(**flam) -> FlamForSequenceClassification:
    config = FlamConfig(
        encoder_config=tiny_wavlm_config(),
        num_labels=3,
        embedding_size=8,
        flam_num_attention_heads=2,
        **flam,
    )
    return FlamForSequenceClassification(config)


def trainable(module: torch.nn.Module) -> set[str]:
    return {name for name, parameter in module.named_parameters() if parameter.requires_grad}


# ----------------------------------------------------------------- trainable_encoder_layers


def test_trainable_encoder_layers_wav2vec_style() -> None:
    model = tiny_model(trainable_encoder_layers=1)
    encoder_names = trainable(model.encoder)
    assert encoder_names and all(name.startswith("encoder.layers.1.") for name in encoder_names)
    assert "classifier.weight" in trainable(model) and "class_centers" in trainable(model)
    model.freeze_encoder()
    assert trainable(model.encoder) == set()
    model.unfreeze_encoder()  # the policy holds after a freeze / unfreeze cycle
    assert trainable(model.encoder) == encoder_names
    assert trainable(tiny_model(trainable_encoder_layers=0).encoder) == set()
    everything = trainable(tiny_model().encoder)
    assert any(name.startswith("encoder.layers.0.") for name in everything)
    with pytest.raises(ValueError, match="between 0 and the encoder's 2 layers, got 3"):
        tiny_model(trainable_encoder_layers=3)


def test_trainable_encoder_layers_whisper_includes_final_layer_norm() -> None:
    whisper = WhisperConfig(
        d_model=32,
        encoder_layers=3,
        encoder_attention_heads=2,
        encoder_ffn_dim=64,
        num_mel_bins=80,
        max_source_positions=100,
    )
    config = FlamConfig(
        encoder_config=whisper, num_labels=2, flam_num_attention_heads=2, trainable_encoder_layers=2
    )
    names = trainable(FlamForSequenceClassification(config).encoder)
    layers = {name.split(".")[1] for name in names if name.startswith("layers.")}
    assert layers == {"1", "2"}
    assert {"layer_norm.weight", "layer_norm.bias"} <= names
    assert not any(name.startswith(("conv1", "conv2", "embed_positions")) for name in names)


# ------------------------------------------------------------------ learning rates per part


def test_optimizer_groups_get_each_parts_learning_rate(tmp_path: Path) -> None:
    model = tiny_model()
    arguments = MultiLossTrainingArguments(
        output_dir=str(tmp_path),
        learning_rate=0.5,
        head_learning_rate=1e-3,
        encoder_learning_rate=2e-5,
        center_learning_rate=0.1,
        weight_decay=0.01,
        use_cpu=True,
        report_to="none",
    )
    trainer = MultiLossTrainer(model=model, args=arguments)
    optimizer = trainer.create_optimizer()
    rate_of = {}
    decay_of = {}
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            rate_of[id(parameter)] = group["lr"]
            decay_of[id(parameter)] = group["weight_decay"]
    encoder_ids = {id(p) for p in model.encoder.parameters() if p.requires_grad}
    head = [p for n, p in model.named_parameters() if p.requires_grad and id(p) not in encoder_ids]
    assert {rate_of[i] for i in encoder_ids} == {2e-5}
    assert {rate_of[id(p)] for p in head if p is not model.class_centers} == {1e-3}
    assert rate_of[id(model.class_centers)] == 0.1 and decay_of[id(model.class_centers)] == 0.0
    assert decay_of[id(model.classifier.weight)] == 0.01
    assert decay_of[id(model.classifier.bias)] == 0.0  # Trainer's split kept
    # Every trainable parameter is in exactly one group.
    counted = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(counted) == sorted(id(p) for p in model.parameters() if p.requires_grad)
    # Left unset, every part trains at `learning_rate` (the centers at the head's).
    assert MultiLossTrainingArguments(
        output_dir=str(tmp_path), learning_rate=3e-4
    ).group_learning_rates() == {"encoder": 3e-4, "head": 3e-4, "centers": 3e-4}
    with pytest.raises(ValueError, match="encoder_learning_rate must be >= 0"):
        MultiLossTrainingArguments(output_dir=str(tmp_path), encoder_learning_rate=-1.0)


def test_balanced_sampling_weights_classes_equally(tmp_path: Path) -> None:
    from datasets import Dataset

    dataset = Dataset.from_dict({"audio": [[0.0]] * 6, "label": [0, 0, 0, 0, 1, 2]})
    arguments = MultiLossTrainingArguments(
        output_dir=str(tmp_path), balanced_sampling=True, seed=3, report_to="none", use_cpu=True
    )
    trainer = MultiLossTrainer(model=tiny_model(), args=arguments, train_dataset=dataset)
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, torch.utils.data.WeightedRandomSampler)
    # weight 1 / count: class 0 rows 1/4 each, the single rows of classes 1 and 2 weight 1.
    assert sampler.weights.tolist() == [0.25, 0.25, 0.25, 0.25, 1.0, 1.0]
    assert sampler.num_samples == 6
    draws = np.array(dataset["label"])[list(sampler)]
    assert len(draws) == 6
    no_label = Dataset.from_dict({"audio": [[0.0]]})
    with pytest.raises(
        ValueError, match="balanced_sampling needs a training dataset with a 'label'"
    ):
        trainer._get_train_sampler(no_label)


# ----------------------------------------------------------------- experiment configuration


def test_learning_rate_flags_and_trainable_layers_from_the_command_line() -> None:
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "m.csv",
            "--cv",
            "--head-learning-rate",
            "0.002",
            "--encoder-learning-rate",
            "1e-5",
            "--trainable-encoder-layers",
            "2",
            "--validation-speakers",
            "1",
        ]
    )
    config = config_from_args(args)
    assert config.learning_rates == {
        "head_learning_rate": 0.002,
        "encoder_learning_rate": 1e-5,
        "center_learning_rate": 0.002,
    }
    assert config.flam["trainable_encoder_layers"] == 2
    assert config.training.validation_speakers == 1


def test_baseline_mixing_config_builds_its_collator() -> None:
    extractor_config = ExperimentConfig.from_dict(TINY_CONFIG)
    extractor = build_feature_extractor(extractor_config)
    whole = ExperimentConfig.from_dict(
        {**TINY_CONFIG, "baseline_mixing": {"method": "whole_clip", "target": "union"}}
    )
    collator = build_collator(whole, 2, extractor, seed=0)
    assert isinstance(collator, WholeClipMixCollator) and collator.target == "union"
    assert (collator.min_snr_db, collator.max_snr_db) == (
        whole.eam.min_snr_db,
        whole.eam.max_snr_db,
    )
    mixup = ExperimentConfig.from_dict(
        {**TINY_CONFIG, "baseline_mixing": {"method": "mixup", "alpha": 0.2}}
    )
    assert build_collator(mixup, 2, extractor, seed=0).alpha == 0.2
    assert isinstance(
        build_collator(extractor_config, 2, extractor, seed=0), EnergyAdaptiveMixupCollator
    )
    with pytest.raises(ValueError, match=r"\['method'\] must be one of \['mixup', 'whole_clip'\]"):
        ExperimentConfig.from_dict({"baseline_mixing": {"method": "cutmix"}})
    with pytest.raises(ValueError, match=r"unknown keys \['alpha'\] for method 'whole_clip'"):
        ExperimentConfig.from_dict({"baseline_mixing": {"method": "whole_clip", "alpha": 1}})


def test_summarize_runs_hand_worked() -> None:
    runs = [
        {"wa": 0.5, "ua": 0.4, "macro_f1": 0.3},
        {"wa": 0.7, "ua": 0.6, "macro_f1": 0.5},
    ]
    summary = summarize_runs(runs)
    assert summary["num_runs"] == 2
    assert summary["mean"] == pytest.approx({"wa": 0.6, "ua": 0.5, "macro_f1": 0.4})
    # sample std of two values a, b: |a - b| / sqrt(2)
    assert summary["std"]["ua"] == pytest.approx(0.2 / np.sqrt(2))
    assert summarize_runs(runs[:1])["std"]["wa"] == 0.0


# ------------------------------------------------------------------------- validation split


def test_validation_speakers_come_from_training_speakers(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path))
    train = dataset.filter(lambda row: row["fold"] == 1)  # speakers s3, s4
    part, validation = split_validation_speakers(train, 1, seed=0)
    assert len(set(validation["speaker"])) == 1
    assert set(part["speaker"]) | set(validation["speaker"]) == {"s3", "s4"}
    assert not set(part["speaker"]) & set(validation["speaker"])
    assert part.num_rows + validation.num_rows == train.num_rows
    again, _ = split_validation_speakers(train, 1, seed=0)
    assert again["speaker"] == part["speaker"]
    with pytest.raises(ValueError, match=r"validation_speakers=2 needs more training speakers"):
        split_validation_speakers(train, 2, seed=0)


def test_train_model_with_validation_speakers_keeps_the_best_epoch(tmp_path: Path) -> None:
    dataset = load_manifest(write_tone_corpus(tmp_path, speakers=("s1", "s2", "s3", "s4")))
    values = json.loads(json.dumps(TINY_CONFIG))
    values["training"] = {
        "num_train_epochs": 3,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "seed": 7,
        "validation_speakers": 1,
    }
    config = ExperimentConfig.from_dict(values)
    model, _ = train_model(dataset, config, tmp_path / "run", disable_tqdm=True)
    checkpoints = sorted(
        (tmp_path / "run").glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1])
    )
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_ua" in entry]
    assert len(evaluations) == 3  # one per epoch, on the held-out training speaker
    best = max(entry["eval_ua"] for entry in evaluations)
    assert state["best_metric"] == pytest.approx(best)
    # The returned model is the best epoch's.
    best_folder = Path(state["best_model_checkpoint"])
    best_model = FlamForSequenceClassification.from_pretrained(best_folder)
    assert torch.equal(best_model.classifier.weight, model.classifier.weight.cpu())


# ----------------------------------------------------------------------------- crops, mixers


def test_random_crop_window() -> None:
    waveform = np.arange(10, dtype=np.float32)
    crop = random_crop(waveform, 4, np.random.default_rng(0))
    assert crop.shape == (4,)
    assert np.array_equal(crop, np.arange(crop[0], crop[0] + 4, dtype=np.float32))
    assert random_crop(waveform, 20, np.random.default_rng(0)) is waveform


def test_collator_crops_training_clips_only() -> None:
    collator = EnergyAdaptiveMixupCollator(2, p=0.0, seed=0, max_train_seconds=0.1)
    features = [{"audio": tone(0.5), "label": 0}, {"audio": tone(0.05), "label": 1}]
    batch = collator(features)
    assert batch["input_values"].shape == (2, 1600)
    assert batch["attention_mask"].sum(dim=1).tolist() == [1600, 800]
    assert collator.as_eval()(features)["input_values"].shape == (2, 8000)
    with pytest.raises(
        ValueError,
        match=r"max_train_seconds must be a finite number \(s\) >= 6.25e-05 \(or None\), got 0.0",
    ):
        EnergyAdaptiveMixupCollator(2, max_train_seconds=0.0)


def padding_collator() -> EnergyAdaptiveMixupCollator:
    return EnergyAdaptiveMixupCollator(3, normalize=False, seed=0)


def test_whole_clip_mix_reaches_the_drawn_snr_and_targets() -> None:
    first, second = tone(0.5, 300.0, amplitude=0.5), tone(0.25, 700.0, amplitude=0.1)
    features = [{"audio": first, "label": 0}, {"audio": second, "label": 2}]
    for target, partner_weight in (("original", 0.0), ("union", 0.5)):
        collator = WholeClipMixCollator(
            padding_collator(), p=1.0, min_snr_db=3.0, max_snr_db=3.0, target=target, seed=0
        )
        batch = collator(features)
        mixed = batch["input_values"][0, : first.shape[0]].double().numpy()
        added = mixed - first
        # The whole partner (0.25 s) is added to the first 0.25 s of the 0.5 s clip.
        assert np.abs(added[second.shape[0] :]).max() == 0.0
        own = np.mean(first.astype(np.float64) ** 2)
        partner = np.mean(added[: second.shape[0]] ** 2)
        # SNR from the whole clips' energies: P_added over the partner's part = P_own / 10^0.3.
        assert 10 * np.log10(own / partner) == pytest.approx(3.0, abs=1e-4)
        assert batch["soft_labels"][0].tolist() == pytest.approx(
            [1.0 - partner_weight, 0.0, partner_weight]
        )
        assert batch["labels"].tolist() == [0, 2]


def test_mixup_is_a_convex_combination_with_matching_soft_label() -> None:
    features = [
        {"audio": np.full(800, 0.5, np.float32), "label": 0},
        {"audio": np.full(800, -0.5, np.float32), "label": 1},
    ]
    collator = MixupCollator(padding_collator(), p=1.0, alpha=0.4, seed=3)
    batch = collator(features)
    for row, (own, other) in enumerate(((0, 1), (1, 0))):
        value = float(batch["input_values"][row, 0])
        sign = 1.0 if own == 0 else -1.0
        # lam * s + (1 - lam) * (-s) = (2 lam - 1) s
        own_weight = (sign * value / 0.5 + 1.0) / 2.0
        assert np.allclose(batch["input_values"][row].numpy(), value)
        assert float(batch["soft_labels"][row, own]) == pytest.approx(own_weight, abs=1e-6)
        assert float(batch["soft_labels"][row, other]) == pytest.approx(1 - own_weight, abs=1e-6)
        expected_label = own if own_weight >= 0.5 else other
        assert int(batch["labels"][row]) == expected_label
    # Evaluation batches pass through unmixed.
    assert collator.as_eval()(features)["input_values"][0, 0] == 0.5


# ---------------------------------------------------------------------------- feature cache


def frozen_deterministic_config() -> dict:
    """TINY_CONFIG with a frozen encoder that computes the same in train and eval mode, so
    cached (eval-mode) frames equal the ones training would compute."""
    values = json.loads(json.dumps(TINY_CONFIG))
    values["encoder_config"].update(
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        mask_time_prob=0.0,  # SpecAugment (train mode only) would differ from the cached frames
    )
    values["flam"].update(freeze_encoder_steps=-1)
    return values


def test_encode_then_forward_equals_forward() -> None:
    torch.manual_seed(0)
    model = tiny_model().eval()
    waveforms = torch.from_numpy(np.stack([tone(0.4), tone(0.4, 500.0)]))
    mask = torch.ones_like(waveforms, dtype=torch.long)
    mask[1, 3000:] = 0
    direct = model(input_values=waveforms, attention_mask=mask).logits
    hidden, frame_mask = model.encode(input_values=waveforms, attention_mask=mask)
    cached = model(encoder_hidden_states=hidden, attention_mask=frame_mask).logits
    assert torch.allclose(direct, cached, atol=1e-6)
    with pytest.raises(ValueError, match=r"attention_mask is the frame mask \(batch, frames\)"):
        model(encoder_hidden_states=hidden, attention_mask=mask)
    with pytest.raises(ValueError, match="not both"):
        model(input_values=waveforms, encoder_hidden_states=hidden)


def train_with_and_without_cache(tmp_path: Path, p: float, max_steps: int) -> tuple:
    """The same frozen-encoder run (EAM probability `p`) with the feature cache on and off:
    ``(dataset, values, cached model, plain model, extractor, cached config, plain config)``."""
    dataset = load_manifest(write_tone_corpus(tmp_path))
    values = frozen_deterministic_config()
    values["eam"] = {"p": p}
    values["training"]["max_steps"] = max_steps
    cached_config = ExperimentConfig.from_dict(values)
    values["training"]["cache_encoder_features"] = False
    plain_config = ExperimentConfig.from_dict(values)
    cached_model, extractor = train_model(dataset, cached_config, tmp_path / "a")
    plain_model, _ = train_model(dataset, plain_config, tmp_path / "b")
    return dataset, values, cached_model, plain_model, extractor, cached_config, plain_config


def test_frozen_no_mix_training_uses_the_cache_with_the_same_result(tmp_path: Path) -> None:
    dataset, values, cached_model, plain_model, extractor, cached_config, plain_config = (
        train_with_and_without_cache(tmp_path, 0.0, 3)
    )
    assert feature_cache_mode(cached_config, cached_model) == "full"
    assert feature_cache_mode(plain_config, cached_model) is None
    for (name, cached), (_, plain) in zip(
        cached_model.named_parameters(), plain_model.named_parameters(), strict=True
    ):
        assert torch.allclose(cached, plain, atol=1e-5), name
    # The cache holds each clip's real frames; the collator pads them back.
    cache = EncoderFeatureCache(cached_model, extractor, dataset.select(range(3)))
    assert [f.shape[1] for f in cache.frames] == [16] * 3
    batch = CachedFeatureCollator(2)([cache[0], cache[1]])
    assert batch["encoder_hidden_states"].shape[0] == 2
    assert batch["soft_labels"].sum(dim=1).tolist() == [1.0, 1.0]
    mixing = {**values, "eam": {"p": 0.5}}
    assert feature_cache_mode(ExperimentConfig.from_dict(mixing), cached_model) is None
    mixing["training"] = {**values["training"], "cache_encoder_features": True}
    assert feature_cache_mode(ExperimentConfig.from_dict(mixing), cached_model) == "partial"
    mixing["training"]["max_train_seconds"] = 1.0
    assert feature_cache_mode(ExperimentConfig.from_dict(mixing), cached_model) is None


@pytest.mark.parametrize("encoder", ["wavlm", "whisper"])
def test_partial_cache_batch_is_the_eam_batch_with_only_mixed_rows_encoded(encoder: str) -> None:
    """Same seed: the same mixes and soft labels as the EAM collator, and after the device
    hook the same logits as the whole model on the EAM collator's batch."""
    if encoder == "whisper":
        model = tiny_whisper_flam(freeze_encoder_steps=-1)
        extractor = WhisperFeatureExtractor(feature_size=16, return_attention_mask=True)
    else:
        torch.manual_seed(0)
        model = tiny_model(freeze_encoder_steps=-1).eval()
        extractor = None
    rng = np.random.default_rng(3)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (4000, 6400, 5200, 4800)]
    dataset = {"audio": clips, "label": [index % 3 for index in range(len(clips))]}

    def eam() -> EnergyAdaptiveMixupCollator:
        return EnergyAdaptiveMixupCollator(3, feature_extractor=extractor, p=0.5, seed=11)

    # The cache encodes with the extractor the EAM collator featurizes with.
    cache_extractor = extractor or build_feature_extractor(ExperimentConfig())
    cache = EncoderFeatureCache(model, cache_extractor, dataset, keep_waveforms=True)
    partial = PartiallyCachedMixupCollator(eam(), model)
    reference = eam()
    for _ in range(3):  # several batches: the generators stay in step
        items = [cache[index] for index in range(4)]
        batch = partial(items)
        expected = reference(
            [{"audio": clip, "label": row["label"]} for clip, row in zip(clips, items, strict=True)]
        )
        mixed = np.flatnonzero(reference.last_applied)
        assert np.array_equal(partial.mixup.last_applied, reference.last_applied)
        assert torch.equal(batch["soft_labels"], expected["soft_labels"])
        assert batch.get("mixed_rows", torch.empty(0)).tolist() == mixed.tolist()
        completed = partial.complete_on_device(batch)
        with torch.no_grad():
            logits = model(
                **{k: v for k, v in completed.items() if k not in {"labels", "soft_labels"}}
            ).logits
            whole = model(
                **{k: v for k, v in expected.items() if k not in {"labels", "soft_labels"}}
            ).logits
        assert torch.allclose(logits, whole, atol=1e-5)
    assert partial.as_eval()(items)["soft_labels"].sum(dim=1).tolist() == [1.0] * 4


def test_frozen_eam_training_with_the_partial_cache_gives_the_same_model(tmp_path: Path) -> None:
    dataset, _, partial_model, plain_model, extractor, partial_config, _ = (
        train_with_and_without_cache(tmp_path, 0.5, 4)
    )
    assert feature_cache_mode(partial_config, partial_model) == "partial"
    for (name, partial), (_, plain) in zip(
        partial_model.named_parameters(), plain_model.named_parameters(), strict=True
    ):
        # The attention-pooling score's bias shifts every frame's score alike, so softmax
        # ignores it: its gradient is float noise that Adam scales up to full steps.
        tolerance = 1e-3 if name == "flam.pooling_scorer.2.bias" else 1e-6
        assert torch.allclose(partial, plain, atol=tolerance), name
    assert torch.allclose(
        torch.from_numpy(predict_logits(partial_model, extractor, dataset)),
        torch.from_numpy(predict_logits(plain_model, extractor, dataset)),
        atol=1e-5,
    )


def test_partial_cache_refuses_a_cropping_collator() -> None:
    model = tiny_model(freeze_encoder_steps=-1)
    with pytest.raises(ValueError, match="max_train_seconds=None"):
        PartiallyCachedMixupCollator(EnergyAdaptiveMixupCollator(3, max_train_seconds=1.0), model)


def test_validation_speakers_fit_the_score_temperature_the_saved_model_applies(
    tmp_path: Path,
) -> None:
    from eam_ser.corpora import label_names
    from eam_ser.evaluation.calibration import calibration, fit_temperature, softmax
    from eam_ser.inference import EmotionRecognizer

    manifest = write_tone_corpus(tmp_path, speakers=("s1", "s2", "s3", "s4"))
    # One clip per speaker labelled against its tone: a validation speaker the model gets all
    # right leaves no temperature to fit (fit_temperature then keeps T = 1, warned).
    manifest.write_text(manifest.read_text().replace("_low_1.wav,low,", "_low_1.wav,high,"))
    dataset = load_manifest(manifest)
    values = json.loads(json.dumps(TINY_CONFIG))
    values["training"] = {"max_steps": 6, "per_device_train_batch_size": 4, "seed": 7}
    values["training"]["validation_speakers"] = 1
    config = ExperimentConfig.from_dict(values)
    model, extractor = train_model(dataset, config, tmp_path / "run", disable_tqdm=True)
    _, validation = split_validation_speakers(dataset, 1, seed=7)
    logits = predict_logits(model, extractor, validation)
    model_labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    names = label_names(validation)
    references = np.array([model_labels.index(names[label]) for label in validation["label"]])
    temperature = model.config.score_temperature
    assert temperature == pytest.approx(fit_temperature(logits, references))
    assert temperature != 1.0
    assert (
        calibration(softmax(logits, temperature), references)["nll"]
        <= (calibration(softmax(logits), references)["nll"])
    )
    # Saved and loaded back, the recognizer reports softmax(logits / T).
    model.save_pretrained(tmp_path / "saved")
    extractor.save_pretrained(tmp_path / "saved")
    recognizer = EmotionRecognizer.from_pretrained(tmp_path / "saved")
    assert recognizer.model.config.score_temperature == pytest.approx(temperature)
    scores = recognizer.probabilities(logits)
    np.testing.assert_allclose(scores, softmax(logits, temperature), atol=1e-6)
