"""Tests for nasforge.benchmarks.analog_data (AnalogNAS-Bench loading) and the tuple layout it reads with
(a fact of nasforge.spaces.nb201)."""

from __future__ import annotations

import csv
import math
import pickle
import re
import sys
import types
from pathlib import Path

import pytest

from nasforge.benchmarks import _files
from nasforge.benchmarks.analog_data import ANALOG_METRICS, ANALOG_STD_METRICS, load_analog
from nasforge.spaces.nb201 import NB201_EDGES, NB201_OPS, nb201_to_tuple, tuple_to_nb201

try:
    _files.package_file("analognasbench", "data.anb")
except _files.DataNotFoundError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"analog-nasbench data not available: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def data() -> dict[str, dict[str, float]]:
    return load_analog()


def test_all_cells_present(data: dict[str, dict[str, float]]) -> None:
    assert len(data) == 15625
    assert load_analog() is data  # cached


def test_round_trip_on_all_cells(data: dict[str, dict[str, float]]) -> None:
    tuples = set()
    for cell in data:
        t = nb201_to_tuple(cell)
        assert tuple_to_nb201(t) == cell
        tuples.add(t)
    assert len(tuples) == 15625


def test_known_mapping() -> None:
    # tuple positions (0-1),(0-2),(0-3),(1-2),(1-3),(2-3); ids 0 skip,1 none,2 3x3,3 1x1,4 pool
    cell = "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    assert tuple_to_nb201((0, 1, 2, 3, 4, 0)) == cell
    assert nb201_to_tuple(cell) == (0, 1, 2, 3, 4, 0)
    assert tuple_to_nb201([1] * 6) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_metrics_are_floats_in_range(data: dict[str, dict[str, float]]) -> None:
    names = set(ANALOG_METRICS) | set(ANALOG_STD_METRICS)
    assert len(ANALOG_METRICS) == 13 and "analog_drift_2592000" in ANALOG_METRICS
    for rec in data.values():
        assert set(rec) == names
        for name, v in rec.items():
            assert type(v) is float and 0.0 <= v <= 100.0, (name, v)


def _reaches_output(cell: str) -> bool:
    ops = re.findall(r"(\w+)~\d", cell)
    reach = {0}
    for (dst, src), op in sorted(zip(NB201_EDGES, ops), key=lambda e: e[0][0]):
        if op != "none" and src in reach:
            reach.add(dst)
    return 3 in reach


def test_chance_cells_are_exactly_the_disconnected_ones(data: dict[str, dict[str, float]]) -> None:
    chance = {c for c, r in data.items() if r["baseline_accuracy"] == 10.0}
    disconnected = {c for c in data if not _reaches_output(c)}
    assert len(disconnected) == 341
    assert chance == disconnected


def test_spearman_against_nb201(data: dict[str, dict[str, float]]) -> None:
    path = _files.data_dir() / "nb201" / "nb201.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    from scipy.stats import spearmanr

    with open(path, newline="") as fh:
        nb = {row["arch"]: float(row["cifar10_test_acc_200ep"]) for row in csv.DictReader(fh)}
    assert set(nb) == set(data)
    cells = sorted(data)
    analog = [data[c]["baseline_accuracy"] for c in cells]
    rho = spearmanr(analog, [nb[c] for c in cells]).statistic
    # The closest wrong mapping (the mirrored DAG) still reaches 0.968, so require more than 0.95.
    assert rho >= 0.985, rho
    mirrored = spearmanr(analog, [nb[_mirror(c)] for c in cells]).statistic
    assert rho > mirrored + 0.01, (rho, mirrored)


def _mirror(cell: str) -> str:
    """The cell with every edge (i, j) moved to (3-j, 3-i), keeping its op."""
    ops = re.findall(r"(\w+)~\d", cell)
    out = [""] * 6
    for (j, i), op in zip(NB201_EDGES, ops):  # edge i -> j
        out[NB201_EDGES.index((3 - i, 3 - j))] = op
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*out)


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ((0, 1, 2), "has 3 entries"),
        ((0, 1, 2, 3, 4, 5), "op id 5 out of range"),
        ((0, 1, 2, 3, 4, -1), "op id -1 out of range"),
        ((0, 1, 2, 3, 4, 1.0), "not an integer"),
        ((0, 1, 2, 3, 4, True), "is a bool"),
        ("012340", "expected a sequence of 6 integer op ids"),
        (None, "expected a sequence of 6 integer op ids"),
    ],
)
def test_bad_tuples(bad: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        tuple_to_nb201(bad)  # type: ignore[arg-type]
    msg = str(info.value)
    assert fragment in msg and repr(bad) in msg and "0=skip_connect" in msg


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        "|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2",
    ],
)
def test_bad_strings(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        nb201_to_tuple(bad)
    msg = str(info.value)
    assert repr(bad) in msg and "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" in msg
    assert all(op in msg for op in NB201_OPS)


def test_non_string_cell() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        nb201_to_tuple((0, 1, 2, 3, 4, 0))  # type: ignore[arg-type]


def test_unpickler_refuses_other_globals(tmp_path: Path) -> None:
    evil = tmp_path / "evil.anb"
    # protocol-0 pickle calling builtins.print: must be refused before anything runs
    evil.write_bytes(b"cbuiltins\nprint\n(S'should not run'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match=r"global 'builtins\.print' is not allowed"):
        load_analog(evil)
    other = tmp_path / "other.anb"
    other.write_bytes(pickle.dumps({(0,) * 6: types.SimpleNamespace(baseline_accuracy=1.0)}))
    with pytest.raises(pickle.UnpicklingError, match=r"types\.SimpleNamespace"):
        load_analog(other)


def _fake_pickle(monkeypatch: pytest.MonkeyPatch, records: dict[object, dict[str, object]]) -> bytes:
    """Pickle ``records`` as the real file would, via a temporary fake ``analognasbench.data``."""
    mod = types.ModuleType("analognasbench.data")

    class Architecture:
        pass

    class DriftMeasurement:
        def __init__(self, value: float, uncertainty: float) -> None:
            self.value, self.uncertainty = value, uncertainty

    for cls in (Architecture, DriftMeasurement):
        cls.__module__ = mod.__name__
        cls.__qualname__ = cls.__name__
        setattr(mod, cls.__name__, cls)
    parent = types.ModuleType("analognasbench")
    parent.data = mod  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "analognasbench", parent)
    monkeypatch.setitem(sys.modules, "analognasbench.data", mod)
    out = {}
    for key, attrs in records.items():
        arch = Architecture()
        arch.__dict__.update(
            {k: DriftMeasurement(*v) if "drift" in k else v for k, v in attrs.items()}  # type: ignore[misc]
        )
        out[key] = arch
    return pickle.dumps(out)


def _attrs(key: tuple[int, ...], acc: object = 50.0) -> dict[str, object]:
    attrs: dict[str, object] = {"architecture": key}
    for name in ANALOG_METRICS:
        attrs[name] = (40.0, 1.5) if "drift" in name else acc
    return attrs


def test_small_file_loads_warns_and_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.anb"
    good.write_bytes(_fake_pickle(monkeypatch, {(0,) * 6: _attrs((0,) * 6)}))
    with pytest.warns(UserWarning, match="holds 1 cells, expected all 15625"):
        small = load_analog(good)
    rec = small[tuple_to_nb201((0,) * 6)]
    assert rec["baseline_accuracy"] == 50.0
    assert rec["analog_drift_60"] == 40.0 and rec["analog_drift_60_std"] == 1.5

    bad_key = tmp_path / "bad_key.anb"
    bad_key.write_bytes(_fake_pickle(monkeypatch, {(0, 7, 0, 0, 0, 0): _attrs((0, 7, 0, 0, 0, 0))}))
    with pytest.raises(ValueError, match=r"bad key.*op id 7 out of range"):
        load_analog(bad_key)

    bad_val = tmp_path / "bad_val.anb"
    bad_val.write_bytes(_fake_pickle(monkeypatch, {(0,) * 6: _attrs((0,) * 6, acc=math.nan)}))
    with pytest.raises(ValueError, match=r"non-finite baseline_accuracy"):
        load_analog(bad_val)


def test_benchmark_capabilities_are_the_record_columns(data: dict[str, dict[str, float]]) -> None:
    from nasforge.benchmarks.analog import AnalogNB201Benchmark

    b = AnalogNB201Benchmark(metric="analog_accuracy")
    caps = b.capabilities()
    assert caps.fidelity is None and caps.reports_cost is False
    assert set(caps.metrics) == set(next(iter(data.values())))
    assert "analog_accuracy" in caps.metrics and "analog_drift_60_std" in caps.metrics


def test_bad_metric_names_what_is_accepted() -> None:
    from nasforge.benchmarks.analog import AnalogNB201Benchmark
    from nasforge.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown metric 'acc'; accepted: baseline_accuracy, ptq_accuracy"):
        AnalogNB201Benchmark(metric="acc")
