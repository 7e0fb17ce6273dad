"""Griffe extension: a dataclass field without a docstring is documented by its
``metadata["help"]``, the one place eam-ser writes a setting's meaning (the CLI and
``HfArgumentParser`` read the same text), so the API reference does not repeat it.

Used by ``mkdocs.yml`` (``extensions: [docs/scripts/griffe_field_help.py:FieldHelp]``).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import griffe


class FieldHelp(griffe.Extension):
    """Set each documented dataclass field's docstring from its ``metadata["help"]``."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        try:
            runtime = getattr(importlib.import_module(cls.module.path), cls.name)
        except (ImportError, AttributeError):
            return
        if not dataclasses.is_dataclass(runtime):
            return
        for field in dataclasses.fields(runtime):
            help_text = field.metadata.get("help")
            member = cls.members.get(field.name)
            if help_text and member is not None and member.is_attribute and not member.docstring:
                member.docstring = griffe.Docstring(help_text, parent=member)
