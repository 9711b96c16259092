"""NAS-Bench-Graph space specifics: sizes, canonical sampling, isomorphic twins, string form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasforge.spaces import nbgraph as nbg
from nasforge.spaces.base import InvalidArchitectureError
from nasforge.spaces.nbgraph import NASBenchGraphSpace

FULL = NASBenchGraphSpace()
PROTEINS = NASBenchGraphSpace(op_set="proteins")
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.mark.parametrize(("space", "size"), [(FULL, 26_206), (PROTEINS, 2_021)])
def test_len_counts_distinct_architectures(space: NASBenchGraphSpace, size: int) -> None:
    assert len(space) == size
    archs = list(space.enumerate())
    assert len(archs) == size
    assert len({space.key(a) for a in archs}) == size


@pytest.mark.parametrize("space", [FULL, PROTEINS], ids=["full", "proteins"])
@settings(max_examples=30, deadline=None)
@given(seed=seeds)
def test_sample_returns_canonical_forms(space: NASBenchGraphSpace, seed: int) -> None:
    arch = space.sample(np.random.default_rng(seed))
    assert space.canonical(arch) == arch
    assert space.contains(arch)
    assert set(space._parts(arch)[1]) <= set(space.ops)


def test_proteins_space_uses_only_its_ops() -> None:
    assert PROTEINS.ops == nbg.GNN_OPS_PROTEINS
    with pytest.raises(InvalidArchitectureError, match="'gat'"):
        PROTEINS.from_string("0,0,1,2|gat,gcn,sage,fc")
    assert all(set(PROTEINS._parts(a)[1]) <= set(nbg.GNN_OPS_PROTEINS) for a in PROTEINS.enumerate())


@pytest.mark.parametrize(("a", "b"), [
    # nodes 1 and 2 (with their children) swapped
    (((0, 0, 1, 2), ("gcn", "gat", "gin", "sage")), ((0, 0, 1, 2), ("gat", "gcn", "sage", "gin"))),
    # a chain through a skip node: the skip is an identity on the way to its successors
    (((0, 1, 2, 3), ("gcn", "skip", "gin", "sage")), ((0, 1, 2, 3), ("gcn", "gin", "skip", "sage"))),
    # a skip leaf fed by the raw input is left out
    (((0, 1, 2, 3), ("skip", "gcn", "gin", "sage")), ((0, 0, 2, 3), ("skip", "gcn", "gin", "sage"))),
    # children of the input in any order
    (((0, 0, 0, 3), ("gin", "gcn", "cheb", "fc")), ((0, 0, 0, 1), ("cheb", "gcn", "gin", "fc"))),
])
def test_isomorphic_raw_architectures_share_a_key(a, b) -> None:
    x, y = FULL.from_parts(*a), FULL.from_parts(*b)
    assert x != y
    assert FULL.key(x) == FULL.key(y)
    assert FULL.canonical(x) == FULL.canonical(y)
    assert FULL.contains(FULL.canonical(x))


def test_different_architectures_have_different_keys() -> None:
    x = FULL.from_parts((0, 0, 1, 2), ("gcn", "gat", "gin", "sage"))
    y = FULL.from_parts((0, 0, 1, 2), ("gcn", "gat", "sage", "gin"))
    assert FULL.key(x) != FULL.key(y)


def test_string_form() -> None:
    arch = FULL.from_string("0,0,1,2|gcn,gin,cheb,fc")
    assert str(arch) == FULL.to_string(arch) == "0,0,1,2|gcn,gin,cheb,fc"
    assert FULL.from_string(" 0,0,1,2 | gcn, gin,cheb,fc ") == arch


@pytest.mark.parametrize("bad", [
    "",
    "0,0,1,2",                       # no ops
    "0,0,1|gcn,gin,cheb,fc",         # 3 links
    "0,0,1,2|gcn,gin,cheb",          # 3 ops
    "a,b,c,d|gcn,gin,cheb,fc",       # links not numbers
    "0,0,1,4|gcn,gin,cheb,fc",       # link4 must be in 0..3
    "1,0,1,2|gcn,gin,cheb,fc",       # link1 must be 0
    "0,0,1,2|gcn,gin,cheb,conv",     # unknown op
    "0,0,1,2|skip,skip,skip,skip",   # all-skip is not an architecture
])
def test_malformed_strings_raise(bad: str) -> None:
    with pytest.raises(InvalidArchitectureError):
        FULL.from_string(bad)


def test_unknown_op_set() -> None:
    with pytest.raises(ValueError, match="'tiny'"):
        NASBenchGraphSpace(op_set="tiny")
