"""Speech emotion corpora as `datasets.Dataset` objects with speaker-independent folds.

Each module turns a local copy in its official layout into a Dataset with the columns
``audio`` (path), ``label`` (ClassLabel), ``speaker``, ``gender``, ``fold`` (and ``session``
where the corpus has sessions); see `eam_ser.corpora.base`. `CORPORA` describes each corpus
(loader, labels, protocols, citation) and `load_corpus` loads one by name::

    from eam_ser.corpora import load_corpus, train_test_split_by_fold
    dataset = load_corpus("emodb", "path/to/emodb", protocol="speaker_pairs")
    train, test = train_test_split_by_fold(dataset, fold=0)

May import: nothing of eam_ser (the registry stays importable without torch or datasets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

# The public names, each imported from its module on first use (see eam_ser._lazy): the
# registry stays importable without `datasets`, so the `eam-ser` command parses its flags fast.
if TYPE_CHECKING:
    from .base import CorpusLayoutError as CorpusLayoutError
    from .base import label_names as label_names
    from .base import train_test_split_by_fold as train_test_split_by_fold
    from .base import train_test_split_by_speakers as train_test_split_by_speakers
    from .crema_d import CREMA_D_LABELS as CREMA_D_LABELS
    from .crema_d import load_crema_d as load_crema_d
    from .emodb import EMODB_LABELS as EMODB_LABELS
    from .emodb import load_emodb as load_emodb
    from .iemocap import IEMOCAP_LABELS as IEMOCAP_LABELS
    from .iemocap import load_iemocap as load_iemocap
    from .manifest import load_audiofolder as load_audiofolder
    from .manifest import load_local as load_local
    from .manifest import load_manifest as load_manifest
    from .msp_improv import MSP_IMPROV_LABELS as MSP_IMPROV_LABELS
    from .msp_improv import load_msp_improv as load_msp_improv
    from .ravdess import RAVDESS_LABELS as RAVDESS_LABELS
    from .ravdess import load_ravdess as load_ravdess
    from .registry import CORPORA as CORPORA
    from .registry import Corpus as Corpus
    from .registry import load_corpus as load_corpus
    from .savee import SAVEE_LABELS as SAVEE_LABELS
    from .savee import load_savee as load_savee
    from .tess import TESS_LABELS as TESS_LABELS
    from .tess import load_tess as load_tess
    from .urdu import URDU_LABELS as URDU_LABELS
    from .urdu import load_urdu as load_urdu

__getattr__, __dir__ = lazy_exports(__name__, __file__)
