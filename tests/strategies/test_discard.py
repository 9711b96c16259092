"""``Strategy.discard``: withdrawing a proposal that will not be evaluated, for every strategy."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nasforge.registry import STRATEGIES
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.strategies.adaptive import AdaptiveEvolution
from nasforge.strategies.hyperband import Hyperband
from nasforge.strategies.local import LocalSearch
from nasforge.strategies.mcts import MCTS
from nasforge.strategies.nao import NAO
from nasforge.strategies.random import RandomSearch
from nasforge.strategies.training_free import TrainingFreeSearch
from nasforge.testing import linear_evaluator, toy_space

GRID = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="grid-4x4")

#: per strategy, the attribute holding its per-proposal bookkeeping (empty when nothing is outstanding)
BOOKKEEPING = {"hyperband": "_slots", "bohb": "_slots", "mcts": "_asked", "adaptive-ea": "_made", "local": "_open",
               "nao": "_moved", "robot": "_bo_flags", "prescreen": "_fidelities"}


class Recording(RandomSearch):
    name = "recording"

    def __init__(self, space: SearchSpace, seed: int | None = None) -> None:
        super().__init__(space, seed)
        self.discarded: list[Architecture] = []

    def _discard(self, arch: Architecture) -> None:
        self.discarded.append(arch)


def test_discard_removes_from_pending_and_calls_the_hook() -> None:
    s = Recording(GRID, seed=0)
    a, b = s.ask(), s.ask()
    s.discard(GRID.from_json(GRID.to_json(a)))  # a record of it (a new object) is enough
    assert set(s.pending) == {GRID.key(b)} and s.discarded == [a]
    s.discard(a)  # not outstanding any more: only the hook sees it
    assert set(s.pending) == {GRID.key(b)}
    s.tell(b, Result(value=1.0))
    assert not s.pending and s.n_asked == 2 and s.n_told == 1


def test_the_default_hook_does_nothing() -> None:
    s = RandomSearch(GRID, seed=0)
    a = s.ask()
    s.discard(a)
    assert not s.pending and s.ask() != a  # the next proposal is the next seeded draw


@pytest.mark.parametrize("name", STRATEGIES.list())
def test_every_strategy_survives_discards(name: str,
                                          needed_options: Callable[[str, SearchSpace], dict[str, Any]]) -> None:
    # rounds of 3 asks, 2 of them withdrawn (latest first), the third told: nothing stays outstanding
    space = toy_space()
    evaluate = linear_evaluator(space)
    options = {**needed_options(name, space), **({"n_init": 4, "train_steps": 10} if name == "nao" else {}),
               **({"pool_size": 100, "n_candidates": 50, "bo_queries": 4} if name == "robot" else {})}
    s = STRATEGIES.get(name)(space, seed=0, **options)
    for _ in range(12):
        batch = [s.ask() for _ in range(3)]
        fid = s.fidelity(batch[0]) if s.multi_fidelity else None
        for arch in reversed(batch[1:]):
            s.discard(arch)
        if space.key(batch[0]) not in {space.key(a) for a in batch[1:]}:
            assert set(s.pending) == {space.key(batch[0])}
        result = evaluate(batch[0])
        s.tell(batch[0], Result(result.metrics, result.value, fidelity=fid))
        assert not s.pending
    if name in BOOKKEEPING:
        assert not getattr(s, BOOKKEEPING[name])


def test_hyperband_refills_a_rung_and_offers_a_withdrawn_promotion_again() -> None:
    s = Hyperband(GRID, seed=0, min_fidelity=1, max_fidelity=3)  # brackets [(3, 1), (1, 3)], [(2, 3)]
    first = [s.ask() for _ in range(3)]
    s.discard(first[2])
    rung = s._open[0].rungs[0]
    assert [e.arch for e in rung.entries] == first[:2] and GRID.key(first[2]) not in s._slots
    third = s.ask()  # the place is filled again, in the same bracket
    assert [e.arch for e in rung.entries] == [*first[:2], third] and len(s._open) == 1
    for arch, value in zip([*first[:2], third], [1.0, 3.0, 2.0]):
        s.tell(arch, Result(value=value, fidelity=1.0))
    promoted = s.ask()
    assert promoted == first[1] and s.fidelity(promoted) == 3.0  # the best goes up
    s.discard(promoted)
    assert not s._open[0].rungs[1].entries
    again = s.ask()
    assert again == promoted and s.fidelity(again) == 3.0


def test_local_search_queues_a_withdrawn_neighbour_again() -> None:
    s = LocalSearch(GRID, seed=0)
    start = s.ask()
    s.tell(start, Result(value=0.0))
    a, b = s.ask(), s.ask()
    s.discard(b)
    s.discard(a)
    assert not s._open
    assert [s.ask(), s.ask()] == [a, b]  # the same neighbours, in the same order


def test_mcts_gives_the_visit_back_and_reopens_the_leaf() -> None:
    s = MCTS(GRID, seed=0)
    arch = s.ask()
    nodes = s._path(arch.as_dict())
    assert nodes[-1].done and s.root.pending == 1
    s.discard(arch)
    assert not nodes[-1].done and all(n.pending == 0 for n in nodes) and not s._asked


def test_nao_gives_the_turn_back() -> None:
    s = NAO(GRID, seed=0, n_init=4, train_steps=10)
    for _ in range(4):
        arch = s.ask()
        s.tell(arch, Result(value=float(arch["c0"])))
    moves = s._moves
    a, b = s.ask(), s.ask()
    assert s._moves == moves + 2
    s.discard(b)
    s.discard(a)
    assert s._moves == moves and not s._moved


def test_adaptive_evolution_forgets_the_operator_of_a_withdrawn_child() -> None:
    s = AdaptiveEvolution(GRID, seed=0, population_size=3, sample_size=2)
    for _ in range(3):
        arch = s.ask()
        s.tell(arch, Result(value=float(arch["c1"])))
    child = s.ask()
    assert GRID.key(child) in s._made
    s.discard(child)
    assert not s._made and not s.pending_operators()


def test_naswot_puts_a_withdrawn_proposal_back_in_front() -> None:
    s = TrainingFreeSearch(GRID, seed=0, scorer=lambda a: float(np.sum(GRID.encode(a) * np.arange(16))), n_samples=6)
    a, b, c = s.ask(), s.ask(), s.ask()
    s.discard(c)
    s.discard(b)
    assert [s.ask(), s.ask()] == [b, c]
