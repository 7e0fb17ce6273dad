"""MultiLossTrainer: arguments, loss wiring, logging, accumulation, optimizer, eval, resume."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import dataclass

import datasets
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import HfArgumentParser, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ModelOutput

from conftest import tiny_wavlm_config, tone
from eam_ser.evaluation.metrics import compute_metrics
from eam_ser.mixup import EnergyAdaptiveMixupCollator
from eam_ser.models.flam.losses import MultiLoss, MultiLossSettings
from eam_ser.models.flam.modeling_flam import FlamConfig, FlamForSequenceClassification
from eam_ser.training.trainer import (
    EncoderFreezeCallback,
    MultiLossTrainer,
    MultiLossTrainingArguments,
)

NUM_LABELS = 3
INPUT_SIZE = 8
SAMPLING_RATE = 16000
TONE_FREQUENCIES_HZ = (300.0, 1500.0, 4000.0)


# ---- a tiny model that owns class centers ----


class TinyConfig(PretrainedConfig):
    model_type = "tiny-mll-test"

    def __init__(
        self,
        input_size=INPUT_SIZE,
        embedding_size=4,
        freeze_encoder_steps=0,
        multi_loss=None,
        **kwargs,
    ):
        self.input_size = input_size
        self.embedding_size = embedding_size
        self.freeze_encoder_steps = freeze_encoder_steps
        self.multi_loss = MultiLossSettings.from_dict(multi_loss).to_dict()
        kwargs.setdefault("num_labels", NUM_LABELS)
        super().__init__(**kwargs)


@dataclass
class TinyOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None
    kl_loss: torch.Tensor | None = None
    focal_loss: torch.Tensor | None = None
    center_loss: torch.Tensor | None = None
    supervised_contrastive_loss: torch.Tensor | None = None


class TinySerModel(PreTrainedModel):
    """input_values (batch, input_size) -> tanh(linear) embeddings -> linear logits; computes
    the MLL objective in forward, as FLAM does (the protocol MultiLossTrainer relies on)."""

    config_class = TinyConfig
    base_model_prefix = "encoder"
    main_input_name = "input_values"

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.encoder = nn.Linear(config.input_size, config.embedding_size)
        self.classifier = nn.Linear(config.embedding_size, config.num_labels)
        self.class_centers = nn.Parameter(torch.zeros(config.num_labels, config.embedding_size))
        self.freeze_calls: list[str] = []
        self.set_loss_settings(MultiLossSettings.from_dict(config.multi_loss))
        self.post_init()

    def set_loss_settings(self, settings: MultiLossSettings) -> None:
        self.config.multi_loss = settings.to_dict()
        self.multi_loss = MultiLoss(settings)

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            module.weight.normal_(0.0, 0.5)
            module.bias.zero_()
        if isinstance(module, TinySerModel):
            module.class_centers.normal_(0.0, 0.5)

    def freeze_encoder(self) -> None:
        self.freeze_calls.append("freeze")
        self.encoder.requires_grad_(False)

    def unfreeze_encoder(self) -> None:
        self.freeze_calls.append("unfreeze")
        self.encoder.requires_grad_(True)

    def forward(self, input_values, attention_mask=None, labels=None, soft_labels=None):
        embeddings = torch.tanh(self.encoder(input_values))
        logits = self.classifier(embeddings)
        if labels is None:
            return TinyOutput(logits=logits, embeddings=embeddings)
        if soft_labels is None:
            soft_labels = nn.functional.one_hot(labels, NUM_LABELS).float()
        result = self.multi_loss(logits, embeddings, soft_labels, labels, self.class_centers)
        return TinyOutput(
            loss=result.loss,
            logits=logits,
            embeddings=embeddings,
            kl_loss=result.terms.get("kl"),
            focal_loss=result.terms.get("focal"),
            center_loss=result.terms.get("center"),
            supervised_contrastive_loss=result.terms.get("supcon"),
        )


def tiny_model(seed: int = 0, **config_kwargs) -> TinySerModel:
    torch.manual_seed(seed)
    return TinySerModel(TinyConfig(**config_kwargs))


def vector_dataset(num_samples: int, seed: int = 0) -> list[dict]:
    """Separable vectors: class k has mean +2 on coordinate k."""
    rng = np.random.default_rng(seed)
    items = []
    for index in range(num_samples):
        label = index % NUM_LABELS
        vector = rng.normal(0.0, 0.5, INPUT_SIZE).astype(np.float32)
        vector[label] += 2.0
        items.append({"input_values": vector, "label": label})
    return items


class StubMixCollator:
    """Stacks vectors; in training mode mixes each sample 70/30 with the next one.

    Records "train"/"eval" per call in the shared `calls` list, so a test can tell which
    copy built each batch.
    """

    def __init__(self, calls: list[str] | None = None, training: bool = True) -> None:
        self.calls = [] if calls is None else calls
        self.training = training

    def as_eval(self) -> StubMixCollator:
        return StubMixCollator(self.calls, training=False)

    def __call__(self, features):
        self.calls.append("train" if self.training else "eval")
        inputs = torch.tensor(np.stack([f["input_values"] for f in features]))
        labels = torch.tensor([f["label"] for f in features])
        soft_labels = nn.functional.one_hot(labels, NUM_LABELS).float()
        if self.training and len(features) > 1:
            inputs = 0.7 * inputs + 0.3 * inputs.roll(1, dims=0)
            soft_labels = 0.7 * soft_labels + 0.3 * soft_labels.roll(1, dims=0)
        return {"input_values": inputs, "labels": labels, "soft_labels": soft_labels}


def training_args(output_dir, **kwargs) -> MultiLossTrainingArguments:
    defaults = {
        "output_dir": str(output_dir),
        "use_cpu": True,
        "report_to": [],
        "dataloader_num_workers": 0,
        "seed": 0,
        "data_seed": 0,
        "save_strategy": "no",
        "logging_steps": 1,
        "disable_tqdm": True,
        "warmup_steps": 0,
    }
    defaults.update(kwargs)
    return MultiLossTrainingArguments(**defaults)


# ---- arguments ----


def test_training_arguments_defaults_and_cli(tmp_path):
    args = MultiLossTrainingArguments(output_dir=str(tmp_path))
    assert args.remove_unused_columns is False
    assert args.label_names == ["labels"]
    # No loss field set: the model's config.multi_loss applies.
    assert args.loss_overrides() == {}
    assert args.supcon_across_processes is True
    explicit = MultiLossTrainingArguments(
        output_dir=str(tmp_path), label_names=["target"], remove_unused_columns=True
    )
    assert explicit.label_names == ["target"] and explicit.remove_unused_columns is True

    parser = HfArgumentParser(MultiLossTrainingArguments)
    (parsed,) = parser.parse_args_into_dataclasses(
        [
            "--output_dir",
            str(tmp_path),
            "--focal_alpha",
            "1,2.5,0.5",
            "--center_weight",
            "0.05",
            "--label_counts",
            "4",
            "2",
            "2",
        ]
    )
    assert parsed.focal_alpha == [1.0, 2.5, 0.5] and parsed.label_counts == [4, 2, 2]
    assert parsed.loss_overrides() == {"center_weight": 0.05, "focal_alpha": [1.0, 2.5, 0.5]}
    (parsed,) = parser.parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--focal_alpha", "inverse_frequency"]
    )
    assert parsed.focal_alpha == "inverse_frequency"
    with pytest.raises(ValueError, match="focal_alpha"):
        MultiLossTrainingArguments(output_dir=str(tmp_path), focal_alpha="balanced")
    with pytest.raises(ValueError, match="supcon_temperature"):
        MultiLossTrainingArguments(output_dir=str(tmp_path), supcon_temperature=0.0)
    with pytest.raises(
        ValueError, match=r"center_weight must be a finite number in \[0, 1e\+06\], got -1.0"
    ):
        MultiLossTrainingArguments(output_dir=str(tmp_path), center_weight=-1.0)
    with pytest.raises(ValueError, match="label_count_samples"):
        MultiLossTrainingArguments(output_dir=str(tmp_path), label_count_samples=0)


def test_trainer_rejects_plain_arguments_and_models_without_the_objective(tmp_path):
    from transformers import TrainingArguments, WavLMForSequenceClassification

    with pytest.raises(TypeError, match="MultiLossTrainingArguments"):
        MultiLossTrainer(model=tiny_model(), args=TrainingArguments(output_dir=str(tmp_path)))
    with pytest.raises(TypeError, match="does not compute the MLL objective"):
        MultiLossTrainer(
            model=WavLMForSequenceClassification(tiny_wavlm_config()), args=training_args(tmp_path)
        )


def test_loss_fields_of_the_arguments_are_written_into_the_model(tmp_path):
    model = tiny_model()
    MultiLossTrainer(model=model, args=training_args(tmp_path, center_weight=0.0, focal_gamma=0.5))
    assert model.config.multi_loss == {
        **MultiLossSettings().to_dict(),
        "center_weight": 0.0,
        "focal_gamma": 0.5,
    }
    assert model.multi_loss.weights["center"] == 0.0


def test_ddp_searches_for_unused_parameters_only_when_a_step_can_leave_one_out(tmp_path):
    """Trainer would search (a graph traversal per DDP step) for every PreTrainedModel."""

    def decided(model, **arguments) -> bool:
        args = training_args(tmp_path, **arguments)
        MultiLossTrainer(model=model, args=args)
        return args.ddp_find_unused_parameters

    def flam(**encoder) -> FlamForSequenceClassification:
        # mask_time_prob 0: no SpecAugment mask embedding (WavLM builds one otherwise).
        config = tiny_wavlm_config(mask_time_prob=0.0, **encoder)
        return FlamForSequenceClassification(FlamConfig(encoder_config=config, num_labels=3))

    assert decided(flam()) is False  # every parameter takes part in every step
    assert decided(flam(), center_weight=0.0) is True  # the centers take no part
    assert decided(flam(), kl_weight=0.0, focal_weight=0.0) is True  # nor the classifier
    assert decided(flam(), ddp_find_unused_parameters=True) is True  # the user's choice
    assert decided(tiny_flam()) is True  # its mask embedding: only steps that mask use it
    layerdrop = flam(layerdrop=0.1)
    assert decided(layerdrop) is True  # a skipped layer gets no gradient
    layerdrop.freeze_encoder()
    assert decided(layerdrop) is False  # ... unless the encoder does not train


def test_inverse_frequency_alpha_from_train_dataset(tmp_path):
    # Labels [0, 0, 0, 0, 1, 1, 2, 2]: N = 8, alpha_k = 8 / (3 n_k) = [2/3, 4/3, 4/3].
    dataset = datasets.Dataset.from_dict(
        {"input_values": [[0.0] * INPUT_SIZE] * 8, "label": [0, 0, 0, 0, 1, 1, 2, 2]}
    )
    model = tiny_model()
    MultiLossTrainer(
        model=model,
        args=training_args(tmp_path, focal_alpha="inverse_frequency"),
        train_dataset=dataset,
        data_collator=StubMixCollator(),
    )
    assert model.config.multi_loss["focal_alpha"] == pytest.approx([2 / 3, 4 / 3, 4 / 3])
    assert model.multi_loss.focal_alpha.tolist() == pytest.approx([2 / 3, 4 / 3, 4 / 3])


def test_inverse_frequency_alpha_for_iterable_datasets(tmp_path):
    # First 6 labels: [0, 0, 0, 1, 1, 2] -> alpha = 6 / (3 n_k) = [2/3, 1, 2].
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    iterable = datasets.Dataset.from_dict(
        {"input_values": [[0.0] * INPUT_SIZE] * len(labels), "label": labels}
    ).to_iterable_dataset()
    with pytest.raises(ValueError, match=r"has no length.*label_counts.*label_count_samples"):
        MultiLossTrainer(
            model=tiny_model(),
            args=training_args(tmp_path, focal_alpha="inverse_frequency", max_steps=1),
            train_dataset=iterable,
            data_collator=StubMixCollator(),
        )
    counted = tiny_model()
    MultiLossTrainer(
        model=counted,
        args=training_args(
            tmp_path, focal_alpha="inverse_frequency", max_steps=1, label_count_samples=6
        ),
        train_dataset=iterable,
        data_collator=StubMixCollator(),
    )
    assert counted.config.multi_loss["focal_alpha"] == pytest.approx([2 / 3, 1.0, 2.0])
    given = tiny_model()
    MultiLossTrainer(
        model=given,
        args=training_args(
            tmp_path, focal_alpha="inverse_frequency", max_steps=1, label_counts=[1, 1, 2]
        ),
        train_dataset=iterable,
        data_collator=StubMixCollator(),
    )
    assert given.config.multi_loss["focal_alpha"] == pytest.approx([4 / 3, 4 / 3, 2 / 3])
    with pytest.raises(ValueError, match="label_counts has 2 counts for 3 classes"):
        MultiLossTrainer(
            model=tiny_model(),
            args=training_args(
                tmp_path, focal_alpha="inverse_frequency", max_steps=1, label_counts=[1, 1]
            ),
            train_dataset=iterable,
            data_collator=StubMixCollator(),
        )


# ---- loss wiring ----


def test_compute_loss_matches_multiloss_and_falls_back_to_one_hot(tmp_path):
    model = tiny_model()
    trainer = MultiLossTrainer(model=model, args=training_args(tmp_path))
    batch = StubMixCollator()(vector_dataset(6))
    outputs = model(batch["input_values"])
    expected = MultiLoss()(
        outputs.logits,
        outputs.embeddings,
        batch["soft_labels"],
        batch["labels"],
        model.class_centers,
    )
    assert trainer.compute_loss(model, dict(batch)).item() == pytest.approx(
        expected.loss.item(), rel=1e-6
    )
    hard_only = {k: v for k, v in batch.items() if k != "soft_labels"}
    one_hot = nn.functional.one_hot(batch["labels"], NUM_LABELS).float()
    expected_hard = MultiLoss()(
        outputs.logits, outputs.embeddings, one_hot, batch["labels"], model.class_centers
    )
    assert trainer.compute_loss(model, hard_only).item() == pytest.approx(
        expected_hard.loss.item(), rel=1e-6
    )
    # num_items_in_batch = 12 for a micro-batch of 6: the mean is scaled by 6 / 12.
    scaled = trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(12))
    assert scaled.item() == pytest.approx(expected.loss.item() / 2, rel=1e-6)
    with pytest.raises(ValueError, match="labels"):
        trainer.compute_loss(model, {"input_values": batch["input_values"]})


class DeviceHalfCollator(StubMixCollator):
    """Leaves the soft targets to the training step, through the trainer's one device hook."""

    def __call__(self, features):
        batch = super().__call__(features)
        batch["pending_soft_labels"] = batch.pop("soft_labels")
        return batch

    def complete_on_device(self, batch):
        batch = dict(batch)
        if "pending_soft_labels" in batch:
            batch["soft_labels"] = batch.pop("pending_soft_labels")
        return batch


def test_compute_loss_calls_the_collators_complete_on_device_hook(tmp_path):
    from eam_ser.data.collator import CompletesOnDevice
    from eam_ser.mixup import EnergyAdaptiveMixupCollator

    assert isinstance(EnergyAdaptiveMixupCollator(NUM_LABELS), CompletesOnDevice)
    assert not isinstance(StubMixCollator(), CompletesOnDevice)
    model = tiny_model()
    collator = DeviceHalfCollator()
    trainer = MultiLossTrainer(model=model, args=training_args(tmp_path), data_collator=collator)
    features = vector_dataset(6)
    expected = trainer.compute_loss(model, StubMixCollator()(features))
    assert torch.equal(trainer.compute_loss(model, collator(features)), expected)


def test_trainer_private_hooks_overridden_here_still_exist():
    """MultiLossTrainer overrides two private Trainer methods; fail by name if they change."""
    import inspect

    from transformers import Trainer

    for name, parameters in (
        ("_get_train_sampler", ["self", "train_dataset"]),
        ("_save_rng_state", ["self", "output_dir"]),
    ):
        assert callable(getattr(Trainer, name, None)), f"Trainer.{name} is gone"
        found = list(inspect.signature(getattr(Trainer, name)).parameters)
        assert found == parameters, f"Trainer.{name} takes {found}, not {parameters}"


def _first_step_parameters(tmp_path, num_samples, batch_size, accumulation):
    model = tiny_model(seed=1)
    args = training_args(
        tmp_path,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        optim="sgd",
        learning_rate=0.5,
        supcon_weight=0.0,
        max_grad_norm=0.0,
    )
    trainer = MultiLossTrainer(
        model=model,
        args=args,
        train_dataset=vector_dataset(num_samples),
        data_collator=StubMixCollator(training=False),
    )
    trainer.train()
    return {name: p.detach().clone() for name, p in model.named_parameters()}, trainer


@pytest.mark.parametrize(("num_samples", "micro_batch"), [(8, 4), (7, 4)])
def test_gradient_accumulation_matches_one_large_batch(tmp_path, num_samples, micro_batch):
    # One batch of all samples vs. micro-batches with accumulation 2 (for 7 samples: 4 + 3, where
    # averaging the two micro-batch means would weight the short one too much). The stub
    # collator mixes within a micro-batch, so it runs without mixing here.
    large, _ = _first_step_parameters(tmp_path / "large", num_samples, num_samples, 1)
    accumulated, trainer = _first_step_parameters(tmp_path / "ga", num_samples, micro_batch, 2)
    initial = dict(tiny_model(seed=1).named_parameters())
    for name, value in large.items():
        assert not torch.allclose(value, initial[name]), f"{name} did not move"
        torch.testing.assert_close(accumulated[name], value, rtol=1e-5, atol=1e-6)
    # The logged loss is the sample-weighted mean over the accumulated batch too.
    assert trainer.state.log_history[0]["loss"] == pytest.approx(
        sum(
            trainer.state.log_history[0][f"loss_{k}"] * w
            for k, w in (("kl", 1.0), ("focal", 1.0), ("center", 0.01))
        ),
        rel=1e-5,
    )


def test_center_parameter_group(tmp_path):
    model = tiny_model()
    trainer = MultiLossTrainer(
        model=model,
        args=training_args(
            tmp_path, learning_rate=1e-3, weight_decay=0.1, center_learning_rate=0.5
        ),
    )
    optimizer = trainer.create_optimizer()
    center_groups = [
        g for g in optimizer.param_groups if any(p is model.class_centers for p in g["params"])
    ]
    assert len(center_groups) == 1
    assert center_groups[0]["params"] == [model.class_centers]
    assert center_groups[0]["lr"] == 0.5 and center_groups[0]["weight_decay"] == 0.0
    others = [g for g in optimizer.param_groups if g is not center_groups[0]]
    assert {g["lr"] for g in others} == {1e-3}
    counted = sum(len(g["params"]) for g in optimizer.param_groups)
    assert counted == len(list(model.parameters()))


def test_encoder_freeze_callback(tmp_path):
    model = tiny_model(freeze_encoder_steps=2)
    trainer = MultiLossTrainer(
        model=model,
        args=training_args(tmp_path, per_device_train_batch_size=6, max_steps=4),
        train_dataset=vector_dataset(24),
        data_collator=StubMixCollator(),
    )
    assert any(isinstance(cb, EncoderFreezeCallback) for cb in trainer.callback_handler.callbacks)
    encoder_weights = []
    original_on_step_end = EncoderFreezeCallback.on_step_end

    def record(callback, args, state, control, model=None, **kwargs):
        encoder_weights.append(model.encoder.weight.detach().clone())
        return original_on_step_end(callback, args, state, control, model=model, **kwargs)

    EncoderFreezeCallback.on_step_end = record
    try:
        initial = model.encoder.weight.detach().clone()
        trainer.train()
    finally:
        EncoderFreezeCallback.on_step_end = original_on_step_end
    assert model.freeze_calls == ["freeze", "unfreeze"]
    # Steps 1-2 frozen; the encoder moves from step 3 on.
    assert torch.equal(encoder_weights[0], initial) and torch.equal(encoder_weights[1], initial)
    assert not torch.equal(encoder_weights[2], initial)


# ---- evaluation ----


def test_evaluation_uses_non_mixing_collator_and_hard_labels(tmp_path):
    calls: list[str] = []
    trainer = MultiLossTrainer(
        model=tiny_model(),
        args=training_args(
            tmp_path, per_device_train_batch_size=4, per_device_eval_batch_size=4, max_steps=2
        ),
        train_dataset=vector_dataset(8),
        eval_dataset=vector_dataset(9, seed=1),
        data_collator=StubMixCollator(calls),
        compute_metrics=compute_metrics,
    )
    trainer.train()
    assert calls == ["train", "train"]
    metrics = trainer.evaluate()
    assert calls[2:] == ["eval", "eval", "eval"]
    assert trainer.data_collator.training is True
    assert {"eval_loss", "eval_wa", "eval_ua", "eval_macro_f1"} <= set(metrics)
    # Check eval_wa against predictions made directly on the un-mixed vectors.
    eval_items = vector_dataset(9, seed=1)
    with torch.no_grad():
        logits = trainer.model(
            torch.tensor(np.stack([i["input_values"] for i in eval_items]))
        ).logits
    accuracy = (logits.argmax(-1) == torch.tensor([i["label"] for i in eval_items])).float().mean()
    assert metrics["eval_wa"] == pytest.approx(accuracy.item())
    prediction = trainer.predict(vector_dataset(5, seed=2))
    assert calls[-2:] == ["eval", "eval"]
    assert prediction.label_ids.tolist() == [0, 1, 2, 0, 1]
    assert all(
        not key.startswith("loss_")
        for entry in trainer.state.log_history
        if "eval_loss" in entry
        for key in entry
    )


# ---- training a tiny FLAM model with the real EAM collator ----


def tone_dataset(num_samples: int, seed: int) -> datasets.Dataset:
    """Three classes of 30 ms tones (300, 1500, 4000 Hz) with random amplitude and noise."""
    rng = np.random.default_rng(seed)
    audio, labels = [], []
    for index in range(num_samples):
        label = index % NUM_LABELS
        waveform = tone(0.03, TONE_FREQUENCIES_HZ[label], SAMPLING_RATE, rng.uniform(0.2, 0.8))
        waveform = waveform + rng.normal(0.0, 0.01, waveform.shape).astype(np.float32)
        audio.append(waveform)
        labels.append(label)
    return datasets.Dataset.from_dict({"audio": audio, "label": labels})


def tiny_flam(seed: int = 0, **flam_kwargs) -> FlamForSequenceClassification:
    torch.manual_seed(seed)
    encoder_config = tiny_wavlm_config(conv_dim=(32, 32), conv_kernel=(10, 3), conv_stride=(5, 2))
    config = FlamConfig(
        encoder_config=encoder_config,
        num_labels=NUM_LABELS,
        embedding_size=16,
        flam_num_attention_heads=2,
        **flam_kwargs,
    )
    return FlamForSequenceClassification(config)


def test_tiny_flam_training_loss_falls_and_terms_are_logged(tmp_path):
    model = tiny_flam()
    args = training_args(
        tmp_path,
        per_device_train_batch_size=12,
        max_steps=30,
        learning_rate=1e-2,
        center_learning_rate=0.05,
    )
    collator = EnergyAdaptiveMixupCollator(NUM_LABELS, p=0.5, seed=0, min_length_samples=80)
    eval_dataset = tone_dataset(12, seed=1)
    trainer = MultiLossTrainer(
        model=model,
        args=args,
        train_dataset=tone_dataset(48, seed=0),
        eval_dataset=eval_dataset,
        data_collator=collator,
        compute_metrics=compute_metrics,
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 30
    first, last = logs[0], logs[-1]
    print(
        "30-step tiny FLAM:",
        {k: (round(first[k], 4), round(last[k], 4)) for k in first if k.startswith("loss")},
    )
    for entry in logs:
        terms = [entry[f"loss_{name}"] for name in ("kl", "focal", "center", "supcon")]
        assert all(math.isfinite(term) for term in terms)
        weighted = 1.0 * terms[0] + 1.0 * terms[1] + 0.01 * terms[2] + 0.1 * terms[3]
        assert entry["loss"] == pytest.approx(weighted, rel=1e-4)
    mean_first = np.mean([entry["loss"] for entry in logs[:5]])
    mean_last = np.mean([entry["loss"] for entry in logs[-5:]])
    assert mean_last < 0.5 * mean_first
    # The center term may grow while the embeddings spread out from their small initial
    # norm (the centers start near 0); the classification and contrastive terms fall.
    for name in ("kl", "focal", "supcon"):
        assert np.mean([e[f"loss_{name}"] for e in logs[-5:]]) < np.mean(
            [e[f"loss_{name}"] for e in logs[:5]]
        )
    # The final training summary is not given per-term values.
    assert not any(key.startswith("loss_") for key in trainer.state.log_history[-1])

    # Evaluation batches come from the collator's non-mixing copy; metrics from hard labels.
    assert trainer.get_eval_dataloader().collate_fn.training is False
    assert collator.training is True
    metrics = trainer.evaluate()
    plain_batch = collator.as_eval()(list(eval_dataset))
    model.eval()
    with torch.no_grad():
        logits = model(plain_batch["input_values"], plain_batch["attention_mask"]).logits
    accuracy = (logits.argmax(-1) == plain_batch["labels"]).float().mean().item()
    assert metrics["eval_wa"] == pytest.approx(accuracy)
    assert metrics["eval_wa"] > 1 / NUM_LABELS


def test_a_mixed_evaluation_batch_is_warned_of_and_multi_loss_trainer_never_mixes_one(tmp_path):
    """A plain Trainer evaluates with its one (mixing) collator: the model says so; the
    MultiLossTrainer evaluates with the collator's non-mixing copy and gives no such warning."""
    from transformers import Trainer, TrainingArguments

    from eam_ser.models.flam.modeling_flam import MIXED_EVALUATION_WARNING

    eval_dataset = tone_dataset(12, seed=1)
    collator = EnergyAdaptiveMixupCollator(NUM_LABELS, p=1.0, seed=0, min_length_samples=80)
    plain = Trainer(
        model=tiny_flam(),
        args=TrainingArguments(
            str(tmp_path / "plain"), report_to="none", remove_unused_columns=False
        ),
        eval_dataset=eval_dataset,
        data_collator=collator,
        compute_metrics=compute_metrics,
    )
    with pytest.warns(UserWarning, match="the collator mixed this evaluation batch"):
        plain.evaluate()

    multi = MultiLossTrainer(
        model=tiny_flam(),
        args=training_args(tmp_path / "multi"),
        eval_dataset=eval_dataset,
        data_collator=collator,
        compute_metrics=compute_metrics,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        multi.evaluate()
    assert MIXED_EVALUATION_WARNING not in [str(warning.message) for warning in caught]


def test_the_mixed_evaluation_warning_needs_eval_mode_and_a_row_that_is_not_one_hot():
    model = tiny_flam()
    batch = EnergyAdaptiveMixupCollator(NUM_LABELS, p=0.0, seed=0)(
        [{"audio": tone(0.03, 300.0), "label": 0}, {"audio": tone(0.03, 1500.0), "label": 1}]
    )
    one_hot = batch.pop("soft_labels")
    mixed = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.75, 0.25]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.eval()(**batch, soft_labels=one_hot)
        model.train()(**batch, soft_labels=mixed)
    with pytest.warns(UserWarning, match="the collator mixed this evaluation batch"):
        model.eval()(**batch, soft_labels=mixed)


def train_with_checkpoints(
    output_dir, max_steps, resume=None, model_seed=0, p=0.0, collator_seed=0, eval_steps=None
):
    """Train a tiny FLAM with the EAM collator, saving every 2 steps (4 batches of 6 an epoch).

    Returns the model, the logged loss of each step and the collator.
    """
    model = tiny_flam(seed=model_seed)
    evaluation = {} if eval_steps is None else {"eval_strategy": "steps", "eval_steps": eval_steps}
    args = training_args(
        output_dir,
        per_device_train_batch_size=6,
        max_steps=max_steps,
        learning_rate=3e-3,
        center_learning_rate=0.05,
        save_strategy="steps",
        save_steps=2,
        **evaluation,
    )
    collator = EnergyAdaptiveMixupCollator(
        NUM_LABELS, p=p, seed=collator_seed, min_length_samples=80
    )
    trainer = MultiLossTrainer(
        model=model,
        args=args,
        train_dataset=tone_dataset(24, seed=0),
        eval_dataset=None if eval_steps is None else tone_dataset(6, seed=1),
        data_collator=collator,
    )
    trainer.train(resume_from_checkpoint=resume)
    losses = {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}
    return model, losses, collator


def test_resume_restores_centers_and_next_loss(tmp_path):
    full_model, full_losses, _ = train_with_checkpoints(tmp_path / "full", 4)
    checkpoint = tmp_path / "full" / "checkpoint-2"
    assert checkpoint.is_dir()
    # A differently initialised model: its centers must be overwritten by the checkpoint's.
    resumed_model, resumed_losses, _ = train_with_checkpoints(
        tmp_path / "resumed", 4, resume=str(checkpoint), model_seed=123
    )
    # Steps 1-2 come from the checkpoint's log history; steps 3-4 were trained after resuming.
    assert set(resumed_losses) == {1, 2, 3, 4}
    assert resumed_losses[3] == pytest.approx(full_losses[3], rel=1e-4)
    assert resumed_losses[4] == pytest.approx(full_losses[4], rel=1e-4)
    torch.testing.assert_close(resumed_model.class_centers, full_model.class_centers)
    saved = load_file(checkpoint / "model.safetensors")
    assert saved["class_centers"].shape == (NUM_LABELS, 16)
    saved_args = torch.load(checkpoint / "training_args.bin", weights_only=False)
    assert saved_args.center_learning_rate == 0.05
    saved_config = json.loads((checkpoint / "config.json").read_text())
    assert saved_config["multi_loss"]["center_weight"] == 0.01


def test_resume_with_mixing_restores_the_collator_state(tmp_path):
    # p=0.75: most samples are mixed. Evaluation every 2 steps runs between the saved batch
    # and the next one (it must not move the training stream).
    _, full_losses, _ = train_with_checkpoints(tmp_path / "full", 6, p=0.75, eval_steps=2)
    # checkpoint-2 is mid-epoch (the dataloader has already built batch 3 when it is saved);
    # checkpoint-4 ends the first epoch.
    for step in (2, 4):
        checkpoint = tmp_path / "full" / f"checkpoint-{step}"
        saved = json.loads((checkpoint / "collator_rng_state.json").read_text())
        assert saved["seed"] == 0
        # A fresh model and a collator with another seed: both are overwritten on resume.
        _, resumed_losses, collator = train_with_checkpoints(
            tmp_path / f"resumed-{step}",
            6,
            resume=str(checkpoint),
            model_seed=123,
            p=0.75,
            collator_seed=99,
            eval_steps=2,
        )
        assert collator.seed == 0
        for later in range(step + 1, 7):
            assert resumed_losses[later] == pytest.approx(full_losses[later], rel=1e-4), later

    # Negative control: the same checkpoint without the collator state resumes with the
    # fresh collator's own draws, and the next step's loss moves.
    unrestored = tmp_path / "unrestored" / "checkpoint-2"
    shutil.copytree(tmp_path / "full" / "checkpoint-2", unrestored)
    (unrestored / "collator_rng_state.json").unlink()
    _, unrestored_losses, _ = train_with_checkpoints(
        tmp_path / "unrestored-run", 4, resume=str(unrestored), p=0.75, collator_seed=99
    )
    assert unrestored_losses[3] != pytest.approx(full_losses[3], rel=1e-4)
