"""Ray: the pool (initializer, threads, errors, dead workers), the executor's own Ray instance,
bench comparisons and proxy studies on Ray giving what the process pool gives, and the errors
for a missing Ray or an unreachable cluster.

The contract every executor keeps (results, failures, killed workers, Ctrl-C) is in
test_executor_contract.py. The tests that need Ray uninitialised come first; the rest share
one local instance (module fixture ``ray_session``), so at most one runs at a time.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from nasforge.errors import ConfigError
from nasforge.evaluators.base import FunctionEvaluator
from nasforge.executors import (EvaluationInterrupted, ProcessExecutor, RayExecutor, RayPool, SerialExecutor,
                                WorkerDied, make_executor, make_pool)
from nasforge.spaces.base import SearchSpace, categorical

ray = pytest.importorskip("ray")

SPACE = SearchSpace([categorical("a", range(3))], name="a")

# State of a worker process kept in its environment: this module travels to Ray workers by value,
# and each function pickled by value gets its own copy of the module's globals.
def _remember(tag: str) -> None:
    os.environ["NASFORGE_TEST_TAG"] = tag
    os.environ["NASFORGE_TEST_INITS"] = str(int(os.environ.get("NASFORGE_TEST_INITS", "0")) + 1)


def _tagged(x: int) -> tuple[int, str | None, int, int]:
    return x * x, os.environ.get("NASFORGE_TEST_TAG"), int(os.environ.get("NASFORGE_TEST_INITS", "0")), os.getpid()


def _threads() -> tuple[str | None, int]:
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def _fail(x: int) -> int:
    raise KeyError(f"no {x}")


def _die() -> None:
    os._exit(5)


def _interrupt() -> None:
    raise KeyboardInterrupt("stop here")


def _square(a: object) -> float:
    return float(a["a"]) ** 2  # type: ignore[index]


@pytest.fixture(scope="module", autouse=True)
def _by_value():
    """Ray workers do not see pytest's sys.path, so this module's functions travel by value."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for this module; tests run in it use it and leave it running."""
    assert not ray.is_initialized()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


# -- before the shared instance: each starts (or fails to reach) Ray itself ---------------------
def test_options_and_unreachable_clusters_fail_clearly_and_start_nothing():
    ev = FunctionEvaluator(_square)
    for kwargs, msg in [({"n_workers": 0}, "n_workers must be an integer >= 1, got 0"),
                        ({"cpus_per_trial": 0}, "cpus_per_trial must be a number > 0, got 0"),
                        ({"gpus_per_trial": -1}, "gpus_per_trial must be a number >= 0, got -1"),
                        ({"threads_per_worker": 0}, "threads_per_worker must be an integer >= 1, got 0"),
                        ({"address": "nowhere"}, "Ray address 'nowhere' is not 'auto', 'host:port' or 'ray://host:port'"),
                        ({"address": ""}, "address must be 'auto', 'host:port' or 'ray://host:port', got ''")]:
        with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            RayExecutor(ev, **kwargs)
    for address in ("127.0.0.1:9", "ray://127.0.0.1:9"):  # nothing listens on the discard port
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at '{address}'"):
            RayExecutor(ev, address=address)
        assert time.monotonic() - t0 < 10  # ray.init alone would retry for minutes
    assert not ray.is_initialized()


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'nasforge\[ray\]'"):
        RayExecutor(FunctionEvaluator(_square))
    with pytest.raises(ConfigError, match=r"pip install 'nasforge\[ray\]'"):
        make_pool("ray", 2)


def test_an_executor_that_starts_ray_owns_and_ends_it():
    assert not ray.is_initialized()
    ev = FunctionEvaluator(_square)
    with pytest.raises(ConfigError, match="each trial asks for 1 GPUs but the local Ray instance has 0"):
        RayExecutor(ev, gpus_per_trial=1)
    assert not ray.is_initialized()  # the instance started for the check is gone again

    def mine(signum, frame):  # the command line turns SIGTERM into an interrupt; ray.init replaces it
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, mine)
    try:
        ex = RayExecutor(ev, n_workers=2)
        assert ray.is_initialized() and signal.getsignal(signal.SIGTERM) is mine
        assert ray.cluster_resources()["CPU"] == (os.cpu_count() or 1)
        assert [ex.submit(SPACE.make({"a": a})).result(timeout=120).value for a in range(3)] == [0.0, 1.0, 4.0]
        ex.shutdown()
        assert not ray.is_initialized()
    finally:
        signal.signal(signal.SIGTERM, before)
        ray.shutdown()


# -- on the shared instance --------------------------------------------------------------------
def test_pool_runs_the_initializer_once_per_worker_process(ray_session):
    with RayPool(2, threads=1, initializer=_remember, initargs=("ready",)) as pool:
        out = list(pool.map_unordered(_tagged, range(8)))
    assert sorted(v for v, *_ in out) == [x * x for x in range(8)]
    assert {tag for _, tag, _, _ in out} == {"ready"} and os.getpid() not in {pid for *_, pid in out}
    assert {inits for _, _, inits, _ in out} == {1}  # once per process, not once per call
    assert ray.is_initialized()  # the pool found Ray running: it leaves it so


def test_pools_sharing_worker_processes_each_see_their_own_initializer(ray_session):
    a = RayPool(2, initializer=_remember, initargs=("a",))
    b = RayPool(2, initializer=_remember, initargs=("b",))
    try:
        for _ in range(3):  # the same Ray workers serve both pools, alternately
            assert {t for _, t, _, _ in a.map_unordered(_tagged, range(4))} == {"a"}
            assert {t for _, t, _, _ in b.map_unordered(_tagged, range(4))} == {"b"}
    finally:
        a.shutdown()
        b.shutdown()


def test_pool_limits_threads_reports_errors_and_dead_workers(ray_session):
    with RayPool(2, threads=1) as pool:
        assert pool.submit(_threads).result(timeout=120) == ("1", 1)
        with pytest.raises(KeyError, match="no 3"):
            pool.submit(_fail, 3).result(timeout=60)
        with pytest.raises(KeyError, match="no 1"):
            list(pool.map_unordered(_fail, [1]))
        with pytest.raises(WorkerDied, match="worker process died: WorkerCrashedError"):
            pool.submit(_die).result(timeout=60)
        with pytest.raises(KeyboardInterrupt, match="stop here"):  # not taken by Ray for a cancellation
            pool.submit(_interrupt).result(timeout=60)
        assert [v for v, *_ in pool.map_unordered(_tagged, [3])] == [9]


def test_pool_keeps_n_workers_calls_in_flight(ray_session):
    with RayPool(1) as pool:  # one at a time, although Ray has two CPUs
        spans = [pool.submit(_span, 0.3) for _ in range(3)]
        done = sorted(f.result(timeout=60) for f in spans)
    assert all(later[0] >= earlier[1] - 0.01 for earlier, later in zip(done, done[1:])), done


def _span(seconds: float) -> tuple[float, float]:
    t0 = time.time()
    time.sleep(seconds)
    return t0, time.time()


def test_an_evaluator_raising_systemexit_stops_the_study(ray_session):
    from nasforge.registry import create_strategy
    from nasforge.study import Study

    def evaluate(a: object) -> float:
        if a["a"] == 1:  # type: ignore[index]
            raise SystemExit(3)
        time.sleep(0.05)
        return 1.0

    ev = FunctionEvaluator(evaluate)
    ex = RayExecutor(ev, n_workers=2)
    st = Study(SPACE, create_strategy("random", SPACE, seed=0, replace=False), ev)
    with pytest.raises(EvaluationInterrupted, match="SystemExit"):
        st.optimize(n_trials=3, executor=ex)
    records = st.storage.trials(st.name)
    assert all(r.status != "running" for r in records)
    assert any(r.status == "interrupted" and "SystemExit" in (r.error or "") for r in records)


def test_make_executor_and_make_pool(ray_session):
    ev = FunctionEvaluator(_square)
    assert isinstance(make_executor("serial", ev), SerialExecutor)
    px = make_executor("process", ev, workers=2, threads=1)
    assert isinstance(px, ProcessExecutor) and px.n_workers == 2 and px.threads_per_worker == 1
    rx = make_executor("ray", ev, workers=3, cpus_per_trial=0.5)
    assert isinstance(rx, RayExecutor) and rx.n_workers == 3 and rx.threads_per_worker == 1
    assert rx.submit(SPACE.make({"a": 2})).result(timeout=60).value == 4.0
    rx.shutdown()
    assert ray.is_initialized()  # it did not start Ray, so it leaves it
    for call, msg in [(lambda: make_executor("dask", ev), "unknown executor 'dask'; accepted: serial, process, ray"),
                      (lambda: make_executor("serial", ev, workers=2), "runs one trial at a time, got workers=2"),
                      (lambda: make_executor("process", ev, workers=2, ray_address="auto"),
                       "ray_address is for the ray executor, not 'process'"),
                      (lambda: make_executor("process", ev, workers=2, gpus_per_trial=1),
                       "gpus_per_trial is for the ray executor"),
                      (lambda: make_pool("thread", 2), "unknown executor 'thread'; accepted: process, ray"),
                      (lambda: make_pool("process", 2, ray_address="auto"), "is for the ray executor")]:
        with pytest.raises(ConfigError, match=msg):
            call()
    pool = make_pool("ray", 2, threads=2)
    assert isinstance(pool, RayPool) and pool.cpus_per_task == 2 and pool.threads == 2


def test_bench_on_ray_equals_the_process_pool(ray_session, fake_data_dir):
    from nasforge.bench import BenchConfig, run_bench

    cfg = BenchConfig(strategies=["random", "rea"], benchmark_kwargs={"data_dir": str(fake_data_dir)}, seeds=[0, 1],
                      n_trials=20, strategy_params={"rea": {"population_size": 5, "sample_size": 2}}, workers=2)
    local = run_bench(cfg, executor="process")
    remote = run_bench(cfg, executor="ray")
    strip = lambda res: [{k: v for k, v in r.items() if k != "wall_seconds"} for r in res["runs"]]
    assert strip(remote) == strip(local) and len(strip(local)) == 4
    assert remote["rows"] == local["rows"]
    with pytest.raises(ConfigError, match="unknown executor 'threads'; accepted: process, ray"):
        run_bench(cfg, executor="threads")
    with pytest.raises(ConfigError, match="ray_address='auto' is for the ray executor, not 'process'"):
        run_bench(cfg, executor="process", ray_address="auto")


def test_proxy_study_on_ray_equals_the_process_pool(ray_session, fake_data_dir):
    from nasforge.evaluators.proxy_study import proxy_study
    from nasforge.registry import create_benchmark

    bench = create_benchmark("nb201", dataset="cifar10", protocol="oracle", data_dir=str(fake_data_dir))
    kw = dict(sample=4, seed=2, proxies="synflow,params", batch_size=4, space_options={"C": 2, "N": 1}, workers=2)
    local = proxy_study("nb201", bench, **kw)
    remote = proxy_study("nb201", bench, executor="ray", **kw)
    assert [(c["arch"], c["values"]) for c in remote["cells"]] == [(c["arch"], c["values"]) for c in local["cells"]]
    assert [r["spearman"] for r in remote["rows"]] == [r["spearman"] for r in local["rows"]]
