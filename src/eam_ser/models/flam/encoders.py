"""The pretrained speech encoders of FLAM: loading, freezing, the masked forward, frame masks.

FLAM wraps any transformers speech encoder: a wav2vec-style one that reads the waveform
(WavLM, HuBERT, wav2vec 2.0, data2vec-audio; `input_values` (batch, samples)) or Whisper's
encoder, which reads a log-mel spectrogram (`input_features` (batch, mel_bins, mel_frames)).
The functions here take the encoder module itself (the model's `encoder`, so the saved weights
keep their `encoder.*` names) and return what FLAM reads: frame features
(batch, frames, hidden) and a frame mask (batch, frames), True = real frame.

Most of eam-ser's uses of private transformers API are here (the others, e.g. the Trainer and
Pipeline hooks that subclasses override, are declared with their module and reason in
`tests/test_encoders.py`, which scans the whole package, so a new use fails that test until it
is declared). Each use of this module, checked there to exist with the expected signature, so
a transformers release that changes one fails that test by name:

- `encoder._get_feat_extract_output_lengths(input_lengths)` (wav2vec-style encoders): the
  CNN's length arithmetic, samples -> frames, for the frame mask;
- `encoder.feature_extractor._requires_grad` (wav2vec-style encoders): the flag the CNN front
  end's forward reads to decide whether its input needs a gradient; transformers sets it only
  through its private `_freeze_parameters()`, and has no public way to set it back;
- `config._attn_implementation`: the attention implementation an encoder was loaded with;
- Whisper's encoder internals, driven one by one in `encode_log_mel` (transformers'
  `WhisperEncoder.forward` insists on 3000 mel frames and takes no mask): `conv1`, `conv2`,
  `embed_positions`, `dropout`, `layers` (each called as `layer(hidden_states,
  attention_mask)` with an additive float mask (batch, 1, 1, frames)) and `layer_norm`.

`pyproject.toml` bounds transformers below its next major version for the same reason.

Padding. With an `attention_mask` (1 = real sample / real mel frame) every function gives the
frame mask of the real frames, so FLAM attends to and pools over real frames only:

- wav2vec-style encoders with `feat_extract_norm="group"` (wav2vec2-base, HuBERT base) were
  pretrained on zero-padded input without an attention mask (their group norm spans the whole
  input). Following the transformers documentation for those checkpoints, the mask is not
  passed to such an encoder (`takes_attention_mask`); FLAM still uses the frame mask. Their
  outputs therefore depend slightly on padding; encoders with `feat_extract_norm="layer"`
  (WavLM Large, wav2vec2-large-lv60, HuBERT Large) are padding-invariant.
- Whisper pads every clip to 30 s. `encode_log_mel` runs the encoder's own modules on the mel
  frames cropped to the longest real clip of the batch, zeroes padded mel frames before each
  convolution and masks padded frames in the encoder's self-attention, so a 2 s clip costs 2 s
  of compute and gets the same output as when padded. Cropping changes the context the
  pretrained encoder saw (always 30 s); fine-tuning adapts to it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    PreTrainedModel,
    WhisperForAudioClassification,
    WhisperModel,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .configuration_flam import FlamConfig, is_whisper
from .featurize import check_min_length

# Whisper's conv2 halves the mel frame rate (100 Hz mel frames -> 50 Hz encoder frames).
WHISPER_FRAME_STRIDE = 2
# Whisper's STFT hop: one mel frame per 160 samples (10 ms at 16 kHz).
WHISPER_SAMPLES_PER_MEL_FRAME = 160
WAVLM_MASK_WARNING = "Support for mismatched key_padding_mask and attn_mask is deprecated"

__all__ = [
    "WAVLM_MASK_WARNING",
    "WHISPER_FRAME_STRIDE",
    "WHISPER_SAMPLES_PER_MEL_FRAME",
    "EncoderOutput",
    "apply_freezing_policy",
    "build_encoder",
    "check_attention_mask",
    "check_input_name",
    "check_waveform_lengths",
    "configured_encoder",
    "encode_inputs",
    "encode_log_mel",
    "encode_waveform",
    "freeze_encoder",
    "freeze_feature_encoder",
    "freeze_lower_layers",
    "is_tracing",
    "is_whisper",
    "load_pretrained_encoder",
    "may_skip_parameters",
    "precomputed_output",
    "takes_attention_mask",
    "unfreeze_encoder",
    "waveform_frame_lengths",
    "whisper_frame_lengths",
]


class EncoderOutput(NamedTuple):
    """What FLAM reads from an encoder.

    Attributes:
        last_hidden_state: (batch, frames, hidden).
        hidden_states: tuple of (batch, frames, hidden), the embedding output first; None when
            not asked for.
        attentions: the encoder's self-attention weights (wav2vec-style encoders, when asked
            for), else None.
        frame_mask: (batch, frames) bool, True = real frame.
    """

    last_hidden_state: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None
    attentions: tuple[torch.Tensor, ...] | None
    frame_mask: torch.Tensor


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def check_encoder_config(encoder_config: Any) -> None:
    """Raise ValueError unless `encoder_config` is Whisper or wav2vec-style (has `conv_kernel`)."""
    if not is_whisper(encoder_config) and not hasattr(encoder_config, "conv_kernel"):
        raise ValueError(
            f"encoder_config of model_type {encoder_config.model_type!r} is not a supported speech "
            "encoder: use a wav2vec-style encoder (wavlm, hubert, wav2vec2, data2vec-audio) or whisper"
        )


def build_encoder(encoder_config: Any) -> PreTrainedModel:
    """A randomly initialised encoder from its config: `WhisperEncoder` for Whisper (the decoder
    is never built), the `AutoModel` base model (e.g. `WavLMModel`) otherwise."""
    check_encoder_config(encoder_config)
    if is_whisper(encoder_config):
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
    check_encoder_config(encoder_config)
    if not is_whisper(encoder_config):
        return AutoModel.from_pretrained(name_or_path, dtype=dtype, **hub_kwargs)
    if "WhisperForAudioClassification" in (encoder_config.architectures or []):
        whisper = WhisperForAudioClassification.from_pretrained(
            name_or_path, dtype=dtype, **hub_kwargs
        )
    else:
        whisper = WhisperModel.from_pretrained(name_or_path, dtype=dtype, **hub_kwargs)
    return whisper.encoder


def configured_encoder(
    config: FlamConfig, encoder: PreTrainedModel | None = None
) -> PreTrainedModel:
    """The encoder of a FLAM model: `encoder` (e.g. pretrained, `load_pretrained_encoder`) or
    one built from `config.encoder_config` (`build_encoder`), frozen as `config` asks
    (`apply_freezing_policy`)."""
    encoder = encoder if encoder is not None else build_encoder(config.encoder_config)
    apply_freezing_policy(
        encoder,
        keep_feature_encoder_frozen=config.freeze_feature_encoder,
        trainable_layers=config.trainable_encoder_layers,
        frozen=config.freeze_encoder_steps == -1,
    )
    return encoder


def flam_config_for(encoder: PreTrainedModel, **flam_kwargs: Any) -> FlamConfig:
    """A `FlamConfig` around the config of the loaded `encoder`, which keeps the attention
    implementation it was loaded with (FlamConfig propagates its own to its sub-configs)."""
    encoder_attention = encoder.config._attn_implementation
    config = FlamConfig(encoder_config=encoder.config, **flam_kwargs)
    config.encoder_config._attn_implementation = encoder_attention
    return config


# ---------------------------------------------------------------------------------------------
# Freezing
# ---------------------------------------------------------------------------------------------


def _set_front_end_input_gradient(encoder: PreTrainedModel, value: bool) -> None:
    """The flag a wav2vec-style CNN front end reads to make its input require a gradient in
    training (so gradient checkpointing reaches the layers above it); Whisper has none."""
    if not is_whisper(encoder.config):
        encoder.feature_extractor._requires_grad = value


def freeze_feature_encoder(encoder: PreTrainedModel) -> None:
    """Stop gradients into the convolutional front end (wav2vec-style CNN feature encoder, or
    Whisper `conv1`/`conv2`)."""
    if is_whisper(encoder.config):
        modules = [encoder.conv1, encoder.conv2]
    else:
        modules = [encoder.feature_extractor]
    for module in modules:
        module.requires_grad_(False)
    _set_front_end_input_gradient(encoder, False)


def freeze_encoder(encoder: PreTrainedModel) -> None:
    """Stop gradients into the whole encoder."""
    encoder.requires_grad_(False)
    _set_front_end_input_gradient(encoder, False)


def unfreeze_encoder(
    encoder: PreTrainedModel, *, keep_feature_encoder_frozen: bool, trainable_layers: int | None
) -> None:
    """Train the encoder again, except the parts that stay frozen by design: the front end
    when `keep_feature_encoder_frozen`, Whisper's fixed sinusoidal positions and the layers
    below the top `trainable_layers` (see `freeze_lower_layers`)."""
    encoder.requires_grad_(True)
    if is_whisper(encoder.config):
        encoder.embed_positions.requires_grad_(False)
    else:
        _set_front_end_input_gradient(encoder, True)
    apply_freezing_policy(
        encoder,
        keep_feature_encoder_frozen=keep_feature_encoder_frozen,
        trainable_layers=trainable_layers,
    )


def apply_freezing_policy(
    encoder: PreTrainedModel,
    *,
    keep_feature_encoder_frozen: bool,
    trainable_layers: int | None,
    frozen: bool = False,
) -> None:
    """Freeze what a `FlamConfig` keeps frozen: the front end when
    `keep_feature_encoder_frozen` (`freeze_feature_encoder`), then the whole encoder when
    `frozen` (`freeze_encoder_steps=-1`), else the layers below the top `trainable_layers`
    (`trainable_encoder_layers`, see `freeze_lower_layers`). Parts it does not freeze are left
    as they are."""
    if keep_feature_encoder_frozen:
        freeze_feature_encoder(encoder)
    if frozen:
        freeze_encoder(encoder)
    else:
        freeze_lower_layers(encoder, trainable_layers)


def freeze_lower_layers(encoder: PreTrainedModel, trainable_layers: int | None) -> None:
    """With `trainable_layers = N`, freeze everything of the encoder but its top `N`
    transformer layers and the layer norm after them (Whisper's `layer_norm`, the
    stable-layer-norm variants' `encoder.layer_norm`); `None` leaves the encoder as it is."""
    if trainable_layers is None:
        return
    whisper = is_whisper(encoder.config)
    body = encoder if whisper else encoder.encoder
    trainable = list(body.layers[len(body.layers) - trainable_layers :]) if trainable_layers else []
    final_norm = whisper or getattr(encoder.config, "do_stable_layer_norm", False)
    if trainable_layers and final_norm:
        trainable.append(body.layer_norm)
    freeze_encoder(encoder)
    for module in trainable:
        module.requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------


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


@contextlib.contextmanager
def _without_wavlm_mask_warning() -> Iterator[None]:
    """Hold back `WAVLM_MASK_WARNING` (eager calls only: a traced graph cannot change the
    warning filters). transformers' WavLM attention passes a bool padding mask with its float
    position bias to torch's multi-head attention, which warns on every call; the masks are
    transformers' own, so the warning is not the caller's to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=WAVLM_MASK_WARNING)
        yield


def takes_attention_mask(encoder_config: Any) -> bool:
    """Whether a wav2vec-style encoder is given the attention mask: not for group-norm front
    ends, which were pretrained without one (see the module docstring)."""
    return getattr(encoder_config, "feat_extract_norm", "layer") == "layer"


def waveform_frame_lengths(encoder: PreTrainedModel, sample_lengths: torch.Tensor) -> torch.Tensor:
    """Encoder frames produced by `sample_lengths` (batch,) real samples: the encoder's own
    length arithmetic, clamped at 0 (an empty row gives a negative count)."""
    return encoder._get_feat_extract_output_lengths(sample_lengths).clamp(min=0)


def whisper_frame_lengths(mel_lengths: torch.Tensor) -> torch.Tensor:
    """Number of Whisper encoder frames (50 Hz) produced by `mel_lengths` real mel frames
    (100 Hz): `ceil(mel_lengths / 2)` (conv2 has kernel 3, stride 2, padding 1)."""
    return torch.div(
        mel_lengths + WHISPER_FRAME_STRIDE - 1, WHISPER_FRAME_STRIDE, rounding_mode="floor"
    )


def encode_waveform(
    encoder: PreTrainedModel,
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    output_hidden_states: bool,
    output_attentions: bool,
) -> EncoderOutput:
    """A wav2vec-style encoder on `input_values` (batch, samples) and its frame mask.

    Args:
        encoder: the encoder (e.g. `WavLMModel`).
        input_values: (batch, samples) float waveform at the encoder's rate.
        attention_mask: (batch, samples), 1 = real sample; `None` = all real.
        output_hidden_states / output_attentions: also return those.
    """
    with contextlib.nullcontext() if is_tracing() else _without_wavlm_mask_warning():
        outputs = encoder(
            input_values,
            attention_mask=attention_mask if takes_attention_mask(encoder.config) else None,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
    last_hidden_state = outputs.last_hidden_state
    batch, frames = last_hidden_state.shape[:2]
    if attention_mask is None:
        frame_mask = torch.ones(batch, frames, dtype=torch.bool, device=last_hidden_state.device)
    else:
        frame_lengths = waveform_frame_lengths(encoder, attention_mask.sum(dim=-1))
        frame_mask = torch.arange(frames, device=last_hidden_state.device) < frame_lengths[:, None]
    return EncoderOutput(last_hidden_state, outputs.hidden_states, outputs.attentions, frame_mask)


def _mel_lengths(input_features: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Real mel frames per row (batch,) from a mel-frame or a sample-level mask."""
    batch, _, mel_frames = input_features.shape
    if attention_mask is None:
        return torch.full((batch,), mel_frames, device=input_features.device)
    if attention_mask.shape == (batch, mel_frames * WHISPER_SAMPLES_PER_MEL_FRAME):
        # A sample-level mask, as Whisper's feature extractor returns it to the stock
        # audio-classification pipeline: the mel frames of the real samples.
        return attention_mask.sum(dim=-1) // WHISPER_SAMPLES_PER_MEL_FRAME
    if attention_mask.shape != (batch, mel_frames):
        raise ValueError(
            f"attention_mask must be (batch, mel_frames) = {(batch, mel_frames)} or, in "
            f"samples, {(batch, mel_frames * WHISPER_SAMPLES_PER_MEL_FRAME)} for Whisper "
            f"input_features, got {tuple(attention_mask.shape)}"
        )
    return attention_mask.sum(dim=-1)


def encode_log_mel(
    encoder: WhisperEncoder, input_features: torch.Tensor, attention_mask: torch.Tensor | None
) -> EncoderOutput:
    """Whisper's encoder on the real mel frames only (see the module docstring).

    Args:
        encoder: a transformers `WhisperEncoder`.
        input_features: (batch, mel_bins, mel_frames) log-mel, at most 3000 mel frames (30 s).
        attention_mask: (batch, mel_frames), 1 = real mel frame, or the sample-level mask
            (batch, mel_frames * 160) of Whisper's feature extractor; `None` = all real.

    Returns:
        last hidden state (batch, frames, d_model), all hidden states (embedding output first,
        the last one after the final layer norm), no attentions, frame mask (batch, frames)
        bool, where frames = ceil(longest real mel length / 2).

    Raises:
        ValueError: `input_features` is not 3-D or longer than 30 s, or the mask's shape fits
            neither form.
    """
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
    mel_lengths = _mel_lengths(input_features, attention_mask)
    # Traced, the graph keeps every frame it is given (the caller crops); eager, the longest
    # real clip decides.
    cropped = mel_frames if is_tracing() else max(int(mel_lengths.max()), 1)
    mel_mask = torch.arange(cropped, device=input_features.device) < mel_lengths[:, None]
    channel_mask = mel_mask[:, None, :].to(input_features.dtype)
    # Zeroing padded mel frames (and conv1 outputs) makes the boundary frames see the same zero
    # padding as an unpadded clip does.
    hidden_states = F.gelu(encoder.conv1(input_features[..., :cropped] * channel_mask))
    hidden_states = F.gelu(encoder.conv2(hidden_states * channel_mask.to(hidden_states.dtype)))
    hidden_states = hidden_states.transpose(1, 2)
    frames = hidden_states.shape[1]
    frame_mask = (
        torch.arange(frames, device=hidden_states.device)
        < whisper_frame_lengths(mel_lengths)[:, None]
    )
    hidden_states = hidden_states + encoder.embed_positions.weight[:frames]
    hidden_states = F.dropout(hidden_states, p=encoder.dropout, training=encoder.training)
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
    return EncoderOutput(hidden_states, tuple(all_hidden_states), None, frame_mask)


def check_input_name(
    encoder: PreTrainedModel, input_values: torch.Tensor | None, input_features: torch.Tensor | None
) -> None:
    """Raise ValueError unless exactly the input `encoder` reads is given: `input_features`
    (log-mel) for Whisper, `input_values` (waveform) otherwise."""
    expected = "input_features" if is_whisper(encoder.config) else "input_values"
    other = "input_features" if expected == "input_values" else "input_values"
    inputs = {"input_values": input_values, "input_features": input_features}
    if inputs[expected] is None or inputs[other] is not None:
        raise ValueError(
            f"this FLAM model's {encoder.config.model_type} encoder takes {expected}, "
            f"got input_values={input_values is not None}, input_features={input_features is not None}; "
            "build the collator with EnergyAdaptiveMixupCollator.for_model(model) (or pass it "
            "the encoder's feature_extractor=)"
        )


def check_attention_mask(attention_mask: Any) -> None:
    """Refuse an `attention_mask` that is not a (batch, time) tensor of 0 and 1 with at least
    one 1 per row: a row without a real sample or frame has nothing to classify, and its logits
    would be a plausible-looking answer about silence.

    Raises:
        ValueError: naming the first offending row.
    """
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.dim() != 2:
        shape = tuple(attention_mask.shape) if hasattr(attention_mask, "shape") else None
        raise ValueError(
            f"attention_mask must be a (batch, time) tensor, got {type(attention_mask).__name__}"
            f"{f' of shape {shape}' if shape is not None else ''}"
        )
    if attention_mask.is_floating_point() or attention_mask.is_complex():
        binary = (attention_mask == 0) | (attention_mask == 1)
        if not bool(binary.all()):
            raise ValueError("attention_mask must hold 0 (padding) and 1 (real), got other values")
    empty = (attention_mask == 0).all(dim=-1).nonzero()
    if empty.numel():
        raise ValueError(
            f"attention_mask row {int(empty[0, 0])} is all 0: that clip has no real sample or "
            "frame to classify (drop empty clips before batching)"
        )


def check_waveform_lengths(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, min_input_samples: int
) -> None:
    """Refuse a non-empty row of `input_values` (batch, samples) shorter than
    `min_input_samples` (the CNN's receptive field), or a batch narrower than it.

    Raises:
        ValueError: naming the row, its length and the minimum (`featurize.check_min_length`).
    """
    lengths = (
        torch.full((input_values.shape[0],), input_values.shape[-1])
        if attention_mask is None
        else attention_mask.sum(dim=-1)
    )
    check_min_length(
        lengths, min_input_samples, allow_empty=True, padded_length=input_values.shape[-1]
    )


def encode_inputs(
    encoder: PreTrainedModel,
    input_values: torch.Tensor | None,
    input_features: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    *,
    min_input_samples: int,
    output_hidden_states: bool,
    output_attentions: bool,
) -> EncoderOutput:
    """`encoder` on the input it takes (`encode_log_mel` for Whisper, `encode_waveform`
    otherwise), with the frame mask (batch, frames) bool; the input checks run in eager mode
    (see `is_tracing`).

    Raises:
        ValueError: the wrong input for the encoder, `input_values` not (batch, samples), or a
            clip shorter than `min_input_samples`.
    """
    check_input_name(encoder, input_values, input_features)
    if is_whisper(encoder.config):
        return encode_log_mel(encoder, input_features, attention_mask)
    if input_values.dim() != 2:
        raise ValueError(
            f"input_values must be (batch, samples), got shape {tuple(input_values.shape)}"
        )
    if not is_tracing():
        check_waveform_lengths(input_values, attention_mask, min_input_samples)
    return encode_waveform(
        encoder,
        input_values,
        attention_mask,
        output_hidden_states=output_hidden_states,
        output_attentions=output_attentions,
    )


def precomputed_output(
    encoder_hidden_states: torch.Tensor,
    attention_mask: torch.Tensor | None,
    hidden_size: int,
    *,
    encoder_inputs_given: bool = False,
    all_layers_needed: bool = False,
) -> EncoderOutput:
    """An encoder's last hidden state computed before (e.g. cached), checked, with its frame
    mask.

    Args:
        encoder_hidden_states: (batch, frames, hidden_size).
        attention_mask: (batch, frames) frame mask, nonzero = real frame; `None` = all real.
        hidden_size: the encoder's width.
        encoder_inputs_given: the encoder's input was passed too (refused: one or the other).
        all_layers_needed: the model reads every layer (``use_weighted_layer_sum``), which a
            last hidden state cannot give (refused).

    Raises:
        ValueError: either tensor has the wrong shape, or one of the two refusals above.
    """
    if encoder_inputs_given:
        raise ValueError("give encoder_hidden_states or the encoder's input, not both")
    if all_layers_needed:
        raise ValueError(
            "encoder_hidden_states holds the last hidden state only; a model with "
            "use_weighted_layer_sum needs every layer, so give it the encoder's input"
        )
    if encoder_hidden_states.dim() != 3 or encoder_hidden_states.shape[-1] != hidden_size:
        raise ValueError(
            f"encoder_hidden_states must be (batch, frames, {hidden_size}), got shape "
            f"{tuple(encoder_hidden_states.shape)}"
        )
    batch, frames = encoder_hidden_states.shape[:2]
    if attention_mask is None:
        frame_mask = torch.ones(
            batch, frames, dtype=torch.bool, device=encoder_hidden_states.device
        )
    elif attention_mask.shape != (batch, frames):
        raise ValueError(
            f"with encoder_hidden_states, attention_mask is the frame mask (batch, frames) = "
            f"{(batch, frames)}, got {tuple(attention_mask.shape)}"
        )
    else:
        frame_mask = attention_mask.bool()
    return EncoderOutput(encoder_hidden_states, None, None, frame_mask)


def may_skip_parameters(encoder: PreTrainedModel) -> bool:
    """Whether a training step can leave a trainable encoder parameter without a gradient:
    layers that LayerDrop skips (`layerdrop` > 0 in a wav2vec-style encoder that trains;
    `encode_log_mel` runs every Whisper layer) or a trainable SpecAugment mask embedding
    (`masked_spec_embed`, used only in steps that mask frames)."""
    if is_whisper(encoder.config):
        return False
    layerdrop = getattr(encoder.config, "layerdrop", 0.0) or 0.0
    encoder_trains = any(parameter.requires_grad for parameter in encoder.parameters())
    mask_embedding = getattr(encoder, "masked_spec_embed", None)
    return (layerdrop > 0 and encoder_trains) or (
        mask_embedding is not None and mask_embedding.requires_grad
    )
