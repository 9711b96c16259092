"""Derived metrics (the MnasNet reward): parsing, values, and a study that records and optimises them."""

from __future__ import annotations

from typing import Any, Mapping

import pytest

from nasforge.benchmarks.base import TabularBenchmark
from nasforge.errors import ConfigError
from nasforge.evaluators.base import FunctionEvaluator
from nasforge.registry import create_strategy
from nasforge.results import MnasNetReward, parse_derived, parse_derived_metric, with_derived
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.storage import InMemoryStorage
from nasforge.study import Study

SOFT = "mnasnet(acc, lat, target=5, w=-0.07)"


def test_parse_and_print_round_trip():
    d = parse_derived_metric(SOFT)
    assert d == MnasNetReward("acc", "lat", 5.0, -0.07, -0.07) and d.name == "mnasnet_reward"
    assert str(d) == SOFT and parse_derived_metric(str(d)) == d
    assert parse_derived_metric("mnasnet(acc, lat, target=5)") == d  # the paper's w is the default
    hard = parse_derived_metric("mnasnet( acc , lat , target = 0.004 , alpha=0, beta=-1, name=hard )")
    assert (hard.target, hard.alpha, hard.beta, hard.name) == (0.004, 0.0, -1.0, "hard")
    assert str(hard) == "mnasnet(acc, lat, target=0.004, alpha=0, beta=-1, name=hard)"
    # several in one string: split at the commas between the specs only
    assert parse_derived(f"{SOFT}, {hard}") == (d, hard)
    assert parse_derived([SOFT, hard]) == (d, hard) and parse_derived(None) == ()


def test_mnasnet_reward_by_hand():
    soft, hard = MnasNetReward("acc", "lat", 5.0), MnasNetReward("acc", "lat", 5.0, alpha=0.0, beta=-1.0)
    # twice the target: 0.8 * 2 ** -0.07 = 0.8 * 0.95263799 = 0.76211039;  hard: 0.8 * 2 ** -1 = 0.4
    assert soft.compute({"acc": 0.8, "lat": 10.0}) == pytest.approx(0.76211039)
    assert hard.compute({"acc": 0.8, "lat": 10.0}) == pytest.approx(0.4)
    # half the target: 0.8 * 0.5 ** -0.07 = 0.8 * 1.04971668 = 0.83977334;  hard: 0.8 * 0.5 ** 0 = 0.8
    assert soft.compute({"acc": 0.8, "lat": 2.5}) == pytest.approx(0.83977334)
    assert hard.compute({"acc": 0.8, "lat": 2.5}) == pytest.approx(0.8)
    assert soft.compute({"acc": 0.8, "lat": 5.0}) == pytest.approx(0.8)  # on target: the accuracy
    assert with_derived({"acc": 0.8, "lat": 5.0}, [soft]) == {"acc": 0.8, "lat": 5.0, "mnasnet_reward": 0.8}


@pytest.mark.parametrize("spec,match", [
    ("mnasnet(acc)", r"takes two metric names, the accuracy and the latency.*\['acc'\]"),
    ("mnasnet(acc, lat)", "needs target="),
    ("mnasnet(acc, lat, target=0)", "target must be a latency > 0.*got 0.0"),
    ("mnasnet(acc, lat, target=fast)", "mnasnet: target must be a number, got 'fast'"),
    ("mnasnet(acc, lat, target=inf)", "finite number"),
    ("mnasnet(acc, lat, target=5, w=-0.07, beta=-1)", "give w .* or alpha and beta, not both"),
    ("mnasnet(acc, lat, target=5, gamma=1)", "unknown option 'gamma'.*accepted: target, w, alpha, beta, name"),
    ("mnas(acc, lat, target=5)", "unknown derived metric 'mnas'.*known: mnasnet"),
    ("acc * lat", "malformed derived metric 'acc \\* lat'; expected kind"),
    ("mnasnet(acc, target=5, lat)", "metric names come first"),
    ("mnasnet(acc, lat, target=5, target=6)", "each key once"),
    ("mnasnet(acc, lat, target=5, name=2x)", "the name must be a metric name, got '2x'"),
])
def test_bad_specs_name_the_value_and_what_is_accepted(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_derived(spec)


def test_derived_names_must_differ():
    with pytest.raises(ConfigError, match="share a name"):
        parse_derived([SOFT, "mnasnet(acc, lat, target=3)"])


def test_bad_inputs_say_which_metric():
    d = MnasNetReward("acc", "lat", 5.0)
    with pytest.raises(ValueError, match="metric 'lat' missing"):
        d.compute({"acc": 1.0})
    with pytest.raises(ValueError, match="lat = 0 is not a positive latency"):
        d.compute({"acc": 1.0, "lat": 0.0})
    with pytest.raises(ValueError, match="acc = 'high' is not a number"):
        d.compute({"acc": "high", "lat": 1.0})


# -- in a study ---------------------------------------------------------------------------------------
def grid() -> SearchSpace:
    return SearchSpace([categorical("a", range(4)), categorical("b", range(4))], name="grid")


def fn(arch) -> dict[str, float]:
    """Accuracy grows with a and b; latency grows with a only, and is 0 (unmeasurable) for a=0, b=0."""
    a, b = arch["a"], arch["b"]
    return {"acc": 0.5 + 0.1 * a + 0.02 * b, "lat": 0.0 if a == b == 0 else 2.0 + 3.0 * a}


def study(strategy="random", storage=None, resume=False, derived=SOFT, objectives="mnasnet_reward:max", **kw):
    sp = grid()
    opts = {"replace": False} if strategy == "random" else {}
    return Study(sp, create_strategy(strategy, sp, seed=0, **opts, **kw), FunctionEvaluator(
        fn, objective="acc", metrics=("acc", "lat")), name="s", storage=storage, resume=resume,
        objectives=objectives, derived=derived)


def test_study_records_and_optimises_the_reward():
    st = study().optimize(n_trials=16)
    d = MnasNetReward("acc", "lat", 5.0)
    done = [t for t in st.trials if t.status == "complete"]
    assert len(done) == 15
    for t in done:  # stored with the trial, and the trial's value is the reward (the first objective)
        assert t.metrics["mnasnet_reward"] == pytest.approx(d.compute(t.metrics)) and t.value == t.metrics[
            "mnasnet_reward"]
    failed = [t for t in st.trials if t.status == "failed"]
    assert len(failed) == 1 and "derived metric 'mnasnet_reward'" in failed[0].error and \
        "lat = 0 is not a positive latency" in failed[0].error
    best = st.best_trial()
    assert best.metrics["mnasnet_reward"] == max(t.metrics["mnasnet_reward"] for t in done)
    assert st.config["derived"] == [SOFT]


@pytest.mark.parametrize("strategy,kw", [("rea", {"population_size": 4, "sample_size": 2}),
                                         ("nsga2", {"population_size": 4, "objectives": "mnasnet_reward:max,lat:min"}),
                                         ("local", {}), ("mcts", {})])
def test_any_strategy_searches_the_reward(strategy, kw):
    a = study(strategy, **kw).optimize(n_trials=10)
    b = study(strategy, **kw).optimize(n_trials=10)
    assert [t.arch for t in a.trials] == [t.arch for t in b.trials]  # same seed, same search
    assert all("mnasnet_reward" in t.metrics for t in a.trials if t.status == "complete")


def test_resume_needs_the_same_derived_metrics():
    store = InMemoryStorage()
    study(storage=store).optimize(n_trials=5)
    with pytest.raises(ConfigError, match="derived"):
        study(storage=store, resume=True, derived="mnasnet(acc, lat, target=6)")
    again = study(storage=store, resume=True).optimize(n_trials=8)
    assert again.n_trials == 8


def test_study_checks_derived_metrics_before_any_trial():
    with pytest.raises(ConfigError, match="reads 'latency_ms', not measured by FunctionEvaluator; its metrics: "
                                          "acc, lat"):
        study(derived="mnasnet(acc, latency_ms, target=5)")
    with pytest.raises(ConfigError, match="named 'lat', which FunctionEvaluator already measures"):
        study(derived="mnasnet(acc, lat, target=5, name=lat)", objectives=None)
    with pytest.raises(ConfigError, match="objective metric 'mnasnet_reward' is not measured"):
        study(derived=None)
    with pytest.raises(ConfigError, match="unknown derived metric"):
        study(derived="mnas(acc, lat, target=5)")


# -- on a tabular benchmark with accuracy and latency columns (as NAS-Bench-Graph's) ------------------------
class LatencyTable(TabularBenchmark):
    objective, report = "valid_perf", "perf"

    def make_space(self) -> SearchSpace:
        return grid()

    def table(self) -> Mapping[str, Mapping[str, float]]:
        rows = {}
        for arch in self.space.enumerate():
            a, b = arch["a"], arch["b"]
            rows[self.space.key(arch)] = {"valid_perf": 0.6 + 0.05 * a + 0.01 * b, "perf": 0.6 + 0.05 * a,
                                          "latency": 0.001 * (1 + a + b / 2), "para": 1.0 + a}
        return rows

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "latency-table"}


def test_reward_on_a_tabular_benchmark():
    bench = LatencyTable()
    sp = bench.space
    st = Study(sp, create_strategy("random", sp, seed=1, replace=False), bench, objectives="mnasnet_reward:max",
               derived="mnasnet(valid_perf, latency, target=0.002, alpha=0, beta=-1)")
    st.optimize(n_trials=16)
    best = st.best_trial()
    # hard constraint: everything at or under 2 ms keeps its accuracy; the best is the most accurate one there
    fast = [t for t in st.trials if t.metrics["latency"] <= 0.002]
    assert best.metrics["valid_perf"] == max(t.metrics["valid_perf"] for t in fast)
    assert best.value == pytest.approx(best.metrics["valid_perf"])


def test_peer_searches_the_reward(monkeypatch):
    pytest.importorskip("optuna")
    from nasforge.peers import run_peer
    from nasforge.registry import BENCHMARKS

    monkeypatch.setitem(BENCHMARKS._entries, "latency-table", LatencyTable)
    spec = "mnasnet(valid_perf, latency, target=0.002)"
    trials = run_peer("optuna-random", "latency-table", {}, 0, n_trials=8, objectives="mnasnet_reward:max",
                      derived=spec)
    d = parse_derived_metric(spec)
    rows = LatencyTable().table()
    for t in trials:
        assert t["values"] == [pytest.approx(d.compute(rows[t["arch"]]))] and t["objective"] == t["values"][0]
    with pytest.raises(ValueError, match="objective 'reward' is not a metric of benchmark 'latency-table'"):
        run_peer("optuna-random", "latency-table", {}, 0, n_trials=8, objectives="reward:max", derived=spec)
