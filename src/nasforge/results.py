"""Value objects that travel between evaluators, the study loop, strategies and storage.

``Result`` is what an evaluator returns for one architecture; ``TrialRecord`` is
the frozen record the storage keeps for one trial. Both are immutable: a storage
hands out records and never shares mutable state with its callers.

``Objective`` (a metric and a direction) and ``Constraint`` (a metric, a
comparison and a bound) say what a study optimises and what it requires.
A ``DerivedMetric`` (such as :class:`MnasNetReward`) is a metric computed from
other metrics when a trial is recorded, so it can be an objective or a
constraint like any measured one. Words used throughout: an *objective* is a
named metric with a direction; its number for one trial is a *value*;
*metrics* are everything an evaluator measured (and the derived metrics).
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Mapping, Sequence

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


_METRIC_RE = re.compile(r"^[A-Za-z_][\w.\-]*$")


class DerivedMetric:
    """A metric computed from a trial's other metrics when the trial is recorded (by the study).

    Subclasses are frozen dataclasses with a ``name`` (the metric they add), :meth:`inputs` and
    :meth:`compute`; ``str(d)`` is a spec that :func:`parse_derived` reads back.
    """

    name: str
    #: the word a spec starts with, ``kind(...)``
    kind: ClassVar[str] = ""

    def inputs(self) -> tuple[str, ...]:
        """The metrics the derived one is computed from."""
        raise NotImplementedError

    def compute(self, metrics: Mapping[str, Any]) -> float:
        """The derived value; ValueError saying why it cannot be computed (a missing or bad input)."""
        raise NotImplementedError


def _number(text: str, what: str, spec: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ConfigError(f"{what} must be a number, got {text!r} in {spec!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite number, got {text!r} in {spec!r}")
    return v


def _num_text(x: float) -> str:
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _input_number(metrics: Mapping[str, Any], name: str) -> float:
    if name not in metrics:
        raise ValueError(f"metric {name!r} missing (metrics: {', '.join(sorted(metrics)) or '(none)'})")
    try:
        v = float(metrics[name])
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {metrics[name]!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} = {v}")
    return v


#: the MnasNet paper's exponent for its soft latency constraint (alpha = beta = -0.07)
MNASNET_W = -0.07


@dataclass(frozen=True)
class MnasNetReward(DerivedMetric):
    """MnasNet's reward (Tan et al., "MnasNet: platform-aware neural architecture search for mobile",
    CVPR 2019): ``accuracy * (latency / target) ** w`` with ``w = alpha`` when ``latency <= target``,
    else ``beta``.

    A scalarisation of accuracy and latency that any single-objective strategy can maximise. The
    paper's soft constraint is ``alpha = beta = -0.07`` (the default): a network twice as slow as
    the target loses about 5 % of its reward, twice as fast gains about 5 %. Its hard constraint is
    ``alpha = 0, beta = -1``: no reward for being faster than the target, and the reward falls in
    proportion above it. ``target`` is in the latency metric's units. Spec (:func:`parse_derived`):
    ``mnasnet(val_acc, latency_ms, target=5, w=-0.07)``, or ``alpha=0, beta=-1``, and ``name=`` for
    another metric name than ``mnasnet_reward``.
    """

    accuracy: str
    latency: str
    target: float
    alpha: float = MNASNET_W
    beta: float = MNASNET_W
    name: str = "mnasnet_reward"
    kind: ClassVar[str] = "mnasnet"
    OPTIONS: ClassVar[tuple[str, ...]] = ("target", "w", "alpha", "beta", "name")

    def __post_init__(self) -> None:
        for what, metric in (("accuracy", self.accuracy), ("latency", self.latency), ("name", self.name)):
            if not isinstance(metric, str) or not _METRIC_RE.match(metric):
                raise ConfigError(f"mnasnet: the {what} must be a metric name, got {metric!r}")
        for what in ("target", "alpha", "beta"):
            v = getattr(self, what)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"mnasnet: {what} must be a finite number, got {v!r}")
            object.__setattr__(self, what, float(v))
        if self.target <= 0:
            raise ConfigError(f"mnasnet: target must be a latency > 0 (in the units of {self.latency!r}), "
                              f"got {self.target!r}")

    @classmethod
    def from_spec(cls, args: Sequence[str], options: Mapping[str, str], spec: str) -> "MnasNetReward":
        """``args`` (the accuracy and latency metric names) and ``options`` of a ``mnasnet(...)`` spec."""
        if len(args) != 2:
            raise ConfigError(f"mnasnet takes two metric names, the accuracy and the latency, then target=...; "
                              f"got {list(args)} in {spec!r}")
        unknown = [k for k in options if k not in cls.OPTIONS]
        if unknown:
            raise ConfigError(f"mnasnet: unknown option {unknown[0]!r} in {spec!r}; accepted: {', '.join(cls.OPTIONS)}")
        if "target" not in options:
            raise ConfigError(f"mnasnet needs target=<latency target, in the latency metric's units> in {spec!r}, "
                              f"e.g. 'mnasnet(val_acc, latency_ms, target=5, w=-0.07)'")
        if "w" in options and ("alpha" in options or "beta" in options):
            raise ConfigError(f"mnasnet: give w (the soft constraint, alpha = beta = w) or alpha and beta, "
                              f"not both, in {spec!r}")
        num = {k: _number(v, f"mnasnet: {k}", spec) for k, v in options.items() if k != "name"}
        w = num.get("w", MNASNET_W)
        return cls(args[0], args[1], num["target"], num.get("alpha", w), num.get("beta", w),
                   options.get("name", "mnasnet_reward"))

    def inputs(self) -> tuple[str, ...]:
        return (self.accuracy, self.latency)

    def compute(self, metrics: Mapping[str, Any]) -> float:
        acc = _input_number(metrics, self.accuracy)
        lat = _input_number(metrics, self.latency)
        if lat <= 0:
            raise ValueError(f"{self.latency} = {lat:g} is not a positive latency")
        ratio = lat / self.target
        return acc * ratio ** (self.alpha if ratio <= 1.0 else self.beta)

    def __str__(self) -> str:
        w = (f"w={_num_text(self.alpha)}" if self.alpha == self.beta
             else f"alpha={_num_text(self.alpha)}, beta={_num_text(self.beta)}")
        name = "" if self.name == "mnasnet_reward" else f", name={self.name}"
        return f"mnasnet({self.accuracy}, {self.latency}, target={_num_text(self.target)}, {w}{name})"


#: derived metric kinds: the word a spec starts with -> the class that reads the rest
DERIVED_KINDS: dict[str, type] = {"mnasnet": MnasNetReward}
_DERIVED_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.DOTALL)


def parse_derived_metric(spec: "str | DerivedMetric") -> DerivedMetric:
    """One derived metric from ``kind(arg, ..., key=value, ...)``, e.g.
    ``mnasnet(val_acc, latency_ms, target=5, w=-0.07)`` (see :data:`DERIVED_KINDS`)."""
    if isinstance(spec, DerivedMetric):
        return spec
    text = str(spec)
    m = _DERIVED_RE.match(text)
    if m is None:
        raise ConfigError(f"malformed derived metric {text!r}; expected kind(metric, ..., option=value, ...), "
                          f"e.g. 'mnasnet(val_acc, latency_ms, target=5, w=-0.07)'")
    kind, body = m.group(1), m.group(2)
    if kind not in DERIVED_KINDS:
        raise ConfigError(f"unknown derived metric {kind!r} in {text!r}; known: {', '.join(DERIVED_KINDS)}")
    args: list[str] = []
    options: dict[str, str] = {}
    for part in (p.strip() for p in body.split(",")):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if eq:
            if not key or not value or key in options:
                raise ConfigError(f"malformed option {part!r} in {text!r}; expected key=value, each key once")
            options[key] = value
        elif options or not _METRIC_RE.match(part):
            raise ConfigError(f"{part!r} in {text!r}: metric names come first and must be names "
                              f"(letters, digits, _ . -), then key=value options")
        else:
            args.append(part)
    return DERIVED_KINDS[kind].from_spec(args, options, text)  # type: ignore[attr-defined,no-any-return]


def _split_top_level(text: str) -> list[str]:
    """Split at the commas outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


def parse_derived(specs: "str | DerivedMetric | Sequence[str | DerivedMetric] | None") -> tuple[DerivedMetric, ...]:
    """Derived metrics from specs (one string, a string of several separated by commas outside the
    parentheses, a list, or DerivedMetric objects; None: none). Their names must differ."""
    if specs is None:
        items: list[Any] = []
    elif isinstance(specs, str):
        items = _split_top_level(specs)
    elif isinstance(specs, DerivedMetric):
        items = [specs]
    else:
        items = list(specs)
    out = tuple(parse_derived_metric(s) for s in items)
    names = [d.name for d in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"derived metrics share a name: {', '.join(names)}; give each its own name=...")
    return out


def with_derived(metrics: Mapping[str, Any], derived: Sequence[DerivedMetric]) -> dict[str, Any]:
    """``metrics`` with each derived metric added, in order (a later one may read an earlier one).

    Raises ValueError naming the derived metric and why it cannot be computed.
    """
    out = dict(metrics)
    for d in derived:
        try:
            out[d.name] = d.compute(out)
        except ValueError as exc:
            raise ValueError(f"derived metric {d.name!r} ({d}): {exc}") from None
    return out


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
    order they happened, whatever the clocks said. ``heartbeat_at`` is when the
    driver running the trial last said it was alive (see
    :meth:`~nasforge.storage.base.Storage.heartbeat`); ``retry_of`` is the number
    of the failed trial this one evaluates again (a retry or a re-queue).
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
    heartbeat_at: float | None = None
    retry_of: int | None = None

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
