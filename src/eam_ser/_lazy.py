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
import sys
from collections.abc import Callable
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
    package: str, init_file: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for `package`, whose ``__init__.py`` is `init_file`: the
    names of its ``if TYPE_CHECKING:`` block (see the module docstring) are imported from their
    module when first read and kept on the package; ``__all__`` is its public names, sorted."""
    table: dict[str, Export] = {}

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
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports(), "__all__"})

    return __getattr__, __dir__
