"""NAS-Bench-Graph: loading its tabular data and finding an architecture's record.

NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets & Benchmarks) trains every GNN of a
small macro space on nine node-classification datasets. The space's facts (operations,
link structure, the canonical form of isomorphic twins) live in
:mod:`nasforge.spaces.nbgraph`; this module holds what belongs to the data: the
datasets, the metrics of a record, which operations a dataset was evaluated with, and
how the files key their records (:func:`bench_key`).

The data files ship in the PyPI package ``nas-bench-graph``; nasforge reads them through
the restricted unpickler (numpy scalars only) and never imports that package.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from nasforge.benchmarks._files import package_file
from nasforge.safe_pickle import load_pickle, numpy_globals
from nasforge.options import check_choice
from nasforge.spaces.nbgraph import GNN_OPS, LINK_PATTERNS, OP_SETS, canonical_forms, is_canonical

__all__ = [
    "DATASETS",
    "METRICS",
    "bench_key",
    "enumerate_canonical",
    "load_nbgraph",
    "op_set_for",
    "ops_for",
    "stored_records",
]

DATASETS: tuple[str, ...] = (
    "cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins",
)
"""The nine datasets with a ``light/<name>.bench`` file."""

METRICS: dict[str, str] = {
    "valid_perf": "validation accuracy (ROC-AUC on proteins)",
    "perf": "test accuracy (ROC-AUC on proteins) at the best validation epoch",
    "latency": "seconds for one full-graph inference pass",
    "para": "number of trainable parameters, in millions",
}
"""The scalar metrics each record holds, with what they measure."""

# Keys: the link pattern's index, then each operation's index in GNN_OPS as one more digit
# in base len(GNN_OPS) + 1 (the PROTEINS file uses the same nine-operation numbering).
_KEY_BASE = len(GNN_OPS) + 1
_OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(GNN_OPS)}
_PATTERN_INDEX: dict[tuple[int, ...], int] = {p: i for i, p in enumerate(LINK_PATTERNS)}


def _check_dataset(dataset: str) -> str:
    return check_choice("NAS-Bench-Graph dataset", dataset, DATASETS)


def op_set_for(dataset: str) -> str:
    """The space ``op_set`` a dataset was evaluated with: ``proteins`` for PROTEINS, else ``full``."""
    return "proteins" if _check_dataset(dataset) == "proteins" else "full"


def ops_for(dataset: str) -> tuple[str, ...]:
    """The operation list a dataset was evaluated with (PROTEINS uses five of the nine)."""
    return OP_SETS[op_set_for(dataset)]


def enumerate_canonical(dataset: str) -> list[tuple[tuple[int, ...], tuple[str, ...]]]:
    """Every stored architecture of a dataset as ``(links, ops)``, in increasing key order.

    26,206 entries for the eight full datasets, 2,021 for PROTEINS (the space's
    :func:`~nasforge.spaces.nbgraph.canonical_forms` of the dataset's operation list).
    """
    return list(canonical_forms(op_set_for(dataset)))


# ----------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=None)
def load_nbgraph(dataset: str) -> dict[int, dict[str, float]]:
    """All records of one dataset: bench key -> ``{metric: float}`` (see :data:`METRICS`).

    The result is cached and shared between callers; treat it as read-only.
    """
    _check_dataset(dataset)
    path = package_file("nas_bench_graph", f"light/{dataset}.bench")
    raw: Any = load_pickle(path, numpy_globals())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a dict of records, found {type(raw).__name__}")
    out: dict[int, dict[str, float]] = {}
    for key, rec in raw.items():
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: record {key!r} is a {type(rec).__name__}, not a dict")
        metrics: dict[str, float] = {}
        for name, value in rec.items():
            try:
                metrics[str(name)] = float(value)
            except (TypeError, ValueError):
                continue  # not a scalar; the light files hold none today
        missing = [m for m in METRICS if m not in metrics]
        if missing:
            raise ValueError(f"{path}: record {key!r} lacks metrics {missing}")
        out[int(key)] = metrics
    return out


# ----------------------------------------------------------------------------- keys


def bench_key(links: Sequence[int], ops: Sequence[str], dataset: str) -> int:
    """The integer key of an architecture in the dataset's records.

    ``(links, ops)`` must be a canonical form (pass the result of
    :func:`nasforge.spaces.nbgraph.canonical` to look up an arbitrary architecture). The key
    starts at the pattern's index in :data:`~nasforge.spaces.nbgraph.LINK_PATTERNS` and
    appends each operation's index in :data:`~nasforge.spaces.nbgraph.GNN_OPS` as a base-10
    digit; the PROTEINS file uses the same nine-operation numbering, restricted to its five
    operations.
    """
    allowed = ops_for(dataset)
    canonical_now = is_canonical(links, ops)  # validates: InvalidArchitectureError names the problem
    lk, op = tuple(int(x) for x in links), tuple(str(x) for x in ops)
    for name in op:
        if name not in allowed:
            raise ValueError(f"operation {name!r} is not evaluated on {dataset!r}; allowed: {', '.join(allowed)}")
    if lk not in _PATTERN_INDEX or not canonical_now:
        raise ValueError(f"{list(lk)} {list(op)} is not a stored (canonical) form; use "
                         f"nasforge.spaces.nbgraph.canonical() first")
    return _key(lk, op)


def _key(links: tuple[int, ...], ops: tuple[str, ...]) -> int:
    key = _PATTERN_INDEX[links]
    for name in ops:
        key = key * _KEY_BASE + _OP_INDEX[name]
    return key


def stored_records(dataset: str) -> list[tuple[tuple[int, ...], tuple[str, ...], dict[str, float]]]:
    """``(links, ops, metrics)`` of every stored architecture of a dataset, in key order."""
    data = load_nbgraph(dataset)
    return [(links, ops, data[_key(links, ops)]) for links, ops in enumerate_canonical(dataset)]
