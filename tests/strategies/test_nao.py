"""NAO: the encoder / predictor / decoder model, and the strategy's contract, options and search quality."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from nasforge.results import Result
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.strategies.base import Strategy
from nasforge.strategies.nao import NAO, TokenCodec, _Model
from nasforge.strategies.random import RandomSearch
from nasforge.testing import check_strategy, count_target_found, linear_evaluator, toy_space

#: the pattern of test_search_quality.py: 4 x 4 choices, a hidden target per seed, 20 seeds, 40 trials
HIDDEN = SearchSpace([categorical(f"c{i}", range(4)) for i in range(4)], name="hidden-target")


def successes(factory: Callable[[SearchSpace, int], Strategy], budget: int = 40) -> int:
    """On how many of 20 fixed seeds the strategy proposes the hidden target within the budget."""
    return count_target_found(factory, budget=budget)


def nao(space: SearchSpace, seed: int) -> NAO:
    return NAO(space, seed=seed, n_init=10)


@pytest.mark.parametrize("space", [NB201Space(), toy_space()], ids=lambda s: s.name)
def test_meets_contract(space: SearchSpace) -> None:
    check_strategy(nao, space, linear_evaluator(space), n=40)


def test_meets_contract_on_an_exhaustible_space(tiny_space: SearchSpace) -> None:
    check_strategy(nao, tiny_space, linear_evaluator(tiny_space), n=30)


def test_beats_random_search() -> None:
    random = successes(lambda sp, seed: RandomSearch(sp, seed=seed))
    found = successes(lambda sp, seed: NAO(sp, seed=seed, n_init=10))
    assert found >= 2 * random, (found, random)


@pytest.mark.parametrize(("options", "needle"), [
    ({"n_init": 1}, "n_init must be an integer >= 2, got 1"),
    ({"top_k": 0}, "top_k must be an integer >= 1, got 0"),
    ({"refit_every": 0.5}, "refit_every must be an integer >= 1, got 0.5"),
    ({"train_steps": 0}, "train_steps must be an integer >= 1, got 0"),
    ({"hidden_size": True}, "hidden_size must be an integer >= 1, got True"),
    ({"embedding_size": 0}, "embedding_size must be an integer >= 1, got 0"),
    ({"trade_off": 1.5}, r"trade_off must be a number >= 0 and <= 1, got 1.5"),
    ({"trade_off": "high"}, "trade_off must be a number >= 0 and <= 1, got 'high'"),
    ({"step_size": 0}, "step_size must be a number > 0, got 0"),
    ({"step_size": float("nan")}, "step_size must be a number > 0, got nan"),
    ({"max_moves": 0}, "max_moves must be an integer >= 1, got 0"),
])
def test_invalid_option(options: dict[str, Any], needle: str, tiny_space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=needle):
        NAO(tiny_space, seed=0, **options)


def test_options_are_stored() -> None:
    space = NB201Space()
    s = NAO(space, seed=1, top_k=3, step_size=0.5, trade_off=0.5)
    params = s.get_params()
    assert params["top_k"] == 3 and params["step_size"] == 0.5 and params["trade_off"] == 0.5
    assert NAO(space, **params).get_params() == params


# -- the generic token representation ------------------------------------------------------

def test_tokens_mark_inactive_choices_and_decode_back() -> None:
    space = toy_space()
    codec = TokenCodec(space)
    rng = np.random.default_rng(0)
    for _ in range(30):
        arch = space.sample(rng)
        tokens = codec.tokens(arch)
        for j, c in enumerate(space.choices):
            if c.name in arch.as_dict():
                assert c.options[tokens[j]] == arch[c.name]
            else:
                assert tokens[j] == len(c.options)  # the inactive token
        # logits that put all mass on the tokens decode to the architecture itself
        logits = np.full((len(space.choices), codec.max_tokens), -5.0)
        logits[np.arange(len(tokens)), tokens] = 5.0
        assert codec.decode(logits) == arch


def test_decoding_repairs_conditional_choices() -> None:
    space = toy_space()
    codec = TokenCodec(space)
    names = [c.name for c in space.choices]
    logits = np.zeros((len(names), codec.max_tokens))
    # se=False but se_ratio's logits favour an option: se_ratio is dropped
    logits[names.index("se"), 0] = 5.0
    logits[names.index("se_ratio"), 1] = 5.0
    # a choice switched on (s0.depth = 3 activates block 2) whose logits favour "inactive" gets an option
    logits[names.index("s0.depth"), 2] = 5.0
    logits[names.index("s0.b2.kernel"), 2] = 5.0  # index 2 is the inactive token of a 2-option choice
    arch = codec.decode(logits)
    assert arch is not None and space.contains(arch)
    assert "se_ratio" not in arch.as_dict()
    assert arch["s0.depth"] == 3 and arch["s0.b2.kernel"] in (3, 5)


# -- the model ----------------------------------------------------------------------------

def _data(space: SearchSpace, n: int, seed: int = 0) -> tuple[TokenCodec, np.ndarray, np.ndarray]:
    codec = TokenCodec(space)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    score = linear_evaluator(space)
    y = np.array([score(a).value for a in archs])
    return codec, np.stack([codec.tokens(a) for a in archs]), (y - y.mean()) / y.std()


@pytest.mark.parametrize("space", [NB201Space(), toy_space()], ids=lambda s: s.name)
def test_backprop_matches_finite_differences(space: SearchSpace) -> None:
    codec, tokens, y = _data(space, 12)
    model = _Model(codec, 8, 4, np.random.default_rng(1))
    x = codec.one_hot(tokens)
    grads = model.gradients(x, tokens, y, 0.7)
    rng = np.random.default_rng(2)
    for p, g in zip(model.params, grads):
        for _ in range(3):
            idx = tuple(int(rng.integers(s)) for s in p.shape)
            old = p[idx]
            p[idx] = old + 1e-6
            up = model.loss(x, tokens, y, 0.7)
            p[idx] = old - 1e-6
            down = model.loss(x, tokens, y, 0.7)
            p[idx] = old
            assert (up - down) / 2e-6 == pytest.approx(g[idx], abs=1e-6)
    z = model.encode(x)[1][:1]
    step = np.zeros_like(z)
    step[0, 0] = 1e-6
    numeric = (model.predict(z + step)[1] - model.predict(z - step)[1])[0] / 2e-6
    assert numeric == pytest.approx(model.value_gradient(z)[0, 0], abs=1e-6)


def test_training_learns_to_reconstruct_and_predict() -> None:
    space = NB201Space()
    codec, tokens, y = _data(space, 60)
    model = _Model(codec, 32, 16, np.random.default_rng(0))
    model.fit(tokens, y, 300, 0.8)
    _, z = model.encode(codec.one_hot(tokens))
    _, logits = model.decode_logits(z)
    rebuilt = [codec.decode(lg) for lg in logits]
    assert np.mean([codec.tokens(a).tolist() == t.tolist() for a, t in zip(rebuilt, tokens)]) > 0.9
    assert np.corrcoef(model.predict(z)[1], y)[0, 1] > 0.9


def test_walk_climbs_the_predictor() -> None:
    space = NB201Space()
    codec, tokens, y = _data(space, 40)
    model = _Model(codec, 32, 16, np.random.default_rng(0))
    model.fit(tokens, y, 200, 0.8)
    _, z = model.encode(codec.one_hot(tokens[:1]))
    values = [model.predict(z)[1][0]]
    for _ in range(10):  # the walk's update rule, small steps
        g = model.value_gradient(z)
        z = z + 0.05 * g / np.linalg.norm(g)
        values.append(model.predict(z)[1][0])
    assert all(b > a for a, b in zip(values, values[1:]))


# -- the strategy -------------------------------------------------------------------------

def test_random_start_then_new_architectures() -> None:
    space = NB201Space()
    evaluate = linear_evaluator(space)
    s = NAO(space, seed=3, n_init=10)
    told: set[str] = set()
    for i in range(40):
        arch = s.ask()
        assert space.key(arch) not in told, f"ask {i} repeated an evaluated architecture"
        told.add(space.key(arch))
        s.tell(arch, evaluate(arch))
    assert s._moves == 30  # every proposal after the random start came from the model
    assert s._fitted_on >= 35  # refit as results came in


def test_pending_proposals_are_distinct() -> None:
    space = NB201Space()
    evaluate = linear_evaluator(space)
    s = NAO(space, seed=0, n_init=5)
    for _ in range(8):
        arch = s.ask()
        s.tell(arch, evaluate(arch))
    batch = [s.ask() for _ in range(6)]
    assert len({space.key(a) for a in batch}) == 6


def test_failures_are_not_training_data() -> None:
    space = NB201Space()
    s = NAO(space, seed=0, n_init=3)
    for _ in range(6):
        s.tell(s.ask(), Result.failure("x"))
    assert not s._data and s._model is None
    assert space.contains(s.ask())  # with nothing learned it keeps sampling


def test_better_than_random_on_a_linear_landscape() -> None:
    space = NB201Space()
    found_nao, found_rs = [], []
    for seed in range(4):
        evaluate = linear_evaluator(space, seed=seed)
        for strategy, out in ((NAO(space, seed=seed), found_nao), (RandomSearch(space, seed=seed), found_rs)):
            best = -np.inf
            for _ in range(60):
                arch = strategy.ask()
                r = evaluate(arch)
                strategy.tell(arch, r)
                best = max(best, float(r.value))
            out.append(best)
    assert np.mean(found_nao) > np.mean(found_rs)


def test_conditional_choices_space() -> None:
    space = SearchSpace([categorical("depth", [1, 2]), categorical("w1", [8, 16]),
                         categorical("w2", [8, 16, 32], when=("depth", [2])),
                         categorical("act", ["relu", "tanh", "gelu"])], name="cond")
    evaluate = linear_evaluator(space)
    s = NAO(space, seed=0, n_init=4, refit_every=2)
    for _ in range(20):
        arch = s.ask()
        assert space.contains(arch)
        s.tell(arch, evaluate(arch))
