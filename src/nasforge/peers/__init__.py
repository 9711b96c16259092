"""Peer frameworks (Optuna, NNI) run through their own public APIs on any nasforge space and evaluator.

:func:`run_peer_on` runs one peer search over a space with an evaluator (a
:class:`~nasforge.evaluators.training.TrainingEvaluator` on a task, a
:class:`~nasforge.evaluators.base.FunctionEvaluator`, a tabular benchmark);
:func:`run_peer` builds a registered benchmark by name and calls it (what
``nasforge bench`` and ``benchmarks/`` use to put a peer beside nasforge's
strategies under the same protocol). The peer sees the space only as its
generic choices (``space.choices``, conditional ones through ``when``) and
only the feedback figure (``Result.value``), which it maximises; the
reported figure (the evaluator's ``report`` metric) is recorded for the
caller, never shown to the peer. The evaluator's ``prepare()`` is called
once before the search, as a study calls it.

Accounting is that of :meth:`nasforge.study.Study.optimize`: before a new
trial starts, the search stops when ``n_trials`` trials ran or the summed cost
reached ``budget_seconds`` (so the trial that crosses the seconds budget
counts). A proposal whose architecture (``space.key``) was evaluated before
with a complete result is answered by that result, not evaluated again (no
second training), and charged its cost again, as a study with
``charge_duplicates=True`` does (nasforge's NB201 protocol); the peers'
own de-duplication (NNI's strategies never propose a sample twice) is kept,
so a peer that runs out of new proposals (NNI on a small space) ends early.

Invalid proposals (``space.make`` raises, e.g. a NAS-Bench-Graph cell whose
operations are all ``skip``) and failed evaluations count as trials with cost 0
(a failed evaluation: the cost its result charged), recorded with
``objective`` and ``report`` None, and are reported to the peer as the worst
outcome. A failed evaluation is one whose result is a failure (a failed
lookup, a diverged training) or whose ``evaluate`` raised (the exception is
turned into a failure naming it, as in a study, and the search goes on); its
record also has ``"error"``, the reason. To the peer: Optuna gets the trial
told as ``PRUNED`` (TPE ranks pruned trials without intermediate values below
every complete one; NSGA-II and random sampling ignore them), NNI gets
``-inf`` as the final metric (a tournament never picks it while a finite
member is drawn beside it).

Peers:

* ``optuna-tpe``: ``TPESampler(seed=seed)`` with Optuna's default settings
  (the fair baseline: no ``multivariate``/``group``).
* ``optuna-nsga2``: ``NSGAIISampler(seed=seed)``, default settings
  (population 50), on the single objective, or in Optuna's multi-objective
  mode when ``objectives`` are given (below).
* ``optuna-random``: ``RandomSampler(seed=seed)``.
  All three use an in-memory study driven by ``ask``/``tell`` with
  define-by-run ``suggest_categorical`` calls (a conditional choice is
  suggested only when active). Options that are not ``None``/bool/int/float/str
  are suggested by index.
* ``nni-random``: ``nni.nas.strategy.Random(seed=seed)`` (de-duplicating, NNI's default).
* ``nni-rea``: ``nni.nas.strategy.RegularizedEvolution(population_size=10,
  sample_size=3, seed=seed)`` (nasforge's REA sizes; NNI's other defaults:
  per-choice ``mutation_prob=0.05``, de-duplication, tournament without
  replacement). Both run in this process, with no web server or experiment
  manager: a ``RawFormatModelSpace`` over a ``MutableDict`` of one
  ``nni.mutable.Categorical`` per choice, a ``FunctionalEvaluator`` that looks
  the sample up and calls ``nni.report_final_result``, and a
  ``SequentialExecutionEngine`` whose ``budget_available`` applies the budget
  above. NNI has no conditional choices in a flat space, so every choice is
  sampled and inactive ones are dropped before the lookup (the strategy then
  searches some redundant values). NNI seeds its ``RandomState`` from ``seed``;
  the global ``random`` and ``numpy.random`` states are also seeded for the
  run and restored afterwards, in case any NNI code draws from them.

Several objectives: ``run_peer(..., objectives="valid_perf:max,latency:min")``
(``run_peer_on`` alike) runs an Optuna peer on a multi-objective Optuna
study whose directions are the objectives' (``maximize`` / ``minimize``);
each trial is told the
objectives' values as measured, and its record gains ``"values"`` (those
values, None for an invalid or failed trial). ``objective`` is then the first
objective signed so that larger is better (what a nasforge strategy is told).
The NNI peers take one objective only. ``derived`` metrics (specs or
:class:`~nasforge.results.DerivedMetric`, e.g. ``"mnasnet(valid_perf, latency,
target=0.004)"``) are computed from each evaluation's metrics first, as a study
computes them, so ``objectives="mnasnet_reward:max"`` lets any peer search
the MnasNet reward.

Optuna and NNI are imported only inside :func:`run_peer_on`; install them with
``pip install 'nasforge[peers]'`` (importing NNI's NAS package loads torch and
PyTorch Lightning: several seconds, once per process). Their logging is lowered to warnings
(Optuna) and errors (NNI) for the run and restored afterwards.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, Callable, Hashable, Mapping

from nasforge.evaluators.base import Evaluator
from nasforge.results import Result, with_derived
from nasforge.spaces.base import SearchSpace

PEERS = ("optuna-tpe", "optuna-nsga2", "optuna-random", "nni-random", "nni-rea")

_PACKAGE = {"optuna": "optuna", "nni": "nni"}
INSTALL_HINT = "pip install 'nasforge[peers]'"


def _framework(name: str) -> str:
    return name.split("-", 1)[0]


def check_peer(name: str) -> str:
    """Raise ``ValueError: unknown peer 'x'; known: ...`` unless ``name`` is a peer."""
    if name not in PEERS:
        import difflib

        close = difflib.get_close_matches(str(name), PEERS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"unknown peer {name!r}{hint}; known: {', '.join(PEERS)}")
    return name


def available_peers() -> list[str]:
    """The peers whose framework is installed (checked without importing it)."""
    return [p for p in PEERS if importlib.util.find_spec(_PACKAGE[_framework(p)]) is not None]


def _require(framework: str) -> None:
    package = _PACKAGE[framework]
    try:
        importlib.import_module(package)
    except ImportError as exc:
        raise ImportError(f"peer framework {package!r} is not installed or does not import ({exc}); "
                          f"install it with: {INSTALL_HINT}") from exc


class PeerRun:
    """The budget, the trial list and the evaluations of one peer search (shared by the adapters).

    An adapter asks :meth:`may_start` before it lets the peer start a trial and
    calls :meth:`evaluate` with the peer's choice values; the returned feedback
    (None for an invalid or failed trial) is what it tells the peer. With
    ``objectives`` (a tuple of :class:`~nasforge.results.Objective`), a
    multi-objective adapter calls :meth:`evaluate_objectives` instead and tells
    the values it returns. ``space`` is what the peer searches; ``evaluator``
    scores its architectures (its ``report`` metric is recorded).
    """

    def __init__(self, space: SearchSpace, evaluator: Evaluator, n_trials: int | None,
                 budget_seconds: float | None, objectives: tuple[Any, ...] = (),
                 derived: tuple[Any, ...] = ()) -> None:
        self.space = space
        self.evaluator = evaluator
        self.n_trials = n_trials
        self.budget_seconds = budget_seconds
        self.objectives = tuple(objectives)
        self.derived = tuple(derived)
        self.trials: list[dict[str, Any]] = []
        self.spent = 0.0
        self._answers: dict[str, Result] = {}  # architecture key -> its complete result (answers repeats)

    def may_start(self) -> bool:
        """Study.optimize's rule: stop before a new trial once either budget is reached."""
        if self.n_trials is not None and len(self.trials) >= self.n_trials:
            return False
        return self.budget_seconds is None or self.spent < self.budget_seconds

    def active_values(self, values: Mapping[str, Hashable]) -> dict[str, Hashable]:
        """Only the choices active under ``values`` (for peers that sample every choice)."""
        lay = self.space.layout
        return {c.name: values[c.name] for c in lay.active(values) if c.name in values}

    def evaluate(self, values: Mapping[str, Hashable]) -> float | None:
        """Evaluate the choice values and record the trial; the feedback (larger is better), or None."""
        return self._lookup(values)[0]

    def evaluate_objectives(self, values: Mapping[str, Hashable]) -> list[float] | None:
        """Evaluate the choice values and record the trial; the objectives' values as measured, or None."""
        return self._lookup(values)[1]

    def _lookup(self, values: Mapping[str, Hashable]) -> tuple[float | None, list[float] | None]:
        from nasforge.executors import run_evaluation
        from nasforge.spaces.base import InvalidArchitectureError

        try:
            arch = self.space.make(dict(values))
        except InvalidArchitectureError:
            self._record(_raw_string(self.space, values), None, None, 0.0, None)
            return None, None
        key = self.space.key(arch)
        result = self._answers.get(key)
        if result is None:
            result = run_evaluation(self.evaluator, arch)  # an exception becomes a failed result naming it
            if result.ok:
                self._answers[key] = result
        metrics, objective, objs = result.metrics, float(result.value) if result.ok else None, None
        if result.ok and (self.derived or self.objectives):
            try:
                metrics = with_derived(metrics, self.derived)
                objs = [float(metrics[o.name]) for o in self.objectives]
            except (ValueError, KeyError, TypeError):  # a bad derived input or objective: a failed trial
                objective = None
            else:
                if objs:
                    objective = self.objectives[0].sign * objs[0]
        report = metrics.get(self.evaluator.report) if objective is not None else None
        self._record(key, objective, None if report is None else float(report), float(result.cost),
                     objs if objective is not None else None, None if result.ok else str(result.error))
        return objective, objs if objective is not None else None

    def _record(self, arch: str, objective: float | None, report: float | None, cost: float,
                values: list[float] | None, error: str | None = None) -> None:
        rec: dict[str, Any] = {"arch": arch, "objective": objective, "report": report, "cost": cost}
        if self.objectives:
            rec["values"] = values
        if error is not None:
            rec["error"] = error
        self.trials.append(rec)
        self.spent += cost


def _raw_string(space: Any, values: Mapping[str, Hashable]) -> str:
    """A readable string for values that are not an architecture of the space."""
    from nasforge.spaces.base import Architecture

    try:
        return str(space.to_string(Architecture(space.name, tuple(values.items()))))
    except Exception:  # the space's own format may need valid values
        return ",".join(f"{k}={v}" for k, v in values.items())


def run_peer_on(name: str, space: SearchSpace, evaluator: Evaluator, seed: int, n_trials: int | None = None,
                budget_seconds: float | None = None, objectives: Any = None,
                derived: Any = None) -> list[dict[str, Any]]:
    """Run one search of peer ``name`` over ``space``, scoring architectures with ``evaluator``, and return
    its trials in order, each ``{"arch": canonical string (space.key(arch)), "objective": feedback float or
    None, "report": the evaluator's report metric or None, "cost": float}``, with ``"error"`` (the reason)
    when the evaluation failed or raised, and with ``objectives`` also ``"values"`` (the objectives' values
    as measured, or None).

    ``name`` is one of :data:`PEERS`; ``evaluator`` is a :class:`~nasforge.evaluators.base.Evaluator`
    whose ``evaluate(arch)`` scores architectures of ``space`` (``evaluator.prepare()`` is called once
    first). At least one budget is required, and ``budget_seconds`` needs an evaluator that reports a cost
    (as for a Study). ``objectives`` (``"val_acc:max,params:min"`` or a list) runs an Optuna peer in
    multi-objective mode; ``derived`` adds derived metrics (see the module's docstring).
    """
    check_peer(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if not isinstance(space, SearchSpace):
        raise ValueError(f"space must be a nasforge SearchSpace (e.g. create_space('nb201')), "
                         f"got {type(space).__name__} {space!r:.60}")
    if not isinstance(evaluator, Evaluator):
        raise ValueError(f"evaluator must be a nasforge Evaluator (a plain function can be wrapped in "
                         f"nasforge.evaluators.base.FunctionEvaluator), got {type(evaluator).__name__} "
                         f"{evaluator!r:.60}")
    own = getattr(evaluator, "space", None)
    if isinstance(own, SearchSpace) and own is not space and (own.name, own.choices) != (space.name, space.choices):
        raise ValueError(f"space {space.name!r} is not the space the evaluator scores ({own.name!r}, "
                         f"{len(own.choices)} choices); pass the evaluator's space")
    from nasforge.results import parse_derived, parse_objectives
    from nasforge.study import check_budgets

    objs, ders = parse_objectives(objectives), parse_derived(derived)
    framework = _framework(name)
    if len(objs) > 1 and framework != "optuna":
        raise ValueError(f"peer {name!r} takes one objective, got {len(objs)} ({', '.join(map(str, objs))}); "
                         f"peers with several: {', '.join(p for p in PEERS if _framework(p) == 'optuna')}")
    check_budgets(evaluator, n_trials, budget_seconds)
    known = [*evaluator.capabilities().metrics, *(d.name for d in ders)]
    bench_name = evaluator.describe().get("benchmark")
    source = f"benchmark {bench_name!r}" if bench_name else f"evaluator {type(evaluator).__name__}"
    for what, metric in [("objective", o.name) for o in objs] + \
                        [(f"derived metric {d} input", m) for d in ders for m in d.inputs()]:
        if known and metric not in known:
            raise ValueError(f"{what} {metric!r} is not a metric of {source}; its metrics: {', '.join(known)}")
    _require(framework)
    evaluator.prepare()
    run = PeerRun(space, evaluator, n_trials, budget_seconds, objs, ders)
    adapter: Callable[[str, PeerRun, int], None] = importlib.import_module(
        f"nasforge.peers._{framework}").run  # type: ignore[attr-defined]
    adapter(name, run, seed)
    return run.trials


def run_peer(name: str, benchmark: str, benchmark_kwargs: dict[str, Any] | None, seed: int,
             n_trials: int | None = None, budget_seconds: float | None = None,
             objectives: Any = None, derived: Any = None) -> list[dict[str, Any]]:
    """Run one search of peer ``name`` on a registered benchmark: :func:`run_peer_on` over the benchmark's
    space with the benchmark as evaluator (``benchmark`` and ``benchmark_kwargs`` go to
    :func:`nasforge.registry.create_benchmark`). The trials are :func:`run_peer_on`'s.
    """
    check_peer(name)  # before the benchmark is built
    from nasforge.registry import create_benchmark

    bench = create_benchmark(benchmark, **(benchmark_kwargs or {}))
    return run_peer_on(name, bench.space, bench, seed, n_trials=n_trials, budget_seconds=budget_seconds,
                       objectives=objectives, derived=derived)


__all__ = ["PEERS", "run_peer", "run_peer_on", "available_peers", "check_peer", "PeerRun", "INSTALL_HINT"]
