"""Property tests of the space contract on the built-in spaces and a toy user-defined one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.spaces.nb201 import NB201Space
from nasforge.spaces.nbgraph import NASBenchGraphSpace
from nasforge.testing import toy_space as make_toy_space

SPACES = {
    "nb201": NB201Space(),
    "nbgraph-full": NASBenchGraphSpace(),
    "nbgraph-proteins": NASBenchGraphSpace(op_set="proteins"),
    "toy": make_toy_space(),
}
PROPS = settings(max_examples=25, deadline=None)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
steps = st.integers(min_value=0, max_value=6)


def walk(space: SearchSpace, seed: int, n_mutations: int) -> Architecture:
    """A sample followed by some mutations: reaches non-canonical forms too."""
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    for _ in range(n_mutations):
        arch = space.mutate(arch, rng)
    return arch


@pytest.fixture(params=sorted(SPACES), scope="module")
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return SPACES[request.param]


@PROPS
@given(seed=seeds, n=steps)
def test_sample_and_mutate_stay_inside(space: SearchSpace, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    arch = space.sample(rng)
    assert space.contains(arch)
    for _ in range(n):
        child = space.mutate(arch, rng)
        assert space.contains(child)
        assert child != arch
        arch = child


@PROPS
@given(seed=seeds, n=steps)
def test_neighbors_stay_inside_and_differ(space: SearchSpace, seed: int, n: int) -> None:
    arch = walk(space, seed, n)
    nbs = space.neighbors(arch)
    assert nbs
    assert len(set(nbs)) == len(nbs)
    for nb in nbs:
        assert space.contains(nb)
        assert nb != arch


@PROPS
@given(seed=seeds, other=seeds)
def test_crossover_stays_inside(space: SearchSpace, seed: int, other: int) -> None:
    a, b = walk(space, seed, 2), walk(space, other, 2)
    child = space.crossover(a, b, np.random.default_rng(seed))
    assert space.contains(child)
    # every choice of the child comes from a parent, or was newly activated
    for name, value in child.choices:
        if name in a.as_dict() and name in b.as_dict():
            assert value in (a[name], b[name])


@PROPS
@given(seed=seeds, n=steps)
def test_json_and_string_round_trip(space: SearchSpace, seed: int, n: int) -> None:
    arch = walk(space, seed, n)
    assert space.from_json(space.to_json(arch)) == arch
    assert space.from_string(space.to_string(arch)) == arch
    assert space.parse(space.to_json(arch)) == arch
    assert space.parse(str(arch)) == arch


@PROPS
@given(seed=seeds, n=steps)
def test_canonical_idempotent_and_key_stable(space: SearchSpace, seed: int, n: int) -> None:
    arch = walk(space, seed, n)
    canon = space.canonical(arch)
    assert space.contains(canon)
    assert space.canonical(canon) == canon
    assert space.key(arch) == space.key(canon) == space.key(space.from_json(space.to_json(arch)))


@PROPS
@given(seed=seeds, n=steps)
def test_encoding_fixed_length_and_deterministic(space: SearchSpace, seed: int, n: int) -> None:
    arch = walk(space, seed, n)
    enc = space.encode(arch)
    assert enc.shape == (space.encoding_size,)
    assert np.array_equal(enc, space.encode(space.from_string(space.to_string(arch))))
    assert set(np.unique(enc)) <= {0.0, 1.0}
    assert int(enc.sum()) == len(arch.choices)  # one 1 per active choice


@PROPS
@given(seed=seeds)
def test_same_seed_same_sample(space: SearchSpace, seed: int) -> None:
    assert space.sample(np.random.default_rng(seed)) == space.sample(np.random.default_rng(seed))
