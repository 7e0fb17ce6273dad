"""The package's layers, read from its source: each folder is a layer whose ``__init__``
docstring says which layers it may import; every module imports only from its own layer or
those, and no two modules import each other, directly or around a loop."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import eam_ser

PACKAGE = Path(eam_ser.__file__).parent
ROOT_MODULES = {"eam_ser", "eam_ser._lazy", "eam_ser.__main__"}
"""The package root: the public face (lazy names), the lazy-name machinery and ``python -m``."""
MOST_ROOT_MODULES = 8
MAY_IMPORT = re.compile(r"May import:(.*?)(?:\.\s|\.$)", re.DOTALL)


def layers() -> dict[str, set[str]]:
    """Each folder of the package (a layer) and the layers its ``__init__`` docstring says it
    may import (its "May import:" sentence, `eam_ser.<layer>` names), read from the source."""
    found = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        match = MAY_IMPORT.search(docstring)
        assert match, f"{init}: the docstring says no 'May import: ...' sentence"
        found[init.parent.name] = set(re.findall(r"eam_ser\.(\w+)", match.group(1)))
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def facade_of(tree: ast.Module, path: Path) -> set[ast.AST]:
    """The relative imports in the ``if TYPE_CHECKING:`` block of a package's ``__init__.py``:
    the names `eam_ser._lazy` imports on first use, never at the package's own import (a package
    may name what its submodules, above it, define; it does not depend on them)."""
    if path.name != "__init__.py":
        return set()
    return {
        node
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.level
    }


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The eam_ser modules `path` imports (at module level or inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    facade = facade_of(tree, path)
    found = set()
    for node in ast.walk(tree):
        if node in facade:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from eam_ser.mixup import core` imports the module eam_ser.mixup.core.
            submodules = {f"{source}.{alias.name}" for alias in node.names}
            found.update(submodules & modules or {source})
    return {module for module in found if module in modules and module != name}


def layer_of(module: str) -> str | None:
    """The layer (top-level folder) of `module`; None for a module of the package root."""
    parts = module.split(".")
    return None if module in ROOT_MODULES else parts[1]


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) for name, path in paths.items()}


def test_the_root_holds_the_public_face_only():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert modules == ["__init__.py", "__main__.py", "_lazy.py"]
    assert len(modules) <= MOST_ROOT_MODULES
    assert {module_name(path) for path in PACKAGE.glob("*.py")} == ROOT_MODULES


def test_the_layers_are_ordered():
    """The "May import" relation of the folders is a layering: no layer reaches, through the
    layers it may import, back to itself."""
    allowed = layers()
    assert set(allowed) == {
        "cli",
        "corpora",
        "data",
        "evaluation",
        "experiment",
        "hub",
        "inference",
        "mixup",
        "models",
        "training",
    }
    for layer, below in allowed.items():
        assert below <= set(allowed), f"{layer} names an unknown layer: {below - set(allowed)}"
        reached, frontier = set(), set(below)
        while frontier:
            reached |= frontier
            frontier = set().union(*(allowed[name] for name in frontier)) - reached
        assert layer not in reached, f"{layer} may import itself through {sorted(reached)}"


def test_every_module_imports_only_what_its_layer_may_import():
    allowed = layers()
    graph = import_graph()
    upward = [
        f"{module} ({layer_of(module)}) imports {imported} ({layer_of(imported)})"
        for module, imported_modules in graph.items()
        for imported in imported_modules
        if layer_of(module) is not None
        and layer_of(imported) is not None
        and layer_of(imported) != layer_of(module)
        and layer_of(imported) not in allowed[layer_of(module)]
    ]
    assert upward == []
    # The root imports no layer, but ``python -m eam_ser`` runs the command.
    assert {imported for module in ROOT_MODULES for imported in graph[module]} == {
        "eam_ser._lazy",
        "eam_ser.cli",
    }


def test_the_model_folder_imports_only_itself():
    """A saved folder carries `eam_ser.models.flam` as remote code: it cannot import the rest."""
    graph = import_graph()
    outside = {
        f"{module} imports {imported}"
        for module, imported_modules in graph.items()
        if module.startswith("eam_ser.models.flam.")
        for imported in imported_modules
        if not imported.startswith("eam_ser.models.flam")
    }
    assert outside == set()


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                raise AssertionError(" -> ".join([*path, module, imported]))
            if imported not in state:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert len(state) == len(graph) > 60


def test_the_scan_sees_relative_and_submodule_imports(tmp_path):
    """The scanner itself, on the two spellings it must resolve."""
    graph = import_graph()
    # from . import encoders
    assert "eam_ser.models.flam.encoders" in graph["eam_ser.models.flam.modeling_flam"]
    assert "eam_ser.mixup.settings" in graph["eam_ser.experiment.config"]
    assert "experiment" in layers()["cli"] and "cli" not in layers()["experiment"]
