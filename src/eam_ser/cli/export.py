"""``eam-ser export``: write a saved model as ONNX, checked against PyTorch."""

from __future__ import annotations

import argparse
from typing import Any

from eam_ser.cli.output import add_output_argument

__all__ = ["add_parser", "command_export"]


def add_parser(commands: Any) -> None:
    """The ``export`` subcommand."""
    export = commands.add_parser(
        "export",
        help="write the model as ONNX (dynamic batch and length), checked against PyTorch",
    )
    export.add_argument("model", help="saved model folder or Hub id")
    add_output_argument(
        export, "output", kind="folder", help="folder for model.onnx, config and extractor"
    )
    export.add_argument("--format", choices=("onnx",), default="onnx")


def command_export(args: argparse.Namespace) -> int:
    from eam_ser.inference.export import export_onnx

    check = export_onnx(args.model, args.output)
    weights = args.output / "model.onnx.data"
    print(
        f"wrote {args.output / 'model.onnx'}"
        + (f" and its weights {weights.name}" if weights.is_file() else "")
        + f": logits within {check['max_abs_difference']:.1e} of PyTorch on "
        f"{check['batch_size']} clips of {check['lengths_s']} s; ship the whole folder"
    )
    return 0
