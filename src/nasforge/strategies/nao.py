"""Neural Architecture Optimization (NAO), Luo et al., NeurIPS 2018.

An encoder maps an architecture to a continuous embedding, a predictor maps
the embedding to the (standardised) objective, and a decoder maps the
embedding back to the architecture; the three are trained jointly on the told
results (``trade_off`` x prediction error + (1 - ``trade_off``) x
reconstruction error). New architectures come from moving the embeddings of
the ``top_k`` best architectures uphill along the predictor's gradient and
decoding them.

The representation is generic: one token per choice of the space (the
choice's option, or an extra *inactive* token for a conditional choice that
is switched off), so NAO runs on every space. This implementation uses small
MLPs instead of the paper's LSTMs (a few dozen units; the sequences are a few
dozen tokens at most), which keeps a refit within tens of milliseconds.

In ask/tell form:

* the first ``n_init`` proposals are random (distinct) architectures;
* the model is refit (from a fresh initialisation, ``train_steps`` full-batch
  Adam steps) once ``refit_every`` new results have been told since the last
  fit; the initialisation of a fit is drawn from the ask's ``rng``;
* each proposal takes the next of the ``top_k`` best told architectures in
  turn (so ``top_k`` consecutive proposals are one NAO round), walks its
  embedding uphill in steps of ``step_size`` along the normalised predictor
  gradient, and after each step decodes greedily (argmax per active choice;
  conditional choices that the decoded values switch off are dropped and the
  ones they switch on take their most likely option). The first decoded
  architecture that is valid (``space.make``) and neither told nor pending is
  proposed. When ``max_moves`` steps give none (near the predictor's optimum
  the decoded architectures are often ones already evaluated), the proposal
  is the unseen mutation of the parent that the predictor rates best among up
  to eight drawn, or a random unseen architecture when there is none.

Differences from the paper: MLPs instead of LSTMs; the step follows the
*normalised* gradient (so ``step_size`` is a distance in the embedding,
whatever the scale of the objective), repeated from the moved point rather
than scaled from the start point; and the fallback above. The model is
written in numpy with hand-derived gradients: for models this small, numpy
is several times faster than torch, and it needs no global RNG.
"""

from __future__ import annotations

from typing import Hashable

import numpy as np

from nasforge.options import check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, sample_distinct
from nasforge.strategies.base import Strategy

#: attempts at drawing an unseen architecture before accepting a seen one
_TRIES = 32
#: Adam learning rate of a fit
_LR = 0.01
#: unseen mutations the predictor chooses among when the walk finds nothing new
_FALLBACK_POOL = 8


class TokenCodec:
    """Architectures as token sequences: one token per choice, the option index or an *inactive* token.

    Used by NAO's encoder (one-hot of the tokens) and decoder (a softmax per
    choice over its tokens); works on any space through its ``choices``.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.choices = space.choices
        self.n_options = np.array([len(c.options) for c in self.choices], dtype=np.int64)
        # only conditional choices can be inactive, so only they get the extra token
        self.n_tokens = self.n_options + np.array([c.when is not None for c in self.choices], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.n_tokens)])[:-1]
        self.width = int(self.n_tokens.sum())
        self.max_tokens = int(self.n_tokens.max()) if len(self.choices) else 1
        self.layout = space.layout
        # decoding picks among a choice's options only, never its inactive token or padding
        self._options_only = np.full((len(self.choices), self.max_tokens), -np.inf)
        for j, n in enumerate(self.n_options):
            self._options_only[j, :n] = 0.0

    def tokens(self, arch: Architecture) -> np.ndarray:
        out = np.asarray(self.layout.indices(arch.as_dict()), dtype=np.int64)
        return np.where(out < 0, self.n_options, out)  # the inactive token where a choice has no value

    def one_hot(self, tokens: np.ndarray) -> np.ndarray:
        """(n, T) tokens -> (n, width) one-hot rows."""
        tokens = np.atleast_2d(tokens)
        x = np.zeros((len(tokens), self.width))
        rows = np.arange(len(tokens))[:, None]
        x[rows, self.offsets[None, :] + tokens] = 1.0
        return x

    def logit_mask(self) -> np.ndarray:
        """(T, max_tokens) additive mask: 0 for a choice's tokens, -1e9 for padding."""
        mask = np.full((len(self.choices), self.max_tokens), -1e9, dtype=np.float32)
        for j, n in enumerate(self.n_tokens):
            mask[j, :n] = 0.0
        return mask

    def decode(self, logits: np.ndarray) -> Architecture | None:
        """Greedy decoding of (T, max_tokens) logits into a valid architecture, or None.

        Choices are read in order; a conditional choice the values so far switch
        off is dropped whatever its token, and an active one takes its most
        likely *option* (never the inactive token).
        """
        try:
            return self.space.make(self.decode_values(logits))
        except InvalidArchitectureError:
            return None

    def decode_values(self, logits: np.ndarray) -> dict[str, Hashable]:
        """The choice values of greedy decoding (see :meth:`decode`), not yet checked by the space."""
        best = np.argmax(logits + self._options_only, axis=1)
        # the argmax of every choice; the layout drops the ones the values before them switch off
        return self.layout.complete(self.layout.values(best))


class _Model:
    """Encoder, predictor and decoder: three small tanh MLPs in numpy, trained by hand-written backprop.

    The encoder's output is squashed by tanh; the predictor is linear on its
    last hidden layer; the decoder gives per-choice logits (padded to the
    largest vocabulary, padding masked).
    """

    def __init__(self, codec: TokenCodec, hidden: int, embedding: int, rng: np.random.Generator) -> None:
        self.codec = codec
        T, V = len(codec.choices), codec.max_tokens

        def layer(n_in: int, n_out: int) -> list[np.ndarray]:
            bound = 1.0 / np.sqrt(n_in)
            return [rng.uniform(-bound, bound, size=(n_in, n_out)), np.zeros(n_out)]

        # enc: x -> h1 -> z; pred: z -> hp -> value; dec: z -> hd -> logits (T x V, padded)
        init = (layer(codec.width, hidden) + layer(hidden, embedding) + layer(embedding, hidden)
                + layer(hidden, 1) + layer(embedding, hidden) + layer(hidden, T * V))
        # one flat vector with the parameters as views into it: Adam updates it in a few operations
        self.theta = np.concatenate([p.ravel() for p in init])
        self.params: list[np.ndarray] = []
        start = 0
        for p in init:
            self.params.append(self.theta[start:start + p.size].reshape(p.shape))
            start += p.size
        self.mask = codec.logit_mask()

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        W1, b1, W2, b2 = self.params[:4]
        h1 = np.tanh(x @ W1 + b1)
        return h1, np.tanh(h1 @ W2 + b2)

    def predict(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P1, c1, P2, c2 = self.params[4:8]
        hp = np.tanh(z @ P1 + c1)
        return hp, (hp @ P2 + c2)[:, 0]

    def decode_logits(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Q1, d1, Q2, d2 = self.params[8:]
        hd = np.tanh(z @ Q1 + d1)
        return hd, (hd @ Q2 + d2).reshape(len(z), *self.mask.shape) + self.mask

    def value_gradient(self, z: np.ndarray) -> np.ndarray:
        """d(predicted value)/dz for each row of z."""
        P1, P2 = self.params[4], self.params[6]
        hp, _ = self.predict(z)
        return ((1.0 - hp ** 2) * P2[:, 0]) @ P1.T

    def gradients(self, x: np.ndarray, tokens: np.ndarray, y: np.ndarray, trade_off: float) -> list[np.ndarray]:
        """Gradients of trade_off * MSE(prediction) + (1 - trade_off) * CE(reconstruction)."""
        W1, b1, W2, b2, P1, c1, P2, c2, Q1, d1, Q2, d2 = self.params
        n, T = tokens.shape
        h1, z = self.encode(x)
        hp, p = self.predict(z)
        hd, logits = self.decode_logits(z)
        # prediction branch
        dp = (trade_off * 2.0 / n) * (p - y)[:, None]
        dhp = (dp @ P2.T) * (1.0 - hp ** 2)
        dz = dhp @ P1.T
        grads_p = [z.T @ dhp, dhp.sum(0), hp.T @ dp, dp.sum(0)]
        # reconstruction branch: softmax cross-entropy per choice
        logits = logits - logits.max(axis=2, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=2, keepdims=True)
        prob[np.arange(n)[:, None], np.arange(T)[None, :], tokens] -= 1.0
        dl = prob.reshape(n, -1) * ((1.0 - trade_off) / (n * T))
        dhd = (dl @ Q2.T) * (1.0 - hd ** 2)
        dz = dz + dhd @ Q1.T
        grads_d = [z.T @ dhd, dhd.sum(0), hd.T @ dl, dl.sum(0)]
        # encoder
        da2 = dz * (1.0 - z ** 2)
        da1 = (da2 @ W2.T) * (1.0 - h1 ** 2)
        grads_e = [x.T @ da1, da1.sum(0), h1.T @ da2, da2.sum(0)]
        return grads_e + grads_p + grads_d

    def loss(self, x: np.ndarray, tokens: np.ndarray, y: np.ndarray, trade_off: float) -> float:
        n, T = tokens.shape
        _, z = self.encode(x)
        _, p = self.predict(z)
        _, logits = self.decode_logits(z)
        logits = logits - logits.max(axis=2, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
        ce = -logp[np.arange(n)[:, None], np.arange(T)[None, :], tokens].mean()
        return float(trade_off * np.mean((p - y) ** 2) + (1.0 - trade_off) * ce)

    def fit(self, tokens: np.ndarray, y: np.ndarray, steps: int, trade_off: float) -> None:
        """Full-batch Adam."""
        x = self.codec.one_hot(tokens)
        m = np.zeros_like(self.theta)
        v = np.zeros_like(self.theta)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        for t in range(1, steps + 1):
            g = np.concatenate([gi.ravel() for gi in self.gradients(x, tokens, y, trade_off)])
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            lr = _LR * np.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
            self.theta -= lr * m / (np.sqrt(v) + eps)

    def predict_archs(self, archs: list[Architecture]) -> np.ndarray:
        x = self.codec.one_hot(np.stack([self.codec.tokens(a) for a in archs]))
        return self.predict(self.encode(x)[1])[1]

    def walk(self, tokens: np.ndarray, step_size: float, max_moves: int) -> list[np.ndarray]:
        """Decoder logits along an uphill walk of the embedding of one architecture (one per step)."""
        _, z = self.encode(self.codec.one_hot(tokens))
        out = []
        for _ in range(max_moves):
            grad = self.value_gradient(z)
            norm = float(np.linalg.norm(grad))
            if not norm > 1e-12:
                break  # flat predictor: no direction to follow
            z = z + (step_size / norm) * grad
            out.append(self.decode_logits(z)[1][0])
        return out


class NAO(Strategy):
    """Neural Architecture Optimization: gradient ascent in a learned embedding (``nao``).

    Options: ``n_init`` random proposals before the model is used;
    ``top_k`` best architectures whose embeddings are moved; ``refit_every``
    told results between refits; ``train_steps`` Adam steps per fit;
    ``hidden_size`` and ``embedding_size`` of the MLPs; ``trade_off`` weight of
    the prediction loss against the reconstruction loss (in [0, 1]);
    ``step_size`` length of one move in the embedding; ``max_moves`` moves
    tried before falling back to a mutation.
    """

    name = "nao"

    def __init__(self, space: SearchSpace, seed: int | None = None, n_init: int = 30, top_k: int = 5,
                 refit_every: int = 5, train_steps: int = 150, hidden_size: int = 32, embedding_size: int = 16,
                 trade_off: float = 0.8, step_size: float = 0.25, max_moves: int = 10) -> None:
        super().__init__(space, seed)
        self.n_init = check_int("n_init", n_init, 2)
        self.top_k = check_int("top_k", top_k, 1)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.train_steps = check_int("train_steps", train_steps, 1)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        self.embedding_size = check_int("embedding_size", embedding_size, 1)
        self.trade_off = check_number("trade_off", trade_off, 0.0, 1.0)
        self.step_size = check_number("step_size", step_size, 0.0, low_open=True)
        self.max_moves = check_int("max_moves", max_moves, 1)
        self._codec = TokenCodec(space)
        self._told: set[str] = set()
        self._data: dict[str, tuple[Architecture, float, int]] = {}  # key -> (arch, best objective, order)
        self._model: _Model | None = None
        self._fitted_on = 0   # number of data points of the current fit
        self._moves = 0       # model-based proposals so far (picks the parent in turn)
        self._moved: dict[str, list[bool]] = {}  # per outstanding proposal: whether it advanced _moves

    # -- ask ----------------------------------------------------------------------
    def _ask(self, rng: np.random.Generator) -> Architecture:
        before = self._moves
        arch = self._propose(rng)
        self._moved.setdefault(self.space.key(arch), []).append(self._moves != before)
        return arch

    def _discard(self, arch: Architecture) -> None:
        """A withdrawn model-based proposal gives its turn back to the next parent."""
        key = self.space.key(arch)
        flags = self._moved.get(key)
        if not flags:
            return
        if flags.pop():
            self._moves -= 1
        if not flags:
            del self._moved[key]

    def _propose(self, rng: np.random.Generator) -> Architecture:
        seen = self._told | set(self.pending)
        if len(self._data) < self.n_init:
            return self._unseen(rng, seen)
        if self._model is None or len(self._data) - self._fitted_on >= self.refit_every:
            self._fit(np.random.default_rng(int(rng.integers(2**63 - 1))))
        assert self._model is not None
        ranked = sorted(self._data.values(), key=lambda d: (-d[1], d[2]))[:self.top_k]
        parent = ranked[self._moves % len(ranked)][0]
        self._moves += 1
        last: dict[str, Hashable] | None = None
        for logits in self._model.walk(self._codec.tokens(parent), self.step_size, self.max_moves):
            values = self._codec.decode_values(logits)
            if values == last:
                continue  # the step did not change the decoded architecture
            last = values
            try:
                arch = self.space.make(values)
            except InvalidArchitectureError:
                continue
            if self.space.key(arch) not in seen:
                return arch
        # the walk found nothing new: fall back to a mutation (the best-predicted of a few unseen ones)
        children: dict[str, Architecture] = {}
        for _ in range(_TRIES):
            child = self.space.mutate(parent, rng)
            key = self.space.key(child)
            if key not in seen:
                children.setdefault(key, child)
                if len(children) >= _FALLBACK_POOL:
                    break
        if not children:
            return self._unseen(rng, seen)
        pool = list(children.values())
        if len(pool) == 1:
            return pool[0]
        return pool[int(np.argmax(self._model.predict_archs(pool)))]

    def _unseen(self, rng: np.random.Generator, seen: set[str]) -> Architecture:
        new = sample_distinct(self.space, 1, rng, seen, tries=_TRIES)
        return new[0] if new else self.space.sample(rng)

    def _fit(self, rng: np.random.Generator) -> None:
        data = sorted(self._data.values(), key=lambda d: d[2])
        tokens = np.stack([self._codec.tokens(a) for a, _, _ in data])
        y = np.array([v for _, v, _ in data], dtype=np.float64)
        y = (y - y.mean()) / (y.std() if y.std() > 0 else 1.0)
        self._model = _Model(self._codec, self.hidden_size, self.embedding_size, rng)
        self._model.fit(tokens, y, self.train_steps, self.trade_off)
        self._fitted_on = len(self._data)

    # -- tell ---------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        self._told.add(key)
        flags = self._moved.get(key)
        if flags:
            flags.pop(0)
            if not flags:
                del self._moved[key]
        if result.value is None:
            return
        y = float(result.value)
        old = self._data.get(key)
        if old is None:
            self._data[key] = (arch, y, len(self._data))
        elif y > old[1]:
            self._data[key] = (old[0], y, old[2])
