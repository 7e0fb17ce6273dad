"""FLAM: a pretrained speech encoder followed by a Frame-Level Attention Module.

Data flow of `FlamForSequenceClassification` (shapes for a batch of `batch` clips):

    input_values (batch, samples)  or  input_features (batch, mel_bins, mel_frames)
      -> speech encoder (WavLM / HuBERT / wav2vec 2.0 / data2vec-audio / Whisper encoder;
         `eam_ser.models.flam.encoders`: loading, freezing, the masked forward, the frame mask)
      -> frame features (batch, frames, hidden)      [optionally a weighted sum of all layers]
      -> FrameLevelAttention: self-attention blocks over the valid frames, context
         broadcasting, pooling to one vector (batch, flam_width or 2 * flam_width)
      -> projector -> embeddings (batch, embedding_size)   [center / SupCon losses]
      -> classifier -> logits (batch, num_labels)
      -> with `labels`: the Multi-Loss Learning objective (`eam_ser.models.flam.losses.MultiLoss`: KL to
         the soft labels + focal + center + supervised contrastive, weighted by
         `config.multi_loss`)

Loss. As transformers models compute theirs, the forward computes the whole objective when
`labels` (and optionally the EAM `soft_labels`) are given, with the class centers read inside
`forward`. Any trainer (plain `transformers.Trainer`, accelerate, DDP, FSDP, DeepSpeed) thus
sees an ordinary model whose every trainable parameter is used in `forward`. A plain
`transformers.Trainer` evaluates with its one (training) collator, so an EAM collator would mix
the evaluation batches: `forward` warns when soft labels that are not one-hot reach the model
in eval mode (not for ``label_mode="hard"``, whose mixes keep one-hot labels;
`MultiLossTrainer` evaluates with `collator.as_eval()`). The output holds
the weighted total (`loss`) and each unweighted term (`kl_loss`, ...), which `MultiLossTrainer`
logs. With several processes, `set_loss_settings(..., cross_process=True)` (what
`MultiLossTrainer` does by default) makes the supervised contrastive term compare each sample
with the samples of every process.

Padding. `attention_mask` (1 = real sample / real mel frame) is turned into a frame mask with
the encoder's own output-length arithmetic; FLAM attends to and pools over real frames only,
so a clip gives the same logits alone or padded inside a batch (exceptions and Whisper's crop
to the longest clip: `eam_ser.models.flam.encoders`).

Minimum length. A wav2vec-style CNN needs at least `min_input_samples(...)` samples (400 =
25 ms at 16 kHz for the standard front end) to produce one frame; shorter non-empty clips raise
`ValueError`. All-padding rows (length 0) are allowed and give finite outputs (a zero pooled
vector).

Importing this module registers `FlamForSequenceClassification` with
`AutoModelForAudioClassification` (and `FlamConfig` with `AutoConfig`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import torch
from torch import nn
from transformers import AutoModelForAudioClassification, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput, can_return_tuple

if TYPE_CHECKING:
    from typing_extensions import Unpack

from . import encoders
from .configuration_flam import FlamConfig, min_input_samples
from .encoders import (
    WAVLM_MASK_WARNING,
    WHISPER_FRAME_STRIDE,
    WHISPER_SAMPLES_PER_MEL_FRAME,
    EncoderOutput,
    build_encoder,
    check_attention_mask,
    is_tracing,
    is_whisper,
    load_pretrained_encoder,
    whisper_frame_lengths,
)
from .featurize import SAMPLING_RATE
from .frame_attention import (
    CONTEXT_BROADCAST_WEIGHT,
    FrameLevelAttention,
    FrameLevelAttentionLayer,
    context_broadcast,
    frame_features,
    masked_mean,
    masked_softmax,
)
from .losses import MultiLoss, MultiLossSettings, hard_and_soft_labels

# Sampling rate of every supported pretrained speech encoder, in Hz (used in error messages).
ENCODER_SAMPLING_RATE = SAMPLING_RATE


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass
class FlamSequenceClassifierOutput(ModelOutput):
    """Output of [`FlamForSequenceClassification`].

    Args:
        loss: () the Multi-Loss Learning objective `sum_k weight_k * term_k` (weights from
            `config.multi_loss`), when `labels` or `soft_labels` are given.
        logits: (batch, num_labels) classification scores before softmax.
        embeddings: (batch, embedding_size) pooled utterance embeddings for the center and
            supervised-contrastive losses.
        kl_loss, focal_loss, center_loss, supervised_contrastive_loss: () the unweighted terms
            of `loss` (each a batch mean); None when no labels are given or the term's weight
            is 0.
        frame_attention: (batch, frames) pooling weight of every encoder frame (zero on padded
            frames, summing to 1 over real frames; uniform for `pooling="mean"`); returned when
            `output_attentions=True`.
        hidden_states: encoder hidden states, tuple of (batch, frames, hidden), the embedding
            output first; returned when `output_hidden_states=True`.
        attentions: encoder self-attention weights (wav2vec-style encoders); returned when
            `output_attentions=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    kl_loss: torch.FloatTensor | None = None
    focal_loss: torch.FloatTensor | None = None
    center_loss: torch.FloatTensor | None = None
    supervised_contrastive_loss: torch.FloatTensor | None = None
    frame_attention: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


LOSS_TERM_OUTPUTS = {
    "kl": "kl_loss",
    "focal": "focal_loss",
    "center": "center_loss",
    "supcon": "supervised_contrastive_loss",
}
"""The `FlamSequenceClassifierOutput` field of each MLL term (keys: `LOSS_TERMS`)."""


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def caller_stacklevel() -> int:
    """The `warnings.warn` stacklevel, for a function of this model's code, of the first frame
    outside torch, transformers and this folder: the line that called the model (through
    `nn.Module.__call__` and `can_return_tuple`, whose depth differs between calls)."""
    frame, level = inspect.currentframe().f_back, 1
    inside = ("torch", "transformers", __package__ or __name__)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(inside):
        frame, level = frame.f_back, level + 1
    return level


def _as_target_tensor(value: Any, name: str) -> torch.Tensor | None:
    """A target given as a tensor, None, or a list / numpy array of numbers (as a tensor);
    anything else refused naming `name`."""
    if value is None or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            return torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError):
            pass
    raise ValueError(
        f"{name} must be a torch.Tensor (or a list / numpy array of numbers), got "
        f"{type(value).__name__}"
    )


def _renamed_soft_targets(
    soft_labels: torch.Tensor | None, soft_targets: torch.Tensor | None
) -> torch.Tensor | None:
    """`forward`'s soft labels, given under their deprecated name `soft_targets` (removed in 0.6)
    or their own."""
    if soft_targets is None:
        return soft_labels
    if soft_labels is not None:
        raise ValueError("give soft_labels only (soft_targets is its deprecated name)")
    warnings.warn(
        "the soft_targets argument of FlamForSequenceClassification.forward is "
        "deprecated and is removed in 0.6: pass soft_labels",
        FutureWarning,
        stacklevel=caller_stacklevel(),
    )
    return soft_targets


MIXED_EVALUATION_WARNING = (
    "soft_labels that are not one-hot reached the model in eval mode: the collator mixed this "
    "evaluation batch, so its loss and metrics are of mixed audio. A plain transformers.Trainer "
    "evaluates with its training collator; use eam_ser.MultiLossTrainer (it evaluates with "
    "collator.as_eval()) or evaluate with a collator that does not mix"
)


def warn_if_mixed(soft_labels: torch.Tensor) -> None:
    """Warn (`MIXED_EVALUATION_WARNING`; Python's default filter shows it once per process)
    when a row of the (batch, num_labels) `soft_labels` is not one-hot, i.e. a sample was
    mixed. A mix whose soft label stays one-hot (``label_mode="hard"``) cannot be told from
    the labels and is not warned of."""
    if bool((soft_labels.amax(dim=1) < 1.0).any()):
        warnings.warn(MIXED_EVALUATION_WARNING, UserWarning, stacklevel=caller_stacklevel())


class FlamForwardKwargs(TypedDict, total=False):
    """The keyword arguments of `FlamForSequenceClassification.forward` beyond
    ``input_values``, ``attention_mask``, ``labels`` and ``input_features`` (none is named like
    a label, so
    `transformers.utils.find_labels` sees ``labels`` only).

    Attributes:
        soft_labels: (batch, num_labels) float target distributions (EAM's soft labels, rows
            summing to 1) for the KL, focal and center terms, beside (batch,) hard `labels`
            (the positives of the supervised contrastive term); without `labels` their argmax
            is the hard label.
        encoder_hidden_states: (batch, frames, hidden) the encoder's last hidden state computed
            before (`encode`; e.g. cached for a frozen encoder), instead of `input_values` /
            `input_features`; then `attention_mask` is the (batch, frames) frame mask. Not with
            `use_weighted_layer_sum`.
        output_attentions: return `frame_attention` and the encoder's attentions.
        output_hidden_states: return the encoder's hidden states.
        soft_targets: the deprecated name of `soft_labels`, removed in 0.6.
    """

    soft_labels: torch.Tensor | None
    encoder_hidden_states: torch.Tensor | None
    output_attentions: bool | None
    output_hidden_states: bool | None
    soft_targets: torch.Tensor | None


class FlamForSequenceClassification(PreTrainedModel):
    """Speech emotion classifier: pretrained speech encoder -> FLAM -> embedding -> logits.

    Build it around a pretrained encoder with `from_encoder("microsoft/wavlm-large",
    num_labels=4)` (or a local folder, or an `openai/whisper-*` id), from a config with
    `FlamForSequenceClassification(FlamConfig(...))` (random encoder; for tests), or reload a
    saved model with `from_pretrained(saved_dir)` / `AutoModelForAudioClassification`.

    The model owns `class_centers` (num_labels, embedding_size), the centers of the center loss,
    so `save_pretrained` and resumed training keep them. They are initialised from
    N(0, initializer_range^2) (small and distinct, like the head's weights) and read by
    `forward` when it computes the loss.

    `main_input_name` is `config.encoder_input_name` per instance: `"input_values"` for
    wav2vec-style encoders, `"input_features"` for Whisper.

    Args:
        config: the encoder, FLAM, head and loss settings (`FlamConfig`); `config.num_labels`
            sets the classifier and the centers.
        encoder: a pretrained encoder to wrap (what `from_encoder` passes); None builds a
            randomly initialised one from `config.encoder_config`; either is frozen as
            `config` asks.
    """

    config_class = FlamConfig
    base_model_prefix = "encoder"
    main_input_name = "input_values"
    # The objective is a mean over the batch computed here, so `Trainer` must not pass
    # `num_items_in_batch` through **kwargs (it would for any forward taking **kwargs).
    accepts_loss_kwargs = False
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: FlamConfig, encoder: PreTrainedModel | None = None) -> None:
        super().__init__(config)
        self.main_input_name = config.encoder_input_name
        self.encoder = encoders.configured_encoder(config, encoder)
        self.is_whisper = is_whisper(config.encoder_config)
        self.min_input_samples = config.min_input_samples
        if config.use_weighted_layer_sum:
            num_states = config.num_encoder_hidden_states
            self.layer_weights = nn.Parameter(torch.full((num_states,), 1.0 / num_states))
        else:
            self.layer_weights = None
        if config.flam_hidden_size:
            self.input_projection = nn.Linear(config.encoder_hidden_size, config.flam_hidden_size)
        else:
            self.input_projection = None
        self.flam = FrameLevelAttention(config)
        self.projector = nn.Linear(self.flam.output_size, config.embedding_size)
        self.dropout = nn.Dropout(config.final_dropout)
        self.classifier = nn.Linear(config.embedding_size, config.num_labels)
        self.class_centers = nn.Parameter(torch.zeros(config.num_labels, config.embedding_size))
        self.set_loss_settings(config.loss_settings, cross_process=False)
        self.post_init()

    @property
    def encoder_takes_attention_mask(self) -> bool:
        """Whether the encoder is given the attention mask: not a group-norm front end, which
        was pretrained without one (see `eam_ser.models.flam.encoders`); FLAM always masks."""
        return encoders.takes_attention_mask(self.encoder.config)

    def set_loss_settings(
        self, settings: MultiLossSettings, *, cross_process: bool | None = None
    ) -> None:
        """Use `settings` as the training objective from now on and record it in the config.

        Args:
            settings: the objective.
            cross_process: compare each sample with the samples of every process in the
                supervised contrastive term while training (see `MultiLoss`); None keeps the
                current choice (per-process batches for a new model).

        Raises:
            ValueError: `focal_alpha` does not hold one weight per class.
        """
        alpha = settings.focal_alpha
        if alpha is not None and len(alpha) != self.config.num_labels:
            raise ValueError(
                f"multi_loss.focal_alpha has {len(alpha)} weights for {self.config.num_labels} "
                "classes; give one per class"
            )
        if cross_process is None:
            cross_process = self.multi_loss.cross_process
        self.config.multi_loss = settings.to_dict()
        multi_loss = MultiLoss(settings, cross_process=cross_process)
        self.multi_loss = multi_loss.to(self.class_centers.device).train(self.training)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Initialise the head (linear layers N(0, initializer_range^2), layer norms 1/0,
        `class_centers` N(0, initializer_range^2), uniform layer weights). The encoder is a
        `PreTrainedModel` of its own: transformers dispatches its modules to the encoder's
        `_init_weights` and skips already loaded (pretrained) weights, so a wrapped pretrained
        encoder is left untouched."""
        super()._init_weights(module)
        if isinstance(module, FlamForSequenceClassification):
            init.normal_(module.class_centers, mean=0.0, std=self.config.initializer_range)
            if module.layer_weights is not None:
                init.constant_(module.layer_weights, 1.0 / module.layer_weights.numel())

    @classmethod
    def from_encoder(
        cls,
        encoder_name_or_path: str | os.PathLike,
        *,
        num_labels: int | None = None,
        id2label: dict[int, str] | None = None,
        label2id: dict[str, int] | None = None,
        dtype: torch.dtype = torch.float32,
        encoder_kwargs: dict[str, Any] | None = None,
        **flam_kwargs: Any,
    ) -> FlamForSequenceClassification:
        """Wrap a pretrained speech encoder (Hub id such as `"microsoft/wavlm-large"` or
        `"openai/whisper-small"`, or a local folder) with a freshly initialised FLAM head.

        Args:
            encoder_name_or_path: checkpoint of the encoder (see `load_pretrained_encoder`).
            num_labels: number of classes (taken from `id2label` when that is given).
            id2label: class index -> name (sets `num_labels`).
            label2id: class name -> index; derived from `id2label` if omitted.
            dtype: weight dtype of the loaded encoder (default float32).
            encoder_kwargs: extra `from_pretrained` arguments (revision, token, cache_dir).
            **flam_kwargs: any other `FlamConfig` field (`pooling="mean"`, `embedding_size=128`).

        Raises:
            TypeError: a keyword in `flam_kwargs` is not a `FlamConfig` field.
        """
        config_fields = {field.name for field in dataclasses.fields(FlamConfig)}
        unknown = sorted(set(flam_kwargs) - config_fields)
        if unknown:
            raise TypeError(f"from_encoder got unknown FlamConfig fields: {unknown}")
        label_kwargs: dict[str, Any] = {}
        if id2label is not None:
            label_kwargs["id2label"] = {int(index): name for index, name in id2label.items()}
            label_kwargs["label2id"] = label2id or {
                name: index for index, name in label_kwargs["id2label"].items()
            }
        elif num_labels is not None:
            label_kwargs["num_labels"] = num_labels
        encoder = load_pretrained_encoder(
            encoder_name_or_path, dtype=dtype, **(encoder_kwargs or {})
        )
        config = encoders.flam_config_for(encoder, **label_kwargs, **flam_kwargs)
        return cls(config, encoder=encoder).to(dtype)

    # -- freezing (the policy is `config.freeze_*` and `config.trainable_encoder_layers`) ----

    def freeze_feature_encoder(self) -> None:
        """Stop gradients into the convolutional front end (wav2vec-style CNN feature encoder,
        or Whisper `conv1`/`conv2`)."""
        encoders.freeze_feature_encoder(self.encoder)

    def freeze_encoder(self) -> None:
        """Stop gradients into the whole encoder; only the head (and `class_centers`) train."""
        encoders.freeze_encoder(self.encoder)

    def unfreeze_encoder(self) -> None:
        """Train the encoder again, except the parts that stay frozen by design: the front end
        when `config.freeze_feature_encoder`, Whisper's fixed sinusoidal positions and the
        layers below `config.trainable_encoder_layers`."""
        encoders.unfreeze_encoder(
            self.encoder,
            keep_feature_encoder_frozen=self.config.freeze_feature_encoder,
            trainable_layers=self.config.trainable_encoder_layers,
        )

    def may_leave_parameters_unused(self, loss_weights: Mapping[str, Any] | None = None) -> bool:
        """Whether a training step can leave a trainable parameter without a gradient, which
        DDP must then search for (``find_unused_parameters``): the class centers when the
        center term is off, the classifier when both the KL and the focal term are, or encoder
        parameters a step can skip (`encoders.may_skip_parameters`). `loss_weights`:
        `MultiLossSettings` fields (default: the model's own objective)."""
        weights = {**self.config.multi_loss, **(loss_weights or {})}
        if weights["center_weight"] == 0 or (weights["kl_weight"] == weights["focal_weight"] == 0):
            return True
        return encoders.may_skip_parameters(self.encoder)

    def non_finite_parameters(self) -> list[str]:
        """Names of the parameters and buffers holding NaN or infinity (a diverged run)."""
        tensors = [*self.named_parameters(), *self.named_buffers()]
        return [
            name
            for name, tensor in tensors
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
        ]

    def check_finite(self, where: str) -> None:
        """Raise ValueError naming `where` and the first bad tensors when any parameter or
        buffer is NaN or infinite: a diverged model must not be saved or used."""
        bad = self.non_finite_parameters()
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise ValueError(
                f"{where}: the model has non-finite weights ({shown}): training diverged; "
                "retrain with lower learning rates (head_learning_rate, "
                "encoder_learning_rate)"
            )

    # -- forward ----------------------------------------------------------------------------

    def check_inputs(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> None:
        """The checks `forward` runs in eager mode, for callers of a compiled or exported graph
        (which leaves them out, see `is_tracing`): every non-empty waveform row is at least the
        encoder's receptive field long. Log-mel input (Whisper) needs no value check.

        Raises:
            ValueError: naming the row, its length and the minimum.
        """
        if input_values is not None and not self.is_whisper:
            encoders.check_waveform_lengths(input_values, attention_mask, self.min_input_samples)

    @can_return_tuple
    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        **kwargs: Unpack[FlamForwardKwargs],
    ) -> FlamSequenceClassifierOutput:
        """Classify a batch of clips; with labels, also compute the MLL objective.

        Args:
            input_values: (batch, samples) float waveform at the encoder's rate (wav2vec-style
                encoders).
            attention_mask: (batch, samples) or, for Whisper, (batch, mel_frames); 1 = real.
            labels: either (batch,) integer class indices, or (batch, num_labels) float target
                distributions (soft labels, rows summing to 1; their argmax is the hard label),
                as timm's soft-target losses take them. The only forward argument named like a
                label, so `transformers.Trainer` finds ``["labels"]`` by itself.
            input_features: (batch, mel_bins, mel_frames) log-mel, the main input of a Whisper
                encoder (`main_input_name`), so named in the signature as `input_values` is
                (`torch.export` and the Trainer find main inputs there).
            **kwargs: `FlamForwardKwargs`: ``soft_labels`` (the EAM collators' targets beside
                hard ``labels``), ``encoder_hidden_states`` (a cached encoder output), ``output_attentions``, ``output_hidden_states``,
                ``return_dict`` (False: a tuple), and ``soft_targets`` (the deprecated name of
                ``soft_labels``, removed in 0.6).

        Raises:
            TypeError: a keyword argument `forward` does not take.
            ValueError: the wrong input for the encoder, a clip shorter than the receptive
                field, or `labels` / ``soft_labels`` of the wrong shape or values.
        """
        unknown = sorted(set(kwargs) - set(FlamForwardKwargs.__annotations__))
        if unknown:
            raise TypeError(
                f"FlamForSequenceClassification.forward() got unexpected keyword arguments "
                f"{unknown}; it takes {sorted(FlamForwardKwargs.__annotations__)}"
            )
        encoder_hidden_states = kwargs.get("encoder_hidden_states")
        output_attentions = kwargs.get("output_attentions")
        output_hidden_states = kwargs.get("output_hidden_states")
        soft_labels = _renamed_soft_targets(kwargs.get("soft_labels"), kwargs.get("soft_targets"))
        labels = _as_target_tensor(labels, "labels")
        soft_labels = _as_target_tensor(soft_labels, "soft_labels")
        if attention_mask is not None and not is_tracing():
            check_attention_mask(attention_mask)
        if labels is not None and labels.is_floating_point() and labels.dim() == 2:
            if soft_labels is not None:
                raise ValueError(
                    "labels: give hard (batch,) labels with soft_labels, or (batch, "
                    "num_labels) soft labels alone, not soft labels twice"
                )
            labels, soft_labels = None, labels
        output_attentions = (
            self.config.output_attentions if output_attentions is None else output_attentions
        )
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        if encoder_hidden_states is not None:
            encoded = encoders.precomputed_output(
                encoder_hidden_states,
                attention_mask,
                self.config.encoder_hidden_size,
                encoder_inputs_given=input_values is not None or input_features is not None,
                all_layers_needed=self.layer_weights is not None,
            )
        else:
            encoded = self._run_encoder(
                input_values,
                input_features,
                attention_mask,
                output_hidden_states,
                output_attentions,
            )
        features = frame_features(encoded, self.layer_weights, self.input_projection)
        pooled, frame_attention = self.flam(features, encoded.frame_mask)
        embeddings = self.projector(pooled)
        logits = self.classifier(self.dropout(embeddings))

        loss, terms = None, {}
        if labels is not None or soft_labels is not None:
            labels, soft_labels = hard_and_soft_labels(
                logits, labels, soft_labels, check_values=not is_tracing()
            )
            if not self.training and not is_tracing():
                warn_if_mixed(soft_labels)
            result = self.multi_loss(
                logits, embeddings, soft_labels, labels, self.class_centers, check_values=False
            )
            loss, terms = result.loss, result.terms

        output = FlamSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            embeddings=embeddings,
            kl_loss=terms.get("kl"),
            focal_loss=terms.get("focal"),
            center_loss=terms.get("center"),
            supervised_contrastive_loss=terms.get("supcon"),
            frame_attention=frame_attention if output_attentions else None,
            hidden_states=encoded.hidden_states if output_hidden_states else None,
            attentions=encoded.attentions if output_attentions else None,
        )
        return output

    @torch.no_grad()
    def encode(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output for a batch, without gradients: last hidden state
        (batch, frames, hidden) and frame mask (batch, frames) bool. Feeding these back as
        ``forward(encoder_hidden_states=..., attention_mask=frame_mask)`` gives the logits of
        ``forward(input_values or input_features, attention_mask)``."""
        encoded = self._run_encoder(input_values, input_features, attention_mask, False, False)
        return encoded.last_hidden_state, encoded.frame_mask

    def _run_encoder(
        self,
        input_values: torch.Tensor | None,
        input_features: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        output_hidden_states: bool,
        output_attentions: bool,
    ) -> EncoderOutput:
        return encoders.encode_inputs(
            self.encoder,
            input_values,
            input_features,
            attention_mask,
            min_input_samples=self.min_input_samples,
            output_hidden_states=output_hidden_states or self.layer_weights is not None,
            output_attentions=output_attentions,
        )


AutoModelForAudioClassification.register(FlamConfig, FlamForSequenceClassification, exist_ok=True)
# Saved folders carry this code (and the modules it imports relatively) and an `auto_map`, so
# they also load with `trust_remote_code=True` where eam-ser is not installed or not imported
# (Hugging Face's example scripts, the Hub's widgets).
FlamConfig.register_for_auto_class()
FlamForSequenceClassification.register_for_auto_class("AutoModelForAudioClassification")

__all__ = [
    "CONTEXT_BROADCAST_WEIGHT",
    "ENCODER_SAMPLING_RATE",
    "LOSS_TERM_OUTPUTS",
    "MIXED_EVALUATION_WARNING",
    "WAVLM_MASK_WARNING",
    "WHISPER_FRAME_STRIDE",
    "WHISPER_SAMPLES_PER_MEL_FRAME",
    "FlamConfig",
    "FlamForSequenceClassification",
    "FlamSequenceClassifierOutput",
    "FrameLevelAttention",
    "FrameLevelAttentionLayer",
    "build_encoder",
    "context_broadcast",
    "is_tracing",
    "load_pretrained_encoder",
    "masked_mean",
    "masked_softmax",
    "min_input_samples",
    "whisper_frame_lengths",
]
