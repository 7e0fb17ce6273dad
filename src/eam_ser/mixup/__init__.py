r"""Energy-Adaptive Mixup (EAM): mix a segment of a partner utterance in at a drawn SNR.

One module per job (the math and its policies are stated in `eam_ser.mixup.core`):

- `settings`: `EnergyAdaptiveMixupSettings`, every EAM default written once (torch-free);
- `core`: `MixParameters`, the draws, the label weights and `energy_adaptive_mix`;
- `streams`: the per-process random streams of the seeded mixers;
- `collator`: `EnergyAdaptiveMixupCollator`, mixing within a training batch;
- `map`: `EnergyAdaptiveMixupMap`, a ``datasets.map`` function for offline augmentation;
- `transform`: `EnergyAdaptiveMixup`, an audiomentations transform with a partner pool;
- `baselines`: whole-clip mixing and classic mixup, for comparison.

May import: `eam_ser.models.flam` (featurizing), `eam_ser.data` (decoding, the padding
collator, the kernels).

Every mixer takes one ``settings`` object and keyword overrides of its fields. The names below
are imported on first use, so ``import eam_ser.mixup.settings`` (what the ``eam-ser`` command
reads) does not load torch or audiomentations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy). Only
# this layer's own names: the audio, collator and featurizing names 0.3 re-exported here live in
# eam_ser.data and eam_ser.models.flam.
if TYPE_CHECKING:
    from .baselines import MixupCollator as MixupCollator
    from .baselines import WholeClipMixCollator as WholeClipMixCollator
    from .collator import DEVICE_MIX_KEYS as DEVICE_MIX_KEYS
    from .collator import EnergyAdaptiveMixupCollator as EnergyAdaptiveMixupCollator
    from .core import MIX_IMPLEMENTATIONS as MIX_IMPLEMENTATIONS
    from .core import SILENCE_THRESHOLD as SILENCE_THRESHOLD
    from .core import MixParameters as MixParameters
    from .core import draw_mix_parameters as draw_mix_parameters
    from .core import draw_partner_index as draw_partner_index
    from .core import energy_adaptive_mix as energy_adaptive_mix
    from .core import mix_soft_labels as mix_soft_labels
    from .core import mix_tensors as mix_tensors
    from .core import partner_label_weight as partner_label_weight
    from .core import snr_scale as snr_scale
    from .map import EnergyAdaptiveMixupMap as EnergyAdaptiveMixupMap
    from .offline import write_mixed_corpus as write_mixed_corpus
    from .settings import EAM_DEFAULTS as EAM_DEFAULTS
    from .settings import LABEL_MODES as LABEL_MODES
    from .settings import EnergyAdaptiveMixupSettings as EnergyAdaptiveMixupSettings
    from .settings import resolve_settings as resolve_settings
    from .streams import process_stream_key as process_stream_key
    from .streams import stream_generator as stream_generator
    from .transform import EnergyAdaptiveMixup as EnergyAdaptiveMixup

__getattr__, __dir__ = lazy_exports(__name__, __file__)
