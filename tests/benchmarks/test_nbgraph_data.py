"""Tests for nasforge.benchmarks.nbgraph_data (NAS-Bench-Graph records and canonical form)."""

from __future__ import annotations

import itertools
import math
import os
import pickle
import random
from collections import defaultdict
from pathlib import Path

import pytest

from nasforge.benchmarks import _files
from nasforge.benchmarks.nbgraph_data import (
    DATASETS,
    GNN_OPS,
    GNN_OPS_PROTEINS,
    LINK_PATTERNS,
    METRICS,
    bench_key,
    canonical,
    enumerate_canonical,
    is_canonical,
    load_nbgraph,
    ops_for,
)

FULL = [d for d in DATASETS if d != "proteins"]
ALL_LINKS = list(itertools.product(range(1), range(2), range(3), range(4)))  # the 24 predecessor lists


def _have_data() -> bool:
    try:
        _files.package_file("nas_bench_graph", "light/cora.bench")
    except _files.DataNotFoundError:
        return False
    return True


needs_data = pytest.mark.skipif(not _have_data(), reason="nas-bench-graph data not installed")


def _classes(ops: tuple[str, ...]) -> dict[tuple, set]:
    """Group every (links, ops) of the 24 x |ops|^4 space (minus all-skip) by canonical form."""
    groups: dict[tuple, set] = defaultdict(set)
    for links in ALL_LINKS:
        for op in itertools.product(ops, repeat=4):
            if all(o == "skip" for o in op):
                continue
            groups[canonical(links, op)].add((links, op))
    return groups


# ----------------------------------------------------------------------------- data


@needs_data
@pytest.mark.parametrize("dataset", DATASETS)
def test_record_counts_and_metrics(dataset: str) -> None:
    data = load_nbgraph(dataset)
    assert len(data) == (2021 if dataset == "proteins" else 26206)
    assert load_nbgraph(dataset) is data  # cached
    for key, rec in data.items():
        assert type(key) is int
        assert set(rec) == set(METRICS)
        assert all(type(v) is float and math.isfinite(v) for v in rec.values())
        assert 0.0 < rec["valid_perf"] <= 1.0 and 0.0 < rec["perf"] <= 1.0
        assert 0.0 < rec["latency"] < 1.0  # seconds per inference pass
        assert 0.01 < rec["para"] < 10.0  # millions of parameters


@needs_data
def test_known_records() -> None:
    cora = load_nbgraph("cora")
    gat4 = bench_key((0, 0, 0, 0), ("gat",) * 4, "cora")
    assert gat4 == 0 and cora[0]["para"] == pytest.approx(1.736711)
    assert bench_key((0, 1, 2, 3), ("skip", "skip", "skip", "fc"), "cora") == 88887 == max(cora)
    proteins = load_nbgraph("proteins")
    # PROTEINS keys use the nine-operation numbering too (gcn = 1, fc = 7), not 0..4
    assert bench_key((0, 0, 0, 0), ("gcn",) * 4, "proteins") == 1111 == min(proteins)
    assert max(proteins) == 88887


@needs_data
@pytest.mark.parametrize("dataset", ["cora", "arxiv", "proteins"])
def test_enumerated_representatives_are_exactly_the_stored_keys(dataset: str) -> None:
    reps = enumerate_canonical(dataset)
    keys = [bench_key(links, ops, dataset) for links, ops in reps]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert set(keys) == set(load_nbgraph(dataset))
    assert all(links in LINK_PATTERNS for links, _ in reps)


@needs_data
@pytest.mark.parametrize(("dataset", "n_classes"), [("proteins", 2021), ("cora", 26206)])
def test_all_24_link_lists_fall_into_stored_classes(dataset: str, n_classes: int) -> None:
    data = load_nbgraph(dataset)
    groups = _classes(ops_for(dataset))
    assert len(groups) == n_classes
    assert {bench_key(links, ops, dataset) for links, ops in groups} == set(data)
    for rep, members in groups.items():
        assert rep in members  # the representative belongs to its own class


# ----------------------------------------------------------------------------- canonical form

SAME = [
    # relabelling of the same tree: gcn -> {gin -> fc, cheb}
    (([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]), ([0, 1, 1, 2], ["gcn", "gin", "cheb", "fc"])),
    # three leaves on the input plus a chain, in different numbering
    (([0, 0, 1, 0], ["gcn", "gat", "fc", "sage"]), ([0, 0, 0, 1], ["gcn", "sage", "gat", "fc"])),
    # two swapped two-node branches
    (([0, 0, 2, 1], ["sage", "gcn", "gat", "fc"]), ([0, 0, 1, 2], ["gcn", "sage", "gat", "fc"])),
    # a skip with a successor is contracted wherever it sits on a chain
    (([0, 1, 2, 3], ["gcn", "skip", "gat", "fc"]), ([0, 1, 2, 3], ["skip", "gcn", "gat", "fc"])),
    # a lone skip leaf at the end of a chain duplicates its parent: dropped
    (([0, 1, 2, 3], ["gcn", "gat", "fc", "skip"]), ([0, 1, 2, 3], ["skip", "gcn", "gat", "fc"])),
    # skip leaves on the raw input do not reach the output
    (([0, 0, 0, 0], ["gcn", "skip", "gat", "skip"]), ([0, 1, 2, 2], ["skip", "skip", "gcn", "gat"])),
]

DIFFERENT = [
    # gcn -> {gin -> fc, cheb} is not gcn -> {cheb -> fc, gin}
    (([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]), ([0, 1, 1, 2], ["gcn", "cheb", "gin", "fc"])),
    # a skip leaf beside a sibling routes its parent to the output too
    (([0, 1, 2, 2], ["gcn", "gat", "fc", "skip"]), ([0, 1, 2, 3], ["skip", "gcn", "gat", "fc"])),
    # two skip leaves under one node are kept, unlike a single one
    (([0, 1, 1, 1], ["gcn", "gat", "skip", "skip"]), ([0, 1, 1, 2], ["gcn", "gat", "skip", "skip"])),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_isomorphic_pairs_share_a_canonical_form(a, b) -> None:
    assert canonical(*a) == canonical(*b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_architectures_stay_apart(a, b) -> None:
    assert canonical(*a) != canonical(*b)


def test_canonical_examples() -> None:
    assert canonical([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]) == ((0, 1, 1, 2), ("gcn", "gin", "cheb", "fc"))
    assert canonical([0, 0, 0, 0], ["fc", "gcn", "gat", "gcn"]) == ((0, 0, 0, 0), ("gat", "gcn", "gcn", "fc"))
    assert canonical([0, 1, 2, 3], ["skip", "skip", "skip", "gcn"]) == ((0, 1, 2, 3), ("skip", "skip", "skip", "gcn"))
    assert canonical((0, 0, 1, 1), ("gcn", "gat", "skip", "fc")) == ((0, 0, 1, 1), ("gcn", "gat", "fc", "skip"))


def test_canonical_is_idempotent_and_lands_on_a_pattern() -> None:
    rng = random.Random(0)
    for _ in range(3000):
        links = [rng.randrange(i + 1) for i in range(4)]
        ops = [rng.choice(GNN_OPS) for _ in range(4)]
        if set(ops) == {"skip"}:
            continue
        rep = canonical(links, ops)
        assert rep[0] in LINK_PATTERNS
        assert canonical(*rep) == rep and is_canonical(*rep)
        assert sorted(o for o in rep[1] if o != "skip") == sorted(o for o in ops if o != "skip")


def test_proteins_classes_use_only_proteins_ops() -> None:
    groups = _classes(GNN_OPS_PROTEINS)
    assert len(groups) == 2021
    assert all(set(ops) <= set(GNN_OPS_PROTEINS) for _, ops in groups)


# ----------------------------------------------------------------------------- errors


def test_unknown_dataset_is_named() -> None:
    for call in (lambda: load_nbgraph("coraa"), lambda: ops_for("coraa"), lambda: enumerate_canonical("coraa"),
                 lambda: bench_key((0, 0, 0, 0), ("gcn",) * 4, "coraa")):
        with pytest.raises(ValueError, match="'coraa'") as info:
            call()
        assert "citeseer" in str(info.value)


def test_invalid_architectures_are_rejected() -> None:
    with pytest.raises(ValueError, match="links\\[1\\] = 2"):
        canonical([0, 2, 0, 0], ["gcn"] * 4)
    with pytest.raises(ValueError, match="'conv'"):
        canonical([0, 0, 0, 0], ["gcn", "conv", "gcn", "gcn"])
    with pytest.raises(ValueError, match="all-'skip'"):
        canonical([0, 1, 2, 3], ["skip"] * 4)
    with pytest.raises(ValueError, match="4 links"):
        canonical([0, 0, 0], ["gcn"] * 3)
    with pytest.raises(ValueError, match="canonical"):
        bench_key([0, 1, 0, 0], ["gcn"] * 4, "cora")
    with pytest.raises(ValueError, match="'gat' is not evaluated on 'proteins'"):
        bench_key([0, 0, 0, 0], ["gat"] * 4, "proteins")


def test_restricted_unpickler_refuses_other_globals(tmp_path: Path) -> None:
    path = tmp_path / "evil.bench"
    path.write_bytes(pickle.dumps({0: os.system}))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        _files.load_pickle(path, _files.numpy_globals())
    ok = tmp_path / "ok.bench"
    import numpy as np

    ok.write_bytes(pickle.dumps({1: {"perf": np.float64(0.5), "arr": np.arange(3)}}))
    loaded = _files.load_pickle(ok, _files.numpy_globals())
    assert loaded[1]["perf"] == 0.5 and list(loaded[1]["arr"]) == [0, 1, 2]
