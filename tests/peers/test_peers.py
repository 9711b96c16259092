"""Tests for nasforge.peers: Optuna and NNI searches on the fake NB201 table and on a fake
conditional space with invalid architectures."""

from __future__ import annotations

import random
import subprocess
import sys
from fractions import Fraction
from typing import Any, Mapping

import numpy as np
import pytest

from nasforge.benchmarks.base import TabularBenchmark
from nasforge.peers import PEERS, available_peers, run_peer
from nasforge.registry import BENCHMARKS, create_benchmark
from nasforge.spaces.base import Architecture, SearchSpace, categorical

AVAILABLE = available_peers()


def peer_param(name: str) -> Any:
    reason = f"{name.split('-')[0]} is not installed (pip install 'nasforge[peers]')"
    return pytest.param(name, marks=pytest.mark.skipif(name not in AVAILABLE, reason=reason))


ALL_PEERS = [peer_param(p) for p in PEERS]


# -- a fake benchmark: a conditional choice, a non-primitive option, invalid architectures ------------
class CondSpace(SearchSpace):
    """depth 1 or 2; op2 only when depth is 2; all-'a' cells are invalid."""

    name = "peer-fake"

    def __init__(self) -> None:
        super().__init__([
            categorical("depth", (1, 2)),
            categorical("op1", ("a", "b", "c")),
            categorical("op2", ("a", "b", "c"), when=("depth", (2,))),
            categorical("width", (Fraction(1, 2), Fraction(1))),  # not an Optuna category type
        ])

    def is_valid(self, arch: Architecture) -> bool:
        return any(v != "a" for k, v in arch.choices if k.startswith("op"))


class CondBench(TabularBenchmark):
    objective, report, cost_metric = "acc", "test", "secs"

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, dict[str, float]] | None = None

    def make_space(self) -> SearchSpace:
        return CondSpace()

    def table(self) -> Mapping[str, Mapping[str, float]]:
        if self._rows is None:
            rng = np.random.default_rng(0)
            self._rows = {self.space.key(a): {"acc": float(rng.random()), "test": float(rng.random()),
                                              "secs": float(10 + rng.integers(10))}
                          for a in self.space.enumerate()}
        return self._rows

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "peer-fake"}


@pytest.fixture
def cond_bench(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(BENCHMARKS._entries, "peer-fake", CondBench)
    return "peer-fake"


def check_trials(trials: list[dict[str, Any]], bench: Any) -> None:
    """Every trial is a lookup of an architecture of the space, or an invalid proposal at cost 0."""
    for t in trials:
        assert set(t) == {"arch", "objective", "report", "cost"}
        if t["objective"] is None:
            assert t["report"] is None and t["cost"] == 0.0
            with pytest.raises(ValueError):
                bench.space.parse(t["arch"])
            continue
        arch = bench.space.parse(t["arch"])
        assert bench.space.contains(arch) and bench.space.key(arch) == t["arch"]
        r = bench.evaluate(arch)
        assert (t["objective"], t["report"], t["cost"]) == (r.value, r.metrics[bench.report], r.cost)


# -- errors -----------------------------------------------------------------------------------------
def test_unknown_peer_lists_the_peers() -> None:
    with pytest.raises(ValueError) as err:
        run_peer("optuna-tpx", "nb201", {}, 0, n_trials=5)
    assert "optuna-tpx" in str(err.value) and all(p in str(err.value) for p in PEERS)


def test_budget_and_seed_are_checked(fake_data_dir: Any) -> None:
    kw = {"data_dir": fake_data_dir}
    with pytest.raises(ValueError, match="budget"):
        run_peer("optuna-random", "nb201", kw, 0)
    with pytest.raises(ValueError, match="n_trials"):
        run_peer("optuna-random", "nb201", kw, 0, n_trials=0)
    with pytest.raises(ValueError, match="seed"):
        run_peer("optuna-random", "nb201", kw, -1, n_trials=5)


@pytest.mark.parametrize("peer,package", [("optuna-tpe", "optuna"), ("nni-rea", "nni")])
def test_missing_framework_names_the_extra(peer: str, package: str, fake_data_dir: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # makes `import <package>` fail
    with pytest.raises(ImportError, match=r"pip install 'nasforge\[peers\]'"):
        run_peer(peer, "nb201", {"data_dir": fake_data_dir}, 0, n_trials=5)


def test_import_is_cheap() -> None:
    code = "import sys, nasforge.peers; print(sorted(m for m in ('optuna', 'nni') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_available_peers_are_peers() -> None:
    assert set(AVAILABLE) <= set(PEERS)


# -- each peer on the fake NB201 table ------------------------------------------------------------------
@pytest.mark.parametrize("peer", ALL_PEERS)
def test_n_trials(peer: str, fake_data_dir: Any) -> None:
    kw = {"data_dir": fake_data_dir}
    trials = run_peer(peer, "nb201", kw, 0, n_trials=20)
    assert len(trials) == 20
    check_trials(trials, create_benchmark("nb201", **kw))
    assert all(t["objective"] is not None for t in trials)


@pytest.mark.parametrize("peer", ALL_PEERS)
def test_budget_seconds_counts_the_crossing_trial(peer: str, fake_data_dir: Any) -> None:
    trials = run_peer(peer, "nb201", {"data_dir": fake_data_dir}, 1, budget_seconds=1000.0)
    spent = np.cumsum([t["cost"] for t in trials])
    assert spent[-1] >= 1000.0 and (len(spent) == 1 or spent[-2] < 1000.0)
    # both budgets: whichever runs out first stops the search
    assert len(run_peer(peer, "nb201", {"data_dir": fake_data_dir}, 1, n_trials=3, budget_seconds=1e6)) == 3
    assert run_peer(peer, "nb201", {"data_dir": fake_data_dir}, 1, n_trials=50, budget_seconds=1000.0) == trials


@pytest.mark.parametrize("peer", ALL_PEERS)
def test_same_seed_same_trajectory(peer: str, fake_data_dir: Any) -> None:
    kw = {"data_dir": fake_data_dir}
    a = run_peer(peer, "nb201", kw, 7, n_trials=20)
    random.seed(123)  # the global RNGs must not matter
    np.random.seed(123)
    b = run_peer(peer, "nb201", kw, 7, n_trials=20)
    assert a == b
    assert [t["arch"] for t in run_peer(peer, "nb201", kw, 8, n_trials=20)] != [t["arch"] for t in a]


@pytest.mark.parametrize("peer", ALL_PEERS)
def test_global_rng_state_is_left_alone(peer: str, fake_data_dir: Any) -> None:
    random.seed(5)
    np.random.seed(5)
    run_peer(peer, "nb201", {"data_dir": fake_data_dir}, 0, n_trials=12)
    expected_py, expected_np = random.Random(5).random(), np.random.RandomState(5).random_sample()
    assert (random.random(), np.random.random_sample()) == (expected_py, expected_np)


# -- conditional choices and invalid proposals --------------------------------------------------------------
@pytest.mark.parametrize("peer", ALL_PEERS)
def test_conditional_space_with_invalid_proposals(peer: str, cond_bench: str) -> None:
    trials = run_peer(peer, cond_bench, {}, 0, n_trials=30)
    assert len(trials) == 30
    bench = create_benchmark(cond_bench)
    check_trials(trials, bench)
    invalid = [t for t in trials if t["objective"] is None]
    assert invalid, "seed 0 should propose at least one all-'a' cell"
    # the seconds budget ignores the free invalid trials and counts the crossing one
    trials = run_peer(peer, cond_bench, {}, 0, budget_seconds=200.0)
    spent = np.cumsum([t["cost"] for t in trials])
    assert spent[-1] >= 200.0 and spent[:-1].max(initial=0.0) < 200.0
