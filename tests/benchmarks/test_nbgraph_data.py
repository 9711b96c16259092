"""Tests for nasforge.benchmarks.nbgraph_data (NAS-Bench-Graph records and their keys).

The canonical form itself is a fact of the space: tests/spaces/test_nbgraph_canonical.py."""

from __future__ import annotations

import itertools
import math
import os
import pickle
from pathlib import Path

import pytest

from nasforge import safe_pickle
from nasforge.benchmarks import _files
from nasforge.benchmarks.nbgraph_data import DATASETS, METRICS, bench_key, enumerate_canonical, load_nbgraph, ops_for
from nasforge.spaces.nbgraph import LINK_PATTERNS, canonical

FULL = [d for d in DATASETS if d != "proteins"]
ALL_LINKS = list(itertools.product(range(1), range(2), range(3), range(4)))  # the 24 predecessor lists


def _have_data() -> bool:
    try:
        _files.package_file("nas_bench_graph", "light/cora.bench")
    except _files.DataNotFoundError:
        return False
    return True


needs_data = pytest.mark.skipif(not _have_data(), reason="nas-bench-graph data not installed")




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
def test_all_24_link_lists_fall_into_stored_classes(dataset: str, n_classes: int, nbgraph_classes) -> None:
    data = load_nbgraph(dataset)
    groups = nbgraph_classes(ops_for(dataset))
    assert len(groups) == n_classes
    assert {bench_key(links, ops, dataset) for links, ops in groups} == set(data)
    for rep, members in groups.items():
        assert rep in members  # the representative belongs to its own class


# ----------------------------------------------------------------------------- errors


def test_unknown_dataset_is_named() -> None:
    for call in (lambda: load_nbgraph("coraa"), lambda: ops_for("coraa"), lambda: enumerate_canonical("coraa"),
                 lambda: bench_key((0, 0, 0, 0), ("gcn",) * 4, "coraa")):
        with pytest.raises(ValueError, match="'coraa'") as info:
            call()
        assert "citeseer" in str(info.value)


def test_bench_key_rejects_what_is_not_stored() -> None:
    with pytest.raises(ValueError, match="links\\[1\\] = 2"):
        bench_key([0, 2, 0, 0], ["gcn"] * 4, "cora")
    with pytest.raises(ValueError, match="canonical"):  # a valid pattern, ops not in canonical order
        bench_key([0, 0, 0, 0], ["fc", "gcn", "gat", "gcn"], "cora")
    with pytest.raises(ValueError, match="canonical"):
        bench_key([0, 1, 0, 0], ["gcn"] * 4, "cora")
    with pytest.raises(ValueError, match="'gat' is not evaluated on 'proteins'"):
        bench_key([0, 0, 0, 0], ["gat"] * 4, "proteins")


def test_restricted_unpickler_refuses_other_globals(tmp_path: Path) -> None:
    path = tmp_path / "evil.bench"
    path.write_bytes(pickle.dumps({0: os.system}))
    forbidden = f"{os.system.__module__}.system"  # posix.system
    with pytest.raises(pickle.UnpicklingError, match=f"global '{forbidden}' is not allowed") as info:
        safe_pickle.load_pickle(path, safe_pickle.numpy_globals())
    assert isinstance(info.value, safe_pickle.ForbiddenGlobalError) and str(path) in str(info.value)
    assert "numpy.ndarray" in str(info.value)  # the message lists what is admitted
    ok = tmp_path / "ok.bench"
    import numpy as np

    ok.write_bytes(pickle.dumps({1: {"perf": np.float64(0.5), "arr": np.arange(3)}}))
    loaded = safe_pickle.load_pickle(ok, safe_pickle.numpy_globals())
    assert loaded[1]["perf"] == 0.5 and list(loaded[1]["arr"]) == [0, 1, 2]


# ----------------------------------------------------------------------------- the benchmark and its space


def test_benchmark_default_space_matches_the_dataset() -> None:
    from nasforge.benchmarks.nbgraph import NASBenchGraphBenchmark

    assert NASBenchGraphBenchmark("cora").space.op_set == "full"
    assert NASBenchGraphBenchmark("proteins").space.op_set == "proteins"


def test_benchmark_refuses_a_space_of_the_wrong_kind_or_ops() -> None:
    from nasforge.benchmarks.nbgraph import NASBenchGraphBenchmark
    from nasforge.errors import ConfigError
    from nasforge.spaces.nb201 import NB201Space
    from nasforge.spaces.nbgraph import NASBenchGraphSpace

    with pytest.raises(ConfigError, match="NASBenchGraphSpace.*got NB201Space 'nb201'"):
        NASBenchGraphBenchmark("cora", space=NB201Space())
    with pytest.raises(ConfigError, match=r"'proteins'.*also has gat, gin, cheb, graph.*op_set='proteins'"):
        NASBenchGraphBenchmark("proteins", space=NASBenchGraphSpace("full"))
    small = NASBenchGraphSpace("proteins")  # a subset of the full ops: every architecture is stored
    assert NASBenchGraphBenchmark("cora", space=small).space is small


@needs_data
def test_benchmark_capabilities_and_lookups() -> None:
    from nasforge.benchmarks.nbgraph import NASBenchGraphBenchmark
    from nasforge.spaces.nbgraph import NASBenchGraphSpace

    b = NASBenchGraphBenchmark("cora", space=NASBenchGraphSpace("proteins"))
    caps = b.capabilities()
    assert caps.fidelity is None and caps.reports_cost is False
    assert set(caps.metrics) == set(METRICS) == set(next(iter(b.table().values())))
    # a twin is looked up under its canonical form
    twin = b.space.from_parts((0, 1, 2, 3), ("gcn", "skip", "sage", "fc"))
    assert b.evaluate(twin).metrics == b.evaluate(b.space.canonical(twin)).metrics
    key = bench_key(*canonical((0, 1, 2, 3), ("gcn", "skip", "sage", "fc")), "cora")
    assert b.evaluate(twin).value == load_nbgraph("cora")[key]["valid_perf"]


@needs_data
@pytest.mark.parametrize("dataset", ["citeseer", "proteins"])
def test_stored_records_are_the_keyed_records(dataset: str) -> None:
    from nasforge.benchmarks.nbgraph_data import stored_records

    data = load_nbgraph(dataset)
    records = stored_records(dataset)
    assert len(records) == len(data)
    for links, ops, rec in records[::97]:
        assert rec is data[bench_key(links, ops, dataset)]
