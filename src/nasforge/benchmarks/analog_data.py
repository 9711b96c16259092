"""AnalogNAS-Bench results, keyed by NAS-Bench-201 cell string.

AnalogNAS-Bench (PyPI ``analog-nasbench``) ships ``analognasbench/data.anb``, a
pickle mapping a 6-tuple of op ids to an ``Architecture`` object holding digital,
quantised, noisy, analog and conductance-drift accuracies on CIFAR-10 for every
NAS-Bench-201 cell. nasforge reads the file with a restricted unpickler and two
stand-in classes, never importing ``analognasbench`` (it needs pandas and
``pkg_resources``).

The tuple layout is not documented by the package. It was verified empirically
(see :data:`TUPLE_EDGES`): of all 6! edge orders x 5! op-id assignments, one
mapping makes ``baseline_accuracy`` agree with NAS-Bench-201's 200-epoch CIFAR-10
test accuracy (``nb201.csv``) at Spearman 0.9901 (Pearson 0.9993, all 341
chance-level cells coincide); the runner-up, the same op ids on the mirrored
DAG (tuple edge (i, j) read as (3-j, 3-i)), reaches 0.9680 (Pearson 0.9939), and
the best with any other op-id assignment 0.7815.
"""

from __future__ import annotations

import functools
import math
import operator
import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

from nasforge.benchmarks._files import load_pickle, package_file

__all__ = [
    "ANALOG_ACCURACY_METRICS",
    "ANALOG_DRIFT_METRICS",
    "ANALOG_METRICS",
    "ANALOG_STD_METRICS",
    "ANALOG_NUM_CELLS",
    "NB201_EDGES",
    "NB201_OPS",
    "TUPLE_EDGES",
    "TUPLE_OPS",
    "analog_data_path",
    "load_analog",
    "nb201_to_tuple",
    "tuple_to_nb201",
]

ANALOG_PACKAGE = "analognasbench"
ANALOG_FILE = "data.anb"
ANALOG_NUM_CELLS = 5**6  # 15,625 NAS-Bench-201 cells

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

#: NAS-Bench-201 op names in the benchmark's canonical order.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (from node, to node) in the order they appear in an NB201 cell string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))

#: Edge of each position of an AnalogNAS-Bench tuple (NASLib's order).
#: Verified by exhaustive search over all 720 edge orders x 120 op-id assignments:
#: only this order with :data:`TUPLE_OPS` gives Spearman 0.9901 between
#: ``baseline_accuracy`` and nb201.csv ``cifar10_test_acc_200ep``; the runner-up
#: (the mirrored DAG, edge (i, j) read as (3-j, 3-i)) gives 0.9680, any other op
#: assignment at most 0.7815. The 341 cells whose output is cut off from the input
#: are exactly the cells at 10.0 % (chance) in both benchmarks.
TUPLE_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
#: NB201 op name of each AnalogNAS-Bench op id (index = id); verified with :data:`TUPLE_EDGES`.
TUPLE_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")

# tuple position -> index of the same edge in the NB201 string.
_POS_TO_STR: tuple[int, ...] = tuple(NB201_EDGES.index(e) for e in TUPLE_EDGES)
_OP_TO_ID: dict[str, int] = {op: i for i, op in enumerate(TUPLE_OPS)}

_OP_RE = "|".join(NB201_OPS)
_CELL_RE = re.compile(
    rf"\|({_OP_RE})~0\|\+\|({_OP_RE})~0\|({_OP_RE})~1\|\+\|({_OP_RE})~0\|({_OP_RE})~1\|({_OP_RE})~2\|"
)
_CELL_FORMAT = "'|o1~0|+|o2~0|o3~1|+|o4~0|o5~1|o6~2|'"


def tuple_to_nb201(t: Sequence[int]) -> str:
    """NB201 cell string of an AnalogNAS-Bench op-id tuple (6 ints in 0..4)."""
    ids = _check_tuple(t)
    ops = [""] * 6
    for pos, op_id in enumerate(ids):
        ops[_POS_TO_STR[pos]] = TUPLE_OPS[op_id]
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def nb201_to_tuple(s: str) -> tuple[int, ...]:
    """AnalogNAS-Bench op-id tuple of an NB201 cell string."""
    if not isinstance(s, str):
        raise ValueError(f"NB201 cell must be a string of the form {_CELL_FORMAT}, got {type(s).__name__} {s!r}")
    m = _CELL_RE.fullmatch(s)
    if m is None:
        raise ValueError(
            f"malformed NB201 cell string {s!r}: expected {_CELL_FORMAT} with each op one of "
            f"{list(NB201_OPS)}"
        )
    ops = m.groups()
    return tuple(_OP_TO_ID[ops[_POS_TO_STR[pos]]] for pos in range(6))


def _check_tuple(t: Any) -> tuple[int, ...]:
    """Validate an op-id tuple; return it as a tuple of Python ints."""
    accepted = "a sequence of 6 integer op ids in 0..4 (" + ", ".join(
        f"{i}={op}" for i, op in enumerate(TUPLE_OPS)
    ) + ")"
    if isinstance(t, (str, bytes)) or not isinstance(t, Iterable):
        raise ValueError(f"bad AnalogNAS-Bench architecture {t!r}: expected {accepted}")
    items = list(t)
    if len(items) != 6:
        raise ValueError(f"bad AnalogNAS-Bench architecture {t!r}: has {len(items)} entries; expected {accepted}")
    out: list[int] = []
    for x in items:
        if isinstance(x, bool):
            raise ValueError(f"bad AnalogNAS-Bench architecture {t!r}: entry {x!r} is a bool; expected {accepted}")
        try:
            v = operator.index(x)
        except TypeError:
            raise ValueError(
                f"bad AnalogNAS-Bench architecture {t!r}: entry {x!r} is not an integer; expected {accepted}"
            ) from None
        if not 0 <= v < len(TUPLE_OPS):
            raise ValueError(f"bad AnalogNAS-Bench architecture {t!r}: op id {v} out of range; expected {accepted}")
        out.append(v)
    return tuple(out)


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
