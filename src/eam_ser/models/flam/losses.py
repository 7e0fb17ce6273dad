"""The four losses of Multi-Loss Learning (MLL) and their weighted sum.

Each loss is a pure function of tensors, usable alone; `CenterLoss` and `MultiLoss` are thin
`nn.Module` wrappers that hold state (centers) or configuration (weights, gamma, temperature:
`MultiLossSettings`, declared in the torch-free `eam_ser.models.flam.loss_settings` and re-exported here).
`MultiLoss` is the one place the weighted total is formed, the cross-process supervised
contrastive term included.

Shapes: `logits` (batch, num_labels); `soft_labels` (batch, num_labels), rows summing to 1
(one-hot rows for un-mixed samples); `labels` (batch,) int64 hard labels; `embeddings`
(batch, embedding_size); `centers` (num_labels, embedding_size). Every loss is a mean over the
batch, so gradient accumulation over equal micro-batches reproduces the large-batch gradient.

The four terms:

- KL divergence `KL(soft_labels || softmax(logits))`, averaged over the batch ("batchmean"). With
  one-hot targets it equals the cross-entropy.
- Focal loss (Lin et al., 2017), multi-class, extended to soft targets as
  `-sum_k t_k * alpha_k * (1 - p_k)^gamma * log p_k` (the hard-label focal loss when `t` is
  one-hot; the KL/cross-entropy up to a constant when `gamma=0` and `alpha=None`).
- Center loss (Wen et al., 2016) `sum_k t_k * ||e - c_k||^2 / 2`: a mixed sample is pulled
  towards each class center in proportion to its soft label, and each center towards the
  samples carrying its class (the hard-label center loss when `t` is one-hot).
- Supervised contrastive loss (Khosla et al., 2020, the "L_out" form) on L2-normalised
  embeddings; positives are the other samples with the same hard label.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .loss_settings import LOSS_TERMS, MultiLossSettings

__all__ = [
    "LOSS_TERMS",
    "SOFT_LABEL_TOLERANCE",
    "CenterLoss",
    "MultiLoss",
    "MultiLossOutput",
    "MultiLossSettings",
    "center_loss",
    "check_distributions",
    "cross_process_supervised_contrastive_loss",
    "focal_loss",
    "gather_with_gradients",
    "hard_and_soft_labels",
    "inverse_frequency_from_counts",
    "inverse_frequency_weights",
    "kl_divergence_loss",
    "supervised_contrastive_loss",
]


def _check_logits_and_targets(logits: torch.Tensor, soft_labels: torch.Tensor) -> None:
    if logits.ndim != 2:
        raise ValueError(f"`logits` must have shape (batch, num_labels), got {tuple(logits.shape)}")
    if soft_labels.shape != logits.shape:
        raise ValueError(
            f"`soft_labels` must have the shape of `logits` {tuple(logits.shape)}, "
            f"got {tuple(soft_labels.shape)}"
        )


def _check_embeddings(embeddings: torch.Tensor) -> None:
    if embeddings.ndim != 2:
        raise ValueError(
            f"`embeddings` must have shape (batch, embedding_size), got {tuple(embeddings.shape)}"
        )


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """Half-precision inputs are computed in float32; float32/float64 keep their precision."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def _as_soft_labels(targets: torch.Tensor, num_labels: int, name: str) -> torch.Tensor:
    """Hard labels (batch,) become one-hot rows; soft labels (batch, num_labels) pass through."""
    if targets.ndim == 1:
        if targets.dtype.is_floating_point:
            raise ValueError(f"`{name}` of shape (batch,) must hold integer class indices")
        if targets.numel() and (targets.min() < 0 or targets.max() >= num_labels):
            raise ValueError(f"`{name}` holds a class index outside [0, {num_labels})")
        return F.one_hot(targets, num_labels).float()
    if targets.ndim == 2 and targets.shape[1] == num_labels:
        return _at_least_float32(targets)
    raise ValueError(
        f"`{name}` must have shape (batch,) or (batch, {num_labels}), got {tuple(targets.shape)}"
    )


def inverse_frequency_weights(labels: Sequence[int] | torch.Tensor, num_labels: int) -> list[float]:
    """Per-class focal `alpha` from training labels: `alpha_k = N / (num_labels * n_k)`.

    `N` is the number of labels and `n_k` the count of class `k`, so the average weight over
    the training samples is 1 and the loss keeps its scale.

    Args:
        labels: (N,) int class indices of the training set.
        num_labels: number of classes.

    Returns:
        `num_labels` floats.
    """
    labels = torch.as_tensor(labels, dtype=torch.long).flatten()
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_labels):
        raise ValueError(f"`labels` holds a class index outside [0, {num_labels})")
    return inverse_frequency_from_counts(torch.bincount(labels, minlength=num_labels).tolist())


def inverse_frequency_from_counts(counts: Sequence[int]) -> list[float]:
    """`alpha_k = N / (num_labels * n_k)` from the class counts `n_k` (one per class, N = sum).

    Raises:
        ValueError: a count is negative or zero (the weight of a class without samples is
            undefined).
    """
    counts = [int(count) for count in counts]
    missing = [k for k, count in enumerate(counts) if count <= 0]
    if missing:
        raise ValueError(f"classes {missing} have no training sample: inverse frequency undefined")
    total = float(sum(counts))
    return [total / (len(counts) * count) for count in counts]


def kl_divergence_loss(logits: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
    """KL(soft_labels || softmax(logits)) averaged over the batch.

    Args:
        logits: (batch, num_labels) unnormalised scores.
        soft_labels: (batch, num_labels) target distributions (one-hot rows allowed; zero
            entries contribute 0).

    Returns:
        Scalar tensor: `sum_b sum_k t_bk * (log t_bk - log p_bk) / batch`.
    """
    _check_logits_and_targets(logits, soft_labels)
    log_probs = F.log_softmax(_at_least_float32(logits), dim=-1)
    return F.kl_div(log_probs, soft_labels.to(log_probs.dtype), reduction="batchmean")


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 2.0,
    alpha: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Multi-class focal loss for hard or soft targets, averaged over the batch.

    `loss_b = -sum_k t_bk * alpha_k * (1 - p_bk)^gamma * log p_bk` with `p = softmax(logits)`.

    Args:
        logits: (batch, num_labels) unnormalised scores.
        targets: (batch,) int hard labels or (batch, num_labels) soft labels.
        gamma: focusing parameter, >= 0 (0 gives the cross-entropy).
        alpha: optional per-class weights (num_labels,), e.g. inverse class frequency.

    Returns:
        Scalar tensor.
    """
    if logits.ndim != 2:
        raise ValueError(f"`logits` must have shape (batch, num_labels), got {tuple(logits.shape)}")
    if gamma < 0:
        raise ValueError(f"`gamma` must be >= 0, got {gamma}")
    num_labels = logits.shape[1]
    log_probs = F.log_softmax(_at_least_float32(logits), dim=-1)
    soft_labels = _as_soft_labels(targets, num_labels, "targets").to(log_probs)
    # 1 - p computed as -expm1(log p) keeps precision for confident predictions; the clamp keeps
    # the gradient of (1 - p)^gamma finite when gamma < 1 and a probability saturates at 1.
    one_minus_p = (-torch.expm1(log_probs)).clamp_min(torch.finfo(log_probs.dtype).tiny)
    per_class = -(one_minus_p**gamma) * log_probs * soft_labels
    if alpha is not None:
        alpha_tensor = torch.as_tensor(alpha, dtype=log_probs.dtype, device=logits.device)
        if alpha_tensor.shape != (num_labels,):
            raise ValueError(
                f"`alpha` must have one weight per class ({num_labels}), "
                f"got shape {tuple(alpha_tensor.shape)}"
            )
        per_class = per_class * alpha_tensor
    return per_class.sum(dim=1).mean()


def center_loss(
    embeddings: torch.Tensor, soft_labels: torch.Tensor, centers: torch.Tensor
) -> torch.Tensor:
    """Soft-label center loss `mean_b sum_k t_bk * ||e_b - c_k||^2 / 2`.

    For a mixed sample the squared distance to each class center is weighted by that class's
    share of the soft label, so the gradient pulls the embedding towards the soft-label
    weighted mean of the centers, and each center towards its classes' (weighted) samples.

    Args:
        embeddings: (batch, embedding_size).
        soft_labels: (batch, num_labels) soft labels, or (batch,) int hard labels.
        centers: (num_labels, embedding_size) class centers (a learnable parameter).

    Returns:
        Scalar tensor.
    """
    _check_embeddings(embeddings)
    if centers.ndim != 2 or centers.shape[1] != embeddings.shape[1]:
        raise ValueError(
            f"`centers` must have shape (num_labels, {embeddings.shape[1]}), "
            f"got {tuple(centers.shape)}"
        )
    embeddings = _at_least_float32(embeddings)
    weights = _as_soft_labels(soft_labels, centers.shape[0], "soft_labels").to(embeddings)
    if weights.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"`soft_labels` has {weights.shape[0]} rows but `embeddings` has {embeddings.shape[0]}"
        )
    differences = embeddings[:, None, :] - centers.to(embeddings.dtype)[None, :, :]
    squared_distances = differences.pow(2).sum(dim=-1)  # (batch, num_labels)
    return 0.5 * (weights * squared_distances).sum(dim=1).mean()


def _check_supcon_inputs(
    embeddings: torch.Tensor, labels: torch.Tensor, temperature: float
) -> None:
    _check_embeddings(embeddings)
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"`labels` must have shape ({embeddings.shape[0]},), got {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point:
        raise ValueError("`labels` must hold integer class indices")
    if temperature <= 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature}")


def _supervised_contrastive_sum(
    anchors: torch.Tensor,
    anchor_labels: torch.Tensor,
    contrast: torch.Tensor,
    contrast_labels: torch.Tensor,
    anchor_rows: torch.Tensor,
    temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of the per-anchor SupCon losses over the valid anchors, and their number.

    Args:
        anchors: (anchors, embedding_size) embeddings whose losses are summed.
        anchor_labels: (anchors,) int hard labels.
        contrast: (samples, embedding_size) every sample an anchor is compared with; the
            anchors themselves are among them, at rows `anchor_rows`.
        contrast_labels: (samples,) int hard labels.
        anchor_rows: (anchors,) int64 row of each anchor in `contrast` (left out of its own
            denominator and positives).
        temperature: softmax temperature T > 0.

    Returns:
        (sum over valid anchors, number of valid anchors as a float tensor). An anchor is valid
        when it has a positive and a negative among the other samples.
    """
    contrast_labels = contrast_labels.to(contrast.device)
    anchor_labels = anchor_labels.to(contrast.device)
    columns = torch.arange(contrast.shape[0], device=contrast.device)
    not_self = columns[None, :] != anchor_rows.to(contrast.device)[:, None]
    same_label = anchor_labels[:, None] == contrast_labels[None, :]
    positives = same_label & not_self
    valid_anchors = positives.any(dim=1) & (~same_label).any(dim=1)
    normalized_anchors = F.normalize(_at_least_float32(anchors), dim=1)
    normalized_contrast = F.normalize(_at_least_float32(contrast), dim=1)
    similarities = normalized_anchors @ normalized_contrast.T / temperature
    # Subtracting the row maximum (a constant per anchor) leaves the loss unchanged and avoids
    # overflow in exp; the self-similarity is masked out of the denominator.
    similarities = similarities - similarities.detach().max(dim=1, keepdim=True).values
    denominator = torch.logsumexp(similarities.masked_fill(~not_self, float("-inf")), dim=1)
    log_probs = similarities - denominator[:, None]
    positive_log_probs = torch.where(positives, log_probs, torch.zeros_like(log_probs))
    per_anchor = -positive_log_probs.sum(dim=1) / positives.sum(dim=1).clamp_min(1)
    total = torch.where(valid_anchors, per_anchor, torch.zeros_like(per_anchor)).sum()
    return total, valid_anchors.sum().to(total.dtype)


def supervised_contrastive_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020, "L_out") over one batch.

    Embeddings are L2-normalised; for anchor `i` with positives `P(i)` (other samples with the
    same hard label) `loss_i = -mean_{p in P(i)} log(exp(s_ip / T) / sum_{a != i} exp(s_ia / T))`
    with cosine similarity `s`. Anchors without a positive are left out of the mean instead of
    giving NaN. A batch with a single sample or a single class returns 0 (as a tensor attached
    to `embeddings`, so backward runs and gives zero gradients): without a negative the loss
    carries no separation signal, only a batch-size dependent constant.

    Args:
        embeddings: (batch, embedding_size).
        labels: (batch,) int hard labels.
        temperature: softmax temperature T > 0.

    Returns:
        Scalar tensor.
    """
    _check_supcon_inputs(embeddings, labels, temperature)
    rows = torch.arange(embeddings.shape[0], device=embeddings.device)
    total, count = _supervised_contrastive_sum(
        embeddings, labels, embeddings, labels, rows, temperature
    )
    return total / count.clamp_min(1.0)


def _row_counts(rows: int, device: torch.device) -> list[int]:
    """The row count of every process (a collective)."""
    count = torch.tensor([rows], device=device)
    counts = [torch.zeros_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    return [int(value) for value in counts]


class _GatherWithGradients(torch.autograd.Function):
    """`all_gather` of (rows, ...) tensors of any row count whose backward returns each process
    the gradient of the sum over processes of their losses with respect to its own rows."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        counts = _row_counts(tensor.shape[0], tensor.device)
        padded = tensor.new_zeros((max(counts), *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        gathered = [torch.zeros_like(padded) for _ in counts]
        dist.all_gather(gathered, padded.contiguous())
        rank = dist.get_rank()
        ctx.row_range = (sum(counts[:rank]), sum(counts[: rank + 1]))
        return torch.cat([part[:count] for part, count in zip(gathered, counts, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        grad = grad_output.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start, end = ctx.row_range
        return grad[start:end]


def gather_with_gradients(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` (rows, ...) of every process in rank order, keeping gradients.

    Row counts may differ between processes. The backward pass sums the incoming gradients
    over the processes (one `all_reduce`) and hands each process the rows it contributed, so
    with data-parallel gradient averaging a loss of the gathered rows trains as it would on one
    process. Every process must call it (it is a collective) and backpropagate through it.
    Without an initialised process group the tensor is returned as it is.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _GatherWithGradients.apply(tensor)


def cross_process_supervised_contrastive_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """Supervised contrastive loss of this process's anchors against the samples of every process.

    Each process passes its own micro-batch. The embeddings and labels of all processes are
    gathered (with gradients, see `gather_with_gradients`); this process's anchors are compared
    with all of them, and the sum of their losses is divided by the number of valid anchors over
    all processes and multiplied by the number of processes. The mean of the returned values
    over the processes (what data-parallel training averages, and what the trainer logs) is
    therefore exactly `supervised_contrastive_loss` of the concatenated batch, and so is the
    averaged gradient. Without an initialised process group this is
    `supervised_contrastive_loss`.

    Args:
        embeddings: (batch, embedding_size), this process's micro-batch.
        labels: (batch,) int hard labels.
        temperature: softmax temperature T > 0.

    Returns:
        Scalar tensor.
    """
    _check_supcon_inputs(embeddings, labels, temperature)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return supervised_contrastive_loss(embeddings, labels, temperature)
    all_embeddings = gather_with_gradients(embeddings)
    all_labels = gather_with_gradients(labels.to(embeddings.device))
    first_row = sum(_row_counts(embeddings.shape[0], embeddings.device)[: dist.get_rank()])
    rows = torch.arange(first_row, first_row + embeddings.shape[0], device=embeddings.device)
    total, count = _supervised_contrastive_sum(
        embeddings, labels, all_embeddings, all_labels, rows, temperature
    )
    dist.all_reduce(count, op=dist.ReduceOp.SUM)
    # The gathered copy enters the result even when no anchor here is valid, so that every
    # process runs the gather's backward (a collective) in every step.
    total = total + 0.0 * all_embeddings.sum()
    return total * dist.get_world_size() / count.clamp_min(1.0)


SOFT_LABEL_TOLERANCE = 1e-3
"""How far a soft label's row sum may stray from 1 (rounding of stored or averaged votes)."""


def check_distributions(soft_labels: torch.Tensor, name: str) -> None:
    """Raise ValueError naming `name` (and the row) unless every row of the (batch, num_labels)
    tensor is a distribution: finite, non-negative, summing to 1 within `SOFT_LABEL_TOLERANCE`
    (an all-zero row gave a loss of 0, percentages a loss of hundreds, NaN a NaN loss)."""
    values = soft_labels.detach()
    if not bool(torch.isfinite(values).all()) or bool((values < 0).any()):
        what = "a negative" if bool((values < 0).any()) else "a NaN or infinite"
        raise ValueError(f"{name} hold {what} value: each row must be a distribution")
    off = (values.sum(dim=-1) - 1).abs()
    if off.numel() and float(off.max()) > SOFT_LABEL_TOLERANCE:
        row = int(off.argmax())
        raise ValueError(
            f"{name}: row {row} sums to {float(values[row].sum()):.6g}, not 1: each row must be "
            "a distribution over the classes (divide vote counts by their total)"
        )


def hard_and_soft_labels(
    logits: torch.Tensor,
    labels: torch.Tensor | None,
    soft_labels: torch.Tensor | None,
    *,
    check_values: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two targets of the objective from either or both: (batch,) int64 hard labels (the
    positives of the supervised contrastive term) and (batch, num_labels) soft labels (of the
    KL, focal and center terms). Without `labels` they are the argmax of `soft_labels`;
    without `soft_labels`, the one-hot rows of `labels` (in the dtype of `logits`).

    Args:
        logits: (batch, num_labels), for the shapes and the dtype.
        labels: (batch,) class indices, or None.
        soft_labels: (batch, num_labels) target distributions, or None.
        check_values: check the values (reads them on the host; leave it out while tracing).

    Raises:
        ValueError: a target of the wrong shape or dtype, a label outside [0, num_labels), or
            (`check_values`) a soft-label row that is not a distribution (`check_distributions`).
    """
    if soft_labels is not None and soft_labels.shape != logits.shape:
        raise ValueError(
            f"soft_labels must be (batch, num_labels) = {tuple(logits.shape)}, "
            f"got {tuple(soft_labels.shape)}"
        )
    if labels is not None and (labels.is_floating_point() or labels.is_complex()):
        raise ValueError(
            f"labels must be (batch,) integer class indices or (batch, num_labels) float "
            f"distributions, got {labels.dtype} of shape {tuple(labels.shape)}"
        )
    if soft_labels is not None and check_values:
        check_distributions(soft_labels, "soft_labels")
    if labels is None:
        labels = soft_labels.argmax(dim=-1)
    labels = labels.reshape(-1).long()
    num_labels = logits.shape[-1]
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must be (batch,) = ({logits.shape[0]},), got {tuple(labels.shape)}"
        )
    if check_values and labels.numel() and bool((labels < 0).any() | (labels >= num_labels).any()):
        raise ValueError(f"labels hold a class index outside [0, {num_labels})")
    if soft_labels is None:
        soft_labels = F.one_hot(labels, num_labels).to(logits.dtype)
    return labels, soft_labels


def hard_and_soft_targets(logits, labels, soft_targets, *, check_values=True):
    """The deprecated name of `hard_and_soft_labels`, removed in 0.6."""
    warnings.warn(
        "hard_and_soft_targets is deprecated and is removed in 0.6: use hard_and_soft_labels",
        FutureWarning,
        stacklevel=2,
    )
    return hard_and_soft_labels(logits, labels, soft_targets, check_values=check_values)


class CenterLoss(nn.Module):
    """Center loss with its own learnable centers, for models that do not own theirs.

    (`FlamForSequenceClassification` owns its centers, `class_centers`, and computes the center
    loss in its forward, so they are saved with it; this module is for other models in custom
    training loops.) Put this module's parameters in
    the optimizer, optionally with their own learning rate.

    Args:
        num_labels: number of classes.
        embedding_size: size of the embeddings.
        generator: optional `torch.Generator` for the initial centers (standard normal).
    """

    def __init__(
        self, num_labels: int, embedding_size: int, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"`num_labels` must be >= 1, got {num_labels}")
        if embedding_size < 1:
            raise ValueError(f"`embedding_size` must be >= 1, got {embedding_size}")
        self.centers = nn.Parameter(torch.randn(num_labels, embedding_size, generator=generator))

    def forward(self, embeddings: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
        """Center loss of `embeddings` (batch, embedding_size) given soft or hard labels."""
        return center_loss(embeddings, soft_labels, self.centers)


@dataclass
class MultiLossOutput:
    """Result of `MultiLoss`: the weighted total and each unweighted term.

    Attributes:
        loss: scalar weighted sum.
        terms: unweighted scalar terms keyed "kl", "focal", "center", "supcon"; a term whose
            weight is 0 is not computed and not present.
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


class MultiLoss(nn.Module):
    """Weighted sum of the KL, focal, center and supervised contrastive losses: the one place
    the objective's total is formed.

    `loss = kl_weight * KL + focal_weight * focal + center_weight * center + supcon_weight * supcon`
    with the weights and hyper-parameters of `MultiLossSettings` (defaults documented there).

    Args:
        settings: the objective (default `MultiLossSettings()`).
        cross_process: in training mode, compute the supervised contrastive term of this
            process's samples against those of every process
            (`cross_process_supervised_contrastive_loss`: every process must then call the
            module in every training step) instead of the per-process batch alone. Without an
            initialised process group (or with one process) both give the same value. It is a
            switch of the run, not of the objective, so it is not part of `settings`.
        **overrides: fields of `MultiLossSettings` replacing those of `settings`
            (e.g. `MultiLoss(center_weight=0.0)`).
    """

    def __init__(
        self,
        settings: MultiLossSettings | None = None,
        *,
        cross_process: bool = False,
        **overrides: Any,
    ) -> None:
        super().__init__()
        if overrides:
            settings = MultiLossSettings.from_dict(
                {**(settings or MultiLossSettings()).to_dict(), **overrides}, where="MultiLoss"
            )
        self.settings = settings or MultiLossSettings()
        self.cross_process = bool(cross_process)
        self.weights = self.settings.weights
        alpha = self.settings.focal_alpha
        self.register_buffer(
            "focal_alpha",
            None if alpha is None else torch.tensor(alpha, dtype=torch.float32),
            persistent=False,
        )

    def forward(
        self,
        logits: torch.Tensor,
        embeddings: torch.Tensor | None,
        soft_labels: torch.Tensor | None,
        labels: torch.Tensor | None,
        centers: torch.Tensor | None = None,
        *,
        check_values: bool = True,
    ) -> MultiLossOutput:
        """Compute the weighted total and each term.

        Args:
            logits: (batch, num_labels).
            embeddings: (batch, embedding_size); needed when the center or supcon weight > 0.
            soft_labels: (batch, num_labels) targets of the KL, focal and center terms; None:
                the one-hot rows of `labels`.
            labels: (batch,) hard labels, positives of the supervised contrastive term; None:
                the argmax of `soft_labels`.
            centers: (num_labels, embedding_size); needed when the center weight > 0.
            check_values: check the targets' values (`hard_and_soft_labels`); False where the
                caller has (the model's forward) or while tracing.

        Raises:
            ValueError: targets of the wrong shape, dtype or values (`hard_and_soft_labels`),
                neither target given, or a missing `embeddings` / `centers`.
        """
        if labels is None and soft_labels is None:
            raise ValueError("labels and soft_labels: give at least one of them")
        labels, soft_labels = hard_and_soft_labels(
            logits, labels, soft_labels, check_values=check_values
        )
        settings = self.settings
        terms: dict[str, torch.Tensor] = {}
        if self.weights["kl"] > 0:
            terms["kl"] = kl_divergence_loss(logits, soft_labels)
        if self.weights["focal"] > 0:
            terms["focal"] = focal_loss(logits, soft_labels, settings.focal_gamma, self.focal_alpha)
        needs_embeddings = self.weights["center"] > 0 or self.weights["supcon"] > 0
        if needs_embeddings and embeddings is None:
            raise ValueError("`embeddings` are required when center_weight or supcon_weight > 0")
        if self.weights["center"] > 0:
            if centers is None:
                raise ValueError("`centers` are required when center_weight > 0")
            terms["center"] = center_loss(embeddings, soft_labels, centers)
        if self.weights["supcon"] > 0:
            supcon = (
                cross_process_supervised_contrastive_loss
                if self.cross_process and self.training
                else supervised_contrastive_loss
            )
            terms["supcon"] = supcon(embeddings, labels, settings.supcon_temperature)
        return MultiLossOutput(loss=self.combine(terms), terms=terms)

    def combine(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """`sum_k weight_k * terms[k]` (see `MultiLossSettings.combine`)."""
        return self.settings.combine(terms)
