"""The strategy contract: a small seeded ask/tell class.

A strategy proposes architectures (``ask``) and learns from results
(``tell``); it never trains, loads data or does I/O. Its randomness for the
``n``-th proposal comes from ``default_rng((seed, n))``, and everything else it
knows comes from ``tell``. So replaying a study's finished trials through
``tell`` rebuilds its state exactly, which is how a study resumes: a resumed
search makes the same proposals an uninterrupted one would have made.

Asking several times before telling (pending trials, for parallel
executors) is allowed for every strategy. A proposal that will not be
evaluated can be withdrawn with ``discard`` (a wrapper such as
:class:`~nasforge.strategies.training_free.ProxyPrescreen` asks several
times and keeps one); a wrapper discards inside its own ``ask``, so replaying
the wrapper's asks and tells repeats the discards.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace


class Strategy(ABC):
    """Base class: stores the space and seed; subclasses implement ``_ask`` and ``_tell``.

    Constructor keyword arguments are the configuration and are stored
    unchanged (see :meth:`get_params`); validation happens in ``__init__`` of
    each subclass with errors naming the bad value.
    """

    name: str = "strategy"
    #: whether :meth:`fidelity` chooses a budget (e.g. epochs) per proposal
    multi_fidelity: bool = False
    #: whether the strategy needs a zero-cost proxy scorer (its ``scorer`` option) before the first ``ask``
    needs_scorer: bool = False
    #: which random stream of the seed proposals come from (see :meth:`set_stream`)
    stream: int = 0
    #: options added after the strategy was first released whose default is not how it behaved before,
    #: mapped to the value that reproduces the old behaviour: a study recorded before such an option
    #: existed ran with that value, and resumes with it (see :meth:`recorded_params`)
    legacy_defaults: dict[str, Any] = {}

    def __init__(self, space: SearchSpace, seed: int | None = None) -> None:
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.space = space
        self.seed = int(seed) if seed is not None else int(np.random.SeedSequence().entropy % (2**63))
        self.n_asked = 0
        self.n_told = 0
        self.pending: dict[str, Architecture] = {}

    # -- public API -------------------------------------------------------------
    def ask(self) -> Architecture:
        """Propose the next architecture to evaluate."""
        arch = self._ask(self.rng(self.n_asked))
        self.n_asked += 1
        self.pending[self.space.key(arch)] = arch
        return arch

    def tell(self, arch: Architecture, result: Result) -> None:
        """Report the result of an architecture (asked by this strategy or replayed from storage)."""
        self.pending.pop(self.space.key(arch), None)
        self.n_told += 1
        # a replayed trial was asked by an earlier process: count it as asked here
        self.n_asked = max(self.n_asked, self.n_told + len(self.pending))
        self._tell(arch, result)

    def rng(self, *key: int) -> np.random.Generator:
        """``default_rng((seed, *key))``, or ``(seed, *key, stream)`` on a driver's own stream (see
        :meth:`set_stream`): the ``n``-th proposal's randomness is ``rng(n)``; a strategy that draws
        anything else at random (a pool of candidates, say) takes it from ``rng(tag, k)`` as well."""
        return np.random.default_rng((self.seed, *key, self.stream) if self.stream else (self.seed, *key))

    def set_stream(self, stream: int) -> None:
        """Draw the ``n``-th proposal from ``default_rng((seed, n, stream))`` instead of ``(seed, n)``.

        For several drivers of one study (each with a copy of the strategy and the same seed): each takes
        a stream of its own, so they do not propose the same architectures at the same moments. A wrapper
        passes it on to the strategy it wraps."""
        if isinstance(stream, bool) or not isinstance(stream, (int, np.integer)) or stream < 0:
            raise ValueError(f"stream must be a non-negative integer, got {stream!r}")
        self.stream = int(stream)

    def discard(self, arch: Architecture) -> None:
        """Withdraw a proposal that was asked but will not be evaluated (its result will never be told).

        Removes it from ``pending`` and lets the strategy forget what it kept for
        that proposal (:meth:`_discard`), so it neither waits for the result nor
        attributes a later result to it. With several outstanding proposals of
        the same architecture the most recent one is withdrawn (``pending`` has
        one entry per key, so it loses the key; a caller keeping another one
        re-adds it). An architecture that is not outstanding is ignored.
        """
        self.pending.pop(self.space.key(arch), None)
        self._discard(arch)

    def adapt(self, capabilities: Any) -> None:
        """Read what the evaluator declares (:class:`~nasforge.evaluators.base.Capabilities`).

        Called once by the study before the first ask (and before a resume's replay), so the
        strategy's state still follows from its seed and the told results. A multi-fidelity
        strategy takes the evaluator's fidelity range here; no-op by default.
        """

    def fidelity(self, arch: Architecture) -> float | None:
        """The fidelity (e.g. epochs) at which the study should evaluate a proposal just asked.

        Only called when ``multi_fidelity`` is true; None means the evaluator's default.
        """
        return None

    @classmethod
    def _options(cls) -> list[Any]:
        """The constructor's options (``inspect.Parameter``), without ``self``, ``space`` and ``*``/``**``."""
        import inspect

        return [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if p.name != "space" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (the strategy's configuration)."""
        return {p.name: getattr(self, p.name) for p in self._options()}

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The options' defaults as :meth:`plain_params` records them (options without a default are left out)."""
        return {p.name: plain(p.default) for p in cls._options() if p.default is not p.empty}

    @classmethod
    def recorded_params(cls, recorded: dict[str, Any]) -> dict[str, Any]:
        """The options a study recorded, completed with how it ran for those it could not record: an
        option added since gets its :attr:`legacy_defaults` value when it has one, else its default."""
        legacy = {k: plain(v) for k, v in cls.legacy_defaults.items()}
        return {**cls.default_params(), **legacy, **recorded}

    def plain_params(self) -> dict[str, Any]:
        """The configuration as JSON-able values (what a study records): :meth:`get_params`, with any
        value that is not plain data (a proxy scorer, say) replaced by :func:`plain`'s stand-in."""
        return {k: plain(v) for k, v in self.get_params().items()}

    # -- for subclasses ---------------------------------------------------------
    @abstractmethod
    def _ask(self, rng: np.random.Generator) -> Architecture:
        """Return a proposal using only ``rng`` and the state built by ``_tell``."""

    @abstractmethod
    def _tell(self, arch: Architecture, result: Result) -> None:
        """Update state from one result (failed results have ``objective`` None)."""

    def _discard(self, arch: Architecture) -> None:
        """Forget the state kept for the most recent outstanding proposal of ``arch`` (see :meth:`discard`).

        Nothing by default: override in strategies that keep state per proposal
        (a queue entry, a bracket slot, a tree path, ...).
        """


def plain(value: Any) -> Any:
    """A JSON-able stand-in for a configuration value, the same in every process.

    Plain data stays as it is (tuples become lists, numpy scalars numbers); an
    object with a ``describe()`` method becomes ``{"type": its class, **describe()}``;
    any other object, e.g. a function, becomes ``{"type": its qualified name}``.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    kind = value if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")) else type(value)
    name = f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', type(value).__name__)}"
    describe = getattr(value, "describe", None)
    if not isinstance(value, type) and callable(describe):
        info = plain(describe())
        return {"type": name, **info} if isinstance(info, dict) else {"type": name, "describe": info}
    return {"type": name}
