"""Training-free search: strategies that rank architectures by zero-cost proxies.

Zero-cost proxies (NASWOT, synflow, jacob_cov, ...) score an *untrained*
network. These strategies never compute them: they call a **scorer** they are
given, any callable ``scorer(arch)`` returning either a dict
``{proxy name: value}`` or one float; larger means predicted better, and a
value may be NaN for a proxy that failed (NaN, and any other non-finite
value, counts as failed). :class:`nasforge.evaluators.zero_cost.ProxyScorer`
is one; a lambda over a lookup table is another. The scorer is passed as the
``scorer`` option, or set later as the attribute ``strategy.scorer`` before
the first ``ask``; asking without one raises :class:`RuntimeError`.

A scorer must be deterministic (the same values for the same architecture)
and may be slow (about a second per call for a real network), so each
strategy instance calls it at most once per distinct architecture (a cache
keyed by ``space.key``), only for architectures it is about to rank, and
through ``scorer.score_many(archs)`` when the scorer has that method and
there are several to score.

* ``naswot`` (:class:`TrainingFreeSearch`), after Mellor et al., "Neural
  Architecture Search without Training" (ICML 2021): score a pool of ``N``
  random architectures, propose them best first. With a budget of one trial
  this is exactly NASWOT.
* ``prescreen`` (:class:`ProxyPrescreen`): any registered strategy with a
  proxy filter; each proposal is the best-scoring of ``k`` proposals of the
  inner strategy (the "zero-cost move proposal" of Abdelfattah et al.,
  "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, made generic).
* ``robot`` (:class:`RoBoT`), after He et al., "Robustifying and Boosting
  Training-Free Neural Architecture Search" (ICLR 2024): Bayesian
  optimisation of the weights of a linear combination of several proxies,
  then greedy search down the best combination's ranking.

Determinism: the scores are a function of the architecture; pools are drawn
from ``default_rng((seed, tag, k))`` for the ``k``-th pool (:meth:`Strategy.rng`: a joined
driver's stream is appended, so drivers of one study score different pools), and every other
random draw comes from the ``rng`` of the ``ask``; ties are broken by a fixed
order (draw order, enumeration order, or the inner strategy's order). So a
seed fixes the proposals, and replaying a history through ``ask``/``tell``
rebuilds the state exactly (the scorer is called again on a fresh instance,
with the same values).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nasforge.options import check_choice, check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, enumerable_size, sample_distinct
from nasforge.strategies.base import Strategy

#: RoBoT's pool is the whole space up to this size when ``pool_size`` is None ...
_WHOLE_SPACE = 20_000
#: ... and this many sampled architectures otherwise
_DEFAULT_POOL = 1_000
#: BO steps per RoBoT ask whose best architecture is already known (no query spent) before falling back
_FREE_STEPS = 10
ACQUISITIONS = ("ucb", "ei")
#: how RoBoT puts the proxies on one scale before weighting them
NORMALISATIONS = ("zscore", "minmax", "rank")
#: the box RoBoT's weight vectors come from: [-1, 1]^m or [0, 1]^m
WEIGHT_RANGES = ("signed", "nonnegative")

Scores = dict[str, float] | float
Scorer = Callable[[Architecture], Any]


# ----------------------------------------------------------------------------- scorer plumbing


def check_scorer(value: Any) -> Scorer | None:
    """``value`` unchanged if it is None or callable, else ValueError naming it."""
    if value is not None and not callable(value):
        raise ValueError(f"scorer must be a callable scorer(arch) -> dict[str, float] | float, or None; "
                         f"got {value!r}")
    return value


def _check_name(name: str, value: Any, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        accepted = "a proxy name (a non-empty string)" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {accepted}, got {value!r}")
    return value


def require_scorer(strategy: Strategy) -> Scorer:
    """The strategy's scorer, or a RuntimeError saying how to give it one."""
    scorer = getattr(strategy, "scorer", None)
    if scorer is None:
        raise RuntimeError(
            f"strategy {strategy.name!r} needs a scorer (zero-cost proxies of untrained networks): pass "
            f"scorer=... to its constructor, or set strategy.scorer before the first ask; a scorer is any "
            f"callable scorer(arch) -> dict[str, float] | float, e.g. "
            f"nasforge.evaluators.zero_cost.ProxyScorer(space, proxies=('naswot',))")
    check_scorer(scorer)
    return scorer


def _number(value: Any, where: str) -> float:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"the scorer returned {value!r} {where}; expected a number")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"the scorer returned {value!r} {where}; expected a number") from None
    return x if math.isfinite(x) else math.nan


def _checked(value: Any, arch: Architecture) -> Scores:
    """A scorer's answer as floats (non-finite values become NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _number(v, f"for proxy {k!r} of {arch}") for k, v in value.items()}
    return _number(value, f"for {arch} (expected a dict of proxy values or one float)")


class ScoreCache:
    """A scorer's answers by architecture key: the scorer is called at most once per distinct architecture.

    ``calls`` counts the architectures scored.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.values: dict[str, Scores] = {}
        self.calls = 0

    def get(self, scorer: Scorer, archs: Sequence[Architecture]) -> list[Scores]:
        """The scores of ``archs`` (in order); the uncached ones are scored together by ``score_many``
        when the scorer has it, else one call each."""
        keys = [self.space.key(a) for a in archs]
        todo: dict[str, Architecture] = {}
        for key, arch in zip(keys, archs):
            if key not in self.values and key not in todo:
                todo[key] = arch
        if todo:
            batch = list(todo.values())
            many = getattr(scorer, "score_many", None)
            if callable(many) and len(batch) > 1:
                answers = list(many(batch))
                if len(answers) != len(batch):
                    raise ValueError(f"scorer.score_many returned {len(answers)} scores for {len(batch)} "
                                     f"architectures")
            else:
                answers = [scorer(a) for a in batch]
            for (key, arch), value in zip(todo.items(), answers):
                self.values[key] = _checked(value, arch)
            self.calls += len(batch)
        return [self.values[k] for k in keys]


def select(scores: Scores, proxy: str | None, who: str) -> float:
    """One score: the float itself, or the value of ``proxy`` in a dict (ValueError naming what is missing)."""
    if not isinstance(scores, dict):
        return float(scores)
    if proxy is None:
        raise ValueError(f"{who}: the scorer returns a dict of proxies ({', '.join(sorted(scores))}); choose the "
                         f"one that ranks candidates with proxy=..., e.g. proxy={min(scores)!r}")
    if proxy not in scores:
        raise ValueError(f"{who}: the scorer returned no proxy {proxy!r}; it returns "
                         f"{', '.join(sorted(scores)) or '(none)'} (set proxy= to one of them)")
    return scores[proxy]


def ranking(scores: Sequence[float]) -> list[int]:
    """Indices best first; NaN last; ties (and NaNs) in their original order."""
    return sorted(range(len(scores)), key=lambda i: (math.isnan(scores[i]),
                                                     0.0 if math.isnan(scores[i]) else -scores[i], i))


# ----------------------------------------------------------------------------- pools


# ----------------------------------------------------------------------------- naswot


class TrainingFreeSearch(Strategy):
    """NASWOT: score a pool of random architectures with a zero-cost proxy, propose them best first (``naswot``).

    After Mellor, Turner, Storkey and Crowley, "Neural Architecture Search
    without Training" (ICML 2021): sample ``N`` architectures, score each
    untrained network, and train the best. The first ``ask`` draws a pool of
    ``n_samples`` distinct architectures (from ``default_rng((seed, 7, 0))``),
    scores them all and proposes them in descending score order (ties in draw
    order, NaN scores last); with a study budget of one trial that is NASWOT.
    When a pool is used up, the next pool (``default_rng((seed, 7, k))``) is
    ``n_samples`` architectures not proposed or told before; when a finite
    space has none left, ``ask`` raises ``StopIteration``. ``n_samples=1`` is
    random search without replacement (the score of a pool of one decides
    nothing).

    Options:

    * ``scorer`` (None): ``scorer(arch) -> dict[str, float] | float``; may be
      set later as the attribute ``scorer`` before the first ask;
    * ``proxy`` ("naswot"): the key of the scorer's dict that ranks the pool
      (ignored when the scorer returns one float);
    * ``n_samples`` (100): N, the size of each pool.

    ``last_scores`` lists the most recent pool as (architecture, score), best
    first. A discarded proposal (``discard``) goes back to the front of the
    queue. Results do not change the order: the scores alone decide it.
    """

    name = "naswot"
    needs_scorer = True

    def __init__(self, space: SearchSpace, seed: int | None = None, scorer: Scorer | None = None,
                 proxy: str = "naswot", n_samples: int = 100) -> None:
        super().__init__(space, seed)
        self.scorer = check_scorer(scorer)
        self.proxy = _check_name("proxy", proxy, optional=False)
        self.n_samples = check_int("n_samples", n_samples, 1)
        self.n_pools = 0
        #: the most recent pool, best first: (architecture, score)
        self.last_scores: list[tuple[Architecture, float]] = []
        self._cache = ScoreCache(space)
        self._queue: list[Architecture] = []   # the current pool's architectures not proposed yet, best first
        self._proposed: set[str] = set()       # keys proposed (and not withdrawn) or told

    def _ask(self, rng: np.random.Generator) -> Architecture:
        scorer = require_scorer(self)
        while True:
            while self._queue:
                arch = self._queue.pop(0)
                key = self.space.key(arch)
                if key not in self._proposed and key not in self.pending:
                    self._proposed.add(key)
                    return arch
            if not self._next_pool(scorer):
                break
        if enumerable_size(self.space) is not None:
            raise StopIteration(f"naswot has proposed every architecture of space {self.space.name!r}")
        return self.space.sample(rng)  # nothing new found in a huge space: a repeat

    def _next_pool(self, scorer: Scorer) -> bool:
        """Draw, score and rank the next pool; False when no new architecture is left."""
        rng = self.rng(7, self.n_pools)
        self.n_pools += 1
        archs = sample_distinct(self.space, self.n_samples, rng, self._proposed | set(self.pending))
        if not archs:
            return False
        scores = [select(s, self.proxy, "naswot") for s in self._cache.get(scorer, archs)]
        order = ranking(scores)
        self._queue = [archs[i] for i in order]
        self.last_scores = [(archs[i], scores[i]) for i in order]
        return True

    def _discard(self, arch: Architecture) -> None:
        key = self.space.key(arch)
        if key in self._proposed and key not in self.pending:
            self._proposed.discard(key)
            self._queue.insert(0, arch)

    def _tell(self, arch: Architecture, result: Result) -> None:
        self._proposed.add(self.space.key(arch))


# ----------------------------------------------------------------------------- prescreen


class ProxyPrescreen(Strategy):
    """Any strategy with a zero-cost proxy filter: each proposal is the best-scoring of ``k`` (``prescreen``).

    Each ``ask`` asks the inner strategy ``k`` times, scores the candidates
    with the scorer, returns the best one and withdraws the others from the
    inner strategy (:meth:`~nasforge.strategies.base.Strategy.discard`), whose
    pending set therefore holds exactly the proposals returned. ``tell``
    forwards results to the inner strategy. With ``rea`` inside, every child
    is the best-scoring of ``k`` mutations (and every random member of the
    first population the best of ``k`` random architectures): the
    "zero-cost move proposal" of Abdelfattah et al., "Zero-Cost Proxies for
    Lightweight NAS" (ICLR 2021), for any strategy.

    Candidates: a repeated candidate is scored once; a candidate already
    evaluated or pending is not chosen while a fresh one exists (when all are
    stale the inner strategy's first proposal is returned, unscored); ties go
    to the inner strategy's earlier proposal, NaN scores lose; a single fresh
    candidate is returned without scoring. For a multi-fidelity inner
    strategy (``multi_fidelity``/``fidelity`` are forwarded, e.g. Hyperband)
    only candidates at the fidelity of its first proposal compete, and
    "evaluated" means evaluated at that fidelity. What withdrawing does is up
    to the inner strategy: those that draw candidates (REA, NSGA-II, GBDT,
    random) just lose them; those that must evaluate a set (local search's
    neighbours, Hyperband's rungs, NASWOT's pool) take them back and propose
    them again later, so the proxy orders them instead.

    Options:

    * ``strategy`` ("rea"): the registered name of the inner strategy;
    * ``strategy_options`` (None): a dict of its options (not ``seed``: the
      inner strategy gets this strategy's seed);
    * ``scorer`` (None): ``scorer(arch) -> dict[str, float] | float``; may be
      set later as the attribute ``scorer``; an inner strategy that needs a
      scorer and has none gets this one;
    * ``proxy`` (None): the key of the scorer's dict that ranks candidates;
      required when the scorer returns a dict, unused when it returns a float;
    * ``k`` (10): candidates per proposal (1 = the inner strategy unchanged).

    Determinism: the inner strategy's asks are seeded by their count, the
    scores are fixed and the choice has no randomness, so replaying the
    wrapper's asks and tells replays the inner strategy's asks, discards and
    tells. The inner strategy is the attribute ``inner``; ``last_scores``
    lists the candidates scored by the latest ask.
    """

    name = "prescreen"
    needs_scorer = True

    def __init__(self, space: SearchSpace, seed: int | None = None, strategy: str = "rea",
                 strategy_options: dict[str, Any] | None = None, scorer: Scorer | None = None,
                 proxy: str | None = None, k: int = 10) -> None:
        super().__init__(space, seed)
        from nasforge.registry import STRATEGIES, check_options

        if not isinstance(strategy, str):
            raise ValueError(f"strategy must be the name of a registered strategy; got {strategy!r}; "
                             f"known: {', '.join(STRATEGIES.list())}")
        factory = STRATEGIES.get(strategy)  # an unknown name raises, listing the known ones
        if strategy_options is not None and (not isinstance(strategy_options, dict)
                                             or not all(isinstance(o, str) for o in strategy_options)):
            raise ValueError(f"strategy_options must be a dict of {strategy!r}'s options or None, "
                             f"got {strategy_options!r}")
        options = dict(strategy_options or {})
        if "seed" in options:
            raise ValueError("strategy_options must not set seed: the inner strategy gets the prescreen's seed")
        check_options("strategy", strategy, factory, options)
        self.strategy = strategy
        self.strategy_options = strategy_options
        self.scorer = check_scorer(scorer)
        self.proxy = _check_name("proxy", proxy, optional=True)
        self.k = check_int("k", k, 1)
        self.inner: Strategy = factory(space, seed=self.seed, **options)
        self.multi_fidelity = self.inner.multi_fidelity
        #: the candidates scored by the latest ask: (architecture, score), best first
        self.last_scores: list[tuple[Architecture, float]] = []
        self._cache = ScoreCache(space)
        self._fidelities: dict[str, list[float | None]] = {}  # per outstanding proposal, oldest first
        self._done: set[tuple[str, float | None]] = set()     # (key, fidelity) told

    def adapt(self, capabilities: Any) -> None:
        """Pass the evaluator's declaration on to the inner strategy (a multi-fidelity one takes its range)."""
        self.inner.adapt(capabilities)

    def set_stream(self, stream: int) -> None:
        super().set_stream(stream)
        self.inner.set_stream(stream)

    def fidelity(self, arch: Architecture) -> float | None:
        fids = self._fidelities.get(self.space.key(arch))
        return fids[-1] if fids else self.inner.fidelity(arch)

    def _ask(self, rng: np.random.Generator) -> Architecture:
        scorer = require_scorer(self)
        if self.inner.needs_scorer and getattr(self.inner, "scorer", None) is None:
            self.inner.scorer = scorer  # type: ignore[attr-defined]
        cands: list[tuple[Architecture, str, float | None]] = []
        for _ in range(self.k):
            try:
                arch = self.inner.ask()
            except StopIteration:
                if not cands:
                    raise
                break
            fid = self.inner.fidelity(arch) if self.multi_fidelity else None
            cands.append((arch, self.space.key(arch), fid))
        fid0 = cands[0][2]
        fresh: list[int] = []
        keys: set[str] = set()
        for i, (arch, key, fid) in enumerate(cands):
            if fid != fid0 or key in keys:
                continue
            keys.add(key)
            if (key, fid) not in self._done and key not in self.pending:
                fresh.append(i)
        chosen = fresh[0] if fresh else 0
        if len(fresh) > 1:
            raw = self._cache.get(scorer, [cands[i][0] for i in fresh])
            scores = [select(s, self.proxy, "prescreen") for s in raw]
            order = ranking(scores)
            chosen = fresh[order[0]]
            self.last_scores = [(cands[fresh[j]][0], scores[j]) for j in order]
        else:
            self.last_scores = []
        # withdraw the others, latest first, so each discard undoes the latest proposal of its architecture
        for i in range(len(cands) - 1, -1, -1):
            if i != chosen:
                self.inner.discard(cands[i][0])
        arch, key, fid = cands[chosen]
        for k, a in [*self.pending.items(), (key, arch)]:  # discards of a twin dropped the key: restore it
            self.inner.pending.setdefault(k, a)
        self._fidelities.setdefault(key, []).append(fid)
        return arch

    def _discard(self, arch: Architecture) -> None:
        key = self.space.key(arch)
        fids = self._fidelities.get(key)
        if fids:
            fids.pop()
            if not fids:
                del self._fidelities[key]
        self.inner.discard(arch)

    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        fids = self._fidelities.get(key)
        fid = fids.pop(0) if fids else None
        if fids is not None and not fids:
            del self._fidelities[key]
        if self.multi_fidelity and result.fidelity is not None:
            fid = float(result.fidelity)
        self._done.add((key, fid if self.multi_fidelity else None))
        self.inner.tell(arch, result)


# ----------------------------------------------------------------------------- RoBoT


def _check_proxies(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) > 0 \
        and all(isinstance(p, str) and p for p in value) and len(set(value)) == len(value)
    if not ok:
        raise ValueError(f"proxies must be a non-empty list of distinct proxy names (strings), or None for all "
                         f"the scorer returns; got {value!r}")
    return tuple(value)


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: order-preserving, tames heavy tails (synflow spans many decades)."""
    return np.sign(x) * np.log1p(np.abs(x))


class RoBoT(Strategy):
    """Bayesian optimisation of a weighted combination of zero-cost proxies, then greedy search (``robot``).

    After He et al., "Robustifying and Boosting Training-Free Neural
    Architecture Search" (ICLR 2024). No single proxy ranks well everywhere;
    RoBoT learns how to combine several from a few real evaluations, then
    exploits the learned ranking.

    1. *Pool*: the whole space when it is finite with at most ``pool_size``
       architectures (20,000 when ``pool_size`` is None), else ``pool_size``
       distinct architectures sampled from ``default_rng((seed, 8, 0))``
       (1,000 when None). The first ``ask`` scores every pool architecture
       once (through ``scorer.score_many`` when the scorer has it: this is
       the expensive part).
    2. *Normalise*: each proxy is transformed by :func:`signed_log1p`
       (order-preserving; it keeps proxies that span many decades from being
       decided by their largest values), a failed value (NaN) is replaced by
       the pool's minimum of that proxy (the whole column is 0 when every
       value failed), and the result is put on a common scale over the pool
       (``normalise``): ``'zscore'`` (minus the mean, over the standard
       deviation), ``'minmax'`` (onto [0, 1], the paper's choice) or
       ``'rank'`` (the fraction of the pool below, ties counted half: a
       proxy's outliers cannot dominate the sum). Pools drawn later reuse
       the first pool's statistics (for ``'rank'``, its sorted values). The
       combined score of weights ``w`` is ``z . w``, with ``w`` in
       [-1, 1]^m (``weights='signed'``) or [0, 1]^m (``'nonnegative'``:
       every proxy is read as "larger is better", so none can be turned
       against its own direction, which halves each dimension BO explores).
    3. *BO* (the first ``bo_queries`` proposals): the first weights are equal
       (1/m each); afterwards a Gaussian process (scikit-learn, Matern 5/2
       kernel with a constant factor, ``normalize_y``) is fitted to the
       pairs (w, objective of the architecture that w ranks first), and the
       next w maximises the acquisition (``'ucb'``: mean + ``kappa`` x std;
       ``'ei'``: expected improvement over the best objective) among
       ``n_candidates`` weight vectors drawn uniformly from the weights' box. The
       architecture ranked first by w is proposed. If it is already evaluated
       (or pending), its objective is recorded for w (once told) without
       spending a query and the loop goes on, up to 10 times per ask, after
       which the best unevaluated architecture under the last w is proposed. A failed architecture counts as the worst objective seen.
    4. *Greedy*: afterwards the pool is ranked by the best weights found (the
       mean of the weight vectors whose first architecture has the best
       objective: many rank the same architecture first, and their mean is
       the centre of that region; equal weights before any result) and its
       unevaluated architectures are proposed in that order. When a sampled
       pool is used up another is drawn; when the pool is the whole space and
       every architecture is evaluated or pending, ``ask`` raises
       ``StopIteration``.

    Options: ``scorer`` (None; must return a dict of several proxies, a float
    is one proxy named ``'score'``), ``proxies`` (None: every key the scorer
    returns over the pool, sorted; else the keys to combine), ``pool_size``
    (None), ``candidates`` (None; a list of architectures or their strings
    to use as the pool instead, e.g. the cells of a proxy table; used up, ask
    raises ``StopIteration``), ``normalise`` ('minmax'), ``weights`` ('nonnegative';
    these two defaults were chosen on NB201 CIFAR-10 seeds 1000-1049 among the normalisations and weight
    ranges, over the whole space with the data-free proxies and over a sampled pool with all 11
    proxies; 'zscore' with 'signed' weights, the earlier behaviour, collapsed on some seeds of the
    second; see benchmarks/RESULTS.md),
    ``bo_queries`` (10, real queries of the BO phase; 0 goes greedy
    on equal weights), ``n_candidates`` (1000), ``acquisition`` ('ucb'),
    ``kappa`` (1.0: chosen among 2.0, 1.0, 0.5 and EI on NB201 CIFAR-10 seeds
    1000-1049 with the data-free proxies, 20 queries; see benchmarks/RESULTS.md).
    The objective is the study's: larger is better. Pending
    trials: a BO step taken while earlier ones are pending uses the results
    available.

    ``best_weights`` maps each proxy to its weight in the best combination
    (None before any result); ``proxy_names``, ``pool`` and
    :meth:`combined_scores` show the rest. Determinism: candidate weights
    come from the ask's ``rng``, the GP fit is deterministic, ties go to the
    earlier pool architecture.
    """

    name = "robot"
    needs_scorer = True
    #: how robot ran before ``normalise`` and ``weights`` existed (a study recorded then resumes so)
    legacy_defaults = {"normalise": "zscore", "weights": "signed"}

    def __init__(self, space: SearchSpace, seed: int | None = None, scorer: Scorer | None = None,
                 proxies: Sequence[str] | None = None, pool_size: int | None = None, bo_queries: int = 10,
                 n_candidates: int = 1000, acquisition: str = "ucb", kappa: float = 1.0,
                 candidates: Sequence[Architecture | str] | None = None, normalise: str = "minmax",
                 weights: str = "nonnegative") -> None:
        super().__init__(space, seed)
        self.scorer = check_scorer(scorer)
        _check_proxies(proxies)
        self.proxies = proxies
        if pool_size is not None:
            check_int("pool_size", pool_size, 1)
        self.pool_size = pool_size
        self.candidates: list[str] | None = None
        if candidates is not None:
            if isinstance(candidates, (str, bytes)) or not hasattr(candidates, "__iter__"):
                raise ValueError(f"candidates must be a list of architectures (or their strings), got {candidates!r}")
            archs = [space.from_string(c) if isinstance(c, str) else c for c in candidates]
            bad = [a for a in archs if not isinstance(a, Architecture) or not space.contains(a)]
            if bad or not archs:
                raise ValueError(f"candidates must be a non-empty list of architectures of space {space.name!r}; "
                                 f"got {bad[0] if bad else 'an empty list'!r}")
            self.candidates = list(dict.fromkeys(space.to_string(a) for a in archs))
        self.bo_queries = check_int("bo_queries", bo_queries, 0)
        self.n_candidates = check_int("n_candidates", n_candidates, 1)
        self.acquisition = check_choice("acquisition", acquisition, ACQUISITIONS)
        self.kappa = check_number("kappa", kappa, 0.0)
        self.normalise = check_choice("normalise", normalise, NORMALISATIONS)
        self.weights = check_choice("weights", weights, WEIGHT_RANGES)
        self._cache = ScoreCache(space)
        self._pool: list[Architecture] = []
        self._keys: list[str] = []
        self._Z: np.ndarray | None = None
        self._names: tuple[str, ...] = ()
        # per proxy: the floor for failed values, then (offset, scale) or, for 'rank', the first pool's sorted values
        self._stats: tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | np.ndarray] | None = None
        self._whole = False
        self._n_pools = 0
        self._known: dict[str, float | None] = {}           # key -> best objective told (None: only failures)
        self._obs: list[tuple[np.ndarray, str]] = []        # (weights, key of the architecture they rank first)
        self._bo_asked = 0                                  # real BO queries proposed (and not withdrawn)
        self._bo_flags: dict[str, list[bool]] = {}          # per outstanding proposal: was it a BO query

    # -- inspection ---------------------------------------------------------------------
    @property
    def proxy_names(self) -> list[str]:
        """The proxies combined, in weight order (known after the first ask)."""
        return list(self._names)

    @property
    def pool(self) -> list[Architecture]:
        """The candidate pool (known after the first ask)."""
        return list(self._pool)

    @property
    def best_weights(self) -> dict[str, float] | None:
        """Proxy -> weight of the best combination found; None before any successful result."""
        w = self._best_observed()
        return None if w is None else {p: float(x) for p, x in zip(self._names, w)}

    def combined_scores(self, weights: Mapping[str, float] | None = None) -> np.ndarray:
        """The combined score of every pool architecture under ``weights`` (default: the best found)."""
        if self._Z is None:
            raise RuntimeError("robot has no pool yet: it is scored on the first ask")
        w = self._best_weights() if weights is None else np.array([weights[p] for p in self._names], dtype=float)
        return self._Z @ w

    # -- pool ------------------------------------------------------------------------------
    def _ensure_pool(self, scorer: Scorer) -> None:
        if self._Z is not None:
            return
        limit = _WHOLE_SPACE if self.pool_size is None else self.pool_size
        size = enumerable_size(self.space, limit)
        if self.candidates is not None:
            archs, self._whole = [self.space.from_string(c) for c in self.candidates], True
        elif size is not None:
            archs, self._whole = sample_distinct(self.space, size, None), True
        else:
            n = _DEFAULT_POOL if self.pool_size is None else self.pool_size
            archs = sample_distinct(self.space, n, self.rng(8, 0))
        self._n_pools = 1
        raw = [self._as_dict(s) for s in self._cache.get(scorer, archs)]
        if self.proxies is None:
            self._names = tuple(sorted(set().union(*raw)))
        else:
            returned = set().union(*raw)
            missing = [p for p in self.proxies if p not in returned]
            if missing:
                raise ValueError(f"robot: the scorer returned no proxy {', '.join(map(repr, missing))}; it returns "
                                 f"{', '.join(sorted(returned)) or '(none)'}")
            self._names = tuple(self.proxies)
        X = signed_log1p(self._matrix(raw))
        floor = np.array([np.min(c[np.isfinite(c)]) if np.isfinite(c).any() else 0.0 for c in X.T])
        X = np.where(np.isnan(X), floor, X)
        if self.normalise == "rank":
            self._stats = (floor, np.sort(X, axis=0))
        else:
            if self.normalise == "zscore":
                offset, scale = X.mean(axis=0), X.std(axis=0)
            else:
                offset, scale = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
            self._stats = (floor, (offset, np.where(scale > 0, scale, 1.0)))
        self._add(archs, X)

    def _as_dict(self, scores: Scores) -> dict[str, float]:
        return scores if isinstance(scores, dict) else {"score": scores}

    def _matrix(self, raw: list[dict[str, float]]) -> np.ndarray:
        return np.array([[r.get(p, math.nan) for p in self._names] for r in raw], dtype=float).reshape(
            len(raw), len(self._names))

    def _add(self, archs: list[Architecture], transformed: np.ndarray) -> None:
        assert self._stats is not None
        floor, ref = self._stats
        X = np.where(np.isnan(transformed), floor, transformed)
        if isinstance(ref, tuple):
            Z = (X - ref[0]) / ref[1]
        else:  # the fraction of the first pool below each value, ties counted half
            Z = np.column_stack([(np.searchsorted(col, x, "left") + np.searchsorted(col, x, "right")) / (2 * len(col))
                                 for col, x in zip(ref.T, X.T)]).reshape(X.shape)
        self._pool += archs
        self._keys += [self.space.key(a) for a in archs]
        self._Z = Z if self._Z is None else np.vstack([self._Z, Z])

    def _extend(self, scorer: Scorer) -> bool:
        """Add a pool of new architectures (a sampled pool is used up); False when there are none."""
        if self._whole:
            return False
        n = _DEFAULT_POOL if self.pool_size is None else self.pool_size
        rng = self.rng(8, self._n_pools)
        self._n_pools += 1
        archs = sample_distinct(self.space, n, rng, self._keys)
        if not archs:
            return False
        raw = [self._as_dict(s) for s in self._cache.get(scorer, archs)]
        self._add(archs, signed_log1p(self._matrix(raw)))
        return True

    # -- ask ---------------------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        scorer = require_scorer(self)
        self._ensure_pool(scorer)
        taken = set(self._known) | set(self.pending)
        bo = self._bo_asked < self.bo_queries
        arch = self._bo_step(rng, taken, scorer) if bo else self._first_free(self._best_weights(), taken, scorer)
        self._bo_flags.setdefault(self.space.key(arch), []).append(bo)
        self._bo_asked += bo
        return arch

    def _bo_step(self, rng: np.random.Generator, taken: set[str], scorer: Scorer) -> Architecture:
        assert self._Z is not None
        for _ in range(_FREE_STEPS + 1):
            w = self._next_weights(rng)
            top = int(np.argmax(self._Z @ w))
            self._obs.append((w, self._keys[top]))
            if self._keys[top] not in taken:
                return self._pool[top]
            # already evaluated (or pending): its objective is w's observation, no query spent
        return self._first_free(w, taken, scorer)

    def _first_free(self, w: np.ndarray, taken: set[str], scorer: Scorer) -> Architecture:
        """The best pool architecture under ``w`` that is neither evaluated nor pending."""
        while True:
            assert self._Z is not None
            scores = self._Z @ w
            for i in np.argsort(-scores, kind="stable"):
                if self._keys[int(i)] not in taken:
                    return self._pool[int(i)]
            if not self._extend(scorer):
                break
        if self._whole or enumerable_size(self.space) is not None:
            raise StopIteration(f"robot has proposed every architecture of space {self.space.name!r}")
        return self._pool[int(np.argmax(self._Z @ w))]  # nothing new found in a huge space: a repeat

    def _data(self) -> tuple[np.ndarray, np.ndarray]:
        """The BO training set: weights whose first architecture has a result (a failure counts as the worst)."""
        told = [v for v in self._known.values() if v is not None]
        worst = min(told) if told else None
        X, y = [], []
        for w, key in self._obs:
            if key not in self._known:
                continue
            v = self._known[key]
            if v is None:
                if worst is None:
                    continue
                v = worst
            X.append(w)
            y.append(v)
        return np.array(X).reshape(len(X), len(self._names)), np.array(y, dtype=float)

    def _next_weights(self, rng: np.random.Generator) -> np.ndarray:
        m = len(self._names)
        X, y = self._data()
        low = 0.0 if self.weights == "nonnegative" else -1.0
        if len(y) == 0:
            return np.full(m, 1.0 / m) if not self._obs else rng.uniform(low, 1.0, m)
        cands = rng.uniform(low, 1.0, (self.n_candidates, m))
        gp = self._gp()  # imports scikit-learn, and with it SciPy's BLAS, before the BLAS libraries are limited
        # matrices of a few dozen rows: BLAS threads only cost here (5x slower on a busy 2-core machine)
        with _blas_controller().limit(limits=1, user_api="blas"):
            gp.fit(X, y)
            mean, std = gp.predict(cands, return_std=True)
        if self.acquisition == "ucb":
            acq = mean + self.kappa * std
        else:
            from scipy.stats import norm

            best = float(y.max())
            sd = np.maximum(std, 1e-12)
            z = (mean - best) / sd
            acq = (mean - best) * norm.cdf(z) + sd * norm.pdf(z)
        return cands[int(np.argmax(acq))]

    def _gp(self) -> Any:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern

        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(length_scale=1.0, length_scale_bounds=(1e-2, 1e2), nu=2.5)
        return _QuietGP(GaussianProcessRegressor(kernel=kernel, normalize_y=True, alpha=1e-6, random_state=0))

    def _best_observed(self) -> np.ndarray | None:
        """The mean of the weight vectors whose first architecture has the best objective (None before any).

        Many weight vectors rank the same architecture first; their mean, the
        centre of the region found, ranks the rest of the pool more robustly
        than whichever of them came first (often the equal weights).
        """
        values = [self._known.get(key) for _, key in self._obs]
        told = [v for v in values if v is not None]
        if not told:
            return None
        best = max(told)
        return np.mean([w for (w, _), v in zip(self._obs, values) if v == best], axis=0)

    def _best_weights(self) -> np.ndarray:
        w = self._best_observed()
        return np.full(len(self._names), 1.0 / len(self._names)) if w is None else w

    # -- tell / discard --------------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        obj = result.value
        if obj is not None:
            prev = self._known.get(key)
            self._known[key] = float(obj) if prev is None else max(prev, float(obj))
        else:
            self._known.setdefault(key, None)
        flags = self._bo_flags.get(key)
        if flags:
            flags.pop(0)
            if not flags:
                del self._bo_flags[key]

    def _discard(self, arch: Architecture) -> None:
        key = self.space.key(arch)
        flags = self._bo_flags.get(key)
        if flags:
            self._bo_asked -= flags.pop()
            if not flags:
                del self._bo_flags[key]
        if key not in self._known and key not in self.pending and key not in self._bo_flags:
            self._obs = [(w, k) for w, k in self._obs if k != key]  # its result will never come


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """threadpoolctl's controller of the loaded BLAS libraries, made once (making one scans every loaded
    library: about 2 ms, against 0.015 ms to limit through it), after the GP's imports."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class _QuietGP:
    """A GaussianProcessRegressor whose fit does not warn about hyperparameters at their bounds
    (common with a handful of points; the fit is still usable)."""

    def __init__(self, gp: Any) -> None:
        self.gp = gp

    def fit(self, X: np.ndarray, y: np.ndarray) -> "_QuietGP":
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp.fit(X, y)
        return self

    def predict(self, X: np.ndarray, return_std: bool = False) -> Any:
        return self.gp.predict(X, return_std=return_std)
