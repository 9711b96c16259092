"""Objectives, constraints, fidelity-aware best, Pareto sets and results from any source."""

from __future__ import annotations

import sqlite3

import pytest

from nasforge.errors import ConfigError, NasforgeError
from nasforge.evaluators.base import Capabilities, Evaluator, FidelityRange, FunctionEvaluator
from nasforge.registry import create_strategy
from nasforge.results import Constraint, Objective, Result, parse_constraints, parse_objectives
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.storage import InMemoryStorage, SQLStorage
from nasforge.study import Study


def grid() -> SearchSpace:
    return SearchSpace([categorical("a", range(4)), categorical("b", range(4))], name="grid")


def metrics(arch) -> dict:
    """Accuracy grows with a and b; size grows with a only: a trade-off along a."""
    return {"acc": float(arch["a"] + arch["b"]), "size": float(10 * arch["a"] + 1)}


def study(objectives=None, constraints=None, storage=None, name="s", resume=False, strategy="random", seed=0):
    sp = grid()
    ev = FunctionEvaluator(metrics, objective="acc", metrics=("acc", "size"))
    return Study(sp, create_strategy(strategy, sp, seed=seed, replace=False) if strategy == "random"
                 else create_strategy(strategy, sp, seed=seed), ev, name=name, storage=storage, resume=resume,
                 objectives=objectives, constraints=constraints)


def test_parse_objectives_and_constraints():
    assert parse_objectives("acc:max, size:min") == (Objective("acc"), Objective("size", "min"))
    assert Objective.parse("size:min").sign == -1.0
    c = Constraint.parse("params <= 1e6")
    assert (c.metric, c.op, c.bound) == ("params", "<=", 1e6)
    assert parse_constraints(["a < 1", Constraint("b", ">=", 2)]) == (Constraint("a", "<", 1), Constraint("b", ">=", 2))
    assert c.violation({"params": 2e6}) == "params = 2e+06 violates params <= 1e+06"
    assert c.violation({"params": 5.0}) is None
    assert "missing" in c.violation({"flops": 1.0})


@pytest.mark.parametrize("bad,match", [
    ("acc:up", "malformed objective 'acc:up'"),
    ("acc,acc:min", "name a metric twice"),
])
def test_bad_objectives(bad, match):
    with pytest.raises(ConfigError, match=match):
        parse_objectives(bad)


@pytest.mark.parametrize("bad,match", [
    ("params = 3", "malformed constraint 'params = 3'"),
    ("params <= lots", "'lots' is not a number"),
    ("params <= inf", "finite number"),
])
def test_bad_constraints(bad, match):
    with pytest.raises(ConfigError, match=match):
        parse_constraints(bad)


def test_unknown_objective_metric_is_refused_before_any_trial():
    with pytest.raises(ConfigError, match="objective metric 'latency' is not measured.*acc, size"):
        study(objectives="acc,latency:min")
    with pytest.raises(ConfigError, match="constraint metric 'flops'"):
        study(constraints="flops <= 3")
    assert isinstance(ConfigError("x"), NasforgeError) and isinstance(ConfigError("x"), ValueError)


def test_infeasible_trials_are_recorded_and_never_best():
    st = study(constraints="size <= 21").optimize(n_trials=16)  # a <= 2 is feasible
    infeasible = [t for t in st.trials if not t.feasible]
    assert len(infeasible) == 4 and all(t.metrics["size"] == 31 and t.status == "complete" for t in infeasible)
    assert all(t.value == t.metrics["acc"] for t in st.trials)  # values are kept
    best = st.best_trial()
    assert best.feasible and best.metrics == {"acc": 5.0, "size": 21.0}  # a=2, b=3; a=3 would be better but too big
    s = st.summary()
    assert s["infeasible"] == 4 and s["constraints"] == ["size <= 21"] and s["best"]["value"] == 5.0


def test_strategy_is_told_infeasible_as_failure_and_minimisation_signed():
    told = []
    st = study(objectives="size:min", constraints="acc >= 1")
    orig = st.strategy.tell
    st.strategy.tell = lambda arch, res: (told.append((arch, res)), orig(arch, res))[1]
    st.optimize(n_trials=16)
    for arch, res in told:
        if arch["a"] + arch["b"] < 1:
            assert not res.ok and res.error.startswith("infeasible: acc = 0 violates acc >= 1")
        else:
            assert res.ok and res.value == -(10 * arch["a"] + 1)
    best = st.best_trial()
    assert best.metrics["size"] == 1.0 and best.metrics["acc"] >= 1  # smallest feasible
    assert best.value == 1.0  # recorded as measured, not signed


def test_pareto_set_with_two_objectives():
    st = study(objectives="acc:max,size:min").optimize(n_trials=16)
    front = st.pareto_set()
    # for each a, only b=3 is non-dominated (more accuracy, same size)
    assert sorted((st.space.parse(t.arch)["a"], st.space.parse(t.arch)["b"]) for t in front) == [
        (0, 3), (1, 3), (2, 3), (3, 3)]
    assert [t.metrics["acc"] for t in front] == [6.0, 5.0, 4.0, 3.0]  # best first by the first objective
    s = st.summary()
    assert s["objectives"] == ["acc:max", "size:min"] and len(s["pareto"]) == 4


class Fidelity(Evaluator):
    """Accuracy grows with the fidelity; a low fidelity flatters architecture a=0."""

    objective = report = "acc"

    def capabilities(self) -> Capabilities:
        return Capabilities(FidelityRange("epochs", 1, 9, 9), False, ("acc",))

    def evaluate(self, arch, fidelity=None):
        f = fidelity or 9
        acc = (10.0 - arch["a"]) if f < 9 else float(arch["a"])
        return Result({"acc": acc}, acc, fidelity=f)


def test_low_fidelity_result_is_never_the_best_over_a_full_one():
    sp = grid()
    st = Study(sp, create_strategy("random", sp, seed=0), Fidelity())
    low = st.add_trial(sp.make({"a": 0, "b": 0}), Fidelity().evaluate(sp.make({"a": 0, "b": 0}), 1), source="import")
    assert st.best_trial().number == low.number  # the only one so far
    full = st.add_trial(sp.make({"a": 1, "b": 0}), Fidelity().evaluate(sp.make({"a": 1, "b": 0}), 9), source="import")
    assert low.value == 10.0 > full.value == 1.0
    assert st.best_trial().number == full.number


def test_hyperband_fidelity_comes_from_the_declaration():
    sp = grid()
    st = Study(sp, create_strategy("hyperband", sp, seed=0), Fidelity()).optimize(n_trials=20)
    fids = {t.fidelity for t in st.trials}
    assert fids <= {1.0, 3.0, 9.0} and 9.0 in fids and 1.0 in fids
    assert st.best_trial().fidelity == 9.0


def test_add_trial_is_recorded_resumed_and_not_told(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    plain = study(storage=InMemoryStorage(), strategy="rea").optimize(n_trials=6)
    st = study(storage=url, strategy="rea")
    rec = st.add_trial("a=3,b=3", Result({"acc": 99.0, "size": 31.0}, 99.0), source="darts")
    assert rec.number == 0 and rec.source == "darts" and rec.arch == "a=3,b=3"
    st.optimize(n_trials=7)  # the added trial counts
    assert [t.arch for t in st.trials[1:]] == [t.arch for t in plain.trials]  # proposals unchanged
    assert st.best_trial().source == "darts" and st.summary()["sources"] == {"ask": 6, "darts": 1}
    st.close()
    again = study(storage=url, name="s", resume=True, strategy="rea")
    assert [(t.number, t.source) for t in again.trials][:2] == [(0, "darts"), (1, "ask")]
    again.optimize(n_trials=9)
    fresh = study(storage=InMemoryStorage(), strategy="rea").optimize(n_trials=8)
    assert [t.arch for t in again.trials if t.source == "ask"] == [t.arch for t in fresh.trials]
    again.close()


@pytest.mark.parametrize("kwargs,match", [
    ({"source": "ask"}, "source must name where"),
    ({"source": ""}, "source must name where"),
])
def test_add_trial_bad_input(kwargs, match):
    st = study()
    with pytest.raises(ConfigError, match=match):
        st.add_trial("a=1,b=1", Result({"acc": 1.0, "size": 1.0}, 1.0), **kwargs)
    with pytest.raises(ConfigError, match="needs a nasforge Result"):
        st.add_trial("a=1,b=1", {"acc": 1.0}, source="x")
    with pytest.raises(ValueError, match="not an option"):
        st.add_trial("a=9,b=1", Result({"acc": 1.0, "size": 1.0}, 1.0), source="x")


def test_a_result_without_the_objective_fails_the_trial_not_the_search():
    sp = grid()
    ev = FunctionEvaluator(lambda a: {"acc": 1.0} if a["a"] else {"other": 2.0}, objective="acc")
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev, objectives="acc")
    st.optimize(n_trials=16)
    failed = [t for t in st.trials if t.status == "failed"]
    assert len(failed) == 4 and all("without the objective 'acc'" in t.error for t in failed)


def test_resume_with_other_constraints_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    study(storage=url, constraints="size <= 21").optimize(n_trials=3).close()
    with pytest.raises(ValueError, match="constraints"):
        study(storage=url, resume=True, constraints="size <= 11")


def test_old_database_is_upgraded(tmp_path):
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE studies (name VARCHAR(255) PRIMARY KEY, config TEXT NOT NULL, created_at FLOAT NOT NULL);
        CREATE TABLE trials (study VARCHAR(255), number INTEGER, arch TEXT NOT NULL, status VARCHAR(16) NOT NULL,
            metrics TEXT NOT NULL, objective FLOAT, cost FLOAT NOT NULL, fidelity FLOAT, error TEXT,
            started_at FLOAT, finished_at FLOAT, worker VARCHAR(255), duplicate_of INTEGER,
            PRIMARY KEY (study, number));
        INSERT INTO studies VALUES ('old', '{}', 1.0);
        INSERT INTO trials VALUES ('old', 0, 'a=1,b=1', 'complete', '{"acc": 2.0}', 2.0, 0.0, NULL, NULL,
            1.0, 2.0, 'w', NULL);
    """)
    con.commit()
    con.close()
    store = SQLStorage(f"sqlite:///{path}")
    (t,) = store.trials("old")
    assert (t.value, t.feasible, t.source) == (2.0, True, "ask")
    store.close()


def test_a_study_recorded_before_objectives_were_kept_resumes(tmp_path):
    store = InMemoryStorage()
    st = study(storage=store, name="old")
    st.optimize(n_trials=3)
    info = store.get_study("old")
    config = {k: v for k, v in info.config.items() if k not in ("objectives", "constraints")}
    store._studies["old"] = type(info)(info.name, config, info.created_at)  # as an older version wrote it
    again = study(storage=store, name="old", resume=True).optimize(n_trials=5)
    assert again.n_trials == 5
    with pytest.raises(ValueError, match="constraints"):
        study(storage=store, name="old", resume=True, constraints="size <= 3")
