"""Running trials in parallel processes."""

from __future__ import annotations

import pytest

from nasforge.evaluators.base import FunctionEvaluator
from nasforge.evaluators.training import TrainingEvaluator
from nasforge.executors import ProcessExecutor, SerialExecutor, default_threads, run_evaluation
from nasforge.registry import create_strategy
from nasforge.study import Study
from nasforge.testing import TinyTrainableSpace, tiny_task


def test_run_evaluation_turns_errors_into_failures():
    sp = TinyTrainableSpace()
    ev = FunctionEvaluator(lambda a: 1 / 0)
    r = run_evaluation(ev, sp.make({"width": 8, "act": "relu"}))
    assert r.status == "failed" and r.error.startswith("ZeroDivisionError")
    assert SerialExecutor(ev).submit(sp.make({"width": 8, "act": "relu"})).result().status == "failed"


def test_parallel_study_matches_serial_results():
    sp = TinyTrainableSpace(diverge=True)
    ev = TrainingEvaluator(tiny_task(), sp, epochs=2, batch_size=16, measure_latency=False)
    serial = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev).optimize(n_trials=6)
    with ProcessExecutor(ev, n_workers=2) as ex:
        par = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev).optimize(n_trials=6, executor=ex)
    by_arch = lambda st: {t.arch: (t.status, t.value, t.metrics.get("train_loss_curve")) for t in st.trials}
    assert by_arch(serial) == by_arch(par)  # same trials, same (deterministic) results, any finish order
    failed = [t for t in par.trials if t.status == "failed"]
    assert len(failed) == 2 and all("diverged" in t.error for t in failed)  # the search went on


def test_options_and_threads():
    ev = FunctionEvaluator(lambda a: 1.0)
    with pytest.raises(ValueError, match="n_workers must be an integer >= 1, got 0"):
        ProcessExecutor(ev, n_workers=0)
    with pytest.raises(ValueError, match="threads_per_worker"):
        ProcessExecutor(ev, n_workers=1, threads_per_worker=0)
    assert default_threads(1) >= default_threads(2) >= 1
