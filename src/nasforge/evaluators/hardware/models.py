"""Hardware models: the latency of an architecture, measured or estimated, as a search metric.

A hardware model turns (space, architecture, task shape) into milliseconds. Three kinds
are registered in :data:`nasforge.registry.HARDWARE` and chosen with
``--hardware measured|lut|predictor`` (options with ``--hardware-option key=value``):

- ``measured`` (:class:`MeasuredLatency`): builds the network and times it with
  :func:`~nasforge.evaluators.hardware.measure.measure_latency` on this machine, through
  the chosen ``backend`` (``torch``, ``onnxruntime``, ``onnxruntime-int8``), batch size
  and thread count; each architecture is measured once per machine thanks to the
  :class:`~nasforge.evaluators.hardware.measure.LatencyCache`.
- ``lut`` (:class:`LatencyTable`): the ProxylessNAS / FBNet lookup table. The network
  is split into **units**: the modules whose class names the space lists in
  ``space.latency_units`` (for ``nb201`` the edge operations, for ``mobilenet`` the
  MBConv blocks), and every other leaf module (stem, head, classifier). Each distinct
  unit (its structure and input shape) is profiled once, alone, with the per-call
  overhead of the backend subtracted (an identity module timed the same way); a network
  is estimated as the sum over its units plus a constant fitted on a few measured
  networks (the median of measured minus summed). For ONNX Runtime only the units whose
  output reaches the network's output are summed, as its graph optimiser removes the
  others.
- ``predictor`` (:class:`~nasforge.evaluators.hardware.predictor.LatencyPredictor`): a
  learned predictor adapted to this device with a few measurements (HELP).

Every model has the same small interface: :meth:`HardwareModel.prepare` once per (space,
task shape) before estimates (the table profiles, the predictor adapts), then
:meth:`HardwareModel.latency`. :func:`make_hardware` builds one from a name and options.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.evaluators.hardware.measure import (LatencyCache, LatencyMeasurement, built, check_backend,
                                                  default_cache_dir, measure_latency, resolve_device)
from nasforge.options import check_int
from nasforge.spaces.base import Architecture, SearchSpace


def space_params_json(params: Mapping[str, Any]) -> str:
    """A space's options as canonical JSON (sorted keys, tuples as lists, anything else as its string): how
    latency caches, hardware models and saved predictors compare spaces."""
    return json.dumps(dict(params), sort_keys=True, default=str)


def arch_key(space: SearchSpace, arch: Architecture, num_classes: int) -> str:
    """What identifies the network of ``arch`` for a latency cache: the space, its options, the
    architecture's key and the class count (the input shape is part of the cache's settings)."""
    return f"{space.name}{space_params_json(space.get_params())}:{space.key(arch)}:classes={int(num_classes)}"


def prepared_key(space: SearchSpace, task: Any) -> str:
    """What a hardware model's one-time preparation depends on: the space, its options, the task's input
    shape and class count (a model prepared for one key is prepared again for another)."""
    return json.dumps([space.name, space_params_json(space.get_params()), [int(d) for d in task.input_shape],
                       int(task.num_classes)])


def _cache_at(cache: Any) -> tuple[Path, str | None] | None:
    """Where a hardware model's cache lives, ``(file, machine or None for this one)``, or None for no cache;
    the file is opened when first used (not when the model is made: evaluators make one even when they
    never measure)."""
    if cache is None or cache is False:
        return None
    if cache is True:
        return default_cache_dir() / "latency.sqlite", None
    if isinstance(cache, LatencyCache):
        return cache.path, cache.machine
    if isinstance(cache, str) or hasattr(cache, "__fspath__"):
        return Path(cache), None
    raise ConfigError(f"cache must be True (the default file), False, a path or a LatencyCache; got {cache!r}")


class HardwareModel:
    """Latency of an architecture on one target: ``backend`` x ``threads`` x ``batch_size`` on ``device``.

    Subclasses implement :meth:`latency` and may override :meth:`prepare`. ``warmup``, ``repeats``,
    ``max_spread`` and ``attempts`` are the measurement settings of
    :func:`~nasforge.evaluators.hardware.measure.measure_latency` wherever the model measures;
    ``cache`` is True (the default cache file), False, a file path or a
    :class:`~nasforge.evaluators.hardware.measure.LatencyCache`.
    """

    name = "hardware"
    #: the metric the model's latency is reported as
    metric = "latency_ms"

    def __init__(self, backend: str = "torch", threads: int = 1, batch_size: int = 1, device: str = "cpu",
                 warmup: int = 5, repeats: int = 20, max_spread: float = 0.25, attempts: int = 3,
                 cache: Any = True) -> None:
        self.backend = check_backend(backend)
        who = type(self).__name__
        self.threads = check_int("threads", threads, minimum=1, who=who)
        self.batch_size = check_int("batch_size", batch_size, minimum=1, who=who)
        self.warmup = check_int("warmup", warmup, minimum=0, who=who)
        self.repeats = check_int("repeats", repeats, minimum=1, who=who)
        self.attempts = check_int("attempts", attempts, minimum=1, who=who)
        if isinstance(max_spread, bool) or not isinstance(max_spread, (int, float)) or not max_spread > 0:
            raise ConfigError(f"{who}: max_spread must be a number > 0, got {max_spread!r}")
        self.max_spread = float(max_spread)
        self.device = str(device)
        self._cache_at = _cache_at(cache)
        self._cache = cache if isinstance(cache, LatencyCache) else None

    @property
    def cache(self) -> LatencyCache | None:
        """The latency cache (opened on first use), or None when the model has none."""
        if self._cache is None and self._cache_at is not None:
            self._cache = LatencyCache(*self._cache_at)
        return self._cache

    # -- measuring ------------------------------------------------------------------
    def measure(self, key: str | None, model: Any, input_shape: Sequence[int]) -> LatencyMeasurement:
        """Measure ``model`` (a module, or a function building it) with this model's settings, through
        the cache when there is one and ``key`` is given."""
        opts = {"warmup": self.warmup, "repeats": self.repeats, "max_spread": self.max_spread,
                "attempts": self.attempts}
        if self.cache is not None and key is not None:
            return self.cache.measure(key, model, input_shape, batch_size=self.batch_size, backend=self.backend,
                                      threads=self.threads, device=self.device, **opts)
        return measure_latency(built(model), input_shape, batch_size=self.batch_size, threads=self.threads,
                               device=self.device, backend=self.backend, **opts)

    def measurement(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> LatencyMeasurement:
        """The measurement of ``arch``'s network for ``task`` (``model``, or built when not in the cache)."""
        build = model if model is not None else (lambda: build_network(space, arch, task))
        return self.measure(arch_key(space, arch, task.num_classes), build, task.input_shape)

    def measure_arch(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        """Measured latency (ms) of ``arch``'s network for ``task``, read from the cache when measured before."""
        return self.measurement(space, arch, task, model).median_ms

    # -- the interface -------------------------------------------------------------------
    def prepare(self, space: SearchSpace, task: Any) -> None:
        """Get ready to estimate networks of ``space`` for ``task`` (its input shape and class count)."""

    def latency(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        """Latency of ``arch``'s network for ``task`` in milliseconds. ``model`` may be the built network
        (a model that measures uses it instead of building one)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        return {"backend": self.backend, "threads": self.threads, "batch_size": self.batch_size,
                "device": self.device, "warmup": self.warmup, "repeats": self.repeats,
                "max_spread": self.max_spread, "attempts": self.attempts}

    def describe(self) -> dict[str, Any]:
        """The model's name and settings (never what it learned), as recorded in a study's configuration."""
        return {"hardware": self.name, **self.settings()}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}  # a worker opens the same file when it first measures


def build_network(space: SearchSpace, arch: Architecture, task: Any, seed: int = 0) -> Any:
    """``space.build(arch, task)`` with a seeded initialisation that leaves torch's global RNG as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(arch, task)


class MeasuredLatency(HardwareModel):
    """Latency measured on this machine (cached per architecture and settings; see :class:`HardwareModel`)."""

    name = "measured"

    def latency(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        return self.measure_arch(space, arch, task, model)


# ----------------------------------------------------------------------------- lookup table
def unit_signature(module: Any, input_shape: Sequence[int]) -> str:
    """What makes two units the same entry of a lookup table: the module's class, its printed
    structure (which holds every layer's configuration), its parameter and buffer shapes, and the
    input shape it is called with (batch dimension excluded)."""
    shapes = [tuple(t.shape) for t in list(module.parameters()) + list(module.buffers())]
    cls = f"{type(module).__module__}.{type(module).__qualname__}"
    return f"{cls}|{module!r}|{shapes}|in={tuple(int(d) for d in input_shape)}"


def _functional_unit_class() -> Any:
    import torch

    class FunctionalUnit(torch.nn.Module):
        """A tensor function called in a network's own ``forward`` (outside any unit), as a unit of its own:
        ``func`` applied to the input in place of its first tensor argument, other tensors held as constants."""

        def __init__(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            super().__init__()
            self.func, self.name = func, getattr(func, "__name__", repr(func))
            tensors = [a for a in args if torch.is_tensor(a)]
            self.first = next(i for i, a in enumerate(args) if torch.is_tensor(a))
            self.consts = torch.nn.ParameterList(
                [torch.nn.Parameter(torch.zeros_like(t), requires_grad=False) for t in tensors[1:]])
            self.template = [None if torch.is_tensor(a) else a for a in args]
            self.kwargs = {k: v for k, v in kwargs.items() if not torch.is_tensor(v)}

        def forward(self, x: Any) -> Any:
            consts = iter(self.consts)
            args = [x if i == self.first else (next(consts) if a is None else a) for i, a in enumerate(self.template)]
            return self.func(*args, **self.kwargs)

        def extra_repr(self) -> str:
            shapes = [tuple(c.shape) for c in self.consts]
            return f"{self.name}, args={self.template}, consts={shapes}, kwargs={self.kwargs}"

    return FunctionalUnit


#: tensor functions of a network's own ``forward`` that cost nothing and are not units
_FREE = frozenset({"size", "dim", "view", "reshape", "flatten", "__getitem__", "contiguous", "detach",
                   "unsqueeze", "squeeze", "numel", "__len__", "__bool__", "__format__", "__repr__", "register_hook",
                   "requires_grad_", "__setstate__", "__get__", "__set__"})


def trace_units(model: Any, input_shape: Sequence[int],
                units: Sequence[str] = ()) -> list[tuple[Any, tuple[int, ...], bool]]:
    """The units of ``model`` in the order they run on one input of ``input_shape``.

    A unit is a module whose class name is in ``units``, or a leaf module (one without children)
    not inside such a module, or a tensor function that a module's own ``forward`` calls outside
    any unit (the additions joining a cell's edges, a global pooling by ``mean``), wrapped as a
    module (free reshaping functions excluded). Returns ``(module, input shape without batch,
    live)`` per call, where ``live`` says whether the unit's output reaches the model's output (a
    graph compiler drops the others); a module called twice appears twice.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    wanted = set(units)
    root = model
    functional = _functional_unit_class()

    def is_unit(m: Any) -> bool:
        return m is not root and (type(m).__name__ in wanted or next(iter(m.children()), None) is None)

    calls: list[list[Any]] = []
    depth = [0]

    def pre(m: Any, args: Any) -> None:
        if depth[0] == 0:
            x = args[0] if args else None
            calls.append([m, tuple(int(d) for d in x.shape[1:]) if torch.is_tensor(x) else (), None])
        depth[0] += 1

    def post(m: Any, args: Any, out: Any) -> None:
        depth[0] -= 1
        if depth[0] == 0:
            calls[-1][2] = getattr(out, "grad_fn", None) if torch.is_tensor(out) else None

    class Glue(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            first = next((a for a in args if torch.is_tensor(a)), None)
            if depth[0] == 0 and torch.is_tensor(out) and first is not None and name not in _FREE:
                unit = functional(func, tuple(args), kwargs)  # the mode is off while it handles a call
                calls.append([unit, tuple(int(d) for d in first.shape[1:]), getattr(out, "grad_fn", None)])
            return out

    hooks = []
    for m in model.modules():
        if is_unit(m):
            hooks.append(m.register_forward_pre_hook(pre))
            hooks.append(m.register_forward_hook(post))
    was = model.training
    model.eval()
    p = next(model.parameters(), None)
    x = torch.zeros((1, *input_shape), device=p.device if p is not None else "cpu", requires_grad=True)
    try:
        with torch.enable_grad(), Glue():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was)
    reached: set[Any] = set()
    stack = [out.grad_fn] if torch.is_tensor(out) and out.grad_fn is not None else []
    while stack:
        fn = stack.pop()
        if fn is None or fn in reached:
            continue
        reached.add(fn)
        stack.extend(nxt for nxt, _ in fn.next_functions)
    return [(m, shape, fn is not None and fn in reached) for m, shape, fn in calls]


class LatencyTable(HardwareModel):
    """A per-operation latency lookup table (see the module's introduction).

    ``calibration`` networks (sampled with ``seed``) are measured whole to fit the constant
    (``fit="constant"``, the median of measured minus summed) or a scale and a constant
    (``fit="affine"``, least squares); ``profile`` architectures (sampled too, after one per option
    index of every choice) are traced up front so their units are profiled before the search; a unit
    first met later is profiled when met. ``units`` overrides the space's ``latency_units``.
    :attr:`table` maps unit signatures to milliseconds (overhead subtracted, never negative).
    """

    name = "lut"

    def __init__(self, backend: str = "torch", threads: int = 1, batch_size: int = 1, device: str = "cpu",
                 calibration: int = 10, profile: int = 20, fit: str = "constant", units: Sequence[str] | None = None,
                 seed: int = 0, warmup: int = 5, repeats: int = 30, max_spread: float = 0.25, attempts: int = 3,
                 cache: Any = True) -> None:
        super().__init__(backend, threads, batch_size, device, warmup, repeats, max_spread, attempts, cache)
        who = "LatencyTable"
        self.calibration = check_int("calibration", calibration, minimum=1, who=who)
        self.profile = check_int("profile", profile, minimum=0, who=who)
        self.seed = check_int("seed", seed, minimum=0, who=who)
        if fit not in ("constant", "affine"):
            raise ConfigError(f"{who}: unknown fit {fit!r}; accepted: constant, affine")
        if fit == "affine" and self.calibration < 2:
            raise ConfigError(f"{who}: fit 'affine' needs calibration >= 2 networks, got {calibration}")
        self.fit = fit
        self.units = None if units is None else tuple(units)
        self.table: dict[str, float] = {}
        self.scale, self.constant = 1.0, 0.0
        self._prepared: str | None = None
        self._overhead: dict[tuple[int, ...], float] = {}

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "calibration": self.calibration, "profile": self.profile, "fit": self.fit,
                "units": list(self.units) if self.units is not None else None, "seed": self.seed}

    def _unit_names(self, space: SearchSpace) -> tuple[str, ...]:
        return self.units if self.units is not None else tuple(getattr(space, "latency_units", ()))

    def overhead(self, input_shape: Sequence[int]) -> float:
        """Milliseconds of calling an identity module at ``input_shape`` through this backend: what
        profiling one unit alone adds beyond its share of a network."""
        import torch

        shape = tuple(int(d) for d in input_shape)
        if shape not in self._overhead:
            self._overhead[shape] = self.measure(f"overhead:identity:{shape}", torch.nn.Identity(), shape).median_ms
        return self._overhead[shape]

    def unit_latency(self, module: Any, input_shape: Sequence[int]) -> float:
        """The table's entry for ``module`` at ``input_shape`` (profiled now if missing).

        A unit whose output has its input's shape is timed once and as a chain of three copies; its
        entry is the marginal cost of one more copy, ``(t3 - t1) / 2``, which leaves out what running
        anything at all costs (the call, input and output handling). Any other unit is timed once and
        the backend's :meth:`overhead` is subtracted. Entries are never negative."""
        import copy

        import torch

        sig = unit_signature(module, input_shape)
        if sig not in self.table:
            key = "unit:" + hashlib.sha1(sig.encode()).hexdigest()
            shape = tuple(int(d) for d in input_shape)
            one = self.measure(key, module, shape).median_ms
            with torch.no_grad():
                out = module.eval()(torch.zeros((1, *shape)))
            if torch.is_tensor(out) and tuple(out.shape[1:]) == shape:
                chain = torch.nn.Sequential(*[copy.deepcopy(module) for _ in range(3)])
                three = self.measure("chain3:" + key[5:], chain, shape).median_ms
                ms = (three - one) / 2
            else:
                ms = one - self.overhead(shape)
            self.table[sig] = max(ms, 0.0)
        return self.table[sig]

    def units_of(self, space: SearchSpace, arch: Architecture, task: Any,
                 model: Any = None) -> list[tuple[Any, tuple[int, ...]]]:
        """The units (module, input shape) of ``arch``'s network that this backend runs."""
        net = model if model is not None else build_network(space, arch, task)
        traced = trace_units(net, task.input_shape, self._unit_names(space))
        keep_dead = self.backend == "torch"  # eager PyTorch runs every module it calls
        return [(m, shape) for m, shape, live in traced if live or keep_dead]

    def summed(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        """The sum of the table's entries over ``arch``'s units (before the fitted scale and constant)."""
        return float(sum(self.unit_latency(m, shape) for m, shape in self.units_of(space, arch, task, model)))

    def profile_archs(self, space: SearchSpace, rng: np.random.Generator) -> list[Architecture]:
        """One architecture per option index (every choice at its k-th option, completed by the layout),
        then ``profile`` sampled ones: the networks whose units are profiled up front."""
        lay = space.layout
        archs = []
        width = max((len(c.options) for c in lay.choices), default=0)
        for k in range(width):
            values = {c.name: c.options[k % len(c.options)] for c in lay.choices}
            try:
                arch = space.make(lay.complete(values, rng))
            except Exception:  # a rule of the space rejects it: sampled ones cover the option
                continue
            if space.is_valid(arch):
                archs.append(arch)
        archs.extend(space.sample(rng) for _ in range(self.profile))
        return archs

    def prepare(self, space: SearchSpace, task: Any, progress: Callable[[str], None] | None = None) -> None:
        """Profile the units of the covering architectures, then fit the constant (and scale) on
        ``calibration`` measured networks. Done once per (space, task shape)."""
        ident = prepared_key(space, task)
        if self._prepared == ident:
            return
        rng = np.random.default_rng(self.seed)
        for arch in self.profile_archs(space, rng):
            self.summed(space, arch, task)
        if progress is not None:
            progress(f"latency table: {len(self.table)} units profiled")
        sums, measured = [], []
        for _ in range(self.calibration):
            arch = space.sample(rng)
            net = build_network(space, arch, task)
            sums.append(self.summed(space, arch, task, net))
            measured.append(self.measure_arch(space, arch, task, net))
        s, y = np.asarray(sums), np.asarray(measured)
        if self.fit == "affine" and np.ptp(s) > 0:
            self.scale, self.constant = (float(v) for v in np.polyfit(s, y, 1))
        else:
            self.scale, self.constant = 1.0, float(np.median(y - s))
        self._prepared = ident
        if progress is not None:
            progress(f"latency table: fitted latency = {self.scale:.3g} x sum + {self.constant:.3g} ms "
                     f"on {self.calibration} measured networks")

    def latency(self, space: SearchSpace, arch: Architecture, task: Any, model: Any = None) -> float:
        self.prepare(space, task)
        return max(self.scale * self.summed(space, arch, task, model) + self.constant, 0.0)

    def state(self) -> dict[str, Any]:
        """What profiling and fitting found: the number of table entries, the fitted scale and constant."""
        return {"entries": len(self.table), "fitted_scale": self.scale, "fitted_constant_ms": self.constant}


def make_hardware(hardware: Any = "measured", options: Mapping[str, Any] | None = None) -> HardwareModel:
    """A hardware model from a registered name (``measured``, ``lut``, ``predictor``) and its options,
    or ``hardware`` itself when it already is one (then no options)."""
    from nasforge.registry import HARDWARE

    if isinstance(hardware, HardwareModel):
        if options:
            raise ConfigError("give hardware options when naming the model, not with a HardwareModel object")
        return hardware
    if not isinstance(hardware, str):
        raise ConfigError(f"hardware must be one of {', '.join(HARDWARE.list())} or a HardwareModel; "
                          f"got {hardware!r}")
    return HARDWARE.create(hardware, **dict(options or {}))


def check_hardware(hardware: Any, options: Mapping[str, Any] | None = None) -> None:
    """Check a hardware option pair before its model is made (an evaluator made later, after training):
    ``hardware`` None, a registered name or a :class:`HardwareModel`; ``options`` only with a model."""
    from nasforge.registry import HARDWARE

    if isinstance(hardware, str):
        HARDWARE.get(hardware)  # an unknown name: the registry's error, with the known ones
    elif hardware is not None and not isinstance(hardware, HardwareModel):
        raise ConfigError(f"hardware must be one of {', '.join(HARDWARE.list())} or a HardwareModel; got {hardware!r}")
    elif hardware is None and options:
        raise ConfigError(f"hardware_options {dict(options)} given without a hardware model; name one "
                          f"(hardware='measured', 'lut' or 'predictor')")


def hardware_on(hardware: Any, options: Mapping[str, Any] | None = None, device: Any = "cpu") -> HardwareModel:
    """:func:`make_hardware` for an evaluator whose networks run on ``device``: a model made from a name
    measures on that device unless ``options`` name another; a :class:`HardwareModel` is used as it is."""
    if isinstance(hardware, HardwareModel):
        return make_hardware(hardware, options)
    return make_hardware(hardware, {"device": str(resolve_device(device)), **dict(options or {})})


def lookup_table(hardware: Any = None, options: Mapping[str, Any] | None = None, device: Any = "cpu",
                 who: str = "cost='latency'") -> LatencyTable:
    """The lookup table of a cost that needs each operation's latency at its place (a weight-sharing method's
    latency term): ``hardware`` None or ``"lut"`` (settings in ``options``), or a :class:`LatencyTable`.
    A whole-network model (``measured``, ``predictor``) cannot price one candidate of one block: an error."""
    if isinstance(hardware, LatencyTable):
        return make_hardware(hardware, options)  # options beside a model object: an error
    if hardware not in (None, "lut"):
        raise ConfigError(f"{who} needs each candidate operation's latency at its place, which a lookup table "
                          f"gives: hardware='lut' (the default) or a LatencyTable, not {hardware!r}")
    table = hardware_on("lut", options, device)
    assert isinstance(table, LatencyTable)
    return table


__all__ = ["HardwareModel", "MeasuredLatency", "LatencyTable", "arch_key", "build_network", "check_hardware", "hardware_on",
           "lookup_table", "make_hardware", "prepared_key", "space_params_json", "trace_units", "unit_signature"]
