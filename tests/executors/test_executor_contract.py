"""The contract every executor keeps (serial, process pool; a Ray executor adds itself to CASES).

One fake evaluator answers by the architecture's ``mode``: ``ok`` returns a number, ``raise``
raises, ``die`` ends its process (os._exit) and ``block`` waits until a release file exists.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from nasforge.evaluators.base import Evaluator
from nasforge.executors import Executor, ProcessExecutor, SerialExecutor
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical, integer

SPACE = SearchSpace([categorical("mode", ("ok", "raise", "die", "block")), integer("x", 0, 9)], name="commands")


def arch(mode: str = "ok", x: int = 0) -> Any:
    return SPACE.make({"mode": mode, "x": x})


class CommandEvaluator(Evaluator):
    """Does what the architecture says; picklable, so it runs in worker processes too."""

    objective = report = "score"

    def __init__(self, release: str) -> None:
        self.release = release

    def evaluate(self, a: Any, fidelity: float | None = None) -> Result:
        mode, x = a["mode"], int(a["x"])
        if mode == "raise":
            raise ValueError(f"cannot score x={x}")
        if mode == "die":
            os._exit(3)
        if mode == "block":  # bounded, so a broken shutdown fails the test instead of hanging it
            deadline = time.monotonic() + 60
            while not os.path.exists(self.release) and time.monotonic() < deadline:
                time.sleep(0.02)
        return Result({"score": 2.0 * x, "pid": os.getpid()}, 2.0 * x, fidelity=fidelity)


@dataclass
class Case:
    name: str
    make: Callable[[Evaluator], Executor]
    runs_concurrently: bool  # submit returns before the evaluation ends


CASES = [
    Case("serial", SerialExecutor, runs_concurrently=False),
    Case("process", lambda ev: ProcessExecutor(ev, n_workers=2, threads_per_worker=1), runs_concurrently=True),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c.name)
def setup(request, tmp_path_factory):
    release = tmp_path_factory.mktemp("contract") / "release"
    case: Case = request.param
    ev = CommandEvaluator(str(release))
    ex = case.make(ev)
    yield case, ex, ev
    release.touch()
    ex.shutdown()


def test_every_submitted_trial_comes_back(setup):
    case, ex, _ = setup
    assert isinstance(ex, Executor) and ex.n_workers >= 1
    futures = {x: ex.submit(arch("ok", x), fidelity=float(x + 1)) for x in range(6)}
    for x, fut in futures.items():
        r = fut.result(timeout=120)
        assert isinstance(r, Result) and r.ok and r.value == 2.0 * x and r.fidelity == float(x + 1)
    if case.runs_concurrently:
        assert all(f.result().metrics["pid"] != os.getpid() for f in futures.values())


def test_an_evaluator_that_raises_gives_a_failed_result(setup):
    _, ex, _ = setup
    bad, good = ex.submit(arch("raise", 4)), ex.submit(arch("ok", 5))
    r = bad.result(timeout=120)
    assert r.status == "failed" and r.error == "ValueError: cannot score x=4"
    assert good.result(timeout=120).value == 10.0


def test_a_worker_that_dies_fails_its_trial_and_later_trials_run(setup):
    case, ex, _ = setup
    if not ex.isolated:
        pytest.skip(f"{case.name} runs evaluations in the calling process")
    r = ex.submit(arch("die")).result(timeout=120)
    assert r.status == "failed" and "worker process died" in r.error
    later = [ex.submit(arch("ok", x)) for x in range(4)]
    assert [f.result(timeout=120).value for f in later] == [0.0, 2.0, 4.0, 6.0]


def test_the_executor_works_in_a_study(setup):
    from nasforge.registry import create_strategy
    from nasforge.study import Study

    _, ex, ev = setup
    sub = SearchSpace([categorical("mode", ("ok", "raise")), integer("x", 0, 9)], name="commands")
    st = Study(sub, create_strategy("random", sub, seed=0, replace=False), ev).optimize(n_trials=8, executor=ex)
    assert len(st.trials) == 8 and len({t.arch for t in st.trials}) == 8
    for t in st.trials:
        assert (t.status == "failed") == ("raise" in t.arch), t
        assert t.status == "failed" or t.value == 2.0 * int(sub.from_string(t.arch)["x"])


def test_shutdown_with_cancel_returns_at_once(setup):
    """Last: it stops the shared executor (a later submit starts it again)."""
    case, ex, _ = setup
    if case.runs_concurrently:
        running = [ex.submit(arch("block", x)) for x in range(ex.n_workers)]
        queued = [ex.submit(arch("ok", x)) for x in range(4)]
        ex.shutdown(cancel=True)
        assert not any(f.done() and not f.cancelled() for f in running)  # it did not wait for them
        wait(running + queued, timeout=60)
        assert all(f.cancelled() for f in running + queued)
    else:
        done = [ex.submit(arch("ok", x)) for x in range(3)]
        ex.shutdown(cancel=True)
        assert all(f.done() for f in done)
    assert ex.submit(arch("ok", 3)).result(timeout=120).value == 6.0  # usable again
