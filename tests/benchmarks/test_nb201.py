
import numpy as np
import pytest

from nasforge.benchmarks._files import DataNotFoundError
from nasforge.benchmarks.analog import AnalogNB201Benchmark
from nasforge.benchmarks.nb201 import NB201Benchmark, load_nb201_table, nb201_csv_path
from nasforge.errors import ConfigError, InvalidArchitectureError
from nasforge.evaluators.base import Capabilities
from nasforge.results import Result
from nasforge.spaces.nb201 import NB201Space
from nasforge.spaces.nbgraph import NASBenchGraphSpace

CELL_6111 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def test_real_anchors(real_nb201):
    b = NB201Benchmark(dataset="cifar10", protocol="nb201")
    best = b.arch_at(6111)
    r = b.evaluate(best)
    assert r.metrics["test_acc_200ep"] == pytest.approx(94.3733)
    assert r.value == r.metrics["valid_acc_12ep"]  # feedback = 12-epoch validation accuracy
    assert r.cost == r.metrics["train_seconds_12ep"] > 0
    assert r.fidelity == 12
    assert b.best_possible() == pytest.approx(94.3733)
    skip = b.arch_at(1835)
    assert str(skip) == "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    for dataset, value in [("cifar100", 15.6067), ("imagenet16-120", 16.3222)]:
        o = NB201Benchmark(dataset=dataset, protocol="oracle")
        res = o.evaluate(skip)
        assert res.value == pytest.approx(value) and res.cost == 0
        assert o.warning and "TEST" in o.warning and not o.provides_cost
    assert len(b.table()) == 15625


def test_oracle_protocol_uses_test_accuracy_as_feedback(fake_data_dir):
    b = NB201Benchmark(protocol="oracle", data_dir=fake_data_dir)
    a = b.space.sample(np.random.default_rng(1))
    r = b.evaluate(a)
    assert r.value == r.metrics["test_acc_200ep"]
    assert b.provides_cost and r.cost == r.metrics["train_seconds_12ep"]


def test_random_average_is_mean_of_report(fake_data_dir):
    b = NB201Benchmark(data_dir=fake_data_dir)
    vals = [row["test_acc_200ep"] for row in b.table().values()]
    assert b.random_average() == pytest.approx(float(np.mean(vals)))


def test_data_dir_env_var(fake_data_dir, monkeypatch):
    monkeypatch.setenv("NASFORGE_DATA_DIR", str(fake_data_dir))
    assert nb201_csv_path() == fake_data_dir / "nb201" / "nb201.csv"


def test_missing_file_says_where_to_put_it(tmp_path):
    b = NB201Benchmark(data_dir=tmp_path)
    with pytest.raises(DataNotFoundError) as exc:
        b.table()
    msg = str(exc.value)
    assert str(tmp_path / "nb201" / "nb201.csv") in msg and "NASFORGE_DATA_DIR" in msg


def test_bad_options():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'; accepted: cifar10, cifar100, imagenet16-120"):
        NB201Benchmark(dataset="mnist")
    with pytest.raises(ConfigError, match="unknown protocol 'fair'; accepted: nb201, oracle"):
        NB201Benchmark(protocol="fair")
    with pytest.raises(ConfigError, match="only for\\s+cifar10"):
        NB201Benchmark(dataset="cifar100", protocol="nb201")


def test_malformed_csv(tmp_path):
    (tmp_path / "nb201").mkdir()
    (tmp_path / "nb201" / "nb201.csv").write_text("index,arch\n0,x\n")
    with pytest.raises(ValueError, match="lacks columns"):
        NB201Benchmark(data_dir=tmp_path).table()


def test_unknown_arch_is_a_failed_result(fake_data_dir):
    b = NB201Benchmark(data_dir=fake_data_dir)
    b._rows = dict(list(b.table().items())[:10])  # a table missing most cells
    a = next(x for x in b.space.enumerate() if str(x) not in b._rows)
    r = b.evaluate(a)
    assert isinstance(r, Result) and r.status == "failed" and str(a) in r.error


# -- the NB201 index: a row of nb201.csv ----------------------------------------------------

def test_index_of_known_cells(real_nb201):
    b = NB201Benchmark()
    assert str(b.arch_at(6111)) == CELL_6111 and str(b.arch_at(1835)) == ALL_SKIP
    assert b.index_of(b.space.from_string(CELL_6111)) == 6111
    assert b.index_of(b.space.from_string(ALL_SKIP)) == 1835


def test_index_covers_the_space_and_is_not_the_enumeration_order(real_nb201):
    b = NB201Benchmark()
    cells = list(b.space.enumerate())
    indices = [b.index_of(a) for a in cells]
    assert sorted(indices) == list(range(15_625))
    for i in (0, 1, 1835, 6111, 15_624):
        assert b.index_of(b.arch_at(i)) == i
    # the index cannot be computed from the space's facts: the CSV's order is not the space's
    # enumeration order, nor that of any fixed edge order (neighbouring rows differ in several edges)
    assert indices != list(range(15_625))
    rows = [b.space.ops(b.arch_at(i)) for i in range(200)]
    one_edge_apart = sum(sum(x != y for x, y in zip(r, s)) == 1 for r, s in zip(rows, rows[1:]))
    assert one_edge_apart < 20


def test_index_follows_the_rows_of_the_given_file(fake_data_dir):
    b = NB201Benchmark(data_dir=fake_data_dir)
    strings = load_nb201_table(nb201_csv_path(fake_data_dir))["arch"]
    for i in (0, 7, 15_624):
        assert str(b.arch_at(i)) == strings[i] and b.index_of(b.arch_at(i)) == i


@pytest.mark.parametrize("index", [-1, 15_625, 2.0, True])
def test_index_out_of_range(fake_data_dir, index):
    with pytest.raises(InvalidArchitectureError, match=f"got {index!r}") as info:
        NB201Benchmark(data_dir=fake_data_dir).arch_at(index)
    assert "[0, 15624]" in str(info.value)


# -- the benchmark is given its space -------------------------------------------------------

def test_default_space_is_built_directly(fake_data_dir):
    b = NB201Benchmark(data_dir=fake_data_dir)
    assert type(b.space) is NB201Space and b.space.get_params() == {"C": 16, "N": 5}
    assert type(AnalogNB201Benchmark().space) is NB201Space


def test_default_spaces_do_not_go_through_the_registry():
    import subprocess
    import sys

    code = ("import sys\n"
            "from nasforge.benchmarks.nb201 import NB201Benchmark\n"
            "from nasforge.benchmarks.analog import AnalogNB201Benchmark\n"
            "from nasforge.benchmarks.nbgraph import NASBenchGraphBenchmark\n"
            "spaces = [NB201Benchmark().space, AnalogNB201Benchmark().space, NASBenchGraphBenchmark('proteins').space]\n"
            "print([type(s).__name__ for s in spaces], spaces[2].op_set)\n"
            "assert 'nasforge.registry' not in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "['NB201Space', 'NB201Space', 'NASBenchGraphSpace'] proteins"


def test_given_space_is_used(fake_data_dir):
    space = NB201Space(C=8, N=1)
    b = NB201Benchmark(data_dir=fake_data_dir, space=space)
    assert b.space is space
    a = space.sample(np.random.default_rng(0))
    assert b.evaluate(a).metrics == b.table()[str(a)]
    assert AnalogNB201Benchmark(space=space).space is space


@pytest.mark.parametrize("cls", [NB201Benchmark, AnalogNB201Benchmark])
def test_a_space_of_the_wrong_kind_is_refused(cls):
    with pytest.raises(ConfigError, match=r"needs|NB201Space") as info:
        cls(space=NASBenchGraphSpace())
    msg = str(info.value)
    assert "NB201Space" in msg and "NASBenchGraphSpace" in msg and "'nasbench-graph'" in msg


# -- capabilities ---------------------------------------------------------------------------

def test_capabilities_nb201_protocol(fake_data_dir):
    b = NB201Benchmark(data_dir=fake_data_dir)
    caps = b.capabilities()
    assert isinstance(caps, Capabilities)
    assert caps.fidelity is None and caps.reports_cost is True and caps.simulated_cost is True
    row = next(iter(b.table().values()))
    assert set(caps.metrics) == set(row) == {"test_acc_200ep", "valid_acc_12ep", "train_seconds_12ep"}
    assert b.objective in caps.metrics and b.report in caps.metrics


def test_capabilities_without_cost(fake_data_dir):
    b = NB201Benchmark(dataset="cifar100", protocol="oracle", data_dir=fake_data_dir)
    caps = b.capabilities()
    assert caps.fidelity is None and caps.reports_cost is False and caps.simulated_cost is False
    assert caps.metrics == tuple(next(iter(b.table().values()))) == ("test_acc_200ep",)
    # one row whatever fidelity is asked
    a = b.space.sample(np.random.default_rng(3))
    assert b.evaluate(a, fidelity=1).metrics == b.evaluate(a, fidelity=200).metrics
