"""Monte Carlo tree search: contract, tree levels over active choices, UCT, no repeats, pending trials."""

from __future__ import annotations

from typing import Any

import pytest

from nasforge.registry import create_space
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.mcts import MCTS
from nasforge.strategies.random import RandomSearch
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

HIDDEN = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")


def factory(**options: Any):
    return lambda space, seed: MCTS(space, seed=seed, **options)


@pytest.mark.parametrize("options", [{}, {"c": 0.0}, {"c": 3.0}], ids=["default", "c=0", "c=3"])
@pytest.mark.parametrize("space", [NB201Space(), toy_space()], ids=["nb201", "toy"])
def test_meets_contract(options: dict[str, Any], space: SearchSpace) -> None:
    check_strategy(factory(**options), space, linear_evaluator(space), n=40)


def test_meets_contract_on_exhaustible_space(tiny_space: SearchSpace) -> None:
    check_strategy(factory(), tiny_space, linear_evaluator(tiny_space), n=30)


def test_space_with_validity_rule() -> None:
    # DARTS cells: random completions are nearly always invalid; proposals stay valid and seeded
    space = create_space("darts")
    evaluate = linear_evaluator(space)
    a, b = MCTS(space, seed=1), MCTS(space, seed=1)
    for _ in range(3):
        x, y = a.ask(), b.ask()
        assert x == y and space.contains(x)
        a.tell(x, evaluate(x))
        b.tell(y, evaluate(y))


def successes(make: Any, seeds: range = range(20), budget: int = 40) -> int:
    """The hidden-target test of test_search_quality.py (4 choices x 4 options, score = matches)."""
    return count_target_found(lambda space, seed: make(seed), seeds, budget)


def test_beats_random_search() -> None:
    random = successes(lambda seed: RandomSearch(HIDDEN, seed=seed))
    assert successes(lambda seed: MCTS(HIDDEN, seed=seed)) >= 2 * random


# -- the tree ----------------------------------------------------------------------------------

def test_levels_follow_the_active_choices() -> None:
    space = toy_space()
    s = MCTS(space, seed=0)
    evaluate = linear_evaluator(space)
    for _ in range(30):
        arch = s.ask()
        s.tell(arch, evaluate(arch))
    names = [c.name for c in space.choices]

    def walk(node: Any, values: dict[str, Any]) -> None:
        if node.choice < 0:
            assert space.contains(space.make(values))
            return
        ch = space.choices[node.choice]
        # the node's choice is the first active choice after its parent's
        assert ch.when is None or values[ch.when[0]] in ch.when[1]
        later = [c for c in space.choices[:node.choice] if c.name not in values]
        assert all(c.when is not None and values.get(c.when[0]) not in c.when[1] for c in later)
        for option, child in node.children.items():
            walk(child, {**values, ch.name: option})

    walk(s.root, {})
    assert s.root.choice == names.index("stem")
    assert s.root.n == 30


def test_expands_every_option_before_selecting() -> None:
    s = MCTS(HIDDEN, seed=0)
    first = [s.ask() for _ in range(4)]
    assert sorted(a["c0"] for a in first) == [0, 1, 2, 3]


def test_uct_without_exploration_follows_the_best_mean() -> None:
    s = MCTS(HIDDEN, seed=0, c=0.0)
    for _ in range(4):
        arch = s.ask()
        s.tell(arch, Result(value=10.0 if arch["c0"] == 2 else float(arch["c1"])))
    # every option of c0 is visited once; the greedy descent takes c0 = 2 from now on
    for _ in range(5):
        arch = s.ask()
        assert arch["c0"] == 2
        s.tell(arch, Result(value=10.0))


def test_never_repeats_until_exhausted() -> None:
    s = MCTS(HIDDEN, seed=0)
    evaluate = linear_evaluator(HIDDEN)
    keys = set()
    for _ in range(256):
        arch = s.ask()
        keys.add(HIDDEN.key(arch))
        s.tell(arch, evaluate(arch))
    assert len(keys) == 256 and s.root.done
    assert HIDDEN.contains(s.ask())  # exhausted: a repeat, not StopIteration


def test_pending_asks_are_distinct_and_counted(tiny_space: SearchSpace) -> None:
    s = MCTS(tiny_space, seed=2)
    batch = [s.ask() for _ in range(9)]
    assert len({tiny_space.key(a) for a in batch}) == 9
    assert s.root.pending == 9
    for arch in batch:
        s.tell(arch, Result(value=1.0))
    assert s.root.pending == 0 and s.root.n == 9


def test_failures_count_as_the_worst_result() -> None:
    s = MCTS(HIDDEN, seed=0, c=0.0)
    values = {0: 5.0, 1: 3.0, 2: None, 3: 4.0}
    for _ in range(4):
        arch = s.ask()
        v = values[int(arch["c0"])]
        s.tell(arch, Result(value=v) if v is not None else Result.failure("x"))
    failed = s.root.children[2]
    assert failed.failed == 1 and failed.n == 0
    assert s._z(failed) == pytest.approx(s._z(s.root.children[1]))  # as bad as the worst (3.0)
    assert s.ask()["c0"] == 0


def test_told_architectures_it_did_not_ask_join_the_tree() -> None:
    s = MCTS(HIDDEN, seed=0)
    arch = HIDDEN.make({"c0": 1, "c1": 2, "c2": 3, "c3": 0})
    s.tell(arch, Result(value=1.0))
    node = s.root
    for i, v in enumerate((1, 2, 3, 0)):
        node = node.children[v]
        assert node.n == 1
    assert node.done and node.choice == -1


# -- options -------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", [-1, float("inf"), "1", True, None])
def test_invalid_c(c: Any, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=f"c must be a number >= 0, got {c!r}"):
        MCTS(tiny_space, seed=0, c=c)


def test_options_are_stored_unchanged(tiny_space: SearchSpace) -> None:
    s = MCTS(tiny_space, seed=5, c=1.5)
    assert s.get_params() == {"seed": 5, "c": 1.5}
    again = MCTS(tiny_space, **s.get_params())
    assert [again.ask() for _ in range(3)] == [s.ask() for _ in range(3)]
