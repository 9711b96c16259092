"""AnalogNAS-Bench results, keyed by NAS-Bench-201 cell string.

AnalogNAS-Bench (PyPI ``analog-nasbench``) ships ``analognasbench/data.anb``, a
pickle mapping a 6-tuple of op ids to an ``Architecture`` object holding digital,
quantised, noisy, analog and conductance-drift accuracies on CIFAR-10 for every
NAS-Bench-201 cell. nasforge reads the file with the restricted unpickler and two
stand-in classes, never importing ``analognasbench`` (it needs pandas and
``pkg_resources``).

The tuple layout (which edge each position is, which op each id is) is a fact of
the NB201 space: :data:`nasforge.spaces.nb201.ANALOG_TUPLE_EDGES` and
:data:`~nasforge.spaces.nb201.ANALOG_OP_IDS`, with the conversions
:func:`~nasforge.spaces.nb201.tuple_to_nb201` and
:func:`~nasforge.spaces.nb201.nb201_to_tuple`; this module only loads the data.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path
from typing import Any

from nasforge.benchmarks._files import package_file
from nasforge.safe_pickle import load_pickle
from nasforge.spaces.nb201 import NB201Space, tuple_to_nb201

__all__ = [
    "ANALOG_ACCURACY_METRICS",
    "ANALOG_DRIFT_METRICS",
    "ANALOG_METRICS",
    "ANALOG_STD_METRICS",
    "ANALOG_NUM_CELLS",
    "analog_data_path",
    "load_analog",
]

ANALOG_PACKAGE = "analognasbench"
ANALOG_FILE = "data.anb"
ANALOG_NUM_CELLS = len(NB201Space())  # every NAS-Bench-201 cell (15,625)

#: Accuracy metrics (%), stored as plain floats.
ANALOG_ACCURACY_METRICS: tuple[str, ...] = (
    "baseline_accuracy",
    "ptq_accuracy",
    "qat_accuracy",
    "noisy_accuracy",
    "analog_accuracy",
)
_DRIFT_SECONDS = (60, 3600, 86400, 2592000)
#: Accuracy (%) after conductance drift for 60 s, 1 h, 1 day and 30 days.
ANALOG_DRIFT_METRICS: tuple[str, ...] = tuple(
    f"{kind}_drift_{secs}" for kind in ("baseline", "analog") for secs in _DRIFT_SECONDS
)
#: The main metrics of every record (drift metrics as their mean ``value``).
ANALOG_METRICS: tuple[str, ...] = ANALOG_ACCURACY_METRICS + ANALOG_DRIFT_METRICS
#: Uncertainty of each drift metric, ``<drift metric>_std``; also in every record.
ANALOG_STD_METRICS: tuple[str, ...] = tuple(f"{name}_std" for name in ANALOG_DRIFT_METRICS)


class _ArchitectureStandIn:
    """Stand-in for ``analognasbench.data.Architecture``: keeps the pickled attributes."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"unexpected Architecture state of type {type(state).__name__}")
        self.__dict__.update(state)


class _DriftStandIn:
    """Stand-in for ``analognasbench.data.DriftMeasurement`` (``value``, ``uncertainty``)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"unexpected DriftMeasurement state of type {type(state).__name__}")
        self.__dict__.update(state)


_ALLOWED = {
    ("analognasbench.data", "Architecture"): _ArchitectureStandIn,
    ("analognasbench.data", "DriftMeasurement"): _DriftStandIn,
}


def analog_data_path() -> Path:
    """Path of ``data.anb`` inside the installed ``analog-nasbench`` package."""
    return package_file(ANALOG_PACKAGE, ANALOG_FILE)


def load_analog(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, float]]:
    """All AnalogNAS-Bench records keyed by NB201 cell string (cached per file).

    Each record maps every name in :data:`ANALOG_METRICS` and :data:`ANALOG_STD_METRICS`
    to a float. The returned dict is shared between calls: do not mutate it.
    """
    resolved = Path(path) if path is not None else analog_data_path()
    return _load_cached(str(resolved.resolve()))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> dict[str, dict[str, float]]:
    raw = load_pickle(path, _ALLOWED)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of architectures, got {type(raw).__name__}")
    out: dict[str, dict[str, float]] = {}
    for key, rec in raw.items():
        try:
            cell = tuple_to_nb201(key)
        except ValueError as exc:
            raise ValueError(f"{path}: bad key: {exc}") from None
        arch = getattr(rec, "architecture", key)
        if tuple(arch) != tuple(key):
            raise ValueError(f"{path}: record under key {key!r} says architecture {arch!r}")
        if cell in out:
            raise ValueError(f"{path}: two records for cell {cell}")
        out[cell] = _record(rec, key, path)
    if len(out) != ANALOG_NUM_CELLS:
        warnings.warn(
            f"{path} holds {len(out)} cells, expected all {ANALOG_NUM_CELLS} NAS-Bench-201 cells",
            stacklevel=3,
        )
    return out


def _record(rec: Any, key: Any, path: str) -> dict[str, float]:
    """Flatten one pickled Architecture into ``{metric: float}``."""
    out: dict[str, float] = {}
    for name in ANALOG_ACCURACY_METRICS:
        out[name] = _number(getattr(rec, name, None), name, key, path)
    for name in ANALOG_DRIFT_METRICS:
        drift = getattr(rec, name, None)
        if isinstance(drift, _DriftStandIn):
            value, std = getattr(drift, "value", None), getattr(drift, "uncertainty", None)
        else:  # a bare number: no uncertainty recorded
            value, std = drift, 0.0
        out[name] = _number(value, name, key, path)
        out[f"{name}_std"] = _number(std, f"{name}_std", key, path)
    return out


def _number(x: Any, name: str, key: Any, path: str) -> float:
    """``x`` as a finite float, else a ValueError naming the record and metric."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: architecture {key!r} has non-numeric {name} = {x!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{path}: architecture {key!r} has non-finite {name} = {x!r}")
    return v
