"""The route of one training run through the package, as a reader follows it.

Runs ``eam-ser train`` for one step on the bundled example data (``examples/data``, the small
encoder trained from scratch) under a profiler hook until the first loss term is computed
(``kl_divergence_loss``). A reader follows the code depth first and reads each function once, so
the hook records the first call of every ``eam_ser`` function: the caller's module, then the
callee's. Consecutive entries in one module collapse into one visit; the route is the list of
modules a reader opens, in order, from the command to the loss, and a *return* is a visit to a
module the route had already left.

    python benchmarks/route.py            # the route and its counts as JSON on stdout

Code run while a module is imported, the package's lazy ``eam_ser/__init__.py`` lookups and
generated code (dataclass ``__init__``) are not steps of the run and are left out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIRST_LOSS_TERM = "kl_divergence_loss"


class _LossReached(Exception):
    """Raised from the profiler hook to stop the run at the first loss term."""


def _module(frame: FrameType | None) -> str | None:
    """The ``eam_ser`` module that runs `frame`, or None outside the package."""
    if frame is None:
        return None
    name = frame.f_globals.get("__name__", "")
    if name.startswith("eam_ser.") and not frame.f_code.co_name.startswith("<"):
        return name
    return None


def _importing(frame: FrameType | None, root: FrameType) -> bool:
    """Whether `frame` runs inside a module's import (a ``<module>`` frame between it and
    `root`, the frame that started the run)."""
    while frame is not None and frame is not root:
        if frame.f_code.co_name == "<module>":
            return True
        frame = frame.f_back
    return False


def trace_route(arguments: list[str]) -> list[str]:
    """Modules visited by ``eam_ser.cli.main(arguments)`` until the first loss term."""
    from eam_ser.cli import main

    route: list[str] = []
    read: set[Any] = set()
    root = sys._getframe()

    def visit(module: str) -> None:
        if not route or route[-1] != module:
            route.append(module)

    def hook(frame: FrameType, event: str, _: Any) -> None:
        if event != "call":
            return
        callee = _module(frame)
        if callee is None or frame.f_code in read or _importing(frame, root):
            return
        read.add(frame.f_code)
        caller = _module(frame.f_back)
        if caller is not None:
            visit(caller)
        visit(callee)
        if frame.f_code.co_name == FIRST_LOSS_TERM:
            raise _LossReached

    sys.setprofile(hook)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            main(arguments)
    except _LossReached:
        pass
    finally:
        sys.setprofile(None)
    return route


def returns_of(route: list[str]) -> int:
    """Visits to a place the route had already left."""
    seen: set[str] = set()
    returns = 0
    for place in route:
        returns += place in seen
        seen.add(place)
    return returns


def layer_route(route: list[str]) -> list[str]:
    """The route by layer (``eam_ser.<layer>``, the package's folders; ``root`` for the
    package's own modules), consecutive visits to one layer collapsed."""
    layers: list[str] = []
    for module in route:
        parts = module.split(".")
        if len(parts) < 2:  # not a module of the package: its own name
            layer = module
        else:
            layer = parts[1] if len(parts) > 2 or parts[1] in ("cli", "corpora") else "root"
        if not layers or layers[-1] != layer:
            layers.append(layer)
    return layers


def summarize(route: list[str]) -> dict[str, Any]:
    """Visits per module and the number of returns (visits to a module already left), and the
    same by layer."""
    layers = layer_route(route)
    return {
        "route": route,
        "visits": len(route),
        "modules": len(set(route)),
        "returns": returns_of(route),
        "layer_visits": len(layers),
        "layer_returns": returns_of(layers),
        "visits_per_module": dict(Counter(route).most_common()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    with tempfile.TemporaryDirectory() as output:
        route = trace_route(
            [
                "train",
                "--corpus",
                "emodb",
                "--root",
                str(ROOT / "examples" / "data"),
                "--test-speakers",
                "13",
                "--max-steps",
                "1",
                "--output-dir",
                str(Path(output) / "run"),
            ]
        )
    print(json.dumps(summarize(route), indent=1))


if __name__ == "__main__":
    main()
