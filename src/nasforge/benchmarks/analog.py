"""AnalogNAS-Bench: the 15,625 NAS-Bench-201 cells on CIFAR-10 trained digitally, quantized and on
simulated analog in-memory hardware (data from the PyPI package ``analog-nasbench``).

Any of its metrics can be the objective (default ``baseline_accuracy``);
every metric is in each result. The objective is also the reported figure:
the benchmark has no separate validation split, so a search on it selects on
the same numbers it reports (said in every output, as with NB201's oracle).
The records carry no training time, so searches use a trial budget.
"""

from __future__ import annotations

from typing import Any, Mapping

from nasforge.benchmarks.analog_data import ANALOG_METRICS, ANALOG_STD_METRICS, load_analog
from nasforge.benchmarks.base import TabularBenchmark
from nasforge.options import check_choice
from nasforge.spaces.nb201 import NB201Space


class AnalogNB201Benchmark(TabularBenchmark):
    """AnalogNAS-Bench lookups; ``metric`` picks the objective (default baseline_accuracy).

    ``space`` is an :class:`~nasforge.spaces.nb201.NB201Space` (default: ``NB201Space()``).
    """

    space_name = "nb201"
    space_type = NB201Space

    def __init__(self, metric: str = "baseline_accuracy", space: NB201Space | None = None) -> None:
        super().__init__(space)
        self.metric = check_choice("metric", metric, ANALOG_METRICS)
        self.objective = self.report = metric
        self.warning = (f"AnalogNAS-Bench has one accuracy per cell: the search selects on the reported "
                        f"{metric} itself (no separate validation figure)")

    def columns(self) -> tuple[str, ...]:
        return ANALOG_METRICS + ANALOG_STD_METRICS

    def table(self) -> Mapping[str, Mapping[str, float]]:
        return load_analog()

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "analog-nb201", "metric": self.metric, "objective": self.objective,
                "report": self.report}
