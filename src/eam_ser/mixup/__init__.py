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

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names (the 0.3.0 eam_ser.mixup.__all__), each imported from its module on first
# use (see eam_ser._lazy); the plain imports are the other 0.3.0 names of eam_ser.mixup.
if TYPE_CHECKING:
    from ..audio import DEFAULT_SAMPLING_RATE, load_audio, random_crop  # noqa: F401
    from ..collator import AudioCollator, parse_label  # noqa: F401
    from ..featurize import is_log_mel_extractor, mel_frame_mask  # noqa: F401
    from ..featurize import normalize_tensors as normalize_tensors
    from ..featurize import whisper_log_mel as whisper_log_mel
    from .baselines import MixupCollator, WholeClipMixCollator  # noqa: F401
    from .collator import DEVICE_MIX_KEYS  # noqa: F401
    from .collator import EnergyAdaptiveMixupCollator as EnergyAdaptiveMixupCollator
    from .core import MIX_IMPLEMENTATIONS  # noqa: F401
    from .core import SILENCE_THRESHOLD as SILENCE_THRESHOLD
    from .core import MixParameters as MixParameters
    from .core import draw_mix_parameters as draw_mix_parameters
    from .core import draw_partner_index as draw_partner_index
    from .core import energy_adaptive_mix as energy_adaptive_mix
    from .core import mix_soft_labels as mix_soft_labels
    from .core import mix_tensors as mix_tensors
    from .core import one_hot as one_hot
    from .core import partner_label_weight as partner_label_weight
    from .core import snr_scale as snr_scale
    from .map import EnergyAdaptiveMixupMap as EnergyAdaptiveMixupMap
    from .offline import write_mixed_corpus  # noqa: F401
    from .settings import EAM_DEFAULTS as EAM_DEFAULTS
    from .settings import (  # noqa: F401
        EAM_REGIME_EVIDENCE,
        ENCODER_REGIMES,
        RegimeEvidence,
        encoder_regime,
        resolve_settings,
    )
    from .settings import LABEL_MODES as LABEL_MODES
    from .settings import EnergyAdaptiveMixupSettings as EnergyAdaptiveMixupSettings
    from .streams import process_stream_key as process_stream_key
    from .streams import stream_generator as stream_generator
    from .transform import EnergyAdaptiveMixup as EnergyAdaptiveMixup

__getattr__, __dir__ = lazy_exports(__name__, __file__)
