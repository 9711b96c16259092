"""Hyperband and BOHB: the successive-halving schedule, promotions, the BOHB model, and studies with fidelities."""

from __future__ import annotations

import zlib
from typing import Any, Callable

import numpy as np
import pytest

from nasforge.errors import ConfigError
from nasforge.evaluators.base import Capabilities, Evaluator, FidelityRange, FunctionEvaluator
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.base import Strategy
from nasforge.strategies.hyperband import BOHB, Hyperband, hyperband_brackets
from nasforge.strategies.random import RandomSearch
from nasforge.study import Study
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

GRID = SearchSpace([categorical(f"c{i}", range(4)) for i in range(6)], name="grid-6x4")


class MultiFidelityToy(Evaluator):
    """A synthetic multi-fidelity benchmark: a hidden quality per architecture (a random linear
    function of its one-hot encoding), seen lower, distorted and noisier at low fidelity.

    ``score(a, f) = q(a) + (1 - f/F) * (d(a) - 2) + noise * e(a, f) / sqrt(f)``, with ``F`` the
    largest fidelity, ``d`` another random linear function and ``e`` a fixed standard normal
    draw per (architecture, fidelity). An evaluation costs ``f`` (simulated seconds).
    """

    objective = "score"
    report = "quality"
    provides_cost = True

    def __init__(self, space: SearchSpace, seed: int = 0, max_fidelity: float = 27.0, noise: float = 1.0,
                 counter: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.space, self.seed, self.max_fidelity, self.noise = space, seed, max_fidelity, noise
        self.w = rng.normal(size=space.encoding_size)
        self.d = rng.normal(scale=0.5, size=space.encoding_size)
        self.calls = 0
        self.counter = counter

    def quality(self, arch: Architecture) -> float:
        return float(self.space.encode(arch) @ self.w)

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        f = self.max_fidelity if fidelity is None else float(fidelity)
        x = self.space.encode(arch)
        e = np.random.default_rng(zlib.crc32(f"{self.seed}:{self.space.key(arch)}@{f:g}".encode())).normal()
        score = float(x @ self.w + (1 - f / self.max_fidelity) * (x @ self.d - 2) + self.noise * e / np.sqrt(f))
        self.calls += 1
        metrics = {"score": score, "quality": self.quality(arch), "epochs": f}
        if self.counter:  # makes every result distinct, as real training would
            metrics["call"] = self.calls
        return Result(metrics, score, cost=f, fidelity=f)

    def capabilities(self) -> Capabilities:
        return Capabilities(FidelityRange("epochs", 1, self.max_fidelity, self.max_fidelity), True,
                            ("score", "quality", "epochs"))


def adapted(strategy: Hyperband, capabilities: Capabilities = Capabilities()) -> Hyperband:
    """``strategy`` after ``adapt`` (what a study does first): by default an evaluator without fidelities."""
    strategy.adapt(capabilities)
    return strategy


def run(strategy: Hyperband, evaluator: Evaluator, n: int) -> list[tuple[Architecture, float, Result]]:
    """Serial ask/tell, passing the strategy's fidelity to the evaluator as a study does."""
    out = []
    for _ in range(n):
        arch = strategy.ask()
        fid = strategy.fidelity(arch)
        result = evaluator.evaluate(arch, fid)
        strategy.tell(arch, result)
        out.append((arch, fid, result))
    return out


def expected_fidelities(min_f: float, max_f: float, eta: float, n: int) -> list[float]:
    cycle = [budget for bracket in hyperband_brackets(min_f, max_f, eta) for size, budget in bracket
             for _ in range(size)]
    return (cycle * (n // len(cycle) + 1))[:n]


# -- contract -------------------------------------------------------------------------------

def _evaluate_counting(space: SearchSpace):
    """linear_evaluator, but with a call counter in the metrics, so promotions look like new results."""
    base = linear_evaluator(space)
    calls = [0]

    def evaluate(arch: Architecture) -> Result:
        calls[0] += 1
        r = base(arch)
        return Result({**r.metrics, "call": calls[0]}, r.value)

    return evaluate


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
@pytest.mark.parametrize("space", [NB201Space(), toy_space()], ids=lambda s: s.name)
@pytest.mark.parametrize("counting", [False, True], ids=["fidelity-free", "fidelity-dependent"])
def test_meets_contract(cls: type[Hyperband], space: SearchSpace, counting: bool) -> None:
    # fidelity-free: the evaluator declares no fidelity (adapt); fidelity-dependent: an explicit range
    evaluate = _evaluate_counting(space) if counting else linear_evaluator(space)
    extra: dict[str, Any] = {"min_points_in_model": 4} if cls is BOHB else {}

    def factory(sp: SearchSpace, seed: int) -> Hyperband:
        if counting:
            return cls(sp, seed=seed, min_fidelity=1, max_fidelity=9, **extra)
        return adapted(cls(sp, seed=seed, **extra))

    check_strategy(factory, space, evaluate, n=40)


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_meets_contract_on_an_exhaustible_space(cls: type[Hyperband], tiny_space: SearchSpace) -> None:
    check_strategy(lambda sp, seed: cls(sp, seed=seed, min_fidelity=1, max_fidelity=9), tiny_space,
                   _evaluate_counting(tiny_space), n=30)


# -- the schedule -------------------------------------------------------------------------------

def test_brackets() -> None:
    assert hyperband_brackets(1, 9, 3) == [[(9, 1.0), (3, 3.0), (1, 9.0)], [(5, 3.0), (1, 9.0)], [(3, 9.0)]]
    assert hyperband_brackets(1, 27, 3)[0] == [(27, 1.0), (9, 3.0), (3, 9.0), (1, 27.0)]
    assert [b[0] for b in hyperband_brackets(1, 27, 3)] == [(27, 1.0), (12, 3.0), (6, 9.0), (4, 27.0)]
    assert hyperband_brackets(4, 4, 3) == [[(1, 4.0)]]
    assert hyperband_brackets(1, 10, 3)[0] == [(9, 1.0), (3, 3.0), (1, 10.0)]  # whole numbers: rounded
    assert hyperband_brackets(0.5, 4.5, 3)[0] == [(9, 0.5), (3, 1.5), (1, 4.5)]


@pytest.mark.parametrize(("min_f", "max_f", "eta"), [(1, 9, 3), (1, 27, 3), (2, 16, 2), (3, 3, 3)])
@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_fidelities_follow_the_schedule(cls: type[Hyperband], min_f: float, max_f: float, eta: float) -> None:
    s = cls(GRID, seed=0, min_fidelity=min_f, max_fidelity=max_f, eta=eta)
    n = 2 * sum(size for bracket in hyperband_brackets(min_f, max_f, eta) for size, _ in bracket)  # two cycles
    fids = [f for _, f, _ in run(s, MultiFidelityToy(GRID, max_fidelity=max_f), n)]
    assert fids == expected_fidelities(min_f, max_f, eta, n)


def test_promotions_go_to_the_best_of_each_rung() -> None:
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    hist = run(Hyperband(GRID, seed=1, min_fidelity=1, max_fidelity=9, eta=3), ev, 22)

    def top(rows: list[tuple[Architecture, float, Result]], k: int) -> list[Architecture]:
        return [a for a, _, _ in sorted(rows, key=lambda r: -float(r[2].value))[:k]]

    rung0, rung1, rung2 = hist[:9], hist[9:12], hist[12:13]
    assert [a for a, _, _ in rung1] == top(rung0, 3)
    assert [a for a, _, _ in rung2] == top(rung1, 1)
    second0, second1 = hist[13:18], hist[18:19]
    assert [a for a, _, _ in second1] == top(second0, 1)
    new = [a for a, _, _ in hist[19:22]]  # the last bracket: new architectures at the top fidelity
    assert all(a not in [b for b, _, _ in hist[:19]] for a in new)
    # new architectures are distinct from each other
    assert len({GRID.key(a) for a, _, _ in rung0}) == 9


def test_failed_trials_are_not_promoted() -> None:
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    s = Hyperband(GRID, seed=0, min_fidelity=1, max_fidelity=9)
    first = []
    for i in range(9):
        arch = s.ask()
        first.append(arch)
        s.tell(arch, Result.failure("diverged") if i >= 2 else ev.evaluate(arch, s.fidelity(arch)))
    # only two succeeded: both are promoted (the rung shrinks to them), then the best of them
    a, b = s.ask(), None
    s.tell(a, ev.evaluate(a, s.fidelity(a)))
    b = s.ask()
    assert {GRID.key(a), GRID.key(b)} == {GRID.key(x) for x in first[:2]} and s.fidelity(b) == 3.0
    s.tell(b, ev.evaluate(b, s.fidelity(b)))
    c = s.ask()
    assert s.fidelity(c) == 9.0 and c in (a, b)


def test_pending_trials_open_the_next_bracket() -> None:
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    s = Hyperband(GRID, seed=0, min_fidelity=1, max_fidelity=9)
    batch = [s.ask() for _ in range(12)]
    fids = [s._asked_fidelity[GRID.key(a)] for a in batch]
    assert fids == [1.0] * 9 + [3.0] * 3  # bracket 0 waits for results, so bracket 1 starts
    assert len({GRID.key(a) for a in batch}) == 12
    for a, f in zip(batch, fids):
        s.tell(a, ev.evaluate(a, f))
    promoted = s.ask()
    assert s.fidelity(promoted) == 3.0 and promoted in batch[:9]


def test_results_are_matched_to_their_fidelity() -> None:
    # the same architecture pending at two fidelities: results carry their fidelity, as from a study
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    s = Hyperband(GRID, seed=0, min_fidelity=1, max_fidelity=9)
    arch = s.ask()
    s._propose(arch, 9.0, None)  # a second slot, as another bracket could open
    s.tell(arch, ev.evaluate(arch, 9.0))
    assert [e.budget for e in s._slots[GRID.key(arch)]] == [1.0]


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
@pytest.mark.parametrize("given", [{}, {"min_fidelity": 1, "max_fidelity": 9}])
def test_an_evaluator_without_fidelities_gets_new_architectures_from_the_start(cls: type[Hyperband],
                                                                               given: dict[str, Any]) -> None:
    space = NB201Space()
    evaluate = linear_evaluator(space)  # ignores the fidelity
    s = adapted(cls(space, seed=0, **given))  # declares no fidelity (a tabular lookup)
    assert s.fidelity_ignored
    keys, fids = [], []
    for _ in range(40):
        arch = s.ask()
        fids.append(s.fidelity(arch))
        keys.append(space.key(arch))
        s.tell(arch, evaluate(arch))
    assert fids == [None] * 40 and len(set(keys)) == 40  # no promotions, no repeats


def test_an_evaluator_with_fidelities_keeps_promoting() -> None:
    s = adapted(Hyperband(GRID, seed=0), MultiFidelityToy(GRID, max_fidelity=9).capabilities())
    hist = run(s, MultiFidelityToy(GRID, max_fidelity=9), 60)
    assert not s.fidelity_ignored
    at = {f: {GRID.key(a) for a, g, _ in hist if g == f} for f in (1.0, 3.0, 9.0)}
    assert at[3.0] & at[1.0] and at[9.0] & at[3.0]  # promoted architectures come back higher


# -- the declared range (adapt) --------------------------------------------------------------------

class DeclaredEvaluator(FunctionEvaluator):
    """A function evaluator that declares a fidelity range and records the fidelities it is asked for."""

    def __init__(self, fidelity: FidelityRange | None) -> None:
        super().__init__(lambda arch: float(sum(arch[f"c{i}"] for i in range(6))))
        self.declared = fidelity
        self.asked: list[float | None] = []

    def capabilities(self) -> Capabilities:
        return Capabilities(self.declared, False, ("objective",))

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        self.asked.append(fidelity)
        r = super().evaluate(arch, fidelity)
        return Result(r.metrics, r.value + (fidelity or 0) / 100, fidelity=fidelity)


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_the_range_defaults_to_the_declared_one(cls: type[Hyperband]) -> None:
    s = adapted(cls(GRID, seed=0), Capabilities(FidelityRange("epochs", 1, 9, 9)))
    assert s.schedule == hyperband_brackets(1, 9, 3)
    s = adapted(cls(GRID, seed=0, min_fidelity=3), Capabilities(FidelityRange("epochs", 1, 27, 27)))
    assert s.schedule == hyperband_brackets(3, 27, 3)  # an explicit bound narrows the declared range
    s = adapted(cls(GRID, seed=0, max_fidelity=9), Capabilities(FidelityRange("epochs", 1, 27, 27)))
    assert s.schedule == hyperband_brackets(1, 9, 3)


def test_rungs_are_rounded_when_the_declaration_says_integer() -> None:
    whole = adapted(Hyperband(GRID, seed=0), Capabilities(FidelityRange("epochs", 1, 10, 10, integer=True)))
    assert whole.schedule[0] == [(9, 1.0), (3, 3.0), (1, 10.0)]
    real = adapted(Hyperband(GRID, seed=0), Capabilities(FidelityRange("fraction", 1, 10, 10, integer=False)))
    assert real.schedule[0] == [(9, pytest.approx(10 / 9)), (3, pytest.approx(10 / 3)), (1, 10.0)]


@pytest.mark.parametrize(("given", "needle"), [
    ({"max_fidelity": 27}, r"hyperband: max_fidelity=27 is outside the evaluator's 'epochs' range \[1, 9\]"),
    ({"min_fidelity": 0.5}, r"hyperband: min_fidelity=0.5 is outside the evaluator's 'epochs' range \[1, 9\]"),
])
def test_an_explicit_range_outside_the_declared_one_is_an_error(given: dict[str, Any], needle: str) -> None:
    s = Hyperband(GRID, seed=0, **given)
    with pytest.raises(ConfigError, match=needle):
        s.adapt(Capabilities(FidelityRange("epochs", 1, 9, 9)))
    with pytest.raises(ConfigError, match=needle):  # a study reports it before the first trial
        Study(GRID, Hyperband(GRID, seed=0, **given), DeclaredEvaluator(FidelityRange("epochs", 1, 9, 9)))


def test_driven_by_hand_it_needs_a_range_or_adapt() -> None:
    s = Hyperband(GRID, seed=0)
    with pytest.raises(ConfigError, match="hyperband: no fidelity range: give min_fidelity and max_fidelity, "
                                          r"or call adapt\(evaluator.capabilities\(\)\)"):
        s.ask()
    s = Hyperband(GRID, seed=0, min_fidelity=1, max_fidelity=9)  # explicit: no adapt needed
    assert s.fidelity(s.ask()) == 1.0
    with pytest.raises(RuntimeError, match="adapt must be called before the first ask"):
        s.adapt(Capabilities())


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_a_study_takes_the_declared_range(cls: type[Hyperband]) -> None:
    ev = DeclaredEvaluator(FidelityRange("epochs", 1, 9, 9))
    study = Study(GRID, cls(GRID, seed=0), ev).optimize(n_trials=30)
    assert ev.asked == [t.fidelity for t in study.trials] == expected_fidelities(1, 9, 3, 30)


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_a_study_on_an_evaluator_without_fidelities_never_promotes(cls: type[Hyperband]) -> None:
    ev = DeclaredEvaluator(None)
    study = Study(GRID, cls(GRID, seed=0), ev).optimize(n_trials=30)
    assert ev.asked == [None] * 30
    assert len({t.arch for t in study.trials}) == 30


# -- BOHB ---------------------------------------------------------------------------------------

def test_bohb_model_proposals_beat_random_ones() -> None:
    """New architectures (first rung) that BOHB proposes once its model is up are better, in hidden
    quality, than Hyperband's random ones; and its final incumbents are better."""
    space = SearchSpace([categorical(f"c{i}", range(4)) for i in range(8)], name="grid-8x4")
    gain, incumbent = [], []
    for seed in range(5):
        ev = MultiFidelityToy(space, seed=seed, max_fidelity=9)
        per = {}
        for cls in (Hyperband, BOHB):
            hist = run(cls(space, seed=seed, min_fidelity=1, max_fidelity=9), ev, 110)
            late_new = [ev.quality(a) for i, (a, f, _) in enumerate(hist)
                        if i >= 44 and f == 1.0]  # after two Hyperband cycles
            top = [(r.value, ev.quality(a)) for a, f, r in hist if f == 9.0]
            per[cls.name] = (np.mean(late_new), max(top)[1])
        gain.append(per["bohb"][0] - per["hyperband"][0])
        incumbent.append(per["bohb"][1] - per["hyperband"][1])
    assert min(gain) > 0 and np.mean(gain) > 1.0, gain
    assert np.mean(incumbent) > 0, incumbent


def successes(factory: Callable[[SearchSpace, int], Strategy], budget: int = 40) -> int:
    """The pattern of test_search_quality.py: on how many of 20 fixed seeds a strategy proposes
    the hidden target of a 4 x 4 space within 40 trials (here without fidelities)."""
    return count_target_found(factory, budget=budget)


def test_bohb_beats_random_search_on_the_hidden_target() -> None:
    random = successes(lambda sp, seed: RandomSearch(sp, seed=seed))
    found = successes(lambda sp, seed: adapted(BOHB(sp, seed=seed)))  # no fidelities here
    assert found >= 2 * random, (found, random)


def test_bohb_model_uses_the_largest_fidelity_with_enough_results() -> None:
    s = BOHB(GRID, seed=0, min_fidelity=1, max_fidelity=9, min_points_in_model=3)
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    run(s, ev, 9)  # nine results at fidelity 1
    assert s._model_data() is not None and len(s._model_data()) == 9
    run(s, ev, 3)  # three at fidelity 3: now enough there
    assert {a for a, _ in s._model_data()} == {a for a, _ in s._results[3.0].values()}


def test_bohb_densities_are_smoothed() -> None:
    s = BOHB(GRID, seed=0)
    arch = GRID.make({f"c{i}": 0 for i in range(6)})
    dens = s._densities([arch])
    assert all(d.sum() == pytest.approx(1.0) and d[0] == pytest.approx(2 / 5) and d[1] == pytest.approx(1 / 5)
               for d in dens)  # one point, four options: add-one smoothing
    many = s._densities([arch] * 10_000)
    assert many[0][1] == pytest.approx(1e-3 / 4)  # the prior's floor is min_bandwidth


# -- options -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("cls", "options", "needle"), [
    (Hyperband, {"min_fidelity": 0}, r"min_fidelity must be a number > 0 \(or None for the evaluator's range\), got 0"),
    (Hyperband, {"max_fidelity": "many"}, "max_fidelity must be a number > 0 .*, got 'many'"),
    (Hyperband, {"min_fidelity": 9, "max_fidelity": 3}, r"max_fidelity \(3\) must be >= min_fidelity \(9\)"),
    (Hyperband, {"eta": 1}, "eta must be a number > 1, got 1"),
    (BOHB, {"eta": True}, "eta must be a number > 1, got True"),
    (BOHB, {"top_n_percent": 0}, "top_n_percent must be a number > 0 and < 100, got 0"),
    (BOHB, {"top_n_percent": 100}, "top_n_percent must be a number > 0 and < 100, got 100"),
    (BOHB, {"min_bandwidth": -0.1}, "min_bandwidth must be a number >= 0 and <= 1, got -0.1"),
    (BOHB, {"random_fraction": 2}, "random_fraction must be a number >= 0 and <= 1, got 2"),
    (BOHB, {"n_samples": 0}, "n_samples must be an integer >= 1, got 0"),
    (BOHB, {"min_points_in_model": 1}, "min_points_in_model must be an integer >= 2, got 1"),
])
def test_invalid_option(cls: type[Hyperband], options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        cls(GRID, seed=0, **options)


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_options_are_stored(cls: type[Hyperband]) -> None:
    s = cls(GRID, seed=2, min_fidelity=2, max_fidelity=18, eta=3)
    params = s.get_params()
    assert (params["min_fidelity"], params["max_fidelity"], params["eta"]) == (2, 18, 3)
    again = cls(GRID, **params)
    assert again.get_params() == params
    assert [again.ask() for _ in range(5)] == [s.ask() for _ in range(5)]


# -- studies ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_study_passes_fidelities_and_counts_each_evaluation(cls: type[Hyperband]) -> None:
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    study = Study(GRID, cls(GRID, seed=0, min_fidelity=1, max_fidelity=9), ev)
    study.optimize(n_trials=30)
    assert study.n_trials == 30 and ev.calls == 30  # every (architecture, fidelity) is a trial
    assert [t.fidelity for t in study.trials] == expected_fidelities(1, 9, 3, 30)
    assert all(t.metrics["epochs"] == t.fidelity for t in study.trials)
    assert sum(t.cost for t in study.trials) == pytest.approx(study.cost_spent)


def test_study_budget_in_seconds_counts_fidelity_costs() -> None:
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    study = Study(GRID, BOHB(GRID, seed=0, min_fidelity=1, max_fidelity=9), ev)
    study.optimize(budget_seconds=100)
    assert 100 <= study.cost_spent < 109 and study.n_trials > 100 / 9


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_resumed_study_continues_as_an_uninterrupted_one(cls: type[Hyperband], tmp_path: Any) -> None:
    ev = MultiFidelityToy(GRID, max_fidelity=9)
    ref = Study(GRID, cls(GRID, seed=5, max_fidelity=9), ev).optimize(n_trials=40)
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Study(GRID, cls(GRID, seed=5, max_fidelity=9), ev, name="mf", storage=url) as first:
        first.optimize(n_trials=17)
    with Study(GRID, cls(GRID, seed=5, max_fidelity=9), ev, name="mf", storage=url, resume=True) as again:
        again.optimize(n_trials=40)
        assert [(t.arch, t.fidelity) for t in again.trials] == [(t.arch, t.fidelity) for t in ref.trials]


@pytest.mark.parametrize("cls", [Hyperband, BOHB])
def test_training_evaluator_trains_for_the_chosen_epochs(cls: type[Hyperband]) -> None:
    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.testing import TinyTrainableSpace, tiny_task

    space = TinyTrainableSpace()
    ev = TrainingEvaluator(tiny_task(), space, epochs=3, measure_latency=False, device="cpu")
    strategy = cls(space, seed=0, min_fidelity=1, max_fidelity=3, eta=3)
    study = Study(space, strategy, ev, charge_duplicates=False).optimize(n_trials=6)
    # brackets for (1, 3, 3): three architectures at 1 epoch and the best again at 3, then two new at 3
    assert [t.fidelity for t in study.trials] == [1.0, 1.0, 1.0, 3.0, 3.0, 3.0]
    fresh = [t for t in study.trials if t.duplicate_of is None]
    assert fresh and all(t.metrics["epochs"] == t.fidelity for t in fresh)
    assert all(len(t.metrics["train_loss_curve"]) == t.metrics["epochs"] for t in fresh)
    best_low = max((t for t in study.trials[:3] if t.status == "complete"), key=lambda t: t.value)
    assert study.trials[3].arch == best_low.arch


# -- tpe: BOHB's model without brackets ------------------------------------------------------------

def test_tpe_proposes_what_bohb_proposes_on_an_evaluator_without_fidelities() -> None:
    from nasforge.strategies.hyperband import TPE

    space = NB201Space()
    evaluate = linear_evaluator(space)
    tpe, bohb = TPE(space, seed=3), adapted(BOHB(space, seed=3))
    for _ in range(60):
        a, b = tpe.ask(), bohb.ask()
        assert a == b
        tpe.tell(a, evaluate(a))
        bohb.tell(b, evaluate(b))


def test_tpe_evaluates_everything_at_the_evaluators_fidelity_and_never_repeats() -> None:
    from nasforge.strategies.hyperband import TPE

    ev = DeclaredEvaluator(FidelityRange("epochs", 1, 9, 9))
    st = Study(GRID, TPE(GRID, seed=0), ev).optimize(n_trials=40)
    assert ev.asked == [None] * 40  # the evaluator's own default, never a bracket's rung
    assert len({t.arch for t in st.trials}) == 40
    # it learns: the last 20 proposals score better than the random start
    values = [t.value for t in st.trials]
    assert np.mean(values[20:]) > np.mean(values[:7]) + 1.0  # the first 7 (choices + 1) are random


def test_tpe_finds_a_hidden_target_more_often_than_random_search() -> None:
    from nasforge.strategies.hyperband import TPE

    tpe = count_target_found(lambda sp, seed: TPE(sp, seed=seed))
    rnd = count_target_found(lambda sp, seed: RandomSearch(sp, seed=seed))
    assert tpe > rnd, (tpe, rnd)
