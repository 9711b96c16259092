"""Value objects that travel between evaluators, the study loop, strategies and storage.

``Result`` is what an evaluator returns for one architecture; ``TrialRecord`` is
the frozen record the storage keeps for one trial. Both are immutable: a storage
hands out records and never shares mutable state with its callers.

``Objective`` (a metric and a direction) and ``Constraint`` (a metric, a
comparison and a bound) say what a study optimises and what it requires.
Words used throughout: an *objective* is a named metric with a direction; its
number for one trial is a *value*; *metrics* are everything an evaluator
measured.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from nasforge.errors import ConfigError

DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Objective:
    """A metric to optimise and its direction (``max`` or ``min``).

    ``Objective.parse("params:min")``; a name without a direction is maximised.
    """

    name: str
    direction: str = "max"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"an objective needs a metric name, got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"objective {self.name!r}: unknown direction {self.direction!r}; accepted: max, min")

    @property
    def sign(self) -> float:
        """+1 to maximise, -1 to minimise: ``sign * value`` is larger-is-better."""
        return 1.0 if self.direction == "max" else -1.0

    @classmethod
    def parse(cls, spec: "str | Objective") -> "Objective":
        if isinstance(spec, Objective):
            return spec
        name, _, direction = str(spec).strip().partition(":")
        if not name or (direction or "max") not in DIRECTIONS:
            raise ConfigError(f"malformed objective {spec!r}; expected 'metric', 'metric:max' or 'metric:min'")
        return cls(name.strip(), direction.strip() or "max")

    def __str__(self) -> str:
        return f"{self.name}:{self.direction}"


def _spec_list(specs: Any, kind: type) -> list[Any]:
    """A comma-separated string, one ``kind`` object or a sequence of either -> a list of single specs."""
    if specs is None:
        return []
    if isinstance(specs, str):
        return [p for p in specs.split(",") if p.strip()]
    return [specs] if isinstance(specs, kind) else list(specs)


def parse_objectives(specs: "str | Objective | Sequence[str | Objective] | None") -> tuple[Objective, ...]:
    """``"val_acc:max,params:min"`` or a list of specs / Objectives -> a tuple of Objectives (None: empty)."""
    out = tuple(Objective.parse(s) for s in _spec_list(specs, Objective))
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"objectives name a metric twice: {', '.join(names)}")
    return out


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """A requirement on one metric: ``metric op bound`` with op one of ``<=``, ``<``, ``>=``, ``>``.

    ``Constraint.parse("params <= 1e6")``. An architecture that violates a constraint is
    recorded with its values and marked infeasible; it is never a study's best.
    """

    metric: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ConfigError(f"constraint on {self.metric!r}: unknown comparison {self.op!r}; "
                              f"accepted: {', '.join(_OPS)}")
        b = self.bound
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
            raise ConfigError(f"constraint on {self.metric!r}: the bound must be a finite number, got {b!r}")
        object.__setattr__(self, "bound", float(b))

    @classmethod
    def parse(cls, spec: "str | Constraint") -> "Constraint":
        if isinstance(spec, Constraint):
            return spec
        m = _CONSTRAINT_RE.match(str(spec))
        if m is None:
            raise ConfigError(f"malformed constraint {spec!r}; expected 'metric <= number' (or <, >=, >), "
                              f"e.g. 'params <= 1e6' or 'latency_ms < 5'")
        try:
            bound = float(m.group(3))
        except ValueError:
            raise ConfigError(f"malformed constraint {spec!r}: {m.group(3)!r} is not a number") from None
        return cls(m.group(1), m.group(2), bound)

    def violation(self, metrics: Mapping[str, Any]) -> str | None:
        """None when ``metrics`` satisfy the constraint, else why not (a missing metric violates it)."""
        if self.metric not in metrics:
            return f"{self.metric} missing (metrics: {', '.join(sorted(metrics))})"
        try:
            v = float(metrics[self.metric])
        except (TypeError, ValueError):
            return f"{self.metric} = {metrics[self.metric]!r} is not a number"
        if not math.isfinite(v) or not _OPS[self.op](v, self.bound):
            return f"{self.metric} = {v:g} violates {self}"
        return None

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def parse_constraints(specs: "str | Constraint | Sequence[str | Constraint] | None") -> tuple[Constraint, ...]:
    """``"params <= 1e6, latency_ms < 5"`` or a list of specs / Constraints -> a tuple of Constraints."""
    return tuple(Constraint.parse(s) for s in _spec_list(specs, Constraint))


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
    ``value`` is the study's first objective's metric as measured (not signed).
    ``feasible`` is False for a complete trial that violates a constraint (its
    values are kept); ``source`` says where the trial came from: ``ask`` (the
    study's strategy) or what :meth:`~nasforge.study.Study.add_trial` was given
    (``darts``, ``import``, a peer's name, ...). ``tells_before`` (how many results
    the study had told its strategy when this trial was asked) and ``tell_order``
    (this result's place among them) let a resume replay asks and tells in the
    order they happened, whatever the clocks said.
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
    feasible: bool = True
    source: str = "ask"
    tells_before: int | None = None
    tell_order: int | None = None

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
