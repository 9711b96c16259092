"""NAS-Bench-Graph as a tabular benchmark (data from the PyPI package ``nas-bench-graph``).

Feedback ``valid_perf`` (validation accuracy), report ``perf`` (test
accuracy); ``latency`` (seconds) and ``para`` (parameters, millions) are
further metrics. The records carry no training time, so searches use a trial
budget.
"""

from __future__ import annotations

from typing import Any, Mapping

from nasforge.benchmarks import nbgraph_data as nbg
from nasforge.benchmarks.base import TabularBenchmark
from nasforge.errors import ConfigError
from nasforge.options import check_choice
from nasforge.spaces.base import SearchSpace
from nasforge.spaces.nbgraph import NASBenchGraphSpace, format_arch


class NASBenchGraphBenchmark(TabularBenchmark):
    """NAS-Bench-Graph lookups on one of its 9 datasets.

    ``space`` is a :class:`~nasforge.spaces.nbgraph.NASBenchGraphSpace` whose operations the
    dataset was evaluated with (default: ``op_set="proteins"`` for proteins, else ``"full"``).
    """

    space_name = "nasbench-graph"
    space_type = NASBenchGraphSpace
    objective = "valid_perf"
    report = "perf"

    def __init__(self, dataset: str = "cora", space: NASBenchGraphSpace | None = None) -> None:
        self.dataset = check_choice("dataset", dataset, nbg.DATASETS)
        super().__init__(space)
        self._rows: dict[str, dict[str, float]] | None = None

    def check_space(self, space: SearchSpace) -> SearchSpace:
        super().check_space(space)
        allowed = nbg.ops_for(self.dataset)
        extra = [op for op in getattr(space, "ops", ()) if op not in allowed]
        if extra:
            raise ConfigError(f"NAS-Bench-Graph dataset {self.dataset!r} was evaluated with the ops "
                              f"{', '.join(allowed)}; the given space also has {', '.join(extra)} "
                              f"(use NASBenchGraphSpace(op_set={nbg.op_set_for(self.dataset)!r}))")
        return space

    def make_space(self) -> SearchSpace:
        return NASBenchGraphSpace(nbg.op_set_for(self.dataset))

    def columns(self) -> tuple[str, ...]:
        return tuple(nbg.METRICS)

    def table(self) -> Mapping[str, Mapping[str, float]]:
        if self._rows is None:
            self._rows = {format_arch(links, ops): dict(rec)
                          for links, ops, rec in nbg.stored_records(self.dataset)}
        return self._rows

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "nasbench-graph", "dataset": self.dataset,
                "objective": self.objective, "report": self.report}
