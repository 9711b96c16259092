"""REINFORCE with a learned policy over the space's choices (the NASNet / ENAS / MnasNet family).

A *controller* is a distribution over architectures: it emits the active
choices one after another in the space's order, skipping choices that are
inactive given the earlier values (their ``when``). Two controllers:

* ``'lstm'``: an autoregressive LSTM (Zoph & Le 2017; Zoph et al. 2018,
  NASNet; Pham et al. 2018, ENAS): at each step the hidden state gives the
  logits of the current choice through that choice's output head, and the
  embedding of the option taken is the next step's input. Trained with
  PyTorch; sampled in numpy from the same weights (a few small matrix
  products per choice, much cheaper than torch calls).
* ``'factorized'``: independent categorical logits per choice (the REINFORCE
  baseline of the NAS-Bench-201 paper), in numpy.

Each ``tell`` makes one policy-gradient step (Adam, learning rate ``lr``) on
``-(r - b) * log p(arch) - entropy_weight * H``, where ``r`` is the objective
standardised by the running mean and standard deviation of all results so
far, and ``b`` an exponential moving average of past rewards (decay
``baseline_decay``). A failed result is rewarded like the worst result seen so
far (-1 before two results exist).

``memory=N`` (default 5; 0 turns it off) keeps the ``N`` best distinct
(architecture, objective) pairs and adds their REINFORCE terms (with the
current normalisation and baseline) to every update. This follows the proposal of Adam & Lorraine, "Understanding
Neural Architecture Search Techniques" (arXiv:1904.00438, 2019), who train
the ENAS controller with a memory buffer of previously sampled architectures
so that it conditions on past decisions; they report better interpretability
of the controller's hidden state, not a search-accuracy gain. Keeping the
*best* ``N`` and replaying them as if just sampled (no importance weights)
is our choice (close to priority-queue training, Abolafia et al. 2018); on
NAS-Bench-201 it is what lifts REINFORCE above regularized evolution.

Sampling draws uniforms from the ``rng`` passed to ``_ask`` and inverts the
policy's CDF, so a seed fixes the proposals; the weights change only in
``_tell`` (initialised from the strategy's seed through a local torch
generator), so replaying a history rebuilds them exactly. With ``unique=True``
(default) an architecture already evaluated or pending is not proposed (it
would only repeat a known answer): the policy draws 16 architectures at once
and the first new one is taken; when all are known (the policy has
concentrated), 16 more from the policy flattened by temperature 2, then 4,
then 8, and finally uniform random samples.
When all 16 draws violate a space's validity rule (``is_valid``) the
proposal is chosen among valid random samples in proportion to their policy
probability (sampling-importance-resampling from the policy restricted to
valid architectures).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from nasforge.options import check_choice, check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace
from nasforge.spaces.layout import Layout
from nasforge.strategies.base import Strategy

#: learning rates when ``lr`` is None (tuned on NAS-Bench-201 seeds 1000+ with memory 5)
DEFAULT_LR = {"lstm": 0.005, "factorized": 0.05}
#: policy draws per ask and temperature (duplicates or invalid draws are drawn again)
_POLICY_DRAWS = 16
#: when the policy's draws are all known, draw again from the flattened policy
_TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
#: valid random candidates for sampling-importance-resampling when policy draws are invalid
_SIR_CANDIDATES = 16
_FALLBACK_TRIES = 64


class RunningStats:
    """Running mean, standard deviation and minimum of the objectives seen (Welford)."""

    def __init__(self) -> None:
        self.n, self.mean, self._m2, self.min = 0, 0.0, 0.0, math.inf

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self._m2 += d * (x - self.mean)
        self.min = min(self.min, x)

    @property
    def std(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0

    def z(self, x: float) -> float:
        """``x`` standardised (0 until two distinct results exist)."""
        s = self.std
        return (x - self.mean) / s if self.n > 1 and s > 0 else 0.0


def _draw(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Invert the CDF of each row of ``probs`` (batch x options) at the uniforms ``u`` (batch)."""
    cdf = np.cumsum(probs, axis=-1)
    k = (cdf <= (u * cdf[..., -1])[..., None]).sum(axis=-1)
    return np.minimum(k, probs.shape[-1] - 1)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _Adam:
    """Adam on a list of numpy arrays (updated in place)."""

    def __init__(self, params: list[np.ndarray], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)


class FactorizedController:
    """Independent categorical logits per choice (numpy)."""

    def __init__(self, layout: Layout, lr: float) -> None:
        self.layout = layout
        self.logits = [np.zeros(k) for k in layout.sizes]
        self.opt = _Adam(self.logits, lr)

    def sample(self, rng: np.random.Generator, n: int, temperature: float = 1.0) -> np.ndarray:
        """``n`` architectures (rows of option indices, -1 = inactive)."""
        lay = self.layout
        u = rng.random((n, len(lay.sizes)))
        idx = np.full((n, len(lay.sizes)), -1)
        for i in range(len(lay.sizes)):
            on = lay.active_rows(i, idx)
            k = _draw(np.broadcast_to(_softmax(self.logits[i] / temperature), (n, lay.sizes[i])), u[:, i])
            idx[:, i] = np.where(on, k, -1)
        return idx

    def log_probs(self, batch: list[list[int]]) -> np.ndarray:
        arr = np.asarray(batch)
        logp = np.zeros(len(arr))
        for i, z in enumerate(self.logits):
            lz = z - z.max()
            lz = lz - math.log(np.exp(lz).sum())
            on = arr[:, i] >= 0
            logp += np.where(on, lz[np.maximum(arr[:, i], 0)], 0.0)
        return logp

    def update(self, batch: list[list[int]], advantages: np.ndarray, entropy_weight: float) -> None:
        """One Adam step descending ``-mean(adv * log p) - entropy_weight * mean(H)`` (H over the
        choices active in each architecture)."""
        arr = np.asarray(batch)
        n = len(arr)
        grads = []
        for i, z in enumerate(self.logits):
            p = _softmax(z)
            logp = np.log(np.maximum(p, 1e-300))
            h = -float(p @ logp)
            on = arr[:, i] >= 0
            adv = advantages[on]
            # d log p_k / dz = e_k - p;   dH / dz = -p * (log p + H)
            g = -(np.bincount(arr[on, i], weights=adv, minlength=len(z)) - adv.sum() * p) / n
            g += entropy_weight * int(on.sum()) * p * (logp + h) / n
            grads.append(g)
        self.opt.step(grads)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread: the controller's tensors are tiny, and on a busy machine torch's
    thread pool made each small op take milliseconds instead of microseconds."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class LSTMController:
    """An autoregressive LSTM: step ``t`` emits choice ``t``'s logits from the hidden state and feeds
    the taken option's embedding to step ``t+1``; inactive choices are skipped (state unchanged)."""

    def __init__(self, layout: Layout, lr: float, hidden_size: int, seed: int) -> None:
        import torch

        self.layout, self.hidden = layout, hidden_size
        with _one_thread():
            self._build(torch, lr, seed)
        self._refresh()

    def _build(self, torch: Any, lr: float, seed: int) -> None:
        H, T = self.hidden, self.layout.encoding_size
        gen = torch.Generator().manual_seed(seed)

        def uniform(*shape: int) -> Any:
            return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 0.2 - 0.1).requires_grad_()

        # the embedding table has one row per option of every choice, plus a start token (last row)
        self.params = {
            "emb": uniform(T + 1, H), "w_ih": uniform(4 * H, H), "w_hh": uniform(4 * H, H), "b": uniform(4 * H),
            "wout": uniform(H, T), "bout": torch.zeros(T, requires_grad=True),
        }
        self.opt = torch.optim.Adam(list(self.params.values()), lr=lr)

    def _refresh(self) -> None:
        self.np = {k: v.detach().numpy().astype(np.float64) for k, v in self.params.items()}

    # -- numpy forward (sampling and scoring) ------------------------------------------
    def _step_np(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One LSTM step (gates in torch.lstm_cell's order: input, forget, cell, output)."""
        p, H = self.np, self.hidden
        g = x @ p["w_ih"].T + h @ p["w_hh"].T + p["b"]
        i, f = 1 / (1 + np.exp(-g[..., :H])), 1 / (1 + np.exp(-g[..., H:2 * H]))
        o = 1 / (1 + np.exp(-g[..., 3 * H:]))
        c = f * c + i * np.tanh(g[..., 2 * H:3 * H])
        return o * np.tanh(c), c

    def sample(self, rng: np.random.Generator, n: int, temperature: float = 1.0) -> np.ndarray:
        """``n`` architectures (rows of option indices, -1 = inactive), sampled step by step."""
        lay, p = self.layout, self.np
        u = rng.random((n, len(lay.sizes)))
        idx = np.full((n, len(lay.sizes)), -1)
        h = c = np.zeros((n, self.hidden))
        x = np.repeat(p["emb"][lay.encoding_size][None, :], n, axis=0)
        for i in range(len(lay.sizes)):
            on = lay.active_rows(i, idx)
            if not on.any():
                continue
            h2, c2 = self._step_np(x, h, c)
            h, c = np.where(on[:, None], h2, h), np.where(on[:, None], c2, c)
            a, b = lay.offsets[i], lay.offsets[i + 1]
            k = _draw(_softmax((h @ p["wout"][:, a:b] + p["bout"][a:b]) / temperature), u[:, i])
            idx[:, i] = np.where(on, k, -1)
            x = np.where(on[:, None], p["emb"][a + k], x)
        return idx

    def log_probs(self, batch: list[list[int]]) -> np.ndarray:
        lay, p = self.layout, self.np
        arr = np.asarray(batch)
        B = len(batch)
        h = c = np.zeros((B, self.hidden))
        x = np.repeat(p["emb"][lay.encoding_size][None, :], B, axis=0)
        logp = np.zeros(B)
        for i in range(len(lay.sizes)):
            on = arr[:, i] >= 0
            if not on.any():
                continue
            h2, c2 = self._step_np(x, h, c)
            h, c = np.where(on[:, None], h2, h), np.where(on[:, None], c2, c)
            a, b = lay.offsets[i], lay.offsets[i + 1]
            z = h @ p["wout"][:, a:b] + p["bout"][a:b]
            z = z - z.max(axis=1, keepdims=True)
            lz = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            k = np.maximum(arr[:, i], 0)
            logp += np.where(on, lz[np.arange(B), k], 0.0)
            x = np.where(on[:, None], p["emb"][a + k], x)
        return logp

    # -- torch update -----------------------------------------------------------------
    def update(self, batch: list[list[int]], advantages: np.ndarray, entropy_weight: float) -> None:
        with _one_thread():
            self._update(batch, advantages, entropy_weight)

    def _update(self, batch: list[list[int]], advantages: np.ndarray, entropy_weight: float) -> None:
        import torch

        lay, p, H = self.layout, self.params, self.hidden
        arr = torch.as_tensor(np.asarray(batch), dtype=torch.long)
        B = arr.shape[0]
        h = c = torch.zeros(B, H)
        x = p["emb"][lay.encoding_size].expand(B, H)
        logp = torch.zeros(B)
        ent = torch.zeros(B)
        for i in range(len(lay.sizes)):
            on = arr[:, i] >= 0
            if not bool(on.any()):
                continue
            every = bool(on.all())
            h2, c2 = torch.lstm_cell(x, (h, c), p["w_ih"], p["w_hh"], p["b"], None)
            m = on[:, None]
            h, c = (h2, c2) if every else (torch.where(m, h2, h), torch.where(m, c2, c))
            a, b = int(lay.offsets[i]), int(lay.offsets[i + 1])
            lz = torch.log_softmax(h @ p["wout"][:, a:b] + p["bout"][a:b], dim=1)
            k = arr[:, i].clamp(min=0)
            step_logp = lz.gather(1, k[:, None])[:, 0]
            step_ent = -(lz.exp() * lz).sum(dim=1)
            emb = p["emb"][a + k]
            if not every:
                zero = torch.zeros(B)
                step_logp, step_ent = torch.where(on, step_logp, zero), torch.where(on, step_ent, zero)
                emb = torch.where(m, emb, x)
            logp = logp + step_logp
            ent = ent + step_ent
            x = emb
        adv = torch.as_tensor(advantages, dtype=torch.float32)
        loss = -(adv * logp).mean() - entropy_weight * ent.mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self._refresh()


class Reinforce(Strategy):
    """Policy-gradient search with an LSTM or factorized controller (``reinforce``).

    Options: ``controller`` ('lstm' or 'factorized'); ``lr``, the Adam learning
    rate (None: 0.005 for the LSTM, 0.05 for factorized logits);
    ``baseline_decay`` of the moving-average baseline, in [0, 1);
    ``entropy_weight`` >= 0; ``memory``, 0 = off, N = replay the best N
    results in every update; ``hidden_size`` of the LSTM; ``unique``, avoid
    proposing evaluated or pending architectures.
    """

    name = "reinforce"

    def __init__(self, space: SearchSpace, seed: int | None = None, controller: str = "lstm",
                 lr: float | None = None, baseline_decay: float = 0.95, entropy_weight: float = 0.0001,
                 memory: int = 5, hidden_size: int = 32, unique: bool = True) -> None:
        super().__init__(space, seed)
        self.controller = check_choice("controller", controller, ("lstm", "factorized"))
        if lr is not None:
            check_number("lr", lr, 0.0, low_open=True, extra=" (or None for the controller's default)")
        self.lr = lr
        check_number("baseline_decay", baseline_decay, 0.0, 1.0, high_open=True)
        check_number("entropy_weight", entropy_weight, 0.0)
        self.baseline_decay, self.entropy_weight = baseline_decay, entropy_weight  # stored unchanged
        self.memory = check_int("memory", memory, 0)
        self.hidden_size = check_int("hidden_size", hidden_size, 1)
        if not isinstance(unique, (bool, np.bool_)):
            raise ValueError(f"unique must be true or false, got {unique!r}")
        self.unique = bool(unique)
        self._layout = space.layout
        self._policy: FactorizedController | LSTMController | None = None
        self._stats = RunningStats()
        self.baseline = 0.0
        self._seen: set[str] = set()
        self._best: list[tuple[float, int, list[int], str]] = []  # (objective, tell number, indices, key)
        self._best_keys: set[str] = set()

    @property
    def policy(self) -> FactorizedController | LSTMController:
        """The controller, built on first use (so torch is imported only when needed)."""
        if self._policy is None:
            lr = self.lr if self.lr is not None else DEFAULT_LR[self.controller]
            if self.controller == "lstm":
                self._policy = LSTMController(self._layout, float(lr), self.hidden_size, self.seed % (2 ** 63))
            else:
                self._policy = FactorizedController(self._layout, float(lr))
        return self._policy

    # -- ask ----------------------------------------------------------------------
    def _make(self, idx: list[int]) -> Architecture | None:
        try:
            return self.space.make(self._layout.values(idx))
        except InvalidArchitectureError:
            return None

    def _ask(self, rng: np.random.Generator) -> Architecture:
        seen = (self._seen | set(self.pending)) if self.unique else set()
        draw: Architecture | None = None
        for temperature in _TEMPERATURES:
            for row in self.policy.sample(rng, _POLICY_DRAWS, temperature):
                arch = self._make([int(k) for k in row])
                if arch is None:
                    continue
                if self.space.key(arch) not in seen:
                    return arch
                draw = draw or arch
            if draw is None:  # every draw was invalid: resample valid architectures by policy probability
                cands = [self.space.sample(rng) for _ in range(_SIR_CANDIDATES)]
                fresh = [a for a in cands if self.space.key(a) not in seen] or cands
                logp = self.policy.log_probs([self._layout.indices(a.as_dict()) for a in fresh])
                return fresh[int(_draw(_softmax(logp), rng.random()))]
        for _ in range(_FALLBACK_TRIES):
            arch = self.space.sample(rng)
            if self.space.key(arch) not in seen:
                return arch
        return draw  # (nearly) exhausted space: a repeat

    # -- tell ---------------------------------------------------------------------
    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        self._seen.add(key)
        idx = self._layout.indices(arch.as_dict())
        obj = result.value
        if obj is not None:
            self._stats.add(float(obj))
            reward = self._stats.z(float(obj))
        else:
            reward = self._stats.z(self._stats.min) if self._stats.n > 1 else -1.0
        batch, rewards = [idx], [reward]
        for o, _, m_idx, _ in self._best:
            batch.append(m_idx)
            rewards.append(self._stats.z(o))
        adv = np.asarray(rewards) - self.baseline
        self.policy.update(batch, adv, self.entropy_weight)
        self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        if self.memory and obj is not None and key not in self._best_keys:
            self._best.append((float(obj), self.n_told, idx, key))
            self._best.sort(key=lambda e: (-e[0], e[1]))  # best first, earlier first among ties
            self._best_keys.add(key)
            if len(self._best) > self.memory:
                self._best_keys.discard(self._best.pop()[3])
