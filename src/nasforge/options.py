"""The one set of option validators every plug-in uses.

Constructors store their keyword arguments unchanged and check them with
these functions, so every bad value gets the same kind of message:
``population_size must be an integer >= 1, got 0``. Each raises
:class:`~nasforge.errors.ConfigError` (a ``ValueError``) and returns the value
converted to a plain Python type.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from nasforge.errors import ConfigError

_NUMBER_TYPES: tuple[type, ...]
try:
    import numpy as _np

    _INT_TYPES: tuple[type, ...] = (int, _np.integer)
    _NUMBER_TYPES = (int, float, _np.integer, _np.floating)
except ImportError:  # pragma: no cover - numpy is a core dependency
    _INT_TYPES = (int,)
    _NUMBER_TYPES = (int, float)


def _prefix(who: str | None, name: str) -> str:
    return f"{who}: {name}" if who else name


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None,
              who: str | None = None) -> int:
    """An integer (not a bool) within ``[minimum, maximum]``."""
    ok = not isinstance(value, bool) and isinstance(value, _INT_TYPES)
    if ok and ((minimum is not None and value < minimum) or (maximum is not None and value > maximum)):
        ok = False
    if not ok:
        if minimum is not None and maximum is not None:
            bound = f" in [{minimum}, {maximum}]"
        elif minimum is not None:
            bound = f" >= {minimum}"
        elif maximum is not None:
            bound = f" <= {maximum}"
        else:
            bound = ""
        raise ConfigError(f"{_prefix(who, name)} must be an integer{bound}, got {value!r}")
    return int(value)


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, extra: str = "", who: str | None = None) -> float:
    """A finite number (not a bool) within the bounds; ``low_open``/``high_open`` exclude a bound."""
    ok = not isinstance(value, bool) and isinstance(value, _NUMBER_TYPES) and math.isfinite(float(value))
    if ok:
        v = float(value)
        if low is not None and (v <= low if low_open else v < low):
            ok = False
        if high is not None and (v >= high if high_open else v > high):
            ok = False
    if not ok:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        bound = (" " + " and ".join(parts)) if parts else ""
        raise ConfigError(f"{_prefix(who, name)} must be a number{bound}{extra}, got {value!r}")
    return float(value)


def check_probability(name: str, value: Any, who: str | None = None) -> float:
    """A number in ``[0, 1]``."""
    try:
        return check_number(name, value, 0.0, 1.0, who=who)
    except ConfigError:
        raise ConfigError(f"{_prefix(who, name)} must be a number in [0, 1], got {value!r}") from None


def check_choice(name: str, value: Any, accepted: Iterable[Any], who: str | None = None) -> Any:
    """One of ``accepted``: ``unknown protocol 'x'; accepted: nb201, oracle``."""
    accepted = tuple(accepted)
    if value not in accepted:
        raise ConfigError(f"unknown {_prefix(who, name)} {value!r}; accepted: {', '.join(map(str, accepted))}")
    return value


def check_bool(name: str, value: Any, who: str | None = None) -> bool:
    """``True`` or ``False`` (numpy booleans too; not 0, 1 or strings): ``early_stop must be True or False,
    got 'no'``."""
    if not isinstance(value, (bool, _np.bool_)):
        raise ConfigError(f"{_prefix(who, name)} must be True or False, got {value!r}")
    return bool(value)


def check_budget(name: str, value: Any, integer: bool = False) -> Any:
    """A positive budget (``n_trials``, seconds) or None."""
    if value is None:
        return None
    bad = isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES) or not math.isfinite(value) or value <= 0
    if integer and not bad and int(value) != value:
        bad = True
    if bad:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{name} must be {kind}, got {value!r}")
    return value


__all__ = ["check_int", "check_number", "check_probability", "check_choice", "check_bool", "check_budget"]
