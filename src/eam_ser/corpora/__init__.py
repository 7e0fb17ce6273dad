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

from datasets import Dataset

from eam_ser.corpora.base import (
    CorpusLayoutError,
    label_names,
    train_test_split_by_fold,
    train_test_split_by_speakers,
)
from eam_ser.corpora.crema_d import CREMA_D_LABELS, load_crema_d
from eam_ser.corpora.emodb import EMODB_LABELS, load_emodb
from eam_ser.corpora.iemocap import IEMOCAP_LABELS, load_iemocap
from eam_ser.corpora.manifest import load_audiofolder, load_local, load_manifest
from eam_ser.corpora.msp_improv import MSP_IMPROV_LABELS, load_msp_improv
from eam_ser.corpora.ravdess import RAVDESS_LABELS, load_ravdess
from eam_ser.corpora.savee import SAVEE_LABELS, load_savee
from eam_ser.corpora.tess import TESS_LABELS, load_tess


@dataclass(frozen=True)
class Corpus:
    """What the library knows about one corpus: how to load it and how to cite it.

    `protocols` lists the values the loader's ``protocol`` argument takes (the first is the
    default); an empty tuple means the loader has a single fixed protocol.
    """

    name: str
    title: str
    loader: Callable[..., Dataset]
    labels: tuple[str, ...]
    protocol: str
    citation: str
    protocols: tuple[str, ...] = ()


CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in (
        Corpus(
            "iemocap",
            "IEMOCAP",
            load_iemocap,
            tuple(IEMOCAP_LABELS),
            "4 classes (excited merged into happy), 5-fold leave-one-session-out",
            "Busso, C. et al. (2008). IEMOCAP: Interactive emotional dyadic motion capture "
            "database. Language Resources and Evaluation, 42(4), 335-359.",
        ),
        Corpus(
            "msp_improv",
            "MSP-IMPROV",
            load_msp_improv,
            tuple(MSP_IMPROV_LABELS),
            "4 classes, 6-fold leave-one-session-out",
            "Busso, C. et al. (2017). MSP-IMPROV: An acted corpus of dyadic interactions to "
            "study emotion perception. IEEE Transactions on Affective Computing, 8(1), 67-80.",
        ),
        Corpus(
            "ravdess",
            "RAVDESS (speech)",
            load_ravdess,
            tuple(RAVDESS_LABELS),
            "8 classes, 6 folds of 4 actors (speaker-independent)",
            "Livingstone, S. R. and Russo, F. A. (2018). The Ryerson Audio-Visual Database of "
            "Emotional Speech and Song (RAVDESS). PLoS ONE, 13(5), e0196391.",
        ),
        Corpus(
            "savee",
            "SAVEE",
            load_savee,
            tuple(SAVEE_LABELS),
            "7 classes, leave-one-speaker-out (4 folds)",
            "Haq, S. and Jackson, P. J. B. (2009). Speaker-dependent audio-visual emotion "
            "recognition. Proc. AVSP, 53-58.",
        ),
        Corpus(
            "emodb",
            "EmoDB (Berlin Database of Emotional Speech)",
            load_emodb,
            tuple(EMODB_LABELS),
            "7 classes, leave-one-speaker-out (10 folds) or 5 folds of one female + one male speaker",
            "Burkhardt, F., Paeschke, A., Rolfes, M., Sendlmeier, W. and Weiss, B. (2005). "
            "A database of German emotional speech. Proc. Interspeech, 1517-1520.",
            ("loso", "speaker_pairs"),
        ),
        Corpus(
            "crema_d",
            "CREMA-D",
            load_crema_d,
            tuple(CREMA_D_LABELS),
            "6 classes, 5 speaker-independent folds",
            "Cao, H. et al. (2014). CREMA-D: Crowd-sourced emotional multimodal actors dataset. "
            "IEEE Transactions on Affective Computing, 5(4), 377-390.",
        ),
        Corpus(
            "tess",
            "TESS",
            load_tess,
            tuple(TESS_LABELS),
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
