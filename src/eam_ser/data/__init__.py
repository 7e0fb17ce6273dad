"""Data: audio in, model inputs out, and the check that comes before any training.

- `audio`: decode, downmix, resample (`DEFAULT_SAMPLING_RATE`, the one sampling rate) and
  validate waveforms;
- `collator`: `AudioCollator`, the one padding collator (load, resample, pad, normalize or
  featurize) that every mixing collator composes;
- `kernels`: the compiled (numba) kernels of the segment mix and the per-clip normalization;
- `check`: the data check (every file probed, label and speaker checks) that the library's run
  path and the ``eam-ser`` commands call before any long work.

May import: `eam_ser.models.flam` (featurizing, shared with saved models) and `eam_ser.corpora`.
The names below are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .audio import MAX_ABS_AMPLITUDE as MAX_ABS_AMPLITUDE
    from .audio import MAX_WHOLE_CLIP_S as MAX_WHOLE_CLIP_S
    from .audio import load_audio as load_audio
    from .audio import validate_waveform as validate_waveform
    from .check import ON_BAD_AUDIO as ON_BAD_AUDIO
    from .check import AudioProbe as AudioProbe
    from .check import DataCheckError as DataCheckError
    from .check import DataCheckReport as DataCheckReport
    from .check import DataProblem as DataProblem
    from .check import check_data as check_data
    from .check import check_run_data as check_run_data
    from .check import holds_files as holds_files
    from .check import probe_audio as probe_audio
    from .check import speaker_overlap as speaker_overlap
    from .collator import AUDIO_OPTIONS as AUDIO_OPTIONS
    from .collator import AudioCollator as AudioCollator
    from .collator import CompletesOnDevice as CompletesOnDevice
    from .collator import EvaluationSwitch as EvaluationSwitch
    from .collator import SeededCollator as SeededCollator
    from .collator import check_num_labels as check_num_labels
    from .collator import one_hot as one_hot
    from .collator import pad_waveforms as pad_waveforms
    from .collator import parse_label as parse_label
    from .kernels import mix_rows as mix_rows
    from .kernels import normalize_rows as normalize_rows

__getattr__, __dir__ = lazy_exports(__name__, __file__)
