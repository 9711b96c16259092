"""Executors run evaluations for the study loop: in this process, or in a pool of processes.

An executor is made for one evaluator; ``submit(arch, fidelity)`` returns a
``concurrent.futures.Future`` whose result is always a :class:`Result`
(an evaluator that raises gives a failed result with the reason, so a bad
trial never stops the search).

:class:`ProcessExecutor` sends the evaluator to each worker once, when the
worker starts, and sets torch's thread count per worker so the workers
together use the machine's cores without oversubscribing them. Workers start
with the ``spawn`` method (forking a process that has started torch's thread
pools can hang).
"""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any

from nasforge.evaluators.base import Evaluator
from nasforge.results import Result
from nasforge.spaces.base import Architecture


def run_evaluation(evaluator: Evaluator, arch: Architecture, fidelity: float | None = None) -> Result:
    """``evaluator.evaluate`` with any exception turned into a failed Result naming it."""
    try:
        return evaluator.evaluate(arch, fidelity)
    except Exception as exc:  # a failing trial is recorded with its reason; the search goes on
        return Result.failure(f"{type(exc).__name__}: {exc}")


class SerialExecutor:
    """Runs each evaluation at once, in this process."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.n_workers = 1

    def submit(self, arch: Architecture, fidelity: float | None = None) -> Future:
        fut: Future = Future()
        fut.set_result(run_evaluation(self.evaluator, arch, fidelity))
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        """Nothing to release."""

    def __enter__(self) -> "SerialExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


_WORKER_EVALUATOR: Evaluator | None = None


def _init_worker(evaluator: Evaluator, threads: int) -> None:
    global _WORKER_EVALUATOR
    _WORKER_EVALUATOR = evaluator
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # tabular evaluators need no torch
        pass


def _work(arch: Architecture, fidelity: float | None) -> Result:
    assert _WORKER_EVALUATOR is not None, "worker not initialised"
    return run_evaluation(_WORKER_EVALUATOR, arch, fidelity)


def default_threads(n_workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // n_workers)


class ProcessExecutor:
    """A pool of ``n_workers`` processes, each with ``threads_per_worker`` torch threads.

    A worker that dies (killed, out of memory) fails the trials in flight at
    that moment, with the reason; the pool is rebuilt and later trials run normally.
    """

    def __init__(self, evaluator: Evaluator, n_workers: int = 2, threads_per_worker: int | None = None) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be an integer >= 1, got {n_workers!r}")
        if threads_per_worker is not None and (not isinstance(threads_per_worker, int) or threads_per_worker < 1):
            raise ValueError(f"threads_per_worker must be an integer >= 1 or None, got {threads_per_worker!r}")
        self.evaluator = evaluator
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker or default_threads(n_workers)
        self._pool: Any = None

    def _ensure_pool(self) -> Any:
        if self._pool is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.n_workers, mp_context=mp.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(self.evaluator, self.threads_per_worker))
        return self._pool

    def submit(self, arch: Architecture, fidelity: float | None = None) -> Future:
        from concurrent.futures.process import BrokenProcessPool

        outer: Future = Future()
        try:
            inner = self._ensure_pool().submit(_work, arch, fidelity)
        except BrokenProcessPool:
            self._pool = None
            inner = self._ensure_pool().submit(_work, arch, fidelity)

        def relay(f: Future) -> None:
            try:
                outer.set_result(f.result())
            except BrokenProcessPool as exc:
                self._pool = None  # rebuilt on the next submit
                outer.set_result(Result.failure(f"worker process died: {exc}"))
            except Exception as exc:  # e.g. the result could not be pickled
                outer.set_result(Result.failure(f"{type(exc).__name__}: {exc}"))

        inner.add_done_callback(relay)
        return outer

    def shutdown(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> "ProcessExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=exc[0] is not None)
