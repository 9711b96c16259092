"""Registries of plug-ins: one per kind (spaces, strategies, benchmarks, evaluators, supernets, one-shot methods).

Each name maps to a class or factory; built-ins are registered by import path
and imported only when first used, so ``import nasforge`` stays cheap and a
heavy optional dependency is imported only by the plug-in that needs it.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from typing import Any, Callable, Generic, TypeVar

from nasforge.errors import ConfigError, UnknownNameError

T = TypeVar("T")




class Registry(Generic[T]):
    """Names to plug-ins of one kind, with ``list``, ``get`` and ``create``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Any:
        """Register ``obj`` (a class or factory, or a ``'module:attr'`` path) under ``name``.

        Used bare it is a decorator: ``@STRATEGIES.register("rea")``.
        """
        if obj is None:
            def deco(o: Any) -> Any:
                self._entries[name] = o
                return o
            return deco
        self._entries[name] = obj
        return obj

    def list(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._entries)
        return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Callable[..., T]:
        try:
            obj = self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self._entries, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint}; known: {', '.join(self.list())}"
            ) from None
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return obj

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build ``name`` with keyword options, after checking that it accepts them."""
        factory = self.get(name)
        check_options(self.kind, name, factory, kwargs)
        return factory(*args, **kwargs)


def accepted_options(factory: Callable[..., Any]) -> list[str]:
    """The keyword options a plug-in's constructor takes (without ``self`` and ``space``)."""
    import inspect

    params = list(inspect.signature(factory).parameters.values())
    out = [p.name for p in params if p.name not in ("self", "space") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if isinstance(factory, type) and any(p.kind is p.VAR_KEYWORD for p in params):
        # a subclass that passes ``**options`` on to its base class accepts the base class's options too,
        # but those it names in ``not_options``
        for base in factory.__mro__[1:]:
            if "__init__" in vars(base) and base is not object:
                out += [n for n in accepted_options(base) if n not in out]
                break
        out = [n for n in out if n not in getattr(factory, "not_options", ())]
    return out


def check_options(kind: str, name: str, factory: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Raise ``ValueError: strategy 'rea' has no option(s) pop; its options: ...`` for unknown keywords."""
    import inspect

    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: let it check its own arguments
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        if not isinstance(factory, type):
            return
        base = next((b for b in factory.__mro__[1:] if "__init__" in vars(b) and b is not object), None)
        if base is None or any(p.kind is p.VAR_KEYWORD for p in inspect.signature(base).parameters.values()):
            return
    accepted = accepted_options(factory)
    # ``space`` is positional for strategies but a keyword of benchmarks (which are given their space)
    keywords = set(accepted) | {p.name for p in params if p.name == "space" and p.default is not p.empty}
    bad = sorted(set(kwargs) - keywords)
    if bad:
        raise ConfigError(f"{kind} {name!r} has no option(s) {', '.join(bad)}; its options: "
                         f"{', '.join(accepted) or '(none)'}")


SPACES: Registry[Any] = Registry("space")
STRATEGIES: Registry[Any] = Registry("strategy")
#: the strategy a search uses when none is named (``api.search``, ``nasforge search``): chosen by
#: ``benchmarks/default_strategy.py``, the best worst case against the best peer framework over the
#: visible tabular settings where the peers' best is not random search (benchmarks/RESULTS.md,
#: "Default strategy")
DEFAULT_STRATEGY = "adaptive-ea"
BENCHMARKS: Registry[Any] = Registry("benchmark")
EVALUATORS: Registry[Any] = Registry("evaluator")
#: supernets by the name of the space they are built from (``oneshot/``)
SUPERNETS: Registry[Any] = Registry("supernet")
#: weight-sharing search methods (``nasforge oneshot --method``)
ONESHOT: Registry[Any] = Registry("one-shot method")
#: hardware models: latency of an architecture, measured or estimated (``--hardware``)
HARDWARE: Registry[Any] = Registry("hardware model")

SPACES.register("nb201", "nasforge.spaces.nb201:NB201Space")
SPACES.register("nasbench-graph", "nasforge.spaces.nbgraph:NASBenchGraphSpace")
SPACES.register("darts", "nasforge.spaces.darts:DartsSpace")
SPACES.register("mobilenet", "nasforge.spaces.mobilenet:MobileNetSpace")
SPACES.register("mlp", "nasforge.spaces.mlp:MLPSpace")

STRATEGIES.register("random", "nasforge.strategies.random:RandomSearch")
STRATEGIES.register("rea", "nasforge.strategies.evolution:RegularizedEvolution")
STRATEGIES.register("local", "nasforge.strategies.local:LocalSearch")
STRATEGIES.register("nsga2", "nasforge.strategies.nsga2:NSGA2")
STRATEGIES.register("map-elites", "nasforge.strategies.map_elites:MAPElites")
STRATEGIES.register("adaptive-ea", "nasforge.strategies.adaptive:AdaptiveEvolution")
STRATEGIES.register("reinforce", "nasforge.strategies.reinforce:Reinforce")
STRATEGIES.register("mcts", "nasforge.strategies.mcts:MCTS")
STRATEGIES.register("nao", "nasforge.strategies.nao:NAO")
STRATEGIES.register("hyperband", "nasforge.strategies.hyperband:Hyperband")
STRATEGIES.register("bohb", "nasforge.strategies.hyperband:BOHB")
STRATEGIES.register("tpe", "nasforge.strategies.hyperband:TPE")
STRATEGIES.register("bananas", "nasforge.strategies.bananas:BANANAS")
STRATEGIES.register("gbdt", "nasforge.strategies.gbdt:GBDTSearch")
STRATEGIES.register("naswot", "nasforge.strategies.training_free:TrainingFreeSearch")
STRATEGIES.register("prescreen", "nasforge.strategies.training_free:ProxyPrescreen")
STRATEGIES.register("robot", "nasforge.strategies.training_free:RoBoT")

BENCHMARKS.register("nb201", "nasforge.benchmarks.nb201:NB201Benchmark")
BENCHMARKS.register("analog-nb201", "nasforge.benchmarks.analog:AnalogNB201Benchmark")
BENCHMARKS.register("nasbench-graph", "nasforge.benchmarks.nbgraph:NASBenchGraphBenchmark")

SUPERNETS.register("nb201", "nasforge.oneshot.nets:NB201Supernet")
SUPERNETS.register("darts", "nasforge.oneshot.nets:DartsSupernet")
SUPERNETS.register("mobilenet", "nasforge.oneshot.nets:MobileNetSupernet")
SUPERNETS.register("mobilenet:elastic", "nasforge.oneshot.elastic:ElasticMobileNetSupernet")
SUPERNETS.register("mlp", "nasforge.oneshot.nets:MLPSupernet")
ONESHOT.register("darts", "nasforge.oneshot.methods:DARTS")
ONESHOT.register("darts2", "nasforge.oneshot.methods:DARTS2")
ONESHOT.register("gdas", "nasforge.oneshot.methods:GDAS")
ONESHOT.register("proxyless", "nasforge.oneshot.methods:ProxylessNAS")
ONESHOT.register("single-path", "nasforge.oneshot.single_path:SinglePathNAS")
ONESHOT.register("spos", "nasforge.oneshot.spos:SPOS")
ONESHOT.register("fewshot", "nasforge.oneshot.spos:FewShot")
ONESHOT.register("bignas", "nasforge.oneshot.spos:BigNAS")
# tabular benchmarks are evaluators too, with their own registry (they are given their space)
EVALUATORS.register("training", "nasforge.evaluators.training:TrainingEvaluator")
EVALUATORS.register("hardware", "nasforge.evaluators.hardware:HardwareEvaluator")

HARDWARE.register("measured", "nasforge.evaluators.hardware.models:MeasuredLatency")
HARDWARE.register("lut", "nasforge.evaluators.hardware.models:LatencyTable")
HARDWARE.register("predictor", "nasforge.evaluators.hardware.predictor:LatencyPredictor")
EVALUATORS.register("function", "nasforge.evaluators.base:FunctionEvaluator")
EVALUATORS.register("supernet", "nasforge.evaluators.supernet:SupernetEvaluator")


def list_spaces(pattern: str | None = None) -> list[str]:
    return SPACES.list(pattern)


def list_strategies(pattern: str | None = None) -> list[str]:
    return STRATEGIES.list(pattern)


def list_benchmarks(pattern: str | None = None) -> list[str]:
    return BENCHMARKS.list(pattern)


def create_space(name: str, **kwargs: Any) -> Any:
    """A registered space, or a user space: by its source (``FILE.py:NAME``) as ``name``, or by the name a
    study recorded together with ``source=`` among its parameters."""
    from nasforge.spaces.user import UserSpace, is_source

    if is_source(name):
        return UserSpace(name, **kwargs)
    if kwargs.get("source"):  # a user space, even one whose function shares a built-in space's name
        return UserSpace(kwargs.pop("source"), name=name, **kwargs)
    return SPACES.create(name, **kwargs)


def create_strategy(name: str, space: Any, **kwargs: Any) -> Any:
    return STRATEGIES.create(name, space, **kwargs)


def create_benchmark(name: str, **kwargs: Any) -> Any:
    return BENCHMARKS.create(name, **kwargs)


def list_evaluators(pattern: str | None = None) -> list[str]:
    return EVALUATORS.list(pattern)


def create_evaluator(name: str, *args: Any, **kwargs: Any) -> Any:
    return EVALUATORS.create(name, *args, **kwargs)
