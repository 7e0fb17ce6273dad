"""Lazy package attributes (PEP 562), declared once, as imports.

A package's ``__init__.py`` lists its names in an ``if TYPE_CHECKING:`` block of relative
imports, which type checkers, IDEs and documentation tools read as the real imports they are::

    if TYPE_CHECKING:
        from .audio import load_audio as load_audio
        from .collator import parse_label  # noqa: F401  (reachable, not public)

and ends with ``__getattr__, __dir__ = lazy_exports(__name__, __file__)``. At run time the
block is skipped; this module reads it from the source with `ast` on the first attribute
lookup it serves (so ``import eam_ser`` and the ``eam-ser`` command load neither torch nor
this table) and imports a name's module when the name is first read.

A name imported with a redundant alias (``Name as Name``, the explicit re-export of PEP 484
stubs, pyright and ``mypy --strict``) is public: it is in the package's ``__all__``, which
`lazy_exports` serves too. A plain import is reachable but unlisted (the 0.3.0 names a package
kept for compatibility). Absolute imports in the block (``from datasets import Dataset``) are
only for annotations and are not exported.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple


class Export(NamedTuple):
    """One lazy name: the module defining it, its name there, and whether it is public."""

    module: str
    attribute: str
    public: bool


def type_checking_exports(package: str, init_file: str) -> dict[str, Export]:
    """The names the relative imports in the top-level ``if TYPE_CHECKING:`` blocks of
    `init_file` (the ``__init__.py`` of `package`) bind, in source order."""
    import ast

    with open(init_file, encoding="utf-8") as source:
        tree = ast.parse(source.read(), init_file)
    exports: dict[str, Export] = {}
    for block in tree.body:
        if not (
            isinstance(block, ast.If)
            and isinstance(block.test, ast.Name)
            and block.test.id == "TYPE_CHECKING"
        ):
            continue
        for node in block.body:
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                name = alias.asname or alias.name
                exports[name] = Export(module, alias.name, alias.asname == alias.name)
    return exports


def lazy_exports(
    package: str, init_file: str, moved: Mapping[str, str] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for `package`, whose ``__init__.py`` is `init_file`: the
    names of its ``if TYPE_CHECKING:`` block (see the module docstring) are imported from their
    module when first read and kept on the package; ``__all__`` is its public names, sorted.
    `moved` maps names that left the package to their new module: still served, with a
    DeprecationWarning (one minor release)."""
    table: dict[str, Export] = {}
    moved = dict(moved or {})

    def exports() -> dict[str, Export]:
        if not table:
            table.update(type_checking_exports(package, init_file))
        return table

    def __getattr__(name: str) -> Any:
        if name == "__all__":
            value: Any = sorted(name for name, export in exports().items() if export.public)
        elif name in exports():
            export = exports()[name]
            value = getattr(importlib.import_module(export.module), export.attribute)
        elif name in moved:
            warnings.warn(
                f"{package}.{name} moved to {moved[name]}.{name} in 0.5; the old name goes in 0.6",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(importlib.import_module(moved[name]), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports(), "__all__"})

    return __getattr__, __dir__


MOVED_MODULES: dict[str, tuple[str, ...]] = {
    "eam_ser.audio": ("eam_ser.data.audio",),
    "eam_ser.collator": ("eam_ser.data.collator",),
    "eam_ser.kernels": ("eam_ser.data.kernels",),
    "eam_ser.datacheck": ("eam_ser.data.check",),
    "eam_ser.configuration_flam": ("eam_ser.models.flam.configuration_flam",),
    "eam_ser.modeling_flam": ("eam_ser.models.flam.modeling_flam",),
    "eam_ser.encoders": ("eam_ser.models.flam.encoders", "eam_ser.models.flam.configuration_flam"),
    "eam_ser.featurize": ("eam_ser.models.flam.featurize",),
    "eam_ser.frame_attention": ("eam_ser.models.flam.frame_attention",),
    "eam_ser.losses": ("eam_ser.models.flam.losses",),
    "eam_ser.loss_settings": ("eam_ser.models.flam.loss_settings",),
    "eam_ser.settings_field": ("eam_ser.models.flam.settings_field",),
    "eam_ser.metrics": ("eam_ser.evaluation.metrics", "eam_ser.evaluation.plots"),
    "eam_ser.report": (
        "eam_ser.evaluation.report",
        "eam_ser.evaluation.calibration",
        "eam_ser.evaluation.metrics",
    ),
    "eam_ser.plots": ("eam_ser.evaluation.plots",),
    "eam_ser.trainer": ("eam_ser.training.trainer", "eam_ser.data.collator"),
    "eam_ser.training_args": ("eam_ser.training.arguments",),
    "eam_ser.checkpoints": ("eam_ser.training.checkpoints",),
    "eam_ser.class_balance": ("eam_ser.training.class_balance",),
    "eam_ser.feature_cache": ("eam_ser.training.feature_cache",),
}
"""The 0.4 module paths that 0.5 moved into the layer folders, each with the modules that now
hold its names (in the order they are searched). They still import, as a stand-in module that
serves those names, with a DeprecationWarning; they go in 0.6."""


class MovedModule(types.ModuleType):
    """The stand-in for a moved module path: every name is read from its new homes."""

    def __init__(self, name: str, homes: Sequence[str]) -> None:
        super().__init__(name, f"Moved in 0.5 to {', '.join(homes)}; this path goes in 0.6.")
        self.__homes = tuple(homes)

    def __getattr__(self, name: str) -> Any:
        if name == "__all__":  # `from <old path> import *` imports what the homes export
            return sorted(
                {
                    n
                    for home in self.__homes
                    for n in getattr(importlib.import_module(home), "__all__", ())
                }
            )
        if name.startswith("__"):
            raise AttributeError(name)
        for home in self.__homes:
            module = importlib.import_module(home)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(
            f"module {self.__name__!r} (moved to {', '.join(self.__homes)}) has no attribute "
            f"{name!r}"
        )

    def __dir__(self) -> list[str]:
        return sorted(
            {name for home in self.__homes for name in dir(importlib.import_module(home))}
        )


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the `MOVED_MODULES` paths (after the normal finders found no file there)."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> MovedModule:
        homes = MOVED_MODULES[spec.name]
        warnings.warn(
            f"{spec.name} moved to {homes[0]} in 0.5 (import it from there); the old path goes "
            "in 0.6",
            DeprecationWarning,
            stacklevel=2,
        )
        return MovedModule(spec.name, homes)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the stand-in reads its names from the new modules."""


def install_moved_module_finder() -> None:
    """Let the `MOVED_MODULES` paths import (once per interpreter)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
