"""``SearchSpace.cost_features``: what a network computes, beyond the encoding (NB201: edges that run, edges that
reach the output). Checked by hand on known cells and against the real cell's forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.registry import SPACES, create_space
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.cellgraph import running_inputs
from nasforge.spaces.nb201 import CELL_COST_FEATURES, NB201_EDGES, NB201_OPS, NB201Space, cell_cost_features
from nasforge.testing import check_space

torch = pytest.importorskip("torch")

SPACE = NB201Space(C=4, N=1)


def features(cell: str) -> dict[str, float]:
    return dict(zip(SPACE.cost_feature_names, SPACE.cost_features(SPACE.parse(cell)).tolist()))


def test_a_dead_branch_runs_but_does_not_reach_the_output() -> None:
    # node 2 (pool of the input, 3x3 conv of node 1) feeds the output only through `none`: it runs op by op,
    # but nothing of it reaches the output, which is the 1x1 conv of node 1 passed on by a skip
    f = features("|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|none~0|skip_connect~1|none~2|")
    assert {k: f[f"runs:{k}"] for k in NB201_OPS} == {"none": 0, "skip_connect": 1, "nor_conv_1x1": 1,
                                                      "nor_conv_3x3": 1, "avg_pool_3x3": 1}
    assert f["runs:add"] == 1  # node 2 adds its two edges
    assert {k: f[f"reaches:{k}"] for k in NB201_OPS} == {"none": 0, "skip_connect": 1, "nor_conv_1x1": 1,
                                                         "nor_conv_3x3": 0, "avg_pool_3x3": 0}
    assert f["reaches:add"] == 0 and f["reaches:distinct_avg_pool_3x3"] == 0 and f["reaches:distinct_relu"] == 1


def test_shared_inputs_are_counted_once_where_a_runtime_merges_them() -> None:
    # three pools, all of the input; two 3x3 convs, both of node 1
    f = features("|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|")
    assert f["reaches:avg_pool_3x3"] == 3 and f["reaches:distinct_avg_pool_3x3"] == 1
    assert f["reaches:nor_conv_3x3"] == 2 and f["reaches:distinct_relu"] == 1
    assert f["runs:add"] == f["reaches:add"] == 3  # node 2: one, node 3: two


def test_an_all_none_node_is_zeros_from_its_first_edge() -> None:
    f = features("|none~0|+|none~0|none~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|")
    assert f["runs:none"] == 2 and f["reaches:none"] == 2  # nodes 1 and 2 are zeros, and both feed the output
    assert f["reaches:add"] == 2 and f["reaches:nor_conv_1x1"] == 1
    assert running_inputs(SPACE.ops(SPACE.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")),
                          NB201_EDGES) == [[(0, 0)], [(1, 0)], [(3, 0)]]


def test_runs_counts_what_the_cell_computes_and_reaches_what_the_output_depends_on() -> None:
    """On 40 random cells: the operations the real cell calls in its forward pass are ``runs:*``; those whose
    output the cell's output has a gradient through are ``reaches:*``."""
    from nasforge.spaces.nn import NB201Cell

    rng = np.random.default_rng(0)
    x = torch.randn(1, 4, 6, 6)
    for _ in range(40):
        arch = SPACE.sample(rng)
        ops = SPACE.ops(arch)
        cell = NB201Cell(ops, 4, NB201_EDGES)
        outputs: dict[int, torch.Tensor] = {}
        def keep(k: int, output: torch.Tensor) -> torch.Tensor:
            outputs[k] = output.clone()  # a tensor of its own, also for skip_connect (which returns its input)
            return outputs[k]

        for k, layer in enumerate(cell.layers):
            layer.register_forward_hook(lambda m, i, o, k=k: keep(k, o))
        inp = x.clone().requires_grad_()
        out = cell(inp)
        for o in outputs.values():
            o.retain_grad()
        out.sum().backward()
        f = dict(zip(CELL_COST_FEATURES, cell_cost_features(ops)))
        for op in NB201_OPS:
            ran = [k for k in outputs if ops[k] == op]
            reached = [k for k in ran if outputs[k].grad is not None]
            assert f[f"runs:{op}"] == len(ran), (SPACE.to_string(arch), op)
            assert f[f"reaches:{op}"] == len(reached), (SPACE.to_string(arch), op)


def test_every_registered_space_keeps_the_cost_features_contract() -> None:
    for name in SPACES.list():
        space = create_space(name)
        assert len(space.cost_feature_names) == len(set(space.cost_feature_names))
        check_space(space, n=5)
    assert SearchSpace([categorical("a", (1, 2))]).cost_features(
        SearchSpace([categorical("a", (1, 2))]).make({"a": 1})).shape == (0,)


def test_check_space_catches_a_wrong_cost_feature_count() -> None:
    class Broken(NB201Space):
        def cost_features(self, arch):  # one column short
            return super().cost_features(arch)[:-1]

    with pytest.raises(AssertionError, match="cost_features"):
        check_space(Broken(), n=2)
