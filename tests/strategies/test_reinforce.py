"""REINFORCE: contract on every kind of space, learning, memory replay, determinism, options."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nasforge.registry import create_space
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.random import RandomSearch
from nasforge.strategies.reinforce import Reinforce
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

HIDDEN = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")


def factory(**options: Any):
    return lambda space, seed: Reinforce(space, seed=seed, **options)


# -- the contract --------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"controller": "factorized", "memory": 0},
    {"controller": "factorized", "memory": 4},
    {"controller": "lstm", "memory": 4},
], ids=["factorized", "factorized-memory", "lstm-memory"])
def test_meets_contract_on_conditional_space(options: dict[str, Any]) -> None:
    space = toy_space()
    check_strategy(factory(**options), space, linear_evaluator(space), n=20)


@pytest.mark.parametrize("controller", ["factorized", "lstm"])
def test_meets_contract_on_exhaustible_space(controller: str, tiny_space: SearchSpace) -> None:
    # 9 architectures, 30 asks: it must repeat (not stop) once everything is known
    check_strategy(factory(controller=controller), tiny_space, linear_evaluator(tiny_space), n=30)


def test_meets_contract_on_nb201(nb201: NB201Space) -> None:
    check_strategy(factory(controller="factorized", memory=3), nb201, linear_evaluator(nb201), n=30)


def test_lstm_meets_contract_on_nb201(nb201: NB201Space) -> None:
    check_strategy(factory(controller="lstm"), nb201, linear_evaluator(nb201), n=15)


@pytest.mark.parametrize("controller", ["factorized", "lstm"])
def test_space_with_validity_rule(controller: str) -> None:
    # DARTS cells: the policy's draws are nearly always invalid, so proposals come from
    # valid random samples weighted by policy probability
    space = create_space("darts")
    evaluate = linear_evaluator(space)
    a, b = Reinforce(space, seed=1, controller=controller), Reinforce(space, seed=1, controller=controller)
    for _ in range(4):
        x, y = a.ask(), b.ask()
        assert x == y and space.contains(x)
        a.tell(x, evaluate(x))
        b.tell(y, evaluate(y))


# -- search quality ------------------------------------------------------------------------

def successes(make: Any, seeds: range = range(20), budget: int = 40) -> int:
    """The hidden-target test of test_search_quality.py (4 choices x 4 options, score = matches)."""
    return count_target_found(lambda space, seed: make(seed), seeds, budget)


@pytest.fixture(scope="module")
def random_successes() -> int:
    return successes(lambda seed: RandomSearch(HIDDEN, seed=seed))


@pytest.mark.parametrize("options", [{"controller": "factorized", "memory": 0}, {"controller": "factorized"}])
def test_factorized_beats_random_search(options: dict[str, Any], random_successes: int) -> None:
    assert successes(lambda seed: Reinforce(HIDDEN, seed=seed, **options)) >= 2 * random_successes


@pytest.mark.slow
def test_lstm_beats_random_search(random_successes: int) -> None:
    assert successes(lambda seed: Reinforce(HIDDEN, seed=seed, controller="lstm")) >= 2 * random_successes


# -- the method ----------------------------------------------------------------------------

def target_score(arch: Architecture) -> float:
    return float(sum(int(arch[f"c{i}"]) == 3 for i in range(4)))


@pytest.mark.parametrize("controller", ["factorized", "lstm"])
def test_policy_moves_towards_rewarded_options(controller: str) -> None:
    s = Reinforce(HIDDEN, seed=0, controller=controller, unique=False, lr=0.05, memory=0)
    best = [s._layout.indices(HIDDEN.make({f"c{i}": 3 for i in range(4)}).as_dict())]
    before = float(s.policy.log_probs(best)[0])
    for _ in range(30):
        arch = s.ask()
        s.tell(arch, Result(value=target_score(arch)))
    assert float(s.policy.log_probs(best)[0]) > before + 1.0


@pytest.mark.parametrize("controller", ["factorized", "lstm"])
def test_asks_do_not_change_the_policy(controller: str) -> None:
    # the policy changes only on tell: pending asks all sample from the same policy
    s = Reinforce(HIDDEN, seed=3, controller=controller)
    arch = s.ask()
    s.tell(arch, Result(value=1.0))
    probe = [s._layout.indices(arch.as_dict())]
    lp = s.policy.log_probs(probe)
    for _ in range(5):
        s.ask()
    assert np.array_equal(s.policy.log_probs(probe), lp)


def test_sampling_inverts_the_cdf_with_the_given_rng() -> None:
    s = Reinforce(HIDDEN, seed=0, controller="factorized")
    # a uniform policy: option k is drawn when u falls in [k/4, (k+1)/4)
    rows = s.policy.sample(np.random.default_rng(5), 8)
    u = np.random.default_rng(5).random((8, 4))
    assert np.array_equal(rows, np.floor(u * 4).astype(int))


def test_lstm_skips_inactive_choices() -> None:
    space = toy_space()
    s = Reinforce(space, seed=0, controller="lstm")
    rows = s.policy.sample(np.random.default_rng(0), 200)
    names = [c.name for c in space.choices]
    se, ratio = names.index("se"), names.index("se_ratio")
    se_true = space.choices[se].options.index(True)
    assert np.all((rows[:, ratio] >= 0) == (rows[:, se] == se_true))
    for row in rows:
        assert space.contains(space.make(s._layout.values([int(k) for k in row])))


def test_unique_proposals_until_the_space_is_exhausted(tiny_space: SearchSpace) -> None:
    s = Reinforce(tiny_space, seed=0, controller="factorized", lr=0.5)
    keys = []
    for _ in range(9):
        arch = s.ask()
        keys.append(tiny_space.key(arch))
        s.tell(arch, Result(value=float(arch["c0"])))
    assert len(set(keys)) == 9
    assert tiny_space.contains(s.ask())  # exhausted: a repeat, not StopIteration


def test_pending_asks_are_distinct(tiny_space: SearchSpace) -> None:
    s = Reinforce(tiny_space, seed=1, controller="factorized")
    batch = [s.ask() for _ in range(6)]
    assert len({tiny_space.key(a) for a in batch}) == 6


def test_memory_keeps_the_best_distinct_results() -> None:
    s = Reinforce(HIDDEN, seed=0, controller="factorized", memory=3)
    told = []
    for i in range(12):
        arch = s.ask()
        score = target_score(arch) + i / 100
        s.tell(arch, Result(value=score))
        told.append(score)
    s.tell(HIDDEN.make({f"c{i}": 0 for i in range(4)}), Result.failure("x"))
    assert [o for o, *_ in s._best] == sorted(told, reverse=True)[:3]
    assert len(s._best_keys) == 3


def test_memory_off() -> None:
    s = Reinforce(HIDDEN, seed=0, controller="factorized", memory=0)
    for _ in range(5):
        arch = s.ask()
        s.tell(arch, Result(value=target_score(arch)))
    assert s._best == []


def test_failures_are_rewarded_like_the_worst_result() -> None:
    s = Reinforce(HIDDEN, seed=0, controller="factorized", baseline_decay=0.0)
    for value in (1.0, 3.0):
        s.tell(s.ask(), Result(value=value))
    s.tell(s.ask(), Result.failure("x"))
    # with decay 0 the baseline is the last reward: the worst result's standardised score
    assert s.baseline == pytest.approx((1.0 - 2.0) / np.std([1.0, 3.0], ddof=1))


def test_lstm_leaves_global_torch_state_alone() -> None:
    import torch

    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    s = Reinforce(HIDDEN, seed=0, controller="lstm", memory=2)
    for _ in range(3):
        arch = s.ask()
        s.tell(arch, Result(value=target_score(arch)))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads


def test_seed_fixes_the_initial_lstm() -> None:
    probe = [[0, 1, 2, 3]]
    a, b, c = (Reinforce(HIDDEN, seed=k, controller="lstm") for k in (4, 4, 5))
    assert a.policy.log_probs(probe)[0] == b.policy.log_probs(probe)[0] != c.policy.log_probs(probe)[0]


# -- options ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "needle"), [
    ({"controller": "gru"}, "unknown controller 'gru'; accepted: lstm, factorized"),
    ({"lr": 0}, r"lr must be a number > 0 \(or None for the controller's default\), got 0"),
    ({"lr": float("nan")}, "lr must be a number > 0 .*, got nan"),
    ({"lr": "0.1"}, "lr must be a number > 0 .*, got '0.1'"),
    ({"baseline_decay": 1.0}, r"baseline_decay must be a number >= 0 and < 1, got 1.0"),
    ({"baseline_decay": -0.1}, r"baseline_decay must be a number >= 0 and < 1, got -0.1"),
    ({"entropy_weight": -1}, "entropy_weight must be a number >= 0, got -1"),
    ({"memory": -1}, "memory must be an integer >= 0, got -1"),
    ({"memory": 2.5}, "memory must be an integer >= 0, got 2.5"),
    ({"hidden_size": 0}, "hidden_size must be an integer >= 1, got 0"),
    ({"unique": "yes"}, "unique must be true or false, got 'yes'"),
])
def test_invalid_option(options: dict[str, Any], needle: str, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=needle):
        Reinforce(tiny_space, seed=0, **options)


def test_options_are_stored_unchanged(tiny_space: SearchSpace) -> None:
    options = {"controller": "factorized", "lr": 0.2, "baseline_decay": 0.5, "entropy_weight": 0.0,
               "memory": 7, "hidden_size": 8, "unique": False}
    s = Reinforce(tiny_space, seed=2, **options)
    assert s.get_params() == {"seed": 2, **options}
    again = Reinforce(tiny_space, **s.get_params())
    assert [again.ask() for _ in range(3)] == [s.ask() for _ in range(3)]
