"""Local search over a space's neighbourhood (single-choice changes), with random restarts.

``mode='best'``: evaluate every neighbour of the current architecture, move to
the best if it improves, otherwise restart from a random architecture (the
local search of White et al., "Local search is state of the art for NAS
benchmarks"). ``mode='first'``: visit neighbours in random order and move to
the first that improves. A discarded neighbour (``discard``) is queued again,
so withdrawing proposals only changes the order in which neighbours are
evaluated.
"""

from __future__ import annotations

import numpy as np

from nasforge.options import check_choice
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.strategies.base import Strategy


class LocalSearch(Strategy):
    """Best- or first-improvement hill climbing with restarts (``local``)."""

    name = "local"

    def __init__(self, space: SearchSpace, seed: int | None = None, mode: str = "best") -> None:
        super().__init__(space, seed)
        self.mode = check_choice("mode", mode, ("best", "first"))
        self._scores: dict[str, float | None] = {}
        self._current: tuple[Architecture, float] | None = None
        self._queue: list[Architecture] = []      # neighbours still to evaluate
        self._open: dict[str, Architecture] = {}  # neighbours asked, result outstanding
        self._best_nb: tuple[Architecture, float] | None = None
        self._start: str | None = None            # key of a pending random restart

    def _ask(self, rng: np.random.Generator) -> Architecture:
        # each pass either proposes, or moves/restarts (scores strictly increase, so this ends)
        while True:
            if self._current is None:
                arch = self.space.sample(rng)
                if self._start is None:
                    self._start = self.space.key(arch)
                return arch  # a restart, or exploration while the restart is pending
            if self._queue:
                arch = self._queue.pop()
                self._open[self.space.key(arch)] = arch
                return arch
            if self._open:
                return self.space.sample(rng)  # every neighbour is pending: explore meanwhile
            self._expand(rng)

    def _expand(self, rng: np.random.Generator) -> None:
        """Queue the current architecture's unevaluated neighbours, or finish the step."""
        assert self._current is not None
        nbs = self.space.neighbors(self._current[0])
        order = rng.permutation(len(nbs))
        fresh = []
        for i in order:
            nb = nbs[int(i)]
            key = self.space.key(nb)
            score = self._scores.get(key, _UNSEEN)
            if score is _UNSEEN:
                fresh.append(nb)
            elif score is not None:
                self._consider(nb, score)
                if self.mode == "first" and self._moved():
                    return
        self._queue = fresh[::-1]  # pop() takes them in permutation order
        if not self._queue:
            self._finish_step()

    def _consider(self, arch: Architecture, score: float) -> None:
        if self._best_nb is None or score > self._best_nb[1]:
            self._best_nb = (arch, score)

    def _moved(self) -> bool:
        """In first-improvement mode, move as soon as a neighbour beats the current one."""
        assert self._current is not None
        if self._best_nb is not None and self._best_nb[1] > self._current[1]:
            self._current, self._best_nb, self._queue, self._open = self._best_nb, None, [], {}
            return True
        return False

    def _finish_step(self) -> None:
        """All neighbours known: move to the best if it improves, else restart."""
        assert self._current is not None
        if self._best_nb is not None and self._best_nb[1] > self._current[1]:
            self._current = self._best_nb
        else:
            self._current = None  # local optimum: restart from a random architecture
            self._start = None
        self._best_nb, self._queue, self._open = None, [], {}

    def _discard(self, arch: Architecture) -> None:
        """A withdrawn neighbour goes back to the queue (a step needs every neighbour's result);
        a withdrawn restart is forgotten, so the next result told starts the climb."""
        key = self.space.key(arch)
        nb = self._open.pop(key, None)
        if nb is not None:
            self._queue.append(nb)
        if key == self._start:
            self._start = None

    def _tell(self, arch: Architecture, result: Result) -> None:
        key = self.space.key(arch)
        score = result.value
        self._scores[key] = score
        if self._current is None:
            if key == self._start or self._start is None:
                if score is not None:
                    self._current, self._start = (arch, score), None
                else:
                    self._start = None  # the start failed: draw another
            return
        if key not in self._open:
            return
        del self._open[key]
        if score is not None:
            self._consider(arch, score)
            if self.mode == "first" and self._moved():
                return
        if not self._queue and not self._open:
            self._finish_step()


class _Unseen:
    pass


_UNSEEN: object = _Unseen()
