"""FLAM: a pretrained speech encoder followed by a Frame-Level Attention Module.

Data flow of `FlamForSequenceClassification` (shapes for a batch of `batch` clips):

    input_values (batch, samples)  or  input_features (batch, mel_bins, mel_frames)
      -> speech encoder (WavLM / HuBERT / wav2vec 2.0 / data2vec-audio / Whisper encoder)
      -> frame features (batch, frames, hidden)      [optionally a weighted sum of all layers]
      -> FrameLevelAttention: self-attention blocks over the valid frames, context
         broadcasting, pooling to one vector (batch, flam_width or 2 * flam_width)
      -> projector -> embeddings (batch, embedding_size)   [center / SupCon losses]
      -> classifier -> logits (batch, num_labels)
      -> with `labels`: the Multi-Loss Learning objective (KL to the soft targets + focal +
         center + supervised contrastive, weighted by `config.multi_loss`)

Loss. As transformers models compute theirs, the forward computes the whole objective when
`labels` (and optionally the EAM `soft_targets`) are given, with the class centers read inside
`forward`. Any trainer (plain `transformers.Trainer`, accelerate, DDP, FSDP, DeepSpeed) thus
sees an ordinary model whose every trainable parameter is used in `forward`. The output holds
the weighted total (`loss`) and each unweighted term (`kl_loss`, ...), which `MultiLossTrainer`
logs and, with several processes, completes with a cross-process supervised contrastive term.

Padding. `attention_mask` (1 = real sample / real mel frame) is turned into a frame mask with
the encoder's own output-length arithmetic; FLAM attends to and pools over real frames only,
so a clip gives the same logits alone or padded inside a batch. Two encoder families need care:

- wav2vec-style encoders with `feat_extract_norm="group"` (wav2vec2-base, HuBERT base) were
  pretrained on zero-padded input without an attention mask (their group norm spans the whole
  input). Following the transformers documentation for those checkpoints, the mask is not
  passed to such an encoder; it is still used by FLAM. Their outputs therefore depend slightly
  on padding; encoders with `feat_extract_norm="layer"` (WavLM Large, wav2vec2-large-lv60,
  HuBERT Large) are padding-invariant.
- Whisper pads every clip to 30 s and has no attention mask, and transformers'
  `WhisperEncoder.forward` insists on 3000 mel frames. FLAM runs the encoder's own modules on
  the mel frames cropped to the longest real clip of the batch, zeroes padded mel frames before
  each convolution and masks padded frames in the encoder's self-attention, so a 2 s clip costs
  2 s of compute and gets the same logits as when padded. Cropping changes the context the
  pretrained encoder saw (always 30 s); fine-tuning adapts to it.

Minimum length. A wav2vec-style CNN needs at least `min_input_samples(...)` samples (400 =
25 ms at 16 kHz for the standard front end) to produce one frame; shorter non-empty clips raise
`ValueError`. All-padding rows (length 0) are allowed and give finite outputs (a zero pooled
vector).

Importing this module registers `FlamForSequenceClassification` with
`AutoModelForAudioClassification` (and `FlamConfig` with `AutoConfig`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForAudioClassification,
    PreTrainedModel,
    WhisperForAudioClassification,
    WhisperModel,
)
from transformers import initialization as init
from transformers.models.whisper.modeling_whisper import WhisperEncoder
from transformers.utils import ModelOutput

from .configuration_flam import FlamConfig, min_input_samples
from .losses import MultiLoss, MultiLossSettings

# Weight of the frame itself in context broadcasting (Hyeon-Woo et al. 2022); the mean gets 1 - w.
CONTEXT_BROADCAST_WEIGHT = 0.5
# Whisper's conv2 halves the mel frame rate (100 Hz mel frames -> 50 Hz encoder frames).
WHISPER_FRAME_STRIDE = 2
# Whisper's STFT hop: one mel frame per 160 samples (10 ms at 16 kHz).
WHISPER_SAMPLES_PER_MEL_FRAME = 160
_STD_EPS = 1e-5
WAVLM_MASK_WARNING = "Support for mismatched key_padding_mask and attn_mask is deprecated"
# Sampling rate of every supported pretrained speech encoder, in Hz (used in error messages).
ENCODER_SAMPLING_RATE = 16000


# ---------------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------------


def masked_mean(hidden_states: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames.

    Args:
        hidden_states: (batch, frames, hidden).
        frame_mask: (batch, frames) bool, True = real frame.

    Returns:
        (batch, hidden); rows without a valid frame give zeros (the count is clamped to 1).
    """
    weights = frame_mask.to(hidden_states.dtype).unsqueeze(-1)
    count = weights.sum(dim=1).clamp(min=1.0)
    return (hidden_states * weights).sum(dim=1) / count


def context_broadcast(hidden_states: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Context broadcasting: `0.5 * x_t + 0.5 * mean_valid(x)` for every frame `t`.

    Args:
        hidden_states: (batch, frames, hidden).
        frame_mask: (batch, frames) bool, True = real frame; only real frames enter the mean.

    Returns:
        (batch, frames, hidden).
    """
    context = masked_mean(hidden_states, frame_mask).unsqueeze(1)
    return CONTEXT_BROADCAST_WEIGHT * hidden_states + (1.0 - CONTEXT_BROADCAST_WEIGHT) * context


def masked_softmax(scores: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the valid frames, computed in float32.

    Args:
        scores: (batch, frames) unnormalised scores.
        frame_mask: (batch, frames) bool, True = real frame.

    Returns:
        (batch, frames) float32 weights, zero on padded frames, summing to 1 over the valid
        frames of each row; all-zero for a row without a valid frame (never NaN).
    """
    scores = scores.float().masked_fill(~frame_mask, torch.finfo(torch.float32).min)
    return scores.softmax(dim=-1) * frame_mask


def is_tracing() -> bool:
    """True while torch.compile, torch.export, the ONNX exporter or TorchScript traces the model.

    The model's data-dependent input checks and Whisper's crop to the longest clip read tensor
    values on the host; traced, they are left out (a traced graph takes every frame it is
    given, masked), and callers check inputs in Python first with
    `FlamForSequenceClassification.check_inputs`.
    """
    return (
        torch.compiler.is_compiling()
        or torch.compiler.is_exporting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
    )


def safetensors_problem(path: str | os.PathLike) -> str | None:
    """Why the safetensors file `path` cannot be read (None: its header and size agree), e.g.
    a copy cut short: safetensors checks the header against the file's length."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework="pt"):
            return None
    except (SafetensorError, OSError) as error:
        return str(error)


@contextlib.contextmanager
def _without_wavlm_mask_warning() -> Iterator[None]:
    """Hold back `WAVLM_MASK_WARNING` (eager calls only: a traced graph cannot change the
    warning filters). transformers' WavLM attention passes a bool padding mask with its float
    position bias to torch's multi-head attention, which warns on every call; the masks are
    transformers' own, so the warning is not the caller's to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=WAVLM_MASK_WARNING)
        yield


def whisper_frame_lengths(mel_lengths: torch.Tensor) -> torch.Tensor:
    """Number of Whisper encoder frames (50 Hz) produced by `mel_lengths` real mel frames
    (100 Hz): `ceil(mel_lengths / 2)` (conv2 has kernel 3, stride 2, padding 1)."""
    return torch.div(
        mel_lengths + WHISPER_FRAME_STRIDE - 1, WHISPER_FRAME_STRIDE, rounding_mode="floor"
    )


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass
class FlamSequenceClassifierOutput(ModelOutput):
    """Output of [`FlamForSequenceClassification`].

    Args:
        loss: () the Multi-Loss Learning objective `sum_k weight_k * term_k` (weights from
            `config.multi_loss`), when `labels` or `soft_targets` are given.
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


# ---------------------------------------------------------------------------------------------
# Frame-Level Attention Module
# ---------------------------------------------------------------------------------------------


class FrameLevelAttentionLayer(nn.Module):
    """One FLAM block: multi-head self-attention over frames (padded frames masked as keys),
    residual + layer norm, feed-forward, residual + layer norm, then optional context
    broadcasting over the valid frames.

    Args:
        hidden_size: frame width.
        num_attention_heads: heads; must divide `hidden_size`.
        intermediate_size: feed-forward width.
        dropout: dropout probability on attention weights and residual branches.
        context_broadcasting: apply `context_broadcast` to the block output.
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int,
        intermediate_size: int,
        dropout: float,
        context_broadcasting: bool,
    ) -> None:
        super().__init__()
        if hidden_size % num_attention_heads != 0:
            raise ValueError(
                f"num_attention_heads={num_attention_heads} must divide hidden_size={hidden_size}"
            )
        self.num_attention_heads = num_attention_heads
        self.dropout_probability = dropout
        self.context_broadcasting = context_broadcasting
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.out_proj = nn.Linear(hidden_size, hidden_size)
        self.attention_norm = nn.LayerNorm(hidden_size)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden_size, intermediate_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(intermediate_size, hidden_size),
        )
        self.output_norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        """(batch, frames, hidden), (batch, frames) bool -> (batch, frames, hidden)."""
        batch, frames, hidden = hidden_states.shape
        head_size = hidden // self.num_attention_heads
        query, key, value = (
            self.qkv(hidden_states)
            .view(batch, frames, 3, self.num_attention_heads, head_size)
            .permute(2, 0, 3, 1, 4)
        )
        # A row without any real frame attends everywhere, which keeps the softmax finite; its
        # output is discarded by the masked pooling.
        key_mask = frame_mask | ~frame_mask.any(dim=-1, keepdim=True)
        attended = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=key_mask[:, None, None, :],
            dropout_p=self.dropout_probability if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).reshape(batch, frames, hidden)
        hidden_states = self.attention_norm(hidden_states + self.dropout(self.out_proj(attended)))
        hidden_states = self.output_norm(
            hidden_states + self.dropout(self.feed_forward(hidden_states))
        )
        if self.context_broadcasting:
            hidden_states = context_broadcast(hidden_states, frame_mask)
        return hidden_states


class FrameLevelAttention(nn.Module):
    """Frame-Level Attention Module: `config.num_flam_layers` `FrameLevelAttentionLayer`s over
    the encoder frames, then pooling of the valid frames to one vector (`config.pooling`:
    attentive, mean or attentive statistics).

    Args:
        config: a `FlamConfig`; the FLAM width is `config.flam_width`.
    """

    def __init__(self, config: FlamConfig) -> None:
        super().__init__()
        width = config.flam_width
        self.pooling = config.pooling
        self.layers = nn.ModuleList(
            FrameLevelAttentionLayer(
                hidden_size=width,
                num_attention_heads=config.flam_num_attention_heads,
                intermediate_size=config.flam_intermediate_size or 4 * width,
                dropout=config.flam_dropout,
                context_broadcasting=config.context_broadcasting,
            )
            for _ in range(config.num_flam_layers)
        )
        if self.pooling != "mean":
            self.pooling_scorer = nn.Sequential(
                nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1)
            )
        self.output_size = 2 * width if self.pooling == "attentive_statistics" else width

    def forward(
        self, hidden_states: torch.Tensor, frame_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend and pool.

        Args:
            hidden_states: (batch, frames, width).
            frame_mask: (batch, frames) bool, True = real frame.

        Returns:
            pooled (batch, output_size) and the per-frame pooling weights (batch, frames)
            float32 (zero on padded frames; all zero for a row without real frames).
        """
        for layer in self.layers:
            hidden_states = layer(hidden_states, frame_mask)
        if self.pooling == "mean":
            count = frame_mask.sum(dim=-1, keepdim=True).clamp(min=1)
            weights = frame_mask.float() / count
        else:
            weights = masked_softmax(self.pooling_scorer(hidden_states).squeeze(-1), frame_mask)
        frame_weights = weights.to(hidden_states.dtype).unsqueeze(-1)
        mean = (frame_weights * hidden_states).sum(dim=1)
        if self.pooling != "attentive_statistics":
            return mean, weights
        second_moment = (frame_weights * hidden_states.square()).sum(dim=1)
        std = (second_moment - mean.square()).clamp(min=_STD_EPS).sqrt()
        return torch.cat([mean, std], dim=-1), weights


# ---------------------------------------------------------------------------------------------
# Encoders
# ---------------------------------------------------------------------------------------------


def _is_whisper(encoder_config: Any) -> bool:
    return encoder_config.model_type == "whisper"


def _check_encoder_config(encoder_config: Any) -> None:
    if not _is_whisper(encoder_config) and not hasattr(encoder_config, "conv_kernel"):
        raise ValueError(
            f"encoder_config of model_type {encoder_config.model_type!r} is not a supported speech "
            "encoder: use a wav2vec-style encoder (wavlm, hubert, wav2vec2, data2vec-audio) or whisper"
        )


def build_encoder(encoder_config: Any) -> PreTrainedModel:
    """A randomly initialised encoder from its config: `WhisperEncoder` for Whisper (the decoder
    is never built), the `AutoModel` base model (e.g. `WavLMModel`) otherwise."""
    _check_encoder_config(encoder_config)
    if _is_whisper(encoder_config):
        return WhisperEncoder(encoder_config)
    return AutoModel.from_config(encoder_config)


def load_pretrained_encoder(
    name_or_path: str | os.PathLike, *, dtype: torch.dtype = torch.float32, **hub_kwargs: Any
) -> PreTrainedModel:
    """Load the speech encoder of a pretrained checkpoint (Hub id or local folder).

    Whisper checkpoints give their `WhisperEncoder`, whether saved as
    `WhisperForAudioClassification`, `WhisperModel` or `WhisperForConditionalGeneration`
    (`openai/whisper-*`); others give their `AutoModel` base model (a `WavLMForCTC` checkpoint
    gives its `WavLMModel`). `dtype` defaults to float32 because fp16 checkpoints cannot be
    trained in fp16 weights; `hub_kwargs` (revision, token, cache_dir, ...) go to
    `from_pretrained`.
    """
    encoder_config = AutoConfig.from_pretrained(name_or_path, **hub_kwargs)
    if encoder_config.model_type == FlamConfig.model_type:
        raise ValueError(
            f"{name_or_path} is already a FLAM model; load it with "
            "FlamForSequenceClassification.from_pretrained"
        )
    _check_encoder_config(encoder_config)
    if not _is_whisper(encoder_config):
        return AutoModel.from_pretrained(name_or_path, dtype=dtype, **hub_kwargs)
    if "WhisperForAudioClassification" in (encoder_config.architectures or []):
        whisper = WhisperForAudioClassification.from_pretrained(
            name_or_path, dtype=dtype, **hub_kwargs
        )
    else:
        whisper = WhisperModel.from_pretrained(name_or_path, dtype=dtype, **hub_kwargs)
    return whisper.encoder


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


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
    """

    config_class = FlamConfig
    base_model_prefix = "encoder"
    main_input_name = "input_values"
    input_modalities = "audio"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: FlamConfig, encoder: PreTrainedModel | None = None) -> None:
        super().__init__(config)
        self.main_input_name = config.encoder_input_name
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder_config)
        self.is_whisper = _is_whisper(config.encoder_config)
        self.min_input_samples = config.min_input_samples
        # Group-norm front ends were pretrained without an attention mask (see module docstring).
        self.encoder_takes_attention_mask = (
            getattr(config.encoder_config, "feat_extract_norm", "layer") == "layer"
        )
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
        self.set_loss_settings(config.loss_settings)
        self.post_init()
        if config.freeze_feature_encoder:
            self.freeze_feature_encoder()
        if config.freeze_encoder_steps == -1:
            self.freeze_encoder()
        else:
            self._freeze_lower_layers()

    def set_loss_settings(self, settings: MultiLossSettings) -> None:
        """Use `settings` as the training objective from now on and record it in the config.

        Raises:
            ValueError: `focal_alpha` does not hold one weight per class.
        """
        alpha = settings.focal_alpha
        if alpha is not None and len(alpha) != self.config.num_labels:
            raise ValueError(
                f"multi_loss.focal_alpha has {len(alpha)} weights for {self.config.num_labels} "
                "classes; give one per class"
            )
        self.config.multi_loss = settings.to_dict()
        self.multi_loss = MultiLoss(settings).to(self.class_centers.device)

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
            id2label / label2id: class names; `label2id` is derived from `id2label` if omitted.
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
        encoder_attention = encoder.config._attn_implementation
        config = FlamConfig(encoder_config=encoder.config, **label_kwargs, **flam_kwargs)
        # FlamConfig's own attention setting is propagated to its sub-configs; give the loaded
        # encoder back the implementation it was loaded with.
        config.encoder_config._attn_implementation = encoder_attention
        return cls(config, encoder=encoder).to(dtype)

    def may_leave_parameters_unused(self, loss_weights: Mapping[str, Any] | None = None) -> bool:
        """Whether a training step can leave a trainable parameter without a gradient, which
        DDP must then search for (``find_unused_parameters``): encoder layers that LayerDrop
        skips (``layerdrop`` > 0 in a wav2vec-style encoder that trains; the Whisper path here
        runs every layer), a trainable SpecAugment mask embedding (``masked_spec_embed``, used
        only in steps that mask), the class centers when the center term is off, the
        classifier when both the KL and the focal term are. `loss_weights`: `MultiLossSettings` fields
        (default: the model's own objective)."""
        weights = {**self.config.multi_loss, **(loss_weights or {})}
        if weights["center_weight"] == 0 or (weights["kl_weight"] == weights["focal_weight"] == 0):
            return True
        if self.is_whisper:  # the Whisper path here runs every layer, and has no mask embedding
            return False
        layerdrop = getattr(self.config.encoder_config, "layerdrop", 0.0) or 0.0
        encoder_trains = any(parameter.requires_grad for parameter in self.encoder.parameters())
        # SpecAugment's learned mask embedding takes part only in steps that mask frames.
        mask_embedding = getattr(self.encoder, "masked_spec_embed", None)
        return (layerdrop > 0 and encoder_trains) or (
            mask_embedding is not None and mask_embedding.requires_grad
        )

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
                "retrain with lower learning rates (--head-learning-rate, "
                "--encoder-learning-rate)"
            )

    # -- freezing policy --------------------------------------------------------------------

    def _feature_encoder_modules(self) -> list[nn.Module]:
        if self.is_whisper:
            return [self.encoder.conv1, self.encoder.conv2]
        return [self.encoder.feature_extractor]

    def freeze_feature_encoder(self) -> None:
        """Stop gradients into the convolutional front end (wav2vec-style CNN feature encoder,
        or Whisper `conv1`/`conv2`)."""
        for module in self._feature_encoder_modules():
            module.requires_grad_(False)
        if not self.is_whisper:
            self.encoder.feature_extractor._requires_grad = False

    def freeze_encoder(self) -> None:
        """Stop gradients into the whole encoder; only the head (and `class_centers`) train."""
        self.encoder.requires_grad_(False)
        if not self.is_whisper:
            self.encoder.feature_extractor._requires_grad = False

    def unfreeze_encoder(self) -> None:
        """Train the encoder again, except the parts that stay frozen by design: the front end
        when `config.freeze_feature_encoder`, Whisper's fixed sinusoidal positions and the
        layers below `config.trainable_encoder_layers`."""
        self.encoder.requires_grad_(True)
        if not self.is_whisper:
            self.encoder.feature_extractor._requires_grad = True
        else:
            self.encoder.embed_positions.requires_grad_(False)
        if self.config.freeze_feature_encoder:
            self.freeze_feature_encoder()
        self._freeze_lower_layers()

    def _freeze_lower_layers(self) -> None:
        """With `config.trainable_encoder_layers = N`, freeze everything of the encoder but its
        top `N` transformer layers and the layer norm after them (Whisper's `layer_norm`, the
        stable-layer-norm variants' `encoder.layer_norm`)."""
        keep = self.config.trainable_encoder_layers
        if keep is None:
            return
        body = self.encoder if self.is_whisper else self.encoder.encoder
        trainable = list(body.layers[len(body.layers) - keep :]) if keep else []
        final_norm = self.is_whisper or getattr(self.encoder.config, "do_stable_layer_norm", False)
        if keep and final_norm:
            trainable.append(body.layer_norm)
        self.encoder.requires_grad_(False)
        if not self.is_whisper:
            self.encoder.feature_extractor._requires_grad = False
        for module in trainable:
            module.requires_grad_(True)

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
            self._check_waveform_lengths(input_values, attention_mask)

    def _check_waveform_lengths(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> None:
        minimum = self.min_input_samples
        if attention_mask is None:
            lengths = torch.full((input_values.shape[0],), input_values.shape[-1])
        else:
            lengths = attention_mask.sum(dim=-1)
        too_short = (lengths > 0) & (lengths < minimum)
        if input_values.shape[-1] < minimum or bool(too_short.any()):
            row = int(too_short.nonzero()[0, 0]) if bool(too_short.any()) else 0
            raise ValueError(
                f"input_values row {row} has {int(lengths[row])} samples, fewer than the encoder's "
                f"receptive field of {minimum} samples ({minimum / ENCODER_SAMPLING_RATE:.4f} s at "
                f"{ENCODER_SAMPLING_RATE} Hz); pad or drop clips that short"
            )

    def _encode_waveform(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None,
        output_hidden_states: bool,
        output_attentions: bool,
    ) -> tuple[
        torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None, torch.Tensor
    ]:
        """wav2vec-style encoder on (batch, samples) -> last hidden state, hidden states,
        attentions, frame mask (batch, frames) bool."""
        if input_values.dim() != 2:
            raise ValueError(
                f"input_values must be (batch, samples), got shape {tuple(input_values.shape)}"
            )
        if not is_tracing():
            self._check_waveform_lengths(input_values, attention_mask)
        with contextlib.nullcontext() if is_tracing() else _without_wavlm_mask_warning():
            outputs = self.encoder(
                input_values,
                attention_mask=attention_mask if self.encoder_takes_attention_mask else None,
                output_hidden_states=output_hidden_states,
                output_attentions=output_attentions,
            )
        last_hidden_state = outputs.last_hidden_state
        batch, frames = last_hidden_state.shape[:2]
        if attention_mask is None:
            frame_mask = torch.ones(
                batch, frames, dtype=torch.bool, device=last_hidden_state.device
            )
        else:
            # The encoder's own length arithmetic; clamped because an empty row gives a negative
            # count (which `_get_feature_vector_attention_mask` would turn into valid frames).
            frame_lengths = self.encoder._get_feat_extract_output_lengths(
                attention_mask.sum(dim=-1)
            ).clamp(min=0)
            frame_mask = (
                torch.arange(frames, device=last_hidden_state.device) < frame_lengths[:, None]
            )
        return last_hidden_state, outputs.hidden_states, outputs.attentions, frame_mask

    def _encode_log_mel(
        self, input_features: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """Whisper encoder on the real mel frames only.

        Args:
            input_features: (batch, mel_bins, mel_frames) log-mel, at most 3000 mel frames (30 s).
            attention_mask: (batch, mel_frames), 1 = real mel frame; `None` = all real.

        Returns:
            last hidden state (batch, frames, d_model), all hidden states (embedding output
            first, the last one after the final layer norm), frame mask (batch, frames) bool,
            where frames = ceil(longest real mel length / 2).
        """
        encoder = self.encoder
        if input_features.dim() != 3:
            raise ValueError(
                f"input_features must be (batch, mel_bins, mel_frames), got shape {tuple(input_features.shape)}"
            )
        max_mel_frames = encoder.config.max_source_positions * WHISPER_FRAME_STRIDE
        batch, _, mel_frames = input_features.shape
        if mel_frames > max_mel_frames:
            raise ValueError(
                f"input_features has {mel_frames} mel frames, more than Whisper's {max_mel_frames} (30 s)"
            )
        if attention_mask is None:
            mel_lengths = torch.full((batch,), mel_frames, device=input_features.device)
        elif attention_mask.shape == (batch, mel_frames * WHISPER_SAMPLES_PER_MEL_FRAME):
            # A sample-level mask, as Whisper's feature extractor returns it to the stock
            # audio-classification pipeline: the mel frames of the real samples.
            mel_lengths = attention_mask.sum(dim=-1) // WHISPER_SAMPLES_PER_MEL_FRAME
        else:
            if attention_mask.shape != (batch, mel_frames):
                raise ValueError(
                    f"attention_mask must be (batch, mel_frames) = {(batch, mel_frames)} or, in "
                    f"samples, {(batch, mel_frames * WHISPER_SAMPLES_PER_MEL_FRAME)} for Whisper "
                    f"input_features, got {tuple(attention_mask.shape)}"
                )
            mel_lengths = attention_mask.sum(dim=-1)
        # Traced, the graph keeps every frame it is given (the caller crops); eager, the
        # longest real clip decides.
        cropped = mel_frames if is_tracing() else max(int(mel_lengths.max()), 1)
        mel_mask = torch.arange(cropped, device=input_features.device) < mel_lengths[:, None]
        channel_mask = mel_mask[:, None, :].to(input_features.dtype)
        # Zeroing padded mel frames (and conv1 outputs) makes the boundary frames see the same
        # zero padding as an unpadded clip does.
        hidden_states = F.gelu(encoder.conv1(input_features[..., :cropped] * channel_mask))
        hidden_states = F.gelu(encoder.conv2(hidden_states * channel_mask.to(hidden_states.dtype)))
        hidden_states = hidden_states.transpose(1, 2)
        frames = hidden_states.shape[1]
        frame_mask = (
            torch.arange(frames, device=hidden_states.device)
            < whisper_frame_lengths(mel_lengths)[:, None]
        )
        hidden_states = hidden_states + encoder.embed_positions.weight[:frames]
        hidden_states = F.dropout(hidden_states, p=encoder.dropout, training=self.training)
        attention_bias = None
        if is_tracing() or not bool(frame_mask.all()):
            attention_bias = torch.zeros(
                batch, 1, 1, frames, dtype=hidden_states.dtype, device=hidden_states.device
            )
            attention_bias.masked_fill_(
                ~frame_mask[:, None, None, :], torch.finfo(hidden_states.dtype).min
            )
        all_hidden_states = [hidden_states]
        for layer in encoder.layers:
            hidden_states = layer(hidden_states, attention_bias)
            all_hidden_states.append(hidden_states)
        hidden_states = encoder.layer_norm(hidden_states)
        all_hidden_states[-1] = hidden_states
        return hidden_states, tuple(all_hidden_states), frame_mask

    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        soft_targets: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
    ) -> FlamSequenceClassifierOutput | tuple[torch.Tensor, ...]:
        """Classify a batch of clips.

        Args:
            input_values: (batch, samples) float waveform at the encoder's rate (wav2vec-style
                encoders).
            attention_mask: (batch, samples) or, for Whisper, (batch, mel_frames); 1 = real.
            labels: (batch,) long hard class indices: the positives of the supervised
                contrastive term, and the targets of the others when `soft_targets` is None.
            soft_targets: (batch, num_labels) float target distributions (the EAM soft
                labels, rows summing to 1) for the KL, focal and center terms. Named so that
                Trainer's `find_labels` sees `labels` as the only label input. Without
                `labels` their argmax is the hard label.
            input_features: (batch, mel_bins, mel_frames) log-mel (Whisper encoders).
            output_attentions: return `frame_attention` and the encoder's attentions.
            output_hidden_states: return the encoder's hidden states.
            return_dict: return a `FlamSequenceClassifierOutput` (default) or a tuple.
            encoder_hidden_states: (batch, frames, hidden) the encoder's last hidden state,
                computed before (`encode`; e.g. cached for a frozen encoder, see
                `eam_ser.feature_cache`), instead of `input_values` / `input_features`; then
                `attention_mask` is the (batch, frames) frame mask. Not with
                `use_weighted_layer_sum`.

        Raises:
            ValueError: the wrong input for the encoder, a clip shorter than the receptive
                field, or `labels` / `soft_targets` of the wrong shape.
        """
        output_attentions = (
            self.config.output_attentions if output_attentions is None else output_attentions
        )
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return_dict = self.config.return_dict if return_dict is None else return_dict
        encoder_attentions = None
        if encoder_hidden_states is not None:
            last_hidden_state, frame_mask = self._check_encoder_hidden_states(
                encoder_hidden_states, attention_mask, input_values, input_features
            )
            hidden_states = None
        else:
            last_hidden_state, hidden_states, encoder_attentions, frame_mask = self._run_encoder(
                input_values,
                input_features,
                attention_mask,
                output_hidden_states,
                output_attentions,
            )

        if self.layer_weights is not None:
            if len(hidden_states) != self.layer_weights.numel():
                raise ValueError(
                    f"use_weighted_layer_sum expects {self.layer_weights.numel()} encoder hidden states, "
                    f"got {len(hidden_states)}"
                )
            layer_weights = self.layer_weights.softmax(dim=-1).to(last_hidden_state.dtype)
            frame_features = torch.einsum("l,lbth->bth", layer_weights, torch.stack(hidden_states))
        else:
            frame_features = last_hidden_state
        if self.input_projection is not None:
            frame_features = self.input_projection(frame_features)

        pooled, frame_attention = self.flam(frame_features, frame_mask)
        embeddings = self.projector(pooled)
        logits = self.classifier(self.dropout(embeddings))

        loss, terms = None, {}
        if labels is not None or soft_targets is not None:
            loss, terms = self._multi_loss(logits, embeddings, labels, soft_targets)

        output = FlamSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            embeddings=embeddings,
            kl_loss=terms.get("kl"),
            focal_loss=terms.get("focal"),
            center_loss=terms.get("center"),
            supervised_contrastive_loss=terms.get("supcon"),
            frame_attention=frame_attention if output_attentions else None,
            hidden_states=hidden_states if output_hidden_states else None,
            attentions=encoder_attentions if output_attentions else None,
        )
        return output if return_dict else output.to_tuple()

    def _run_encoder(
        self,
        input_values: torch.Tensor | None,
        input_features: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        output_hidden_states: bool,
        output_attentions: bool,
    ) -> tuple[
        torch.Tensor,
        tuple[torch.Tensor, ...] | None,
        tuple[torch.Tensor, ...] | None,
        torch.Tensor,
    ]:
        """The encoder on the input it takes -> last hidden state (batch, frames, hidden), hidden
        states, attentions, frame mask (batch, frames) bool."""
        expected, other = (
            self.main_input_name,
            ("input_features" if self.main_input_name == "input_values" else "input_values"),
        )
        inputs = {"input_values": input_values, "input_features": input_features}
        if inputs[expected] is None or inputs[other] is not None:
            raise ValueError(
                f"this FLAM model's {self.config.encoder_config.model_type} encoder takes {expected}, "
                f"got input_values={input_values is not None}, input_features={input_features is not None}; "
                "build the collator with EnergyAdaptiveMixupCollator.for_model(model) (or pass it "
                "the encoder's feature_extractor=)"
            )
        if self.is_whisper:
            last_hidden_state, hidden_states, frame_mask = self._encode_log_mel(
                input_features, attention_mask
            )
            return last_hidden_state, hidden_states, None, frame_mask
        need_hidden_states = output_hidden_states or self.layer_weights is not None
        return self._encode_waveform(
            input_values, attention_mask, need_hidden_states, output_attentions
        )

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
        last_hidden_state, _, _, frame_mask = self._run_encoder(
            input_values, input_features, attention_mask, False, False
        )
        return last_hidden_state, frame_mask

    def _check_encoder_hidden_states(
        self,
        encoder_hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        input_values: torch.Tensor | None,
        input_features: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate precomputed encoder output; returns it and its frame mask (bool)."""
        if input_values is not None or input_features is not None:
            raise ValueError("give encoder_hidden_states or the encoder's input, not both")
        if self.layer_weights is not None:
            raise ValueError(
                "encoder_hidden_states holds the last hidden state only; a model with "
                "use_weighted_layer_sum needs every layer, so give it the encoder's input"
            )
        width = self.config.encoder_hidden_size
        if encoder_hidden_states.dim() != 3 or encoder_hidden_states.shape[-1] != width:
            raise ValueError(
                f"encoder_hidden_states must be (batch, frames, {width}), got shape "
                f"{tuple(encoder_hidden_states.shape)}"
            )
        batch, frames = encoder_hidden_states.shape[:2]
        if attention_mask is None:
            return encoder_hidden_states, torch.ones(
                batch, frames, dtype=torch.bool, device=encoder_hidden_states.device
            )
        if attention_mask.shape != (batch, frames):
            raise ValueError(
                f"with encoder_hidden_states, attention_mask is the frame mask (batch, frames) = "
                f"{(batch, frames)}, got {tuple(attention_mask.shape)}"
            )
        return encoder_hidden_states, attention_mask.bool()

    def _multi_loss(
        self,
        logits: torch.Tensor,
        embeddings: torch.Tensor,
        labels: torch.Tensor | None,
        soft_targets: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted objective and its unweighted terms for (batch,) `labels` and/or
        (batch, num_labels) `soft_targets`."""
        if soft_targets is not None and soft_targets.shape != logits.shape:
            raise ValueError(
                f"soft_targets must be (batch, num_labels) = {tuple(logits.shape)}, "
                f"got {tuple(soft_targets.shape)}"
            )
        if labels is None:
            labels = soft_targets.argmax(dim=-1)
        labels = labels.reshape(-1).long()
        num_labels = logits.shape[-1]
        if labels.shape[0] != logits.shape[0]:
            raise ValueError(
                f"labels must be (batch,) = ({logits.shape[0]},), got {tuple(labels.shape)}"
            )
        if (
            not is_tracing()
            and labels.numel()
            and bool((labels < 0).any() | (labels >= num_labels).any())
        ):
            raise ValueError(f"labels hold a class index outside [0, {num_labels})")
        if soft_targets is None:
            soft_targets = F.one_hot(labels, num_labels).to(logits.dtype)
        result = self.multi_loss(logits, embeddings, soft_targets, labels, self.class_centers)
        return result.loss, result.terms


AutoModelForAudioClassification.register(FlamConfig, FlamForSequenceClassification, exist_ok=True)
# Saved folders carry this code and an `auto_map`, so they also load with
# `trust_remote_code=True` where eam-ser is not installed or not imported (Hugging Face's
# example scripts, the Hub's widgets).
FlamConfig.register_for_auto_class()
FlamForSequenceClassification.register_for_auto_class("AutoModelForAudioClassification")

__all__ = [
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
