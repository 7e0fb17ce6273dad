"""`MultiLossSettings`: the weights and hyper-parameters of the four-term MLL objective, written
once. Torch-free, so that the CLI and experiment configs can read the settings (and generate
flags from the fields' `metadata["help"]`) without importing torch; the losses themselves are in
`eam_ser.models.flam.losses`, which re-exports these names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .arguments import check_real
from .settings_field import setting

if TYPE_CHECKING:
    import torch

__all__ = ["LOSS_TERMS", "MultiLossSettings"]

LOSS_TERMS = ("kl", "focal", "center", "supcon")
"""Short names of the four MLL terms, in the order of the objective."""


MAX_WEIGHT = 1e6
"""Largest weight of a loss term: a float32 loss of the terms' size (up to about 1e2) times it
stays finite, and no useful balance of the terms needs more."""

MIN_SUPCON_TEMPERATURE = 1e-3
"""Lowest supervised contrastive temperature: cosine similarities over it stay within what
float32 (and bf16) can exponentiate after the max is subtracted; far below it the loss and its
gradients overflow."""


@dataclass
class MultiLossSettings:
    """Weights and hyper-parameters of the four-term MLL objective: the one place they are set.

    `loss = kl_weight * KL + focal_weight * focal + center_weight * center
    + supcon_weight * supcon`. `FlamConfig.multi_loss` stores these fields (so a saved model
    carries the objective it was trained with), `MultiLossTrainingArguments` can override them,
    and the CLI, experiment configs and model cards read them from here.

    Defaults (the paper gives no weights; these are chosen for scale): the KL term to the EAM
    soft labels is the main classification loss (1.0); focal loss is of the same order as the
    cross-entropy and adds the hard-example emphasis (1.0, gamma 2 as in Lin et al. 2017);
    center loss sums squared distances over `embedding_size` dimensions, so it starts orders of
    magnitude above the others and gets a small weight (0.01, within the 0.001-0.01 range of
    Wen et al. 2016); supervised contrastive loss is an auxiliary term around log(batch) in
    size (0.1, temperature 0.07 as in Khosla et al. 2020).

    Each field's meaning and range is its `metadata["help"]` (read by `HfArgumentParser`, the
    CLI and `MultiLossTrainingArguments`).
    """

    kl_weight: float = setting(1.0, "Weight of the KL divergence to the soft labels (0 to 1e6).")
    focal_weight: float = setting(1.0, "Weight of the focal loss (0 to 1e6).")
    center_weight: float = setting(0.01, "Weight of the center loss (0 to 1e6).")
    supcon_weight: float = setting(0.1, "Weight of the supervised contrastive loss (0 to 1e6).")
    focal_gamma: float = setting(
        2.0, "Focal loss focusing parameter gamma (>= 0; 0 gives the cross-entropy)."
    )
    focal_alpha: list[float] | None = setting(
        None,
        "Focal loss per-class weights, one float >= 0 per class in class-index order; None: all 1.",
    )
    supcon_temperature: float = setting(
        0.07, "Supervised contrastive softmax temperature (>= 0.001; the paper's 0.07)."
    )

    def __post_init__(self) -> None:
        for name in ("kl_weight", "focal_weight", "center_weight", "supcon_weight"):
            setattr(
                self, name, check_real(getattr(self, name), name, minimum=0.0, maximum=MAX_WEIGHT)
            )
        self.focal_gamma = check_real(self.focal_gamma, "focal_gamma", minimum=0.0)
        self.supcon_temperature = check_real(
            self.supcon_temperature, "supcon_temperature", minimum=MIN_SUPCON_TEMPERATURE
        )
        if self.focal_alpha is not None:
            if isinstance(self.focal_alpha, (str, bytes)) or not hasattr(
                self.focal_alpha, "__iter__"
            ):
                raise ValueError(
                    f"focal_alpha must be a list of class weights >= 0 (or None), got "
                    f"{self.focal_alpha!r}"
                )
            self.focal_alpha = [
                check_real(value, f"focal_alpha[{index}]", minimum=0.0)
                for index, value in enumerate(self.focal_alpha)
            ]
        if not any(self.weights.values()):
            raise ValueError("all loss weights are 0: nothing to optimise")

    @property
    def weights(self) -> dict[str, float]:
        """Weight of each term, keyed by the names in `LOSS_TERMS`."""
        return {
            "kl": self.kl_weight,
            "focal": self.focal_weight,
            "center": self.center_weight,
            "supcon": self.supcon_weight,
        }

    def combine(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The objective `sum_k weight_k * terms[k]` over the given unweighted terms (keys from
        `LOSS_TERMS`)."""
        weights = self.weights
        return sum(weights[name] * value for name, value in terms.items())

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain (JSON-serialisable) dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(
        cls, values: Mapping[str, Any] | None, *, where: str = "multi_loss"
    ) -> MultiLossSettings:
        """Build from a dict of fields; unknown keys raise ValueError naming `where`."""
        values = dict(values or {})
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**values)
