import os

import numpy as np
import pytest

from nasforge.benchmarks._files import DataNotFoundError
from nasforge.benchmarks.nb201 import NB201Benchmark, nb201_csv_path
from nasforge.results import Result


def test_real_anchors(real_nb201):
    b = NB201Benchmark(dataset="cifar10", protocol="nb201")
    best = b.space.from_index(6111)
    r = b.evaluate(best)
    assert r.metrics["test_acc_200ep"] == pytest.approx(94.3733)
    assert r.value == r.metrics["valid_acc_12ep"]  # feedback = 12-epoch validation accuracy
    assert r.cost == r.metrics["train_seconds_12ep"] > 0
    assert r.fidelity == 12
    assert b.best_possible() == pytest.approx(94.3733)
    skip = b.space.from_index(1835)
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
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; accepted: cifar10"):
        NB201Benchmark(dataset="mnist")
    with pytest.raises(ValueError, match="unknown protocol 'fair'"):
        NB201Benchmark(protocol="fair")
    with pytest.raises(ValueError, match="only for\\s+cifar10"):
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
