"""NAS-Bench-Graph as a tabular benchmark (data from the PyPI package ``nas-bench-graph``).

Feedback ``valid_perf`` (validation accuracy), report ``perf`` (test
accuracy); ``latency`` (seconds) and ``para`` (parameters, millions) are
further metrics. The records carry no training time, so searches use a trial
budget.
"""

from __future__ import annotations

from typing import Any, Mapping

from nasforge.benchmarks import nbgraph_data as nbg
from nasforge.benchmarks.base import TabularBenchmark, check_option
from nasforge.spaces.base import SearchSpace


class NASBenchGraphBenchmark(TabularBenchmark):
    """NAS-Bench-Graph lookups on one of its 9 datasets."""

    space_name = "nasbench-graph"
    objective = "valid_perf"
    report = "perf"

    def __init__(self, dataset: str = "cora") -> None:
        super().__init__()
        self.dataset = check_option("dataset", dataset, nbg.DATASETS)
        self._rows: dict[str, dict[str, float]] | None = None

    def make_space(self) -> SearchSpace:
        from nasforge.spaces.nbgraph import NASBenchGraphSpace

        return NASBenchGraphSpace("proteins" if self.dataset == "proteins" else "full")

    def table(self) -> Mapping[str, Mapping[str, float]]:
        if self._rows is None:
            data = nbg.load_nbgraph(self.dataset)
            rows = {}
            for links, ops in nbg.enumerate_canonical(self.dataset):
                rec = data[nbg.bench_key(links, ops, self.dataset)]
                rows[",".join(map(str, links)) + "|" + ",".join(ops)] = dict(rec)
            self._rows = rows
        return self._rows

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "nasbench-graph", "dataset": self.dataset,
                "objective": self.objective, "report": self.report}
