"""NAS-Bench-201 space specifics: string form, neighbours, encoding and AnalogNAS conversions.

(The NB201 index is a row of the benchmark's data: see tests/benchmarks/test_nb201.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasforge.spaces.base import InvalidArchitectureError
from nasforge.spaces.nb201 import (ANALOG_OP_IDS, ANALOG_TUPLE_EDGES, NB201_EDGES, NB201_OPS, NB201Space,
                                    format_cell, parse_cell, tuple_to_nb201)

SPACE = NB201Space()
ALL = list(SPACE.enumerate())
CELL_6111 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
cells = st.sampled_from(ALL)


def test_len_and_enumerate_agree() -> None:
    assert len(SPACE) == 15_625 == len(ALL) == len(set(ALL))


def test_string_round_trip_on_every_cell() -> None:
    strings = [SPACE.to_string(a) for a in ALL]
    assert len(set(strings)) == 15_625
    for arch, text in zip(ALL, strings):
        assert arch.string == text
        assert SPACE.from_string(text) == arch


def test_string_is_the_standard_form() -> None:
    arch = SPACE.from_ops(["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect",
                           "nor_conv_3x3", "nor_conv_1x1"])
    assert str(arch) == SPACE.to_string(arch) == CELL_6111
    assert SPACE.ops(arch) == ("nor_conv_3x3",) * 3 + ("skip_connect", "nor_conv_3x3", "nor_conv_1x1")


@settings(max_examples=40, deadline=None)
@given(arch=cells)
def test_exactly_24_neighbours_each_one_edge_away(arch) -> None:
    nbs = SPACE.neighbors(arch)
    assert len(nbs) == 24 == len(set(nbs))
    ops = SPACE.ops(arch)
    for nb in nbs:
        assert sum(x != y for x, y in zip(ops, SPACE.ops(nb))) == 1


@settings(max_examples=40, deadline=None)
@given(arch=cells)
def test_one_hot_encoding(arch) -> None:
    enc = SPACE.encode(arch)
    assert enc.shape == (30,) == (SPACE.encoding_size,)
    assert int(enc.sum()) == 6 and set(np.unique(enc)) == {0.0, 1.0}
    # each edge block of 5 has its one 1 at the op's position
    for k, op in enumerate(SPACE.ops(arch)):
        assert enc[5 * k + NB201_OPS.index(op)] == 1.0


def test_encodings_are_distinct() -> None:
    encs = {SPACE.encode(a).tobytes() for a in ALL[::7]}
    assert len(encs) == len(ALL[::7])


@pytest.mark.parametrize("bad", [
    "",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|",                                   # 2 groups
    CELL_6111 + "+|none~0|",                                                            # 4 groups
    CELL_6111.replace("nor_conv_1x1", "conv_5x5"),                                     # unknown op
    CELL_6111.replace("nor_conv_1x1~2", "nor_conv_1x1~1"),                             # wrong ~j
    CELL_6111.replace("|+|nor_conv_3x3~0|nor_conv_3x3~1|", "|+|nor_conv_3x3~0|"),     # edge missing
    CELL_6111.replace("skip_connect~0", "skip_connect"),                               # no ~j
    "not a cell",
])
def test_malformed_strings_raise_naming_the_input(bad: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        SPACE.from_string(bad)
    assert repr(bad.strip()) in str(info.value)


def test_malformed_op_list_raises() -> None:
    with pytest.raises(InvalidArchitectureError, match="6 edges"):
        SPACE.from_ops(["none"] * 5)
    with pytest.raises(InvalidArchitectureError, match="'conv_5x5'"):
        SPACE.from_ops(["none"] * 5 + ["conv_5x5"])


# -- AnalogNAS-Bench tuples ------------------------------------------------------------

def test_analog_tuple_round_trip_on_every_cell() -> None:
    tuples = set()
    for arch in ALL:
        t = SPACE.to_analog_tuple(arch)
        assert len(t) == 6 and all(0 <= x <= 4 for x in t)
        assert SPACE.from_analog_tuple(t) == arch
        tuples.add(t)
    assert len(tuples) == 15_625


def test_analog_tuple_op_ids() -> None:
    # op ids: 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avgpool
    assert SPACE.to_analog_tuple(SPACE.from_string(ALL_SKIP)) == (0,) * 6
    for op_id, op in enumerate(["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]):
        assert SPACE.ops(SPACE.from_analog_tuple((op_id,) * 6)) == (op,) * 6


def test_analog_tuple_edge_order() -> None:
    # tuple positions follow NASLib's edge order (0,1),(0,2),(0,3),(1,2),(1,3),(2,3);
    # the NB201 string lists 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    arch = SPACE.from_ops(["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect",
                           "nor_conv_3x3", "nor_conv_1x1"])
    assert SPACE.to_analog_tuple(arch) == (2, 2, 0, 2, 2, 3)


@pytest.mark.parametrize("bad, fragment", [((0, 1, 2), "has 3 entries"), ((0, 1, 2, 3, 4, 5), "op id 5 out of range"),
                                           ((0, 1, 2, 3, 4, True), "is a bool"), ("012340", "6 integer op ids")])
def test_bad_analog_tuples_are_named(bad, fragment: str) -> None:
    with pytest.raises(InvalidArchitectureError) as info:
        SPACE.from_analog_tuple(bad)
    assert fragment in str(info.value) and repr(bad) in str(info.value) and "0=skip_connect" in str(info.value)


# -- one home for each fact ---------------------------------------------------------------

def test_edges_are_the_string_order_and_the_choices() -> None:
    # (to_node, from_node) in the order of the cell string; one choice per edge, named 'to<-from'
    assert NB201_EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
    assert [c.name for c in SPACE.choices] == [f"{t}<-{f}" for t, f in NB201_EDGES]
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "none")
    assert format_cell(ops) == "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
    assert parse_cell(format_cell(ops)) == ops


def test_analog_layout_is_naslib_order_derived_from_the_edges() -> None:
    # NASLib order: by source node, then target: 0->1, 0->2, 0->3, 1->2, 1->3, 2->3
    assert ANALOG_TUPLE_EDGES == ((1, 0), (2, 0), (3, 0), (2, 1), (3, 1), (3, 2))
    assert sorted(ANALOG_TUPLE_EDGES) == sorted(NB201_EDGES)
    assert ANALOG_OP_IDS == ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
    assert set(ANALOG_OP_IDS) == set(NB201_OPS)
    # position p of the tuple is edge ANALOG_TUPLE_EDGES[p]: put op id 2 (conv3x3) on one edge at a time
    for p, edge in enumerate(ANALOG_TUPLE_EDGES):
        t = [1] * 6
        t[p] = 2
        ops = parse_cell(tuple_to_nb201(t))
        assert [e for e, op in zip(NB201_EDGES, ops) if op == "nor_conv_3x3"] == [edge]


def test_importing_the_space_imports_no_benchmark() -> None:
    import subprocess
    import sys

    code = ("import sys, nasforge.spaces.nb201; "
            "bad = [m for m in sys.modules if m.startswith('nasforge.benchmarks')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
