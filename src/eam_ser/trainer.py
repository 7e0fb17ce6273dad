"""`MultiLossTrainer`: a `transformers.Trainer` that optimises the four-term MLL loss.

Any model whose forward returns `logits` (batch, num_labels) and `embeddings`
(batch, embedding_size) and that owns `class_centers` (num_labels, embedding_size) as an
`nn.Parameter` (e.g. `FlamForSequenceClassification`) can be trained. The batch must hold
`labels` (batch,) hard labels and may hold `soft_labels` (batch, num_labels) from the
`EnergyAdaptiveMixupCollator`; without them the targets are the one-hot hard labels.

Which target feeds which term: KL, focal and center losses use the soft labels (so a mixed
sample counts for both of its classes); supervised contrastive loss uses the hard labels,
which the EAM collator sets to the class of the first utterance of each mix (the argmax of
its soft label).

Loss weights and hyper-parameters are fields of `MultiLossTrainingArguments`, so they are
settable from Python or the command line (`HfArgumentParser`) and saved with every checkpoint
in `training_args.bin`.

Every checkpoint also holds the random state of a collator that has `state_dict()` /
`load_state_dict()` (the EAM collator) in `collator_rng_state.json`, restored on resume, so
the mixes after resuming are those of the uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging

from .losses import MultiLoss, inverse_frequency_weights

__all__ = ["EncoderFreezeCallback", "MultiLossTrainer", "MultiLossTrainingArguments"]

logger = logging.get_logger(__name__)

INVERSE_FREQUENCY = "inverse_frequency"
LOSS_TERMS = ("kl", "focal", "center", "supcon")
COLLATOR_STATE_NAME = "collator_rng_state.json"
"""File of the collator's random state in a checkpoint (`collator_rng_state_{rank}.json` when
several processes train)."""


@dataclass
class MultiLossTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the weights and hyper-parameters of the MLL loss.

    Changed defaults: `remove_unused_columns=False` (the collator needs the raw audio and label
    columns, which the model's forward does not name) and `label_names=["labels"]` when left
    unset (otherwise Trainer would treat every forward argument containing "label", including
    `soft_labels`, as a label and hand `compute_metrics` a tuple). Evaluation therefore gathers
    the hard `labels` only.

    Default weights (the paper does not publish them; chosen for scale): KL 1.0 (main
    classification term, to the EAM soft labels); focal 1.0 (same order as cross-entropy,
    gamma 2.0 as in Lin et al. 2017); center 0.01 (sums squared distances over the embedding
    dimensions, so it starts far larger than the other terms; Wen et al. 2016 use
    0.001-0.01); supervised contrastive 0.1 (auxiliary, about log(batch) in size; temperature
    0.07 as in Khosla et al. 2020).
    """

    remove_unused_columns: bool = field(
        default=False,
        metadata={
            "help": "Remove dataset columns the model forward does not accept. Default False for "
            "MLL: the collator needs the audio and label columns."
        },
    )
    kl_weight: float = field(
        default=1.0, metadata={"help": "Weight of the KL divergence to the soft labels."}
    )
    focal_weight: float = field(default=1.0, metadata={"help": "Weight of the focal loss."})
    center_weight: float = field(
        default=0.01,
        metadata={"help": "Weight of the center loss (needs `model.class_centers`; 0 disables)."},
    )
    supcon_weight: float = field(
        default=0.1, metadata={"help": "Weight of the supervised contrastive loss."}
    )
    focal_gamma: float = field(default=2.0, metadata={"help": "Focal loss gamma (>= 0)."})
    focal_alpha: list[float] | str | None = field(
        default=None,
        metadata={
            "help": "Focal loss per-class weights: None (all 1), a list of floats (one per "
            "class; on the command line comma-separated, e.g. '1.0,2.5,0.8'), or "
            "'inverse_frequency' (N / (num_labels * n_k) from the training set labels)."
        },
    )
    supcon_temperature: float = field(
        default=0.07, metadata={"help": "Supervised contrastive temperature (> 0)."}
    )
    center_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Learning rate of `class_centers` (None: `learning_rate`). The centers never "
            "get weight decay and follow the same schedule."
        },
    )

    def __post_init__(self) -> None:
        if self.label_names is None:
            self.label_names = ["labels"]
        if isinstance(self.focal_alpha, str) and self.focal_alpha != INVERSE_FREQUENCY:
            try:
                self.focal_alpha = [float(value) for value in self.focal_alpha.split(",")]
            except ValueError:
                raise ValueError(
                    f"focal_alpha must be None, a list of floats, comma-separated floats or "
                    f"{INVERSE_FREQUENCY!r}, got {self.focal_alpha!r}"
                ) from None
        elif self.focal_alpha is not None and not isinstance(self.focal_alpha, str):
            self.focal_alpha = [float(value) for value in self.focal_alpha]
        if isinstance(self.focal_alpha, list) and any(value < 0 for value in self.focal_alpha):
            raise ValueError(f"focal_alpha weights must be >= 0, got {self.focal_alpha}")
        for name in ("kl_weight", "focal_weight", "center_weight", "supcon_weight", "focal_gamma"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.supcon_temperature <= 0:
            raise ValueError(f"supcon_temperature must be > 0, got {self.supcon_temperature}")
        if self.center_learning_rate is not None and self.center_learning_rate < 0:
            raise ValueError(f"center_learning_rate must be >= 0, got {self.center_learning_rate}")
        super().__post_init__()


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
    """`Trainer` with the KL + focal + center + supervised contrastive loss.

    Takes the same arguments as `transformers.Trainer`; `args` must be a
    `MultiLossTrainingArguments` (default: one with `output_dir="trainer_output"`).

    - `compute_loss` runs the model on the inputs without `labels`/`soft_labels` (the model's
      own loss is not needed) and applies `MultiLoss` to `outputs.logits`,
      `outputs.embeddings` and the model's `class_centers`.
    - Training logs gain `loss_kl`, `loss_focal`, `loss_center`, `loss_supcon`: each
      unweighted term averaged over the samples since the previous log, so
      `loss = sum_k weight_k * loss_k` for the same interval. Evaluation logs only have
      `eval_loss` (the total on hard labels).
    - Gradient accumulation: every term is a per-micro-batch mean; each is scaled by
      `micro_batch_size / samples_in_the_accumulated_batch`, so the accumulated gradient is the
      large-batch gradient for KL, focal and center loss even when the last micro-batch is
      short (supervised contrastive loss depends on which samples share a micro-batch and
      cannot match).
    - The centers get their own optimizer parameter group: learning rate
      `center_learning_rate` (default `learning_rate`) and no weight decay.
    - Evaluation and prediction dataloaders use `data_collator.as_eval()` when the collator
      has it (no mixing); metrics are computed on hard labels.
    - If `model.config.freeze_encoder_steps > 0`, an `EncoderFreezeCallback` is added.
    - Checkpoints save the training collator's `state_dict()` (when it has one) as of the next
      batch a training step will use, and `train(resume_from_checkpoint=...)` restores it
      with `load_state_dict()` before the first batch is built, so the resumed run draws the
      same mixes as the uninterrupted one. Exact for map-style datasets (skipped batches are
      never built) with `dataloader_num_workers=0`: with workers the mixes are drawn in the
      workers from `(seed, worker id)`, which only the seed in the checkpoint describes (a
      warning says so).

    Raises:
        ValueError: at init, when `center_weight > 0` and the model has no `class_centers`
            (the centers must live in the model to be saved and restored; set
            `center_weight=0` to train without them), or when the model cannot freeze its
            encoder although its config asks for it.
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
        super().__init__(model, args, *pargs, **kwargs)
        if args.remove_unused_columns:
            logger.warning(
                "remove_unused_columns=True drops dataset columns the model forward does not "
                "name (e.g. audio or soft_labels) before they reach the collator."
            )
        if self.model is not None:
            self._check_model(self.model)
        focal_alpha = args.focal_alpha
        if focal_alpha == INVERSE_FREQUENCY:
            focal_alpha = self._inverse_frequency_alpha()
        self.multi_loss = MultiLoss(
            kl_weight=args.kl_weight,
            focal_weight=args.focal_weight,
            center_weight=args.center_weight,
            supcon_weight=args.supcon_weight,
            focal_gamma=args.focal_gamma,
            focal_alpha=focal_alpha,
            supcon_temperature=args.supcon_temperature,
        )
        self._term_sums: dict[str, torch.Tensor | float] = {}
        self._term_count = 0
        self._collator_recorder: _CollatorStateRecorder | None = None

    def _check_model(self, model: nn.Module) -> None:
        if self.args.center_weight > 0 and not isinstance(
            getattr(model, "class_centers", None), nn.Parameter
        ):
            raise ValueError(
                f"center_weight={self.args.center_weight} but {type(model).__name__} has no "
                "`class_centers` nn.Parameter (num_labels, embedding_size); add one to the model "
                "or set center_weight=0"
            )
        freeze_steps = getattr(getattr(model, "config", None), "freeze_encoder_steps", 0) or 0
        if freeze_steps > 0:
            if not (hasattr(model, "freeze_encoder") and hasattr(model, "unfreeze_encoder")):
                raise ValueError(
                    f"config.freeze_encoder_steps={freeze_steps} but {type(model).__name__} has "
                    "no freeze_encoder()/unfreeze_encoder()"
                )
            self.add_callback(EncoderFreezeCallback(freeze_steps))

    def _inverse_frequency_alpha(self) -> list[float]:
        """Focal alpha from the training set labels (`focal_alpha="inverse_frequency"`)."""
        if self.train_dataset is None:
            raise ValueError('focal_alpha="inverse_frequency" needs a train_dataset')
        config = getattr(self.model, "config", None)
        num_labels = getattr(config, "num_labels", None)
        if num_labels is None:
            raise ValueError('focal_alpha="inverse_frequency" needs model.config.num_labels')
        label2id = getattr(config, "label2id", None) or {}
        labels = [
            label2id[label] if isinstance(label, str) else int(label)
            for label in _dataset_labels(self.train_dataset, self.data_collator)
        ]
        return inverse_frequency_weights(labels, num_labels)

    # ---- loss ----

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """Weighted MLL loss of one micro-batch.

        Args:
            model: the (possibly wrapped) model.
            inputs: model inputs plus `labels` (batch,) and optionally `soft_labels`
                (batch, num_labels).
            return_outputs: also return the model outputs.
            num_items_in_batch: samples in the whole accumulated batch; when given, the mean
                loss is scaled by `batch / num_items_in_batch`.
        """
        if "labels" not in inputs:
            raise ValueError(
                "MultiLossTrainer needs `labels` (batch,) in every batch; got keys "
                f"{sorted(inputs)}. Check the collator and `remove_unused_columns`."
            )
        labels = inputs["labels"]
        soft_labels = inputs.get("soft_labels")
        model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "soft_labels")}
        outputs = model(**model_inputs)
        if not isinstance(outputs, dict) or outputs.get("logits") is None:
            raise TypeError(
                f"{type(model).__name__} must return a ModelOutput/dict with `logits` (and "
                "`embeddings` for the center and supervised contrastive terms)"
            )
        logits = outputs["logits"]
        embeddings = outputs.get("embeddings")
        if soft_labels is None:
            soft_labels = F.one_hot(labels.long(), logits.shape[-1]).to(logits.dtype)
        centers = getattr(self.accelerator.unwrap_model(model), "class_centers", None)
        result = self.multi_loss(logits, embeddings, soft_labels, labels.long(), centers)
        loss = result.loss

        batch_size = labels.shape[0]
        if model.training:
            # Kept on the device as tensors: one host sync per log, not per micro-batch.
            for name, value in result.terms.items():
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
        """Add the per-term averages (`loss_kl`, ...) to training logs, then log."""
        if "loss" in logs and self._term_count > 0:
            for name in LOSS_TERMS:
                if name in self._term_sums:
                    logs[f"loss_{name}"] = float(self._term_sums[name]) / self._term_count
            self._term_sums = {}
            self._term_count = 0
        super().log(logs, start_time)

    # ---- optimizer ----

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """Trainer's optimizer with `class_centers` moved to their own parameter group.

        The centers' group has `lr=center_learning_rate` (or `learning_rate`) and
        `weight_decay=0`. An optimizer passed to the Trainer by the user is left untouched.
        """
        if self.optimizer is not None:
            return self.optimizer
        optimizer = super().create_optimizer(model)
        opt_model = self.accelerator.unwrap_model(self.model if model is None else model)
        centers = getattr(opt_model, "class_centers", None)
        if not isinstance(centers, nn.Parameter) or not isinstance(
            optimizer, torch.optim.Optimizer
        ):
            return optimizer
        found = False
        for group in optimizer.param_groups:
            kept = [p for p in group["params"] if p is not centers]
            found = found or len(kept) != len(group["params"])
            group["params"] = kept
        if not found:
            return optimizer
        learning_rate = self.args.center_learning_rate
        optimizer.add_param_group(
            {
                "params": [centers],
                "lr": self.args.learning_rate if learning_rate is None else learning_rate,
                "weight_decay": 0.0,
            }
        )
        return optimizer

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
            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir) or True
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


def _dataset_labels(dataset: Any, collator: Any) -> list:
    """The label of every training sample: a `datasets` column read directly, else item by item.

    Looks for the collator's `label_column`, then "labels", then "label".
    """
    candidates = [getattr(collator, "label_column", None), "labels", "label"]
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:
        for name in candidates:
            if name in column_names:
                return list(dataset[name])
        raise ValueError(f"train_dataset has no label column among {candidates[1:]}")
    labels = []
    for index in range(len(dataset)):
        item = dataset[index]
        name = next((n for n in candidates if n is not None and n in item), None)
        if name is None:
            raise ValueError(f"train_dataset item {index} has no label key among {candidates[1:]}")
        labels.append(item[name])
    return labels
