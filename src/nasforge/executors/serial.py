"""The default executor: each evaluation runs at once, in the calling process."""

from __future__ import annotations

from concurrent.futures import Future

from nasforge.evaluators.base import Evaluator
from nasforge.executors.base import Executor, run_evaluation
from nasforge.results import Result
from nasforge.spaces.base import Architecture


class SerialExecutor(Executor):
    """Runs each evaluation at once, in this process (``submit`` returns a finished future)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.n_workers = 1

    def submit(self, arch: Architecture, fidelity: float | None = None) -> "Future[Result]":
        fut: Future = Future()
        fut.set_result(run_evaluation(self.evaluator, arch, fidelity))
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        """Nothing to release."""


__all__ = ["SerialExecutor"]
