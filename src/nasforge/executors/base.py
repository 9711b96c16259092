"""The executor interface: how the study loop runs evaluations (here, in worker processes, on Ray).

An executor is made for one evaluator. ``submit(arch, fidelity)`` returns a
``concurrent.futures.Future`` whose result is always a :class:`Result`: an
evaluator that raises, and (for executors that isolate evaluations) a worker
that dies, give a failed result naming the reason, so a bad trial never stops
a search. ``shutdown(cancel=True)`` returns promptly: queued work is cancelled
and work in flight is abandoned (its futures end cancelled).

Every executor runs ``tests/executors/test_executor_contract.py``; a new one
(e.g. Ray) adds itself to that file's parametrization.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future

from nasforge.evaluators.base import Evaluator
from nasforge.results import Result
from nasforge.spaces.base import Architecture


#: how the reason of a trial whose worker process died (killed, out of memory) starts, in every executor;
#: the study's ``retries`` evaluate such trials again
WORKER_DIED = "worker process died"


class EvaluationInterrupted(KeyboardInterrupt):
    """An evaluation in another process raised KeyboardInterrupt or SystemExit: the search stops (as on
    Ctrl-C) and the trials in flight are recorded as interrupted."""


def run_evaluation(evaluator: Evaluator, arch: Architecture, fidelity: float | None = None) -> Result:
    """``evaluator.evaluate`` with any exception turned into a failed Result naming it.

    KeyboardInterrupt and SystemExit are not failures of the trial but requests to stop: they propagate
    (from a worker process, as :class:`EvaluationInterrupted`)."""
    try:
        return evaluator.evaluate(arch, fidelity)
    except Exception as exc:  # a failing trial is recorded with its reason; the search goes on
        return Result.failure(f"{type(exc).__name__}: {exc}")


class Executor(ABC):
    """Runs evaluations of one evaluator, up to ``n_workers`` at a time.

    ``isolated`` says whether an evaluation runs apart from the caller, so that a crash
    of its process (``os._exit``, a segfault, the out-of-memory killer) fails only the
    trials it was running.
    """

    #: how many evaluations run at once (the study keeps this many trials in flight)
    n_workers: int = 1
    #: whether a crashing evaluation process fails only its own trials
    isolated: bool = False

    @abstractmethod
    def submit(self, arch: Architecture, fidelity: float | None = None) -> "Future[Result]":
        """Start evaluating ``arch``; the future's result is a :class:`Result` (never an exception)."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> None:
        """Release the workers: wait for work in flight, or with ``cancel`` drop it and return at once."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=exc[0] is not None)


__all__ = ["Executor", "EvaluationInterrupted", "WORKER_DIED", "run_evaluation"]
