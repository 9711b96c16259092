"""WorkerPool: the one process pool (spawn, thread limits, initializer, dead workers)."""

from __future__ import annotations

import os

import pytest

from nasforge.executors import WorkerDied, WorkerPool

_STATE: dict[str, object] = {}


def _remember(tag: str) -> None:
    _STATE["tag"] = tag


def _square_with_tag(x: int) -> tuple[int, object, int]:
    return x * x, _STATE.get("tag"), os.getpid()


def _threads() -> tuple[str | None, int]:
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def _fail(x: int) -> int:
    raise KeyError(f"no {x}")


def _die() -> None:
    os._exit(5)


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(2, threads=1, initializer=_remember, initargs=("ready",)) as p:
        yield p


def test_map_unordered_runs_every_item_in_initialised_workers(pool):
    out = list(pool.map_unordered(_square_with_tag, range(8)))
    assert sorted(v for v, _, _ in out) == [x * x for x in range(8)]
    assert {tag for _, tag, _ in out} == {"ready"} and os.getpid() not in {pid for _, _, pid in out}


def test_workers_limit_torch_threads(pool):
    assert pool.submit(_threads).result(timeout=120) == ("1", 1)


def test_errors_reach_the_caller(pool):
    with pytest.raises(KeyError, match="no 3"):
        pool.submit(_fail, 3).result(timeout=60)
    with pytest.raises(KeyError, match="no 1"):
        list(pool.map_unordered(_fail, [1]))


def test_a_dead_worker_is_reported_and_the_pool_recovers(pool):
    with pytest.raises(WorkerDied, match="worker process died"):
        pool.submit(_die).result(timeout=60)
    assert [v for v, _, _ in pool.map_unordered(_square_with_tag, [3])] == [9]


def test_options():
    with pytest.raises(ValueError, match="n_workers must be an integer >= 1, got 0"):
        WorkerPool(0)
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        WorkerPool(1, threads=0)
    assert WorkerPool(1).threads == (os.cpu_count() or 1)
