"""Optuna peers in multi-objective mode (NSGA-II, TPE, random) on the fake NB201 table."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pytest

from nasforge.benchmarks.base import TabularBenchmark
from nasforge.peers import PEERS, available_peers, run_peer
from nasforge.registry import BENCHMARKS, create_benchmark
from nasforge.spaces.base import SearchSpace, categorical

OBJECTIVES = "valid_acc_12ep:max,train_seconds_12ep:min"
OPTUNA = [p for p in PEERS if p.startswith("optuna-")]
pytestmark = pytest.mark.skipif("optuna-nsga2" not in available_peers(), reason="optuna is not installed")


@pytest.mark.parametrize("peer", OPTUNA)
def test_trials_carry_the_objective_values(peer: str, fake_data_dir: Any) -> None:
    kw = {"data_dir": fake_data_dir}
    trials = run_peer(peer, "nb201", kw, 0, n_trials=20, objectives=OBJECTIVES)
    bench = create_benchmark("nb201", **kw)
    assert len(trials) == 20
    for t in trials:
        row = bench.evaluate(bench.space.parse(t["arch"])).metrics
        assert t["values"] == [row["valid_acc_12ep"], row["train_seconds_12ep"]]
        assert t["objective"] == row["valid_acc_12ep"] and t["report"] == row["test_acc_200ep"]
    assert run_peer(peer, "nb201", kw, 0, n_trials=20, objectives=OBJECTIVES) == trials  # same seed, same run


class GridTable(TabularBenchmark):
    """Four choices of five options: acc is their sum, lat the sum of the first two (a heritable trade-off)."""

    objective, report = "acc", "acc"

    def make_space(self) -> SearchSpace:
        return SearchSpace([categorical(f"c{i}", range(5)) for i in range(4)], name="grid4")

    def table(self) -> Mapping[str, Mapping[str, float]]:
        return {self.space.key(a): {"acc": float(sum(a.as_dict().values())), "lat": float(a["c0"] + a["c1"])}
                for a in self.space.enumerate()}

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "grid4"}


def test_nsga2_follows_the_directions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Minimising the latency against maximising it: after the random first generation (50), NSGA-II's
    offspring are faster in the first case (the accuracy objective is the same)."""
    monkeypatch.setitem(BENCHMARKS._entries, "grid4", GridTable)
    fast = run_peer("optuna-nsga2", "grid4", {}, 3, n_trials=150, objectives="acc:max,lat:min")
    slow = run_peer("optuna-nsga2", "grid4", {}, 3, n_trials=150, objectives="acc:max,lat:max")
    assert [t["arch"] for t in fast[:50]] == [t["arch"] for t in slow[:50]]  # the same random generation
    lat_fast = np.mean([t["values"][1] for t in fast[100:]])
    lat_slow = np.mean([t["values"][1] for t in slow[100:]])
    assert lat_fast + 1 < lat_slow, (lat_fast, lat_slow)  # 3.98 against 5.86 with seed 3


def test_nni_takes_one_objective(fake_data_dir: Any) -> None:
    with pytest.raises(ValueError, match=r"peer 'nni-rea' takes one objective, got 2.*several: optuna-tpe"):
        run_peer("nni-rea", "nb201", {"data_dir": fake_data_dir}, 0, n_trials=5, objectives=OBJECTIVES)


def test_unknown_objective_metric(fake_data_dir: Any) -> None:
    with pytest.raises(ValueError, match="objective 'latency' is not a metric of benchmark 'nb201'; its metrics: "
                                         "test_acc_200ep, valid_acc_12ep, train_seconds_12ep"):
        run_peer("optuna-nsga2", "nb201", {"data_dir": fake_data_dir}, 0, n_trials=5,
                 objectives="valid_acc_12ep:max,latency:min")


def test_single_objective_runs_keep_their_records(fake_data_dir: Any) -> None:
    trials = run_peer("optuna-nsga2", "nb201", {"data_dir": fake_data_dir}, 0, n_trials=5)
    assert all(set(t) == {"arch", "objective", "report", "cost"} for t in trials)
