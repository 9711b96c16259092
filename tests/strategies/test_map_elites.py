"""MAP-Elites: contract, archive invariants (one elite per cell, the best seen there), re-binning, quality."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.map_elites import ARCH_DESCRIPTORS, MAPElites, changed_from_first, mean_option_index
from nasforge.strategies.random import RandomSearch
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

GRID = SearchSpace([categorical(f"c{i}", range(5)) for i in range(6)], name="grid-6x5")
_W = np.random.default_rng(3).normal(size=(6, 5))


def evaluate(arch: Architecture, fail: bool = False) -> Result:
    """Score: a random table per choice; metrics 'params' (continuous) and 'width' (sum of options)."""
    x = [int(arch[f"c{i}"]) for i in range(6)]
    score = float(sum(_W[i, v] for i, v in enumerate(x)))
    params = float(sum((v + 1) ** 1.5 for v in x))
    if fail:
        return Result.failure("x")
    return Result(metrics={"params": params, "width": float(sum(x))}, value=score)


def tiny() -> SearchSpace:
    return SearchSpace([categorical(f"c{i}", range(3)) for i in range(2)], name="tiny")


def with_size(space: SearchSpace) -> Callable[[Architecture], Result]:
    linear = linear_evaluator(space)

    def ev(arch: Architecture) -> Result:
        r = linear(arch)
        return Result(metrics={**r.metrics, "size": float(len(str(arch)))}, value=r.value)

    return ev


@pytest.mark.parametrize("space", [NB201Space(), toy_space(), tiny()], ids=lambda s: s.name)
@pytest.mark.parametrize("options", [{}, {"descriptors": "size,active_choices", "bins": [3, 2],
                                          "crossover_prob": 0.5, "tournament_size": 1, "n_init": 3}],
                         ids=["default", "metric-descriptors"])
def test_meets_contract(space: SearchSpace, options: dict[str, Any]) -> None:
    check_strategy(lambda sp, seed: MAPElites(sp, seed=seed, **options), space, with_size(space), n=40)


def check_archive(me: MAPElites, told: list[tuple[Architecture, Result]]) -> None:
    """Each cell holds one elite: the best result seen in that cell under the current bins (earliest on ties)."""
    best: dict[tuple[int, ...], tuple[Architecture, float]] = {}
    for arch, r in told:
        if not r.ok:
            continue
        c = me.cell(me.describe(arch, r))
        if c not in best or r.value > best[c][1]:
            best[c] = (arch, r.value)
    archive = me.archive()
    assert set(archive) == set(best)
    for c, (arch, obj, desc) in archive.items():
        assert (arch, obj) == best[c]
        assert me.cell(desc) == c
    # at most one elite per cell, and the elites are distinct architectures
    assert len({GRID.key(a) for a, _, _ in archive.values()}) == len(archive)


@pytest.mark.parametrize("options", [
    {},
    {"descriptors": ["params", "width"], "bins": 6},
    {"descriptors": "params,changed_from_first", "bins": [4, 3], "bounds": [(5, 60), None]},
    {"descriptors": "width,changed_from_first", "bounds": [(0, 24), (0, 6)], "crossover_prob": 0.5},
])
def test_each_cell_holds_the_best_seen_there(options: dict[str, Any]) -> None:
    me = MAPElites(GRID, seed=4, **options)
    told = []
    for i in range(120):
        arch = me.ask()
        r = evaluate(arch, fail=i % 7 == 3)
        me.tell(arch, r)
        told.append((arch, r))
        check_archive(me, told)  # also right after learned bounds grow and the archive is re-binned
    best_arch, best_obj = me.best()
    assert best_obj == max(r.value for _, r in told if r.ok)
    assert best_obj == max(obj for _, obj, _ in me.archive().values())
    assert len(me.archive()) > 5  # illuminated: many kinds of architecture


def test_learned_bounds_grow_and_rebin() -> None:
    me = MAPElites(GRID, seed=0, descriptors="width,params", bins=2)
    first = GRID.make({f"c{i}": 2 for i in range(6)})
    me.tell(first, evaluate(first))
    assert list(me.archive()) == [(0, 0)]  # one value seen: zero-width bounds, one cell
    low = GRID.make({f"c{i}": 0 for i in range(6)})
    high = GRID.make({f"c{i}": 4 for i in range(6)})
    me.tell(low, evaluate(low))
    me.tell(high, evaluate(high))
    top = 6 * 5 ** 1.5  # params of the all-4 architecture; the all-0 one has 6
    edges = me.bin_edges()
    assert edges[0].tolist() == [0.0, 12.0, 24.0] and edges[1] == pytest.approx([6.0, (6 + top) / 2, top])
    assert {c: a for c, (a, _, _) in me.archive().items()} == {(0, 0): low, (1, 0): first, (1, 1): high}


def test_given_bounds_clip_to_the_edge_bins() -> None:
    me = MAPElites(GRID, seed=0, descriptors="width,params", bins=3, bounds=[(6, 12), (10, 20)])
    for v in (0, 4):
        arch = GRID.make({f"c{i}": v for i in range(6)})
        me.tell(arch, evaluate(arch))
    assert set(me.archive()) == {(0, 0), (2, 2)}
    assert [e.tolist() for e in me.bin_edges()] == [[6.0, 8.0, 10.0, 12.0], [10.0, 40 / 3, 50 / 3, 20.0]]


def test_failures_and_pending() -> None:
    me = MAPElites(GRID, seed=1, n_init=4)
    for _ in range(6):
        me.tell(me.ask(), Result.failure("x"))
    assert me.archive() == {} and me.best() is None
    for _ in range(8):  # rounds of pending proposals told in reverse, some failing
        batch = [me.ask() for _ in range(5)]
        assert len({GRID.key(a) for a in batch}) == 5
        for j, arch in enumerate(reversed(batch)):
            me.tell(arch, evaluate(arch, fail=j == 0))
    assert me.archive() and me.best() is not None


def test_children_come_from_elites() -> None:
    me = MAPElites(GRID, seed=2, n_init=5, crossover_prob=0.0)
    for _ in range(5):
        arch = me.ask()
        me.tell(arch, evaluate(arch))
    for _ in range(30):
        elites = [a for a, _, _ in me.archive().values()]
        child = me.ask()
        assert any(child in GRID.neighbors(e) for e in elites)
        me.tell(child, evaluate(child))


def test_architecture_descriptors() -> None:
    space = NB201Space()
    arch = space.from_string("|none~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|")
    assert changed_from_first(space, arch) == 3.0  # edges not 'none'
    assert mean_option_index(space, arch) == pytest.approx((0 + 1 + 0 + 3 + 0 + 4) / 4 / 6)
    toy = toy_space()
    a = toy.sample(np.random.default_rng(0))
    assert ARCH_DESCRIPTORS["active_choices"](toy, a) == len(a.choices)


# -- better than random on the hidden-target space of tests/strategies/test_search_quality.py
HIDDEN = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")


def successes(factory: Callable[[int], Any], seeds: range = range(20), budget: int = 40) -> int:
    """The hidden-target test (:func:`nasforge.testing.count_target_found`) for ``factory(seed)``."""
    return count_target_found(lambda space, seed: factory(seed), seeds, budget)


def test_beats_random_search() -> None:
    rs = successes(lambda seed: RandomSearch(HIDDEN, seed=seed))
    assert successes(lambda seed: MAPElites(HIDDEN, seed=seed)) >= max(2 * rs, rs + 6)


@pytest.mark.parametrize(("options", "needle"), [
    ({"descriptors": "params"}, "descriptors must be two or more distinct names"),
    ({"descriptors": ["a", "a"]}, r"got \['a', 'a'\]"),
    ({"descriptors": 5}, "got 5"),
    ({"bins": 0}, "bins must be an integer >= 1, got 0"),
    ({"bins": [3]}, r"bins must be one integer or one per descriptor \(2\), got \[3\]"),
    ({"bounds": [(0, 1)]}, r"bounds must be None or one \(low, high\) pair"),
    ({"bounds": [(1, 0), None]}, r"got \[\(1, 0\), None\]"),
    ({"n_init": 0}, "n_init must be an integer >= 1, got 0"),
    ({"crossover_prob": 2}, r"crossover_prob must be a number in \[0, 1\], got 2"),
    ({"tournament_size": 0}, "tournament_size must be an integer >= 1, got 0"),
])
def test_invalid_options(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        MAPElites(tiny(), seed=0, **options)


def test_unknown_descriptor_metric() -> None:
    me = MAPElites(GRID, seed=0, descriptors="params,latency")
    arch = me.ask()
    with pytest.raises(ValueError, match="descriptor 'latency' is neither among the metrics"):
        me.tell(arch, evaluate(arch))


def test_non_finite_descriptor_takes_no_cell() -> None:
    me = MAPElites(GRID, seed=0, descriptors="params,width")
    arch = me.ask()
    me.tell(arch, Result(metrics={"params": float("nan"), "width": 3.0}, value=1.0))
    assert me.archive() == {} and me.best() == (arch, 1.0)
