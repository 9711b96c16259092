"""The public choice layout (space.layout) and sample_distinct."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from nasforge.registry import create_space
from nasforge.spaces import MISSING, Layout, SearchSpace, categorical, integer, repeat, sample_distinct
from nasforge.testing import toy_space


def se_space() -> SearchSpace:
    return SearchSpace([categorical("se", [False, True]), categorical("ratio", [0.25, 0.5], when=("se", [True])),
                        categorical("kernel", [3, 5, 7])], name="se")


def test_is_active_and_active() -> None:
    lay = se_space().layout
    assert lay.names == ("se", "ratio", "kernel") and lay.choice("ratio").options == (0.25, 0.5)
    assert not lay.is_active("ratio", {"se": False}) and lay.is_active("ratio", {"se": True})
    assert not lay.is_active(lay.choice("ratio"), {}) and lay.is_active("kernel", {})
    assert [c.name for c in lay.active({"se": True, "kernel": 3})] == ["se", "ratio", "kernel"]
    assert [c.name for c in lay.active({"se": False, "ratio": 0.5})] == ["se", "kernel"]
    p = lay.parent("ratio")
    assert p is not None and p[0] == 0 and list(p[1]) == [False, True] and lay.parent("se") is None


def test_active_follows_chains_of_conditions(toy_space: SearchSpace) -> None:
    lay = toy_space.layout
    names = {c.name for c in lay.active({"s0.depth": 1, "s1.depth": 3, "se": False})}
    assert "s0.b0.kernel" in names and "s0.b1.kernel" not in names and "s1.b2.expand" in names
    assert "se_ratio" not in names


def test_complete_without_rng_takes_first_options() -> None:
    lay = se_space().layout
    assert lay.complete({"se": True}) == {"se": True, "ratio": 0.25, "kernel": 3}
    assert lay.complete({"se": False, "ratio": 0.5, "kernel": 7}) == {"se": False, "kernel": 7}  # drops inactive
    assert list(lay.complete({"kernel": 5, "se": True})) == ["se", "ratio", "kernel"]  # space order


def test_complete_with_rng_draws_the_missing_ones_in_order() -> None:
    lay = se_space().layout
    a = lay.complete({"se": True}, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    expected = {"se": True, "ratio": (0.25, 0.5)[int(rng.integers(2))], "kernel": (3, 5, 7)[int(rng.integers(3))]}
    assert a == expected
    draws = {lay.complete({"se": True}, np.random.default_rng(s))["kernel"] for s in range(40)}
    assert draws == {3, 5, 7}


@pytest.mark.parametrize("name", ["nb201", "mobilenet", "mlp", "darts"])
def test_complete_leaves_an_architecture_unchanged(name: str) -> None:
    space = create_space(name)
    for i in range(10):
        values = space.sample(np.random.default_rng(i)).as_dict()
        assert space.layout.complete(values) == values
        assert space.layout.complete(values, np.random.default_rng(0)) == values


@pytest.mark.parametrize("space", [se_space(), toy_space(), create_space("mobilenet"), create_space("nb201")],
                         ids=lambda s: s.name)
def test_columns_agree_with_encode(space: SearchSpace) -> None:
    lay = space.layout
    assert lay.encoding_size == space.encoding_size == sum(lay.sizes)
    assert len(lay.column_choices()) == lay.encoding_size
    blocks = [lay.columns(n) for n in lay.names]
    assert blocks[0].start == 0 and blocks[-1].stop == lay.encoding_size
    assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
    for i in range(20):
        arch = space.sample(np.random.default_rng(i))
        vec = space.encode(arch)
        ones = sorted(lay.column(n, v) for n, v in arch.choices)
        assert list(np.flatnonzero(vec)) == ones
        for n, v in arch.choices:
            block = vec[lay.columns(n)]
            assert block.sum() == 1 and int(np.argmax(block)) == lay.option_index(n, v)
        assert lay.values(lay.indices(arch.as_dict())) == arch.as_dict()
        assert np.array_equal(lay.encode(arch.as_dict()), vec)


def test_unknown_names_and_values_are_named() -> None:
    lay = se_space().layout
    with pytest.raises(KeyError, match="no choice 'depth'; choices: \\['se', 'ratio', 'kernel'\\]"):
        lay.columns("depth")
    with pytest.raises(KeyError, match="9 is not an option of choice 'kernel'; options: \\[3, 5, 7\\]"):
        lay.column("kernel", 9)


def test_layout_is_frozen_and_pickles() -> None:
    lay = se_space().layout
    with pytest.raises(AttributeError, match="frozen"):
        lay.names = ()  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(lay))
    assert again.names == lay.names and again.size == lay.size and pickle.loads(pickle.dumps(MISSING)) is MISSING
    with pytest.raises(ValueError, match="depends on 'b', which must come earlier"):
        Layout([categorical("a", [1], when=("b", [1])), categorical("b", [1])])


def test_active_rows_is_is_active_for_batches(toy_space: SearchSpace) -> None:
    lay = toy_space.layout
    archs = [toy_space.sample(np.random.default_rng(i)) for i in range(30)]
    idx = np.array([lay.indices(a.as_dict()) for a in archs])
    for i, c in enumerate(lay.choices):
        expected = [lay.is_active(c, a.as_dict()) for a in archs]
        assert list(lay.active_rows(i, idx)) == expected


# -- size --------------------------------------------------------------------------------------

SMALL = [
    se_space(),
    SearchSpace([categorical("a", [0, 1, 2]), categorical("b", ["x", "y"], when=("a", [1, 2])),
                 categorical("c", [0, 1], when=("b", ["y"])), categorical("d", [0, 1, 2, 3], when=("a", [0]))],
                name="chain"),
    SearchSpace(repeat("b", integer("depth", 0, 3), [categorical("k", [3, 5]),
                                                      categorical("e", [1, 2, 4], when=("k", [5]))]), name="repeat"),
    SearchSpace([categorical("a", [0, 1]), categorical("b", [0], when=("a", [7]))], name="never-active"),
]


@pytest.mark.parametrize("space", SMALL, ids=lambda s: s.name)
def test_size_is_exact_on_small_conditional_spaces(space: SearchSpace) -> None:
    n = len(list(space.enumerate()))
    assert space.layout.size == space.size() == len(space) == n


def test_toy_space_size() -> None:
    space = toy_space()
    assert space.layout.size == 42_336 == sum(1 for _ in space.enumerate())


def test_mobilenet_size_is_a_big_int_and_len_says_why_it_cannot() -> None:
    space = create_space("mobilenet")
    size = space.layout.size
    assert isinstance(size, int) and size == space.size() and size > 10 ** 30
    with pytest.raises(OverflowError, match="use space.size\\(\\) for the exact count"):
        len(space)


def test_size_of_a_space_with_a_validity_rule_is_unknown_but_len_counts() -> None:
    class Even(SearchSpace):
        def is_valid(self, arch):  # type: ignore[no-untyped-def]
            return (arch["a"] + arch["b"]) % 2 == 0

    space = Even([categorical("a", range(4)), categorical("b", range(4))], name="even")
    assert space.size() is None and space.layout.size == 16 and len(space) == 8


# -- sample_distinct ----------------------------------------------------------------------------

def test_sample_distinct_on_a_small_space_returns_all_of_it() -> None:
    space = se_space()  # 9 architectures
    out = sample_distinct(space, 20, np.random.default_rng(0))
    assert len(out) == 9 and {space.key(a) for a in out} == {space.key(a) for a in space.enumerate()}
    assert sample_distinct(space, 20, None) == list(space.enumerate())
    assert sample_distinct(space, 3, None) == list(space.enumerate())[:3]
    assert sample_distinct(space, 0, np.random.default_rng(0)) == [] == sample_distinct(space, 0, None)


def test_sample_distinct_with_exclude() -> None:
    space = se_space()
    taken = {space.key(a) for a in list(space.enumerate())[:7]}
    out = sample_distinct(space, 5, np.random.default_rng(1), exclude=taken)
    assert {space.key(a) for a in out} == {space.key(a) for a in list(space.enumerate())[7:]}
    assert sample_distinct(space, 5, np.random.default_rng(1), exclude={space.key(a) for a in space.enumerate()}) == []


def test_sample_distinct_is_seeded_and_draws_like_sample() -> None:
    space = create_space("nb201")
    a = sample_distinct(space, 50, np.random.default_rng(3))
    assert a == sample_distinct(space, 50, np.random.default_rng(3)) != sample_distinct(space, 50, np.random.default_rng(4))
    assert len({space.key(x) for x in a}) == 50 and all(space.contains(x) for x in a)
    rng = np.random.default_rng(3)
    assert a[0] == space.sample(rng)  # the first draw is a plain sample


def test_sample_distinct_on_mobilenet_does_not_overflow() -> None:
    space = create_space("mobilenet")
    out = sample_distinct(space, 5, np.random.default_rng(0))
    assert len({space.key(a) for a in out}) == 5
    first = out[0]
    more = sample_distinct(space, 3, np.random.default_rng(0), exclude={space.key(first)})
    assert len(more) == 3 and space.key(first) not in {space.key(a) for a in more}


def test_sample_distinct_rejects_a_bad_count() -> None:
    with pytest.raises(ValueError, match="n must be an integer >= 0, got -1"):
        sample_distinct(se_space(), -1, None)
