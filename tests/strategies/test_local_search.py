"""Local search: climbs to the optimum of a unimodal landscape, then restarts."""

from __future__ import annotations

import pytest

from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.strategies.local import LocalSearch

# 4 choices x 3 options (81 architectures); distance to a target weighted so that
# no two neighbours of an architecture tie: every non-optimal architecture has a
# strictly better neighbour, so the landscape is unimodal
SPACE = SearchSpace([categorical(f"c{i}", range(3)) for i in range(4)], name="unimodal")
TARGET = (2, 0, 1, 2)
WEIGHTS = (1.0, 1.1, 1.2, 1.3)
OPTIMUM = SPACE.make({f"c{i}": t for i, t in enumerate(TARGET)})


def score(arch: Architecture) -> float:
    return -sum(w * abs(int(arch[f"c{i}"]) - t) for i, (t, w) in enumerate(zip(TARGET, WEIGHTS)))


def run(mode: str, seed: int, steps: int) -> tuple[list[Architecture], list[Architecture | None]]:
    """Proposals, and the current architecture (the climber's position) after each tell."""
    strategy = LocalSearch(SPACE, seed=seed, mode=mode)
    proposals, currents = [], []
    for _ in range(steps):
        arch = strategy.ask()
        strategy.tell(arch, Result(value=score(arch)))
        proposals.append(arch)
        currents.append(None if strategy._current is None else strategy._current[0])
    return proposals, currents


def positions(currents: list[Architecture | None]) -> list[Architecture | None]:
    """The sequence of distinct positions (None marks a restart)."""
    out: list[Architecture | None] = []
    for c in currents:
        if not out or c != out[-1]:
            out.append(c)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_best_mode_climbs_to_the_optimum_then_restarts(seed: int) -> None:
    proposals, currents = run("best", seed, 80)
    path = positions(currents)
    assert OPTIMUM in proposals
    first = path.index(OPTIMUM)
    # from the last (re)start, each move goes to the best neighbour
    restart = max((i for i in range(first) if path[i] is None), default=-1)
    climb = path[restart + 1:first + 1]
    for here, there in zip(climb, climb[1:]):
        assert there == max(SPACE.neighbors(here), key=score)
    # nothing beats the optimum, so leaving it means a restart
    assert any(p != OPTIMUM for p in path[first + 1:])
    # every neighbour of the optimum was evaluated before leaving it
    left = next(i for i, c in enumerate(currents) if i > currents.index(OPTIMUM) and c != OPTIMUM)
    assert set(SPACE.neighbors(OPTIMUM)) <= set(proposals[:left + 1])


@pytest.mark.parametrize("seed", range(6))
def test_first_mode_climbs_to_the_optimum_then_restarts(seed: int) -> None:
    proposals, currents = run("first", seed, 80)
    path = positions(currents)
    assert OPTIMUM in path
    first = path.index(OPTIMUM)
    # moves go to a better neighbour (the first found, not necessarily the best)
    for here, there in zip(path[:first], path[1:first + 1]):
        if here is not None and there is not None:
            assert there in SPACE.neighbors(here) and score(there) > score(here)
    assert any(p != OPTIMUM for p in path[first + 1:])


def test_first_mode_needs_fewer_evaluations_per_move() -> None:
    # first improvement moves as soon as a neighbour improves; best improvement evaluates all 8
    best = run("best", 0, 80)[0].index(OPTIMUM)
    first = run("first", 0, 80)[0].index(OPTIMUM)
    assert first <= best


def test_failed_start_is_redrawn() -> None:
    strategy = LocalSearch(SPACE, seed=0)
    failed = strategy.ask()
    strategy.tell(failed, Result.failure("x"))
    assert strategy._current is None
    start = strategy.ask()
    strategy.tell(start, Result(value=score(start)))
    assert strategy._current is not None and strategy._current[0] == start
    # and it climbs from there: the next proposals are the start's neighbours
    nbs = set(SPACE.neighbors(start))
    for _ in range(len(nbs)):
        arch = strategy.ask()
        assert arch in nbs
        strategy.tell(arch, Result(value=score(arch)))
