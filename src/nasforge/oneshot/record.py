"""One-shot searches recorded as studies: what they derive goes in through ``Study.add_trial``.

A one-shot method does not fit ask/tell: it trains a supernet and derives
architectures. Its study is an ordinary :class:`~nasforge.study.Study` whose
strategy is a :class:`OneShotRecord` (it records the method and its options;
asking it is an error) and whose evaluator is the training evaluator that
``nasforge train`` uses to retrain what was found. So ``show``, ``studies``,
``train`` and ``export`` treat a one-shot study like any other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasforge.errors import ConfigError
from nasforge.results import Result
from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.strategies.base import Strategy

__all__ = ["OneShotRecord", "record_outcome"]


class OneShotRecord(Strategy):
    """The strategy of a one-shot study: names the method (``oneshot:darts``) and keeps its options.

    Its architectures come from the method through ``Study.add_trial``; asking it raises ConfigError.
    """

    def __init__(self, space: SearchSpace, method: str = "darts", options: dict[str, Any] | None = None,
                 seed: int | None = 0) -> None:
        super().__init__(space, seed)
        self.method = method
        self.options = dict(options or {})
        self.name = f"oneshot:{method}"

    def _ask(self, rng: np.random.Generator) -> Architecture:
        raise ConfigError(f"a one-shot study ({self.name}) records the architectures its method derives; it "
                          f"does not propose trials: run `nasforge oneshot --resume` to continue it, or start a "
                          f"search study")

    def _tell(self, arch: Architecture, result: Result) -> None:
        pass


def record_outcome(study: Any, outcome: Any, source: str) -> Any:
    """Record ``outcome`` (a :class:`~nasforge.oneshot.methods.OneShotOutcome`) in ``study`` once.

    A study that already holds a trial of this architecture from ``source`` (a resumed run that had
    recorded it before it was stopped) gets no second one; that trial is returned instead.
    """
    key = study.space.key(outcome.arch)
    for rec in study.trials:
        if rec.source == source and rec.arch == key:
            return rec
    metrics = {k: v for k, v in outcome.metrics.items() if v is not None}
    result = Result(metrics=metrics, value=float(outcome.val_acc), cost=float(outcome.metrics["search_seconds"]))
    return study.add_trial(outcome.arch, result, source=source)
