"""`MultiLossTrainer`: the `transformers.Trainer` of the four-term MLL objective.

The model computes the objective itself: `FlamForSequenceClassification.forward` returns the
weighted `loss` and each unweighted term (`kl_loss`, `focal_loss`, `center_loss`,
`supervised_contrastive_loss`) when the batch holds `labels` (batch,) and, from the EAM
collator, `soft_targets` (batch, num_labels). A plain `transformers.Trainer` therefore trains
it too. `MultiLossTrainer` adds what only a trainer can do:

- loss weights and hyper-parameters from `MultiLossTrainingArguments` (command line,
  `HfArgumentParser`) when given, written into the model's `config.multi_loss` so the saved
  model records the objective it was trained with; focal `alpha` from the class frequencies;
- the supervised contrastive term over the samples of every process when several train
  (`supcon_across_processes`), so it sees the global batch and not only the per-device one;
- per-term logs (`loss_kl`, ...) reduced over processes, so the logged `loss` is the weighted
  sum of the logged terms;
- exact gradient accumulation over unequal micro-batches;
- learning rates per part: `head_learning_rate`, `encoder_learning_rate`,
  `center_learning_rate` (the centers without weight decay); optional class-balanced sampling;
- evaluation batches that are never mixed, and the collator's random state in every
  checkpoint (`collator_rng_state.json`, one per process), restored on resume so the mixes
  after resuming are those of the uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import zipfile
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging

from .losses import (
    LOSS_TERMS,
    MultiLossSettings,
    cross_process_supervised_contrastive_loss,
    inverse_frequency_from_counts,
    inverse_frequency_weights,
)

__all__ = [
    "EncoderFreezeCallback",
    "MultiLossTrainer",
    "MultiLossTrainingArguments",
    "TrainingDivergedError",
]

logger = logging.get_logger(__name__)

INVERSE_FREQUENCY = "inverse_frequency"
TERM_OUTPUTS = {
    "kl": "kl_loss",
    "focal": "focal_loss",
    "center": "center_loss",
    "supcon": "supervised_contrastive_loss",
}
"""Model output field of each MLL term (keys from `LOSS_TERMS`)."""
COLLATOR_STATE_NAME = "collator_rng_state.json"
"""File of the collator's random state in a checkpoint (`collator_rng_state_{rank}.json` when
several processes train)."""
_LOSS_FIELDS = tuple(field.name for field in dataclasses.fields(MultiLossSettings))


def _loss_help(name: str, meaning: str) -> str:
    default = getattr(MultiLossSettings, name)
    return (
        f"{meaning} None (default): the model's config.multi_loss (FlamConfig default {default})."
    )


@dataclass
class MultiLossTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus overrides of the MLL objective and the trainer's own settings.

    The loss fields (`kl_weight` ... `supcon_temperature`, see `eam_ser.losses.MultiLossSettings`
    for their meaning and defaults) are None by default: the model's `config.multi_loss`
    applies. A value given here replaces the model's and is written into its config.

    Changed defaults: `remove_unused_columns=False` (the collator needs the raw audio and label
    columns, which the model's forward does not name) and `label_names=["labels"]` when left
    unset, so evaluation gathers the hard `labels` only.
    """

    remove_unused_columns: bool = field(
        default=False,
        metadata={
            "help": "Remove dataset columns the model forward does not accept. Default False for "
            "MLL: the collator needs the audio and label columns."
        },
    )
    kl_weight: float | None = field(
        default=None, metadata={"help": _loss_help("kl_weight", "Weight of the KL divergence.")}
    )
    focal_weight: float | None = field(
        default=None, metadata={"help": _loss_help("focal_weight", "Weight of the focal loss.")}
    )
    center_weight: float | None = field(
        default=None, metadata={"help": _loss_help("center_weight", "Weight of the center loss.")}
    )
    supcon_weight: float | None = field(
        default=None,
        metadata={
            "help": _loss_help("supcon_weight", "Weight of the supervised contrastive loss.")
        },
    )
    focal_gamma: float | None = field(
        default=None, metadata={"help": _loss_help("focal_gamma", "Focal loss gamma (>= 0).")}
    )
    focal_alpha: list[float] | str | None = field(
        default=None,
        metadata={
            "help": "Focal loss per-class weights: a list of floats (one per class; on the "
            "command line comma-separated, e.g. '1.0,2.5,0.8'), or 'inverse_frequency' "
            "(N / (num_labels * n_k) from the class counts: `label_counts` when given, else "
            "the training set when it has a length, else its first `label_count_samples` "
            "samples). None (default): the model's config.multi_loss (FlamConfig default None)."
        },
    )
    supcon_temperature: float | None = field(
        default=None,
        metadata={
            "help": _loss_help("supcon_temperature", "Supervised contrastive temperature (> 0).")
        },
    )
    supcon_across_processes: bool = field(
        default=True,
        metadata={
            "help": "With several processes, compare each sample with the samples of every "
            "process in the supervised contrastive term (embeddings gathered with gradients), "
            "as one process with the global batch would. False: per-device batches only."
        },
    )
    head_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of the head: every parameter outside the model's `encoder` "
            "(FLAM, projector, classifier; the centers unless center_learning_rate is given). "
            "None: `learning_rate`. A head trained from scratch on a pretrained encoder "
            "usually wants 10-100x the encoder's rate."
        },
    )
    encoder_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of the parameters of the model's `encoder` that train (see "
            "FlamConfig.trainable_encoder_layers). None: `learning_rate`."
        },
    )
    center_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of `class_centers` (None: the head's rate). The centers never "
            "get weight decay and follow the same schedule."
        },
    )
    balanced_sampling: bool = field(
        default=False,
        metadata={
            "help": "Draw training samples with replacement, each with probability inversely "
            "proportional to its class's count (torch WeightedRandomSampler), so every class "
            "is seen equally often; an epoch keeps the dataset's length. Needs a training set "
            "with a length and a 'label' (or 'labels') column."
        },
    )
    label_counts: list[int] | None = field(
        default=None,
        metadata={
            "help": "Training samples per class (one int per class, space-separated on the "
            "command line) for focal_alpha='inverse_frequency'; needed for an IterableDataset "
            "unless label_count_samples is given."
        },
    )
    label_count_samples: int | None = field(
        default=None,
        metadata={
            "help": "For focal_alpha='inverse_frequency' on a training set without length "
            "(IterableDataset): count the classes of its first N samples."
        },
    )

    def __post_init__(self) -> None:
        if self.label_names is None:
            self.label_names = ["labels"]
        if isinstance(self.focal_alpha, str) and self.focal_alpha != INVERSE_FREQUENCY:
            self.focal_alpha = _parse_floats(self.focal_alpha)
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
        """Learning rate of each parameter group: ``{"encoder", "head", "centers"}``."""
        head = self.learning_rate if self.head_learning_rate is None else self.head_learning_rate
        encoder = (
            self.learning_rate if self.encoder_learning_rate is None else self.encoder_learning_rate
        )
        centers = head if self.center_learning_rate is None else self.center_learning_rate
        return {"encoder": encoder, "head": head, "centers": centers}

    def loss_overrides(self) -> dict[str, Any]:
        """The `MultiLossSettings` fields set here (not None); `focal_alpha` may still be
        'inverse_frequency', which the trainer resolves from the training data."""
        return {
            name: getattr(self, name) for name in _LOSS_FIELDS if getattr(self, name) is not None
        }


CHECKPOINT_ARCHIVES = ("optimizer.pt", "scheduler.pt")
"""Files of a checkpoint saved by torch.save (zip archives, whose directory is at the end:
a truncated copy has none)."""


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why the checkpoint `folder` cannot be resumed from (None: it is complete).

    Checks what a write cut short (kill -9, a full disk) leaves broken: a missing or invalid
    ``trainer_state.json``, ``model.safetensors`` whose header does not match its size, and a
    truncated ``optimizer.pt`` / ``scheduler.pt``.
    """
    folder = Path(folder)
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "no readable trainer_state.json"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return "no model.safetensors"
    from .modeling_flam import safetensors_problem

    if safetensors_problem(weights) is not None:
        return "model.safetensors is truncated or damaged"
    for name in CHECKPOINT_ARCHIVES:
        path = folder / name
        if not path.is_file():
            return f"no {name}"
        try:
            with zipfile.ZipFile(path):
                pass
        except (zipfile.BadZipFile, OSError):
            return f"{name} is truncated or damaged"
    return None


def last_complete_checkpoint(
    output_dir: str | os.PathLike,
) -> tuple[str | None, list[tuple[str, str]]]:
    """The newest ``checkpoint-N`` of `output_dir` that `checkpoint_problem` finds complete
    (None when there is no checkpoint at all), and the newer incomplete ones skipped on the
    way, as ``(path, problem)`` pairs.

    Raises:
        ValueError: checkpoints exist but none is complete (naming each and how to recover).
    """
    folder = Path(output_dir)
    checkpoints = (
        sorted(
            (path for path in folder.glob("checkpoint-*") if path.name.split("-")[-1].isdigit()),
            key=lambda path: int(path.name.split("-")[-1]),
            reverse=True,
        )
        if folder.is_dir()
        else []
    )
    skipped = []
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return str(checkpoint), [(str(path), reason) for path, reason in skipped]
        skipped.append((checkpoint, problem))
    if skipped:
        listed = "; ".join(f"{path.name}: {reason}" for path, reason in skipped)
        raise ValueError(
            f"resume: no complete checkpoint in {folder} ({listed}); delete the broken ones to "
            "start again from the newest complete one, or rerun with --overwrite (from scratch)"
        )
    return None, []


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite: training stops before the weights are used."""


def _parse_floats(focal_alpha: str) -> list[float]:
    try:
        return [float(value) for value in focal_alpha.split(",")]
    except ValueError:
        raise ValueError(
            "focal_alpha must be None, a list of floats, comma-separated floats or "
            f"{INVERSE_FREQUENCY!r}, got {focal_alpha!r}"
        ) from None


class EncoderFreezeCallback(TrainerCallback):
    """Freeze the model's encoder for the first `model.config.freeze_encoder_steps` steps.

    Calls `model.freeze_encoder()` at the start of training (also when resuming before that
    step) and `model.unfreeze_encoder()` once `state.global_step >= freeze_encoder_steps`.
    The optimizer is built before training starts, while the encoder still trains, so the
    encoder parameters are in it and start updating after the unfreeze (a parameter without
    gradient is skipped by the optimizer, weight decay included).
    """

    def __init__(self, freeze_encoder_steps: int) -> None:
        if freeze_encoder_steps < 1:
            raise ValueError(f"freeze_encoder_steps must be >= 1, got {freeze_encoder_steps}")
        self.freeze_encoder_steps = freeze_encoder_steps
        self.frozen = False

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step < self.freeze_encoder_steps:
            model.freeze_encoder()
            self.frozen = True

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.frozen and state.global_step >= self.freeze_encoder_steps:
            model.unfreeze_encoder()
            self.frozen = False


class MultiLossTrainer(Trainer):
    """`Trainer` for models that compute the four-term MLL objective in their forward.

    Takes the same arguments as `transformers.Trainer`; `args` must be a
    `MultiLossTrainingArguments` (default: one with `output_dir="trainer_output"`).

    The model (e.g. `FlamForSequenceClassification`) returns `loss` and the unweighted terms
    `kl_loss`, `focal_loss`, `center_loss`, `supervised_contrastive_loss` when given `labels`
    (and `soft_targets`), keeps its objective in `config.multi_loss` and changes it with
    `set_loss_settings(...)`. The trainer:

    - applies the loss fields of `args` that are set (and focal alpha from the class
      frequencies for `focal_alpha="inverse_frequency"`) to the model before training;
    - `compute_loss` runs the model on the whole batch and takes its `loss`; with several
      processes and `supcon_across_processes`, the supervised contrastive term is recomputed
      over the embeddings of every process and the weighted sum rebuilt from the terms;
    - training logs gain `loss_kl`, `loss_focal`, `loss_center`, `loss_supcon`: each
      unweighted term averaged over the samples of every process since the previous log, so
      `loss = sum_k weight_k * loss_k` for the same interval;
    - gradient accumulation: every term is a per-micro-batch mean; each micro-batch is scaled by
      `micro_batch_size / samples_in_the_accumulated_batch`, so the accumulated gradient is the
      large-batch gradient for KL, focal and center loss even when the last micro-batch is
      short (supervised contrastive loss depends on which samples share a micro-batch);
    - optimizer parameter groups per part: the encoder at `encoder_learning_rate`, the head at
      `head_learning_rate`, `class_centers` at `center_learning_rate` (default the head's) and
      no weight decay (not with a DeepSpeed config that builds its own optimizer: see the
      README); `balanced_sampling` draws classes equally often;
    - evaluation and prediction dataloaders use `data_collator.as_eval()` when the collator
      has it (no mixing); metrics are computed on hard labels;
    - a collator built with `mix_on_device=True` leaves the mix and the features to the
      training step: `compute_loss` calls its `complete_on_device` on the batch, already on
      the model's device;
    - if `model.config.freeze_encoder_steps > 0`, an `EncoderFreezeCallback` is added;
    - checkpoints save the training collator's `state_dict()` (when it has one) as of the next
      batch a training step will use, one file per process, and
      `train(resume_from_checkpoint=...)` restores it before the first batch is built, so the
      resumed run draws the same mixes as the uninterrupted one. Exact for map-style datasets
      with `dataloader_num_workers=0` (with workers the mixes are drawn in the workers from
      their own streams, which only the seed in the checkpoint describes; a warning says so).

    Raises:
        TypeError: at init, when the model does not compute the MLL terms itself (no
            `config.multi_loss` or no `set_loss_settings`).
        ValueError: at init, when the class counts for `focal_alpha="inverse_frequency"`
            cannot be had, or the model cannot freeze its encoder although its config asks.
    """

    # compute_loss normalises over the accumulated batch itself (see `get_batch_samples`).
    loss_is_scaled_for_ga = True

    def __init__(
        self, model=None, args: MultiLossTrainingArguments | None = None, *pargs, **kwargs
    ):
        if args is None:
            args = MultiLossTrainingArguments(output_dir="trainer_output")
        if not isinstance(args, MultiLossTrainingArguments):
            raise TypeError(
                "MultiLossTrainer needs `args` of type MultiLossTrainingArguments, got "
                f"{type(args).__name__}"
            )
        may_leave_unused = getattr(model, "may_leave_parameters_unused", None)
        if args.ddp_find_unused_parameters is None and callable(may_leave_unused):
            # Trainer turns the search on for every PreTrainedModel (it must be set before it
            # builds its Accelerator); it costs a graph traversal per DDP step, and is needed
            # only when a step can leave a parameter out.
            args.ddp_find_unused_parameters = may_leave_unused(args.loss_overrides())
        super().__init__(model, args, *pargs, **kwargs)
        if args.remove_unused_columns:
            logger.warning(
                "remove_unused_columns=True drops dataset columns the model forward does not "
                "name (e.g. audio) before they reach the collator."
            )
        if self.model is not None:
            self._check_model(self.model)
            self._apply_loss_overrides(self.model)
        self._term_sums: dict[str, torch.Tensor] = {}
        self._term_count = 0
        self._collator_recorder: _CollatorStateRecorder | None = None
        self._warn_if_deepspeed_builds_optimizer()

    def _check_model(self, model: nn.Module) -> None:
        config = getattr(model, "config", None)
        if not isinstance(getattr(config, "multi_loss", None), Mapping) or not callable(
            getattr(model, "set_loss_settings", None)
        ):
            raise TypeError(
                f"{type(model).__name__} does not compute the MLL objective in its forward: "
                "MultiLossTrainer needs a model with `config.multi_loss`, `set_loss_settings()` "
                "and the outputs `loss`, `kl_loss`, `focal_loss`, `center_loss`, "
                "`supervised_contrastive_loss`, `embeddings` (e.g. FlamForSequenceClassification)"
            )
        freeze_steps = getattr(config, "freeze_encoder_steps", 0) or 0
        if freeze_steps > 0:
            if not (hasattr(model, "freeze_encoder") and hasattr(model, "unfreeze_encoder")):
                raise ValueError(
                    f"config.freeze_encoder_steps={freeze_steps} but {type(model).__name__} has "
                    "no freeze_encoder()/unfreeze_encoder()"
                )
            self.add_callback(EncoderFreezeCallback(freeze_steps))

    def _apply_loss_overrides(self, model: nn.Module) -> None:
        """Write the loss fields set in `args` into the model's objective."""
        overrides = self.args.loss_overrides()
        if overrides.get("focal_alpha") == INVERSE_FREQUENCY:
            overrides["focal_alpha"] = self._inverse_frequency_alpha(model.config)
        if overrides:
            settings = MultiLossSettings.from_dict({**model.config.multi_loss, **overrides})
            model.set_loss_settings(settings)

    @property
    def loss_settings(self) -> MultiLossSettings:
        """The objective being trained: the (unwrapped) model's `config.multi_loss`."""
        return MultiLossSettings.from_dict(
            self.accelerator.unwrap_model(self.model).config.multi_loss
        )

    def _inverse_frequency_alpha(self, config: Any) -> list[float]:
        """Focal alpha `N / (num_labels * n_k)` for `focal_alpha="inverse_frequency"`, from
        `args.label_counts`, else the training set (when it has a length), else its first
        `args.label_count_samples` samples."""
        num_labels = config.num_labels
        if self.args.label_counts is not None:
            if len(self.args.label_counts) != num_labels:
                raise ValueError(
                    f"label_counts has {len(self.args.label_counts)} counts for {num_labels} "
                    "classes; give one per class"
                )
            return inverse_frequency_from_counts(self.args.label_counts)
        dataset = self.train_dataset
        if dataset is None:
            raise ValueError(
                'focal_alpha="inverse_frequency" needs a train_dataset or label_counts'
            )
        label2id = getattr(config, "label2id", None) or {}
        has_length = hasattr(dataset, "__len__")
        if not has_length and self.args.label_count_samples is None:
            raise ValueError(
                f'focal_alpha="inverse_frequency": the train_dataset ({type(dataset).__name__}) '
                "has no length, so its class counts are unknown; pass label_counts (one count "
                "per class) or label_count_samples=N to count the classes of its first N samples"
            )
        limit = None if has_length else self.args.label_count_samples
        labels = [
            label2id[label] if isinstance(label, str) else int(label)
            for label in _dataset_labels(dataset, self.data_collator, limit)
        ]
        return inverse_frequency_weights(labels, num_labels)

    def _warn_if_deepspeed_builds_optimizer(self) -> None:
        deepspeed_config = getattr(self.args, "hf_deepspeed_config", None)
        if deepspeed_config is not None and "optimizer" in deepspeed_config.config:
            logger.warning(
                "The DeepSpeed config has an `optimizer` block, so DeepSpeed builds the optimizer "
                "from all parameters: `class_centers` get the main learning rate and weight "
                "decay, and center_learning_rate is ignored. Remove the block (Trainer then "
                "builds the optimizer, centers in their own group) to keep it."
            )

    # ---- loss ----

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Weighted MLL loss of one micro-batch, computed by the model.

        Args:
            model: the (possibly wrapped) model.
            inputs: model inputs with `labels` (batch,) and optionally `soft_targets`
                (batch, num_labels).
            return_outputs: also return the model outputs.
            num_items_in_batch: samples in the whole accumulated batch; when given, the mean
                loss is scaled by `batch / num_items_in_batch`.
        """
        complete_on_device = getattr(self.data_collator, "complete_on_device", None)
        if callable(complete_on_device):
            # A `mix_on_device` collator left the mixing and featurizing to this step.
            inputs = complete_on_device(inputs)
        if "labels" not in inputs:
            raise ValueError(
                "MultiLossTrainer needs `labels` (batch,) in every batch; got keys "
                f"{sorted(inputs)}. Check the collator and `remove_unused_columns`."
            )
        labels = inputs["labels"]
        outputs = model(**inputs)
        terms = {
            name: outputs.get(output_name)
            for name, output_name in TERM_OUTPUTS.items()
            if outputs.get(output_name) is not None
        }
        if outputs.get("loss") is None or not terms:
            raise TypeError(
                f"{type(model).__name__} returned no `loss` and loss terms for a batch with "
                "labels; MultiLossTrainer needs a model that computes the MLL objective"
            )
        loss = outputs["loss"]
        if model.training and not bool(torch.isfinite(loss.detach()).all()):
            raise TrainingDivergedError(
                f"training diverged at step {self.state.global_step + 1}: the loss is "
                f"{float(loss.detach()):.4g} (terms: "
                + ", ".join(f"{name} {float(value.detach()):.4g}" for name, value in terms.items())
                + "); lower the learning rates (head_learning_rate, encoder_learning_rate) or "
                "check the inputs. Nothing was saved as the model."
            )
        if (
            "supcon" in terms
            and model.training
            and self.args.supcon_across_processes
            and self.args.world_size > 1
        ):
            settings = self.loss_settings
            terms["supcon"] = cross_process_supervised_contrastive_loss(
                outputs["embeddings"], labels.long(), settings.supcon_temperature
            )
            loss = settings.combine(terms)

        batch_size = labels.shape[0]
        if model.training:
            # Kept on the device as tensors: one host sync per log, not per micro-batch.
            for name, value in terms.items():
                weighted = value.detach().float() * batch_size
                self._term_sums[name] = self._term_sums.get(name, 0.0) + weighted
            self._term_count += batch_size
        if num_items_in_batch is not None:
            loss = loss * (batch_size / num_items_in_batch)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                # The count is summed over processes and DDP averages gradients over them.
                loss = loss * self.args.world_size
        return (loss, outputs) if return_outputs else loss

    def get_batch_samples(
        self, epoch_iterator: Iterator, num_batches: int, device: torch.device
    ) -> tuple[list, torch.Tensor | int | None]:
        """Prefetch the micro-batches of one optimizer step and count their samples.

        Trainer only counts labels for models whose forward takes `**kwargs`; this count is
        always made so that `compute_loss` can weight each micro-batch by its size.
        """
        batch_samples, num_items_in_batch = super().get_batch_samples(
            epoch_iterator, num_batches, device
        )
        if self._collator_recorder is not None:
            self._collator_recorder.mark_used(len(batch_samples))
        if num_items_in_batch is None and batch_samples:
            count = torch.tensor(
                sum(len(batch["labels"]) for batch in batch_samples if "labels" in batch),
                device=device,
            )
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                count = self.accelerator.gather(count).sum()
            num_items_in_batch = count
        return batch_samples, num_items_in_batch

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the per-term averages over every process (`loss_kl`, ...) to training logs."""
        if "loss" in logs and self._term_sums:
            names = [name for name in LOSS_TERMS if name in self._term_sums]
            totals = torch.stack(
                [self._term_sums[name] for name in names]
                + [torch.tensor(float(self._term_count), device=self._term_sums[names[0]].device)]
            )
            if self.args.world_size > 1:
                totals = self.accelerator.reduce(totals, reduction="sum")
            totals = totals.tolist()
            for name, total in zip(names, totals, strict=False):
                logs[f"loss_{name}"] = total / totals[-1]
            self._term_sums = {}
            self._term_count = 0
        super().log(logs, start_time)

    # ---- optimizer ----

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """Trainer's optimizer with one parameter group per part of the model and decay class.

        Parameters of the model's `encoder` get `encoder_learning_rate`, `class_centers` get
        `center_learning_rate` and no weight decay, every other parameter (the head) gets
        `head_learning_rate` (see `MultiLossTrainingArguments.group_learning_rates`); each
        group keeps Trainer's weight-decay split. An optimizer passed to the Trainer by the
        user is left untouched.
        """
        if self.optimizer is not None:
            return self.optimizer
        optimizer = super().create_optimizer(model)
        if not isinstance(optimizer, torch.optim.Optimizer):
            return optimizer
        opt_model = self.accelerator.unwrap_model(self.model if model is None else model)
        encoder = getattr(opt_model, "encoder", None)
        encoder_ids = (
            {id(parameter) for parameter in encoder.parameters()}
            if isinstance(encoder, nn.Module)
            else set()
        )
        centers = getattr(opt_model, "class_centers", None)
        rates = self.args.group_learning_rates()

        def part(parameter: nn.Parameter) -> str:
            if parameter is centers:
                return "centers"
            return "encoder" if id(parameter) in encoder_ids else "head"

        groups = []
        for group in optimizer.param_groups:
            for name in ("encoder", "head", "centers"):
                params = [p for p in group["params"] if part(p) == name]
                if params:
                    options = {key: value for key, value in group.items() if key != "params"}
                    options.update(params=params, lr=rates[name], part=name)
                    if name == "centers":
                        options["weight_decay"] = 0.0
                    groups.append(options)
        optimizer.param_groups.clear()
        for group in groups:
            optimizer.add_param_group(group)
        return optimizer

    def _get_train_sampler(self, train_dataset=None):
        """`balanced_sampling`: a `WeightedRandomSampler` with weights 1 / (count of the
        sample's class), seeded by `args.seed`; otherwise Trainer's sampler."""
        if not self.args.balanced_sampling:
            return super()._get_train_sampler(train_dataset)
        dataset = self.train_dataset if train_dataset is None else train_dataset
        column = next(
            (
                name
                for name in ("label", "labels")
                if name in (getattr(dataset, "column_names", None) or ())
            ),
            None,
        )
        if column is None:
            raise ValueError(
                "balanced_sampling needs a training dataset with a 'label' or 'labels' column; "
                f"got {type(dataset).__name__} with columns "
                f"{getattr(dataset, 'column_names', None)}"
            )
        labels = torch.as_tensor(dataset[column], dtype=torch.long)
        counts = torch.bincount(labels)
        generator = torch.Generator().manual_seed(self.args.seed)
        return torch.utils.data.WeightedRandomSampler(
            (1.0 / counts[labels]).double(), len(labels), replacement=True, generator=generator
        )

    # ---- data ----

    @contextlib.contextmanager
    def _collator_swapped(self, replacement: Any) -> Iterator[None]:
        """Use `replacement` as `data_collator` while a dataloader is built."""
        collator = self.data_collator
        self.data_collator = replacement
        try:
            yield
        finally:
            self.data_collator = collator

    def _evaluation_collator(self) -> contextlib.AbstractContextManager[None]:
        """Swap in `data_collator.as_eval()` (no mixing) while an eval dataloader is built."""
        collator = self.data_collator
        return self._collator_swapped(
            collator.as_eval() if hasattr(collator, "as_eval") else collator
        )

    def get_train_dataloader(self):
        """Training dataloader; records the collator's state per batch when it can be saved.

        With `dataloader_num_workers=0` and a collator that has `state_dict()`, batches are
        built through a `_CollatorStateRecorder`, so a checkpoint can save the state the next
        unused batch was drawn from.
        """
        collator = self.data_collator
        self._collator_recorder = None
        if not _has_state(collator) or self.args.dataloader_num_workers > 0:
            return super().get_train_dataloader()
        self._collator_recorder = _CollatorStateRecorder(collator)
        with self._collator_swapped(self._collator_recorder):
            return super().get_train_dataloader()

    def get_eval_dataloader(self, eval_dataset=None):
        """Evaluation dataloader with the non-mixing collator (`as_eval()`) when available."""
        with self._evaluation_collator():
            return super().get_eval_dataloader(eval_dataset)

    def get_test_dataloader(self, test_dataset):
        """Test/predict dataloader with the non-mixing collator (`as_eval()`) when available."""
        with self._evaluation_collator():
            return super().get_test_dataloader(test_dataset)

    # ---- checkpoints: the collator's random state ----

    def train(
        self,
        resume_from_checkpoint: str | bool | None = None,
        trial: Any = None,
        ignore_keys_for_eval: list[str] | None = None,
        **kwargs: Any,
    ):
        """`Trainer.train`; on resume, first restores the collator's state from the checkpoint.

        Trainer restores its own RNG state (`_load_rng_state`) only after it has built the
        first batches of a resumed epoch, too late for the collator, so it is done here.
        """
        if resume_from_checkpoint is True:
            # None is left to Trainer, which raises its own error.
            checkpoint, skipped = last_complete_checkpoint(self.args.output_dir)
            for path, problem in skipped:
                logger.warning(f"resume: skipping the incomplete {path} ({problem})")
            resume_from_checkpoint = checkpoint or True
        if isinstance(resume_from_checkpoint, (str, os.PathLike)):
            self._load_collator_state(os.fspath(resume_from_checkpoint))
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint,
            trial=trial,
            ignore_keys_for_eval=ignore_keys_for_eval,
            **kwargs,
        )

    def _collator_state_file(self, folder: str) -> str:
        name = COLLATOR_STATE_NAME
        if self.args.world_size > 1:
            name = name.replace(".json", f"_{self.args.process_index}.json")
        return os.path.join(folder, name)

    def _warn_if_workers_draw(self) -> None:
        if self.args.dataloader_num_workers > 0:
            logger.warning_once(
                f"dataloader_num_workers={self.args.dataloader_num_workers}: the collator draws "
                "its mixes inside the workers from (seed, worker id), so a checkpoint only "
                "restores its seed and a resumed run draws other mixes than the uninterrupted "
                "one. Use dataloader_num_workers=0 for an exact resume."
            )

    def _save_rng_state(self, output_dir: str) -> None:
        """Trainer's RNG states, plus the collator's state as of the next unused batch."""
        super()._save_rng_state(output_dir)
        collator = self.data_collator
        if not _has_state(collator):
            return
        self._warn_if_workers_draw()
        recorder = self._collator_recorder
        if recorder is not None and recorder.collator is collator:
            state = recorder.next_state()
        else:
            state = collator.state_dict()
        with open(self._collator_state_file(output_dir), "w", encoding="utf-8") as file:
            json.dump(state, file)

    def _load_collator_state(self, checkpoint: str) -> None:
        """Restore the collator's state saved by `_save_rng_state`, if both are there."""
        collator = self.data_collator
        if not _has_state(collator):
            return
        path = self._collator_state_file(checkpoint)
        if not os.path.isfile(path):
            logger.warning(
                f"{path} not found: the collator keeps its own random state, so the mixes after "
                "resuming differ from those of the uninterrupted run."
            )
            return
        self._warn_if_workers_draw()
        with open(path, encoding="utf-8") as file:
            collator.load_state_dict(json.load(file))


class _CollatorStateRecorder:
    """Training `collate_fn` that keeps the collator's state from before each batch it builds.

    The dataloader builds batches before the training step that uses them (accelerate's
    `DataLoaderShard` reads one batch ahead), so at a checkpoint the collator's own state is
    already past the next batch a resumed run must draw. `mark_used` drops the states of the
    batches the trainer has taken; the first one left is the state to save.
    """

    def __init__(self, collator: Any) -> None:
        self.collator = collator
        self.states_before: deque[Mapping[str, Any]] = deque()

    def __call__(self, features: Any) -> Any:
        state = self.collator.state_dict()
        batch = self.collator(features)
        self.states_before.append(state)
        return batch

    def mark_used(self, num_batches: int) -> None:
        """The trainer took the `num_batches` oldest built batches."""
        for _ in range(min(num_batches, len(self.states_before))):
            self.states_before.popleft()

    def next_state(self) -> Mapping[str, Any]:
        """State the next batch the trainer takes is (or will be) drawn from."""
        return self.states_before[0] if self.states_before else self.collator.state_dict()


def _has_state(collator: Any) -> bool:
    return callable(getattr(collator, "state_dict", None)) and callable(
        getattr(collator, "load_state_dict", None)
    )


def _dataset_labels(dataset: Any, collator: Any, limit: int | None = None) -> list:
    """The label of every training sample (or of the first `limit`): a `datasets` column read
    directly, else item by item (iterating when the dataset cannot be indexed).

    Looks for the collator's `label_column`, then "labels", then "label".
    """
    candidates = [getattr(collator, "label_column", None), "labels", "label"]
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:
        for name in candidates:
            if name in column_names:
                if limit is None:
                    return list(dataset[name])
                return [item[name] for item in islice(dataset, limit)]
        raise ValueError(f"train_dataset has no label column among {candidates[1:]}")
    items = (
        (dataset[index] for index in range(len(dataset)))
        if limit is None
        else islice(dataset, limit)
    )
    labels = []
    for index, item in enumerate(items):
        name = next((n for n in candidates if n is not None and n in item), None)
        if name is None:
            raise ValueError(f"train_dataset item {index} has no label key among {candidates[1:]}")
        labels.append(item[name])
    return labels
