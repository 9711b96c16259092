"""A learned latency predictor that adapts to a new device with a few measurements (the HELP idea).

HELP (Lee et al., NeurIPS 2021) treats latency prediction on an unseen device as a few-shot
regression problem. This module implements that idea in its own, small form:

- **Devices.** A device is anything that gives an architecture a latency: here a backend x
  thread count x batch size combination of this machine (``"onnxruntime:2:8"``, see
  :func:`parse_device`), or, from Python, any dict ``{architecture string: milliseconds}``
  (NAS-Bench-Graph's datasets are such devices of the ``nasbench-graph`` space).
- **Hardware embedding.** Every device is described by its latencies on a few fixed
  *reference architectures* (:func:`reference_archs`, fixed per space and seed). Latencies are
  compared in log space and standardised per device by the mean and standard deviation of its
  references' log latencies (:class:`DeviceStats`), so that milliseconds or seconds, fast or slow
  devices look alike; the embedding is the references' standardised log latencies.
- **Predictor.** On ``[features, embedding]``, where the features are ``space.encode(arch)``,
  the count of each option over choices that share their options (:func:`option_counts`: how
  many of NB201's six edges are 3x3 convolutions) and the space's cost features (for NB201: how
  many edges of each operation run at all, and how many reach the cell's output, which is all a graph
  runtime such as ONNX Runtime computes), it predicts the standardised log latency as
  a linear cost term ``features . (c + A embedding)`` (a cost per feature that the device
  shifts) plus a small MLP, whose size ``hidden="auto"`` chooses on held-out source devices.
- **Training** (:func:`meta_train`) over source devices, in episodes of a few devices with a
  support set (references and 10-20 architectures) and a query set each: ``multitask`` (the
  default) fits both directly; ``fomaml`` (first-order MAML) fits the query set after SGD steps
  on the support set.
- **Adaptation** (:meth:`MetaLatencyPredictor.adapt`) to a target device: SGD steps from the
  trained weights on the target's references and 10-20 measured architectures, as many and at the
  rate that cross-validation on those measurements chooses.

Which method and model generalise to a new device was measured (``benchmarks/latency_predictor.py``):
``multitask`` did much better than ``fomaml`` on NAS-Bench-Graph (Spearman 0.94 against 0.82-0.90) and
as well on NB201 networks measured here (0.90 against 0.90-0.91), and the linear term alone better than
with the MLP on NB201 (150 architectures per device), the other way round on NAS-Bench-Graph (1,000 per
device); hence the defaults.

:class:`LatencyPredictor` is the hardware model ``predictor`` (``--hardware predictor``): at
:meth:`~LatencyPredictor.prepare` it loads a saved predictor (``path``) or builds one on this machine
by measuring the ``sources`` devices (cached), measures the target (its own backend, threads and
batch size) on the references and ``adapt`` architectures, adapts, and then predicts milliseconds.
Everything runs on the CPU on one torch thread and is seeded: the same seed and data give the same
predictor.

From Python, with latencies of your own devices::

    from nasforge.evaluators.hardware.predictor import meta_train, reference_archs, save_predictor
    refs = reference_archs(space, 10, seed=0)            # measure these on every device
    meta = meta_train(space, {"phone": {...}, "jetson": {...}, ...}, refs)   # {arch string: ms}
    save_predictor(meta, "latency.npz")
    target = meta.adapt(space, {**reference_ms, **twenty_more_ms})   # {arch string: ms} on the new device
    target.predict(space, archs)                          # milliseconds
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.evaluators.hardware.measure import BACKENDS, check_backend
from nasforge.evaluators.hardware.models import (HardwareModel, MeasuredLatency, build_network, prepared_key,
                                                 space_params_json)
from nasforge.options import check_int, check_number
from nasforge.predictors.base import one_thread
from nasforge.spaces.base import Architecture, SearchSpace, sample_distinct

#: the source devices measured on this machine when none are given: both float backends, 1 and 2
#: threads, batch 1 and 8 (the target's own combination is left out)
DEFAULT_SOURCES: tuple[str, ...] = tuple(f"{b}:{t}:{n}" for b in ("torch", "onnxruntime")
                                         for t in (1, 2) for n in (1, 8))
#: meta-training methods of :func:`meta_train`
METHODS = ("multitask", "fomaml")
#: what a saved predictor file says it is
FORMAT = "nasforge-latency-predictor"
FORMAT_VERSION = 1
#: the smallest standard deviation of a device's reference log latencies (1 %), so that a device whose
#: references all take the same time does not blow up the standardisation
MIN_LOG_STD = 0.01
#: the largest gradient norm of one adaptation step (per device); larger gradients are scaled down to it
MAX_GRAD_NORM = 10.0
#: the fine-tuning learning rates ``method="multitask"`` chooses from (on source episodes)
FINETUNE_LRS = (0.001, 0.003, 0.01, 0.03, 0.1)
#: the adaptation lengths (SGD steps) :meth:`MetaLatencyPredictor.adapt` chooses from, with the rates of
#: :data:`FINETUNE_LRS`, by cross-validation on the target's own measurements (no step at all is a candidate too)
ADAPT_STEPS = (10, 30, 100)
#: folds of that cross-validation (fewer when fewer architectures besides the references were measured)
ADAPT_FOLDS = 5
#: how that cross-validation scores a schedule: ``mse`` (the default; the mean squared error of the pooled
#: out-of-fold predictions in standardised log latency) or ``spearman`` (their rank correlation)
ADAPT_CRITERIA = ("mse", "spearman")
#: the models ``hidden="auto"`` chooses from: the linear cost term alone, or with an MLP of two 64-wide layers
HIDDEN_CHOICES: tuple[tuple[int, ...], ...] = ((), (64, 64))
#: how many source devices ``hidden="auto"`` holds out in turn to choose the model
VALIDATION_DEVICES = 4


# ----------------------------------------------------------------------------- devices and references
def parse_device(spec: Any) -> tuple[str, int, int]:
    """``(backend, threads, batch_size)`` of a device spec ``"backend:threads:batch"`` (e.g.
    ``"onnxruntime:2:8"``), or of a sequence of those three values."""
    if isinstance(spec, str):
        parts = spec.strip().split(":")
    elif isinstance(spec, Sequence):
        parts = list(spec)
    else:
        parts = []
    expected = f"'backend:threads:batch' with backend one of {', '.join(BACKENDS)}, e.g. 'onnxruntime:2:8'"
    if len(parts) != 3:
        raise ConfigError(f"malformed device {spec!r}; expected {expected}")
    try:
        threads, batch = int(parts[1]), int(parts[2])
    except (TypeError, ValueError):
        raise ConfigError(f"malformed device {spec!r}; expected {expected}") from None
    if threads < 1 or batch < 1:
        raise ConfigError(f"device {spec!r}: threads and batch must be >= 1; expected {expected}")
    return check_backend(str(parts[0])), threads, batch


def device_name(backend: str, threads: int, batch_size: int) -> str:
    """The spec string of a device: ``"backend:threads:batch"``."""
    return f"{backend}:{int(threads)}:{int(batch_size)}"


def _device_list(sources: Any) -> list[str]:
    if sources is None:
        return list(DEFAULT_SOURCES)
    items = [s for s in sources.split(",") if s.strip()] if isinstance(sources, str) else list(sources)
    names = []
    for s in items:
        name = device_name(*parse_device(s))
        if name not in names:
            names.append(name)
    return names


def reference_archs(space: SearchSpace, n: int = 10, seed: int = 0) -> list[Architecture]:
    """The ``n`` reference architectures of ``space`` for ``seed``: distinct architectures drawn with
    ``numpy.random.default_rng(seed)``, the same on every machine. Every device is measured on them;
    their latencies are its hardware embedding."""
    n = check_int("references", n, minimum=2)
    refs = sample_distinct(space, n, np.random.default_rng(check_int("seed", seed, minimum=0)))
    if len(refs) < n:
        raise ConfigError(f"space {space.name!r} has only {len(refs)} architectures; {n} references asked for")
    return refs


def _arch(space: SearchSpace, key: Any) -> Architecture:
    if isinstance(key, Architecture):
        space.check(key)
        return key
    return space.parse(str(key))


def _normalised(space: SearchSpace, latencies: Mapping[Any, float], who: str) -> dict[str, float]:
    """``{space.to_string(arch): ms}`` of a ``{arch or string: ms}`` mapping; the values must be > 0."""
    out: dict[str, float] = {}
    for key, ms in latencies.items():
        value = float(ms)
        if not np.isfinite(value) or value <= 0:
            raise ConfigError(f"{who}: latency of {key!r} must be a finite number > 0 (milliseconds), got {ms!r}")
        out[space.to_string(_arch(space, key))] = value
    return out


def option_counts(space: SearchSpace) -> np.ndarray:
    """A 0/1 matrix (encoding columns x count columns) that turns the one-hot encoding into option counts:
    for every group of at least two choices with the same options (NB201's six edges, the operations of
    NAS-Bench-Graph's four nodes), how many of them take each option. Latency is close to a sum of
    per-operation costs, and counts say that directly; a space without such groups gets no columns."""
    lay = space.layout
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(lay.choices):
        groups.setdefault(tuple(c.options), []).append(i)
    blocks = []
    for options, members in groups.items():
        if len(members) < 2:
            continue
        block = np.zeros((lay.encoding_size, len(options)), dtype=np.float32)
        for i in members:
            for k in range(len(options)):
                block[lay.offsets[i] + k, k] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((lay.encoding_size, 0), dtype=np.float32)


def feature_size(space: SearchSpace) -> int:
    """Columns of the predictor's architecture features: the encoding, its :func:`option_counts` and the space's
    cost features (``space.cost_feature_names``)."""
    return space.encoding_size + option_counts(space).shape[1] + len(space.cost_feature_names)


def encode_features(space: SearchSpace, keys: Iterable[Any]) -> np.ndarray:
    """The predictor's architecture features of ``keys`` (architectures or strings of ``space``), one row each:
    ``space.encode(arch)``, its :func:`option_counts` and ``space.cost_features(arch)`` (what the network
    computes, for spaces that say: which NB201 edges run and which reach the output)."""
    archs = [_arch(space, k) for k in keys]
    X = np.zeros((len(archs), space.encoding_size), dtype=np.float32)
    C = np.zeros((len(archs), len(space.cost_feature_names)), dtype=np.float32)
    for i, arch in enumerate(archs):
        X[i] = space.encode(arch)
        C[i] = space.cost_features(arch)
    return np.concatenate([X, X @ option_counts(space), C], axis=1)


@dataclass(frozen=True)
class DeviceStats:
    """How latencies of one device are standardised: ``z = (log(ms) - mean) / std`` with the mean and
    standard deviation of its references' log latencies; ``embedding`` is their ``z`` (its hardware
    embedding, in reference order)."""

    mean: float
    std: float
    embedding: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, reference_ms: Sequence[float]) -> "DeviceStats":
        logs = np.log(np.asarray(reference_ms, dtype=np.float64))
        mean, std = float(logs.mean()), max(float(logs.std()), MIN_LOG_STD)
        return cls(mean, std, ((logs - mean) / std).astype(np.float32))

    def z(self, ms: Any) -> np.ndarray:
        return ((np.log(np.asarray(ms, dtype=np.float64)) - self.mean) / self.std).astype(np.float32)

    def ms(self, z: Any) -> np.ndarray:
        return np.exp(self.mean + self.std * np.asarray(z, dtype=np.float64))


def _reference_ms(measured: Mapping[str, float], references: Sequence[str], who: str) -> list[float]:
    missing = [r for r in references if r not in measured]
    if missing:
        raise ConfigError(f"{who}: no latency for {len(missing)} of the {len(references)} reference architectures "
                          f"(e.g. {missing[0]!r}); every device must be measured on all of them "
                          f"(see reference_archs)")
    return [measured[r] for r in references]


# ----------------------------------------------------------------------------- the network
def _init(torch: Any, encoding: int, references: int, hidden: Sequence[int], gen: Any) -> list[Any]:
    """The predictor's weights: an MLP on ``[encoding, embedding]`` (``nn.Linear``'s uniform initialisation),
    then a per-column cost vector ``c`` and a matrix ``A`` of the linear term ``x . (c + A h)`` (zeros)."""
    params = []
    sizes = [encoding + references, *hidden, 1]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        params.append((torch.rand(fan_in, fan_out, generator=gen) * 2 - 1) * bound)
        params.append((torch.rand(fan_out, generator=gen) * 2 - 1) * bound)
    return params + [torch.zeros(encoding), torch.zeros(encoding, references)]


def _forward(torch: Any, params: Sequence[Any], X: Any) -> Any:
    """Predictions for rows ``X = [x, h]`` (encoding, embedding): the MLP's output plus ``x . (c + A h)``, a
    cost per encoding column that the device's embedding shifts (latency is close to a sum of per-operation
    costs, which this term states directly). ``X`` is (rows x features) with unbatched weights, or (tasks x
    rows x features) with weights carrying a leading task dimension."""
    *mlp, c, A = params
    h = X
    last = len(mlp) // 2 - 1
    for i in range(0, len(mlp), 2):
        w, b = mlp[i], mlp[i + 1]
        h = torch.baddbmm(b.unsqueeze(1), h, w) if w.dim() == 3 else torch.addmm(b, h, w)
        if i // 2 < last:
            h = torch.relu(h)
    E = A.shape[-2]
    x, emb = X[..., :E], X[..., E:]
    if A.dim() == 3:
        costs = c + torch.bmm(emb[:, :1], A.transpose(1, 2)).squeeze(1)  # the embedding is the same on every row
        return h.squeeze(-1) + (x * costs.unsqueeze(1)).sum(-1)
    return h.squeeze(-1) + x @ (c + A @ emb[0]) if len(X) else h.squeeze(-1)


def _task_losses(torch: Any, params: Sequence[Any], X: Any, z: Any, mask: Any) -> Any:
    """Masked mean squared error per task (tasks x rows inputs)."""
    err = (_forward(torch, params, X) - z) ** 2 * mask
    return err.sum(1) / mask.sum(1).clamp(min=1.0)


def _sgd_steps(torch: Any, params: Sequence[Any], X: Any, z: Any, mask: Any, steps: int, lr: float) -> list[Any]:
    """``steps`` plain gradient steps of every task's weights on its own masked loss (tasks are independent,
    so one backward pass of the summed losses gives each its own gradient); each step is cut off from the
    graph (first order)."""
    fast = list(params)
    for _ in range(steps):
        grads = torch.autograd.grad(_task_losses(torch, fast, X, z, mask).sum(), fast)
        # each task's step is at most lr * MAX_GRAD_NORM long: a device unlike the ones seen cannot diverge
        norm = torch.sqrt(sum((g.detach() ** 2).flatten(1).sum(1) for g in grads))
        scale = MAX_GRAD_NORM / norm.clamp(min=MAX_GRAD_NORM)
        new = []
        for p, g in zip(fast, grads):
            step = p - lr * g * scale.view(-1, *([1] * (g.dim() - 1)))
            new.append(step.detach().requires_grad_())
        fast = new
    return fast


def _per_task(params: Sequence[Any], tasks: int) -> list[Any]:
    """A copy of the weights per task (a leading task dimension), each a leaf of its own."""
    return [p.detach().unsqueeze(0).expand(tasks, *p.shape).clone().requires_grad_() for p in params]


def _episode(data: Sequence[tuple[np.ndarray, ...]], rng: np.random.Generator, tasks: int, k_min: int, k_max: int,
             query: int) -> tuple[np.ndarray, ...]:
    """One meta-training episode: ``tasks`` devices drawn from ``data`` (per device: reference inputs and
    targets, other architectures' inputs and targets); per device a support set (its references and
    ``k_min..k_max`` random others) and a query set (up to ``query`` of the rest), padded and masked:
    ``(support inputs, targets, mask, query inputs, targets, mask)``."""
    R, width = data[0][0].shape
    S = np.zeros((tasks, R + k_max, width), np.float32)
    zS = np.zeros((tasks, R + k_max), np.float32)
    mS = np.zeros((tasks, R + k_max), np.float32)
    Q = np.zeros((tasks, query, width), np.float32)
    zQ = np.zeros((tasks, query), np.float32)
    mQ = np.zeros((tasks, query), np.float32)
    for t, d in enumerate(rng.integers(len(data), size=tasks)):
        Xr, zr, Xa, za = data[int(d)]
        k = min(int(rng.integers(k_min, k_max + 1)), len(za) - 1)
        perm = rng.permutation(len(za))
        sup, qry = perm[:k], perm[k:k + query]
        S[t, :R], zS[t, :R], mS[t, :R] = Xr, zr, 1.0
        S[t, R:R + k], zS[t, R:R + k], mS[t, R:R + k] = Xa[sup], za[sup], 1.0
        Q[t, :len(qry)], zQ[t, :len(qry)], mQ[t, :len(qry)] = Xa[qry], za[qry], 1.0
    return S, zS, mS, Q, zQ, mQ


def _inputs(X: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    return np.concatenate([X, np.broadcast_to(embedding, (len(X), len(embedding)))], axis=1).astype(np.float32)


# ----------------------------------------------------------------------------- predictors
@dataclass
class AdaptedLatencyPredictor:
    """A latency predictor for one device: weights adapted to it and the device's standardisation.
    :meth:`predict` gives milliseconds. Made by :meth:`MetaLatencyPredictor.adapt` or :func:`fit_from_scratch`."""

    params: list[np.ndarray] = field(repr=False)
    stats: DeviceStats
    measured: dict[str, float] = field(default_factory=dict, repr=False)
    #: how it was adapted: ``steps``, ``lr``, ``by`` (``cross-validation``, ``meta-training`` or ``given``) and,
    #: after cross-validation, ``scores`` (``"steps@lr"``: out-of-fold score, ``"0"``: no step)
    schedule: dict[str, Any] = field(default_factory=dict)

    def predict_z(self, X: np.ndarray) -> np.ndarray:
        """Standardised log latency of feature rows ``X`` (rows x :func:`feature_size` columns)."""
        import torch

        X = np.asarray(X, dtype=np.float32)
        width = self.params[-2].shape[0]
        if X.ndim != 2 or X.shape[1] != width:
            raise ConfigError(f"latency predictor: expected rows of {width} feature columns, "
                              f"got an array of shape {X.shape}")
        with torch.no_grad(), one_thread(torch):
            params = [torch.from_numpy(p) for p in self.params]
            out = _forward(torch, params, torch.from_numpy(_inputs(X, self.stats.embedding)))
        return out.numpy().astype(np.float64)

    def predict(self, space: SearchSpace, archs: Sequence[Any]) -> np.ndarray:
        """Predicted milliseconds of ``archs`` (architectures or strings of ``space``)."""
        return self.stats.ms(self.predict_z(encode_features(space, archs)))


@dataclass
class MetaLatencyPredictor:
    """A trained latency predictor (:func:`meta_train`): its weights, what it was made for and how.

    ``space``/``space_params``/``encoding_size`` say which space it encodes, ``input_shape`` and
    ``num_classes`` the task its source latencies were measured for (None when unknown, e.g. tabular
    latencies), ``references`` the reference architectures (strings) every device is embedded by,
    ``devices`` the source devices, ``options`` the meta-training options (the adaptation steps and
    learning rate among them, which :meth:`adapt` uses)."""

    params: list[np.ndarray] = field(repr=False)
    space: str
    space_params: dict[str, Any]
    encoding_size: int
    references: list[str]
    devices: list[str]
    options: dict[str, Any]
    input_shape: list[int] | None = None
    num_classes: int | None = None

    def adapt(self, space: SearchSpace, measured: Mapping[Any, float], steps: int | None = None,
              lr: float | None = None, select: str = "mse") -> AdaptedLatencyPredictor:
        """The predictor adapted to a new device from its ``measured`` latencies (``{arch or string: ms}``),
        which must hold every reference architecture; the other entries are the adaptation samples
        (10-20 is what the meta-training prepared for).

        How far to move from the trained weights depends on how much the device differs from the sources, which
        only its measurements tell: unless ``steps`` or ``lr`` is given, the schedule (no step, the
        meta-training's inner steps and rate, or :data:`ADAPT_STEPS` SGD steps at a rate of :data:`FINETUNE_LRS`)
        is chosen by cross-validation over the samples (:data:`ADAPT_FOLDS` folds, the references always in;
        ``select``: the mean squared error of the pooled out-of-fold predictions in standardised log latency,
        ``mse``, or their ``spearman`` rank correlation), then applied to all of them. (Measured: by squared error
        it ranks as well as by Spearman and keeps the predicted milliseconds calibrated; by Spearman the mean
        absolute percentage error grew 1.1-2.8 times.) With fewer than 4 samples, or one of ``steps``/``lr``
        given, the meta-training's inner steps and rate fill in.
        ``schedule`` of the result says what was used."""
        check_space(self, space)
        if select not in ADAPT_CRITERIA:
            raise ConfigError(f"adapt: unknown select {select!r}; accepted: {', '.join(ADAPT_CRITERIA)}")
        data = _normalised(space, measured, "adapt")
        stats = DeviceStats.of(_reference_ms(data, self.references, "adapt"))
        keys = list(self.references) + [k for k in data if k not in set(self.references)]
        X = _inputs(encode_features(space, keys), stats.embedding)
        z = stats.z([data[k] for k in keys])
        samples = len(keys) - len(self.references)
        if steps is None and lr is None and samples >= 4:
            steps, lr, scores = _cross_validated_schedule(self.params, X, z, len(self.references), select,
                                                          (int(self.options["inner_steps"]),
                                                           float(self.options["inner_lr"])))
            schedule = {"steps": steps, "lr": lr, "by": "cross-validation", "select": select, "scores": scores}
        else:
            by = "given" if steps is not None or lr is not None else "meta-training"
            steps = check_int("steps", self.options["inner_steps"] if steps is None else steps, minimum=0,
                              who="adapt")
            lr = check_number("lr", self.options["inner_lr"] if lr is None else lr, 0.0, low_open=True, who="adapt")
            schedule = {"steps": steps, "lr": lr, "by": by}
        adapted = _adapted(self.params, X, z, steps, lr)
        return AdaptedLatencyPredictor(adapted, stats, {space.key(_arch(space, k)): v for k, v in data.items()},
                                       schedule)

    def zero_shot(self, space: SearchSpace, reference_ms: Mapping[Any, float]) -> AdaptedLatencyPredictor:
        """The predictor for a device known only by its reference latencies (no adaptation step)."""
        return self.adapt(space, {k: v for k, v in _normalised(space, reference_ms, "zero_shot").items()
                                  if k in set(self.references)}, steps=0)

    def describe(self) -> dict[str, Any]:
        """What the predictor was made for and how (JSON-serialisable)."""
        return {"space": self.space, "space_params": self.space_params, "encoding_size": self.encoding_size,
                "input_shape": self.input_shape, "num_classes": self.num_classes, "references": len(self.references),
                "devices": list(self.devices), "options": dict(self.options)}


def check_space(pred: MetaLatencyPredictor, space: SearchSpace, input_shape: Sequence[int] | None = None,
                where: str = "the latency predictor") -> None:
    """Raise :class:`~nasforge.errors.ConfigError` unless ``pred`` was made for ``space`` (name, options,
    encoding size) and, when both are known, for inputs of ``input_shape``."""
    params = space_params_json(space.get_params())
    if pred.space != space.name or space_params_json(pred.space_params) != params:
        raise ConfigError(f"{where} was meta-trained for space {pred.space!r} with options "
                          f"{space_params_json(pred.space_params)}; this space is {space.name!r} with options {params}")
    if pred.encoding_size != space.encoding_size:
        raise ConfigError(f"{where} takes encodings of {pred.encoding_size} columns; space {space.name!r} "
                          f"encodes architectures in {space.encoding_size}")
    if pred.params[-2].shape[0] != feature_size(space):
        raise ConfigError(f"{where} takes {pred.params[-2].shape[0]} feature columns; space {space.name!r} "
                          f"gives {feature_size(space)} (its encoding, option counts and cost features; a predictor "
                          f"saved before a space had cost features must be trained again)")
    if input_shape is not None and pred.input_shape is not None:
        shape = [int(d) for d in input_shape]
        if shape != list(pred.input_shape):
            raise ConfigError(f"{where} was meta-trained on latencies for input shape {pred.input_shape}; "
                              f"this task's input shape is {shape}")


# ----------------------------------------------------------------------------- meta-training
def meta_train(space: SearchSpace, devices: Mapping[str, Mapping[Any, float]],
               references: Sequence[Any] | None = None, *, adapt: int = 20, method: str = "multitask",
               hidden: Sequence[int] | str = "auto", meta_steps: int = 1500, meta_batch: int = 8,
               inner_steps: int = 10, inner_lr: float = 0.05, lr: float = 1e-3, query: int = 64, seed: int = 0,
               input_shape: Sequence[int] | None = None, num_classes: int | None = None,
               progress: Callable[[str], None] | None = None) -> MetaLatencyPredictor:
    """Train a latency predictor on source ``devices`` (``{device name: {arch or string: ms}}``).

    ``references`` are the reference architectures (default :func:`reference_archs` ``(space, 10, seed)``);
    every device must hold all of them, and at least two other architectures. Training runs ``meta_steps``
    Adam steps (``lr``) on episodes of ``meta_batch`` source devices, each with a support set (its references
    and ``adapt // 2`` to ``adapt`` random architectures) and a query set (up to ``query`` others). ``method``:

    - ``multitask`` (the default): the weights fit support and query sets directly; adapting to a new device
      then takes ``inner_steps`` SGD steps at the rate of :data:`FINETUNE_LRS` that adapts best on source
      episodes;
    - ``fomaml`` (first-order MAML): a copy of the weights takes ``inner_steps`` SGD steps at ``inner_lr`` on
      each device's support set and the shared weights move along the gradient of the copies' query error.

    ``hidden`` are the MLP's widths beside the linear cost term (``()`` or ``"linear"``: that term alone), or
    ``"auto"``: the one of :data:`HIDDEN_CHOICES` that ranks best the architectures of source devices it was
    not trained on, adapted to each like a target (see :func:`_device_out_errors`), where the larger model is
    taken only if it beats the smaller by more than one standard error of the paired differences over those
    devices (:func:`_choose_model`; with fewer than three source devices, the linear term alone). How much
    capacity carries over to a new device depends on how many devices and architectures there are to learn
    from: on NB201 networks measured on nine devices the linear term won, on NAS-Bench-Graph's eight datasets
    the MLP. ``input_shape``/``num_classes`` record the task the latencies were measured for (checked when a
    saved predictor is used). Same data and seed, same predictor.
    """
    who = "meta_train"
    adapt = check_int("adapt", adapt, minimum=1, who=who)
    if method not in METHODS:
        raise ConfigError(f"{who}: unknown method {method!r}; accepted: {', '.join(METHODS)}")
    if isinstance(hidden, str):
        if hidden not in ("auto", "linear"):
            raise ConfigError(f"{who}: hidden must be 'auto', 'linear' or a sequence of layer widths, got {hidden!r}")
        choices = [list(h) for h in HIDDEN_CHOICES] if hidden == "auto" else [[]]
    else:
        choices = [[check_int("hidden width", h, minimum=1, who=who) for h in hidden]]
    opts = {"method": method, "meta_steps": check_int("meta_steps", meta_steps, minimum=1, who=who),
            "meta_batch": check_int("meta_batch", meta_batch, minimum=1, who=who),
            "inner_steps": check_int("inner_steps", inner_steps, minimum=0, who=who),
            "inner_lr": check_number("inner_lr", inner_lr, 0.0, low_open=True, who=who),
            "lr": check_number("lr", lr, 0.0, low_open=True, who=who),
            "sizes": (max(1, adapt // 2), adapt, check_int("query", query, minimum=1, who=who)),
            "seed": check_int("seed", seed, minimum=0, who=who)}
    if not devices:
        raise ConfigError(f"{who}: no source devices given; pass {{device name: {{arch: ms}}}} for at least one")
    refs = [space.to_string(_arch(space, r)) for r in (references if references is not None
                                                       else reference_archs(space, 10, seed))]
    if len(set(refs)) != len(refs) or len(refs) < 2:
        raise ConfigError(f"{who}: references must be at least two distinct architectures, got {len(refs)}")
    ref_set = set(refs)
    X_ref = encode_features(space, refs)
    data = []
    for name, lat in devices.items():
        d = _normalised(space, lat, f"{who}: device {name!r}")
        stats = DeviceStats.of(_reference_ms(d, refs, f"{who}: device {name!r}"))
        keys = [k for k in d if k not in ref_set]
        if len(keys) < 2:
            raise ConfigError(f"{who}: device {name!r} has {len(keys)} architectures besides the references; "
                              f"at least 2 are needed (one to adapt on, one to score)")
        data.append((_inputs(X_ref, stats.embedding), stats.z([d[r] for r in refs]),
                     _inputs(encode_features(space, keys), stats.embedding), stats.z([d[k] for k in keys])))
    selection: dict[str, float] = {}
    if len(choices) > 1 and len(data) < 3:
        choices = choices[:1]  # too few devices to tell: the smallest model
    elif len(choices) > 1:
        errors = {",".join(map(str, h)) or "linear": _device_out_errors(data, h, adapt, opts) for h in choices}
        selection = {k: float(np.mean(v)) for k, v in errors.items()}
        best = _choose_model(errors)
        choices = [[] if best == "linear" else [int(w) for w in best.split(",")]]
        if progress is not None:
            progress("latency predictor: 1 - Spearman on held-out source devices per model: "
                     + ", ".join(f"{k} {v:.3f}" for k, v in selection.items()) + f"; using {best}")
    params, rate = _fit(data, choices[0], opts, progress)
    options = {"adapt": adapt, "method": method, "hidden": choices[0], "hidden_selection": selection,
               "meta_steps": opts["meta_steps"], "meta_batch": opts["meta_batch"], "inner_steps": opts["inner_steps"],
               "inner_lr": rate, "lr": opts["lr"], "query": opts["sizes"][2], "seed": opts["seed"]}
    return MetaLatencyPredictor(params, space.name, json.loads(space_params_json(space.get_params())),
                                space.encoding_size, refs,
                                [str(n) for n in devices], options,
                                None if input_shape is None else [int(d) for d in input_shape],
                                None if num_classes is None else int(num_classes))


def _choose_model(errors: Mapping[str, Sequence[float]]) -> str:
    """The model of ``errors`` (``{name: error per held-out device}``, smallest model first, the same devices
    for each) to use: a larger model replaces the one chosen so far only if its mean paired improvement over the
    devices exceeds one standard error of those improvements (the one-standard-error rule: with a handful of
    devices, a slightly lower mean error is noise, and the smaller model transfers more safely)."""
    names = list(errors)
    best = names[0]
    for other in names[1:]:
        diff = np.asarray(errors[best], dtype=np.float64) - np.asarray(errors[other], dtype=np.float64)
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        if diff.mean() > se:
            best = other
    return best


def _fit(data: Sequence[tuple[np.ndarray, ...]], hidden: Sequence[int], opts: Mapping[str, Any],
         progress: Callable[[str], None] | None) -> tuple[list[np.ndarray], float]:
    """The training loop of :func:`meta_train` on prepared ``data``: the weights and the adaptation rate."""
    import torch

    rng = np.random.default_rng(opts["seed"])
    method, tasks, steps, inner_lr, sizes = (opts["method"], opts["meta_batch"], opts["meta_steps"],
                                             opts["inner_lr"], opts["sizes"])
    R, width = data[0][0].shape
    t0 = time.perf_counter()
    with one_thread(torch), torch.enable_grad():
        gen = torch.Generator().manual_seed(opts["seed"])
        params = [p.requires_grad_() for p in _init(torch, width - R, R, hidden, gen)]
        opt = torch.optim.Adam(params, lr=opts["lr"])
        for step in range(steps):
            S, zS, mS, Q, zQ, mQ = (torch.from_numpy(a) for a in _episode(data, rng, tasks, *sizes))
            opt.zero_grad(set_to_none=True)
            if method == "fomaml":
                fast = _sgd_steps(torch, _per_task(params, tasks), S, zS, mS, opts["inner_steps"], inner_lr)
                loss = _task_losses(torch, fast, Q, zQ, mQ).mean()
                grads = torch.autograd.grad(loss, fast)
                for p, g in zip(params, grads):
                    p.grad = g.sum(0)
            else:
                batched = [p.unsqueeze(0).expand(tasks, *p.shape) for p in params]
                loss = (_task_losses(torch, batched, S, zS, mS) + _task_losses(torch, batched, Q, zQ, mQ)).mean()
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
            opt.step()
            if progress is not None and (step + 1) % max(1, steps // 5) == 0:
                progress(f"latency predictor: training step {step + 1}/{steps}, query loss "
                         f"{float(loss.detach()):.3f} ({time.perf_counter() - t0:.0f} s)")
        if method == "multitask":
            # pretrained weights were never asked to survive SGD steps at inner_lr: the fine-tuning rate is
            # the one of FINETUNE_LRS whose adapted copies score best on fresh source episodes
            episodes = [[torch.from_numpy(a) for a in _episode(data, rng, tasks, *sizes)] for _ in range(8)]

            def after(rate: float) -> float:
                total = 0.0
                for S, zS, mS, Q, zQ, mQ in episodes:
                    fast = _sgd_steps(torch, _per_task(params, tasks), S, zS, mS, opts["inner_steps"], rate)
                    total += float(_task_losses(torch, fast, Q, zQ, mQ).mean().detach())
                return total if np.isfinite(total) else float("inf")

            inner_lr = min(FINETUNE_LRS, key=after)
    return [p.detach().numpy().copy() for p in params], float(inner_lr)


def _adapted(params: Sequence[np.ndarray], X: np.ndarray, z: np.ndarray, steps: int, lr: float) -> list[np.ndarray]:
    """``params`` after ``steps`` SGD steps at ``lr`` on one device's rows ``X`` (features and embedding)."""
    import torch

    with one_thread(torch), torch.enable_grad():
        start = [torch.from_numpy(p.copy()).unsqueeze(0).requires_grad_() for p in params]
        Xt, zt = torch.from_numpy(X).unsqueeze(0), torch.from_numpy(z).unsqueeze(0)
        fast = _sgd_steps(torch, start, Xt, zt, torch.ones_like(zt), steps, lr)
    return [p.detach().squeeze(0).numpy().copy() for p in fast]


def _cross_validated_schedule(params: Sequence[np.ndarray], X: np.ndarray, z: np.ndarray, references: int,
                              select: str, trained: tuple[int, float]) -> tuple[int, float, dict[str, float]]:
    """The adaptation schedule of :meth:`MetaLatencyPredictor.adapt` that predicts one device's own samples best:
    rows ``X``/``z`` (the ``references`` first, always trained on; the samples after them, split into
    :data:`ADAPT_FOLDS` folds in order), every fold adapted on the others at once (one task each), scored on the
    pooled out-of-fold predictions. The candidates: no step, the meta-training's own schedule ``trained``
    (``(steps, lr)``: what first-order MAML trained the weights for), then :data:`ADAPT_STEPS` x
    :data:`FINETUNE_LRS`; ties go to the earlier candidate."""
    import torch
    from scipy.stats import spearmanr

    n = len(z) - references
    folds = np.array_split(np.arange(references, len(z)), min(ADAPT_FOLDS, n))
    mask = np.ones((len(folds), len(z)), np.float32)
    for f, rows in enumerate(folds):
        mask[f, rows] = 0.0
    truth = z[references:].astype(np.float64)

    def score(pred: np.ndarray) -> float:  # pred: folds x rows
        oof = np.empty(n)
        for f, rows in enumerate(folds):
            oof[rows - references] = pred[f, rows]
        if select == "mse":
            return -float(np.mean((oof - truth) ** 2))
        rho = float(spearmanr(oof, truth)[0])
        return rho if np.isfinite(rho) else -1.0

    scores: dict[str, float] = {}
    with one_thread(torch), torch.enable_grad():
        Xt = torch.from_numpy(X).unsqueeze(0).expand(len(folds), *X.shape)
        zt = torch.from_numpy(z).unsqueeze(0).expand(len(folds), len(z))
        mt = torch.from_numpy(mask)
        start = _per_task([torch.from_numpy(p) for p in params], len(folds))
        with torch.no_grad():
            s0 = score(_forward(torch, start, Xt).numpy())
        scores["0"] = s0
        best = (s0, 0, float(FINETUNE_LRS[0]))  # (score, steps, lr)
        steps, lr = trained
        if steps > 0 and (steps not in ADAPT_STEPS or lr not in FINETUNE_LRS):
            sc = score(_forward(torch, _sgd_steps(torch, start, Xt, zt, mt, steps, lr), Xt).detach().numpy())
            scores[f"{steps}@{lr:g}"] = sc
            if sc > best[0] + 1e-9:
                best = (sc, steps, float(lr))
        for lr in FINETUNE_LRS:
            fast, done = start, 0
            for steps in ADAPT_STEPS:
                fast = _sgd_steps(torch, fast, Xt, zt, mt, steps - done, lr)
                done = steps
                with torch.no_grad():
                    sc = score(_forward(torch, fast, Xt).numpy())
                scores[f"{steps}@{lr:g}"] = sc
                if sc > best[0] + 1e-9:
                    best = (sc, steps, float(lr))
    return best[1], best[2], scores


def _device_out_errors(data: Sequence[tuple[np.ndarray, ...]], hidden: Sequence[int], adapt: int,
                       opts: Mapping[str, Any]) -> list[float]:
    """How well a model of ``hidden`` widths does on a device it was not trained on: for up to
    :data:`VALIDATION_DEVICES` source devices in turn (drawn with the seed, the same for every model), train on
    the others, adapt to it like a target (its references and ``adapt`` random architectures) and take one minus
    the Spearman rank correlation on the rest of its architectures (at most 200); one value per device."""
    import torch
    from scipy.stats import spearmanr

    rng = np.random.default_rng((opts["seed"], 3))
    errors = []
    for v in rng.permutation(len(data))[:VALIDATION_DEVICES]:
        params, rate = _fit([d for i, d in enumerate(data) if i != v], hidden, opts, None)
        Xr, zr, Xa, za = data[int(v)]
        order = rng.permutation(len(za))
        sup, rest = order[:min(adapt, len(za) - 1)], order[min(adapt, len(za) - 1):][:200]
        fast = _adapted(params, np.concatenate([Xr, Xa[sup]]), np.concatenate([zr, za[sup]]),
                        opts["inner_steps"], rate)
        with torch.no_grad(), one_thread(torch):
            pred = _forward(torch, [torch.from_numpy(p) for p in fast], torch.from_numpy(Xa[rest])).numpy()
        rho = float(spearmanr(pred, za[rest])[0]) if len(rest) > 1 else 0.0
        errors.append(1.0 - (rho if np.isfinite(rho) else 0.0))
    return errors


def adapt_predictor(pred: MetaLatencyPredictor, space: SearchSpace, measured: Mapping[Any, float],
                    steps: int | None = None, lr: float | None = None,
                    select: str = "mse") -> AdaptedLatencyPredictor:
    """:meth:`MetaLatencyPredictor.adapt`: ``pred`` adapted to a device from its ``measured`` latencies
    (``{arch or string: ms}``, holding every reference architecture)."""
    return pred.adapt(space, measured, steps, lr, select)


def fit_from_scratch(space: SearchSpace, measured: Mapping[Any, float], *, hidden: Sequence[int] = (64, 64),
                     steps: int = 300, lr: float = 1e-2, weight_decay: float = 1e-4,
                     seed: int = 0) -> AdaptedLatencyPredictor:
    """The baseline HELP is compared with: the predictor's model (the linear cost term and an MLP of ``hidden``
    widths, on the same features, without a hardware embedding) trained from a random initialisation on
    ``measured`` (``{arch or string: ms}``) alone, ``steps`` full-batch Adam steps on the log latencies
    standardised by their own mean and deviation."""
    import torch

    who = "fit_from_scratch"
    data = _normalised(space, measured, who)
    if len(data) < 2:
        raise ConfigError(f"{who}: needs at least 2 measured architectures, got {len(data)}")
    stats = DeviceStats.of(list(data.values()))
    stats = DeviceStats(stats.mean, stats.std, np.zeros(0, np.float32))
    X = encode_features(space, list(data))
    z = stats.z(list(data.values()))
    with one_thread(torch), torch.enable_grad():
        gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0, who=who))
        params = [p.requires_grad_() for p in _init(torch, X.shape[1], 0, hidden, gen)]
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        Xt, zt = torch.from_numpy(X), torch.from_numpy(z)
        for _ in range(check_int("steps", steps, minimum=1, who=who)):
            opt.zero_grad(set_to_none=True)
            loss = ((_forward(torch, params, Xt) - zt) ** 2).mean()
            loss.backward()
            opt.step()
    measured = {space.key(_arch(space, k)): v for k, v in data.items()}
    return AdaptedLatencyPredictor([p.detach().numpy().copy() for p in params], stats, measured)


# ----------------------------------------------------------------------------- files
def save_predictor(pred: MetaLatencyPredictor, path: str | os.PathLike[str]) -> Path:
    """Write ``pred`` to ``path`` (a NumPy ``.npz`` file: the weights and a JSON header; no pickle)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "space": pred.space, "space_params": pred.space_params,
              "encoding_size": pred.encoding_size, "references": list(pred.references), "devices": list(pred.devices),
              "options": pred.options, "input_shape": pred.input_shape, "num_classes": pred.num_classes}
    arrays = {f"param{i}": p for i, p in enumerate(pred.params)}
    with open(path, "wb") as fh:
        np.savez(fh, header=np.array(json.dumps(header)), **arrays)
    return path


def load_predictor(path: str | os.PathLike[str], space: SearchSpace | None = None,
                   input_shape: Sequence[int] | None = None) -> MetaLatencyPredictor:
    """A predictor written by :func:`save_predictor`; with ``space`` (and ``input_shape``) checked to be
    made for them (:func:`check_space`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"latency predictor file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["header"]))
            params = [np.asarray(f[f"param{i}"], dtype=np.float32) for i in range(len(f.files) - 1)]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{str(path)!r} is not a latency predictor file written by save_predictor: {exc}") from None
    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise ConfigError(f"{str(path)!r} is not a latency predictor file of format {FORMAT} version "
                          f"{FORMAT_VERSION} (found {header.get('format')!r} version {header.get('version')!r})")
    pred = MetaLatencyPredictor(params, header["space"], header["space_params"], int(header["encoding_size"]),
                                list(header["references"]), list(header["devices"]), dict(header["options"]),
                                header.get("input_shape"), header.get("num_classes"))
    if len(params) < 4 or params[0].shape[0] != params[-2].shape[0] + len(pred.references):
        raise ConfigError(f"{str(path)!r}: its weights do not fit together (a first layer of "
                          f"{params[0].shape[0]} inputs for {params[-2].shape[0] if len(params) > 1 else '?'} "
                          f"feature columns and {len(pred.references)} references)")
    if space is not None:
        check_space(pred, space, input_shape, where=f"latency predictor {str(path)!r}")
    return pred


# ----------------------------------------------------------------------------- measuring devices here
def measure_devices(space: SearchSpace, task: Any, devices: Sequence[Any], archs: Sequence[Architecture], *,
                    device: str = "cpu", warmup: int = 5, repeats: int = 20, max_spread: float = 0.25,
                    attempts: int = 3, cache: Any = True,
                    progress: Callable[[str], None] | None = None) -> dict[str, dict[str, float]]:
    """Latencies (ms) of ``archs`` for ``task`` on each of ``devices`` (specs ``"backend:threads:batch"``) on
    this machine: ``{device name: {space.to_string(arch): ms}}``. Each network is built once and measured on
    every device; with a cache (True, a path or a LatencyCache) each measurement is made once per machine.
    ``progress`` receives a line every few architectures."""
    names = _device_list(devices)
    models = {}
    for name in names:
        backend, threads, batch = parse_device(name)
        models[name] = MeasuredLatency(backend, threads, batch, device, warmup, repeats, max_spread, attempts, cache)
    out: dict[str, dict[str, float]] = {n: {} for n in names}
    t0 = time.perf_counter()
    every = max(1, len(archs) // 10)
    for i, arch in enumerate(archs):
        built: list[Any] = []

        def build(arch: Architecture = arch) -> Any:
            if not built:
                built.append(build_network(space, arch, task))
            return built[0]

        key = space.to_string(arch)
        for name, m in models.items():
            out[name][key] = m.measure_arch(space, arch, task, build)
        if progress is not None and ((i + 1) % every == 0 or i + 1 == len(archs)):
            progress(f"latency predictor: {i + 1}/{len(archs)} architectures measured on {len(names)} source "
                     f"devices ({time.perf_counter() - t0:.0f} s)")
    return out


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the hardware model
class LatencyPredictor(HardwareModel):
    """The hardware model ``predictor``: a latency predictor trained on other devices and adapted to this
    target (HELP).

    The target is ``backend`` x ``threads`` x ``batch_size`` on ``device``. At :meth:`prepare` the trained
    predictor is loaded from ``path`` (checked to be made for the space and input shape), or built here:
    ``n_source_archs`` architectures and the ``references`` reference architectures (both fixed by ``seed``)
    are measured on each of the ``sources`` devices (``"backend:threads:batch"`` specs, a list or a
    comma-separated string; default :data:`DEFAULT_SOURCES`; the target itself is left out), through the
    cache, so a second run only re-trains, and :func:`meta_train` runs with ``method``, ``hidden`` and
    ``meta_steps``; ``save`` writes the result to a file for ``path`` next time. Then the target is measured
    on the references and ``adapt`` more architectures and the predictor adapted, its schedule chosen by
    ``adapt_select`` (:meth:`MetaLatencyPredictor.adapt`'s ``select``). :meth:`latency` returns the
    measured value for those, the prediction otherwise. Progress lines go to ``progress`` (given to
    :meth:`prepare`) or, with ``verbose``, to stderr. After :meth:`prepare`, :attr:`meta` is the trained
    predictor (:meth:`MetaLatencyPredictor.describe` says what it was trained on) and :attr:`adapted` the
    adapted one (``adapted.measured``: the target's measurements); :meth:`describe` holds the settings only.
    """

    name = "predictor"

    def __init__(self, backend: str = "torch", threads: int = 1, batch_size: int = 1, device: str = "cpu",
                 path: str | None = None, adapt: int = 20, sources: Any = None, n_source_archs: int = 200,
                 references: int = 10, method: str = "multitask", hidden: Any = "auto", meta_steps: int = 1500,
                 seed: int = 0, save: str | None = None, verbose: bool = True, warmup: int = 5, repeats: int = 20,
                 max_spread: float = 0.25, attempts: int = 3, cache: Any = True, adapt_select: str = "mse") -> None:
        super().__init__(backend, threads, batch_size, device, warmup, repeats, max_spread, attempts, cache)
        who = "LatencyPredictor"
        self.path = None if path is None else str(path)
        self.adapt = check_int("adapt", adapt, minimum=1, who=who)
        self.sources = _device_list(sources)
        self.n_source_archs = check_int("n_source_archs", n_source_archs, minimum=2, who=who)
        self.references = check_int("references", references, minimum=2, who=who)
        if method not in METHODS:
            raise ConfigError(f"{who}: unknown method {method!r}; accepted: {', '.join(METHODS)}")
        self.method = method
        if adapt_select not in ADAPT_CRITERIA:
            raise ConfigError(f"{who}: unknown adapt_select {adapt_select!r}; accepted: {', '.join(ADAPT_CRITERIA)}")
        self.adapt_select = adapt_select
        if isinstance(hidden, str) and hidden not in ("auto", "linear"):
            raise ConfigError(f"{who}: hidden must be 'auto', 'linear' or a list of layer widths, got {hidden!r}")
        self.hidden = hidden if isinstance(hidden, str) else [check_int("hidden width", h, minimum=1, who=who)
                                                              for h in hidden]
        self.meta_steps = check_int("meta_steps", meta_steps, minimum=1, who=who)
        self.seed = check_int("seed", seed, minimum=0, who=who)
        self.save = None if save is None else str(save)
        self.verbose = bool(verbose)
        self.meta: MetaLatencyPredictor | None = None
        self.adapted: AdaptedLatencyPredictor | None = None
        self._prepared: str | None = None

    @property
    def target(self) -> str:
        """This model's device spec, ``"backend:threads:batch"``."""
        return device_name(self.backend, self.threads, self.batch_size)

    def source_devices(self) -> list[str]:
        """The source devices measured here when no ``path`` is given (the target left out)."""
        return [s for s in self.sources if s != self.target]

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "path": self.path, "adapt": self.adapt, "sources": list(self.sources),
                "n_source_archs": self.n_source_archs, "references": self.references, "method": self.method,
                "hidden": self.hidden, "meta_steps": self.meta_steps, "seed": self.seed, "save": self.save,
                "adapt_select": self.adapt_select}

    def prepare(self, space: SearchSpace, task: Any, progress: Callable[[str], None] | None = None) -> None:
        """Load or meta-train the predictor for ``space`` and ``task``, measure the target on the references
        and ``adapt`` architectures, and adapt. Done once per (space, task shape)."""
        ident = prepared_key(space, task)
        if self._prepared == ident:
            return
        say = progress if progress is not None else (_stderr if self.verbose else None)
        if self.path is not None:
            meta = load_predictor(self.path, space, task.input_shape)
            refs = [_arch(space, r) for r in meta.references]
        else:
            sources = self.source_devices()
            if not sources:
                raise ConfigError(f"LatencyPredictor: no source device besides the target {self.target!r}; "
                                  f"give other sources or a saved predictor (path)")
            refs = reference_archs(space, self.references, self.seed)
            ref_keys = {space.key(a) for a in refs}
            pool = sample_distinct(space, self.n_source_archs, np.random.default_rng((self.seed, 1)), exclude=ref_keys)
            if say is not None:
                say(f"latency predictor: measuring {len(refs) + len(pool)} architectures on {len(sources)} source "
                    f"devices ({', '.join(sources)}) for target {self.target}")
            data = measure_devices(space, task, sources, refs + pool, device=self.device, warmup=self.warmup,
                                   repeats=self.repeats, max_spread=self.max_spread, attempts=self.attempts,
                                   cache=self.cache if self.cache is not None else False, progress=say)
            meta = meta_train(space, data, refs, adapt=self.adapt, method=self.method, hidden=self.hidden,
                              meta_steps=self.meta_steps, seed=self.seed, input_shape=task.input_shape,
                              num_classes=task.num_classes, progress=say)
            if self.save is not None:
                save_predictor(meta, self.save)
                if say is not None:
                    say(f"latency predictor: saved to {self.save}")
        exclude = {space.key(a) for a in refs}
        samples = sample_distinct(space, self.adapt, np.random.default_rng((self.seed, 2)), exclude=exclude)
        measured = {space.to_string(a): self.measure_arch(space, a, task) for a in list(refs) + samples}
        self.meta = meta
        self.adapted = meta.adapt(space, measured, select=self.adapt_select)
        self._prepared = ident
        if say is not None:
            sch = self.adapted.schedule
            say(f"latency predictor: adapted to {self.target} with {len(samples)} measured architectures "
                f"and {len(refs)} references ({sch['steps']} SGD steps at rate {sch['lr']:g}, chosen by {sch['by']})")

    def latency(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        self.prepare(space, task)
        assert self.adapted is not None
        known = self.adapted.measured.get(space.key(arch))
        if known is not None:
            return float(known)
        return float(self.adapted.predict(space, [arch])[0])


__all__ = ["ADAPT_CRITERIA", "ADAPT_FOLDS", "ADAPT_STEPS", "AdaptedLatencyPredictor", "DEFAULT_SOURCES",
           "DeviceStats", "HIDDEN_CHOICES", "LatencyPredictor", "METHODS", "MetaLatencyPredictor", "adapt_predictor",
           "check_space", "device_name", "encode_features", "feature_size", "fit_from_scratch", "load_predictor",
           "measure_devices", "meta_train", "option_counts", "parse_device", "reference_archs", "save_predictor"]
