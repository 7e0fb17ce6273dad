"""The checks every public entry point of eam-ser runs on a value where it comes in.

One rule per kind of value, so that ``num_labels=True``, ``seed=1.5``, ``p=nan`` or
``batch_size=-1`` are refused alike wherever they are passed, each with a message naming the
argument, the value and what is accepted: bools are not numbers, integers are not floats
(``2.0`` is refused where an integer is expected, as Python's ``range`` does), numbers are
finite, seeds are what `numpy.random.default_rng` takes as an integer. Torch-free (numpy only),
and part of the files a saved model folder carries, so a reloaded `FlamConfig` checks alike.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["check_flag", "check_integer", "check_real", "check_seed", "describe"]


def describe(value: Any) -> str:
    """``repr(value)`` and its type where the repr hides it (``True (bool)``, ``2.0 (float)``),
    shortened to 80 characters."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    kind = type(value).__name__
    return shown if shown.startswith(f"{kind}(") else f"{shown} ({kind})"


def _range_text(
    minimum: float | None, maximum: float | None, above: float | None, below: float | None
) -> str:
    """``"in (0, 1]"``, ``">= 1"``, ``"< 5"``...: the bounds as a person writes them."""
    lower = f"[{minimum:g}" if minimum is not None else f"({above:g}" if above is not None else ""
    upper = f"{maximum:g}]" if maximum is not None else f"{below:g})" if below is not None else ""
    if lower and upper:
        return f"in {lower}, {upper}"
    if lower:
        return f"{'>=' if lower[0] == '[' else '>'} {lower[1:]}"
    if upper:
        return f"{'<=' if upper[-1] == ']' else '<'} {upper[:-1]}"
    return ""


def _in_range(
    value: float,
    minimum: float | None,
    maximum: float | None,
    above: float | None,
    below: float | None,
) -> bool:
    return (
        (minimum is None or value >= minimum)
        and (maximum is None or value <= maximum)
        and (above is None or value > above)
        and (below is None or value < below)
    )


def check_integer(
    value: Any,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """`value` as a Python int, or ValueError naming `name`.

    Accepted: ``int`` and numpy integers (not ``bool``, not floats, not strings), within
    [`minimum`, `maximum`]; None when `allow_none`.
    """
    if value is None and allow_none:
        return None
    limits = _range_text(minimum, maximum, None, None)
    wanted = f"an integer{' ' + limits if limits else ''}{' (or None)' if allow_none else ''}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {wanted}, got {describe(value)}")
    if not _in_range(int(value), minimum, maximum, None, None):
        raise ValueError(f"{name} must be {wanted}, got {int(value)}")
    return int(value)


def check_real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    allow_none: bool = False,
    unit: str = "",
) -> float | None:
    """`value` as a finite Python float, or ValueError naming `name`.

    Accepted: ints, floats and numpy reals (not ``bool``, not strings, not complex), finite,
    within the bounds given (`minimum` / `maximum` inclusive, `above` / `below` exclusive);
    None when `allow_none`. `unit` (``"s"``, ``"dB"``) is named in the message.
    """
    if value is None and allow_none:
        return None
    limits = _range_text(minimum, maximum, above, below)
    wanted = (
        f"a finite number{' (' + unit + ')' if unit else ''}{' ' + limits if limits else ''}"
        f"{' (or None)' if allow_none else ''}"
    )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {wanted}, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number) or not _in_range(number, minimum, maximum, above, below):
        raise ValueError(f"{name} must be {wanted}, got {number}")
    return number


def check_flag(value: Any, name: str) -> bool:
    """`value` as a bool, or ValueError naming `name`: only ``True`` / ``False`` (and numpy's),
    not ``1``, ``"yes"`` or None."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def check_seed(value: Any, name: str = "seed", *, allow_none: bool = True) -> int | None:
    """A seed as a non-negative Python int (None kept when `allow_none`: fresh entropy), or
    ValueError naming `name`.

    eam-ser derives one stream per process and worker from an integer seed and saves it with
    the run, so a `numpy.random.Generator`, a `~numpy.random.SeedSequence` or a list is refused
    with the way to turn it into an integer.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        raise ValueError(
            f"{name} must be a non-negative integer{' or None' if allow_none else ''}, got a "
            f"{type(value).__name__}: pass an integer drawn from it, e.g. "
            f"{name}=int(np.random.default_rng(...).integers(2**63))"
        )
    return check_integer(value, name, minimum=0, allow_none=allow_none)
