"""Other ways to mix a training batch, to compare EAM with (the ablation's rows).

Both collators take the same features as `EnergyAdaptiveMixupCollator` (audio under
``audio``, label under ``label``), mix each sample with probability `p` (of their one
`EnergyAdaptiveMixupSettings`, as EAM) with a partner from the batch (`draw_partner_index`: a
random cyclic derangement, never the sample itself), and leave padding, normalization or
features to `padding_collator`, an EAM collator in eval mode (so every compared method shares
that path). They return what the EAM collator returns:
``input_values`` or ``input_features``, ``attention_mask``, ``labels``, ``soft_labels``.

- `WholeClipMixCollator`: the recipe of torch-audiomentations' ``Mix``: the whole partner clip
  (cut to the sample's length; a shorter one ends early) is added at an SNR drawn uniformly in
  ``[min_snr_db, max_snr_db]`` from the energies of the two *whole* clips, no segment choice.
  ``target="original"`` keeps the sample's label; ``target="union"`` gives both labels, as
  torch-audiomentations' multi-hot union, normalized to ``0.5 / 0.5`` for a softmax objective.
- `MixupCollator`: mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization"): the
  convex combination ``lam * x_i + (1 - lam) * x_j`` over the sample's length with
  ``lam ~ Beta(alpha, alpha)`` and the soft label ``lam * y_i + (1 - lam) * y_j``; the hard
  label is the one with the larger weight.

A sample whose partner (or itself) is silent over the mixed part is left unmixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from eam_ser.data.audio import random_crop
from eam_ser.data.collator import one_hot
from eam_ser.mixup.collator import EnergyAdaptiveMixupCollator
from eam_ser.mixup.core import SILENCE_THRESHOLD, draw_partner_index, snr_scale
from eam_ser.mixup.settings import (
    Delegated,
    EnergyAdaptiveMixupSettings,
    resolve_settings,
    with_setting_attributes,
)
from eam_ser.mixup.streams import ProcessStream

__all__ = ["WHOLE_CLIP_TARGETS", "MixupCollator", "WholeClipMixCollator"]

WHOLE_CLIP_TARGETS = ("original", "union")


@with_setting_attributes
class _InBatchMixCollator:
    """Load, crop (training), pick partners, mix each pair with `_mix`, then pad / featurize.

    Args (of every baseline):
        padding_collator: pads and featurizes (used in eval mode).
        settings: EAM's settings; `p` (probability of mixing each sample) and, for the
            whole-clip mix, the SNR range are used (default EAM's).
        seed: seed of the generator (per process and worker, as EAM's).
        max_train_seconds: cut longer clips to a random window of this length first.
        **overrides: fields of `settings` to replace (``p``, ``min_snr_db``, ...).
    """

    seed = Delegated("stream")
    generator = Delegated("stream")

    def __init__(
        self,
        padding_collator: EnergyAdaptiveMixupCollator,
        *,
        settings: EnergyAdaptiveMixupSettings | None = None,
        seed: int | None = None,
        max_train_seconds: float | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = resolve_settings(settings, **overrides)
        if max_train_seconds is not None and not max_train_seconds > 0:
            raise ValueError(f"max_train_seconds must be > 0 (or None), got {max_train_seconds}")
        self.padding_collator = padding_collator.as_eval()
        self.num_labels = padding_collator.num_labels
        rate = padding_collator.sampling_rate
        self.max_train_samples = (
            None if max_train_seconds is None else round(max_train_seconds * rate)
        )
        self.training = True
        self.stream = ProcessStream(seed)

    def as_eval(self) -> EnergyAdaptiveMixupCollator:
        """The padding collator: evaluation batches are never mixed or cut."""
        return self.padding_collator

    def _mix(
        self, waveform: np.ndarray, partner: np.ndarray, generator: np.random.Generator
    ) -> tuple[np.ndarray, float] | None:
        """(mixed waveform, partner label weight), or None to leave the sample unmixed."""
        raise NotImplementedError

    def _hard_label(self, label: int, partner_label: int, weight: float) -> int:
        return label

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not self.training:
            return self.padding_collator(features)
        collator = self.padding_collator
        generator = self.stream.generator
        waveforms = collator.load_waveforms(features)
        labels = collator.parse_labels(features, required=True).tolist()
        if self.max_train_samples is not None:
            waveforms = [random_crop(w, self.max_train_samples, generator) for w in waveforms]
        batch_size = len(waveforms)
        partners = draw_partner_index(batch_size, generator)
        chosen = generator.random(batch_size) < self.p
        soft_labels = one_hot(labels, self.num_labels)
        hard_labels = list(labels)
        mixed_waveforms = list(waveforms)
        for row in np.flatnonzero(chosen & (batch_size > 1)):
            partner = int(partners[row])
            result = self._mix(waveforms[row], waveforms[partner], generator)
            if result is None:
                continue
            mixed_waveforms[row], weight = result
            soft_labels[row] *= 1.0 - weight
            soft_labels[row, labels[partner]] += weight
            hard_labels[row] = self._hard_label(labels[row], labels[partner], weight)
        batch = collator(
            [
                {"audio": waveform, "label": label}
                for waveform, label in zip(mixed_waveforms, hard_labels, strict=True)
            ]
        )
        batch["soft_labels"] = torch.from_numpy(soft_labels)
        return batch


def _energy(waveform: np.ndarray) -> float:
    return float(np.mean(np.square(waveform, dtype=np.float64))) if waveform.size else 0.0


class WholeClipMixCollator(_InBatchMixCollator):
    """Whole-clip in-batch mixing at a drawn SNR (torch-audiomentations ``Mix``); see the module
    docstring.

    Args:
        padding_collator: pads and featurizes (used in eval mode).
        target: ``"original"`` or ``"union"``.
        **common: ``settings``, ``seed``, ``max_train_seconds`` and settings overrides, as for
            every baseline (`_InBatchMixCollator`); the SNR range is EAM's, so only the segment
            and energy choices differ from EAM.
    """

    def __init__(
        self,
        padding_collator: EnergyAdaptiveMixupCollator,
        *,
        target: str = "original",
        **common: Any,
    ) -> None:
        super().__init__(padding_collator, **common)
        if target not in WHOLE_CLIP_TARGETS:
            raise ValueError(f"target must be one of {WHOLE_CLIP_TARGETS}, got {target!r}")
        self.target = target

    def _mix(
        self, waveform: np.ndarray, partner: np.ndarray, generator: np.random.Generator
    ) -> tuple[np.ndarray, float] | None:
        snr_db = generator.uniform(self.min_snr_db, self.max_snr_db)
        partner = partner[: waveform.shape[0]]
        own_energy, partner_energy = _energy(waveform), _energy(partner)
        if own_energy < SILENCE_THRESHOLD or partner_energy < SILENCE_THRESHOLD:
            return None
        scale = snr_scale(own_energy, partner_energy, snr_db)
        mixed = waveform.copy()
        mixed[: partner.shape[0]] += np.float32(scale) * partner
        return mixed, 0.5 if self.target == "union" else 0.0


class MixupCollator(_InBatchMixCollator):
    """Mixup with a Beta(alpha, alpha) weight (Zhang et al. 2018); see the module docstring.

    Args:
        padding_collator: pads and featurizes (used in eval mode).
        alpha: Beta distribution parameter (> 0); Zhang et al. use 0.1-0.4.
        **common: ``settings`` (of which `p` is used), ``seed``, ``max_train_seconds`` and
            settings overrides, as for every baseline (`_InBatchMixCollator`).
    """

    def __init__(
        self, padding_collator: EnergyAdaptiveMixupCollator, *, alpha: float = 0.4, **common: Any
    ) -> None:
        super().__init__(padding_collator, **common)
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha

    def _mix(
        self, waveform: np.ndarray, partner: np.ndarray, generator: np.random.Generator
    ) -> tuple[np.ndarray, float] | None:
        own_weight = float(generator.beta(self.alpha, self.alpha))
        partner = partner[: waveform.shape[0]]
        if _energy(partner) < SILENCE_THRESHOLD:
            return None
        mixed = np.float32(own_weight) * waveform
        mixed[: partner.shape[0]] += np.float32(1.0 - own_weight) * partner
        return mixed, 1.0 - own_weight

    def _hard_label(self, label: int, partner_label: int, weight: float) -> int:
        return partner_label if weight > 0.5 else label
