"""Zero-cost proxies: scores of an *untrained* network that predict how well it will train.

Each proxy is a function ``proxy(model, inputs, targets, seed) -> float`` on any
``torch.nn.Module`` and one batch; larger is predicted better (for ``params`` and
``flops`` larger only means bigger, which on NAS-Bench-201 also correlates with
accuracy). Every proxy works on a deep copy, so the model passed in is left as it
was. :func:`compute_proxies` runs several and times each one; :class:`ProxyScorer`
builds a space's network for an architecture (initialisation seeded), takes a batch
from :func:`proxy_batch` and returns every requested proxy, caching by architecture.

==========  =====================================================================  ==================
proxy       definition (weights = those of every ``Conv*d`` and ``Linear``)          after
==========  =====================================================================  ==================
grad_norm   sum over layers of the Euclidean norm of d(loss)/d(weights)              Abdelfattah 2021
snip        sum of abs(w * dL/dw)                                                   Lee 2019 (SNIP)
grasp       sum of -(w * Hg), Hg = Hessian-gradient product of the loss             Wang 2020 (GraSP)
fisher      sum over channels of 0.5 * mean over the batch of (sum over positions   Turner 2020
            of activation * d(loss)/d(activation))^2, on each layer's output
synflow     sum of abs(w * dR/dw), R = sum of the output for an all-ones input      Tanaka 2020
            with abs weights, in float64, BatchNorm removed (identity), batch of 1
jacob_cov   -sum(log(v + k) + 1/(v + k)), v the eigenvalues of the correlation      Mellor 2020 (v1)
            matrix of the per-input Jacobians d(sum of outputs)/d(input), k = 1e-5
naswot      log-determinant of K = sum over ReLUs of (c c^T + (1-c)(1-c)^T), c the   Mellor 2021
            binary activation codes of the batch (Hamming-similarity kernel)
zen         log E|f(x) - f(x + 0.01 e)| + sum over BatchNorms of log sqrt(mean      Lin 2021 (Zen-NAS)
            batch variance); weights N(0, 1), x and e Gaussian, f = the features
            before the last global pooling
l2_norm     sum over layers of the Euclidean norm of the weights                    Abdelfattah 2021
params      number of parameters
flops       FLOPs of one forward pass on one input (torch's counter)
==========  =====================================================================  ==================

BatchNorm and ReLU follow each proxy's paper: the gradient proxies and NASWOT run
in training mode (batch statistics, as their authors' code does), SynFlow removes
BatchNorm and uses one all-ones input (a batch of one has no batch statistics),
Zen-score keeps BatchNorm in training mode, re-draws the weights from N(0, 1) and
adds the BatchNorm variance term of its paper (the mini-batch variance; the
authors' code reads ``running_var`` after one step of momentum instead). NASWOT
hooks every ``nn.ReLU`` module, so a network that applies ReLU functionally
raises an error for it. Data-free proxies (``synflow``, ``zen``, ``l2_norm``,
``params``, ``flops``) ignore the batch's content; ``zen`` uses only its shape.

A proxy that cannot be computed (a network whose output does not depend on the
input has a degenerate Jacobian correlation, for example) gives NaN, and the
scorer records why in ``errors``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

#: every proxy, in the order tables list them
PROXY_NAMES: tuple[str, ...] = ("grad_norm", "snip", "grasp", "fisher", "synflow", "jacob_cov", "naswot", "zen",
                                "l2_norm", "params", "flops")
#: the proxies that use the batch's content (the rest use at most its shape)
DATA_DEPENDENT: tuple[str, ...] = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "naswot")
#: the proxies that need class labels
NEED_LABELS: tuple[str, ...] = ("grad_norm", "snip", "grasp", "fisher")
DATA_SOURCES: tuple[str, ...] = ("task", "patches", "noise")


# ----------------------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class ProxyBatch:
    """One batch for the proxies and where it came from (every report states it)."""

    inputs: Any  # torch.Tensor (n, *input_shape), float32
    targets: Any  # torch.Tensor (n,), int64
    source: str
    seed: int
    description: str = ""

    @property
    def batch_size(self) -> int:
        return int(self.inputs.shape[0])

    def describe(self) -> dict[str, Any]:
        return {"data": self.source, "batch_size": self.batch_size, "data_seed": self.seed,
                "input_shape": list(self.inputs.shape[1:]), "data_description": self.description}


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"input_shape must be positive dimensions like (3, 32, 32), got {tuple(input_shape)!r}")
    return shape


def sample_image_patches(n: int, size: tuple[int, int] = (32, 32), seed: int = 0) -> np.ndarray:
    """``n`` random ``size`` crops of scikit-learn's two bundled photos, float32 (n, 3, H, W) in [0, 1]."""
    from sklearn.datasets import load_sample_images

    images = [np.asarray(img, dtype=np.float32) / 255.0 for img in load_sample_images().images]
    h, w = size
    if any(h > img.shape[0] or w > img.shape[1] for img in images):
        raise ValueError(f"patch size {size} is larger than the sample photos "
                         f"({', '.join(f'{i.shape[0]}x{i.shape[1]}' for i in images)})")
    rng = np.random.default_rng(seed)
    out = np.empty((n, 3, h, w), dtype=np.float32)
    for i in range(n):
        img = images[int(rng.integers(len(images)))]
        y0, x0 = int(rng.integers(img.shape[0] - h + 1)), int(rng.integers(img.shape[1] - w + 1))
        crop = img[y0:y0 + h, x0:x0 + w]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1)
    return out


def proxy_batch(source: str = "noise", *, task: Any = None, input_shape: Sequence[int] | None = None,
                num_classes: int | None = None, batch_size: int = 64, seed: int = 0) -> ProxyBatch:
    """A seeded batch for the proxies.

    ``source``: ``task`` (a random batch of the task's training split, with its
    labels), ``patches`` (random crops of scikit-learn's two sample photos,
    normalised per channel over the batch, random labels; needs 3-channel image
    inputs) or ``noise`` (standard normal inputs, random labels). Without a task,
    ``input_shape`` and ``num_classes`` say what the network takes.
    """
    import torch

    if source not in DATA_SOURCES:
        raise ValueError(f"unknown proxy data source {source!r}; accepted: {', '.join(DATA_SOURCES)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (the kernels compare inputs), got {batch_size!r}")
    if task is not None:
        input_shape = input_shape or task.input_shape
        num_classes = num_classes or task.num_classes
    if input_shape is None or num_classes is None:
        raise ValueError("give a task, or input_shape and num_classes, to make a proxy batch")
    shape = _check_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    rng = np.random.default_rng((seed, 2024))
    if source == "task":
        if task is None:
            raise ValueError("proxy data 'task' needs a task; use data='patches' or 'noise' without one")
        n = len(task.y_train)
        idx = rng.choice(n, size=min(batch_size, n), replace=False)
        x, y = task.X_train[idx], task.y_train[idx]
        desc = f"{len(idx)} random training examples of task {task.name!r}"
    elif source == "patches":
        if len(shape) != 3 or shape[0] != 3:
            raise ValueError(f"proxy data 'patches' makes 3-channel image crops; the network takes {shape}; "
                             f"use data='noise' or 'task'")
        x = sample_image_patches(batch_size, (shape[1], shape[2]), seed=int(rng.integers(2**31)))
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        std = x.std(axis=(0, 2, 3), keepdims=True) + 1e-6
        x = (x - mean) / std
        y = rng.integers(num_classes, size=batch_size)
        desc = f"{batch_size} random {shape[1]}x{shape[2]} crops of scikit-learn's sample photos, random labels"
    else:
        x = rng.standard_normal((batch_size, *shape)).astype(np.float32)
        y = rng.integers(num_classes, size=batch_size)
        desc = f"{batch_size} standard normal inputs, random labels"
    return ProxyBatch(torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32),
                      torch.as_tensor(np.asarray(y), dtype=torch.int64), source, int(seed), desc)


# ----------------------------------------------------------------------------- helpers


def _layers(model: Any) -> list[Any]:
    import torch.nn as nn

    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def _copy(model: Any) -> Any:
    m = copy.deepcopy(model)
    m.zero_grad(set_to_none=True)
    return m


def _device(model: Any) -> Any:
    import torch

    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _loss_backward(model: Any, x: Any, y: Any) -> None:
    import torch.nn.functional as F

    model.train()
    out = model(x)
    F.cross_entropy(out, y).backward()


def _sum_layers(model: Any, fn: Callable[[Any], Any]) -> float:
    """Sum of ``fn(layer)`` over the weighted layers that received a gradient (call under no_grad)."""
    total = 0.0
    for layer in _layers(model):
        if layer.weight.grad is not None:
            total += float(fn(layer))
    return total


# ----------------------------------------------------------------------------- proxies


def _gradient_pass(model: Any, inputs: Any, targets: Any) -> dict[str, float]:
    """grad_norm, snip and fisher from one forward and backward pass of the cross-entropy loss."""
    import torch

    m = _copy(model)
    acts: list[Any] = []

    def hook(module: Any, inp: Any, out: Any) -> None:
        if out.requires_grad:
            out.retain_grad()
            acts.append(out)

    handles = [layer.register_forward_hook(hook) for layer in _layers(m)]
    try:
        _loss_backward(m, inputs.to(_device(m)), targets.to(_device(m)))
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        out = {"grad_norm": _sum_layers(m, lambda layer: layer.weight.grad.norm()),
               "snip": _sum_layers(m, lambda layer: (layer.weight.grad * layer.weight).abs().sum()),
               "fisher": 0.0}
        for a in acts:
            if a.grad is not None:
                prod = a * a.grad
                per_channel = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
                out["fisher"] += float(0.5 * per_channel.pow(2).mean(0).sum())
    return out


def grad_norm(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    return _gradient_pass(model, inputs, targets)["grad_norm"]


def snip(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    return _gradient_pass(model, inputs, targets)["snip"]


def fisher(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    return _gradient_pass(model, inputs, targets)["fisher"]


def grasp(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    import torch
    import torch.nn.functional as F

    m = _copy(model)
    m.train()
    dev = _device(m)
    x, y = inputs.to(dev), targets.to(dev)
    weights = [layer.weight for layer in _layers(m)]
    # one forward pass: the gradient with its graph, then the Hessian-gradient product H g by
    # differentiating g . stop_gradient(g) (the authors' code recomputes g on a second pass of the
    # same batch, which gives the same value)
    gf = torch.autograd.grad(F.cross_entropy(m(x), y), weights, create_graph=True, allow_unused=True)
    z = sum((a * a.detach()).sum() for a in gf if a is not None)
    if not torch.is_tensor(z) or not z.requires_grad:
        return 0.0
    z.backward()
    with torch.no_grad():
        return float(sum(float((-w * w.grad).sum()) for w in weights if w.grad is not None))


def synflow(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    import torch
    import torch.nn as nn

    m = _copy(model)
    for name, child in list(m.named_modules()):
        for cname, c in list(child.named_children()):
            if isinstance(c, nn.modules.batchnorm._BatchNorm):
                setattr(child, cname, nn.Identity())
    m = m.double()
    with torch.no_grad():
        for p in m.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    m.eval()
    x = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=_device(m))
    m(x).sum().backward()
    with torch.no_grad():
        return _sum_layers(m, lambda layer: (layer.weight * layer.weight.grad).abs().sum())


def _jacob_cov_score(jac: np.ndarray) -> float:
    if np.any(jac.std(axis=1) == 0):
        raise FloatingPointError("the network's output does not depend on some inputs (constant Jacobian row)")
    v = np.clip(np.linalg.eigvalsh(np.corrcoef(jac)), 0, None)
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def naswot_kernel(codes: Iterable[Any]) -> np.ndarray:
    """The NASWOT kernel of binary activation codes (each ``(n, units)``): units agreeing per pair of inputs."""
    K = None
    for c in codes:
        c = np.asarray(c, dtype=np.float64).reshape(len(c), -1)
        k = c @ c.T + (1.0 - c) @ (1.0 - c).T
        K = k if K is None else K + k
    if K is None:
        raise ValueError("no activation codes")
    return K


def _naswot_score(K: np.ndarray | None) -> float:
    if K is None:
        raise ValueError("naswot hooks nn.ReLU modules; this network has none (ReLU applied functionally?)")
    sign, logdet = np.linalg.slogdet(K)
    if sign <= 0:
        raise FloatingPointError("the NASWOT kernel is singular (identical activation patterns for two inputs)")
    return float(logdet)


def _input_pass(model: Any, inputs: Any, want: tuple[str, ...]) -> dict[str, Any]:
    """NASWOT's kernel (ReLU hooks) and, when wanted, the input Jacobian, from one training-mode pass."""
    import torch
    import torch.nn as nn

    m = _copy(model)
    m.train()
    n = inputs.shape[0]
    K = torch.zeros((n, n), dtype=torch.float64, device=_device(m))
    handles = []
    relus = [mod for mod in m.modules() if isinstance(mod, nn.ReLU)] if "naswot" in want else []
    if relus:

        def hook(module: Any, inp: Any, out: Any) -> None:
            # c c^T + (1-c)(1-c)^T = 2 c c^T - s_i - s_j + units, s = active units per input: one
            # matrix product, exact in float32 (integer counts below 2^24)
            c = (inp[0].detach().reshape(n, -1) > 0).float()
            g = (c @ c.T).double()
            s = c.sum(1, dtype=torch.float64)
            K.add_(2.0 * g - s[:, None] - s[None, :] + c.shape[1])

        handles = [r.register_forward_hook(hook) for r in relus]
    out: dict[str, Any] = {}
    try:
        if "jacob_cov" in want:
            x = inputs.to(_device(m)).clone().requires_grad_(True)
            y = m(x)
            y.backward(torch.ones_like(y))
            out["jacobian"] = x.grad.detach().reshape(n, -1).double().cpu().numpy()
        else:
            with torch.no_grad():
                m(inputs.to(_device(m)))
    finally:
        for h in handles:
            h.remove()
    out["kernel"] = K.cpu().numpy() if relus else None
    return out


def jacob_cov(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    return _jacob_cov_score(_input_pass(model, inputs, ("jacob_cov",))["jacobian"])


def naswot(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    return _naswot_score(_input_pass(model, inputs, ("naswot",))["kernel"])


def zen(model: Any, inputs: Any, targets: Any, seed: int = 0, alpha: float = 0.01) -> float:
    import torch
    import torch.nn as nn

    m = _copy(model)
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 7919)
    dev = _device(m)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen))
                if mod.bias is not None:
                    mod.bias.zero_()
            elif isinstance(mod, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)) and mod.weight is not None:
                mod.weight.fill_(1.0)
                mod.bias.zero_()
    m.train()
    pools = [mod for mod in m.modules() if isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                                                              nn.AdaptiveAvgPool3d))]
    feats: list[Any] = []
    bn_vars: list[float] = []
    record_bn = [True]

    def pool_hook(module: Any, inp: Any) -> None:
        feats.append(inp[0])

    def bn_hook(module: Any, inp: Any) -> None:
        if record_bn[0]:
            x = inp[0]
            dims = [d for d in range(x.dim()) if d != 1]
            bn_vars.append(float(x.var(dim=dims, unbiased=False).mean()))

    handles = [pools[-1].register_forward_pre_hook(pool_hook)] if pools else []
    handles += [mod.register_forward_pre_hook(bn_hook) for mod in m.modules()
                if isinstance(mod, nn.modules.batchnorm._BatchNorm)]
    shape = tuple(inputs.shape)
    x = torch.randn(shape, generator=gen).to(dev)
    e = torch.randn(shape, generator=gen).to(dev)
    try:
        with torch.no_grad():
            out1 = m(x)
            record_bn[0] = False
            out2 = m(x + alpha * e)
    finally:
        for h in handles:
            h.remove()
    f1, f2 = (feats[0], feats[1]) if pools else (out1, out2)
    delta = float((f1 - f2).abs().reshape(shape[0], -1).mean(1).mean())
    if not delta > 0:
        raise FloatingPointError("the features do not change with the input (Zen-score undefined)")
    return math.log(delta) + sum(0.5 * math.log(v) for v in bn_vars if v > 0)


def l2_norm(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    return float(sum(float(layer.weight.detach().norm()) for layer in _layers(model)))


def params(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    """The parameter count (:func:`nasforge.evaluators.hardware.count_params`)."""
    from nasforge.evaluators.hardware import count_params

    return float(count_params(model))


def flops(model: Any, inputs: Any, targets: Any, seed: int = 0) -> float:
    """FLOPs of one input of the batch's shape (:func:`nasforge.evaluators.hardware.count_flops`)."""
    from nasforge.evaluators.hardware import count_flops

    return float(count_flops(model, tuple(inputs.shape[1:])))


PROXIES: dict[str, Callable[..., float]] = {
    "grad_norm": grad_norm, "snip": snip, "grasp": grasp, "fisher": fisher, "synflow": synflow,
    "jacob_cov": jacob_cov, "naswot": naswot, "zen": zen, "l2_norm": l2_norm, "params": params, "flops": flops,
}


def check_proxies(names: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validate proxy names (a list or a comma-separated string; None or 'all' = every proxy)."""
    if names is None or names == "all":
        return PROXY_NAMES
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = tuple(names)
    bad = [n for n in names if n not in PROXIES]
    if bad or not names:
        raise ValueError(f"unknown proxy name(s) {bad or list(names)}; accepted: {', '.join(PROXY_NAMES)} (or 'all')")
    return names


def compute_proxies(model: Any, batch: ProxyBatch, proxies: Iterable[str] | str | None = None,
                    seed: int = 0) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    """Every requested proxy of ``model`` on ``batch``: (values, seconds per proxy, errors).

    Proxies that come from the same pass are computed together: grad_norm, snip and
    fisher share one backward pass of the loss; naswot and jacob_cov share one
    forward (and input-gradient) pass. Each of them is given that pass's seconds,
    which is what it costs on its own (up to the other's bookkeeping). A proxy that
    fails gives NaN and its error text; the others still run.
    """
    names = check_proxies(proxies)
    values: dict[str, float] = {}
    seconds: dict[str, float] = {}
    errors: dict[str, str] = {}

    def run(group: tuple[str, ...], fn: Callable[[], dict[str, float]]) -> None:
        t0 = time.perf_counter()
        try:
            got = fn()
        except (FloatingPointError, ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            got = {g: math.nan for g in group}
            for g in group:
                errors[g] = f"{type(exc).__name__}: {exc}"
        dt = time.perf_counter() - t0
        for g in group:
            v = float(got[g])
            if not math.isfinite(v) and g not in errors:
                errors[g] = f"FloatingPointError: value {v}"
                v = math.nan
            values[g], seconds[g] = v, dt

    grad_group = tuple(n for n in names if n in ("grad_norm", "snip", "fisher"))
    if grad_group:
        run(grad_group, lambda: _gradient_pass(model, batch.inputs, batch.targets))
    input_group = tuple(n for n in names if n in ("naswot", "jacob_cov"))
    if input_group:
        def input_scores() -> dict[str, float]:
            raw = _input_pass(model, batch.inputs, input_group)
            out = {}
            for name, score, arg in (("naswot", _naswot_score, "kernel"), ("jacob_cov", _jacob_cov_score, "jacobian")):
                if name in input_group:
                    try:
                        out[name] = score(raw[arg])
                    except (FloatingPointError, ValueError, np.linalg.LinAlgError) as exc:
                        out[name] = math.nan
                        errors[name] = f"{type(exc).__name__}: {exc}"
            return out
        run(input_group, input_scores)
    for name in names:
        if name not in values:
            run((name,), lambda name=name: {name: PROXIES[name](model, batch.inputs, batch.targets, seed=seed)})
    return {n: values[n] for n in names}, {n: seconds[n] for n in names}, {n: errors[n] for n in names if n in errors}


# ----------------------------------------------------------------------------- scorer


@dataclass(eq=False)
class ProxyScorer:
    """Zero-cost proxies of a space's architectures: ``scorer(arch) -> {proxy: value}``.

    Builds ``space.build(arch, task)`` with the initialisation seeded by ``seed``
    (the same network for the same architecture every time) and computes the
    proxies on one batch from :func:`proxy_batch` (``data``: ``task``,
    ``patches`` or ``noise``; default ``task`` when a task is given, else
    ``patches`` for 3-channel images and ``noise`` otherwise). Without a task,
    ``input_shape`` (default (3, 32, 32)) and ``num_classes`` (default 10) size
    the network. Results are cached per architecture; ``seconds[proxy]`` lists
    the time of every computation and ``errors`` why a proxy gave NaN.
    """

    space: Any
    proxies: Any = None
    task: Any = None
    data: str | None = None
    batch_size: int = 64
    seed: int = 0
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None
    device: str = "cpu"
    cache: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from nasforge.evaluators.hardware import resolve_device

        self.proxies = check_proxies(self.proxies)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.task is not None:
            shape, classes = self.task.input_shape, self.task.num_classes
        else:
            shape = _check_shape(self.input_shape or (3, 32, 32))
            classes = self.num_classes or 10
        if self.data is None:
            self.data = "task" if self.task is not None else (
                "patches" if len(shape) == 3 and shape[0] == 3 else "noise")
        self._device = resolve_device(self.device)
        self.batch = proxy_batch(self.data, task=self.task, input_shape=shape, num_classes=classes,
                                 batch_size=self.batch_size, seed=self.seed)
        self._shape, self._classes = tuple(shape), int(classes)

    def _net_task(self) -> Any:
        if self.task is not None:
            return self.task
        from types import SimpleNamespace

        return SimpleNamespace(name="proxy", input_shape=self._shape, num_classes=self._classes,
                               kind="image" if len(self._shape) == 3 else "tabular")

    def build(self, arch: Any) -> Any:
        """The network of ``arch`` with the seeded initialisation the proxies see."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self.space.build(arch, self._net_task())
        return model.to(self._device)

    def __call__(self, arch: Any) -> dict[str, float]:
        key = self.space.key(arch)
        if key not in self.cache:
            model = self.build(arch)
            values, secs, errs = compute_proxies(model, self.batch, self.proxies, seed=self.seed)
            for p, s in secs.items():
                self.seconds.setdefault(p, []).append(s)
            for p, e in errs.items():
                self.errors[(key, p)] = e
            self.cache[key] = values
        return dict(self.cache[key])

    def score_many(self, archs: Sequence[Any], progress: Callable[[int, int], None] | None = None
                   ) -> list[dict[str, float]]:
        out = []
        for i, a in enumerate(archs):
            out.append(self(a))
            if progress:
                progress(i + 1, len(archs))
        return out

    def describe(self) -> dict[str, Any]:
        return {"proxies": list(self.proxies), "init_seed": self.seed, **self.batch.describe(),
                "num_classes": self._classes}
