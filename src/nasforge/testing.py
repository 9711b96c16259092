"""Executable contract checks for plug-ins (like scikit-learn's ``check_estimator``).

A third-party space, strategy or evaluator is compatible with nasforge when these pass::

    from nasforge.testing import check_evaluator, check_space, check_strategy
    check_space(MySpace())
    check_strategy(lambda space, seed: MyStrategy(space, seed=seed), MySpace(), my_evaluate)
    check_evaluator(MyEvaluator(...), MySpace())

Each check raises :class:`AssertionError` naming the plug-in and the property
that failed, and returns ``None`` when everything holds.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from nasforge.evaluators.hardware.models import LatencyTable, unit_signature
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace, categorical, integer, repeat
from nasforge.strategies.base import Strategy

__all__ = ["FakeLatencyTable", "check_evaluator", "check_hardware_model", "check_space", "check_storage", "check_strategy",
           "check_supernet", "count_target_found", "fake_scorer", "hidden_target_space", "linear_evaluator", "toy_space",
           "toy_space_function", "toy_user_space"]

StrategyFactory = Callable[[SearchSpace, int], Strategy]
Evaluate = Callable[[Architecture], Result]


def _fail(who: str, prop: str, detail: str) -> AssertionError:
    return AssertionError(f"{who}: {prop}: {detail}")


# ----------------------------------------------------------------------------- fakes


def toy_space() -> SearchSpace:
    """A small user-defined space with conditional and repeated choices (42,336 architectures).

    MobileNet-like: a stem width, optional squeeze-excite with a ratio, and two
    stages of 1..3 blocks, each block choosing a kernel and an expansion.
    """
    choices = [
        categorical("stem", [16, 32]),
        categorical("se", [False, True]),
        categorical("se_ratio", [0.25, 0.5], when=("se", [True])),
    ]
    for s in range(2):
        choices += repeat(f"s{s}.b", integer(f"s{s}.depth", 1, 3),
                          [categorical("kernel", [3, 5]), categorical("expand", [3, 6])])
    return SearchSpace(choices, name="toy-mobilenet")


def toy_space_function(c: Any, task: Any) -> Any:
    """:func:`toy_space` written as a define-by-run space function (a flatten-linear network of any choices)."""
    import torch.nn as nn

    c.choice("stem", [16, 32])
    if c.choice("se", [False, True]):
        c.choice("se_ratio", [0.25, 0.5])
    for s in range(2):
        for k in range(c.integer(f"s{s}.depth", 1, 3)):
            c.choice(f"s{s}.b{k}.kernel", [3, 5])
            c.choice(f"s{s}.b{k}.expand", [3, 6])
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(task.input_shape)), task.num_classes))


def toy_user_space() -> SearchSpace:
    """:func:`toy_space` as a user space (:class:`~nasforge.spaces.user.UserSpace` of
    :func:`toy_space_function`): the same choices and layout, discovered by running the function."""
    from nasforge.spaces.user import UserSpace

    return UserSpace(toy_space_function, name="toy-user", task=tiny_task())


def linear_evaluator(space: SearchSpace, seed: int = 0) -> Evaluate:
    """A fake evaluator: a fixed random linear score of the one-hot encoding (deterministic, instant)."""
    weights = np.random.default_rng(seed).normal(size=space.encoding_size)

    def evaluate(arch: Architecture) -> Result:
        score = float(np.asarray(space.encode(arch)) @ weights)
        return Result(metrics={"score": score}, value=score)

    return evaluate


def fake_scorer(space: SearchSpace, seed: int = 0, proxies: tuple[str, ...] = ("jacob_cov", "naswot", "synflow"),
                noise: float = 1.0) -> Callable[[Architecture], dict[str, float]]:
    """A fake zero-cost proxy scorer (deterministic, instant): ``scorer(arch) -> {proxy: value}``.

    Proxy ``i`` is a fixed linear function of the one-hot encoding whose
    weights are those of :func:`linear_evaluator` (same ``seed``) plus
    ``noise`` times an independent standard normal draw per proxy, so every
    proxy correlates with that evaluator's objective, none perfectly
    (``noise=0``: every proxy is the objective).
    """
    weights = np.random.default_rng(seed).normal(size=space.encoding_size)
    extra = np.random.default_rng((seed, 1)).normal(size=(len(proxies), space.encoding_size))
    table = weights + noise * extra

    def scorer(arch: Architecture) -> dict[str, float]:
        values = table @ np.asarray(space.encode(arch), dtype=float)
        return {p: float(v) for p, v in zip(proxies, values)}

    return scorer


def hidden_target_space(choices: int = 4, options: int = 4) -> SearchSpace:
    """``choices`` categorical choices of ``options`` values each (4 x 4: 256 architectures)."""
    return SearchSpace([categorical(f"c{i}", range(options)) for i in range(choices)], name="hidden-target")


def count_target_found(factory: StrategyFactory, seeds: Iterable[int] = range(20), budget: int = 40,
                       choices: int = 4, options: int = 4) -> int:
    """On how many ``seeds`` a strategy proposes a hidden target architecture within ``budget`` trials.

    The space is :func:`hidden_target_space`; for seed ``s`` the target draws each
    choice from ``default_rng((7, s))`` and an architecture scores the number of
    choices equal to the target's (a unimodal landscape with the target as its
    unique optimum). ``factory(space, seed)`` builds the strategy. The seeds are
    fixed, so the count is deterministic: compare it with random search's (on 4 x 4
    with 40 trials random search finds the target on about 15 % of seeds).
    """
    space = hidden_target_space(choices, options)
    found = 0
    for seed in seeds:
        target = [int(x) for x in np.random.default_rng((7, seed)).integers(options, size=choices)]
        strategy = factory(space, seed)
        for _ in range(budget):
            arch = strategy.ask()
            value = float(sum(arch[f"c{i}"] == t for i, t in enumerate(target)))
            strategy.tell(arch, Result(value=value))
            if value == choices:
                found += 1
                break
    return found


# ----------------------------------------------------------------------------- spaces


class FakeLatencyTable(LatencyTable):
    """A lookup table that times nothing, for tests of code that prices operations: a unit's entry is
    ``ms_per_kparam`` milliseconds per thousand of its parameters, and a whole network "measures" as its
    summed entries plus ``constant`` (so the fitted constant is exactly that). No cache, one calibration
    network, no up-front profiling."""

    def __init__(self, ms_per_kparam: float = 1.0, constant: float = 0.25) -> None:
        super().__init__(cache=False, calibration=1, profile=0)
        self.ms_per_kparam, self.fake_constant = float(ms_per_kparam), float(constant)

    def unit_latency(self, module: Any, input_shape: Any) -> float:
        sig = unit_signature(module, input_shape)
        if sig not in self.table:
            self.table[sig] = self.ms_per_kparam * sum(p.numel() for p in module.parameters()) / 1000
        return self.table[sig]

    def measure_arch(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        return self.summed(space, arch, task, model) + self.fake_constant


def check_space(space: SearchSpace, n: int = 50, seed: int = 0) -> None:
    """Assert the :class:`SearchSpace` contract on ``n`` sampled architectures.

    Checks that sample, mutate, neighbors and crossover stay in the space,
    mutate changes the architecture, neighbours differ from it and from each
    other, ``encode`` is deterministic with length ``encoding_size``, JSON and
    string forms round-trip, ``canonical`` is idempotent, ``key`` is stable,
    and a seed fixes sampling, mutation and crossover; ``cost_features`` gives
    one finite number per ``cost_feature_names``, the same for equal
    architectures. The layout contract
    (``space.layout``): the layout lists the space's choices, every choice of
    an architecture is active and completing its values changes nothing, and
    when the space encodes with the layout's columns (``encoding_size`` equal)
    ``encode`` sets exactly the columns of the architecture's values;
    ``size()`` is None or an int no larger than the layout's count.
    """
    who = f"space {getattr(space, 'name', type(space).__name__)!r} ({type(space).__name__})"
    size = space.encoding_size
    if not isinstance(size, (int, np.integer)) or size < 0:
        raise _fail(who, "encoding_size", f"must be a non-negative int, got {size!r}")
    if space.contains("not an architecture"):
        raise _fail(who, "contains", "accepts a value that is not an Architecture")

    layout = getattr(space, "layout", None)
    if layout is None or tuple(layout.choices) != tuple(space.choices):
        raise _fail(who, "layout", "space.layout must be the Layout of space.choices")
    total = space.size()
    if total is not None and (not isinstance(total, int) or total < 0
                              or (layout.size is not None and total > layout.size)):
        raise _fail(who, "size", f"size() must be None or an int in [0, layout.size={layout.size}], got {total!r}")

    archs = [space.sample(np.random.default_rng((seed, i))) for i in range(n)]
    for i, a in enumerate(archs):
        again = space.sample(np.random.default_rng((seed, i)))
        if again != a:
            raise _fail(who, "sample is seeded", f"the same rng seed gave {a} and then {again}")
        _check_arch(space, who, a, "sample")
        _check_layout(space, who, a)
        _check_arch_ops(space, who, a, np.random.default_rng((seed, n + i)), archs[(i + 1) % len(archs)])


def _check_arch(space: SearchSpace, who: str, a: Any, source: str) -> None:
    """Properties of one architecture: membership, encoding, serialisation, canonical form."""
    if not isinstance(a, Architecture):
        raise _fail(who, f"{source} returns an Architecture", f"got {type(a).__name__} {a!r}")
    if not space.contains(a):
        raise _fail(who, f"{source} stays in the space", f"{a} is not contained")
    text = space.to_string(a)
    if a.string and a.string != text:
        raise _fail(who, f"{source} sets the string form", f"arch.string {a.string!r} != to_string {text!r}")

    enc = np.asarray(space.encode(a))
    if enc.shape != (space.encoding_size,):
        raise _fail(who, "encode has fixed length",
                    f"encode({a}) has shape {enc.shape}, expected ({space.encoding_size},)")
    if not np.array_equal(enc, np.asarray(space.encode(a))):
        raise _fail(who, "encode is deterministic", f"two encodings of {a} differ")

    try:
        back = space.from_json(space.to_json(a))
    except Exception as exc:
        raise _fail(who, "JSON round trip", f"from_json(to_json({a})) raised {exc!r}") from exc
    if back != a:
        raise _fail(who, "JSON round trip", f"from_json(to_json({a})) gave {back}")
    if not np.array_equal(np.asarray(space.encode(back)), enc):
        raise _fail(who, "encode is deterministic", f"equal architectures {a} and {back} encode differently")
    names = tuple(space.cost_feature_names)
    cost = np.asarray(space.cost_features(a), dtype=np.float64)
    if cost.shape != (len(names),) or not np.all(np.isfinite(cost)):
        raise _fail(who, "cost_features", f"cost_features({a}) must be {len(names)} finite numbers, one per "
                                          f"cost_feature_names {list(names)}; got {cost.tolist()}")
    if not np.array_equal(np.asarray(space.cost_features(back), dtype=np.float64), cost):
        raise _fail(who, "cost_features is deterministic", f"equal architectures {a} and {back} differ")
    try:
        back = space.from_string(text)
    except Exception as exc:
        raise _fail(who, "string round trip", f"from_string({text!r}) raised {exc!r}") from exc
    if back != a:
        raise _fail(who, "string round trip", f"from_string({text!r}) gave {back}")

    canon = space.canonical(a)
    if not space.contains(canon):
        raise _fail(who, "canonical stays in the space", f"canonical({a}) = {canon} is not contained")
    if space.canonical(canon) != canon:
        raise _fail(who, "canonical is idempotent", f"canonical({canon}) = {space.canonical(canon)}, not itself")
    key = space.key(a)
    if not isinstance(key, str) or space.key(a) != key or space.key(canon) != key or space.key(back) != key:
        raise _fail(who, "key is stable",
                    f"key({a}) = {key!r}, but key(canonical) = {space.key(canon)!r}, "
                    f"key again = {space.key(a)!r}, key(round trip) = {space.key(back)!r}")


def _check_layout(space: SearchSpace, who: str, a: Architecture) -> None:
    """The layout's view of one architecture: activity, completion and (for one-hot spaces) columns."""
    layout = space.layout
    values = a.as_dict()
    active = [c.name for c in layout.active(values)]
    if active != list(values):
        raise _fail(who, "layout.active", f"the active choices of {a} are {active}, its choices {list(values)}")
    for rng in (None, np.random.default_rng(0)):
        done = layout.complete(values, rng)
        if done != values:
            raise _fail(who, "layout.complete", f"complete({values}) changed the values of {a} to {done}")
    if layout.encoding_size == space.encoding_size:
        enc = np.asarray(space.encode(a))
        ones = sorted(layout.column(k, v) for k, v in a.choices)
        if list(np.flatnonzero(enc)) != ones or not np.all(enc[ones] == 1):
            raise _fail(who, "encode uses the layout's columns",
                        f"encode({a}) sets columns {list(np.flatnonzero(enc))}, the layout says {ones}")


def _check_arch_ops(space: SearchSpace, who: str, a: Architecture, rng: np.random.Generator,
                    other: Architecture) -> None:
    """Mutation, neighbours and crossover of one architecture."""
    neighbors = space.neighbors(a)
    keys: set[Architecture] = set()
    for nb in neighbors:
        _check_arch(space, who, nb, f"neighbors({a})")
        if nb == a:
            raise _fail(who, "neighbors differ from the architecture", f"neighbors({a}) contains {a} itself")
        if nb in keys:
            raise _fail(who, "neighbors are distinct", f"neighbors({a}) lists {nb} twice")
        keys.add(nb)

    state = rng.bit_generator.state
    child = space.mutate(a, rng)
    _check_arch(space, who, child, f"mutate({a})")
    if child == a and neighbors:
        raise _fail(who, "mutate changes the architecture", f"mutate({a}) returned it unchanged")
    rng.bit_generator.state = state
    if space.mutate(a, rng) != child:
        raise _fail(who, "mutate is seeded", f"the same rng state gave two different mutations of {a}")

    state = rng.bit_generator.state
    mixed = space.crossover(a, other, rng)
    _check_arch(space, who, mixed, f"crossover({a}, {other})")
    rng.bit_generator.state = state
    if space.crossover(a, other, rng) != mixed:
        raise _fail(who, "crossover is seeded", f"the same rng state gave two different crossovers of {a}, {other}")


# ----------------------------------------------------------------------------- strategies


def _size(space: SearchSpace) -> int | None:
    n = space.size()
    if n is not None:
        return n
    try:
        return len(space)
    except (TypeError, NotImplementedError, OverflowError):
        return None


def _run(strategy: Strategy, steps: int, evaluate: Evaluate, who: str,
         seen: list[Architecture] | None = None) -> tuple[list[tuple[Architecture, Result]], bool]:
    """Ask/tell ``steps`` times; returns the history and whether the strategy said the space is exhausted.

    ``seen`` (all proposals so far, including earlier runs of the same
    strategy) is what an exhaustion claim is checked against.
    """
    history: list[tuple[Architecture, Result]] = []
    seen = [] if seen is None else seen
    for _ in range(steps):
        try:
            arch = strategy.ask()
        except StopIteration:
            _check_exhausted(strategy, who, seen)
            return history, True
        _check_proposal(strategy, who, arch)
        seen.append(arch)
        result = evaluate(arch)
        strategy.tell(arch, result)
        history.append((arch, result))
    return history, False


def _check_proposal(strategy: Strategy, who: str, arch: Any) -> None:
    if not isinstance(arch, Architecture) or not strategy.space.contains(arch):
        raise _fail(who, "ask stays in the space", f"proposed {arch!r}, which is not in the space")


def _check_exhausted(strategy: Strategy, who: str, proposed: list[Architecture]) -> None:
    """StopIteration is allowed only once a finite space has been fully proposed."""
    space = strategy.space
    size = _size(space)
    if size is None:
        raise _fail(who, "StopIteration only when exhausted", "raised StopIteration on a space without len()")
    keys = {space.key(a) for a in proposed}
    missing = [a for a in space.enumerate() if space.key(a) not in keys]
    if missing:
        raise _fail(who, "StopIteration only when exhausted",
                    f"raised StopIteration after {len(keys)} distinct proposals of {size}; "
                    f"never proposed e.g. {missing[0]}")


def _first_difference(a: list[Architecture], b: list[Architecture]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"ask {i} gave {x} and {y}"
    return f"one stopped after {min(len(a), len(b))} proposals, the other after {max(len(a), len(b))}"


def _check_replay(factory: StrategyFactory, space: SearchSpace, seed: int,
                  events: list[tuple[Architecture, Result] | None], original: Strategy,
                  proposed: list[Architecture], evaluate: Evaluate, who: str) -> None:
    """Replay ``events`` (``None`` = an ask, else a tell) into a fresh strategy; it must then
    propose what ``original`` proposes. Recorded architectures come back as new objects,
    as they do from storage."""
    replayed = factory(space, seed)
    for event in events:
        if event is None:
            try:
                replayed.ask()
            except StopIteration as exc:
                raise _fail(who, "replay rebuilds the state",
                            "raised StopIteration while replaying a history it produced") from exc
        else:
            replayed.tell(space.from_json(space.to_json(event[0])), event[1])
    next_o, stop_o = _run(original, 10, evaluate, who, list(proposed))
    next_r, stop_r = _run(replayed, 10, evaluate, who, list(proposed))
    seq_o, seq_r = [x for x, _ in next_o], [x for x, _ in next_r]
    if seq_o != seq_r or stop_o != stop_r:
        raise _fail(who, "replay rebuilds the state",
                    f"after replaying {sum(e is not None for e in events)} trials the next proposals differ "
                    f"from the original run's: {_first_difference(seq_o, seq_r)}")


def check_strategy(factory: StrategyFactory, space: SearchSpace, evaluate: Evaluate,
                   n: int = 30, seed: int = 0) -> None:
    """Assert the :class:`Strategy` contract on ``space`` with results from ``evaluate``.

    ``factory(space, seed)`` builds a fresh strategy. Checks that proposals are
    in the space, a seed fixes the sequence of proposals, replaying a history
    (``ask()`` then ``tell(recorded arch, result)`` per trial, or the recorded
    interleaving when trials were pending) rebuilds the state, pending trials
    and failed results are accepted, and ``StopIteration`` comes only when a
    finite space is exhausted.
    """
    probe = factory(space, seed)
    who = f"strategy {getattr(probe, 'name', '?')!r} ({type(probe).__name__}) on space {space.name!r}"
    if not isinstance(probe, Strategy):
        raise _fail(who, "factory returns a Strategy", f"got {type(probe).__name__}")

    # same seed, same proposals; and every proposal in the space
    a = factory(space, seed)
    hist_a, stop_a = _run(a, n, evaluate, who)
    b = factory(space, seed)
    hist_b, stop_b = _run(b, n, evaluate, who)
    seq_a, seq_b = [x for x, _ in hist_a], [x for x, _ in hist_b]
    if seq_a != seq_b or stop_a != stop_b:
        raise _fail(who, "the same seed gives the same proposals",
                    f"two runs with seed {seed} differ: {_first_difference(seq_a, seq_b)}")

    # replay: a fresh strategy fed a's history must continue exactly as a does
    _check_replay(factory, space, seed, [e for arch, result in hist_a for e in (None, (arch, result))],
                  a, seq_a, evaluate, who)

    # pending trials: rounds of k asks before the k tells (results arrive in any order);
    # replaying that interleaving of asks and tells rebuilds the state as well
    s = factory(space, seed + 1)
    k = 5
    events: list[tuple[Architecture, Result] | None] = []  # None marks an ask
    proposed: list[Architecture] = []
    stopped = False
    for _ in range(max(1, n // k)):
        batch: list[Architecture] = []
        for _ in range(k):
            try:
                arch = s.ask()
            except StopIteration:
                _check_exhausted(s, who, proposed)
                stopped = True
                break
            _check_proposal(s, who, arch)
            proposed.append(arch)
            batch.append(arch)
            events.append(None)
        for arch in reversed(batch):
            result = evaluate(arch)
            s.tell(arch, result)
            events.append((arch, result))
        if stopped:
            break
    _check_replay(factory, space, seed + 1, events, s, proposed, evaluate, who)

    # failed results are accepted, the search goes on, and replay restores them too
    s = factory(space, seed + 2)
    tried: list[Architecture] = []
    events = []
    for i in range(n):
        try:
            arch = s.ask()
        except StopIteration:
            _check_exhausted(s, who, tried)
            break
        _check_proposal(s, who, arch)
        tried.append(arch)
        result = Result.failure("x") if i < 3 or i % 3 == 0 else evaluate(arch)
        s.tell(arch, result)
        events += [None, (arch, result)]
    _check_replay(factory, space, seed + 2, events, s, tried, evaluate, who)


class TinyTrainableSpace(SearchSpace):
    """A tiny trainable space for fast tests of training, executors and export.

    A flatten-linear-activation-linear network with a searchable hidden width
    and activation; ``diverge=True`` adds an option whose network produces
    non-finite outputs, to test failure handling.
    """

    name = "tiny-trainable"

    def __init__(self, diverge: bool = False) -> None:
        self.diverge = diverge
        acts = ("relu", "tanh", "explode") if diverge else ("relu", "tanh")
        super().__init__([categorical("width", (8, 32)), categorical("act", acts)])

    def build(self, arch: Architecture, task: Any) -> Any:
        import torch.nn as nn

        features = int(np.prod(task.input_shape))
        width = int(arch["width"])  # type: ignore[call-overload]
        act: Any = {"relu": nn.ReLU, "tanh": nn.Tanh}.get(str(arch["act"]), _Explode)()
        return nn.Sequential(nn.Flatten(), nn.Linear(features, width), act, nn.Linear(width, task.num_classes))


def check_evaluator(evaluator: Any, space: SearchSpace, n: int = 3, seed: int = 0) -> None:
    """Check an evaluator against the contract on ``n`` sampled architectures of ``space``.

    ``capabilities()`` is a :class:`~nasforge.evaluators.base.Capabilities` whose fidelity range is
    consistent; ``describe()`` is JSON-able; every complete result is a :class:`Result` whose metrics
    include each declared metric (and the ``objective`` metric, equal to ``value``), a cost that is
    positive when a cost is declared; a declared fidelity range is accepted at its bounds.
    """
    import json

    from nasforge.evaluators.base import Capabilities, FidelityRange

    who = type(evaluator).__name__
    caps = evaluator.capabilities()
    if not isinstance(caps, Capabilities):
        raise _fail(who, "capabilities()", f"returned {type(caps).__name__}, not Capabilities")
    if caps.fidelity is not None and not isinstance(caps.fidelity, FidelityRange):
        raise _fail(who, "capabilities().fidelity", f"is {caps.fidelity!r}, not a FidelityRange or None")
    try:
        json.dumps(evaluator.describe())
    except (TypeError, ValueError) as exc:
        raise _fail(who, "describe()", f"is not JSON-able: {exc}") from None
    evaluator.prepare()
    rng = np.random.default_rng(seed)
    fidelities: list[float | None] = [None]
    if caps.fidelity is not None:
        fidelities += [caps.fidelity.low, caps.fidelity.high]
    for i in range(n):
        arch = space.sample(rng)
        fid = fidelities[i % len(fidelities)]
        res = evaluator.evaluate(arch, fid)
        if not isinstance(res, Result):
            raise _fail(who, "evaluate()", f"returned {type(res).__name__}, not a Result")
        if not res.ok:
            raise _fail(who, "evaluate()", f"failed on {arch}: {res.error}")
        missing = [m for m in caps.metrics if m not in res.metrics]
        if missing:
            raise _fail(who, "declared metrics", f"{missing} missing from the result's {sorted(res.metrics)}")
        if evaluator.objective in res.metrics and float(res.metrics[evaluator.objective]) != res.value:
            raise _fail(who, "value", f"{res.value} is not the objective metric "
                                      f"{evaluator.objective}={res.metrics[evaluator.objective]}")
        if caps.reports_cost and not res.cost > 0:
            raise _fail(who, "cost", f"declares a cost but reported {res.cost} for {arch}")
        if fid is not None and res.fidelity != fid:
            raise _fail(who, "fidelity", f"asked for {fid}, the result says {res.fidelity}")


def check_hardware_model(model: Any, space: SearchSpace, task: Any, n: int = 3, seed: int = 0) -> None:
    """Assert that a hardware model (:mod:`nasforge.evaluators.hardware.models`) keeps its contract on
    ``space`` and ``task``: a JSON-able description that preparing does not change, finite non-negative
    latencies with or without the built network, the same answer when asked twice, and a pickled copy
    (what a worker process gets) that answers too. Raises AssertionError naming the property."""
    import json
    import pickle

    from nasforge.evaluators.hardware.models import build_network

    who = f"hardware model {getattr(model, 'name', type(model).__name__)!r}"
    desc = model.describe()
    try:
        json.dumps(desc)
    except TypeError as exc:
        raise _fail(who, "describe", f"not JSON-serialisable: {exc}") from None
    model.prepare(space, task)
    if model.describe() != desc:
        raise _fail(who, "describe", "prepare() changed the description (it must hold settings, not results)")
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    values = [model.latency(space, a, task) for a in archs]
    for a, v in zip(archs, values):
        if not (isinstance(v, float) and np.isfinite(v) and v >= 0):
            raise _fail(who, "latency", f"{v!r} for {space.to_string(a)}; expected a finite float >= 0 (ms)")
    again = model.latency(space, archs[0], task, build_network(space, archs[0], task))
    if again != values[0]:
        raise _fail(who, "latency", f"asked twice for {space.to_string(archs[0])}: {values[0]} then {again}")
    clone = pickle.loads(pickle.dumps(model))
    clone.prepare(space, task)
    v = clone.latency(space, archs[0], task)
    if not (isinstance(v, float) and np.isfinite(v) and v >= 0):
        raise _fail(who, "pickle", f"a pickled copy answered {v!r}")


def check_supernet(space: SearchSpace, task: Any, n: int = 3, seed: int = 0, atol: float = 1e-5,
                   kind: str | None = None) -> None:
    """Check the supernet of ``space`` (from the ``SUPERNETS`` registry; ``kind`` picks the one registered
    as ``<space>:<kind>``, e.g. ``kind="elastic"``) against the contract.

    Every decision has options and one architecture parameter per option; after a
    training step in mixed mode (so BatchNorm statistics are not the defaults; a supernet with
    ``supports_mixed = False`` runs a few training-mode forwards of sampled paths instead), for ``n`` sampled
    architectures the path's output equals the stand-alone network ``space.build(arch, task)``
    with the weights :meth:`~nasforge.oneshot.supernet.Supernet.extract` gives it (eval mode), and
    ``path_of`` names only known decisions; the magnitude rule derives an architecture of the space,
    and so does every path-derived choice (``derive_from(path_of(arch))`` is ``arch`` again).
    """
    import torch

    from nasforge.oneshot.methods import build_supernet

    who = f"supernet of {space.name!r}" if kind is None else f"supernet {space.name}:{kind}"
    sn = build_supernet(space, task, seed, kind=kind)
    for d, a in zip(sn.decisions, sn.arch_parameters()):
        if not d.options or a.numel() != len(d.options):
            raise _fail(who, f"decision {d.key!r}", f"has {len(d.options)} options and {a.numel()} parameters")
    X = torch.as_tensor(task.X_train[:8], dtype=torch.float32)
    sn.train()
    if getattr(sn, "supports_mixed", True):
        sn.set_mixed()
        out = sn(X)
        if tuple(out.shape) != (len(X), task.num_classes):
            raise _fail(who, "mixed forward", f"gave shape {tuple(out.shape)}, expected {(len(X), task.num_classes)}")
        out.sum().backward()
        if all(a.grad is None or float(a.grad.abs().sum()) == 0.0 for a in sn.arch_parameters()):
            raise _fail(who, "mixed forward", "gives no gradient to the architecture parameters")
    else:  # no mixture to train: move the BatchNorm statistics with a few sampled paths
        bn_rng = np.random.default_rng(seed + 1)
        with torch.no_grad():
            for _ in range(3):
                sn.set_arch(space.sample(bn_rng))
                out = sn(X)
                if tuple(out.shape) != (len(X), task.num_classes):
                    raise _fail(who, "path forward",
                                f"gave shape {tuple(out.shape)}, expected {(len(X), task.num_classes)}")
    sn.eval()
    rng = np.random.default_rng(seed)
    for _ in range(n):
        arch = space.sample(rng)
        path = sn.path_of(arch)
        unknown = set(path) - set(sn.controller.keys)
        if unknown:
            raise _fail(who, "path_of", f"names unknown decisions {sorted(unknown)} for {arch}")
        sn.set_arch(arch)
        with torch.no_grad():
            mine = sn(X)
            try:
                alone = sn.extract(arch).eval()(X)
            except (KeyError, RuntimeError) as exc:
                raise _fail(who, "extract", f"cannot give {arch} its inherited weights: {exc}") from None
        gap = float((mine - alone).abs().max())
        if gap > atol:
            raise _fail(who, "single path", f"differs from the stand-alone network of {arch} by {gap:.3g}")
        back = sn.derive_from(path, {k: 1.0 for k in path})
        if space.key(back) != space.key(arch):
            raise _fail(who, "derive_from(path_of(arch))", f"gave {back}, not {arch}")
    derived = sn.derive()
    if not space.contains(derived):
        raise _fail(who, "derive()", f"gave {derived}, which is not an architecture of the space")


def _Explode() -> Any:
    import torch.nn as nn

    class Explode(nn.Module):
        def forward(self, x: Any) -> Any:
            return x * float("inf")

    return Explode()


def tiny_task(n: int = 120, features: int = 6, classes: int = 3, seed: int = 0, image: bool = False) -> Any:
    """A small, learnable synthetic classification task (tabular, or 1x4x4 images)."""
    from nasforge.data.task import Task

    rng = np.random.default_rng(seed)
    dim = 16 if image else features
    centers = rng.normal(0, 2.0, size=(classes, dim))
    y = np.arange(n) % classes
    X = (centers[y] + rng.normal(0, 1.0, size=(n, dim))).astype(np.float32)
    if image:
        X = X.reshape(n, 1, 4, 4)
    y = y.astype(np.int64)
    a, b = int(n * 0.6), int(n * 0.8)
    return Task("tiny", X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:], classes, tuple(map(str, range(classes))))


# ----------------------------------------------------------------------------- storages


def check_storage(factory: Callable[[], Any], threads: int = 4, per_thread: int = 25) -> None:
    """Check a storage against the contract: studies, trial records, allocation, finishing, heartbeats,
    stale trials, concurrency, and a study that is interrupted and resumed.

    ``factory()`` returns a handle on one store, empty at the first call; each call may return a new
    handle on the same store (a new connection: concurrency is checked through ``threads`` handles used
    at once) or the same object (an in-memory store). Handles are closed here.
    """
    import threading
    import time

    from nasforge.errors import StudyExistsError, StudyNotFoundError
    from nasforge.evaluators.base import FunctionEvaluator
    from nasforge.registry import create_strategy
    from nasforge.results import TrialRecord
    from nasforge.storage.base import Storage
    from nasforge.study import Study

    store = factory()
    who = f"storage {type(store).__name__}"
    if not isinstance(store, Storage):
        raise _fail(who, "factory returns a Storage", f"got {type(store).__name__}")
    handles = [store]
    try:
        # studies
        if store.list_studies():
            raise _fail(who, "a fresh store", f"already holds studies {[s.name for s in store.list_studies()]}")
        info = store.create_study("s1", {"space": "x", "nested": {"a": [1, 2]}})
        if store.get_study("s1").config != {"space": "x", "nested": {"a": [1, 2]}} or info.name != "s1":
            raise _fail(who, "get_study", f"returned {store.get_study('s1')!r}")
        for call, exc in ((lambda: store.create_study("s1", {}), StudyExistsError),
                          (lambda: store.get_study("nope"), StudyNotFoundError),
                          (lambda: store.trials("nope"), StudyNotFoundError)):
            try:
                call()
            except exc:
                pass
            else:
                raise _fail(who, f"raises {exc.__name__}", "it did not")

        # allocation and a round trip of every field
        full = TrialRecord("s1", -1, "arch-a", "running", {"acc": 0.5, "hist": [1.0, 2.0], "name": "x"}, 0.5, 2.5,
                           12.0, None, 100.0, None, "host:1", None, False, "ask", 3, None, 101.0, None)
        got = [store.new_trial(full.with_(arch=f"arch-{i}")) for i in range(3)]
        if [g.number for g in got] != [0, 1, 2]:
            raise _fail(who, "new_trial numbers a study's trials 0, 1, 2, ...", f"got {[g.number for g in got]}")
        held = store.trials("s1")
        if held != got:
            raise _fail(who, "trials returns what was written", f"wrote {got[0]!r}, read {held[0]!r}")
        if store.trials("s1", 1) != got[1:]:
            raise _fail(who, "trials(study, first)", "does not return the trials numbered first or more")

        # finishing: never over a finished trial
        done = got[0].with_(status="complete", finished_at=105.0, tell_order=0, duplicate_of=7, retry_of=2)
        if store.finish_trial(done) is not True or store.trials("s1")[0] != done:
            raise _fail(who, "finish_trial", "did not write the end of a running trial")
        if store.finish_trial(done.with_(status="failed", error="late")) is not False or \
                store.trials("s1")[0] != done:
            raise _fail(who, "finished results are never overwritten", "finish_trial replaced a complete trial")
        interrupted = got[1].with_(status="interrupted", error="stopped", finished_at=106.0)
        if store.finish_trial(interrupted) is not True or store.trials("s1")[1].status != "interrupted":
            raise _fail(who, "finish_trial", "did not write an interrupted trial")
        if store.finish_trial(got[2].with_(status="failed", error="boom", value=None)) is not True or \
                store.trials("s1")[2].error != "boom":
            raise _fail(who, "finish_trial", "did not write a failed trial")

        # heartbeats and stale trials
        beating = store.new_trial(full.with_(heartbeat_at=200.0))
        silent = store.new_trial(full.with_(heartbeat_at=None))
        store.heartbeat("s1", [beating.number, got[0].number], 300.0)
        now = {r.number: r for r in store.trials("s1")}
        if now[beating.number].heartbeat_at != 300.0 or now[got[0].number].heartbeat_at == 300.0:
            raise _fail(who, "heartbeat", "must update running trials only")
        stale = store.fail_stale_trials("s1", 250.0, "gone")
        if stale:
            raise _fail(who, "fail_stale_trials", f"failed trials with a fresh heartbeat: {stale}")
        stale = store.fail_stale_trials("s1", 400.0, "heartbeat stopped")
        if [(r.number, r.status, r.error) for r in stale] != [(beating.number, "failed", "heartbeat stopped")]:
            raise _fail(who, "fail_stale_trials", f"returned {stale} (a trial without heartbeats is never stale)")
        if {r.number: r for r in store.trials("s1")}[silent.number].status != "running":
            raise _fail(who, "fail_stale_trials", "failed a trial that never sent a heartbeat")

        # concurrency: handles used at once allocate distinct numbers and fail each stale trial once
        store.create_study("s2", {})
        extra = [factory() for _ in range(threads)]
        handles += [h for h in extra if h is not store]
        numbers: list[int] = []
        failed: list[int] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def allocate(h: Any) -> None:
            try:
                mine = [h.new_trial(TrialRecord("s2", -1, "a", "running", heartbeat_at=1.0)).number
                        for _ in range(per_thread)]
                out = h.fail_stale_trials("s2", 2.0, "stale")
                with lock:
                    numbers.extend(mine)
                    failed.extend(r.number for r in out)
            except BaseException as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=allocate, args=(h,)) for h in extra]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        if errors:
            raise _fail(who, "concurrent use through several handles", f"{type(errors[0]).__name__}: {errors[0]}")
        n = threads * per_thread
        if sorted(numbers) != list(range(n)):
            dup = sorted({x for x in numbers if numbers.count(x) > 1})
            raise _fail(who, "new_trial is atomic", f"{threads} handles at once got duplicates {dup[:5]} or gaps")
        if len(failed) != len(set(failed)) or any(r.status != "failed" for r in store.trials("s2")):
            raise _fail(who, "fail_stale_trials is atomic", f"{len(failed)} failures for {n} stale trials")

        # a study interrupted and resumed on the store: nothing finished is lost or repeated
        from nasforge.spaces.base import SearchSpace, integer

        space = SearchSpace([integer("x", 0, 99)], name="storage-check")
        ev = FunctionEvaluator(lambda a: float(a["x"]))
        st = Study(space, create_strategy("random", space, seed=0), ev, name="s3", storage=store)
        st.optimize(n_trials=5)
        dead = TrialRecord("s3", -1, "x=1", "running", started_at=time.time(), worker="no-such-host.invalid:1")
        store.new_trial(dead)
        again = Study(space, create_strategy("random", space, seed=0), ev, name="s3", storage=store, resume=True,
                      takeover=True)
        again.optimize(n_trials=8)
        rec = store.trials("s3")
        statuses = [r.status for r in rec]
        if len(rec) != 9 or statuses.count("complete") != 8 or statuses[5] != "interrupted":
            raise _fail(who, "interrupt and resume", f"expected 8 complete trials and trial 5 interrupted, "
                                                     f"got {statuses}")
        if [r.number for r in rec] != list(range(9)) or [r.arch for r in rec[:5]] != [t.arch for t in st.trials]:
            raise _fail(who, "interrupt and resume", "finished trials changed or were renumbered")
    finally:
        for h in handles:
            h.close()
