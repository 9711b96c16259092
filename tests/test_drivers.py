"""Several drivers on one study, heartbeats, retries, and a driver killed with SIGKILL, with real processes,
on SQLite and PostgreSQL, in one process, a process pool and Ray (when installed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasforge.evaluators.base import Evaluator
from nasforge.registry import create_strategy
from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, integer
from nasforge.storage import get_storage
from nasforge.study import Study

SRC = str(Path(__file__).resolve().parents[1] / "src")
TESTS = str(Path(__file__).resolve().parent)
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, TESTS])}
SPACE = SearchSpace([integer("x", 0, 999), integer("y", 0, 9)], name="grid")


class Sleepy(Evaluator):
    """Scores x + y/10 after ``delay`` seconds; picklable (it runs in worker processes and Ray tasks)."""

    objective = report = "score"

    def __init__(self, delay: float = 0.0, crash_dir: str | None = None) -> None:
        self.delay, self.crash_dir = delay, crash_dir

    def evaluate(self, arch, fidelity=None):
        if self.crash_dir is not None:  # the first evaluation of each architecture kills its worker
            marker = Path(self.crash_dir) / str(arch).replace("|", "_").replace("/", "_")
            if not marker.exists():
                marker.touch()
                os._exit(9)
        time.sleep(self.delay)
        return Result({"score": arch["x"] + arch["y"] / 10}, arch["x"] + arch["y"] / 10, cost=1.0)


DRIVER = """
import json, sys
from test_drivers import SPACE, Sleepy
from nasforge.registry import create_strategy
from nasforge.study import Study

if __name__ == "__main__":  # worker processes (spawn) import this file again
    a = json.loads(sys.argv[1])
    if a.get("barrier"):  # start together: say ready, wait for the go
        import os, pathlib, time
        d = pathlib.Path(a["barrier"])
        (d / f"ready-{os.getpid()}").touch()
        while not (d / "go").exists():
            time.sleep(0.02)
    ev = Sleepy(a["delay"])
    st = Study(SPACE, create_strategy(a.get("strategy", "random"), SPACE, seed=a.get("seed", 0)), ev, name="shared",
               storage=a["url"], join=a.get("join", False), resume=a.get("resume", False), heartbeat=a.get("heartbeat", 10.0),
               stale_after=a.get("stale_after", 60.0))
    ex = None
    if a.get("executor"):
        from nasforge.executors import make_executor
        ex = make_executor(a["executor"], ev, workers=a.get("workers", 1), threads=1)
    st.optimize(n_trials=a["trials"], executor=ex)
    if ex is not None:
        ex.shutdown()
    print("done", st.n_trials, flush=True)
"""


def start_driver(tmp_path: Path, **args) -> subprocess.Popen:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    return subprocess.Popen([sys.executable, str(script), json.dumps(args)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


def trials_when(url: str, condition, proc: subprocess.Popen, timeout: float = 60.0):
    """Poll the store until ``condition(trials)`` holds; return the trials (the study may not exist yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if proc.poll() is not None:
            raise AssertionError(f"the driver ended early: {proc.communicate()[1][-3000:]}")
        try:
            store = get_storage(url, read_only=True)
            try:
                trials = store.trials("shared")
            finally:
                store.close()
        except Exception:  # the driver is still creating its tables or study
            continue
        if condition(trials):
            return trials
    raise AssertionError("the store never reached the expected state")


def test_three_drivers_share_one_study(url, tmp_path):
    drivers = [start_driver(tmp_path, url=url, delay=0.05, trials=60, join=True, heartbeat=0.5, barrier=str(tmp_path))
               for _ in range(3)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    outs = [d.communicate(timeout=120) for d in drivers]
    assert all(d.returncode == 0 for d in drivers), [o[1][-2000:] for o in outs]
    store = get_storage(url, read_only=True)
    trials = store.trials("shared")
    store.close()
    assert [t.number for t in trials] == list(range(len(trials)))  # every number once, no gaps
    assert 60 <= len(trials) <= 62  # the budget counts every driver's trials (a race may add one per driver)
    assert all(t.status == "complete" and t.metrics["score"] == t.value for t in trials)
    assert len({t.worker for t in trials}) >= 2  # they really ran together
    # each driver proposes from a stream of its own: few architectures were evaluated twice
    assert len({t.arch for t in trials}) >= 0.9 * len(trials)


@pytest.mark.parametrize("policy", ["fail", "requeue"])
def test_a_killed_drivers_trial_is_failed_when_its_heartbeat_stops(url, tmp_path, policy):
    victim = start_driver(tmp_path, url=url, delay=30.0, trials=5, join=True, heartbeat=0.2, stale_after=1.0)
    running = trials_when(url, lambda ts: any(t.status == "running" and t.heartbeat_at for t in ts), victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    lost = next(t for t in running if t.status == "running")
    time.sleep(1.5)  # its heartbeat is now older than stale_after
    st = Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), name="shared", storage=url, join=True,
               heartbeat=0.2, stale_after=1.0, on_stale=policy)
    st.optimize(n_trials=4)
    st.close()
    store = get_storage(url, read_only=True)
    trials = {t.number: t for t in store.trials("shared")}
    store.close()
    dead = trials[lost.number]
    assert dead.status == "failed" and dead.error.startswith("heartbeat stopped") and dead.worker == lost.worker
    again = [t for t in trials.values() if t.retry_of == lost.number]
    if policy == "requeue":
        assert len(again) == 1 and again[0].arch == lost.arch and again[0].status == "complete"
        assert again[0].source == "retry"
    else:
        assert again == []
    assert not any(t.status == "running" for t in trials.values())


def test_a_live_drivers_trials_are_not_stale(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    busy = start_driver(tmp_path, url=url, delay=2.5, trials=2, join=True, heartbeat=0.2, stale_after=1.0)
    trials_when(url, lambda ts: any(t.status == "running" and t.heartbeat_at for t in ts), busy)
    st = Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(0.5), name="shared", storage=url, join=True,
               heartbeat=0.2, stale_after=1.0)
    st.optimize(n_trials=3)
    out, err = busy.communicate(timeout=60)
    assert busy.returncode == 0, err[-2000:]
    store = get_storage(url, read_only=True)
    trials = store.trials("shared")
    store.close()
    assert all(t.status == "complete" for t in trials), [(t.number, t.status, t.error) for t in trials]


def test_retries_evaluate_a_crashed_trial_again_and_resume_replays_them(tmp_path):
    from nasforge.executors import ProcessExecutor

    crash = tmp_path / "crash"
    crash.mkdir()
    ev = Sleepy(crash_dir=str(crash))
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    ex = ProcessExecutor(ev, n_workers=1, threads_per_worker=1)
    try:
        st = Study(SPACE, create_strategy("rea", SPACE, seed=3, population_size=4, sample_size=2), ev,
                   name="retry", storage=url, retries=1)
        st.optimize(n_trials=3, executor=ex)
    finally:
        ex.shutdown()
    st.close()
    # resumed (the last crash's retry had not started: it starts first), it goes on as a study that never
    # crashed: the retries took the crashes' places in the strategy's history
    resumed = Study(SPACE, create_strategy("rea", SPACE, seed=3, population_size=4, sample_size=2), Sleepy(),
                    name="retry", storage=url, resume=True, retries=1).optimize(n_trials=10)
    trials = resumed.storage.trials("retry")
    failed = [t for t in trials if t.status == "failed"]
    retried = [t for t in trials if t.retry_of is not None]
    assert len(failed) >= 2 and all(t.error.startswith("worker process died") for t in failed)
    assert [t.retry_of for t in retried] == [t.number for t in failed]  # each crash evaluated again, once
    assert all(r.status == "complete" and r.arch == trials[r.retry_of].arch and r.source == "retry" for r in retried)
    clean = Study(SPACE, create_strategy("rea", SPACE, seed=3, population_size=4, sample_size=2),
                  Sleepy()).optimize(n_trials=10)
    done = [t.arch for t in resumed.trials if t.status == "complete"]
    assert done == [t.arch for t in clean.trials][:len(done)] and len(done) == 10 - len(failed)


def test_a_crash_without_retries_is_a_failed_trial(tmp_path):
    from nasforge.executors import ProcessExecutor

    crash = tmp_path / "crash"
    crash.mkdir()
    ev = Sleepy(crash_dir=str(crash))
    ex = ProcessExecutor(ev, n_workers=1, threads_per_worker=1)
    try:
        st = Study(SPACE, create_strategy("random", SPACE, seed=0), ev).optimize(n_trials=3, executor=ex)
    finally:
        ex.shutdown()
    assert [t.status for t in st.trials] == ["failed"] * 3 and all(t.retry_of is None for t in st.trials)


EXECUTORS = ["serial", "process", "ray"]


def ray_processes() -> set[int]:
    """Pids of Ray's own processes on this machine (GCS, raylet, agents, workers), by their titles."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if cmd.startswith(b"ray::") or b"raylet" in cmd or b"gcs_server" in cmd or b"ray/dashboard" in cmd:
            found.add(int(entry))
    return found


def end_leftovers(before: set[int]) -> None:
    """A local Ray whose driver was killed leaves two agents for about a minute, still calling the (dead)
    GCS's port: a new local Ray started on that port at once can lose a task to them. End them."""
    for pid in ray_processes() - before:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("executor", EXECUTORS)
def test_driver_killed_with_sigkill_resumes_with_nothing_lost_or_repeated(url, tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'nasforge[ray]')")
    args = dict(url=url, delay=0.05, trials=40, strategy="rea", seed=4, executor=None if executor == "serial" else
                executor, workers=1 if executor == "serial" else 2)
    ours = ray_processes()
    proc = start_driver(tmp_path, **args)
    trials_when(url, lambda ts: sum(t.finished for t in ts) >= 8, proc, timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if executor == "ray":
        end_leftovers(ours)
    store = get_storage(url, read_only=True)
    before = [t for t in store.trials("shared") if t.finished]
    store.close()
    assert 8 <= len(before) < 40
    again = start_driver(tmp_path, **{**args, "resume": True})
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, err[-3000:]
    if executor == "ray":
        end_leftovers(ours)
    store = get_storage(url, read_only=True)
    after = store.trials("shared")
    store.close()
    finished = [t for t in after if t.finished]
    assert len(finished) == 40 and all(t.status == "complete" for t in finished)
    assert {t.number: t for t in finished if t.number <= before[-1].number} == {t.number: t for t in before}
    assert all(t.status in ("complete", "interrupted") for t in after)
    assert len({t.number for t in after}) == len(after)
    if executor == "serial":  # one trial at a time: the resumed search is the uninterrupted one
        clean = Study(SPACE, create_strategy("rea", SPACE, seed=4), Sleepy()).optimize(n_trials=40)
        assert [t.arch for t in finished] == [t.arch for t in clean.trials]


def test_a_late_result_never_overwrites_a_trial_failed_for_its_heartbeat():
    from nasforge.storage import InMemoryStorage

    store = InMemoryStorage()
    a = Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), name="shared", storage=store, join=True)
    trial = a.ask()
    store.heartbeat("shared", [trial.number], time.time() - 120)  # as if a's heartbeats had stopped
    b = Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), name="shared", storage=store, join=True,
              stale_after=60.0)
    b.sync()
    assert [t.number for t in b.trials] == [trial.number] and b.trials[0].status == "failed"
    rec = a.tell(trial, Sleepy().evaluate(trial.arch))  # the stalled driver comes back with its result
    assert rec.status == "failed" and rec.error.startswith("heartbeat stopped")
    assert store.trials("shared")[0].status == "failed" and a.trials == [rec]
    a.optimize(n_trials=3)  # and goes on
    assert [t.number for t in store.trials("shared")] == [0, 1, 2]


def test_resume_uses_heartbeats_for_processes_on_other_machines():
    from nasforge.errors import StudyBusyError
    from nasforge.results import TrialRecord
    from nasforge.storage import InMemoryStorage

    store = InMemoryStorage()
    Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), name="s", storage=store).optimize(n_trials=2)
    far = "no-such-host.invalid:42"
    fresh = store.new_trial(TrialRecord("s", -1, "x=1|y=1", "running", started_at=time.time(), worker=far,
                                        heartbeat_at=time.time()))
    with pytest.raises(StudyBusyError, match="no-such-host.*whose heartbeat is fresh"):
        Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), name="s", storage=store, resume=True)
    store.heartbeat("s", [fresh.number], time.time() - 300)  # it stopped beating five minutes ago
    st = Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), name="s", storage=store, resume=True)
    st.optimize(n_trials=4)
    assert [t.status for t in store.trials("s")] == ["complete", "complete", "interrupted", "complete", "complete"]


def test_bad_driver_options_are_named():
    from nasforge.errors import ConfigError

    for kwargs, text in (({"on_stale": "retry"}, "on_stale"), ({"retries": -1}, "retries"),
                         ({"retry_on": "all"}, "retry_on"), ({"heartbeat": 30.0, "stale_after": 10.0}, "stale_after")):
        with pytest.raises((ConfigError, ValueError), match=text):
            Study(SPACE, create_strategy("random", SPACE, seed=0), Sleepy(), **kwargs)
