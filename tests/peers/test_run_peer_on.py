"""Tests for nasforge.peers.run_peer_on: a peer over any (space, evaluator) pair, here a
FunctionEvaluator over a tiny space (64 architectures), and run_peer as the same code path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nasforge.evaluators.base import FunctionEvaluator
from nasforge.peers import PEERS, available_peers, run_peer, run_peer_on
from nasforge.registry import create_benchmark
from nasforge.spaces.base import Architecture, SearchSpace, categorical

AVAILABLE = available_peers()
ALL_PEERS = [pytest.param(p, marks=pytest.mark.skipif(p not in AVAILABLE, reason=f"{p.split('-')[0]} is not "
                                                        "installed (pip install 'nasforge[peers]')"))
             for p in PEERS]
ANY_PEER = AVAILABLE[0] if AVAILABLE else None
needs_a_peer = pytest.mark.skipif(ANY_PEER is None, reason="neither optuna nor nni is installed")


def tiny_space() -> SearchSpace:
    return SearchSpace([categorical(f"c{i}", range(4)) for i in range(3)], name="tiny")


def score(arch: Architecture) -> dict[str, float]:
    """A validation figure (larger c0, c1, c2 are better) and a 'test' figure that differs from it."""
    v = arch.as_dict()
    return {"acc": float(v["c0"] + 2 * v["c1"] + 3 * v["c2"]), "test": float(10 * v["c0"] - v["c2"])}


class Counting(FunctionEvaluator):
    """FunctionEvaluator over :func:`score` that counts its evaluations and its prepare() calls; the
    cost of an architecture is 1 + c0 seconds; ``fail`` makes ``evaluate`` raise when ``fail(arch)``."""

    def __init__(self, fail: Any = None) -> None:
        super().__init__(self._fn, objective="acc", report="test", cost=lambda a: 1.0 + a["c0"],
                         metrics=("acc", "test"))
        self.fail = fail
        self.calls: list[str] = []
        self.prepared = 0

    def _fn(self, arch: Architecture) -> dict[str, float]:
        self.calls.append(tiny_space().key(arch))
        if self.fail is not None and self.fail(arch):
            raise RuntimeError(f"boom at c0={arch['c0']}")
        return score(arch)

    def prepare(self) -> None:
        self.prepared += 1


def run(peer: str, seed: int = 0, ev: Counting | None = None, **kw: Any) -> list[dict[str, Any]]:
    space = tiny_space()
    return run_peer_on(peer, space, ev if ev is not None else Counting(), seed, **kw)


# -- outcomes ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("peer", ALL_PEERS)
def test_trials_are_the_evaluator_s_results(peer: str) -> None:
    ev = Counting()
    trials = run_peer_on(peer, tiny_space(), ev, 0, n_trials=15)
    assert len(trials) == 15 and ev.prepared == 1
    space = tiny_space()
    for t in trials:
        assert set(t) == {"arch", "objective", "report", "cost"}
        arch = space.parse(t["arch"])
        m = score(arch)
        assert (t["objective"], t["report"], t["cost"]) == (m["acc"], m["test"], 1.0 + arch["c0"])
    # a repeated architecture is answered by its first result, not evaluated again
    assert sorted(ev.calls) == sorted({t["arch"] for t in trials})


@pytest.mark.parametrize("peer", ALL_PEERS)
def test_same_seed_same_trials(peer: str) -> None:
    a = run(peer, 3, n_trials=15)
    assert run(peer, 3, n_trials=15) == a
    assert [t["arch"] for t in run(peer, 4, n_trials=15)] != [t["arch"] for t in a]


@pytest.mark.parametrize("peer", ALL_PEERS)
def test_seconds_budget_counts_the_crossing_trial(peer: str) -> None:
    trials = run(peer, 1, budget_seconds=20.0)
    spent = np.cumsum([t["cost"] for t in trials])
    assert spent[-1] >= 20.0 and spent[-2] < 20.0
    assert len(run(peer, 1, n_trials=3, budget_seconds=1e6)) == 3  # whichever budget runs out first
    assert run(peer, 1, n_trials=60, budget_seconds=20.0) == trials


@pytest.mark.parametrize("peer", ALL_PEERS)
def test_a_raising_evaluation_is_a_failed_trial_and_the_search_goes_on(peer: str) -> None:
    ev = Counting(fail=lambda a: a["c0"] == 0)
    trials = run(peer, 2, ev, n_trials=20)
    assert len(trials) == 20
    failed = [t for t in trials if t["objective"] is None]
    ok = [t for t in trials if t["objective"] is not None]
    assert failed and ok  # seed 2 proposes both kinds
    for t in failed:
        assert t["arch"].startswith("c0=0,") and t["report"] is None and t["cost"] == 0.0
        assert t["error"] == "RuntimeError: boom at c0=0"
    assert all(not t["arch"].startswith("c0=0,") and "error" not in t for t in ok)
    assert run(peer, 2, Counting(fail=lambda a: a["c0"] == 0), n_trials=20) == trials  # still reproducible
    # every evaluation raising: every trial is failed, and the budget is still spent
    trials = run(peer, 2, Counting(fail=lambda a: True), n_trials=8)
    assert len(trials) == 8 and all(t["objective"] is None and "boom" in t["error"] for t in trials)


@pytest.mark.parametrize("peer", ["optuna-tpe", "optuna-nsga2"])
def test_objectives_name_metrics_of_the_evaluator(peer: str) -> None:
    if peer not in AVAILABLE:
        pytest.skip("optuna is not installed")
    trials = run(peer, 0, n_trials=10, objectives="acc:max,test:min")
    assert all(t["values"] == [score(tiny_space().parse(t["arch"]))[m] for m in ("acc", "test")] for t in trials)
    with pytest.raises(ValueError, match="objective 'latency' is not a metric of evaluator Counting; "
                                         "its metrics: acc, test"):
        run(peer, 0, n_trials=10, objectives="acc:max,latency:min")


# -- one code path with run_peer ------------------------------------------------------------------------
@pytest.mark.parametrize("peer", ALL_PEERS)
def test_run_peer_is_run_peer_on_the_benchmark(peer: str, fake_data_dir: Any) -> None:
    kw = {"data_dir": fake_data_dir}
    bench = create_benchmark("nb201", **kw)
    assert run_peer(peer, "nb201", kw, 5, n_trials=12) == run_peer_on(peer, bench.space, bench, 5, n_trials=12)


# -- errors ---------------------------------------------------------------------------------------------
def test_unknown_peer_and_bad_seed() -> None:
    with pytest.raises(ValueError, match="unknown peer 'nni-ra'.*known: optuna-tpe"):
        run("nni-ra", n_trials=5)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*32\), got 1.5"):
        run("optuna-random", 1.5, n_trials=5)  # type: ignore[arg-type]


def test_bad_space_and_evaluator_are_named() -> None:
    with pytest.raises(ValueError, match="space must be a nasforge SearchSpace.*got dict"):
        run_peer_on("optuna-random", {"c0": [1, 2]}, Counting(), 0, n_trials=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="evaluator must be a nasforge Evaluator.*FunctionEvaluator.*got function"):
        run_peer_on("optuna-random", tiny_space(), score, 0, n_trials=5)  # type: ignore[arg-type]


def test_a_space_that_is_not_the_evaluator_s() -> None:
    ev = Counting()
    ev.space = SearchSpace([categorical("c0", range(4))], name="other")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="space 'tiny' is not the space the evaluator scores \\('other', 1 choices\\)"):
        run_peer_on("optuna-random", tiny_space(), ev, 0, n_trials=5)
    ev.space = tiny_space()  # another instance of the same space is fine  # type: ignore[attr-defined]
    if "optuna-random" in AVAILABLE:
        assert len(run_peer_on("optuna-random", tiny_space(), ev, 0, n_trials=5)) == 5


@needs_a_peer
def test_budgets_are_checked() -> None:
    assert ANY_PEER is not None
    with pytest.raises(ValueError, match="give a budget"):
        run(ANY_PEER)
    with pytest.raises(ValueError, match="n_trials"):
        run(ANY_PEER, n_trials=0)
    free = FunctionEvaluator(lambda a: 1.0)  # no cost: a seconds budget cannot be spent
    with pytest.raises(ValueError, match="budget_seconds needs an evaluator that reports a cost"):
        run_peer_on(ANY_PEER, tiny_space(), free, 0, budget_seconds=5.0)
