"""The generic choice-space machinery: choices, make(), conditional and repeated choices, enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.spaces.base import (
    Architecture,
    Choice,
    InvalidArchitectureError,
    SearchSpace,
    categorical,
    integer,
    repeat,
)

#: per stage: depth 1..3, each block 2 kernels x 2 expansions -> 4 + 16 + 64
STAGE = 4 + 4**2 + 4**3
#: stem (2) x squeeze-excite (off, or on with one of 2 ratios: 3) x two stages
TOY_SIZE = 2 * 3 * STAGE**2


def toy_values(depth0: int = 2, depth1: int = 1, se: bool = True) -> dict:
    values: dict = {"stem": 16, "se": se, "s0.depth": depth0, "s1.depth": depth1}
    if se:
        values["se_ratio"] = 0.25
    for s, depth in ((0, depth0), (1, depth1)):
        for k in range(depth):
            values[f"s{s}.b{k}.kernel"] = 3
            values[f"s{s}.b{k}.expand"] = 6
    return values


# -- Choice and constructors ----------------------------------------------------------------

def test_choice_without_options() -> None:
    with pytest.raises(ValueError, match="'op' has no options"):
        Choice("op", ())


def test_choice_with_repeated_options() -> None:
    with pytest.raises(ValueError, match="'op' has repeated options"):
        categorical("op", ["conv", "pool", "conv"])


def test_when_must_refer_to_an_earlier_choice() -> None:
    later = [categorical("ratio", [0.25, 0.5], when=("se", [True])), categorical("se", [False, True])]
    with pytest.raises(ValueError, match="'ratio' depends on 'se'"):
        SearchSpace(later)
    with pytest.raises(ValueError, match="'nowhere'"):
        SearchSpace([categorical("ratio", [1, 2], when=("nowhere", [True]))])


def test_repeated_choice_names() -> None:
    with pytest.raises(ValueError, match="repeated choice names"):
        SearchSpace([categorical("a", [1, 2]), categorical("a", [3])])


def test_integer_range() -> None:
    assert integer("depth", 1, 3).options == (1, 2, 3)
    with pytest.raises(ValueError, match="high 1 < low 3"):
        integer("depth", 3, 1)


def test_repeat_names_and_conditions() -> None:
    choices = repeat("b", integer("depth", 1, 3), [categorical("k", [3, 5]),
                                                  categorical("r", [2, 4], when=("k", [5]))])
    by_name = {c.name: c for c in choices}
    assert [c.name for c in choices] == ["depth", "b0.k", "b0.r", "b1.k", "b1.r", "b2.k", "b2.r"]
    assert by_name["b0.k"].when is None                      # every depth has block 0
    assert by_name["b1.k"].when == ("depth", (2, 3))
    assert by_name["b2.k"].when == ("depth", (3,))
    assert by_name["b1.r"].when == ("b1.k", (5,))            # nested condition stays inside its copy


# -- make() ----------------------------------------------------------------------------

def test_make_builds_the_architecture(toy_space: SearchSpace) -> None:
    arch = toy_space.make(toy_values())
    assert isinstance(arch, Architecture)
    assert arch.space == "toy-mobilenet"
    assert arch["s0.b1.kernel"] == 3
    assert arch.get("s1.b1.kernel") is None
    assert [k for k, _ in arch.choices] == [c.name for c in toy_space.choices if c.name in arch.as_dict()]
    assert str(arch) == arch.string == toy_space.to_string(arch)
    with pytest.raises(KeyError, match="s1.b2.kernel"):
        arch["s1.b2.kernel"]


def test_make_unknown_choice(toy_space: SearchSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match="'width'"):
        toy_space.make({**toy_values(), "width": 2})


def test_make_missing_choice(toy_space: SearchSpace) -> None:
    values = toy_values()
    del values["s0.b1.expand"]
    with pytest.raises(InvalidArchitectureError, match="'s0.b1.expand' is missing"):
        toy_space.make(values)


def test_make_inactive_choice(toy_space: SearchSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match="'s1.b1.kernel' is set but inactive"):
        toy_space.make({**toy_values(depth1=1), "s1.b1.kernel": 3, "s1.b1.expand": 3})
    with pytest.raises(InvalidArchitectureError, match="'se_ratio' is set but inactive"):
        toy_space.make({**toy_values(se=False), "se_ratio": 0.5})


def test_make_out_of_range(toy_space: SearchSpace) -> None:
    with pytest.raises(InvalidArchitectureError, match="7 is not an option of choice 's0.b0.kernel'"):
        toy_space.make({**toy_values(), "s0.b0.kernel": 7})
    with pytest.raises(InvalidArchitectureError, match="4 is not an option of choice 's0.depth'"):
        toy_space.make({**toy_values(), "s0.depth": 4})


def test_is_valid_override_is_enforced() -> None:
    class NoTwoPools(SearchSpace):
        def is_valid(self, arch: Architecture) -> bool:
            return list(arch.as_dict().values()).count("pool") < 2

    space = NoTwoPools([categorical(f"op{i}", ["conv", "pool"]) for i in range(3)], name="no-two-pools")
    with pytest.raises(InvalidArchitectureError, match="not a valid"):
        space.make({"op0": "pool", "op1": "pool", "op2": "conv"})
    assert len(space) == 4
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        assert space.is_valid(arch)
        assert all(space.is_valid(nb) for nb in space.neighbors(arch))
        assert space.is_valid(space.mutate(arch, rng))


# -- enumeration and conditional behaviour -------------------------------------------------

def test_enumerate_yields_each_architecture_once(toy_space: SearchSpace) -> None:
    archs = list(toy_space.enumerate())
    assert len(archs) == len(set(archs)) == TOY_SIZE == len(toy_space)
    assert len({a.string for a in archs}) == TOY_SIZE
    assert all(toy_space.contains(a) for a in archs[::97])


def test_enumerate_small_conditional_space_by_hand() -> None:
    space = SearchSpace([categorical("se", [False, True]),
                         categorical("ratio", [0.25, 0.5], when=("se", [True])),
                         *repeat("b", integer("depth", 1, 2), [categorical("k", [3, 5])])])
    got = {a.string for a in space.enumerate()}
    # se off / on with 2 ratios = 3; depth 1 (2 kernels) + depth 2 (4 kernel pairs) = 6
    assert len(got) == len(space) == 18
    assert "se=True,ratio=0.5,depth=2,b0.k=5,b1.k=3" in got
    assert "se=False,depth=1,b0.k=3" in got


def test_mutating_depth_fills_and_drops_blocks(toy_space: SearchSpace) -> None:
    arch = toy_space.make(toy_values(depth0=1))
    deeper = [nb for nb in toy_space.neighbors(arch) if nb["s0.depth"] == 3]
    assert len(deeper) == 1
    # newly active blocks take their first options
    assert deeper[0]["s0.b2.kernel"] == 3 and deeper[0]["s0.b2.expand"] == 3
    shallower = toy_space.make(toy_values(depth0=3))
    assert all(nb.get("s0.b2.kernel") is None for nb in toy_space.neighbors(shallower) if nb["s0.depth"] < 3)


def test_neighbours_of_toy_architecture_counted_by_hand(toy_space: SearchSpace) -> None:
    arch = toy_space.make(toy_values(depth0=2, depth1=1, se=True))
    # stem 1, se 1, se_ratio 1, s0.depth 2, 2 blocks x (kernel 1 + expand 1), s1.depth 2, 1 block x 2
    assert len(toy_space.neighbors(arch)) == 1 + 1 + 1 + 2 + 4 + 2 + 2


def test_encoding_marks_active_choices_only(toy_space: SearchSpace) -> None:
    arch = toy_space.make(toy_values(depth0=1, depth1=1, se=False))
    enc = toy_space.encode(arch)
    assert enc.shape == (toy_space.encoding_size,)
    assert toy_space.encoding_size == sum(len(c.options) for c in toy_space.choices)
    assert int(enc.sum()) == len(arch.choices) == 2 + 2 + 2 * 2


def test_json_keeps_option_types(toy_space: SearchSpace) -> None:
    arch = toy_space.make(toy_values())
    back = toy_space.from_json(toy_space.to_json(arch))
    assert back == arch
    assert back["se"] is True and back["se_ratio"] == 0.25 and isinstance(back["stem"], int)


def test_tuple_options_survive_json() -> None:
    space = SearchSpace([categorical("shape", [(1, 2), (3, 4)])], name="tuples")
    arch = space.make({"shape": (3, 4)})
    assert space.from_json(space.to_json(arch)) == arch


@pytest.mark.parametrize("text", [
    '{"space": "toy-mobilenet"}',
    '{"space": "other", "choices": {}}',
    "[1, 2",
    '{"space": "toy-mobilenet", "choices": {"stem": 64}}',
])
def test_bad_json_raises(toy_space: SearchSpace, text: str) -> None:
    with pytest.raises(InvalidArchitectureError):
        toy_space.from_json(text)


@pytest.mark.parametrize(("text", "needle"), [
    ("stem=16,se=maybe", "'maybe'"),
    ("stem=16,width=3", "malformed"),
    ("stem16", "malformed"),
    ("", "missing"),
])
def test_bad_generic_string_raises(toy_space: SearchSpace, text: str, needle: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=needle):
        toy_space.from_string(text)


def test_contains_rejects_foreign_and_raw_values(toy_space: SearchSpace) -> None:
    arch = toy_space.make(toy_values())
    assert toy_space.contains(arch)
    assert not toy_space.contains(Architecture("other", arch.choices))
    assert not toy_space.contains(arch.as_dict())
    reordered = Architecture(arch.space, tuple(reversed(arch.choices)))
    assert not toy_space.contains(reordered)
    with pytest.raises(InvalidArchitectureError):
        toy_space.mutate(reordered, np.random.default_rng(0))
