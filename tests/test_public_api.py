"""The public names: each package's ``if TYPE_CHECKING:`` imports are its lazy names and its
``__all__``, every listed name resolves to the object of the module it names, and ``import
eam_ser`` stays torch-free."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = [
    "eam_ser",
    "eam_ser.corpora",
    "eam_ser.experiment",
    "eam_ser.inference",
    "eam_ser.mixup",
]


def declared_imports(package: str) -> dict[str, tuple[str, str, bool]]:
    """name -> (module, attribute, public) for the relative imports of the package's
    ``if TYPE_CHECKING:`` block, read here independently of `eam_ser._lazy`."""
    path = Path(importlib.import_module(package).__file__)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for block in tree.body:
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING":
            for node in block.body:
                if isinstance(node, ast.ImportFrom) and node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*parent, node.module])
                    for alias in node.names:
                        name = alias.asname or alias.name
                        found[name] = (module, alias.name, alias.asname == alias.name)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_the_public_type_checking_imports_and_dir_lists_every_name(package):
    module = importlib.import_module(package)
    declared = declared_imports(package)
    assert declared, package
    assert module.__all__ == sorted(name for name, (_, _, public) in declared.items() if public)
    assert set(declared) <= set(dir(module))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_declared_name_resolves_to_its_module_object(package):
    module = importlib.import_module(package)
    for name, (home, attribute, _) in declared_imports(package).items():
        assert getattr(module, name) is getattr(importlib.import_module(home), attribute), name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nothing'"):
        module.nothing  # noqa: B018


def test_the_entry_points_are_public_at_the_top():
    import eam_ser
    from eam_ser.data.collator import AudioCollator
    from eam_ser.experiment.crossval import run_cross_validation
    from eam_ser.inference.export import export_onnx
    from eam_ser.inference.pipeline import SpeechEmotionRecognitionPipeline
    from eam_ser.inference.recognizer import EmotionRecognizer

    assert eam_ser.AudioCollator is AudioCollator
    assert eam_ser.EmotionRecognizer is EmotionRecognizer
    assert eam_ser.run_cross_validation is run_cross_validation
    assert eam_ser.export_onnx is export_onnx
    assert eam_ser.SpeechEmotionRecognitionPipeline is SpeechEmotionRecognitionPipeline
    for name in ("AudioCollator", "EmotionRecognizer", "evaluate_model", "export_onnx"):
        assert name in eam_ser.__all__
    namespace: dict = {}
    exec("from eam_ser import *", namespace)
    assert set(eam_ser.__all__) <= set(namespace)


def test_import_eam_ser_loads_no_heavy_library_nor_the_table():
    probe = (
        "import sys, eam_ser, eam_ser.inference, eam_ser.experiment, eam_ser.mixup\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'ast') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr
