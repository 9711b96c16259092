"""Worker processes: the one process pool of nasforge, and the executor built on it.

:class:`WorkerPool` runs any picklable function in ``n_workers`` processes and is
the only place that knows how: workers start with the ``spawn`` method (forking
a process that has started torch's thread pools can hang); each worker limits
torch (and OpenMP/MKL) to ``threads`` threads before anything else runs, so the
workers together use the machine's cores without spinning against each other;
a worker that dies (killed, out of memory) fails the calls in flight with
:class:`WorkerDied` and the pool is rebuilt for later calls. Study executors
(:class:`ProcessExecutor`), bench comparisons (:func:`nasforge.bench.run_bench`)
and proxy studies (:func:`nasforge.evaluators.proxy_study.proxy_study`) all use it.

:class:`ProcessExecutor` sends the evaluator to each worker once, when the
worker starts, and turns every outcome of a call (an exception, a dead
worker) into a :class:`Result`.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future, InvalidStateError, as_completed
from typing import Any, Callable, Iterable, Iterator

from nasforge.evaluators.base import Evaluator
from nasforge.executors.base import WORKER_DIED, EvaluationInterrupted, Executor, run_evaluation
from nasforge.options import check_int
from nasforge.results import Result
from nasforge.spaces.base import Architecture


def default_threads(n_workers: int) -> int:
    """Threads per worker so that ``n_workers`` workers share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // n_workers)


class WorkerDied(RuntimeError):
    """A worker process ended while running (or holding) this call: killed, out of memory, ``os._exit``."""


def limit_threads(threads: int) -> None:
    """Limit this process to ``threads`` compute threads (torch, OpenMP, MKL).

    The environment variables reach torch when it is imported later in the process;
    a torch already imported is set directly. Idle OpenMP threads sleep rather than spin.
    """
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _watch_parent(parent: int, interval: float = 0.5) -> None:
    """End this worker soon after the process that started it is gone (killed with SIGKILL, say),
    instead of lingering as an orphan holding memory and the driver's output streams."""
    import time

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="nasforge-parent-watch", daemon=True).start()


def _start_worker(threads: int, initializer: Callable[..., Any] | None, initargs: tuple[Any, ...],
                  parent: int | None = None) -> None:
    import signal

    # Ctrl-C goes to the whole process group: the driver handles it (marks trials interrupted, stops the
    # workers); a worker must not die of it half-way through sending a result.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _watch_parent(parent)
    limit_threads(threads)
    if initializer is not None:
        initializer(*initargs)
    limit_threads(threads)  # the initializer may have imported torch


def _follow(outer: Future, inner: Future) -> None:
    """Cancelling ``outer`` cancels ``inner``; a cancelled ``outer`` wakes ``wait`` / ``as_completed``.

    (A plain ``Future.cancel`` only wakes them once ``set_running_or_notify_cancel`` is called,
    which an executor does when it would have started the call.)
    """

    def on_done(o: Future) -> None:
        if o.cancelled():
            inner.cancel()
            try:
                o.set_running_or_notify_cancel()
            except RuntimeError:  # already notified
                pass

    outer.add_done_callback(on_done)


def _chain(inner: Future, on_exception: Callable[[BaseException, Future], None]) -> Future:
    """A future that follows ``inner``: its value, its cancellation, and for an exception whatever
    ``on_exception(exc, outer)`` sets (a translated exception, a failed Result, a cancellation)."""
    outer: Future = Future()

    def relay(f: Future) -> None:
        try:
            if f.cancelled():
                outer.cancel()
                return
            exc = f.exception()
            if exc is None:
                outer.set_result(f.result())
            else:
                on_exception(exc, outer)
        except InvalidStateError:  # the caller cancelled the outer future meanwhile
            pass

    _follow(outer, inner)
    inner.add_done_callback(relay)
    return outer


def map_unordered(submit: Callable[..., Future], fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """``fn(item)`` for every item through a pool's ``submit``, yielded as each finishes; the first
    exception is raised here and the calls not yet finished are then cancelled (every pool's ``map_unordered``)."""
    futures = [submit(fn, item) for item in items]
    try:
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        for fut in futures:
            fut.cancel()


class _Generation:
    """One ``ProcessPoolExecutor``; a broken or stopped one is replaced by a new generation."""

    def __init__(self, executor: Any) -> None:
        self.executor = executor
        self.stopped = False  # shut down with cancel: its failing calls end cancelled, not WorkerDied


class WorkerPool:
    """``n_workers`` spawn-started processes with ``threads`` compute threads each.

    ``initializer(*initargs)`` runs once in each worker when it starts (load data, build
    a scorer); it and the functions given to :meth:`submit` must be picklable (module-level).
    Processes start at the first call. ``threads`` defaults to :func:`default_threads`.
    """

    def __init__(self, n_workers: int = 2, threads: int | None = None,
                 initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()) -> None:
        self.n_workers = check_int("n_workers", n_workers, minimum=1)
        self.threads = default_threads(self.n_workers) if threads is None else check_int("threads", threads, minimum=1)
        self.initializer, self.initargs = initializer, tuple(initargs)
        self._lock = threading.Lock()
        self._gen: _Generation | None = None

    def _current(self) -> _Generation:
        with self._lock:
            if self._gen is None:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                self._gen = _Generation(ProcessPoolExecutor(
                    max_workers=self.n_workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                    initargs=(self.threads, self.initializer, self.initargs, os.getpid())))
            return self._gen

    def _discard(self, gen: _Generation) -> None:
        """Forget a broken generation (the next call builds a new one)."""
        with self._lock:
            if self._gen is gen:
                self._gen = None
        gen.executor.shutdown(wait=False)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` in a worker. The future holds its value, its exception, or
        :class:`WorkerDied` when the worker ended first; it is cancelled by ``shutdown(cancel=True)``."""
        from concurrent.futures.process import BrokenProcessPool

        gen = self._current()
        try:
            inner = gen.executor.submit(fn, *args)
        except BrokenProcessPool:  # a worker died since the last call: start afresh
            self._discard(gen)
            gen = self._current()
            inner = gen.executor.submit(fn, *args)

        def on_exception(exc: BaseException, outer: Future) -> None:
            if isinstance(exc, BrokenProcessPool):
                self._discard(gen)
                if gen.stopped:
                    outer.cancel()
                else:
                    outer.set_exception(WorkerDied(f"{WORKER_DIED}: {exc}"))
            else:
                outer.set_exception(exc)

        return _chain(inner, on_exception)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn(item)`` for every item, yielded as each finishes (not in input order).

        An exception (or :class:`WorkerDied`) of any call is raised here; the calls not
        yet started are then cancelled.
        """
        return map_unordered(self.submit, fn, items)

    def shutdown(self, cancel: bool = False) -> None:
        """Stop the workers: after the calls submitted so far, or with ``cancel`` at once
        (queued calls are cancelled, running ones abandoned and their workers terminated).
        A later call starts new workers."""
        with self._lock:
            gen, self._gen = self._gen, None
        if gen is None:
            return
        if not cancel:
            gen.executor.shutdown(wait=True)
            return
        gen.stopped = True
        processes = list((getattr(gen.executor, "_processes", None) or {}).values())
        gen.executor.shutdown(wait=False, cancel_futures=True)
        for p in processes:  # running calls are abandoned: their futures end cancelled
            if p.is_alive():
                p.terminate()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=exc[0] is not None)


_WORKER_EVALUATOR: Evaluator | None = None


def set_worker_evaluator(evaluator: Evaluator) -> None:
    """A pool initializer: the evaluator :func:`evaluate_in_worker` uses in this worker process (every
    executor built on a pool, process or Ray, starts its workers with it)."""
    global _WORKER_EVALUATOR
    _WORKER_EVALUATOR = evaluator


def evaluate_in_worker(arch: Architecture, fidelity: float | None) -> Result:
    """The pool call of an executor: evaluate ``arch`` with this worker's evaluator (exceptions become
    failed Results)."""
    assert _WORKER_EVALUATOR is not None, "worker not initialised"
    return run_evaluation(_WORKER_EVALUATOR, arch, fidelity)


def _evaluation_outcome(exc: BaseException, outer: Future) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):  # the evaluator asked to stop
        outer.set_exception(EvaluationInterrupted(f"the evaluator raised {type(exc).__name__}"
                                                  + (f"({exc})" if str(exc) else "")))
    elif isinstance(exc, WorkerDied):
        outer.set_result(Result.failure(str(exc)))
    else:  # e.g. the result could not be pickled
        outer.set_result(Result.failure(f"{type(exc).__name__}: {exc}"))


def evaluation_future(call: Future) -> "Future[Result]":
    """The future of a pool call of ``evaluate_in_worker`` as an executor's: a failed Result for a dead worker or any
    other error, :class:`EvaluationInterrupted` when the evaluator raised KeyboardInterrupt or SystemExit."""
    return _chain(call, _evaluation_outcome)


class ProcessExecutor(Executor):
    """A :class:`WorkerPool` of ``n_workers`` processes, each with ``threads_per_worker`` torch threads.

    A worker that dies (killed, out of memory) fails the trials in flight at
    that moment, with the reason; the pool is rebuilt and later trials run normally.
    """

    isolated = True

    def __init__(self, evaluator: Evaluator, n_workers: int = 2, threads_per_worker: int | None = None) -> None:
        check_int("n_workers", n_workers, minimum=1)
        if threads_per_worker is not None:
            check_int("threads_per_worker", threads_per_worker, minimum=1)
        self.evaluator = evaluator
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker or default_threads(n_workers)
        self._pool = WorkerPool(n_workers, self.threads_per_worker, initializer=set_worker_evaluator,
                                initargs=(evaluator,))

    def submit(self, arch: Architecture, fidelity: float | None = None) -> "Future[Result]":
        return evaluation_future(self._pool.submit(evaluate_in_worker, arch, fidelity))

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(cancel=cancel)


__all__ = ["WorkerPool", "WorkerDied", "ProcessExecutor", "default_threads", "evaluate_in_worker", "evaluation_future",
           "limit_threads", "map_unordered", "set_worker_evaluator"]
