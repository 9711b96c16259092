"""Random search, with or without replacement."""

from __future__ import annotations

import numpy as np

from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.strategies.base import Strategy


class RandomSearch(Strategy):
    """Samples architectures uniformly from the space.

    With ``replace=False`` it never proposes an architecture (up to
    isomorphism) that it has proposed or been told about before; once the
    space is exhausted ``ask`` raises ``StopIteration``.
    """

    name = "random"

    def __init__(self, space: SearchSpace, seed: int | None = None, replace: bool = True) -> None:
        super().__init__(space, seed)
        if not isinstance(replace, (bool, np.bool_)):
            raise ValueError(f"replace must be true or false, got {replace!r}")
        self.replace = bool(replace)
        self._seen: set[str] = set()
        self._remaining: list[Architecture] | None = None

    def _ask(self, rng: np.random.Generator) -> Architecture:
        if self.replace:
            return self.space.sample(rng)
        seen = self._seen | set(self.pending)
        for _ in range(64):
            arch = self.space.sample(rng)
            if self.space.key(arch) not in seen:
                return arch
        # mostly explored: choose among what is left, uniformly
        left = [a for a in self.space.enumerate() if self.space.key(a) not in seen]
        if not left:
            raise StopIteration(f"random search without replacement has exhausted space {self.space.name!r}")
        return left[int(rng.integers(len(left)))]

    def _tell(self, arch: Architecture, result: Result) -> None:
        self._seen.add(self.space.key(arch))
