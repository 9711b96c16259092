"""The study loop: budgets, duplicates, failures, storage and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nasforge.benchmarks.nb201 import NB201Benchmark
from nasforge.evaluators.base import Evaluator, FunctionEvaluator
from nasforge.registry import create_strategy
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.errors import StudyBusyError
from nasforge.storage import InMemoryStorage, SQLStorage, StudyExistsError, StudyNotFoundError
from nasforge.study import Study


def tiny_space() -> SearchSpace:
    return SearchSpace([categorical("a", range(3)), categorical("b", range(3))], name="tiny")


def score(arch) -> float:
    return float(arch["a"] * 3 + arch["b"])


def make_study(bench, strategy="rea", seed=0, storage=None, name="s", resume=False, **kw):
    strat = create_strategy(strategy, bench.space, seed=seed, **kw)
    return Study(bench.space, strat, bench, name=name, storage=storage, resume=resume)


@pytest.fixture
def bench(fake_data_dir):
    return NB201Benchmark(data_dir=fake_data_dir)


def test_budget_seconds_counts_simulated_cost_and_last_trial_crosses(bench):
    st = make_study(bench).optimize(budget_seconds=3000)
    costs = [t.cost for t in st.trials]
    assert st.cost_spent == pytest.approx(sum(costs))
    assert sum(costs[:-1]) < 3000 <= sum(costs)  # the trial that crosses the budget counts (NB201 scripts)


def test_trial_budget_and_summary(bench):
    st = make_study(bench, "random").optimize(n_trials=25)
    s = st.summary()
    assert s["trials"] == 25 == len(st.trials)
    best = max(st.trials, key=lambda t: t.value)
    assert s["best"]["arch"] == best.arch and s["best"]["value"] == best.value
    assert s["objective"] == "valid_acc_12ep" and s["report"] == "test_acc_200ep"


def test_stop_from_a_callback_ends_the_run_and_a_later_optimize_goes_on(bench):
    first = [t.value for t in make_study(bench, "random").optimize(n_trials=30).trials]
    target = sorted(first)[-3]  # reached for the first time somewhere in the first 30 trials

    def at_target(study, rec):
        if rec.value is not None and rec.value >= target:
            study.stop()

    st = make_study(bench, "random").optimize(n_trials=200, callbacks=[at_target])
    values = [t.value for t in st.trials]
    assert values[-1] >= target and all(v < target for v in values[:-1]) and len(values) <= 30
    st.optimize(n_trials=len(values) + 5)  # the stop held for that run only
    assert len(st.trials) == len(values) + 5
    again = make_study(bench, "random").optimize(n_trials=len(values) + 5)
    assert [t.value for t in again.trials] == [t.value for t in st.trials]  # stopping changed nothing else


def test_wall_budget_stops():
    ev = FunctionEvaluator(lambda a: (time.sleep(0.01), a["a"])[1])
    sp = SearchSpace([categorical(n, range(10)) for n in "abcd"], name="wide")
    st = Study(sp, create_strategy("random", sp, seed=1), ev)
    t0 = time.monotonic()
    st.optimize(wall_seconds=0.2)
    assert time.monotonic() - t0 < 1.0 and 5 <= st.n_trials <= 21


@pytest.mark.parametrize("kwargs,match", [
    ({}, "give a budget"),
    ({"n_trials": 0}, "n_trials must be a positive integer"),
    ({"n_trials": 2.5}, "n_trials must be a positive integer"),
    ({"budget_seconds": -1}, "budget_seconds must be a positive number"),
    ({"wall_seconds": float("inf")}, "wall_seconds must be a positive number"),
])
def test_invalid_budgets(kwargs, match):
    sp = tiny_space()
    st = Study(sp, create_strategy("random", sp, seed=0), FunctionEvaluator(score))
    with pytest.raises(ValueError, match=match):
        st.optimize(**kwargs)


def test_seconds_budget_needs_a_cost():
    sp = tiny_space()
    st = Study(sp, create_strategy("random", sp, seed=0), FunctionEvaluator(score))
    with pytest.raises(ValueError, match="budget_seconds needs an evaluator that reports a cost"):
        st.optimize(budget_seconds=10)


class CountingEvaluator(Evaluator):
    objective = report = "score"
    provides_cost = True

    def __init__(self):
        self.calls = 0

    def evaluate(self, arch, fidelity=None):
        self.calls += 1
        return Result({"score": score(arch)}, score(arch), cost=10.0)


@pytest.mark.parametrize("charge", [True, False])
def test_duplicates_answered_from_records(charge):
    sp = tiny_space()
    ev = CountingEvaluator()
    st = Study(sp, create_strategy("random", sp, seed=3), ev, charge_duplicates=charge)
    st.optimize(n_trials=30)  # 9 architectures: most proposals repeat
    dups = [t for t in st.trials if t.duplicate_of is not None]
    assert ev.calls == 30 - len(dups) <= 9 and dups
    for d in dups:
        orig = next(t for t in st.trials if t.number == d.duplicate_of)
        assert d.arch == orig.arch and d.value == orig.value and orig.duplicate_of is None
        assert d.cost == (10.0 if charge else 0.0)
    assert st.cost_spent == pytest.approx(10.0 * (30 if charge else ev.calls))


def test_failing_trials_are_recorded_and_search_goes_on():
    def flaky(arch):
        if arch["a"] == 0:
            raise RuntimeError(f"boom on {arch}")
        return score(arch)

    sp = tiny_space()
    st = Study(sp, create_strategy("rea", sp, seed=0, population_size=3, sample_size=2), FunctionEvaluator(flaky))
    st.optimize(n_trials=20)
    failed = [t for t in st.trials if t.status == "failed"]
    assert failed and all("RuntimeError: boom on" in t.error for t in failed)
    assert st.n_trials == 20 and st.best_trial().status == "complete"
    # a failed architecture proposed again is evaluated again (only complete results answer duplicates)
    assert all(t.duplicate_of is None for t in failed)


def test_ask_tell_by_hand_matches_optimize(bench):
    a = make_study(bench, seed=5).optimize(n_trials=40)
    b = make_study(bench, seed=5)
    for _ in range(40):
        trial = b.ask()
        b.tell(trial, b.evaluate(trial))
    assert [t.arch for t in a.trials] == [t.arch for t in b.trials]
    with pytest.raises(ValueError, match="trial 0 is not running"):
        b.tell(0, Result({}, 1.0))


def test_same_seed_same_result(bench):
    runs = [[t.arch for t in make_study(bench, "rea", seed=11).optimize(n_trials=60).trials] for _ in range(2)]
    assert runs[0] == runs[1]
    other = [t.arch for t in make_study(bench, "rea", seed=12).optimize(n_trials=60).trials]
    assert other != runs[0]


@pytest.mark.parametrize("storage_kind", ["memory", "sqlite"])
def test_storage_round_trip(bench, tmp_path, storage_kind):
    store = InMemoryStorage() if storage_kind == "memory" else SQLStorage(f"sqlite:///{tmp_path}/s.db")
    st = make_study(bench, storage=store, name="rt").optimize(n_trials=15)
    stored = store.trials("rt")
    assert [t.number for t in stored] == list(range(15))
    assert stored == sorted(st.trials, key=lambda t: t.number)
    info = store.get_study("rt")
    assert info.config["strategy"] == "rea" and info.config["evaluator"]["protocol"] == "nb201"
    assert all(t.worker and t.started_at <= t.finished_at for t in stored)
    with pytest.raises(StudyExistsError, match="already exists"):
        make_study(bench, storage=store, name="rt")
    with pytest.raises(StudyNotFoundError, match="no study named 'nope' to resume; known: rt"):
        make_study(bench, storage=store, name="nope", resume=True)


@pytest.mark.parametrize("strategy", ["random", "rea", "local"])
def test_resume_continues_as_uninterrupted(bench, tmp_path, strategy):
    full = make_study(bench, strategy, seed=2).optimize(n_trials=60)
    url = f"sqlite:///{tmp_path}/r.db"
    part = make_study(bench, strategy, seed=2, storage=url, name="r").optimize(n_trials=23)
    part.storage.close()
    resumed = make_study(bench, strategy, seed=2, storage=url, name="r", resume=True)
    assert resumed.n_trials == 23
    resumed.optimize(n_trials=60)
    assert [t.arch for t in resumed.trials] == [t.arch for t in full.trials]
    assert [t.number for t in resumed.storage.trials("r")] == list(range(60))


def test_resume_with_other_configuration_is_refused(bench, tmp_path):
    url = f"sqlite:///{tmp_path}/c.db"
    make_study(bench, "rea", storage=url, name="c").optimize(n_trials=5).storage.close()
    with pytest.raises(ValueError, match="different configuration.*population_size"):
        make_study(bench, "rea", storage=url, name="c", resume=True, population_size=20)


def test_resume_of_a_study_recorded_before_an_option_existed(bench, tmp_path):
    import json
    import sqlite3

    url = f"sqlite:///{tmp_path}/o.db"
    make_study(bench, "rea", storage=url, name="o").optimize(n_trials=5).storage.close()
    # as an older nasforge recorded it: REA had no mutation_rate and unique options then
    with sqlite3.connect(tmp_path / "o.db") as db:
        config = json.loads(db.execute("SELECT config FROM studies WHERE name='o'").fetchone()[0])
        for k in ("mutation_rate", "unique"):
            del config["strategy_params"][k]
        db.execute("UPDATE studies SET config=? WHERE name='o'", (json.dumps(config),))
    # the study ran with what are now the new options' defaults: it resumes
    st = make_study(bench, "rea", storage=url, name="o", resume=True)
    assert st.optimize(n_trials=8).n_trials == 8
    st.storage.close()
    # but not with a new option set to anything else, which the study did not run with
    with pytest.raises(ValueError, match="different configuration.*unique"):
        make_study(bench, "rea", storage=url, name="o", resume=True, unique=True)


def test_a_study_recorded_before_an_option_changed_behaviour_resumes_as_it_ran(fake_data_dir, tmp_path):
    """robot's normalise and weights came with defaults unlike its old behaviour: a study recorded without
    them ran as with their legacy values, and api.search resumes it so (Study itself refuses the new defaults)."""
    import json
    import sqlite3

    from nasforge import api
    from nasforge.errors import ConfigError

    from nasforge.spaces.nb201 import NB201Space
    from nasforge.testing import fake_scorer

    url = f"sqlite:///{tmp_path}/l.db"
    scorer = fake_scorer(NB201Space(), noise=2.0)
    common = {"benchmark_options": {"data_dir": str(fake_data_dir)}, "seed": 4, "storage": url, "study": "l",
              "strategy_options": {"pool_size": 80, "bo_queries": 4, "n_candidates": 50, "scorer": scorer}}
    old = {"normalise": "zscore", "weights": "signed"}
    api.search(strategy="robot", n_trials=6, **{**common, "strategy_options": {**common["strategy_options"], **old}}
               ).close()
    with sqlite3.connect(tmp_path / "l.db") as db:  # as an older nasforge recorded it, without the two options
        config = json.loads(db.execute("SELECT config FROM studies WHERE name='l'").fetchone()[0])
        for k in old:
            del config["strategy_params"][k]
        db.execute("UPDATE studies SET config=? WHERE name='l'", (json.dumps(config),))
    st = api.search(strategy="robot", n_trials=12, resume=True, **common)  # the legacy values, not the defaults
    assert (st.strategy.normalise, st.strategy.weights) == ("zscore", "signed") and st.n_trials == 12
    ref = api.search(strategy="robot", n_trials=12, **{**common, "storage": None, "study": None,
                                                       "strategy_options": {**common["strategy_options"], **old}})
    assert [t.arch for t in st.trials] == [t.arch for t in ref.trials]
    st.close()
    with pytest.raises(ConfigError, match="weights: stored 'signed', now 'nonnegative'|weights"):
        api.search(strategy="robot", n_trials=13, resume=True,
                   **{**common, "strategy_options": {**common["strategy_options"], "weights": "nonnegative"}})


def test_keyboard_interrupt_marks_trial_and_keeps_finished(tmp_path):
    sp = tiny_space()
    calls = {"n": 0}

    def ev(arch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return score(arch)

    url = f"sqlite:///{tmp_path}/k.db"
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), FunctionEvaluator(ev), storage=url, name="k")
    with pytest.raises(KeyboardInterrupt):
        st.optimize(n_trials=9)
    stored = st.storage.trials("k")
    assert [t.status for t in stored] == ["complete"] * 3 + ["interrupted"]
    st.storage.close()
    again = Study(sp, create_strategy("random", sp, seed=0, replace=False), FunctionEvaluator(score),
                  storage=url, name="k", resume=True)
    again.optimize(n_trials=9)
    archs = [t.arch for t in again.trials]
    assert len(archs) == 9 == len(set(archs))  # no finished trial repeated, all 9 visited


KILL_SCRIPT = """
import sys, time
from nasforge.benchmarks.nb201 import NB201Benchmark
from nasforge.registry import create_strategy
from nasforge.study import Study
from nasforge.evaluators.base import Evaluator

class Slow(Evaluator):
    def __init__(self, inner):
        self.inner = inner
        self.objective, self.report, self.provides_cost = inner.objective, inner.report, True
    def evaluate(self, arch, fidelity=None):
        time.sleep(0.02)
        return self.inner.evaluate(arch)
    def describe(self):
        return self.inner.describe()

b = NB201Benchmark(data_dir=sys.argv[1])
slow = Slow(b)
st = Study(b.space, create_strategy("rea", b.space, seed=4), slow, name="kill", storage=sys.argv[2],
           resume=sys.argv[3] == "1")
st.optimize(n_trials=int(sys.argv[4]))
print("done", st.n_trials)
"""


def test_resume_after_sigkill(fake_data_dir, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    url = f"sqlite:///{tmp_path}/kill.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(fake_data_dir), url, "0", "80"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    store = None
    deadline = time.monotonic() + 60
    n_done = 0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if Path(f"{tmp_path}/kill.db").exists():
            try:  # the child may still be creating its tables and study
                store = store or SQLStorage(url)
                n_done = sum(t.finished for t in store.trials("kill"))
            except Exception:
                n_done = 0
            if n_done >= 15:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL and 15 <= n_done < 80
    before = [t for t in store.trials("kill") if t.finished]
    store.close()
    out = subprocess.run([sys.executable, str(script), str(fake_data_dir), url, "1", "80"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    store = SQLStorage(url)
    after = store.trials("kill")
    finished = [t for t in after if t.finished]
    assert len(finished) == 80
    assert finished[:len(before)] == before  # nothing recorded was lost or changed
    assert all(t.status in ("complete", "interrupted") for t in after)
    # the resumed study made the same proposals as an uninterrupted run would have
    b = NB201Benchmark(data_dir=fake_data_dir)
    ref = Study(b.space, create_strategy("rea", b.space, seed=4), b).optimize(n_trials=80)
    assert [t.arch for t in finished] == [t.arch for t in ref.trials]
    store.close()


def test_multi_fidelity_strategy_passes_fidelity_and_dedups_per_fidelity():
    from nasforge.strategies.random import RandomSearch

    class TwoFidelities(RandomSearch):
        multi_fidelity = True

        def fidelity(self, arch):
            return 1.0 if self.n_asked % 2 else 3.0

    seen = []

    def ev(arch, fidelity=None):
        seen.append(fidelity)
        return Result({"score": arch["a"]}, arch["a"] + (fidelity or 0), fidelity=fidelity)

    class FidelityEvaluator(FunctionEvaluator):
        def evaluate(self, arch, fidelity=None):
            return ev(arch, fidelity)

    sp = SearchSpace([categorical("a", range(2))], name="two")
    st = Study(sp, TwoFidelities(sp, seed=0), FidelityEvaluator(score))
    st.optimize(n_trials=12)
    assert set(seen) == {1.0, 3.0} and len(seen) == 4  # 2 archs x 2 fidelities evaluated, the rest answered
    for t in st.trials:
        assert t.status == "complete" and t.value == sp.from_string(t.arch)["a"] + t.fidelity


def test_resume_replays_in_recorded_order_not_by_clock(bench, monkeypatch):
    """A clock that jumps 5 s back mid-run (another machine, NTP) must not reorder the replay."""
    import nasforge.study as study_mod

    real = time.time
    calls = [0]

    def skewed() -> float:
        calls[0] += 1
        return real() - (5.0 if calls[0] > 25 else 0.0)

    store = InMemoryStorage()
    monkeypatch.setattr(study_mod.time, "time", skewed)
    make_study(bench, "rea", seed=2, storage=store, name="skew", population_size=4, sample_size=2).optimize(n_trials=20)
    monkeypatch.setattr(study_mod.time, "time", real)
    resumed = make_study(bench, "rea", seed=2, storage=store, name="skew", resume=True, population_size=4,
                         sample_size=2).optimize(n_trials=35)
    straight = make_study(bench, "rea", seed=2, population_size=4, sample_size=2).optimize(n_trials=35)
    assert [t.arch for t in resumed.trials] == [t.arch for t in straight.trials]


class OddEvaluator(Evaluator):
    """Returns numpy scalars for some architectures, junk for others."""

    objective = report = "score"

    def evaluate(self, arch, fidelity=None):
        if arch["a"] == 0:
            return {"score": 1.0}  # not a Result
        if arch["a"] == 1:
            return Result({"score": np.float32(2.5), "curve": np.arange(3), "n": np.int64(4)}, 2.5)
        return Result({"score": 3.0, "model": object()}, 3.0)


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_odd_evaluator_results_fail_the_trial_not_the_search(storage, tmp_path):
    sp = tiny_space()
    url = None if storage == "memory" else f"sqlite:///{tmp_path / 'o.db'}"
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), OddEvaluator(), storage=url)
    st.optimize(n_trials=9)
    by_a = {}
    for t in st.storage.trials(st.name):
        by_a.setdefault(sp.parse(t.arch)["a"], []).append(t)
    assert all(t.status == "failed" and "returned dict" in t.error and "not a nasforge Result" in t.error
               for t in by_a[0])
    assert all(t.status == "complete" and t.metrics == {"score": 2.5, "curve": [0, 1, 2], "n": 4}
               and type(t.metrics["n"]) is int for t in by_a[1])
    assert all(t.status == "failed" and "metric 'model' is object" in t.error for t in by_a[2])
    assert all(t.finished for t in st.storage.trials(st.name))  # nothing left running


def test_second_driver_on_a_running_study_is_refused(fake_data_dir, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.replace("time.sleep(0.02)", "time.sleep(0.1)"))
    url = f"sqlite:///{tmp_path}/busy.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(fake_data_dir), url, "0", "40"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = NB201Benchmark(data_dir=fake_data_dir)
    deadline = time.monotonic() + 60
    refused = None
    while time.monotonic() < deadline and proc.poll() is None and refused is None:
        time.sleep(0.2)
        if not Path(f"{tmp_path}/busy.db").exists():
            continue
        try:
            store = SQLStorage(url)
            running = [t for t in store.trials("kill") if t.status == "running"]
        except Exception:  # the child is still creating its study
            continue
        if not running:
            store.close()
            continue
        with pytest.raises(StudyBusyError) as exc:
            Study(b.space, create_strategy("rea", b.space, seed=4), b, name="kill", storage=store, resume=True)
        refused = str(exc.value)
        store.close()
    out, errs = proc.communicate(timeout=120)
    assert refused is not None and f":{proc.pid} (a live process on this machine" in refused
    assert proc.returncode == 0, errs
    store = SQLStorage(url)
    trials = store.trials("kill")
    assert len(trials) == 40 and all(t.status == "complete" for t in trials)  # nothing lost or interrupted
    store.close()


def test_running_trial_of_another_machine_needs_takeover(bench):
    store = InMemoryStorage()
    st = make_study(bench, storage=store, name="far")
    st.optimize(n_trials=3)
    from nasforge.results import TrialRecord

    store.write_trial(TrialRecord("far", 3, st.trials[0].arch, "running", started_at=time.time(),
                                  worker="elsewhere.example:4242"))
    with pytest.raises(StudyBusyError, match="elsewhere.example:4242 \\(a process on another machine.*takeover"):
        make_study(bench, storage=store, name="far", resume=True)
    again = Study(bench.space, create_strategy("rea", bench.space, seed=0), bench, name="far", storage=store,
                  resume=True, takeover=True)
    assert store.trials("far")[3].status == "interrupted" and again.n_trials == 3
