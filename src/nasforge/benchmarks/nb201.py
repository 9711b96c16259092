"""NAS-Bench-201 as a tabular benchmark, read from ``nb201.csv`` in the data directory.

Protocols:

* ``nb201`` (CIFAR-10 only), the protocol of the NAS-Bench-201 paper: the
  feedback a strategy sees is the 12-epoch CIFAR-10-valid validation accuracy,
  each evaluation costs its 12-epoch training seconds (the simulated clock),
  and the reported figure is the 200-epoch test accuracy. (The original
  scripts also charged the validation pass; the data has no validation
  times, so only training seconds are charged.)
* ``oracle``: feedback and report are both the 200-epoch test accuracy. This
  selects architectures on test data, so every output using it says so. On
  CIFAR-10 it charges the same 12-epoch seconds; for CIFAR-100 and
  ImageNet16-120 the file has no training times, so evaluations cost nothing
  and a search needs a trial budget.

The NAS-Bench-201 index of a cell is its row in ``nb201.csv`` (the benchmark's
own order, not an enumeration of the space), so it lives here:
:meth:`NB201Benchmark.index_of` and :meth:`NB201Benchmark.arch_at`.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nasforge.benchmarks._files import DATA_DIR_ENV, DataNotFoundError, data_dir
from nasforge.benchmarks.base import TabularBenchmark
from nasforge.errors import ConfigError, InvalidArchitectureError
from nasforge.options import check_choice, check_int
from nasforge.spaces.base import Architecture
from nasforge.spaces.nb201 import NB201Space

DATASETS = ("cifar10", "cifar100", "imagenet16-120")
PROTOCOLS = ("nb201", "oracle")
_TEST_COLUMN = {
    "cifar10": "cifar10_test_acc_200ep",
    "cifar100": "cifar100_test_acc_200ep",
    "imagenet16-120": "imagenet16_120_test_acc_200ep",
}
_VALID_12 = "cifar10_valid_acc_12ep"
_SECONDS_12 = "cifar10_train_seconds_12ep"
ORACLE_WARNING = ("protocol 'oracle' selects architectures on 200-epoch TEST accuracy; "
                  "its results are an upper bound, not a fair search result")


def nb201_csv_path(explicit_dir: str | Path | None = None) -> Path:
    """Where ``nb201.csv`` is; raises :class:`DataNotFoundError` saying where to put it."""
    base = data_dir(explicit_dir)
    path = base / "nb201" / "nb201.csv"
    if not path.is_file():
        raise DataNotFoundError(
            f"NAS-Bench-201 data not found at {path}. Put nb201.csv (15,625 rows: index, arch, "
            f"*_test_acc_200ep, cifar10_valid_acc_12ep, cifar10_train_seconds_12ep) in <data dir>/nb201/, "
            f"where <data dir> is set by --data-dir, ${DATA_DIR_ENV}, or defaults to ../shared/data "
            f"beside the checkout")
    return path


@lru_cache(maxsize=4)
def load_nb201_table(path: Path) -> dict[str, Any]:
    """The CSV as columns: ``arch`` (list of strings, index order) and numpy float arrays."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    required = {"index", "arch", _VALID_12, _SECONDS_12, *_TEST_COLUMN.values()}
    missing = required - set(header)
    if missing:
        raise ValueError(f"{path} lacks columns {sorted(missing)}; found {header}")
    cols = list(zip(*rows))
    table: dict[str, Any] = {}
    for name, values in zip(header, cols):
        if name == "arch":
            table[name] = list(values)
        elif name == "index":
            idx = np.array(values, dtype=np.int64)
            if not np.array_equal(idx, np.arange(len(idx))):
                raise ValueError(f"{path}: the index column is not 0..{len(idx) - 1} in order")
        else:
            table[name] = np.array(values, dtype=float)
    return table


@lru_cache(maxsize=4)
def _index_table(path: Path) -> tuple[list[str], dict[str, int]]:
    strings = list(load_nb201_table(path)["arch"])
    return strings, {s: i for i, s in enumerate(strings)}


class NB201Benchmark(TabularBenchmark):
    """NAS-Bench-201 lookups on cifar10, cifar100 or imagenet16-120 under a protocol.

    ``space`` is an :class:`~nasforge.spaces.nb201.NB201Space` (default: ``NB201Space()``).
    """

    space_name = "nb201"
    space_type = NB201Space

    def __init__(self, dataset: str = "cifar10", protocol: str = "nb201",
                 data_dir: str | Path | None = None, space: NB201Space | None = None) -> None:
        super().__init__(space)
        self.dataset = check_choice("dataset", dataset, DATASETS)
        self.protocol = check_choice("protocol", protocol, PROTOCOLS)
        if protocol == "nb201" and dataset != "cifar10":
            raise ConfigError(
                f"protocol 'nb201' needs 12-epoch validation accuracies, which the data has only for "
                f"cifar10, not {dataset!r}; use protocol 'oracle' for {dataset!r}")
        self.data_dir = data_dir
        self.report = "test_acc_200ep"
        if protocol == "nb201":
            self.objective, self.cost_metric, self.fidelity = "valid_acc_12ep", "train_seconds_12ep", 12.0
            self.warning = None
        else:
            self.objective, self.fidelity = "test_acc_200ep", 200.0
            self.cost_metric = "train_seconds_12ep" if dataset == "cifar10" else None
            self.warning = ORACLE_WARNING
        self._rows: dict[str, dict[str, float]] | None = None

    def columns(self) -> tuple[str, ...]:
        extra = ("valid_acc_12ep", "train_seconds_12ep") if self.dataset == "cifar10" else ()
        return ("test_acc_200ep", *extra)

    def table(self) -> Mapping[str, Mapping[str, float]]:
        if self._rows is None:
            t = load_nb201_table(nb201_csv_path(self.data_dir))
            sources = {"test_acc_200ep": _TEST_COLUMN[self.dataset], "valid_acc_12ep": _VALID_12,
                       "train_seconds_12ep": _SECONDS_12}
            names = list(self.columns())
            cols = {n: t[sources[n]] for n in names}
            stacked = np.stack([cols[n] for n in names], axis=1).tolist()
            self._rows = {arch: dict(zip(names, vals)) for arch, vals in zip(t["arch"], stacked)}
        return self._rows

    def describe(self) -> dict[str, Any]:
        return {"benchmark": "nb201", "dataset": self.dataset, "protocol": self.protocol,
                "objective": self.objective, "report": self.report}

    # -- the NB201 index (row order of nb201.csv) -------------------------------
    def index_of(self, arch: Architecture) -> int:
        """The NAS-Bench-201 index of a cell (its row in ``nb201.csv``)."""
        return _index_table(nb201_csv_path(self.data_dir))[1][self.space.to_string(arch)]

    def arch_at(self, index: int) -> Architecture:
        """The cell at a NAS-Bench-201 index; InvalidArchitectureError outside ``0..15624``."""
        strings = _index_table(nb201_csv_path(self.data_dir))[0]
        try:
            i = check_int("NB201 index", index, 0, len(strings) - 1)
        except ConfigError as e:
            raise InvalidArchitectureError(str(e)) from None
        return self.space.from_string(strings[i])
