"""The package's layers, read from its source: every module imports only from its own layer or
the ones below, and no two modules import each other, directly or around a loop."""

from __future__ import annotations

import ast
from pathlib import Path

import eam_ser

PACKAGE = Path(eam_ser.__file__).parent

# Bottom to top: the data flow of one run, settings first, the command last.
LAYERS = {
    "foundation": [
        "eam_ser",
        "eam_ser._lazy",
        "eam_ser.settings_field",
        "eam_ser.featurize",
        "eam_ser.loss_settings",
        "eam_ser.mixup.settings",
        "eam_ser.mixup.streams",
        "eam_ser.corpora*",
        "eam_ser.metrics",
        "eam_ser.report",
        "eam_ser.checkpoints",
        "eam_ser.plots",
        "eam_ser.inference.segmentation",
    ],
    "data": [
        "eam_ser.kernels",
        "eam_ser.audio",
        "eam_ser.collator",
        "eam_ser.datacheck",
        "eam_ser.mixup",
        "eam_ser.mixup.*",
    ],
    "model": [
        "eam_ser.configuration_flam",
        "eam_ser.encoders",
        "eam_ser.frame_attention",
        "eam_ser.losses",
        "eam_ser.class_balance",
        "eam_ser.modeling_flam",
        "eam_ser.training_args",
        "eam_ser.trainer",
        "eam_ser.feature_cache",
    ],
    "inference": ["eam_ser.inference", "eam_ser.inference.*", "eam_ser.evaluate_metrics*"],
    "hub": ["eam_ser.hub"],
    "experiment": ["eam_ser.experiment", "eam_ser.experiment.*"],
    "command": ["eam_ser.cli", "eam_ser.cli.*", "eam_ser.__main__"],
}
# The 0.3 module paths, kept for one minor release: they only re-export (and warn).
DEPRECATED = {
    "eam_ser.crossval",
    "eam_ser.modelcard",
    "eam_ser.export",
    "eam_ser.segmentation",
    "eam_ser.pipeline",
    "eam_ser.mix_kernel",
    "eam_ser.mixing_baselines",
    "eam_ser.mixup_settings",
}


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


def layer_of(module: str) -> int:
    for rank, patterns in enumerate(LAYERS.values()):
        for pattern in patterns:
            if module == pattern or (
                pattern.endswith("*") and module.startswith(pattern.rstrip("*"))
            ):
                return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) for name, path in paths.items()}


def test_every_module_imports_only_downwards():
    graph = import_graph()
    upward = [
        f"{module} ({list(LAYERS)[layer_of(module)]}) imports {imported} "
        f"({list(LAYERS)[layer_of(imported)]})"
        for module, imported_modules in graph.items()
        if module not in DEPRECATED
        for imported in imported_modules
        if imported in DEPRECATED or layer_of(imported) > layer_of(module)
    ]
    assert upward == []


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
    assert "eam_ser.encoders" in graph["eam_ser.modeling_flam"]  # from . import encoders
    assert "eam_ser.mixup.settings" in graph["eam_ser.experiment.config"]
    assert layer_of("eam_ser.cli.train") > layer_of("eam_ser.experiment.crossval")
