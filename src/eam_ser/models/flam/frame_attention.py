"""The Frame-Level Attention Module (FLAM): self-attention over an encoder's frames, context
broadcasting, and pooling of the valid frames to one utterance vector.

Plain torch on frame features (batch, frames, width) with a frame mask (batch, frames), True =
real frame: padded frames are never attended to and never pooled, so a clip gives the same
vector alone or padded inside a batch. `FlamForSequenceClassification` puts it between a
speech encoder and its classifier; the pure functions below are its math.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from .configuration_flam import FlamConfig
    from .encoders import EncoderOutput

# Weight of the frame itself in context broadcasting (Hyeon-Woo et al. 2022); the mean gets 1 - w.
CONTEXT_BROADCAST_WEIGHT = 0.5
_STD_EPS = 1e-5

__all__ = [
    "CONTEXT_BROADCAST_WEIGHT",
    "FrameLevelAttention",
    "FrameLevelAttentionLayer",
    "context_broadcast",
    "frame_features",
    "masked_mean",
    "masked_softmax",
]


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


def frame_features(
    encoded: EncoderOutput, layer_weights: torch.Tensor | None, input_projection: nn.Module | None
) -> torch.Tensor:
    """What FLAM attends over, (batch, frames, flam_width): the encoder's last hidden state,
    or the softmax(`layer_weights`)-weighted sum of all its hidden states
    (``use_weighted_layer_sum``), then `input_projection` to the FLAM width when set.

    Raises:
        ValueError: `layer_weights` has another length than `encoded.hidden_states`.
    """
    if layer_weights is not None:
        if len(encoded.hidden_states) != layer_weights.numel():
            raise ValueError(
                f"use_weighted_layer_sum expects {layer_weights.numel()} encoder hidden states, "
                f"got {len(encoded.hidden_states)}"
            )
        weights = layer_weights.softmax(dim=-1).to(encoded.last_hidden_state.dtype)
        features = torch.einsum("l,lbth->bth", weights, torch.stack(encoded.hidden_states))
    else:
        features = encoded.last_hidden_state
    return features if input_projection is None else input_projection(features)
