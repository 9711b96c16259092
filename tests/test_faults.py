"""Faults with real processes and signals: Ctrl-C and SIGTERM with workers, an evaluator that raises
SystemExit or KeyboardInterrupt in a worker, and a driver killed with SIGKILL (its workers must not linger);
with the process pool and with a local Ray instance started by the search."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasforge.evaluators.base import Evaluator
from nasforge.executors import ProcessExecutor
from nasforge.registry import create_strategy
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.storage import SQLStorage
from nasforge.study import Study

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC}
SLOW_SEARCH = ["search", "--task", "digits", "--space", "nb201", "-P", "C=8", "-P", "N=2", "--epochs", "200",
               "--workers", "2", "--trials", "6", "--strategy", "random", "--study", "sig"]


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    out, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                out.append(int(entry))
                frontier.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


NEEDS_RAY = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
EXECUTORS = ["process", pytest.param("ray", marks=NEEDS_RAY)]


def wait_for_running(db: Path, proc: subprocess.Popen, n: int = 2, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.3)
        if db.exists():
            try:
                store = SQLStorage(f"sqlite:///{db}", read_only=True)
                running = sum(t.status == "running" for t in store.trials("sig"))
                store.close()
            except Exception:  # being created
                continue
            if running >= n and len(children(proc.pid)) >= 2:
                time.sleep(1.0)  # the workers are training
                return
    raise AssertionError("no trial started in time")


# SIGTERM with Ray is left out for time: ray.init replaces the command line's SIGTERM handler, which
# nasforge puts back (tests/executors/test_ray.py checks that); the exit then waits about 8 s for Ray's
# driver shutdown, whose GCS server the same signal ended.
@pytest.mark.parametrize("sig,executor", [(signal.SIGINT, "process"), (signal.SIGTERM, "process"),
                                          pytest.param(signal.SIGINT, "ray", marks=NEEDS_RAY)],
                         ids=["SIGINT-process", "SIGTERM-process", "SIGINT-ray"])
def test_signal_with_two_workers_ends_promptly_and_records(tmp_path, sig, executor):
    db = tmp_path / "sig.db"
    proc = subprocess.Popen([sys.executable, "-m", "nasforge.cli", *SLOW_SEARCH, "--executor", executor,
                             "--storage", f"sqlite:///{db}"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_for_running(db, proc)
        workers = children(proc.pid)
        t0 = time.monotonic()
        os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole process group
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and took < 20, (proc.returncode, took, err)
    assert "interrupted after" in err and "--resume --study sig" in err
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers)
    store = SQLStorage(f"sqlite:///{db}", read_only=True)
    trials = store.trials("sig")
    store.close()
    assert trials and all(t.status in ("complete", "interrupted") for t in trials)
    assert sum(t.status == "interrupted" for t in trials) >= 2


class Raises(Evaluator):
    objective = report = "score"

    def __init__(self, exc: str):
        self.exc = exc

    def evaluate(self, arch, fidelity=None):
        if arch["a"] == 1:
            raise {"exit": SystemExit(3), "interrupt": KeyboardInterrupt()}[self.exc]
        time.sleep(0.05)
        return Result({"score": float(arch["b"])}, float(arch["b"]))


@pytest.mark.parametrize("exc", ["exit", "interrupt"])
def test_evaluator_raising_exit_or_interrupt_in_a_worker_stops_the_study(exc):
    sp = SearchSpace([categorical("a", range(3)), categorical("b", range(3))], name="ab")
    ev = Raises(exc)
    st = Study(sp, create_strategy("random", sp, seed=0, replace=False), ev)
    ex = ProcessExecutor(ev, n_workers=2, threads_per_worker=1)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        st.optimize(n_trials=9, executor=ex)
    assert time.monotonic() - t0 < 60
    records = st.storage.trials(st.name)
    assert all(r.status != "running" for r in records)
    stopped = [r for r in records if r.status == "interrupted"]
    assert stopped and any("SystemExit" in (r.error or "") or "KeyboardInterrupt" in (r.error or "")
                           for r in stopped)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_workers_exit_when_the_driver_is_killed(tmp_path, executor):
    """With Ray: the raylet, the GCS server and the Ray workers of the instance the search started end
    with it (Ray ties them to the driver's life); Ray's two agent processes notice at once but wait for
    a report to the dead GCS server to time out (hard-coded 60 s) before exiting, so they are left out."""
    db = tmp_path / "sig.db"
    proc = subprocess.Popen([sys.executable, "-m", "nasforge.cli", *SLOW_SEARCH, "--executor", executor,
                             "--storage", f"sqlite:///{db}"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_for_running(db, proc)
        workers = [p for p in children(proc.pid) if name(p) not in ("ray::DashboardA", "ray::RuntimeEnv")]
        assert len(workers) >= 2
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        lingering = [f"{p} {name(p)}" for p in workers if alive(p)]
    finally:
        for p in children(proc.pid):
            os.kill(p, signal.SIGKILL)
    assert not lingering, f"orphaned workers still running: {lingering}"
