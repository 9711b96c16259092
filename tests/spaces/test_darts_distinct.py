"""The DARTS space with distinct cells (D-DARTS): one genotype per layer; the shared default is unchanged."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nasforge.data.task import Task
from nasforge.errors import ConfigError
from nasforge.spaces.base import InvalidArchitectureError
from nasforge.spaces.darts import DARTS_OPS, DARTS_V2, DartsSpace
from nasforge.testing import check_space

LAYERS = 5
SPACE = DartsSpace(C=4, layers=LAYERS, distinct_cells=True)
PER_CELL = 1 * 3 * 6 * 10 * 8 ** 8  # input pairs per node (1, 3, 6, 10) times 8 ops per edge


def make_task(shape: tuple[int, ...], num_classes: int = 10) -> Task:
    X = np.zeros((2, *shape), np.float32)
    y = np.zeros(2, np.int64)
    return Task(name="t", X_train=X, y_train=y, X_val=X, y_val=y, X_test=X, y_test=y, num_classes=num_classes)


def uniform(op: str) -> list[tuple[str, int]]:
    """A cell whose 8 edges all use ``op`` (each node on inputs 0 and 1)."""
    return [(op, 0), (op, 1)] * 4


# -- the space ------------------------------------------------------------------------


def test_cell_types_choices_and_size() -> None:
    assert SPACE.cell_types == ("cell0", "cell1", "cell2", "cell3", "cell4")
    names = [c.name for c in SPACE.choices]
    assert len(names) == len(set(names)) == LAYERS * 4 * 4
    expected = [f"cell{i}.n{k}.{x}" for i in range(LAYERS) for k in range(4) for x in ("in0", "op0", "in1", "op1")]
    assert names == expected
    assert SPACE.layout.choice("cell4.n3.in0").options == (0, 1, 2, 3, 4)
    assert SPACE.layout.choice("cell2.n0.in1").options == (0, 1)
    assert SPACE.layout.choice("cell1.n2.op1").options == DARTS_OPS
    assert SPACE.size() == PER_CELL ** LAYERS
    assert DartsSpace(layers=3, distinct_cells=True).size() == PER_CELL ** 3
    assert DartsSpace(layers=8).size() == PER_CELL ** 2  # shared: independent of layers
    first = list(itertools.islice(SPACE.enumerate(), 30))
    assert len(set(first)) == 30 and all(SPACE.contains(a) for a in first)


def test_meets_the_space_contract() -> None:
    check_space(SPACE, n=10)


def test_reduction_layers_and_cell_of_layer() -> None:
    from nasforge.spaces.nn.cells import darts_reduction_layers

    assert SPACE.reduction_layers() == darts_reduction_layers(LAYERS) == (1, 3)
    assert [SPACE.cell_of_layer(i) for i in range(LAYERS)] == list(SPACE.cell_types)
    shared = DartsSpace(layers=8)
    assert shared.cell_types == ("normal", "reduce")
    assert shared.reduction_layers() == (2, 5)
    assert [shared.cell_of_layer(i) for i in range(8)] == ["normal", "normal", "reduce", "normal", "normal",
                                                           "reduce", "normal", "normal"]
    assert [darts_reduction_layers(n) for n in range(5)] == [(), (0,), (0, 1), (1, 2), (1, 2)]
    with pytest.raises(ConfigError, match=r"layer must be an integer in \[0, 4\], got 5"):
        SPACE.cell_of_layer(5)
    with pytest.raises(ValueError, match="layers must be an integer >= 0, got -1"):
        darts_reduction_layers(-1)


def test_options_are_stored_and_checked() -> None:
    params = SPACE.get_params()
    assert params == {"C": 4, "layers": LAYERS, "stem_multiplier": 3, "drop_path": 0.0, "distinct_cells": True}
    assert DartsSpace(**params).choices == SPACE.choices
    # the default is left out: a shared space records the configuration it always did
    assert "distinct_cells" not in DartsSpace().get_params()
    assert DartsSpace(distinct_cells=np.bool_(True)).distinct_cells is True
    for bad in (1, "yes", None):
        with pytest.raises(ConfigError, match=r"distinct_cells must be True or False, got"):
            DartsSpace(distinct_cells=bad)
    with pytest.raises(ConfigError, match=r"distinct_cells=True: layers must be an integer >= 1, got 0"):
        DartsSpace(layers=0, distinct_cells=True)


def test_genotype_from_cells_and_string_round_trip() -> None:
    cells = {f"cell{i}": uniform(op) for i, op in enumerate(DARTS_OPS[:LAYERS])}
    arch = SPACE.from_cells(cells)
    assert SPACE.genotype(arch) == cells
    text = SPACE.to_string(arch)
    assert text.startswith("cell0=[(none,0),(none,1),") and text.count(";") == LAYERS - 1
    assert str(arch) == text and SPACE.from_string(text) == arch == SPACE.parse(text)
    assert SPACE.from_json(SPACE.to_json(arch)) == arch
    # a node's pairs may come in either order; they are stored sorted by input
    swapped = dict(cells, cell2=[("skip_connect", 1), ("none", 0)] + cells["cell2"][2:])
    assert SPACE.genotype(SPACE.from_cells(swapped))["cell2"][:2] == [("none", 0), ("skip_connect", 1)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = SPACE.sample(rng)
        assert SPACE.from_string(str(a)) == a
        assert SPACE.from_cells(SPACE.genotype(a)) == a


def test_neighbors_and_moves_cover_every_cell() -> None:
    arch = SPACE.sample(np.random.default_rng(1))
    nbs = SPACE.neighbors(arch)
    assert len(nbs) == len(set(nbs)) == 68 * LAYERS
    changed = set()
    for nb in nbs:
        diff = [c for c in SPACE.cell_types if SPACE.genotype(nb)[c] != SPACE.genotype(arch)[c]]
        assert len(diff) == 1
        changed.add(diff[0])
    assert changed == set(SPACE.cell_types)
    rng = np.random.default_rng(2)
    mutated = {c for _ in range(100) for c in SPACE.cell_types
               if SPACE.genotype(SPACE.mutate(arch, rng))[c] != SPACE.genotype(arch)[c]}
    assert mutated == set(SPACE.cell_types)


@pytest.mark.parametrize("make_text, message", [
    (lambda: DARTS_V2, r"shared-cell form \(normal=\.\.\.\), but this DartsSpace has distinct cells"),
    (lambda: "Genotype(normal=[('none', 0)], reduce=[])", r"shared-cell form.*distinct cells"),
    (lambda: ";".join(f"cell{i}=[" + ",".join(f"({o},{s})" for o, s in uniform("none")) + "]"
                      for i in range(LAYERS - 1)), r"no 'cell4' cell; expected 'cell0=\["),
    (lambda: str(SPACE.sample(np.random.default_rng(0))).replace("cell4=", "cell7="),
     r"unknown cell 'cell7'.*5 layers, cells cell0, cell1, \.\.\., cell4"),
    (lambda: str(SPACE.sample(np.random.default_rng(0))).replace("cell2=", "cel2="), r"bad field 'cel2=\["),
    (lambda: str(SPACE.sample(np.random.default_rng(0))) + ";cell0=[]", r"'cell0' given twice"),
])
def test_wrong_strings_in_a_distinct_space_name_the_form(make_text, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message):
        SPACE.from_string(make_text())


def test_node_errors_name_the_cell() -> None:
    cells = {c: uniform("none") for c in SPACE.cell_types}
    bad = dict(cells, cell3=uniform("none")[:6] + [("sep_conv_7x7", 0), ("none", 1)])
    with pytest.raises(InvalidArchitectureError, match=r"unknown op 'sep_conv_7x7' at node 3 of cell3"):
        SPACE.from_cells(bad)
    bad = dict(cells, cell1=uniform("none")[:7])
    with pytest.raises(InvalidArchitectureError, match=r"cell1 has 7 \(op, input\) pairs; expected 8"):
        SPACE.from_cells(bad)


def test_a_distinct_string_in_a_shared_space_is_refused() -> None:
    text = str(SPACE.sample(np.random.default_rng(3)))
    with pytest.raises(InvalidArchitectureError,
                       match=r"distinct-cells form \(cell0=\.\.\.\), but this DartsSpace shares one normal and one "
                             r"reduce cell \(distinct_cells=False\); expected 'normal=\["):
        DartsSpace().from_string(text)


def test_from_cells_and_from_genotype_check_the_keys() -> None:
    cells = {c: uniform("none") for c in SPACE.cell_types}
    with pytest.raises(InvalidArchitectureError, match=r"no genotype for cell\(s\) 'cell4'.*keys cell0, cell1, "):
        SPACE.from_cells({k: v for k, v in cells.items() if k != "cell4"})
    with pytest.raises(InvalidArchitectureError, match=r"unknown cell key\(s\) 'normal'.*accepted keys: cell0"):
        SPACE.from_cells(dict(cells, normal=uniform("none")))
    with pytest.raises(InvalidArchitectureError, match=r"from_genotype\(normal, reduce\).*use from_cells"):
        SPACE.from_genotype(uniform("none"), uniform("none"))
    shared = DartsSpace()
    with pytest.raises(InvalidArchitectureError, match=r"unknown cell key\(s\) 'cell0'.*accepted keys: normal, "
                                                       r"reduce"):
        shared.from_cells({"cell0": uniform("none"), "normal": uniform("none"), "reduce": uniform("none")})
    assert shared.from_cells({"normal": uniform("none"), "reduce": uniform("max_pool_3x3")}) == \
        shared.from_genotype(uniform("none"), uniform("max_pool_3x3"))


def test_default_mode_is_unchanged() -> None:
    shared = DartsSpace()
    v2 = shared.from_string(DARTS_V2)
    assert str(v2) == shared.to_string(v2) == DARTS_V2
    assert shared.size() == PER_CELL ** 2
    assert len(shared.choices) == 32 and shared.choices[0].name == "normal.n0.in0"
    assert shared.get_params() == {"C": 16, "layers": 8, "stem_multiplier": 3, "drop_path": 0.0}
    assert DartsSpace(distinct_cells=False).choices == shared.choices
    assert set(shared.genotype(v2)) == {"normal", "reduce"}


# -- the network ------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def test_each_layer_builds_its_own_cell() -> None:
    space = DartsSpace(C=4, layers=4, distinct_cells=True)
    ops = ["sep_conv_3x3", "max_pool_3x3", "dil_conv_5x5", "avg_pool_3x3"]
    arch = space.from_cells({f"cell{i}": uniform(op) for i, op in enumerate(ops)})
    net = space.build(arch, make_task((1, 8, 8), 3))
    kinds = {"sep_conv_3x3": "SepConv", "max_pool_3x3": "Pool", "dil_conv_5x5": "DilConv", "avg_pool_3x3": "Pool"}
    for i, op in enumerate(ops):
        assert [type(m).__name__ for m in net.cells[i]._ops] == [kinds[op]] * 8
    assert net.cells[1]._ops[0].op.__class__.__name__ == "MaxPool2d"
    assert net.cells[3]._ops[0].op.__class__.__name__ == "AvgPool2d"
    assert [i for i, c in enumerate(net.cells) if c.reduction] == list(space.reduction_layers()) == [1, 2]
    out = net(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_module_names_are_the_shared_networks() -> None:
    task = make_task((1, 8, 8), 3)
    distinct = DartsSpace(C=4, layers=5, distinct_cells=True)
    shared = DartsSpace(C=4, layers=5)
    v2 = shared.from_string(DARTS_V2)
    geno = shared.genotype(v2)
    same = distinct.from_cells({c: geno[shared.cell_of_layer(i)] for i, c in enumerate(distinct.cell_types)})
    torch.manual_seed(0)
    a = distinct.build(same, task)
    torch.manual_seed(0)
    b = shared.build(v2, task)
    assert [n for n, _ in a.named_modules()] == [n for n, _ in b.named_modules()]
    assert {"stem", "cells.0.preprocess0", "cells.0.preprocess1", "cells.4._ops.7", "global_pooling",
            "classifier"} <= {n for n, _ in a.named_modules()}
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    x = torch.randn(2, 1, 8, 8)
    a.eval()
    b.eval()
    assert torch.equal(a(x), b(x))


def test_sampled_networks_run() -> None:
    space = DartsSpace(C=2, layers=5, distinct_cells=True)
    for seed in range(2):
        net = space.build(space.sample(np.random.default_rng(seed)), make_task((3, 6, 6), 4))
        assert net(torch.randn(3, 3, 6, 6)).shape == (3, 4)


def test_darts_network_takes_genotypes_per_layer() -> None:
    from nasforge.spaces.nn.cells import DartsNetwork

    genos = [uniform("skip_connect"), uniform("max_pool_3x3"), uniform("sep_conv_3x3")]
    net = DartsNetwork(None, None, 2, 3, 1, 2, cell_genotypes=genos)
    assert [c.reduction for c in net.cells] == [False, True, True]
    with pytest.raises(ValueError, match="2 genotypes for 3 layers"):
        DartsNetwork(None, None, 2, 3, 1, 2, cell_genotypes=genos[:2])
    with pytest.raises(ValueError, match="either normal and reduce, or cell_genotypes"):
        DartsNetwork(genos[0], genos[1], 2, 3, 1, 2, cell_genotypes=genos)
    with pytest.raises(ValueError, match="needs the normal and reduce genotypes"):
        DartsNetwork(None, genos[1], 2, 3, 1, 2)
