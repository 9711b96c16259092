"""The strategy contract: a small seeded ask/tell class.

A strategy proposes architectures (``ask``) and learns from results
(``tell``); it never trains, loads data or does I/O. Its randomness for the
``n``-th proposal comes from ``default_rng((seed, n))``, and everything else it
knows comes from ``tell``. So replaying a study's finished trials through
``tell`` rebuilds its state exactly, which is how a study resumes: a resumed
search makes the same proposals an uninterrupted one would have made.

Asking several times before telling (pending trials, for parallel
executors) is allowed for every strategy.
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
        rng = np.random.default_rng((self.seed, self.n_asked))
        arch = self._ask(rng)
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

    def fidelity(self, arch: Architecture) -> float | None:
        """The fidelity (e.g. epochs) at which the study should evaluate a proposal just asked.

        Only called when ``multi_fidelity`` is true; None means the evaluator's default.
        """
        return None

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (the strategy's configuration)."""
        import inspect

        params = {}
        for p in list(inspect.signature(type(self).__init__).parameters.values())[1:]:
            if p.name == "space" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            params[p.name] = getattr(self, p.name)
        return params

    # -- for subclasses ---------------------------------------------------------
    @abstractmethod
    def _ask(self, rng: np.random.Generator) -> Architecture:
        """Return a proposal using only ``rng`` and the state built by ``_tell``."""

    @abstractmethod
    def _tell(self, arch: Architecture, result: Result) -> None:
        """Update state from one result (failed results have ``objective`` None)."""


def check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(accepted)}; got {value!r}")
    return str(value)
