"""Training-free strategies (naswot, prescreen, robot) with fake zero-cost scorers."""

from __future__ import annotations

import math
import zlib
from typing import Any, Callable

import numpy as np
import pytest

from nasforge.evaluators.base import Capabilities, FidelityRange, FunctionEvaluator
from nasforge.registry import STRATEGIES
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.strategies.base import Strategy
from nasforge.strategies.training_free import ProxyPrescreen, RoBoT, TrainingFreeSearch, signed_log1p
from nasforge.study import Study
from nasforge.testing import check_strategy, fake_scorer, linear_evaluator, toy_space

GRID = SearchSpace([categorical(f"c{i}", range(6)) for i in range(4)], name="grid-4x6")  # 1296


def hidden(space: SearchSpace, seed: int = 0) -> Callable[[Architecture], float]:
    """A hidden objective: a fixed random linear function of the one-hot encoding."""
    w = np.random.default_rng((seed, 99)).normal(size=space.encoding_size)
    return lambda arch: float(np.asarray(space.encode(arch)) @ w)


def unit(space: SearchSpace, arch: Architecture, tag: str) -> float:
    """A fixed standard normal draw per (architecture, tag)."""
    return float(np.random.default_rng(zlib.crc32(f"{tag}:{space.key(arch)}".encode())).normal())


class Counting:
    """A scorer that counts its calls per architecture key (and optionally has score_many)."""

    def __init__(self, space: SearchSpace, fn: Callable[[Architecture], Any]) -> None:
        self.space, self.fn = space, fn
        self.calls: dict[str, int] = {}

    def __call__(self, arch: Architecture) -> Any:
        key = self.space.key(arch)
        self.calls[key] = self.calls.get(key, 0) + 1
        return self.fn(arch)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class Batched(Counting):
    def __init__(self, space: SearchSpace, fn: Callable[[Architecture], Any]) -> None:
        super().__init__(space, fn)
        self.batches: list[int] = []

    def score_many(self, archs: list[Architecture]) -> list[Any]:
        self.batches.append(len(archs))
        return [self(a) for a in archs]


def run(strategy: Strategy, objective: Callable[[Architecture], float], n: int) -> list[Architecture]:
    out = []
    for _ in range(n):
        arch = strategy.ask()
        strategy.tell(arch, Result(value=objective(arch)))
        out.append(arch)
    return out


# ----------------------------------------------------------------------------- common


@pytest.mark.parametrize("name", ["naswot", "prescreen", "robot"])
def test_meets_contract_with_a_fake_scorer(name: str) -> None:
    space = toy_space()
    scorer = fake_scorer(space, noise=0.5)
    options: dict[str, Any] = {"proxy": "naswot"} if name == "prescreen" else {}
    if name == "robot":
        options.update(pool_size=200, n_candidates=100, bo_queries=4)  # a short BO: ask/tell is tested here
    check_strategy(lambda sp, seed: STRATEGIES.get(name)(sp, seed=seed, scorer=scorer, **options),
                   space, linear_evaluator(space), n=30)


@pytest.mark.parametrize("name", ["naswot", "prescreen", "robot"])
def test_a_drivers_stream_changes_the_pools_and_stream_zero_changes_nothing(name: str) -> None:
    """Joined drivers of one study (same seed, own streams) score different pools; without a stream the
    proposals are those of the seed alone, as before streams existed."""
    space = toy_space()
    scorer = fake_scorer(space, noise=0.5)
    options: dict[str, Any] = {"proxy": "naswot"} if name == "prescreen" else {}
    if name == "robot":
        options.update(pool_size=200, n_candidates=100, bo_queries=4)  # a short BO: ask/tell is tested here

    def proposals(stream: int | None) -> list[str]:
        s = STRATEGIES.get(name)(space, seed=3, scorer=scorer, **options)
        if stream is not None:
            s.set_stream(stream)
        evaluate = linear_evaluator(space)
        return [space.key(a) for a in run(s, lambda a: evaluate(a).value, 12)]

    assert proposals(None) == proposals(0)
    assert proposals(7) == proposals(7) and proposals(7) != proposals(None)


@pytest.mark.parametrize("name", ["naswot", "prescreen", "robot"])
def test_missing_scorer_is_a_clear_error_and_can_be_set_later(name: str) -> None:
    strategy = STRATEGIES.get(name)(GRID, seed=0)
    with pytest.raises(RuntimeError, match=rf"strategy '{name}' needs a scorer.*scorer=.*strategy\.scorer"):
        strategy.ask()
    strategy.scorer = hidden(GRID)  # type: ignore[attr-defined]
    assert GRID.contains(strategy.ask())


def test_scorer_must_be_callable() -> None:
    with pytest.raises(ValueError, match="scorer must be a callable .*got 3"):
        RoBoT(GRID, seed=0, scorer=3)  # type: ignore[arg-type]


def test_study_records_a_scorer_by_its_description(tmp_path: Any) -> None:
    class Described:
        def __call__(self, arch: Architecture) -> dict[str, float]:
            return {"naswot": hidden(GRID)(arch)}

        def describe(self) -> dict[str, Any]:
            return {"proxies": ("naswot",)}

    url = f"sqlite:///{tmp_path / 's.db'}"
    ev = FunctionEvaluator(hidden(GRID))
    study = Study(GRID, TrainingFreeSearch(GRID, seed=0, scorer=Described(), n_samples=5), ev, storage=url, name="z")
    study.optimize(n_trials=3)
    assert study.config["strategy_params"]["scorer"] == {"type": f"{Described.__module__}.{Described.__qualname__}",
                                                         "proxies": ["naswot"]}
    again = Study(GRID, TrainingFreeSearch(GRID, seed=0, scorer=Described(), n_samples=5), ev, storage=url, name="z",
                  resume=True)  # the same configuration: resumes, and continues as an uninterrupted run
    whole = Study(GRID, TrainingFreeSearch(GRID, seed=0, scorer=Described(), n_samples=5), ev)
    assert [t.arch for t in again.optimize(n_trials=7).trials] == [t.arch for t in whole.optimize(n_trials=7).trials]


# ----------------------------------------------------------------------------- naswot


def test_naswot_proposes_the_pool_best_first() -> None:
    objective = hidden(GRID)
    s = TrainingFreeSearch(GRID, seed=4, scorer=lambda a: {"naswot": objective(a), "other": 0.0}, n_samples=20)
    first = s.ask()
    pool = [a for a, _ in s.last_scores]
    assert len({GRID.key(a) for a in pool}) == 20
    assert first == max(pool, key=objective)  # brute force over the pool
    rest = [first] + [s.ask() for _ in range(19)]
    assert rest == sorted(pool, key=objective, reverse=True)
    assert [v for _, v in s.last_scores] == sorted((objective(a) for a in pool), reverse=True)
    nxt = s.ask()  # the pool is used up: a new pool of architectures not proposed yet
    assert s.n_pools == 2 and GRID.key(nxt) not in {GRID.key(a) for a in pool}
    assert nxt == max((a for a, _ in s.last_scores), key=objective)


def test_naswot_with_a_budget_of_one_is_naswot() -> None:
    objective = hidden(GRID)
    study = Study(GRID, TrainingFreeSearch(GRID, seed=1, scorer=objective, n_samples=50), FunctionEvaluator(objective))
    study.optimize(n_trials=1)
    pool = [a for a, _ in study.strategy.last_scores]  # type: ignore[attr-defined]
    assert study.best_trial().value == max(objective(a) for a in pool)


def test_naswot_with_one_sample_is_random_search() -> None:
    objective = hidden(GRID)
    a = Counting(GRID, objective)
    b = Counting(GRID, lambda arch: -objective(arch))
    seq_a = run(TrainingFreeSearch(GRID, seed=2, scorer=a, n_samples=1), objective, 40)
    seq_b = run(TrainingFreeSearch(GRID, seed=2, scorer=b, n_samples=1), objective, 40)
    assert seq_a == seq_b  # the scores decide nothing
    assert len({GRID.key(x) for x in seq_a}) == 40  # without replacement
    assert a.total == 40 and max(a.calls.values()) == 1


def test_naswot_ranks_nan_last() -> None:
    objective = hidden(GRID)

    def scorer(arch: Architecture) -> dict[str, float]:
        return {"naswot": math.nan if arch["c0"] in (0, 1, 2) else objective(arch)}

    s = TrainingFreeSearch(GRID, seed=3, scorer=scorer, n_samples=30)
    seq = [s.ask() for _ in range(30)]
    failed = [arch["c0"] in (0, 1, 2) for arch in seq]
    assert 0 < sum(failed) < 30 and failed == sorted(failed)  # every NaN after every number
    good = [objective(x) for x, f in zip(seq, failed) if not f]
    assert good == sorted(good, reverse=True)
    assert [GRID.key(x) for x, f in zip(seq, failed) if f] == [GRID.key(x) for x, v in s.last_scores
                                                                if math.isnan(v)]  # in draw order


def test_naswot_scores_each_architecture_once_and_uses_score_many() -> None:
    objective = hidden(GRID)
    scorer = Batched(GRID, lambda a: {"naswot": objective(a)})
    s = TrainingFreeSearch(GRID, seed=0, scorer=scorer, n_samples=10)
    seq = run(s, objective, 35)
    assert len({GRID.key(a) for a in seq}) == 35
    assert scorer.batches == [10, 10, 10, 10] and max(scorer.calls.values()) == 1


def test_naswot_float_scorer_and_missing_proxy() -> None:
    objective = hidden(GRID)
    s = TrainingFreeSearch(GRID, seed=0, scorer=objective, proxy="ignored", n_samples=5)
    assert s.ask() == max((a for a, _ in s.last_scores), key=objective)
    s = TrainingFreeSearch(GRID, seed=0, scorer=lambda a: {"synflow": 1.0, "zen": 2.0})
    with pytest.raises(ValueError, match="no proxy 'naswot'; it returns synflow, zen"):
        s.ask()
    s = TrainingFreeSearch(GRID, seed=0, scorer=lambda a: "good")
    with pytest.raises(TypeError, match="the scorer returned 'good'"):
        s.ask()


def test_naswot_stops_when_a_finite_space_is_spent(tiny_space: SearchSpace) -> None:
    s = TrainingFreeSearch(tiny_space, seed=0, scorer=hidden(tiny_space), n_samples=4)
    seq = [s.ask() for _ in range(9)]
    assert len({tiny_space.key(a) for a in seq}) == 9
    with pytest.raises(StopIteration):
        s.ask()


# ----------------------------------------------------------------------------- prescreen

TARGET_SPACE = SearchSpace([categorical(f"c{i}", range(4)) for i in range(6)], name="target-6x4")  # 4096


def evaluations_to_target(strategy: Strategy, score: Callable[[Architecture], float], budget: int) -> int:
    for i in range(budget):
        arch = strategy.ask()
        value = score(arch)
        strategy.tell(arch, Result(value=value))
        if value == 6:
            return i + 1
    return budget + 1


def target_score(seed: int) -> Callable[[Architecture], float]:
    target = [int(x) for x in np.random.default_rng((7, seed)).integers(4, size=6)]
    return lambda arch: float(sum(arch[f"c{i}"] == t for i, t in enumerate(target)))


def test_prescreen_with_a_perfect_scorer_finds_the_optimum_sooner_than_rea() -> None:
    plain, screened = [], []
    for seed in range(8):
        score = target_score(seed)
        plain.append(evaluations_to_target(STRATEGIES.get("rea")(TARGET_SPACE, seed=seed), score, 150))
        screened.append(evaluations_to_target(ProxyPrescreen(TARGET_SPACE, seed=seed, scorer=score), score, 150))
    assert max(screened) <= 150  # always found
    assert sum(screened) * 3 < sum(plain)
    assert sum(s < p for s, p in zip(screened, plain)) >= 7


def test_prescreen_children_are_the_best_of_k_fresh_candidates() -> None:
    score = target_score(0)
    scorer = Counting(TARGET_SPACE, score)
    s = ProxyPrescreen(TARGET_SPACE, seed=1, scorer=scorer, k=10)
    seq = []
    for _ in range(40):
        arch = s.ask()
        # the proposal is the best-scoring of the candidates scored, none of which was evaluated before
        assert s.last_scores and s.last_scores[0][0] == arch
        assert score(arch) == max(v for _, v in s.last_scores)
        assert all(TARGET_SPACE.key(a) not in {TARGET_SPACE.key(x) for x in seq} for a, _ in s.last_scores)
        s.tell(arch, Result(value=score(arch)))
        seq.append(arch)
    assert len({TARGET_SPACE.key(a) for a in seq}) == 40  # never a repeat while fresh candidates exist
    assert max(scorer.calls.values()) == 1
    assert s.inner.n_asked == 400 and s.inner.n_told == 40


def test_prescreen_with_k_1_is_the_inner_strategy() -> None:
    score = target_score(1)
    scorer = Counting(TARGET_SPACE, score)
    a = run(ProxyPrescreen(TARGET_SPACE, seed=5, scorer=scorer, k=1), score, 30)
    b = run(STRATEGIES.get("rea")(TARGET_SPACE, seed=5), score, 30)
    assert a == b and scorer.total == 0


def test_prescreen_needs_a_proxy_for_a_dict_scorer() -> None:
    s = ProxyPrescreen(GRID, seed=0, scorer=fake_scorer(GRID))
    with pytest.raises(ValueError, match=r"returns a dict of proxies \(jacob_cov, naswot, synflow\); .*proxy="):
        s.ask()


INNER: list[tuple[str, dict[str, Any]]] = [
    ("rea", {}),
    ("random", {"replace": False}),
    ("hyperband", {"min_fidelity": 1, "max_fidelity": 9}),
    ("reinforce", {"controller": "factorized"}),
    ("reinforce", {}),
    ("mcts", {}),
    ("local", {"mode": "first"}),
    ("nao", {"n_init": 6, "train_steps": 20, "refit_every": 10}),
    ("adaptive-ea", {"population_size": 5, "sample_size": 2}),
    ("naswot", {"n_samples": 6}),
]


@pytest.mark.parametrize(("inner", "options"), INNER, ids=[f"{n}{o}" for n, o in INNER])
def test_prescreen_meets_contract_with_any_inner_strategy(inner: str, options: dict[str, Any]) -> None:
    space = toy_space()
    scorer = fake_scorer(space, noise=0.5)
    check_strategy(lambda sp, seed: ProxyPrescreen(sp, seed=seed, strategy=inner, strategy_options=options,
                                                   scorer=scorer, proxy="synflow", k=3),
                   space, linear_evaluator(space), n=20)


@pytest.mark.parametrize(("inner", "options"), INNER, ids=[f"{n}{o}" for n, o in INNER])
def test_prescreen_inner_pending_holds_only_returned_proposals(inner: str, options: dict[str, Any]) -> None:
    space = toy_space()
    evaluate = linear_evaluator(space)
    s = ProxyPrescreen(space, seed=3, strategy=inner, strategy_options=options, scorer=fake_scorer(space),
                       proxy="naswot", k=4)
    for _ in range(8):  # rounds of 3 pending trials, told in reverse
        batch = [s.ask() for _ in range(3)]
        assert set(s.inner.pending) == set(s.pending) == {space.key(a) for a in batch}
        for arch in reversed(batch):
            result = evaluate(arch)
            s.tell(arch, Result(result.metrics, result.value, fidelity=s.fidelity(arch)))
            assert set(s.inner.pending) == set(s.pending)
    assert not s.pending and not s.inner.pending
    # no bookkeeping is left for withdrawn proposals
    attr = {"hyperband": "_slots", "mcts": "_asked", "adaptive-ea": "_made", "local": "_open",
            "nao": "_moved"}.get(inner)
    if attr is not None:
        assert not getattr(s.inner, attr)


def test_prescreen_with_hyperband_forwards_fidelities_and_compares_like_with_like() -> None:
    space = toy_space()
    objective = linear_evaluator(space)
    s = ProxyPrescreen(space, seed=0, strategy="hyperband", strategy_options={"min_fidelity": 1, "max_fidelity": 9},
                       scorer=fake_scorer(space), proxy="naswot", k=5)
    assert s.multi_fidelity
    asked: dict[str, float | None] = {}
    inner_ask = s.inner.ask

    def spy() -> Architecture:  # the fidelity of every candidate, as the inner strategy proposed it
        arch = inner_ask()
        asked[space.key(arch)] = s.inner.fidelity(arch)
        return arch

    s.inner.ask = spy  # type: ignore[method-assign]
    fidelities = []
    for _ in range(40):
        asked.clear()
        arch = s.ask()
        fid = s.fidelity(arch)
        assert fid == s.inner.fidelity(arch) == asked[space.key(arch)]
        assert all(asked[space.key(a)] == fid for a, _ in s.last_scores)  # only like is compared with like
        fidelities.append(fid)
        s.tell(arch, Result(value=objective(arch).value, fidelity=fid))
    assert set(fidelities) == {1.0, 3.0, 9.0}  # promotions went through every rung
    # in a study, the inner strategy takes the evaluator's declared fidelity range (adapt is forwarded)
    class Declared(FunctionEvaluator):
        def capabilities(self) -> Capabilities:
            return Capabilities(FidelityRange("epochs", 1, 9, 9), False, ("objective",))

    study = Study(space, ProxyPrescreen(space, seed=0, strategy="hyperband", scorer=fake_scorer(space),
                                        proxy="naswot", k=3), Declared(lambda a: objective(a).value))
    study.optimize(n_trials=12)
    assert {t.fidelity for t in study.trials} == {1.0, 3.0}  # the first bracket: 9 at 1, the best 3 at 3


def test_prescreen_gives_its_scorer_to_an_inner_strategy_that_needs_one() -> None:
    objective = hidden(GRID)
    s = ProxyPrescreen(GRID, seed=0, strategy="naswot", strategy_options={"n_samples": 8}, scorer=objective, k=3)
    seq = run(s, objective, 1)
    pool = [a for a, _ in s.inner.last_scores]  # type: ignore[attr-defined]
    seq += run(s, objective, 5)
    # naswot proposes its pool best first; prescreen takes the best of its next 3 (the first of them) and the
    # other two go back to naswot's queue, so the pool is evaluated in naswot's order (until the 3 candidates
    # reach into naswot's next pool)
    assert seq == pool[:6]


# ----------------------------------------------------------------------------- robot

ROBOT_SPACE = SearchSpace([categorical(f"c{i}", range(4)) for i in range(5)], name="robot-5x4")  # 1024


def robot_problem(space: SearchSpace, seed: int) -> tuple[Callable[[Architecture], dict[str, float]],
                                                          Callable[[Architecture], float]]:
    """Three fake proxies (one heavy-tailed) and an objective that is a known linear combination
    of them plus noise, negatively related to ``p3``."""

    def proxies(arch: Architecture) -> dict[str, float]:
        a, b, c = (unit(space, arch, f"{seed}:{p}") for p in ("p1", "p2", "p3"))
        return {"p1": a, "p2": math.exp(2.0 * b), "p3": c}

    def objective(arch: Architecture) -> float:
        p = proxies(arch)
        return 1.0 * p["p1"] + 0.3 * math.log(p["p2"]) - 0.8 * p["p3"] + 0.1 * unit(space, arch, f"{seed}:noise")

    return proxies, objective


def near_best(space: SearchSpace, objective: Callable[[Architecture], float], top: int) -> set[str]:
    ranked = sorted(space.enumerate(), key=objective, reverse=True)
    return {space.key(a) for a in ranked[:top]}


def test_robot_finds_a_near_best_architecture_far_more_often_than_random_search() -> None:
    budget, hits, random_hits = 20, 0, 0
    for seed in range(6):
        proxies, objective = robot_problem(ROBOT_SPACE, seed)
        best = near_best(ROBOT_SPACE, objective, 5)  # the best 0.5 %
        # signed weights: a proxy may be turned against its direction (p3 predicts the objective negatively)
        s = RoBoT(ROBOT_SPACE, seed=seed, scorer=proxies, bo_queries=10, n_candidates=300, weights="signed")
        seq = run(s, objective, budget)
        hits += any(ROBOT_SPACE.key(a) in best for a in seq)
        assert s.best_weights is not None and s.best_weights["p3"] < 0  # the negatively related proxy
        assert s.proxy_names == ["p1", "p2", "p3"] and len(s.pool) == 1024  # the whole (small) space
        r = STRATEGIES.get("random")(ROBOT_SPACE, seed=seed, replace=False)
        random_hits += any(ROBOT_SPACE.key(a) in best for a in run(r, objective, budget))
    assert hits >= 5 and hits >= random_hits + 4


def test_robot_scores_the_pool_once_through_score_many() -> None:
    proxies, objective = robot_problem(ROBOT_SPACE, 0)
    scorer = Batched(ROBOT_SPACE, proxies)
    s = RoBoT(ROBOT_SPACE, seed=0, scorer=scorer, pool_size=100, bo_queries=3, n_candidates=50)
    seq = run(s, objective, 8)
    assert scorer.batches == [100] and scorer.total == 100 and len(s.pool) == 100
    assert len({ROBOT_SPACE.key(a) for a in seq}) == 8
    w = s.best_weights
    assert w is not None and set(w) == {"p1", "p2", "p3"} and all(-1 <= x <= 1 for x in w.values())
    # greedy phase: the proposals after the BO queries follow the best weights' ranking of the pool
    ranked = np.argsort(-s.combined_scores(), kind="stable")
    told = {ROBOT_SPACE.key(a) for a in seq}
    nxt = s.ask()
    assert nxt == next(s.pool[int(i)] for i in ranked if ROBOT_SPACE.key(s.pool[int(i)]) not in told)


def test_robot_proxies_option_and_errors() -> None:
    proxies, objective = robot_problem(ROBOT_SPACE, 1)
    s = RoBoT(ROBOT_SPACE, seed=0, scorer=proxies, proxies=["p3", "p1"], bo_queries=2, n_candidates=20)
    run(s, objective, 4)
    assert s.proxy_names == ["p3", "p1"] and set(s.best_weights or {}) == {"p3", "p1"}
    s = RoBoT(ROBOT_SPACE, seed=0, scorer=proxies, proxies=["p1", "zen"])
    with pytest.raises(ValueError, match="no proxy 'zen'; it returns p1, p2, p3"):
        s.ask()


def test_robot_samples_a_pool_of_a_large_space_and_copes_with_failed_proxies() -> None:
    space = toy_space()  # 42,336 architectures: a sampled pool of 1000 by default
    base = fake_scorer(space, noise=0.5)

    def scorer(arch: Architecture) -> dict[str, float]:
        values = base(arch)
        if arch["stem"] == 16:
            values["synflow"] = math.nan
        return values

    s = RoBoT(space, seed=0, scorer=scorer, bo_queries=3, n_candidates=50)
    evaluate = linear_evaluator(space)
    for i in range(6):
        arch = s.ask()
        s.tell(arch, Result.failure("x") if i == 1 else evaluate(arch))
    assert len(s.pool) == 1000 and np.isfinite(s.combined_scores()).all()


def test_robot_with_a_given_candidate_pool() -> None:
    proxies, objective = robot_problem(ROBOT_SPACE, 2)
    cands = ROBOT_SPACE.enumerate()
    chosen = [a for i, a in enumerate(cands) if i % 7 == 0][:30]
    scorer = Batched(ROBOT_SPACE, proxies)
    s = RoBoT(ROBOT_SPACE, seed=0, scorer=scorer, bo_queries=3, n_candidates=50,
              candidates=[ROBOT_SPACE.to_string(a) for a in chosen[:10]] + chosen[10:])
    seq = run(s, objective, 30)
    keys = {ROBOT_SPACE.key(a) for a in chosen}
    assert scorer.batches == [30] and {ROBOT_SPACE.key(a) for a in seq} == keys  # only the candidates
    with pytest.raises(StopIteration):
        s.ask()
    assert s.get_params()["candidates"][0] == ROBOT_SPACE.to_string(chosen[0])
    with pytest.raises(ValueError, match="candidates must be a non-empty list"):
        RoBoT(ROBOT_SPACE, candidates=[])


def outlier_problem(space: SearchSpace) -> tuple[Callable[[Architecture], dict[str, float]],
                                                  Callable[[Architecture], float], str]:
    """``good`` predicts the objective; ``wild`` is noise except for one poor architecture with a huge value."""
    archs = space.enumerate()
    worst = min(archs, key=lambda a: unit(space, a, "good"))
    bad = space.key(worst)

    def proxies(arch: Architecture) -> dict[str, float]:
        wild = 1e30 if space.key(arch) == bad else math.exp(unit(space, arch, "wild"))
        return {"good": unit(space, arch, "good"), "wild": wild}

    return proxies, lambda arch: unit(space, arch, "good") + 0.1 * unit(space, arch, "noise"), bad


def test_robot_rank_normalisation_keeps_one_proxys_outlier_from_deciding_the_first_query() -> None:
    proxies, objective, bad = outlier_problem(ROBOT_SPACE)
    z = RoBoT(ROBOT_SPACE, seed=0, scorer=proxies, normalise="zscore")
    assert ROBOT_SPACE.key(z.ask()) == bad  # equal weights: the outlier's z-score outweighs everything
    r = RoBoT(ROBOT_SPACE, seed=0, scorer=proxies, normalise="rank")
    first = r.ask()
    assert ROBOT_SPACE.key(first) != bad
    ranks = r.combined_scores({"good": 1.0, "wild": 0.0})
    assert ranks.min() > 0 and ranks.max() < 1 and len(np.unique(ranks)) == len(ranks)  # fractions of the pool
    # the first query is the best sum of the two proxies' ranks
    assert first == r.pool[int(np.argmax(r.combined_scores({"good": 0.5, "wild": 0.5})))]
    m = RoBoT(ROBOT_SPACE, seed=0, scorer=proxies, normalise="minmax")
    m.ask()
    scaled = m.combined_scores({"good": 1.0, "wild": 0.0})
    assert scaled.min() == 0.0 and scaled.max() == 1.0


def test_robot_rank_normalisation_of_a_later_pool_uses_the_first_pools_values() -> None:
    space = toy_space()  # too large to enumerate: pools of 50 are sampled, and drawn again when used up
    scorer = fake_scorer(space, noise=0.5)
    s = RoBoT(space, seed=0, scorer=scorer, pool_size=50, bo_queries=0, normalise="rank")
    evaluate = linear_evaluator(space)
    for _ in range(60):
        arch = s.ask()
        s.tell(arch, evaluate(arch))
    assert len(s.pool) == 100
    first = np.sort(signed_log1p(np.array([[scorer(a)[p] for p in s.proxy_names] for a in s.pool[:50]])), axis=0)
    later = signed_log1p(np.array([[scorer(a)[p] for p in s.proxy_names] for a in s.pool[50:]]))
    expected = np.column_stack([(np.searchsorted(c, x, "left") + np.searchsorted(c, x, "right")) / 100
                                for c, x in zip(first.T, later.T)])
    one_hot = {p: float(p == s.proxy_names[0]) for p in s.proxy_names}
    assert np.allclose(s.combined_scores(one_hot)[50:], expected[:, 0])


@pytest.mark.parametrize("weights,low", [("signed", -1.0), ("nonnegative", 0.0)])
def test_robot_weight_range(weights: str, low: float) -> None:
    proxies, objective = robot_problem(ROBOT_SPACE, 3)
    s = RoBoT(ROBOT_SPACE, seed=0, scorer=proxies, bo_queries=10, n_candidates=200, weights=weights)
    run(s, objective, 12)
    w = np.array([w for w, _ in s._obs])
    assert len(w) >= 10 and w.min() >= low and w.max() <= 1.0
    assert (w.min() < -0.05) == (weights == "signed")  # signed weights do go below zero
    assert all(v >= low for v in (s.best_weights or {}).values())
