"""An ensemble of small MLP regressors (PyTorch), the surrogate of BANANAS.

The members differ only in their random initialisation (as in BANANAS,
White et al., AAAI 2021); their spread is the uncertainty. The members are
trained together as one batched model (weights shaped ``members x in x out``),
full batch with Adam, which keeps a refit to a few tens of milliseconds on a
CPU for the hundreds of rows a search produces. Always runs on the CPU, on
one thread: the models are tiny, and a GPU round trip or extra threads
would cost more than they save (see :func:`~nasforge.predictors.base.one_thread`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.options import check_int, check_number
from nasforge.predictors.base import (Predictor, check_hidden, check_xy,
                                      normalized, one_thread, resolve_seed, standardize)

LOSSES = ("mae", "mse")


def init_layers(torch: Any, sizes: list[int], members: int, gen: Any) -> list[Any]:
    """Weights and biases for ``members`` stacked MLPs, uniform(+-1/sqrt(fan_in)) like ``nn.Linear``."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        w = (torch.rand(members, fan_in, fan_out, generator=gen) * 2 - 1) * bound
        b = (torch.rand(members, 1, fan_out, generator=gen) * 2 - 1) * bound
        params += [w.requires_grad_(), b.requires_grad_()]
    return params


def forward(torch: Any, params: list[Any], X: Any) -> Any:
    """Outputs (members x rows) of the stacked MLPs on rows ``X`` (rows x features)."""
    h = X.unsqueeze(0).expand(params[0].shape[0], *X.shape)
    last = len(params) // 2 - 1
    for i in range(0, len(params), 2):
        h = torch.baddbmm(params[i + 1], h, params[i])
        if i // 2 < last:
            h = torch.relu(h)
    return h.squeeze(-1)


def adam(torch: Any, params: list[Any], lr: float, weight_decay: float) -> Any:
    """Adam, fused into one kernel where this torch supports it (its per-step overhead dominates here)."""
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def input_gradients(torch: Any, params: list[Any], X: Any) -> np.ndarray:
    """Mean absolute gradient of the outputs with respect to each input column."""
    Xg = X.clone().requires_grad_()
    forward(torch, params, Xg).sum().backward()
    return Xg.grad.abs().mean(0).numpy()


class MLPEnsemble(Predictor):
    """``n_members`` MLPs (``hidden`` widths, ReLU) trained for ``epochs`` full-batch Adam steps.

    ``loss`` is ``'mae'`` (BANANAS's choice, robust to outliers) or ``'mse'``;
    targets are standardised before training. ``predict`` is the members' mean,
    ``predict_dist`` the mean and standard deviation, ``predict_members`` every
    member's prediction (for Thompson sampling).
    """

    name = "mlp_ensemble"

    def __init__(self, n_members: int = 5, hidden: tuple[int, ...] = (32, 32), epochs: int = 150,
                 lr: float = 0.01, weight_decay: float = 0.0, loss: str = "mae",
                 random_state: int | None = None) -> None:
        who = "MLPEnsemble"
        self.n_members = check_int("n_members", n_members, 1, who=who)
        self.hidden = check_hidden(who, hidden)
        self.epochs = check_int("epochs", epochs, 1, who=who)
        self.lr = check_number("lr", lr, 0.0, low_open=True, who=who)
        self.weight_decay = check_number("weight_decay", weight_decay, 0.0, who=who)
        if loss not in LOSSES:
            raise ValueError(f"{who}: loss must be one of {', '.join(LOSSES)}; got {loss!r}")
        self.loss = loss
        self.random_state = random_state
        self._params: list[Any] | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MLPEnsemble":
        import torch

        X, y = check_xy(X, y, "MLPEnsemble")
        with one_thread(torch), torch.enable_grad():  # also when called under no_grad
            return self._fit(torch, X, y)

    def _fit(self, torch: Any, X: np.ndarray, y: np.ndarray) -> "MLPEnsemble":
        z, self._mu, self._sd = standardize(y)
        gen = torch.Generator().manual_seed(resolve_seed(self.random_state))
        params = init_layers(torch, [X.shape[1], *self.hidden, 1], self.n_members, gen)
        Xt = torch.from_numpy(X)
        zt = torch.from_numpy(z.astype(np.float32))
        opt = adam(torch, params, self.lr, self.weight_decay)
        for _ in range(self.epochs):
            opt.zero_grad(set_to_none=True)
            err = forward(torch, params, Xt) - zt
            loss = err.abs().mean() if self.loss == "mae" else (err * err).mean()
            loss.backward()
            opt.step()
        self._params = [p.detach() for p in params]
        self.feature_importances_ = normalized(input_gradients(torch, self._params, Xt))
        return self

    def predict_members(self, X: np.ndarray) -> np.ndarray:
        """Each member's prediction: an array of shape (n_members, rows)."""
        import torch

        if self._params is None:
            raise RuntimeError("MLPEnsemble: call fit before predict")
        with torch.no_grad(), one_thread(torch):
            out = forward(torch, self._params, torch.from_numpy(np.asarray(X, dtype=np.float32)))
        return out.numpy().astype(np.float64) * self._sd + self._mu

    def predict_dist(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The members' mean and standard deviation per row."""
        members = self.predict_members(X)
        return members.mean(0), members.std(0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_members(X).mean(0)
