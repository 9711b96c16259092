"""The contract every executor keeps: serial, process pool and Ray run the same tests.

One fake evaluator answers by the architecture's ``mode``: ``ok`` returns a number, ``raise``
raises, ``die`` ends its process (os._exit), ``block`` waits until a release file exists and
``hold`` writes its process id to ``pid-<x>`` and waits until ``go-<x>`` exists (so a test can
kill that process, or interrupt the study while it runs).

A new executor joins by adding a :class:`Case` to ``CASES``: a name, a function making the
executor from an evaluator, whether ``submit`` returns before the evaluation ends, and
optionally a context manager around the module's tests (the Ray case starts one local Ray
instance there and shuts it down after). Every test below then runs on it; tests that need
isolated worker processes skip executors whose ``isolated`` is false.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from concurrent.futures import wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import pytest

from nasforge.evaluators.base import Evaluator
from nasforge.executors import Executor, ProcessExecutor, SerialExecutor
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical, integer

SPACE = SearchSpace([categorical("mode", ("ok", "raise", "die", "block", "hold")), integer("x", 0, 9)],
                    name="commands")


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
        if mode in ("block", "hold"):  # bounded, so a broken shutdown fails the test instead of hanging it
            folder = os.path.dirname(self.release)
            done = self.release if mode == "block" else os.path.join(folder, f"go-{x}")
            if mode == "hold":
                with open(os.path.join(folder, f"pid-{x}.tmp"), "w") as fh:
                    fh.write(str(os.getpid()))
                os.replace(os.path.join(folder, f"pid-{x}.tmp"), os.path.join(folder, f"pid-{x}"))
            deadline = time.monotonic() + 60
            while not os.path.exists(done) and time.monotonic() < deadline:
                time.sleep(0.02)
        return Result({"score": 2.0 * x, "pid": os.getpid()}, 2.0 * x, fidelity=fidelity)


@dataclass
class Case:
    name: str
    make: Callable[[Evaluator], Executor]
    runs_concurrently: bool  # submit returns before the evaluation ends
    #: entered once around the module's tests of this case (e.g. to start a shared service)
    around: Callable[[], ContextManager[Any]] = contextlib.nullcontext


@contextlib.contextmanager
def local_ray() -> Iterator[None]:
    """One local Ray instance for this module's Ray tests (an executor finding Ray initialised uses it
    and leaves it running). Ray workers do not see pytest's sys.path: this module travels by value."""
    ray = pytest.importorskip("ray")
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _ray_executor(ev: Evaluator) -> Executor:
    from nasforge.executors import RayExecutor

    return RayExecutor(ev, n_workers=2, threads_per_worker=1)


CASES = [
    Case("serial", SerialExecutor, runs_concurrently=False),
    Case("process", lambda ev: ProcessExecutor(ev, n_workers=2, threads_per_worker=1), runs_concurrently=True),
    Case("ray", _ray_executor, runs_concurrently=True, around=local_ray),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c.name)
def setup(request, tmp_path_factory):
    release = tmp_path_factory.mktemp("contract") / "release"
    case: Case = request.param
    ev = CommandEvaluator(str(release))
    with case.around():
        ex = case.make(ev)
        yield case, ex, ev
        release.touch()
        for go in range(10):  # let every held evaluation end
            (release.parent / f"go-{go}").touch()
        ex.shutdown()


def _pid_of(folder: Path, x: int, timeout: float = 60) -> int:
    """The process id a ``hold`` evaluation of ``x`` wrote once it started."""
    path = folder / f"pid-{x}"
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"the evaluation of x={x} did not start within {timeout} s"
        time.sleep(0.02)
    return int(path.read_text())


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


def test_a_worker_killed_from_outside_fails_its_trial_and_later_trials_run(setup):
    case, ex, ev = setup
    if not ex.isolated:
        pytest.skip(f"{case.name} runs evaluations in the calling process")
    folder = Path(ev.release).parent
    victim = ex.submit(arch("hold", 9))
    pid = _pid_of(folder, 9)
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer would
    r = victim.result(timeout=120)
    assert r.status == "failed" and "worker process died" in r.error, r
    later = [ex.submit(arch("ok", x)) for x in range(4)]
    assert [f.result(timeout=120).value for f in later] == [0.0, 2.0, 4.0, 6.0]


def test_ctrl_c_during_a_study_records_trials_in_flight_as_interrupted_and_resume_goes_on(setup, tmp_path):
    """Ctrl-C (KeyboardInterrupt in the main thread) while trials run: optimize returns promptly, the
    trials in flight are recorded as interrupted, and the study resumes to its budget."""
    from nasforge.registry import create_strategy
    from nasforge.study import Study

    case, ex, ev = setup
    folder = Path(ev.release).parent
    sub = SearchSpace([categorical("mode", ("hold",)), integer("x", 0, 5)], name="held")
    url = f"sqlite:///{tmp_path / 'ctrl-c.db'}"
    in_flight = min(ex.n_workers, 2)
    st = Study(sub, create_strategy("random", sub, seed=0, replace=False), ev, name="ctrl-c", storage=url)
    fired, finished = threading.Event(), threading.Event()

    def press_ctrl_c() -> None:  # once the trials run (each has written its pid)
        deadline = time.monotonic() + 60
        while len(list(folder.glob("pid-[0-5]"))) < in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        if not finished.is_set():
            fired.set()
            # a real SIGINT to the main thread, which wakes it from waiting on the futures
            # (_thread.interrupt_main only sets a flag, seen when the thread next runs Python code)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    timer = threading.Thread(target=press_ctrl_c, daemon=True)
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            st.optimize(n_trials=4, executor=ex)
            finished.set()
            timer.join()  # the interrupt may still be on its way
    finally:
        finished.set()
    took = time.monotonic() - t0
    timer.join(timeout=5)
    assert fired.is_set() and took < 30, took
    records = st.storage.trials("ctrl-c")
    assert all(r.status != "running" for r in records)
    stopped = [r for r in records if r.status == "interrupted"]
    assert len(stopped) == in_flight and all("interrupted" in (r.error or "") for r in stopped)

    for x in range(6):  # the evaluations of the resumed study finish at once
        (folder / f"go-{x}").touch()
    again = Study(sub, create_strategy("random", sub, seed=0, replace=False), ev, name="ctrl-c", storage=url,
                  resume=True)
    again.optimize(n_trials=4, executor=ex)
    assert len(again.trials) == 4 and all(t.status == "complete" for t in again.trials), \
        [(t.number, t.status, t.error) for t in again.trials]
    for x in range(6):
        (folder / f"go-{x}").unlink()


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
