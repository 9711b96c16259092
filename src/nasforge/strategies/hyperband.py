"""Hyperband (Li et al., JMLR 2018) and BOHB (Falkner et al., ICML 2018): multi-fidelity search.

Both choose a *fidelity* (a budget, e.g. training epochs) for every proposal:
the study asks :meth:`Hyperband.fidelity` right after ``ask`` and passes the
value to the evaluator. Fidelities run from ``min_fidelity`` to
``max_fidelity`` in factors of ``eta``.

**Where the range comes from.** The evaluator declares it
(:class:`~nasforge.evaluators.base.Capabilities`, ``fidelity``), and the
study hands the declaration to :meth:`Hyperband.adapt` before the first ask
(and before a resume's replay). ``min_fidelity`` / ``max_fidelity`` default
to None, meaning the declared ``low`` / ``high``; a value given explicitly
narrows the range and must lie inside the declared one (else
:class:`~nasforge.errors.ConfigError` naming both). Rungs are rounded to whole
numbers when the declaration says ``integer`` (epochs). A strategy driven by
hand, without ``adapt``, needs both ``min_fidelity`` and ``max_fidelity``
(rounded when both are whole numbers); the first ``ask`` without them raises
a ConfigError saying so.

**Successive halving in ask/tell form.** A bracket ``s`` (``s_max`` down to
0, then again) starts ``n`` new architectures at fidelity
``max_fidelity * eta**-s``; once every result of a rung is told, the best
``1/eta`` of them (failed trials never) are proposed again at the next
fidelity, up to ``max_fidelity`` (see :func:`hyperband_brackets` for the
sizes). Promotions come first; when the open brackets have nothing to
propose because results are still pending, the next bracket is opened, so
parallel workers stay busy. Each (architecture, fidelity) evaluation is one
trial, so a study's ``n_trials`` counts evaluations at every fidelity. A
discarded proposal (``discard``) leaves its rung: a promotion is offered
again, a new architecture's place is filled by the next ask.

**New architectures.** Hyperband draws them at random (avoiding ones
pending, or already evaluated at the same fidelity, when it can). BOHB draws
them from a TPE-style model with probability ``1 - random_fraction``: the
results at the largest fidelity with at least ``min_points_in_model`` of
them are split into the best ``top_n_percent`` (good) and the rest (bad);
each choice gets a categorical density per group (frequencies over the
points where the choice is active, mixed with a uniform prior of weight
``max(min_bandwidth, K / (n + K))`` for ``K`` options and ``n`` points: the
add-one rule while data is scarce); ``n_samples`` candidates are drawn from
the good densities and the one maximising ``l(x) / g(x)`` (the product over
its active choices) is proposed.

**Evaluators without fidelities.** A tabular benchmark such as the NB201
table answers the same row whatever the fidelity, and declares so
(``Capabilities.fidelity is None``). Then promoting would only repeat
evaluations: from the start every proposal is a new architecture at the
evaluator's one fidelity (:meth:`Hyperband.fidelity` returns None,
:attr:`Hyperband.fidelity_ignored` is true), so Hyperband is random search
without repeats and BOHB is TPE on all its results. Setting
``min_fidelity == max_fidelity`` gives one-fidelity brackets on an evaluator
that has fidelities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from nasforge.errors import ConfigError
from nasforge.options import check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, sample_distinct
from nasforge.strategies.base import Strategy

#: attempts at drawing an architecture not pending / not evaluated at the fidelity, before accepting one
_TRIES = 32
#: the internal rung budget of the one fidelity of an evaluator that declares none
_ONE_FIDELITY = 0.0


def _whole(x: float) -> bool:
    return float(x).is_integer()


def hyperband_brackets(min_fidelity: float, max_fidelity: float, eta: float,
                       integer: bool | None = None) -> list[list[tuple[int, float]]]:
    """Hyperband's brackets, most aggressive first: per bracket, its rungs as (configurations, fidelity).

    ``s_max = floor(log_eta(max / min))``; bracket ``s`` starts
    ``n = ceil((s_max + 1) / (s + 1) * eta**s)`` configurations at
    ``max * eta**-s`` and keeps ``floor(n * eta**-i)`` at rung ``i``
    (fidelity ``max * eta**(i - s)``). Fidelities are rounded when
    ``integer`` (None: when both bounds are whole numbers). E.g. (1, 9, 3): [[(9, 1), (3, 3), (1, 9)],
    [(5, 3), (1, 9)], [(3, 9)]].
    """
    s_max = int(math.floor(math.log(max_fidelity / min_fidelity) / math.log(eta) + 1e-9))
    whole = (_whole(min_fidelity) and _whole(max_fidelity)) if integer is None else bool(integer)
    out = []
    for s in range(s_max, -1, -1):
        n = int(math.ceil((s_max + 1) / (s + 1) * eta ** s - 1e-9))
        rungs = []
        for i in range(s + 1):
            budget = max_fidelity * eta ** (i - s)
            budget = float(min(max(round(budget), min_fidelity), max_fidelity)) if whole else float(budget)
            rungs.append((max(1, int(math.floor(n * eta ** -i + 1e-9))), budget))
        out.append(rungs)
    return out


@dataclass(eq=False)
class _Entry:
    """One proposal of a bracket: an architecture at a rung's fidelity, and its result once told."""

    arch: Architecture
    key: str
    budget: float
    source: "_Entry | None" = None  # the entry at the rung below, for a promotion
    result: Result | None = None

    @property
    def value(self) -> float | None:
        return None if self.result is None else self.result.value


@dataclass(eq=False)
class _Rung:
    budget: float
    size: int
    entries: list[_Entry] = field(default_factory=list)

    def complete(self) -> bool:
        return len(self.entries) >= self.size and all(e.result is not None for e in self.entries)

    def ranked(self) -> list[_Entry]:
        """Entries with a result, best first (earlier first on ties)."""
        ok = [e for e in self.entries if e.value is not None]
        return sorted(ok, key=lambda e: -float(e.value))  # type: ignore[arg-type]


@dataclass(eq=False)
class _Bracket:
    rungs: list[_Rung]

    def update(self) -> None:
        """Shrink later rungs when fewer architectures than planned succeeded below them."""
        for low, high in zip(self.rungs, self.rungs[1:]):
            if low.complete():
                high.size = min(high.size, len(low.ranked()))

    def finished(self) -> bool:
        return all(r.complete() for r in self.rungs)

    def promotion(self) -> tuple[_Entry, _Rung] | None:
        """The next promotion (highest rung first): the entry to promote and the rung it goes to.

        The entry is the best of the rung below not promoted yet (so a withdrawn
        promotion, see :meth:`Hyperband._discard`, is offered again).
        """
        for i in range(len(self.rungs) - 2, -1, -1):
            low, high = self.rungs[i], self.rungs[i + 1]
            if low.complete() and len(high.entries) < high.size:
                promoted = {id(e.source) for e in high.entries}
                for entry in low.ranked():
                    if id(entry) not in promoted:
                        return entry, high
        return None


class Hyperband(Strategy):
    """Hyperband: successive-halving brackets over fidelities with random new architectures (``hyperband``).

    Options: ``min_fidelity`` and ``max_fidelity`` (e.g. epochs; None: the
    evaluator's declared range, see the module docstring), ``eta`` (the
    halving factor, > 1).
    """

    name = "hyperband"
    multi_fidelity = True

    def __init__(self, space: SearchSpace, seed: int | None = None, min_fidelity: float | None = None,
                 max_fidelity: float | None = None, eta: float = 3) -> None:
        super().__init__(space, seed)
        for name, value in (("min_fidelity", min_fidelity), ("max_fidelity", max_fidelity)):
            if value is not None:
                check_number(name, value, 0.0, low_open=True, extra=" (or None for the evaluator's range)")
        if min_fidelity is not None and max_fidelity is not None and max_fidelity < min_fidelity:
            raise ConfigError(f"max_fidelity ({max_fidelity!r}) must be >= min_fidelity ({min_fidelity!r})")
        check_number("eta", eta, 1.0, low_open=True)
        self.min_fidelity, self.max_fidelity, self.eta = min_fidelity, max_fidelity, eta
        #: the brackets' rungs as (configurations, fidelity); known once the range is (see :meth:`adapt`)
        self.schedule: list[list[tuple[int, float]]] = []
        self._fidelity_ignored = False
        self._top = _ONE_FIDELITY  # the largest fidelity used
        if min_fidelity is not None and max_fidelity is not None:
            self._set_range(float(min_fidelity), float(max_fidelity), None)
        self._next_bracket = 0
        self._open: list[_Bracket] = []
        self._slots: dict[str, list[_Entry]] = {}   # pending proposals per architecture key
        self._asked_fidelity: dict[str, float] = {}
        self._evaluated: dict[float, set[str]] = {}  # fidelity -> keys told at it
        #: fidelity -> key -> (architecture, objective): successful results, for models
        self._results: dict[float, dict[str, tuple[Architecture, float]]] = {}

    # -- the fidelity range ---------------------------------------------------------
    def adapt(self, capabilities: Any) -> None:
        """Take the fidelity range the evaluator declares (``capabilities.fidelity``); see the module docstring.

        Called by the study once, before the first ask. With no declared fidelity, every proposal is a new
        architecture at the evaluator's one fidelity. An explicit ``min_fidelity``/``max_fidelity`` outside
        the declared range is a ConfigError naming both.
        """
        if self.n_asked:
            raise RuntimeError(f"{self.name}: adapt must be called before the first ask")
        declared = getattr(capabilities, "fidelity", None)
        if declared is None:
            self._ignore_fidelity()
            return
        low = float(declared.low if self.min_fidelity is None else self.min_fidelity)
        high = float(declared.high if self.max_fidelity is None else self.max_fidelity)
        span = f"the evaluator's {declared.name!r} range [{declared.low:g}, {declared.high:g}]"
        for name, value in (("min_fidelity", self.min_fidelity), ("max_fidelity", self.max_fidelity)):
            if value is not None and not declared.low <= float(value) <= declared.high:
                raise ConfigError(f"{self.name}: {name}={value!r} is outside {span}; give a value in that "
                                  f"range or None for the declared bound")
        if high < low:
            raise ConfigError(f"{self.name}: min_fidelity {low:g} > max_fidelity {high:g} within {span}")
        self._fidelity_ignored = False
        self._set_range(low, high, bool(declared.integer))

    def _ignore_fidelity(self) -> None:
        """Every proposal a new architecture at the evaluator's one fidelity: no brackets, no promotions."""
        self.schedule, self._top, self._fidelity_ignored = [[(1, _ONE_FIDELITY)]], _ONE_FIDELITY, True

    def _set_range(self, low: float, high: float, integer: bool | None) -> None:
        self.schedule = hyperband_brackets(low, high, float(self.eta), integer)
        self._top = self.schedule[-1][-1][1]

    @property
    def fidelity_ignored(self) -> bool:
        """Whether the evaluator declared no fidelity (so nothing is promoted, see the module docstring)."""
        return self._fidelity_ignored

    def fidelity(self, arch: Architecture) -> float | None:
        if self._fidelity_ignored:
            return None
        return self._asked_fidelity.get(self.space.key(arch))

    # -- ask ----------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        if not self.schedule:
            raise ConfigError(f"{self.name}: no fidelity range: give min_fidelity and max_fidelity, or call "
                              f"adapt(evaluator.capabilities()) before the first ask (a Study does)")
        if self.fidelity_ignored:
            return self._propose(self._new(rng, self._top), self._top, None).arch
        for bracket in self._open:
            bracket.update()
            promo = bracket.promotion()
            if promo is not None:
                source, rung = promo
                rung.entries.append(self._propose(source.arch, rung.budget, source))
                return source.arch
        self._open = [b for b in self._open if not b.finished()]
        # the oldest open bracket whose first rung has room (only the newest one, unless proposals were discarded)
        target = next((b for b in self._open if len(b.rungs[0].entries) < b.rungs[0].size), None)
        if target is None:
            rungs = self.schedule[self._next_bracket % len(self.schedule)]
            self._next_bracket += 1
            target = _Bracket([_Rung(budget, size) for size, budget in rungs])
            self._open.append(target)
        first = target.rungs[0]
        arch = self._new(rng, first.budget)
        first.entries.append(self._propose(arch, first.budget, None))
        return arch

    def _propose(self, arch: Architecture, budget: float, source: _Entry | None) -> _Entry:
        key = self.space.key(arch)
        entry = _Entry(arch, key, budget, source)
        self._slots.setdefault(key, []).append(entry)
        self._asked_fidelity[key] = budget
        return entry

    def _avoid(self, budget: float) -> set[str]:
        """Keys a new architecture at ``budget`` should not have: pending, or already evaluated there."""
        if self.fidelity_ignored:
            done = set().union(*self._evaluated.values()) if self._evaluated else set()
        else:
            done = self._evaluated.get(budget, set())
        return done | set(self.pending)

    def _new(self, rng: np.random.Generator, budget: float) -> Architecture:
        """A new architecture for the first rung of a bracket (random for Hyperband)."""
        return self._random(rng, self._avoid(budget))

    def _random(self, rng: np.random.Generator, avoid: set[str]) -> Architecture:
        new = sample_distinct(self.space, 1, rng, avoid, tries=_TRIES)
        return new[0] if new else self.space.sample(rng)

    def _discard(self, arch: Architecture) -> None:
        """Take the most recent outstanding proposal of ``arch`` out of its rung (it is proposed again
        if it was a promotion; a new architecture's place in the rung is filled by the next ask)."""
        key = self.space.key(arch)
        slots = self._slots.get(key)
        if not slots:
            return
        entry = slots.pop()
        if slots:
            self._asked_fidelity[key] = slots[-1].budget
        else:
            del self._slots[key]
            self._asked_fidelity.pop(key, None)
        for bracket in self._open:
            for rung in bracket.rungs:
                for i, e in enumerate(rung.entries):
                    if e is entry:
                        del rung.entries[i]
                        return

    # -- tell ---------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        slots = self._slots.get(key, [])
        entry = None
        if slots:
            # a result names its fidelity when it comes through a study; match it, else first asked first
            match = [i for i, e in enumerate(slots) if result.fidelity is not None
                     and math.isclose(e.budget, result.fidelity)]
            entry = slots.pop(match[0] if match else 0)
            if not slots:
                del self._slots[key]
        budget = entry.budget if entry is not None else result.fidelity
        if self._fidelity_ignored:
            budget = _ONE_FIDELITY
        if budget is not None:
            budget = float(budget)
            self._evaluated.setdefault(budget, set()).add(key)
            if result.value is not None:
                self._results.setdefault(budget, {})[key] = (arch, float(result.value))
        if entry is not None:
            entry.result = result


class BOHB(Hyperband):
    """Hyperband with new architectures from a TPE-style model of the best results (``bohb``).

    Options as :class:`Hyperband`, plus ``top_n_percent`` (the share of
    results that are "good"), ``min_bandwidth`` (floor of the weight of the
    uniform prior in each density), ``random_fraction`` (share of new
    architectures drawn at random), ``n_samples`` (candidates drawn from the
    good density per proposal) and ``min_points_in_model`` (results needed at
    a fidelity before it is modelled; None: the number of choices + 1).
    """

    name = "bohb"

    def __init__(self, space: SearchSpace, seed: int | None = None, min_fidelity: float | None = None,
                 max_fidelity: float | None = None, eta: float = 3, top_n_percent: float = 15,
                 min_bandwidth: float = 1e-3, random_fraction: float = 1 / 3, n_samples: int = 64,
                 min_points_in_model: int | None = None) -> None:
        super().__init__(space, seed, min_fidelity, max_fidelity, eta)
        check_number("top_n_percent", top_n_percent, 0.0, 100.0, low_open=True, high_open=True)
        check_number("min_bandwidth", min_bandwidth, 0.0, 1.0)
        check_number("random_fraction", random_fraction, 0.0, 1.0)
        self.top_n_percent, self.min_bandwidth, self.random_fraction = top_n_percent, min_bandwidth, random_fraction
        self.n_samples = check_int("n_samples", n_samples, 1)
        if min_points_in_model is not None:
            check_int("min_points_in_model", min_points_in_model, 2)
        self.min_points_in_model = min_points_in_model
        self._min_points = (len(space.choices) + 1) if min_points_in_model is None else int(min_points_in_model)
        self._min_points = max(self._min_points, 2)
        self._layout = space.layout
        self._index_cache: dict[Architecture, list[int]] = {}  # architecture -> its layout option indices

    def _new(self, rng: np.random.Generator, budget: float) -> Architecture:
        avoid = self._avoid(budget)
        data = self._model_data()
        if data is None or rng.random() < self.random_fraction:
            return self._random(rng, avoid)
        return self._from_model(rng, data, avoid)

    def _model_data(self) -> list[tuple[Architecture, float]] | None:
        """The results at the largest fidelity that has enough of them (all results if fidelity is ignored)."""
        if self.fidelity_ignored:
            pooled: dict[str, tuple[Architecture, float]] = {}
            for budget in sorted(self._results):
                pooled.update(self._results[budget])
            data = list(pooled.values())
            return data if len(data) >= self._min_points else None
        for budget in sorted(self._results, reverse=True):
            if len(self._results[budget]) >= self._min_points:
                return list(self._results[budget].values())
        return None

    def _indices(self, arch: Architecture) -> list[int]:
        """The layout's option indices of an architecture, computed once per architecture."""
        row = self._index_cache.get(arch)
        if row is None:
            row = self._index_cache[arch] = self._layout.indices(arch.as_dict())
        return row

    def _densities(self, group: list[Architecture]) -> list[np.ndarray]:
        """Per choice, the smoothed probability of each option over the group's points where it is active."""
        rows = [self._indices(arch) for arch in group]  # option positions, -1 where inactive
        out = []
        for j, c in enumerate(self._layout.choices):
            k = len(c.options)
            counts = np.zeros(k)
            for row in rows:
                if row[j] >= 0:
                    counts[row[j]] += 1
            n = counts.sum()
            prior = max(self.min_bandwidth, k / (n + k))
            freq = counts / n if n > 0 else np.full(k, 1.0 / k)
            out.append((1.0 - prior) * freq + prior / k)
        return out

    def _from_model(self, rng: np.random.Generator, data: list[tuple[Architecture, float]],
                    avoid: set[str]) -> Architecture:
        ranked = sorted(data, key=lambda d: -d[1])
        n_good = min(len(ranked) - 1, max(1, int(math.ceil(self.top_n_percent / 100.0 * len(ranked)))))
        good = self._densities([a for a, _ in ranked[:n_good]])
        bad = self._densities([a for a, _ in ranked[n_good:]])
        choices = self.space.choices
        # draw every choice of every candidate from l; inactive choices are dropped below
        draws = np.stack([rng.choice(len(c.options), size=self.n_samples, p=good[j])
                          for j, c in enumerate(choices)], axis=1)
        ratio = np.stack([np.log(good[j][draws[:, j]]) - np.log(bad[j][draws[:, j]])
                          for j in range(len(choices))], axis=1)
        candidates: list[tuple[float, dict[str, Hashable]]] = []
        for row, logs in zip(draws, ratio):
            values: dict[str, Hashable] = {}
            score = 0.0
            for j, c in enumerate(choices):
                if not self._layout.is_active(c, values):
                    continue
                values[c.name] = c.options[int(row[j])]
                score += float(logs[j])
            candidates.append((score, values))
        for i in sorted(range(len(candidates)), key=lambda i: -candidates[i][0]):
            try:
                arch = self.space.make(candidates[i][1])
            except InvalidArchitectureError:
                continue
            if self.space.key(arch) not in avoid:
                return arch
        return self._random(rng, avoid)


class TPE(BOHB):
    """Tree-structured Parzen estimator search over the space's choices (``tpe``): BOHB's model without
    Hyperband's brackets.

    Every proposal is a new architecture evaluated at the evaluator's own (default) fidelity, whatever
    fidelities the evaluator declares: after ``min_points_in_model`` results (the number of choices + 1 by
    default), a share ``random_fraction`` of proposals is drawn at random among the architectures not
    tried yet and the rest from the model (see the module docstring: good/bad categorical densities, the
    best ``l(x) / g(x)`` of ``n_samples`` candidates). On an evaluator without fidelities (a tabular
    benchmark) it proposes exactly what ``bohb`` proposes there. Options as :class:`BOHB`, without the
    fidelity ones. About a millisecond per proposal after a few hundred results.
    """

    name = "tpe"
    multi_fidelity = False

    def __init__(self, space: SearchSpace, seed: int | None = None, top_n_percent: float = 15,
                 min_bandwidth: float = 1e-3, random_fraction: float = 1 / 3, n_samples: int = 64,
                 min_points_in_model: int | None = None) -> None:
        super().__init__(space, seed, top_n_percent=top_n_percent, min_bandwidth=min_bandwidth,
                         random_fraction=random_fraction, n_samples=n_samples,
                         min_points_in_model=min_points_in_model)
        self._ignore_fidelity()

    def adapt(self, capabilities: Any) -> None:
        """Nothing to take: every proposal is evaluated at the evaluator's default fidelity."""
        self._ignore_fidelity()
