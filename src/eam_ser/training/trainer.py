"""`MultiLossTrainer`: the `transformers.Trainer` of the four-term MLL objective.

The model computes the objective itself: `FlamForSequenceClassification.forward` returns the
weighted `loss` and each unweighted term (`kl_loss`, `focal_loss`, `center_loss`,
`supervised_contrastive_loss`) when the batch holds `labels` (batch,) and, from the EAM
collator, `soft_labels` (batch, num_labels); `eam_ser.models.flam.losses.MultiLoss` forms the total, the
cross-process supervised contrastive term included. A plain `transformers.Trainer` therefore
trains it too. `MultiLossTrainer` adds what only a trainer can do:

- loss weights and hyper-parameters from `MultiLossTrainingArguments` (command line,
  `HfArgumentParser`) when given, written into the model's `config.multi_loss` so the saved
  model records the objective it was trained with; focal `alpha` from the class frequencies;
- with several processes (`supcon_across_processes`), it switches the model's supervised
  contrastive term to the samples of every process, so it sees the global batch and not only
  the per-device one;
- per-term logs (`loss_kl`, ...) reduced over processes, so the logged `loss` is the weighted
  sum of the logged terms; a training stop when the loss becomes NaN or infinite;
- exact gradient accumulation over unequal micro-batches: every term is a per-micro-batch
  mean, scaled by `micro_batch_size / samples_in_the_accumulated_batch`, so the accumulated
  gradient is the large-batch gradient for KL, focal and center loss even when the last
  micro-batch is short (supervised contrastive loss depends on which samples share one);
- learning rates per part: `head_learning_rate`, `encoder_learning_rate`,
  `center_learning_rate` (the centers without weight decay; not with a DeepSpeed config that
  builds its own optimizer, see the "Several GPUs" guide); optional class-balanced sampling;
- evaluation batches that are never mixed, and the collator's random state in every
  checkpoint (`collator_rng_state.json`, one per process), restored on resume before the
  first batch is built, so the mixes after resuming are those of the uninterrupted run (exact
  for map-style datasets with `dataloader_num_workers=0`; with workers the mixes are drawn in
  the workers from their own streams, which only the seed in the checkpoint describes);
- one hook for collators that leave work to the training step (`CompletesOnDevice`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import seed_worker
from transformers.utils import logging

from eam_ser.data.collator import CompletesOnDevice, EvaluationSwitch
from eam_ser.data.duration_batches import DurationBatchSampler, clip_durations
from eam_ser.models.flam.loss_settings import LOSS_TERMS, MultiLossSettings
from eam_ser.models.flam.modeling_flam import LOSS_TERM_OUTPUTS

from .arguments import INVERSE_FREQUENCY, MultiLossTrainingArguments
from .checkpoints import (
    CHECKPOINT_ARCHIVES,
    COLLATOR_STATE_NAME,
    CollatorStateCheckpoint,
    checkpoint_problem,
    disk_space_guard,
    last_complete_checkpoint,
)
from .class_balance import balanced_sampler, inverse_frequency_alpha

__all__ = [
    "CHECKPOINT_ARCHIVES",
    "COLLATOR_STATE_NAME",
    "EncoderFreezeCallback",
    "MultiLossTrainer",
    "MultiLossTrainingArguments",
    "TrainingDivergedError",
    "checkpoint_problem",
    "last_complete_checkpoint",
]

logger = logging.get_logger(__name__)


class TrainingDivergedError(ValueError):
    """The training loss became NaN or infinite: training stops before the weights are used."""

    @classmethod
    def at(
        cls, step: int, loss: torch.Tensor, terms: Mapping[str, torch.Tensor]
    ) -> TrainingDivergedError:
        """The error for training step `step`, naming the () `loss` and its `terms`."""
        return cls(
            f"training diverged at step {step}: the loss is {float(loss.detach()):.4g} (terms: "
            + ", ".join(f"{name} {float(value.detach()):.4g}" for name, value in terms.items())
            + "); lower the learning rates (head_learning_rate, encoder_learning_rate) or "
            "check the inputs. Nothing was saved as the model."
        )


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

    @classmethod
    def for_model(cls, model: nn.Module) -> EncoderFreezeCallback | None:
        """The callback for `model.config.freeze_encoder_steps`, None when that is not > 0.

        Raises:
            ValueError: the model has no `freeze_encoder()` / `unfreeze_encoder()`.
        """
        freeze_steps = getattr(model.config, "freeze_encoder_steps", 0) or 0
        if freeze_steps <= 0:
            return None
        if not (hasattr(model, "freeze_encoder") and hasattr(model, "unfreeze_encoder")):
            raise ValueError(
                f"config.freeze_encoder_steps={freeze_steps} but {type(model).__name__} has "
                "no freeze_encoder()/unfreeze_encoder()"
            )
        return cls(freeze_steps)

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
    (and `soft_labels`), keeps its objective in `config.multi_loss` and changes it with
    `set_loss_settings(settings)` (with several processes and `supcon_across_processes`:
    `set_loss_settings(settings, cross_process=True)`). The loss fields of `args` that are set
    are applied to the model at init; a model whose `config.freeze_encoder_steps > 0` gets an
    `EncoderFreezeCallback`. The rest is in the module docstring.

    Args:
        model: the model to train, e.g. a `FlamForSequenceClassification`.
        args: the training arguments with the MLL overrides, learning rates per part of the
            model and class-balanced sampling; None: `MultiLossTrainingArguments` with
            `output_dir="trainer_output"`.
        *pargs: the other positional arguments of `transformers.Trainer`.
        **kwargs: the other keyword arguments of `transformers.Trainer` (`train_dataset`,
            `eval_dataset`, `data_collator`, `compute_metrics`, `callbacks`, ...).

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
        self._term_log = _TermLog()
        self._collator_state = CollatorStateCheckpoint(self.args)
        _warn_if_deepspeed_builds_optimizer(args)

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
        callback = EncoderFreezeCallback.for_model(model)
        if callback is not None:
            self.add_callback(callback)

    def _apply_loss_overrides(self, model: nn.Module) -> None:
        """Write the loss fields set in `args` into the model's objective, and switch its
        supervised contrastive term across processes when several train."""
        overrides = self.args.loss_overrides()
        if overrides.get("focal_alpha") == INVERSE_FREQUENCY:
            overrides["focal_alpha"] = inverse_frequency_alpha(
                model.config,
                self.train_dataset,
                self.data_collator,
                label_counts=self.args.label_counts,
                label_count_samples=self.args.label_count_samples,
            )
        cross_process = self.args.supcon_across_processes and self.args.world_size > 1
        if overrides or cross_process:
            settings = MultiLossSettings.from_dict({**model.config.multi_loss, **overrides})
            switch = {"cross_process": True} if cross_process else {}
            model.set_loss_settings(settings, **switch)

    @property
    def loss_settings(self) -> MultiLossSettings:
        """The objective being trained: the (unwrapped) model's `config.multi_loss`."""
        return MultiLossSettings.from_dict(
            self.accelerator.unwrap_model(self.model).config.multi_loss
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
            inputs: model inputs with `labels` (batch,) and optionally `soft_labels`
                (batch, num_labels).
            return_outputs: also return the model outputs.
            num_items_in_batch: samples in the whole accumulated batch; when given, the mean
                loss is scaled by `batch / num_items_in_batch`.
        """
        if isinstance(self.data_collator, CompletesOnDevice):
            inputs = self.data_collator.complete_on_device(inputs)
        if "labels" not in inputs:
            raise ValueError(
                "MultiLossTrainer needs `labels` (batch,) in every batch; got keys "
                f"{sorted(inputs)}. Check the collator and `remove_unused_columns`."
            )
        outputs = model(**inputs)
        terms = {
            name: outputs.get(output_name)
            for name, output_name in LOSS_TERM_OUTPUTS.items()
            if outputs.get(output_name) is not None
        }
        if outputs.get("loss") is None or not terms:
            raise TypeError(
                f"{type(model).__name__} returned no `loss` and loss terms for a batch with "
                "labels; MultiLossTrainer needs a model that computes the MLL objective"
            )
        loss = outputs["loss"]
        if model.training and not bool(torch.isfinite(loss.detach()).all()):
            raise TrainingDivergedError.at(self.state.global_step + 1, loss, terms)
        batch_size = inputs["labels"].shape[0]
        if model.training:
            self._term_log.add(terms, batch_size)
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
        self._collator_state.mark_used(len(batch_samples))
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
        if "loss" in logs and self._term_log:
            several = self.args.world_size > 1
            logs.update(self._term_log.pop_averages(self.accelerator if several else None))
        super().log(logs, start_time)

    # ---- optimizer and sampling ----

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
        if isinstance(optimizer, torch.optim.Optimizer):
            opt_model = self.accelerator.unwrap_model(self.model if model is None else model)
            _split_by_part(optimizer, opt_model, self.args.group_learning_rates())
        return optimizer

    def _get_train_sampler(self, train_dataset=None):
        """`balanced_sampling`: a `WeightedRandomSampler` with weights 1 / (count of the
        sample's class), seeded by `args.seed`; otherwise Trainer's sampler."""
        if not self.args.balanced_sampling:
            return super()._get_train_sampler(train_dataset)
        dataset = self.train_dataset if train_dataset is None else train_dataset
        return balanced_sampler(dataset, self.args.seed)

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
            collator.as_eval() if isinstance(collator, EvaluationSwitch) else collator
        )

    def get_train_dataloader(self):
        """Training dataloader; records the collator's state per batch when it can be saved
        (`CollatorStateCheckpoint.record`), so a checkpoint can save the state the next unused
        batch was drawn from."""
        recording = self._collator_state.record(self.data_collator)
        swapped = (
            contextlib.nullcontext() if recording is None else self._collator_swapped(recording)
        )
        with swapped:
            if self.args.max_batch_seconds is None:
                return super().get_train_dataloader()
            return self._duration_batches_dataloader()

    def _duration_batches_dataloader(self) -> DataLoader:
        """`max_batch_seconds`: batches of similar lengths by padded seconds
        (`DurationBatchSampler`, seeded by ``args.seed``, reshuffled each epoch), sharded over
        the processes by accelerate like Trainer's own batches."""
        dataset = self.train_dataset
        durations = getattr(dataset, "durations", None)  # an EncoderFeatureCache knows them
        if durations is None:
            if not hasattr(dataset, "__len__") or "audio" not in getattr(
                dataset, "column_names", ()
            ):
                raise ValueError(
                    "max_batch_seconds needs a map-style training set with an 'audio' column "
                    "(the clips' durations are read from it)"
                )
            durations = clip_durations(dataset["audio"])
        sampler = DurationBatchSampler(durations, self.args.max_batch_seconds, seed=self.args.seed)
        # The collator reads the rows as they are (MultiLossTrainer's collators take the audio
        # and label columns; run with remove_unused_columns=False, as build_trainer does).
        collate = self.data_collator
        workers = self.args.dataloader_num_workers
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers if workers else False,
            multiprocessing_context=self.args.dataloader_multiprocessing_context
            if workers
            else None,
            prefetch_factor=self.args.dataloader_prefetch_factor if workers else None,
            worker_init_fn=functools.partial(
                seed_worker, num_workers=workers, rank=self.args.process_index
            ),
        )
        return self.accelerator.prepare(loader)

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
        """`Trainer.train`; on resume, first checks the checkpoint (`checkpoint_problem`) and
        restores the collator's state from it; a full disk stops with a `DiskFullError` naming
        the checkpoint kept (`disk_space_guard`).

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
            problem = checkpoint_problem(resume_from_checkpoint)
            if problem is not None:
                raise ValueError(
                    f"resume_from_checkpoint {resume_from_checkpoint}: {problem}; resume from "
                    "an earlier checkpoint, or give resume_from_checkpoint=True for the newest "
                    "complete one"
                )
            self._collator_state.load(self.data_collator, resume_from_checkpoint)
        with disk_space_guard(self.args.output_dir):
            return super().train(
                resume_from_checkpoint=resume_from_checkpoint,
                trial=trial,
                ignore_keys_for_eval=ignore_keys_for_eval,
                **kwargs,
            )

    def _save_rng_state(self, output_dir: str) -> None:
        """Trainer's RNG states, plus the collator's state as of the next unused batch."""
        super()._save_rng_state(output_dir)
        self._collator_state.save(self.data_collator, output_dir)


def _warn_if_deepspeed_builds_optimizer(args: TrainingArguments) -> None:
    deepspeed_config = getattr(args, "hf_deepspeed_config", None)
    if deepspeed_config is not None and "optimizer" in deepspeed_config.config:
        logger.warning(
            "The DeepSpeed config has an `optimizer` block, so DeepSpeed builds the optimizer "
            "from all parameters: `class_centers` get the main learning rate and weight "
            "decay, and center_learning_rate is ignored. Remove the block (Trainer then "
            "builds the optimizer, centers in their own group) to keep it."
        )


def _split_by_part(
    optimizer: torch.optim.Optimizer, model: nn.Module, rates: Mapping[str, float]
) -> None:
    """Split every parameter group of `optimizer` by part of `model` (its `encoder`, its
    `class_centers`, the head: everything else), each at its rate in `rates`; the centers get
    no weight decay. A group keeps its other options and records its part (`part`)."""
    encoder = getattr(model, "encoder", None)
    encoder_ids = (
        {id(parameter) for parameter in encoder.parameters()}
        if isinstance(encoder, nn.Module)
        else set()
    )
    centers = getattr(model, "class_centers", None)

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


class _TermLog:
    """Sample-weighted sums of the unweighted loss terms since the last log, kept on the device
    as tensors (one host sync per log, not per micro-batch)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def __bool__(self) -> bool:
        return bool(self.sums)

    def add(self, terms: Mapping[str, torch.Tensor], batch_size: int) -> None:
        """Add the () `terms` of a micro-batch of `batch_size` samples."""
        for name, value in terms.items():
            weighted = value.detach().float() * batch_size
            self.sums[name] = self.sums.get(name, 0.0) + weighted
        self.count += batch_size

    def pop_averages(self, accelerator: Any = None) -> dict[str, float]:
        """`{"loss_kl": mean, ...}` over the samples since the last call (of every process
        when an `accelerator` is given to sum over them), then start again."""
        names = [name for name in LOSS_TERMS if name in self.sums]
        totals = torch.stack(
            [self.sums[name] for name in names]
            + [torch.tensor(float(self.count), device=self.sums[names[0]].device)]
        )
        if accelerator is not None:
            totals = accelerator.reduce(totals, reduction="sum")
        totals = totals.tolist()
        self.sums, self.count = {}, 0
        return {
            f"loss_{name}": total / totals[-1] for name, total in zip(names, totals, strict=False)
        }
