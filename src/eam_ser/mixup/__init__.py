r"""Energy-Adaptive Mixup (EAM): mix a segment of a partner utterance in at a drawn SNR.

One module per job (the math and its policies are stated in `eam_ser.mixup.core`):

- `settings`: `EnergyAdaptiveMixupSettings`, every EAM default written once (torch-free);
- `core`: `MixParameters`, the draws, the label weights and `energy_adaptive_mix`;
- `streams`: the per-process random streams of the seeded mixers;
- `collator`: `EnergyAdaptiveMixupCollator`, mixing within a training batch;
- `map`: `EnergyAdaptiveMixupMap`, a ``datasets.map`` function for offline augmentation;
- `transform`: `EnergyAdaptiveMixup`, an audiomentations transform with a partner pool;
- `baselines`: whole-clip mixing and classic mixup, for comparison.

Every mixer takes one ``settings`` object and keyword overrides of its fields. The names below
are imported on first use, so ``import eam_ser.mixup.settings`` (what the ``eam-ser`` command
reads) does not load torch or audiomentations.
"""

from __future__ import annotations

from eam_ser._lazy import lazy_exports

# Public name -> the module of this package (or of eam_ser) that defines it: every public
# name of the 0.3.0 module eam_ser.mixup.
_LAZY = {
    "EAM_DEFAULTS": "eam_ser.mixup.settings",
    "EAM_REGIME_EVIDENCE": "eam_ser.mixup.settings",
    "ENCODER_REGIMES": "eam_ser.mixup.settings",
    "LABEL_MODES": "eam_ser.mixup.settings",
    "EnergyAdaptiveMixupSettings": "eam_ser.mixup.settings",
    "RegimeEvidence": "eam_ser.mixup.settings",
    "encoder_regime": "eam_ser.mixup.settings",
    "resolve_settings": "eam_ser.mixup.settings",
    "MIX_IMPLEMENTATIONS": "eam_ser.mixup.core",
    "SILENCE_THRESHOLD": "eam_ser.mixup.core",
    "MixParameters": "eam_ser.mixup.core",
    "draw_mix_parameters": "eam_ser.mixup.core",
    "draw_partner_index": "eam_ser.mixup.core",
    "energy_adaptive_mix": "eam_ser.mixup.core",
    "mix_soft_labels": "eam_ser.mixup.core",
    "mix_tensors": "eam_ser.mixup.core",
    "one_hot": "eam_ser.mixup.core",
    "partner_label_weight": "eam_ser.mixup.core",
    "snr_scale": "eam_ser.mixup.core",
    "process_stream_key": "eam_ser.mixup.streams",
    "stream_generator": "eam_ser.mixup.streams",
    "DEVICE_MIX_KEYS": "eam_ser.mixup.collator",
    "EnergyAdaptiveMixupCollator": "eam_ser.mixup.collator",
    "EnergyAdaptiveMixupMap": "eam_ser.mixup.map",
    "EnergyAdaptiveMixup": "eam_ser.mixup.transform",
    "MixupCollator": "eam_ser.mixup.baselines",
    "WholeClipMixCollator": "eam_ser.mixup.baselines",
    "write_mixed_corpus": "eam_ser.mixup.offline",
    # 0.3.0 names from the modules eam_ser.mixup imported them from.
    "DEFAULT_SAMPLING_RATE": "eam_ser.audio",
    "load_audio": "eam_ser.audio",
    "random_crop": "eam_ser.audio",
    "AudioCollator": "eam_ser.collator",
    "parse_label": "eam_ser.collator",
    "is_log_mel_extractor": "eam_ser.featurize",
    "mel_frame_mask": "eam_ser.featurize",
    "normalize_tensors": "eam_ser.featurize",
    "whisper_log_mel": "eam_ser.featurize",
}

__all__ = [
    "EAM_DEFAULTS",
    "LABEL_MODES",
    "SILENCE_THRESHOLD",
    "EnergyAdaptiveMixup",
    "EnergyAdaptiveMixupCollator",
    "EnergyAdaptiveMixupMap",
    "EnergyAdaptiveMixupSettings",
    "MixParameters",
    "draw_mix_parameters",
    "draw_partner_index",
    "energy_adaptive_mix",
    "mix_soft_labels",
    "mix_tensors",
    "normalize_tensors",
    "one_hot",
    "partner_label_weight",
    "process_stream_key",
    "snr_scale",
    "stream_generator",
    "whisper_log_mel",
]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
