"""Executors run evaluations for the study loop: in this process, or in a pool of processes.

``base`` holds the interface (:class:`Executor`, :func:`run_evaluation`),
``serial`` the in-process default, ``process`` the spawn-started process pool
(:class:`WorkerPool`, which bench comparisons and proxy studies use too) and
:class:`ProcessExecutor` on top of it. A Ray executor goes beside them and
passes the same contract tests (``tests/executors/test_executor_contract.py``).
"""

from nasforge.executors.base import EvaluationInterrupted, Executor, run_evaluation
from nasforge.executors.process import ProcessExecutor, WorkerDied, WorkerPool, default_threads
from nasforge.executors.serial import SerialExecutor

__all__ = ["Executor", "EvaluationInterrupted", "run_evaluation", "SerialExecutor", "ProcessExecutor", "WorkerPool", "WorkerDied",
           "default_threads"]
