"""Models: the speech-emotion models of eam-ser, one folder each (`eam_ser.models.flam`).

May import: nothing of eam_ser outside its own folders (a saved model folder carries its code).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy).
if TYPE_CHECKING:
    from .flam.configuration_flam import FlamConfig as FlamConfig
    from .flam.modeling_flam import FlamForSequenceClassification as FlamForSequenceClassification

__getattr__, __dir__ = lazy_exports(__name__, __file__)
