"""The study loop: ask, evaluate, record, tell, until a budget runs out.

:meth:`Study.optimize` is only a loop over the public :meth:`Study.ask`,
:meth:`Study.evaluate` and :meth:`Study.tell`, so a notebook can drive the
same steps by hand. Every trial is written to the storage when it starts and
when it finishes. Opening a study that exists (``resume=True``) replays its
finished trials into the strategy, in the order their asks and tells
happened, and marks trials left ``running`` by a killed process as
``interrupted``; the search then continues as an uninterrupted one would have.

Objectives and constraints: a study has one or more named objectives (by
default the evaluator's ``objective`` metric, maximised) and optional
constraints (``params <= 1e6``). Strategies see the first objective, signed
so that larger is better; an infeasible result (one violating a constraint)
is recorded with its values, marked ``feasible=False``, and told to the
strategy as a failure naming the violation. :meth:`Study.best_trial` is the
best feasible trial at the highest fidelity evaluated; with several
objectives the study's answer is :meth:`Study.pareto_set`.

Results from anywhere: :meth:`Study.add_trial` records an architecture that did
not come from :meth:`Study.ask` (a weight-sharing search's derived
architecture, a peer's proposal, an import) with its ``source``, so storage,
resume, ``show``, ``train`` and ``export`` treat every method alike.

Duplicates: when a proposal's canonical form was evaluated before (with a
complete result), the earlier result answers it without evaluating again; it
is recorded as a new trial with ``duplicate_of`` set, and charged the
original cost again only when ``charge_duplicates`` is true (the NAS-Bench-201
protocol charges it, as its original scripts did).

Several drivers: with ``join=True`` any number of processes (on any machines)
run one study through one shared store (SQLite file, PostgreSQL). Trial numbers
come from the store (never twice the same); each driver's strategy proposes
from its own random stream and is told every driver's results as they arrive
(:meth:`Study.sync`, before each ask); running trials send heartbeats from a
thread of the driver, and a trial whose heartbeat stopped (its driver was
killed, its machine lost) is failed by the first driver that notices, or failed
and evaluated again (``on_stale="requeue"``). ``retries`` evaluates a trial
again, as a new trial with ``retry_of`` set, when its worker died.
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from nasforge.errors import ConfigError, StudyBusyError, StudyExistsError, StudyNotFoundError
from nasforge.evaluators.base import Evaluator
from nasforge.executors.base import WORKER_DIED
from nasforge.options import check_budget
from nasforge.results import (COMPLETE, FAILED, INTERRUPTED, RUNNING, Constraint, DerivedMetric, Objective, Result,
                              TrialRecord, parse_constraints, parse_derived, parse_objectives, with_derived)
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.storage import Storage, get_storage
from nasforge.strategies.base import Strategy


@dataclass(frozen=True)
class Trial:
    """A live trial handle from :meth:`Study.ask` (the stored form is a TrialRecord)."""

    number: int
    arch: Architecture
    key: str
    started_at: float
    duplicate_of: int | None = None
    fidelity: float | None = None
    tells_before: int = 0
    retry_of: int | None = None
    attempt: int = 1

    @property
    def source(self) -> str:
        return "ask" if self.retry_of is None else "retry"


#: the start of a failure's reason when a trial's heartbeat stopped (its driver is gone)
HEARTBEAT_STOPPED = "heartbeat stopped"
STALE_POLICIES = ("fail", "requeue")
RETRY_ON = ("crash", "any")


def check_budgets(evaluator: Evaluator, n_trials: int | None = None, budget_seconds: float | None = None,
                  wall_seconds: float | None = None) -> None:
    """Raise ConfigError (a ValueError) naming the bad budget; at least one budget is required."""
    check_budget("n_trials", n_trials, integer=True)
    check_budget("budget_seconds", budget_seconds)
    check_budget("wall_seconds", wall_seconds)
    if n_trials is None and budget_seconds is None and wall_seconds is None:
        raise ConfigError("give a budget: n_trials, budget_seconds or wall_seconds")
    if budget_seconds is not None and not evaluator.capabilities().reports_cost:
        raise ConfigError(f"budget_seconds needs an evaluator that reports a cost; {evaluator.describe()} "
                         f"does not: use n_trials or wall_seconds")


class Study:
    """One search: a space, a strategy and an evaluator, recorded in a storage.

    ``objectives`` (``"val_acc:max,params:min"``, a list of specs or
    :class:`~nasforge.results.Objective`; default: the evaluator's ``objective``
    maximised) and ``constraints`` (``"params <= 1e6"`` or a list) are part of the
    study's configuration: a resume must give the same ones. So are ``derived``
    metrics (:class:`~nasforge.results.DerivedMetric` or specs such as
    ``"mnasnet(val_acc, latency_ms, target=5, w=-0.07)"``, see
    :func:`~nasforge.results.parse_derived`): each is computed from the metrics
    of every complete result when it is recorded and stored with them, so it
    can be an objective (``objectives="mnasnet_reward:max"``: any strategy then
    searches the MnasNet reward) or a constraint; a result whose inputs are
    missing or bad is recorded as failed, naming them.

    Resuming a study that another live process is running is refused with
    :class:`~nasforge.errors.StudyBusyError` naming it (its running trials are
    left alone); trials left ``running`` by a process that is gone are marked
    interrupted. A process on another machine is alive while its heartbeats
    are younger than ``stale_after`` seconds; one that never sent any cannot be
    checked from here: ``takeover=True`` treats its running trials as dead.

    Several drivers: ``join=True`` creates the study or joins it while other
    drivers run it (see the module's docstring). While :meth:`optimize` runs on a
    shared store (``storage.shared``) or joined, the running trials send a
    heartbeat every ``heartbeat`` seconds; a joined driver fails other drivers'
    trials whose heartbeat is older than ``stale_after`` seconds and, with
    ``on_stale="requeue"``, evaluates them again. ``retries`` (default 0) is how
    many times a trial whose worker died (``retry_on="crash"``), or that failed
    for any reason (``retry_on="any"``), is evaluated again as a new trial.
    """

    def __init__(self, space: SearchSpace, strategy: Strategy, evaluator: Evaluator, *,
                 name: str = "study", storage: str | Storage | None = None, resume: bool = False,
                 charge_duplicates: bool = True, config: dict[str, Any] | None = None,
                 objectives: str | Sequence[str | Objective] | None = None,
                 constraints: str | Sequence[str | Constraint] | None = None, takeover: bool = False,
                 derived: str | DerivedMetric | Sequence[str | DerivedMetric] | None = None,
                 join: bool = False, heartbeat: float | None = 10.0, stale_after: float = 60.0,
                 on_stale: str = "fail", retries: int = 0, retry_on: str = "crash") -> None:
        from nasforge.options import check_choice, check_int, check_number

        if heartbeat is not None:
            check_number("heartbeat", heartbeat, 0.0, low_open=True, extra=" (seconds) or None")
        check_number("stale_after", stale_after, 0.0, low_open=True, extra=" (seconds)")
        if heartbeat is not None and stale_after <= heartbeat:
            raise ConfigError(f"stale_after ({stale_after} s) must be longer than the heartbeat interval "
                              f"({heartbeat} s), or every trial would look dead between two heartbeats")
        self.on_stale = check_choice("on_stale", on_stale, STALE_POLICIES)
        self.retry_on = check_choice("retry_on", retry_on, RETRY_ON)
        self.retries = check_int("retries", retries, minimum=0)
        self.join, self.heartbeat, self.stale_after = bool(join), heartbeat, float(stale_after)
        if strategy.space is not space:
            raise ConfigError("the strategy was built for a different space object than the study's")
        self.space, self.strategy, self.evaluator = space, strategy, evaluator
        caps = evaluator.capabilities()
        self.objectives: tuple[Objective, ...] = parse_objectives(objectives) or (Objective(evaluator.objective),)
        self.constraints: tuple[Constraint, ...] = parse_constraints(constraints)
        self.derived: tuple[DerivedMetric, ...] = parse_derived(derived)
        declared = set(caps.metrics)
        for d in self.derived:
            if d.name in declared:
                raise ConfigError(f"derived metric {d} is named {d.name!r}, which {type(evaluator).__name__} "
                                  f"already measures; give it another name (name=...)")
            missing = [m for m in d.inputs() if declared and m not in declared]
            if missing:
                raise ConfigError(f"derived metric {d} reads {', '.join(map(repr, missing))}, not measured by "
                                  f"{type(evaluator).__name__}; its metrics: {', '.join(caps.metrics)}")
            if declared:
                declared.add(d.name)  # a later derived metric may read an earlier one
        for what, metric in [("objective", o.name) for o in self.objectives] + \
                            [("constraint", c.metric) for c in self.constraints]:
            if declared and metric not in declared:
                known = [*caps.metrics, *(d.name for d in self.derived)]
                raise ConfigError(f"{what} metric {metric!r} is not measured by {type(evaluator).__name__}; "
                                  f"its metrics: {', '.join(known)}")
        evaluator.prepare()
        strategy.adapt(caps)
        self.name = name
        self.storage = get_storage(storage)
        self.charge_duplicates = bool(charge_duplicates)
        self._stop_requested = False
        self.takeover = bool(takeover)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.config = {
            "space": space.name,
            "space_params": space.get_params(),
            "strategy": strategy.name,
            "strategy_params": strategy.plain_params(),  # JSON-able: a scorer is recorded by its description
            "evaluator": evaluator.describe(),
            "charge_duplicates": self.charge_duplicates,
            "objectives": [str(o) for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
            **({"derived": [str(d) for d in self.derived]} if self.derived else {}),
            **(config or {}),
        }
        self._finished: list[TrialRecord] = []
        self._answers: dict[str, TrialRecord] = {}
        self._running: dict[int, Trial] = {}
        self._n_told = 0  # results told to the strategy (their order is recorded for resume)
        self.cost_spent = 0.0
        self._known: set[int] = set()  # numbers of the finished trials recorded here
        self._low = 0  # every trial numbered below this is known here or was not finished (see sync)
        self._others_running = 0  # other drivers' running trials at the last sync
        self._requeued: list[TrialRecord] = []  # stale trials this driver failed and will evaluate again
        self._retry_next: list[tuple[Trial, int]] = []  # failed trials to evaluate again (retries)
        self._beating = False
        self._synced = False  # optimize has just synced: the next ask need not
        created = False
        if not self.storage.has_study(name) and not resume:
            try:
                self.storage.create_study(name, self.config)
                created = True
            except StudyExistsError:  # another driver created it a moment ago
                if not join:
                    raise
        if not created:
            if not self.storage.has_study(name):
                known = [s.name for s in self.storage.list_studies()]
                raise StudyNotFoundError(f"no study named {name!r} to resume; known: {', '.join(known) or '(none)'}")
            if not (resume or join):
                raise StudyExistsError(
                    f"study {name!r} already exists; resume it (resume=True or load_if_exists=True; --resume or "
                    f"--load-if-exists), join it (join=True, --join) or choose another name")
            self._check_config(self.storage.get_study(name).config)
            if join:
                # this driver's proposals come from a random stream of its own: two drivers with the same
                # seed would otherwise propose the same architectures at the same moments
                self.strategy.set_stream(int(hashlib.sha256(self.worker.encode()).hexdigest()[:12], 16))
                self._replay_joined()
            else:
                self._replay()

    # -- resume -------------------------------------------------------------------
    def _check_config(self, stored: dict[str, Any]) -> None:
        import json

        mine = json.loads(json.dumps(self.config))
        # a study recorded before objectives and constraints were kept had the defaults
        defaults = {"objectives": [str(Objective(self.evaluator.objective))], "constraints": []}
        stored = {**{k: v for k, v in defaults.items() if k not in stored}, **stored}
        # an option added to the strategy since the study was recorded: the study ran with its legacy
        # default when the strategy declares one (the option's default changed how it behaves), else
        # with its default
        old_params = stored.get("strategy_params")
        if isinstance(old_params, dict) and stored.get("strategy") == mine.get("strategy"):
            stored = {**stored, "strategy_params": type(self.strategy).recorded_params(old_params)}
        diff = sorted(k for k in set(stored) | set(mine) if stored.get(k) != mine.get(k))
        if diff:
            detail = "; ".join(f"{k}: stored {stored.get(k)!r}, now {mine.get(k)!r}" for k in diff)
            raise ConfigError(f"study {self.name!r} was created with a different configuration ({detail}); "
                             f"resume with the same options or use another study name")

    def _replay(self) -> None:
        records = self.storage.trials(self.name)
        finished = [r for r in records if r.finished]
        if not self.takeover:
            for r in records:
                alive = worker_alive(r.worker, r.started_at) if r.status == RUNNING else False
                beating = alive is None and r.heartbeat_at is not None  # another machine: alive while it beats
                if beating:
                    alive = r.heartbeat_at >= time.time() - self.stale_after
                if alive is not False:
                    where = ("a process on another machine whose heartbeat is fresh" if beating else
                             "a live process on this machine" if alive else "a process on another machine")
                    raise StudyBusyError(
                        f"study {self.name!r} is being run by {r.worker} ({where}; trial {r.number} is running); "
                        f"wait for it to finish or stop it before resuming"
                        + ("" if alive else "; if that process is gone, take the study over (takeover=True, "
                                            "--takeover)"))
        for r in records:
            if r.status == RUNNING:  # its process died: keep the record, do not replay it
                self.storage.finish_trial(r.with_(status=INTERRUPTED, error="process ended before the trial finished",
                                                  finished_at=time.time()))
        # a failed trial that was evaluated again was not told: its retry's result was; one whose retry had
        # not started yet (recorded without a tell order) is evaluated again first thing
        retried = {r.retry_of for r in records if r.retry_of is not None and r.finished}
        by_number = {r.number: r for r in records}
        for r in finished:
            if r.status == FAILED and r.source in ("ask", "retry") and r.tell_order is None and \
                    r.tells_before is not None and r.number not in retried:
                attempt, back = 1, r
                while back.retry_of is not None and back.retry_of in by_number:
                    attempt, back = attempt + 1, by_number[back.retry_of]
                self._retry_next.append((Trial(r.number, self.space.from_string(r.arch), r.arch, r.started_at or 0.0,
                                               None, r.fidelity, r.tells_before, r.retry_of, attempt), r.number))
                retried.add(r.number)
        told = [r for r in finished if r.source in ("ask", "retry") and r.number not in retried]
        told_numbers = {r.number for r in told}
        if all(r.tells_before is not None and (r.number not in told_numbers or r.tell_order is not None)
               for r in finished):
            # the recorded order: trial i was asked (or added) after tells_before[i] results had been told
            tells = sorted(told, key=lambda r: r.tell_order)  # type: ignore[arg-type, return-value]
            done = 0
            for r in sorted(finished, key=lambda r: (r.tells_before, r.number)):
                while done < len(tells) and done < r.tells_before:  # type: ignore[operator]
                    self._record_finished(tells[done])
                    done += 1
                if r.source == "ask":
                    self.strategy.ask()
                    if r.number in retried:
                        self._record_finished(r, tell=False)
                elif r.source != "retry":
                    self._record_finished(r)
            for r in tells[done:]:
                self._record_finished(r)
        else:  # records written before the order was kept: by their timestamps
            events = []
            for r in finished:
                if r.source == "ask":
                    events.append((r.started_at or 0.0, r.number, 0, r))
                events.append((r.finished_at or 0.0, r.number, 1, r))
            events.sort(key=lambda e: e[:3])
            for _, _, kind, r in events:
                if kind == 0:
                    self.strategy.ask()
                else:
                    self._record_finished(r)
        self._low = max((r.number for r in records), default=-1) + 1

    def _replay_joined(self) -> None:
        """Joining a study other drivers may be running: tell this strategy every finished trial, in the
        order they finished (asks are not replayed: most were other drivers'); leave running trials alone."""
        self.sync(fail_stale=False)

    def _record_finished(self, rec: TrialRecord, tell: bool = True) -> None:
        self._finished.append(rec)
        self._known.add(rec.number)
        self.cost_spent += rec.cost
        if not tell or rec.source not in ("ask", "retry"):  # results from elsewhere are kept, not told
            return
        self._n_told += 1
        answer = self._answer_key(rec.arch, rec.fidelity)
        if rec.status == COMPLETE and rec.duplicate_of is None and answer not in self._answers:
            self._answers[answer] = rec
        self.strategy.tell(self.space.from_string(rec.arch), self.feedback(rec))

    # -- objectives -----------------------------------------------------------------
    def violations(self, metrics: Mapping[str, Any]) -> list[str]:
        """Why ``metrics`` violate the study's constraints (empty when feasible)."""
        return [v for v in (c.violation(metrics) for c in self.constraints) if v is not None]

    def objective_values(self, metrics: Mapping[str, Any]) -> tuple[float, ...]:
        """The objectives' values in ``metrics`` (as measured, not signed)."""
        return tuple(float(metrics[o.name]) for o in self.objectives)

    def _finish(self, result: Any) -> tuple[Result, bool]:
        """The result as recorded: ``value`` is the first objective's metric; and whether it is feasible.

        Anything that is not a :class:`Result`, or whose metrics cannot be stored, becomes a failed
        result naming the problem (numpy scalars and arrays are stored as plain numbers and lists).
        """
        if not isinstance(result, Result):
            return Result.failure(f"the evaluator returned {type(result).__name__} {_short(result)}, "
                                  f"not a nasforge Result"), True
        try:
            metrics = plain_metrics(result.metrics)
        except TypeError as exc:
            return Result.failure(str(exc), result.cost), True
        if not result.ok:
            return Result(metrics, None, result.cost, result.fidelity, result.status, result.error), True
        first = self.objectives[0]
        own = self.evaluator.objective
        if own not in metrics and result.value is not None and \
                (first.name == own or any(own in d.inputs() for d in self.derived)):
            metrics = {**metrics, own: result.value}  # an evaluator that gives its objective only as value
        if self.derived:
            try:
                metrics = with_derived(metrics, self.derived)
            except ValueError as exc:
                return Result.failure(str(exc), result.cost, metrics), True
        missing = [o.name for o in self.objectives if o.name not in metrics]
        if missing:
            return Result.failure(f"the result has no metric {', '.join(map(repr, missing))} (an objective); "
                                  f"its metrics: {', '.join(sorted(metrics)) or '(none)'}", result.cost, metrics), True
        try:
            value = float(metrics[first.name])
        except (TypeError, ValueError):
            return Result.failure(f"objective {first.name!r} is {metrics[first.name]!r}, not a number",
                                  result.cost, metrics), True
        if not math.isfinite(value):
            return Result.failure(f"objective {first.name!r} is {value}", result.cost, metrics), True
        feasible = not self.violations(metrics) if self.constraints else True
        if value == result.value and metrics is result.metrics:
            return result, feasible  # already as recorded (the common case): no copy
        return Result(metrics, value, result.cost, result.fidelity, result.status, result.error), feasible

    def feedback(self, rec: TrialRecord) -> Result:
        """What the strategy is told for a finished trial: the first objective signed so that larger is
        better; an infeasible trial as a failure naming its violations."""
        res = rec.result()
        if not res.ok:
            return res
        if not rec.feasible:
            return Result.failure("infeasible: " + "; ".join(self.violations(res.metrics) or ["violates a constraint"]),
                                  res.cost, res.metrics)
        if res.value is None or self.objectives[0].sign > 0:
            return res
        return Result(res.metrics, self.objectives[0].sign * res.value, res.cost, res.fidelity)

    def _answer_key(self, key: str, fidelity: float | None) -> str:
        """Duplicates are per architecture, and per fidelity for multi-fidelity strategies."""
        return f"{key}@{fidelity:g}" if self.strategy.multi_fidelity and fidelity is not None else key

    # -- ask / evaluate / tell ------------------------------------------------------
    def ask(self) -> Trial:
        """Ask the strategy for an architecture and record the trial as running. A failed trial due for a
        retry, or a stale trial this driver failed (``on_stale="requeue"``), is evaluated again first; a
        joined driver reads the other drivers' results (:meth:`sync`) before asking."""
        if self.join and not self._synced:
            self.sync()
        self._synced = False
        if self._retry_next:
            live, failed = self._retry_next.pop(0)
            return self._start(live.arch, live.fidelity, retry_of=failed, attempt=live.attempt + 1)
        if self._requeued:
            old = self._requeued.pop(0)
            return self._start(self.space.from_string(old.arch), old.fidelity, retry_of=old.number, attempt=2)
        arch = self.strategy.ask()
        return self._start(arch, self.strategy.fidelity(arch) if self.strategy.multi_fidelity else None)

    def _start(self, arch: Architecture, fid: float | None, retry_of: int | None = None, attempt: int = 1) -> Trial:
        canon = self.space.canonical(arch)
        key = self.space.to_string(canon)
        prior = self._answers.get(self._answer_key(key, fid)) if retry_of is None else None
        now = time.time()
        rec = self.storage.new_trial(TrialRecord(
            self.name, -1, key, RUNNING, started_at=now, worker=self.worker,
            duplicate_of=None if prior is None else prior.number, tells_before=self._n_told,
            heartbeat_at=now if self._beating else None, source="ask" if retry_of is None else "retry",
            retry_of=retry_of))
        trial = Trial(rec.number, canon, key, now, rec.duplicate_of, fid, self._n_told, retry_of, attempt)
        self._running[trial.number] = trial
        return trial

    def sync(self, fail_stale: bool = True) -> list[TrialRecord]:
        """Record what other drivers of this study finished since the last sync (told to this strategy,
        counted in budgets, used as answers to duplicates) and, with ``fail_stale``, fail their trials
        whose heartbeat is older than ``stale_after`` seconds (to be evaluated again by this driver with
        ``on_stale="requeue"``). Returns the newly recorded trials. Called before each ask when joined."""
        new = []
        if fail_stale:
            cutoff = time.time() - self.stale_after
            reason = f"{HEARTBEAT_STOPPED}: none for {self.stale_after:g} s from the driver running it (its worker)"
            for r in self.storage.fail_stale_trials(self.name, cutoff, reason):
                if r.number in self._running:  # this driver's own trial (its heartbeat thread stalled)
                    continue
                if self.on_stale == "requeue":
                    self._requeued.append(r)
                self._record_finished(r, tell=self.on_stale != "requeue")
                new.append(r)
        records = self.storage.trials(self.name, self._low)
        for r in sorted((r for r in records if r.finished and r.number not in self._known),
                        key=lambda r: (r.finished_at or 0.0, r.number)):
            if r.number not in self._running:
                self._record_finished(r)
                new.append(r)
        unfinished = [r.number for r in records if r.status == RUNNING]
        self._others_running = sum(n not in self._running for n in unfinished)
        self._low = min(unfinished) if unfinished else max((r.number for r in records), default=self._low - 1) + 1
        return new

    def evaluate(self, trial: Trial) -> Result:
        """The trial's result: the earlier answer for a duplicate, else the evaluator's (errors become failures)."""
        if trial.duplicate_of is not None:
            prior = self._answers[self._answer_key(trial.key, trial.fidelity)].result()
            cost = prior.cost if self.charge_duplicates else 0.0
            return Result(prior.metrics, prior.value, cost, prior.fidelity, prior.status, prior.error)
        from nasforge.executors import run_evaluation

        return run_evaluation(self.evaluator, trial.arch, trial.fidelity)

    def tell(self, trial: Trial | int, result: Result) -> TrialRecord:
        """Record a finished trial (checking objectives and constraints) and tell the strategy."""
        number = trial if isinstance(trial, int) else trial.number
        live = self._running.pop(number, None)
        if live is None:
            raise ConfigError(f"trial {number} is not running in study {self.name!r}")
        result, feasible = self._finish(result)
        fidelity = live.fidelity if live.fidelity is not None else result.fidelity
        retry = not result.ok and live.attempt <= self.retries and \
            (self.retry_on == "any" or (result.error or "").startswith(WORKER_DIED))
        rec = TrialRecord(self.name, number, live.key, result.status, result.metrics, result.value,
                          result.cost, fidelity, result.error, live.started_at, time.time(),
                          self.worker, live.duplicate_of, feasible=feasible, tells_before=live.tells_before,
                          tell_order=None if retry else self._n_told, source=live.source, retry_of=live.retry_of)
        if not self.storage.finish_trial(rec):
            # another driver failed this trial first (its heartbeat looked stopped): the stored record stands
            stored = self.storage.trials(self.name, number)[0]
            if stored.number not in self._known:
                self._record_finished(stored)
            return stored
        self._record_finished(rec, tell=not retry)
        if retry:  # evaluated again as a new trial, which takes this one's place in the strategy's history
            self._retry_next.append((live, rec.number))
        return rec

    def add_trial(self, arch: Architecture | str, result: Result, source: str = "import") -> TrialRecord:
        """Record a finished trial that did not come from :meth:`ask`, with where it came from.

        ``source`` names the method or origin (``darts``, ``spos``, ``optuna-tpe``, ``import``; not
        ``ask``). The trial gets the next number, is checked against the objectives and constraints,
        counts towards ``n_trials`` and the cost spent, and can be the study's best; it is not told to
        the strategy (whose proposals therefore stay those of a study without it), and a later ask of
        the same architecture is evaluated rather than answered by it.
        """
        if not isinstance(source, str) or not source.strip() or source == "ask":
            raise ConfigError(f"source must name where the trial came from (e.g. 'darts', 'import'), "
                              f"not {source!r}")
        if not isinstance(result, Result):
            raise ConfigError(f"add_trial needs a nasforge Result, got {type(result).__name__}")
        if isinstance(arch, str):
            arch = self.space.parse(arch)
        elif not self.space.contains(arch):
            raise ConfigError(f"{arch} is not an architecture of space {self.space.name!r}")
        key = self.space.key(arch)
        result, feasible = self._finish(result)
        now = time.time()
        rec = self.storage.new_trial(TrialRecord(
            self.name, -1, key, result.status, result.metrics, result.value, result.cost, result.fidelity,
            result.error, now, now, self.worker, feasible=feasible, source=source.strip(), tells_before=self._n_told))
        self._record_finished(rec)
        return rec

    def interrupt(self, trial: Trial, reason: str = "interrupted") -> None:
        """Mark a running trial as interrupted (it is not replayed on resume)."""
        if self._running.pop(trial.number, None) is not None:
            self.storage.finish_trial(TrialRecord(self.name, trial.number, trial.key, INTERRUPTED, error=reason,
                                                  started_at=trial.started_at, finished_at=time.time(),
                                                  worker=self.worker, duplicate_of=trial.duplicate_of,
                                                  tells_before=trial.tells_before, source=trial.source,
                                                  retry_of=trial.retry_of))

    # -- the loop ---------------------------------------------------------------
    def optimize(self, n_trials: int | None = None, budget_seconds: float | None = None,
                 wall_seconds: float | None = None,
                 callbacks: Iterable[Callable[["Study", TrialRecord], None]] = (),
                 executor: Any = None) -> "Study":
        """Run until a budget is spent. ``n_trials`` and ``budget_seconds`` count the whole
        study (so a resumed run stops where an uninterrupted one would); ``wall_seconds``
        caps this call. At least one budget is required.

        Budgets are checked before each ask, so the trial whose cost crosses
        ``budget_seconds`` is evaluated, recorded and counts. (NAS-Bench-201's original
        scripts drop that trial instead; over 500 seeds the difference in the mean
        reported accuracy is below 0.01, see benchmarks/RESULTS.md.)

        ``executor`` (default: in this process) may run several trials at once, e.g.
        :class:`~nasforge.executors.ProcessExecutor`; then up to ``executor.n_workers``
        trials are in flight, each told as it finishes. When a budget runs out, no new
        trial starts and those in flight finish and are recorded.

        A callback (``callback(study, record)`` after each trial is recorded) may call
        :meth:`stop` to end the run early in the same way, e.g. once a target is reached.
        """
        check_budgets(self.evaluator, n_trials, budget_seconds, wall_seconds)
        from concurrent.futures import FIRST_COMPLETED, wait

        from nasforge.executors import SerialExecutor

        ex = executor if executor is not None else SerialExecutor(self.evaluator)
        beat = self._start_heartbeats()
        start = time.monotonic()
        callbacks = list(callbacks)
        in_flight: dict[Any, Trial] = {}
        exhausted = False
        self._stop_requested = False

        def may_start() -> bool:
            if exhausted or self._stop_requested:
                return False
            if self.join:  # count the other drivers' trials as they are now (ask uses this sync)
                self.sync()
                self._synced = True
            if n_trials is not None and len(self._finished) + len(in_flight) + self._others_running >= n_trials:
                return False
            if budget_seconds is not None and self.cost_spent >= budget_seconds:
                return False
            return wall_seconds is None or time.monotonic() - start < wall_seconds

        def finish(trial: Trial, result: Result) -> None:
            rec = self.tell(trial, result)
            for cb in callbacks:
                cb(self, rec)

        try:
            while True:
                while len(in_flight) < ex.n_workers and may_start():
                    try:
                        trial = self.ask()
                    except StopIteration:  # the strategy has nothing left to propose
                        exhausted = True
                        break
                    if trial.duplicate_of is not None:
                        finish(trial, self.evaluate(trial))
                    else:
                        try:
                            fut = ex.submit(trial.arch, trial.fidelity)
                        except BaseException as exc:  # Ctrl-C inside an in-process evaluation
                            self.interrupt(trial, _reason(exc))
                            raise
                        in_flight[fut] = trial
                if not in_flight:
                    if may_start():
                        continue
                    break
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: in_flight[f].number):
                    try:
                        result = fut.result()  # raises when the evaluation asked the search to stop
                    except BaseException as exc:
                        self.interrupt(in_flight.pop(fut), _reason(exc))
                        raise
                    finish(in_flight.pop(fut), result)
        except BaseException as exc:
            for trial in in_flight.values():
                self.interrupt(trial, _reason(exc))
            if executor is not None:
                executor.shutdown(cancel=True)
            raise
        finally:
            self._synced = False
            if beat is not None:
                beat.stop()
        return self

    def stop(self) -> None:
        """Ask the running :meth:`optimize` to start no new trial (those in flight finish and are
        recorded; the budgets are untouched, so a later ``optimize`` goes on). Call it from a callback
        or another thread; it has no effect on a later ``optimize`` call."""
        self._stop_requested = True

    def _start_heartbeats(self) -> "_Heartbeat | None":
        """On a store other processes can open (or joined), running trials beat from a thread until
        :meth:`optimize` returns."""
        if self.heartbeat is None or not (self.storage.shared or self.join):
            return None
        beat = _Heartbeat(self, self.heartbeat)
        self._beating = True
        beat.start()
        return beat

    # -- lifetime -------------------------------------------------------------
    def close(self) -> None:
        """Close the storage's connections (a SQL store keeps one open while the study lives)."""
        self.storage.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading results ------------------------------------------------------------
    @property
    def trials(self) -> list[TrialRecord]:
        """Finished trials of this study, in the order they finished."""
        return list(self._finished)

    @property
    def n_trials(self) -> int:
        return len(self._finished)

    def best_trial(self) -> TrialRecord | None:
        """The best feasible complete trial by the first objective, among those at the highest fidelity
        evaluated (a low-fidelity result is never the answer over a full-fidelity one); the earliest on ties."""
        return best_trial(self._finished, self.objectives[0])

    def best_arch(self) -> Architecture | None:
        best = self.best_trial()
        return None if best is None else self.space.from_string(best.arch)

    def pareto_set(self) -> list[TrialRecord]:
        """The feasible complete trials at the highest fidelity that no other one dominates on the study's
        objectives, one per architecture, best first by the first objective (one objective: the best trial)."""
        return pareto_set(self._finished, self.objectives)

    def hypervolume(self, reference: Any = None) -> dict[str, Any]:
        """The hypervolume of the study's Pareto set and its reference point (``reference``, one value per
        objective, or by default the worst of each objective among the feasible trials): see
        :func:`hypervolume_summary`."""
        return hypervolume_summary(self._finished, self.objectives, reference)

    def summary(self, reference_point: Any = None) -> dict[str, Any]:
        """Plain summary: best architecture with its metrics, the Pareto set and its hypervolume (with the
        reference point) with several objectives, counts and spent cost (``cost_seconds``: simulated on a
        tabular benchmark, measured otherwise)."""
        return summarise_trials(self.name, self._finished, self.objectives, self.constraints, self.evaluator,
                                reference_point=reference_point)


class _Heartbeat(threading.Thread):
    """Every ``interval`` seconds, tells the store that this driver's running trials are alive."""

    def __init__(self, study: Study, interval: float) -> None:
        super().__init__(name=f"nasforge-heartbeat-{study.name}", daemon=True)
        self.study, self.interval = study, float(interval)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            numbers = list(self.study._running)
            if not numbers:
                continue
            try:
                self.study.storage.heartbeat(self.study.name, numbers, time.time())
            except Exception:  # a store briefly unreachable: the next beat tries again
                pass

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5.0)
        self.study._beating = False


def _reason(exc: BaseException) -> str:
    """Why running trials were interrupted, for their records."""
    if isinstance(exc, KeyboardInterrupt) and not str(exc):
        return "interrupted (Ctrl-C or SIGTERM)"
    return f"interrupted: {type(exc).__name__}" + (f": {exc}" if str(exc) else "")


def worker_alive(worker: str | None, since: float | None = None) -> bool | None:
    """Whether the process ``host:pid`` that started a trial at ``since`` still runs: True or False on
    this host, None for a process on another host (which cannot be checked from here)."""
    host, _, pid_text = (worker or "").rpartition(":")
    if not pid_text.isdigit():
        return False
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this very process: whatever it ran before is not running now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    try:  # a zombie, or a reused pid (a process started after the trial cannot be its worker)
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
        with open("/proc/stat") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith("btime"))
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        if since is not None and started > since + 2.0:
            return False
    except (OSError, ValueError, IndexError, StopIteration):  # no /proc: trust the signal check
        pass
    return True


def _short(value: Any, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n] + "..."


def plain_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics as JSON-able values: numpy scalars become numbers, arrays and tuples lists (``metrics``
    itself when there is nothing to convert).

    Raises TypeError naming the first metric that cannot be stored (an object, a tensor, ...).
    """
    plain_types = (float, int, str, bool, type(None))
    if all(type(v) in plain_types for v in metrics.values()) and all(type(k) is str for k in metrics):
        return metrics  # type: ignore[return-value]  # the common case: nothing to convert (the caller copies)
    import numpy as np

    def conv(name: str, v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, (list, tuple)):
            return [conv(name, x) for x in v]
        if isinstance(v, dict):
            return {str(k): conv(name, x) for k, x in v.items()}
        if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", None) == 0:  # a 0-d tensor
            return v.item()
        raise TypeError(f"metric {name!r} is {type(v).__name__} {_short(v)}, which cannot be stored; "
                        f"return numbers, strings, lists or dicts of them")

    return {str(k): conv(str(k), v) for k, v in dict(metrics).items()}


def best_candidates(records: Iterable[TrialRecord]) -> list[TrialRecord]:
    """Feasible complete trials with a value, at the highest fidelity among them (None counts as lowest)."""
    done = [r for r in records if r.status == COMPLETE and r.feasible and r.value is not None]
    fids = [r.fidelity for r in done if r.fidelity is not None]
    if fids:
        top = max(fids)
        done = [r for r in done if r.fidelity == top]
    return done


def best_trial(records: Iterable[TrialRecord], objective: Objective) -> TrialRecord | None:
    """The best of :func:`best_candidates` by ``objective`` (the earliest trial number on ties)."""
    best = None
    for r in sorted(best_candidates(records), key=lambda r: r.number):
        v = objective.sign * float(r.metrics.get(objective.name, r.value))
        if best is None or v > best[0]:
            best = (v, r)
    return None if best is None else best[1]


def _objective_rows(records: Iterable[TrialRecord],
                    objectives: Sequence[Objective]) -> tuple[list[TrialRecord], Any]:
    """The feasible complete trials at the highest fidelity that have every objective, one per architecture
    (the earliest), and their objective values as measured (an ``(n, m)`` array)."""
    import numpy as np

    objectives = list(objectives)
    seen: set[str] = set()
    done = []
    for r in sorted(best_candidates(records), key=lambda r: r.number):
        if r.arch not in seen and all(o.name in r.metrics or o is objectives[0] for o in objectives):
            seen.add(r.arch)
            done.append(r)

    def val(r: TrialRecord, o: Objective) -> float:
        return float(r.metrics.get(o.name, r.value)) if o is objectives[0] else float(r.metrics[o.name])

    rows = [[val(r, o) for o in objectives] for r in done]
    return done, np.array(rows, dtype=float).reshape(len(done), len(objectives))


def pareto_set(records: Iterable[TrialRecord], objectives: Sequence[Objective]) -> list[TrialRecord]:
    """Non-dominated feasible complete trials at the highest fidelity, one per architecture."""
    from nasforge.pareto import non_dominated_sort

    objectives = list(objectives)
    done, values = _objective_rows(records, objectives)
    if not done:
        return []
    signs = [o.sign for o in objectives]
    front = non_dominated_sort(values * signs)[0]
    return [done[i] for i in sorted(front, key=lambda i: (-signs[0] * values[i, 0], done[i].number))]


def parse_reference_point(reference: Any, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """A reference point for the hypervolume: one number per objective, in the objectives' order and
    units, as a sequence or a comma-separated string (``"0.7,0.005"``); a ConfigError names a bad one."""
    objectives = list(objectives)
    names = ", ".join(str(o) for o in objectives)
    parts = [p.strip() for p in reference.split(",")] if isinstance(reference, str) else reference
    try:
        values = [float(v) for v in parts]
        ok = all(math.isfinite(v) for v in values) and not any(isinstance(v, bool) for v in parts)
    except (TypeError, ValueError):
        ok = False
    if not ok or len(values) != len(objectives):
        raise ConfigError(f"reference point {reference!r}: give {len(objectives)} finite numbers, one per objective "
                          f"({names}), e.g. '{','.join('0' for _ in objectives)}'")
    return tuple(values)


def hypervolume_summary(records: Iterable[TrialRecord], objectives: Sequence[Objective],
                        reference: Any = None) -> dict[str, Any]:
    """The hypervolume of a study's Pareto set and the reference point it was measured from.

    The points are the feasible complete trials at the highest fidelity (those :func:`pareto_set` picks
    from). ``reference`` (one value per objective, see :func:`parse_reference_point`) defaults to the
    worst value of each objective among those points (``reference_kind`` ``"worst"``; ``"given"``
    otherwise): then the hypervolume describes one study, and comparing studies needs one reference
    point given to all. Returns ``{"hypervolume", "reference_point", "reference_kind"}``; without any
    point and without a given reference, the hypervolume and the reference point are None.
    """
    from nasforge.pareto import default_reference, hypervolume

    objectives = list(objectives)
    _, values = _objective_rows(records, objectives)
    if reference is not None:
        ref, kind = parse_reference_point(reference, objectives), "given"
    elif len(values):
        ref, kind = default_reference(values, objectives), "worst"
    else:
        return {"hypervolume": None, "reference_point": None, "reference_kind": "worst"}
    return {"hypervolume": hypervolume(values, ref, objectives), "reference_point": list(ref),
            "reference_kind": kind}


def summarise_trials(name: str, records: Sequence[TrialRecord], objectives: Sequence[Objective],
                     constraints: Sequence[Constraint], evaluator: Any = None,
                     report: str | None = None, simulated_cost: bool | None = None,
                     reference_point: Any = None) -> dict[str, Any]:
    """The plain summary of a study's finished trials (what ``Study.summary`` and ``nasforge show`` print).

    With several objectives it holds the Pareto set (``pareto``) and its ``hypervolume`` with the
    ``reference_point`` it was measured from (``reference_point`` when given, else the worst value of
    each objective among the feasible trials; ``reference_kind`` says which, see
    :func:`hypervolume_summary`).
    """
    finished = [r for r in records if r.finished]
    best = best_trial(finished, objectives[0])
    if evaluator is not None:
        report = report or evaluator.report
        if simulated_cost is None:
            simulated_cost = bool(getattr(evaluator.capabilities(), "simulated_cost", False))
    out: dict[str, Any] = {
        "study": name,
        "best": None if best is None else _trial_dict(best),
        "objectives": [str(o) for o in objectives],
        "constraints": [str(c) for c in constraints],
        "objective": objectives[0].name,
        "report": report or objectives[0].name,
        "trials": len(finished),
        "failed": sum(1 for r in finished if r.status == FAILED),
        "infeasible": sum(1 for r in finished if r.status == COMPLETE and not r.feasible),
        "duplicates": sum(1 for r in finished if r.duplicate_of is not None),
        "cost_seconds": sum(r.cost for r in finished),
        "cost_kind": "simulated" if simulated_cost else "measured",
    }
    sources = sorted({r.source for r in finished} - {"ask"})
    if sources:
        out["sources"] = {s: sum(1 for r in finished if r.source == s) for s in ["ask", *sources]}
    if len(objectives) > 1:
        out["pareto"] = [_trial_dict(r) for r in pareto_set(finished, objectives)]
        out.update(hypervolume_summary(finished, objectives, reference_point))
    elif reference_point is not None:
        raise ConfigError(f"a reference point ({reference_point!r}) is for the hypervolume of several objectives; "
                          f"this study has one ({objectives[0]})")
    if evaluator is not None and evaluator.warning:
        out["warning"] = evaluator.warning
    return out


def _trial_dict(r: TrialRecord) -> dict[str, Any]:
    return {"arch": r.arch, "trial": r.number, "value": r.value, "fidelity": r.fidelity,
            "metrics": dict(r.metrics), **({"source": r.source} if r.source != "ask" else {})}
