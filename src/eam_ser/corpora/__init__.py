"""Speech emotion corpora as `datasets.Dataset` objects with speaker-independent folds.

Each module turns a local copy in its official layout into a Dataset with the columns
``audio`` (path), ``label`` (ClassLabel), ``speaker``, ``gender``, ``fold`` (and ``session``
where the corpus has sessions); see `eam_ser.corpora.base`. `CORPORA` describes each corpus
(loader, labels, protocols, citation) and `load_corpus` loads one by name::

    from eam_ser.corpora import load_corpus, train_test_split_by_fold
    dataset = load_corpus("emodb", "path/to/emodb", protocol="speaker_pairs")
    train, test = train_test_split_by_fold(dataset, fold=0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from eam_ser._lazy import lazy_exports

if TYPE_CHECKING:
    from datasets import Dataset

# Public names -> the submodule defining them, imported on first use: the registry below stays
# importable without `datasets`, so the `eam-ser` command parses its flags fast.
_LAZY = {
    "CorpusLayoutError": "base",
    "label_names": "base",
    "train_test_split_by_fold": "base",
    "train_test_split_by_speakers": "base",
    "load_audiofolder": "manifest",
    "load_local": "manifest",
    "load_manifest": "manifest",
    "CREMA_D_LABELS": "crema_d",
    "load_crema_d": "crema_d",
    "EMODB_LABELS": "emodb",
    "load_emodb": "emodb",
    "IEMOCAP_LABELS": "iemocap",
    "load_iemocap": "iemocap",
    "MSP_IMPROV_LABELS": "msp_improv",
    "load_msp_improv": "msp_improv",
    "RAVDESS_LABELS": "ravdess",
    "load_ravdess": "ravdess",
    "SAVEE_LABELS": "savee",
    "load_savee": "savee",
    "TESS_LABELS": "tess",
    "load_tess": "tess",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


@dataclass(frozen=True)
class Corpus:
    """What the library knows about one corpus: how to load it and how to cite it.

    `protocols` lists the values the loader's ``protocol`` argument takes (the first is the
    default); an empty tuple means the loader has a single fixed protocol. `module` is the
    `eam_ser.corpora` submodule holding the loader ``load_<module>`` and ``<MODULE>_LABELS``.
    """

    name: str
    title: str
    module: str
    protocol: str
    citation: str
    protocols: tuple[str, ...] = ()

    @property
    def loader(self) -> Callable[..., Dataset]:
        """The loader function (imports its module)."""
        return __getattr__(f"load_{self.module}")

    @property
    def labels(self) -> tuple[str, ...]:
        """The ordered label names."""
        return tuple(__getattr__(f"{self.module.upper()}_LABELS"))


CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in (
        Corpus(
            "iemocap",
            "IEMOCAP",
            "iemocap",
            "4 classes (excited merged into happy), 5-fold leave-one-session-out",
            "Busso, C. et al. (2008). IEMOCAP: Interactive emotional dyadic motion capture "
            "database. Language Resources and Evaluation, 42(4), 335-359.",
        ),
        Corpus(
            "msp_improv",
            "MSP-IMPROV",
            "msp_improv",
            "4 classes, 6-fold leave-one-session-out",
            "Busso, C. et al. (2017). MSP-IMPROV: An acted corpus of dyadic interactions to "
            "study emotion perception. IEEE Transactions on Affective Computing, 8(1), 67-80.",
        ),
        Corpus(
            "ravdess",
            "RAVDESS (speech)",
            "ravdess",
            "8 classes, 6 folds of 4 actors (speaker-independent)",
            "Livingstone, S. R. and Russo, F. A. (2018). The Ryerson Audio-Visual Database of "
            "Emotional Speech and Song (RAVDESS). PLoS ONE, 13(5), e0196391.",
        ),
        Corpus(
            "savee",
            "SAVEE",
            "savee",
            "7 classes, leave-one-speaker-out (4 folds)",
            "Haq, S. and Jackson, P. J. B. (2009). Speaker-dependent audio-visual emotion "
            "recognition. Proc. AVSP, 53-58.",
        ),
        Corpus(
            "emodb",
            "EmoDB (Berlin Database of Emotional Speech)",
            "emodb",
            "7 classes, leave-one-speaker-out (10 folds) or 5 folds of one female + one male speaker",
            "Burkhardt, F., Paeschke, A., Rolfes, M., Sendlmeier, W. and Weiss, B. (2005). "
            "A database of German emotional speech. Proc. Interspeech, 1517-1520.",
            ("loso", "speaker_pairs"),
        ),
        Corpus(
            "crema_d",
            "CREMA-D",
            "crema_d",
            "6 classes, 5 speaker-independent folds",
            "Cao, H. et al. (2014). CREMA-D: Crowd-sourced emotional multimodal actors dataset. "
            "IEEE Transactions on Affective Computing, 5(4), 377-390.",
        ),
        Corpus(
            "tess",
            "TESS",
            "tess",
            "7 classes, leave-one-speaker-out (2 folds)",
            "Dupuis, K. and Pichora-Fuller, M. K. (2010). Toronto emotional speech set (TESS). "
            "University of Toronto, Psychology Department.",
        ),
    )
}


def load_corpus(name: str, root: str | Path, **kwargs) -> Dataset:
    """Load corpus `name` (a key of `CORPORA`) from `root`; `kwargs` go to its loader."""
    if name not in CORPORA:
        raise ValueError(f"name must be one of {sorted(CORPORA)}, got {name!r}")
    return CORPORA[name].loader(root, **kwargs)


__all__ = [
    "CORPORA",
    "CREMA_D_LABELS",
    "EMODB_LABELS",
    "IEMOCAP_LABELS",
    "MSP_IMPROV_LABELS",
    "RAVDESS_LABELS",
    "SAVEE_LABELS",
    "TESS_LABELS",
    "Corpus",
    "CorpusLayoutError",
    "label_names",
    "load_audiofolder",
    "load_corpus",
    "load_crema_d",
    "load_emodb",
    "load_iemocap",
    "load_local",
    "load_manifest",
    "load_msp_improv",
    "load_ravdess",
    "load_savee",
    "load_tess",
    "train_test_split_by_fold",
    "train_test_split_by_speakers",
]
