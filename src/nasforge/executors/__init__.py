"""Executors run evaluations for the study loop: in this process, in a pool of processes, or on Ray.

``base`` holds the interface (:class:`Executor`, :func:`run_evaluation`),
``serial`` the in-process default, ``process`` the spawn-started process pool
(:class:`WorkerPool`, which bench comparisons and proxy studies use too) and
:class:`ProcessExecutor` on top of it, ``ray`` the same pair on Ray
(:class:`RayPool`, :class:`RayExecutor`; Ray itself is imported only when one
connects). :func:`make_executor` and :func:`make_pool` pick one by name. Every
executor passes the contract tests in ``tests/executors/test_executor_contract.py``.
"""

from __future__ import annotations

from typing import Any, Callable

from nasforge.errors import ConfigError
from nasforge.evaluators.base import Evaluator
from nasforge.executors.base import EvaluationInterrupted, Executor, run_evaluation
from nasforge.executors.process import ProcessExecutor, WorkerDied, WorkerPool, default_threads
from nasforge.executors.ray import RayExecutor, RayPool
from nasforge.executors.serial import SerialExecutor
from nasforge.options import check_choice, check_int

#: the names :func:`make_executor` accepts
EXECUTORS = ("serial", "process", "ray")
#: the names :func:`make_pool` accepts
POOLS = ("process", "ray")


def make_executor(kind: str, evaluator: Evaluator, *, workers: int = 1, threads: int | None = None,
                  ray_address: str | None = None, cpus_per_trial: float = 1, gpus_per_trial: float = 0
                  ) -> Executor:
    """The executor named ``kind`` (serial, process, ray) for ``evaluator`` with ``workers`` trials in flight.

    ``threads``: torch threads per trial (process default: cores / workers; ray default: ``cpus_per_trial``).
    ``ray_address``, ``cpus_per_trial`` and ``gpus_per_trial`` are for ``ray`` only (a local Ray instance
    when no address is given); giving them to another kind is an error rather than silently ignored.
    """
    check_choice("executor", kind, EXECUTORS)
    check_int("workers", workers, minimum=1)
    if kind != "ray":
        given = [name for name, value, default in (("ray_address", ray_address, None),
                                                    ("cpus_per_trial", cpus_per_trial, 1),
                                                    ("gpus_per_trial", gpus_per_trial, 0)) if value != default]
        if given:
            raise ConfigError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for the ray executor, "
                              f"not {kind!r}")
    if kind == "serial":
        if workers != 1:
            raise ConfigError(f"the serial executor runs one trial at a time, got workers={workers}; "
                              f"use 'process' or 'ray' for more")
        return SerialExecutor(evaluator)
    if kind == "process":
        return ProcessExecutor(evaluator, n_workers=workers, threads_per_worker=threads)
    return RayExecutor(evaluator, n_workers=workers, address=ray_address, cpus_per_trial=cpus_per_trial,
                       gpus_per_trial=gpus_per_trial, threads_per_worker=threads)


def check_pool(kind: str, ray_address: str | None = None) -> str:
    """``kind`` when it names a pool (process, ray) and ``ray_address`` is given only with ``ray``."""
    check_choice("executor", kind, POOLS)
    if ray_address is not None and kind != "ray":
        raise ConfigError(f"ray_address={ray_address!r} is for the ray executor, not {kind!r}")
    return kind


def make_pool(kind: str, workers: int, threads: int | None = None, initializer: Callable[..., Any] | None = None,
              initargs: tuple[Any, ...] = (), *, ray_address: str | None = None) -> WorkerPool | RayPool:
    """A pool of ``workers`` for any picklable function: ``process`` (:class:`WorkerPool`) or ``ray``
    (:class:`RayPool`, ``threads`` CPUs per call (default one), on a local Ray instance or the cluster
    at ``ray_address``)."""
    if check_pool(kind, ray_address) == "process":
        return WorkerPool(workers, threads, initializer=initializer, initargs=initargs)
    # a call with `threads` compute threads asks Ray for as many CPUs
    return RayPool(workers, threads, initializer=initializer, initargs=initargs, address=ray_address,
                   cpus_per_task=threads or 1)


__all__ = ["Executor", "EvaluationInterrupted", "run_evaluation", "SerialExecutor", "ProcessExecutor", "WorkerPool",
           "WorkerDied", "RayExecutor", "RayPool", "default_threads", "make_executor", "make_pool", "check_pool",
           "EXECUTORS", "POOLS"]
