"""Value objects that travel between evaluators, the study loop, strategies and storage.

``Result`` is what an evaluator returns for one architecture; ``TrialRecord`` is
the frozen record the storage keeps for one trial. Both are immutable: a storage
hands out records and never shares mutable state with its callers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

COMPLETE = "complete"
FAILED = "failed"
RUNNING = "running"
INTERRUPTED = "interrupted"
STATUSES = (RUNNING, COMPLETE, FAILED, INTERRUPTED)


def _frozen_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(metrics or {})


@dataclass(frozen=True)
class Result:
    """The outcome of evaluating one architecture.

    ``value`` is the single number strategies maximise (the feedback: for
    the NAS-Bench-201 protocol, 12-epoch validation accuracy); ``metrics`` holds
    everything measured, including figures that are only reported (test
    accuracy). ``cost`` is in seconds, real or simulated; ``fidelity`` is the
    budget the evaluation used (epochs) when that applies.
    """

    metrics: Mapping[str, Any] = field(default_factory=dict)
    value: float | None = None
    cost: float = 0.0
    fidelity: float | None = None
    status: str = COMPLETE
    error: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))
        if self.status not in (COMPLETE, FAILED):
            raise ValueError(f"Result status must be 'complete' or 'failed', got {self.status!r}")
        if self.status == COMPLETE and (self.value is None or not math.isfinite(self.value)):
            raise ValueError(f"a complete Result needs a finite objective, got {self.value!r}")
        if not math.isfinite(self.cost) or self.cost < 0:
            raise ValueError(f"Result cost must be a finite number of seconds >= 0, got {self.cost!r}")

    @property
    def ok(self) -> bool:
        return self.status == COMPLETE

    @classmethod
    def failure(cls, error: str, cost: float = 0.0, metrics: Mapping[str, Any] | None = None) -> "Result":
        """A failed evaluation with its reason; the search records it and goes on."""
        return cls(metrics=metrics or {}, value=None, cost=cost, status=FAILED, error=error)


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study as stored: frozen, owned by whoever holds it.

    ``arch`` is the canonical string of the architecture (isomorphic twins
    share it). ``duplicate_of`` is the number of the trial whose result
    answered this one when the architecture had been evaluated before.
    """

    study: str
    number: int
    arch: str
    status: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    value: float | None = None
    cost: float = 0.0
    fidelity: float | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker: str | None = None
    duplicate_of: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", _frozen_metrics(self.metrics))
        if self.status not in STATUSES:
            raise ValueError(f"unknown trial status {self.status!r}; known: {', '.join(STATUSES)}")

    @property
    def finished(self) -> bool:
        return self.status in (COMPLETE, FAILED)

    @property
    def wall_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def result(self) -> Result:
        """The Result this trial recorded (only for finished trials)."""
        if not self.finished:
            raise ValueError(f"trial {self.number} is {self.status}; it has no result")
        return Result(metrics=self.metrics, value=self.value, cost=self.cost,
                      fidelity=self.fidelity, status=self.status, error=self.error)

    def with_(self, **changes: Any) -> "TrialRecord":
        return replace(self, **changes)
