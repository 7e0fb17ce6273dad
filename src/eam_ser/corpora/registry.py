"""The corpus registry: `CORPORA` (loader, labels, protocols and citation of each corpus) and
`load_corpus`. Torch- and datasets-free until a loader is used, so the ``eam-ser`` command reads
it to parse its flags."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["CORPORA", "Corpus", "load_corpus"]


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

    def _module(self) -> ModuleType:
        return importlib.import_module(f"eam_ser.corpora.{self.module}")

    @property
    def loader(self) -> Callable[..., Dataset]:
        """The loader function (imports its module)."""
        return getattr(self._module(), f"load_{self.module}")

    @property
    def labels(self) -> tuple[str, ...]:
        """The ordered label names."""
        return tuple(getattr(self._module(), f"{self.module.upper()}_LABELS"))


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
            "urdu",
            "URDU (Urdu talk-show speech)",
            "urdu",
            "4 classes, 5 speaker-independent folds balanced by utterances",
            "Latif, S., Qayyum, A., Usman, M. and Qadir, J. (2018). Cross lingual speech emotion "
            "recognition: Urdu vs. Western languages. Proc. FIT, 88-93. arXiv:1812.10411.",
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
