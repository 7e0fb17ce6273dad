"""`MultiLossTrainingArguments`: `transformers.TrainingArguments` plus the settings of
`MultiLossTrainer` (overrides of the MLL objective, learning rates per part of the model,
class-balanced sampling), parsed by `HfArgumentParser` like any `TrainingArguments`.

As transformers keeps `TrainingArguments` in `training_args.py` beside `trainer.py`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from eam_ser.models.flam.arguments import check_real
from eam_ser.models.flam.loss_settings import MultiLossSettings
from eam_ser.models.flam.settings_field import setting

__all__ = ["INVERSE_FREQUENCY", "MultiLossTrainingArguments", "resolve_learning_rates"]

INVERSE_FREQUENCY = "inverse_frequency"
"""`focal_alpha` value asking for N / (num_labels * n_k) from the training set's class counts."""
_SETTINGS_FIELDS = {field.name: field for field in dataclasses.fields(MultiLossSettings)}
_LOSS_FIELDS = tuple(_SETTINGS_FIELDS)


def _loss_override(name: str, extra_help: str = "") -> Any:
    """A `MultiLossTrainingArguments` field overriding `MultiLossSettings.<name>`: None by
    default (the model's objective applies), its help that of the settings field."""
    settings_field = _SETTINGS_FIELDS[name]
    return field(
        default=None,
        metadata={
            "help": f"{settings_field.metadata['help']}{extra_help} None (default): the model's "
            f"config.multi_loss (FlamConfig default {settings_field.default})."
        },
    )


@dataclass
class MultiLossTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus overrides of the MLL objective and the trainer's own settings.

    The loss fields (`kl_weight` ... `supcon_temperature`: the fields of
    `eam_ser.models.flam.losses.MultiLossSettings`, whose help they repeat) are None by default: the
    model's `config.multi_loss` applies. A value given here replaces the model's and is written
    into its config.

    Changed defaults: `remove_unused_columns=False` (the collator needs the raw audio and label
    columns, which the model's forward does not name) and `label_names=["labels"]` when left
    unset: what transformers finds itself for FLAM (`labels` is its only forward argument
    named like a label), stated so that a model with other label-like arguments evaluates
    on the hard `labels` alike.
    """

    remove_unused_columns: bool = setting(
        False,
        "Remove dataset columns the model forward does not accept. Default False for "
        "MLL: the collator needs the audio and label columns.",
    )
    kl_weight: float | None = _loss_override("kl_weight")
    focal_weight: float | None = _loss_override("focal_weight")
    center_weight: float | None = _loss_override("center_weight")
    supcon_weight: float | None = _loss_override("supcon_weight")
    focal_gamma: float | None = _loss_override("focal_gamma")
    focal_alpha: list[float] | str | None = _loss_override(  # noqa: RUF009 (a field() factory)
        "focal_alpha",
        " On the command line comma-separated (e.g. '1.0,2.5,0.8'), or 'inverse_frequency' "
        "(N / (num_labels * n_k) from the class counts: `label_counts` when given, else the "
        "training set when it has a length, else its first `label_count_samples` samples).",
    )
    supcon_temperature: float | None = _loss_override("supcon_temperature")
    supcon_across_processes: bool = setting(
        True,
        "With several processes, compare each sample with the samples of every "
        "process in the supervised contrastive term (embeddings gathered with gradients), "
        "as one process with the global batch would. False: per-device batches only.",
    )
    head_learning_rate: float | None = setting(
        None,
        "Learning rate of the head: every parameter outside the model's `encoder` "
        "(FLAM, projector, classifier; the centers unless center_learning_rate is given). "
        "None: `learning_rate`. A head trained from scratch on a pretrained encoder "
        "usually wants 10-100x the encoder's rate.",
    )
    encoder_learning_rate: float | None = setting(
        None,
        "Learning rate of the parameters of the model's `encoder` that train (see "
        "FlamConfig.trainable_encoder_layers). None: `learning_rate`.",
    )
    center_learning_rate: float | None = setting(
        None,
        "Learning rate of `class_centers` (None: the head's rate). The centers never "
        "get weight decay and follow the same schedule.",
    )
    balanced_sampling: bool = setting(
        False,
        "Draw training samples with replacement, each with probability inversely "
        "proportional to its class's count (torch WeightedRandomSampler), so every class "
        "is seen equally often; an epoch keeps the dataset's length. Needs a training set "
        "with a length and a 'label' (or 'labels') column.",
    )
    max_batch_seconds: float | None = setting(
        None,
        "Build training batches by duration instead of per_device_train_batch_size: clips of "
        "similar length, as many as fit this many padded seconds (longest clip x clips) "
        "(eam_ser.data.duration_batches.DurationBatchSampler); None: fixed-size batches.",
    )
    label_counts: list[int] | None = setting(
        None,
        "Training samples per class (one int per class, space-separated on the "
        "command line) for focal_alpha='inverse_frequency'; needed for an IterableDataset "
        "unless label_count_samples is given.",
    )
    label_count_samples: int | None = setting(
        None,
        "For focal_alpha='inverse_frequency' on a training set without length "
        "(IterableDataset): count the classes of its first N samples.",
    )

    def __post_init__(self) -> None:
        if self.label_names is None:
            self.label_names = ["labels"]
        if isinstance(self.focal_alpha, str) and self.focal_alpha != INVERSE_FREQUENCY:
            self.focal_alpha = _parse_floats(self.focal_alpha)
        check_real(
            self.max_batch_seconds, "max_batch_seconds", above=0.0, allow_none=True, unit="s"
        )
        if self.max_batch_seconds is not None and self.balanced_sampling:
            raise ValueError(
                "max_batch_seconds and balanced_sampling: batches by duration draw every clip "
                "once an epoch, so they cannot also draw classes equally; choose one"
            )
        if self.label_count_samples is not None and self.label_count_samples < 1:
            raise ValueError(f"label_count_samples must be >= 1, got {self.label_count_samples}")
        # Validates every given value (and rejects all four weights 0) before any work starts.
        MultiLossSettings.from_dict(
            {**self.loss_overrides(), "focal_alpha": None}, where="MultiLossTrainingArguments"
        )
        for name in ("head_learning_rate", "encoder_learning_rate", "center_learning_rate"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        super().__post_init__()

    def group_learning_rates(self) -> dict[str, float]:
        """Learning rate of each parameter group: ``{"encoder", "head", "centers"}`` (None:
        `learning_rate`; see `resolve_learning_rates`)."""
        rates = resolve_learning_rates(
            self.head_learning_rate,
            self.encoder_learning_rate,
            self.center_learning_rate,
            default_head=self.learning_rate,
            default_encoder=self.learning_rate,
        )
        return {"encoder": rates["encoder"], "head": rates["head"], "centers": rates["centers"]}

    def loss_overrides(self) -> dict[str, Any]:
        """The `MultiLossSettings` fields set here (not None); `focal_alpha` may still be
        'inverse_frequency', which the trainer resolves from the training data."""
        return {
            name: getattr(self, name) for name in _LOSS_FIELDS if getattr(self, name) is not None
        }


def resolve_learning_rates(
    head: float | None,
    encoder: float | None,
    centers: float | None,
    *,
    default_head: float,
    default_encoder: float,
) -> dict[str, float]:
    """What None means for each learning rate, written once: the head's rate falls back to
    `default_head`, the encoder's to `default_encoder`, the class centers' to the head's.

    Returns:
        ``{"head", "encoder", "centers"}``, each a float.
    """
    head = default_head if head is None else head
    return {
        "head": head,
        "encoder": default_encoder if encoder is None else encoder,
        "centers": head if centers is None else centers,
    }


def _parse_floats(focal_alpha: str) -> list[float]:
    try:
        return [float(value) for value in focal_alpha.split(",")]
    except ValueError:
        raise ValueError(
            "focal_alpha must be None, a list of floats, comma-separated floats or "
            f"{INVERSE_FREQUENCY!r}, got {focal_alpha!r}"
        ) from None
