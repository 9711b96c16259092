"""`proxy_study` and `nasforge proxies`: a sample of cells, correlations, resume, the proxy table."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

import nasforge.evaluators.proxy_study as ps
from nasforge.cli import app
from nasforge.evaluators.proxy_study import ProxyTable, proxy_study, rank_correlations, sample_architectures
from nasforge.registry import create_benchmark
from nasforge.spaces.nb201 import NB201Space

SMALL = {"C": 2, "N": 1}


def test_rank_correlations():
    rho, tau, n = rank_correlations([1, 2, 3, 4, math.nan], [10, 20, 30, 35, 1])
    assert (rho, tau, n) == (pytest.approx(1.0), pytest.approx(1.0), 4)
    rho, tau, _ = rank_correlations([4, 3, 2, 1], [1, 2, 3, 4])
    assert rho == pytest.approx(-1.0) and tau == pytest.approx(-1.0)
    assert math.isnan(rank_correlations([1, 1, 1], [1, 2, 3])[0])  # a constant proxy ranks nothing


def test_sample_is_distinct_and_seeded():
    space = NB201Space()
    a, b = sample_architectures(space, 50, 3), sample_architectures(space, 50, 3)
    assert a == b and len({space.key(x) for x in a}) == 50
    assert sample_architectures(space, 50, 4) != a
    with pytest.raises(ValueError, match="sample must be an integer >= 1, got 0"):
        sample_architectures(space, 0, 0)


def test_study_scores_resumes_and_feeds_a_table(fake_data_dir, tmp_path, monkeypatch):
    bench = create_benchmark("nb201", dataset="cifar100", protocol="oracle", data_dir=str(fake_data_dir))
    out = tmp_path / "p.jsonl"
    kw = dict(sample=6, seed=1, proxies="naswot,synflow,params", batch_size=4, space_options=SMALL, out=out)
    res = proxy_study("nb201", bench, **kw)
    assert res["config"]["num_classes"] == 100 and res["config"]["data"] == "patches"
    assert [r["proxy"] for r in res["rows"]] == ["naswot", "synflow", "params"]
    table = bench.table()
    for c in res["cells"]:  # the accuracy is the benchmark's reported metric of that cell
        assert c["accuracy"] == pytest.approx(table[c["arch"]]["test_acc_200ep"])
    acc = [c["accuracy"] for c in res["cells"]]
    syn = [c["values"]["synflow"] for c in res["cells"]]
    assert res["rows"][1]["spearman"] == pytest.approx(rank_correlations(syn, acc)[0])
    # a crash cut the last line: resuming scores only that cell again, and the others are kept
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10] + "\n")
    scored = []
    real = ps._score
    monkeypatch.setattr(ps, "_score", lambda t: scored.append(t) or real(t))
    again = proxy_study("nb201", bench, **kw)
    assert len(scored) == 1
    assert [(r["spearman"], r["kendall"]) for r in again["rows"]] == [(r["spearman"], r["kendall"]) for r in res["rows"]]
    with pytest.raises(ValueError, match="another configuration"):
        proxy_study("nb201", bench, **{**kw, "batch_size": 8})
    # the file is a scorer for strategies
    space = NB201Space(**SMALL)
    tab = ProxyTable(space, out, proxies="synflow")
    first = space.from_string(res["cells"][0]["arch"])
    assert tab(first) == {"synflow": res["cells"][0]["values"]["synflow"]}
    other = next(a for a in space.enumerate() if space.to_string(a) not in tab.values)
    with pytest.raises(KeyError, match="is not in the proxy table"):
        tab(other)
    with pytest.raises(ValueError, match=r"has no \['zen'\]"):
        ProxyTable(space, out, proxies="zen")


def test_cli_proxies_prints_its_table(fake_data_dir, tmp_path):
    r = CliRunner().invoke(app, ["proxies", "--sample", "4", "--proxies", "synflow,params", "--batch-size", "4",
                                 "--data-dir", str(fake_data_dir), "--dataset", "cifar10", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert [row["proxy"] for row in res["rows"]] == ["synflow", "params"] and len(res["cells"]) == 4
    r = CliRunner().invoke(app, ["proxies", "--sample", "3", "--proxies", "params", "--batch-size", "4",
                                 "--data-dir", str(fake_data_dir)])
    assert r.exit_code == 0 and "Spearman" in r.stdout and "params" in r.stdout and "crops" in r.stdout
    bad = CliRunner().invoke(app, ["proxies", "--proxies", "synflo", "--data-dir", str(fake_data_dir)])
    assert bad.exit_code == 2 and "unknown proxy name" in bad.output
    bad = CliRunner().invoke(app, ["proxies", "--data", "task", "--data-dir", str(fake_data_dir)])
    assert bad.exit_code == 2 and "patches or noise" in bad.output
    for args, msg in [(["--executor", "dask"], "unknown executor 'dask'; accepted: process, ray"),
                      (["--ray-address", "auto"], "ray_address='auto' is for the ray executor, not 'process'")]:
        bad = CliRunner().invoke(app, ["proxies", "--sample", "2", "--data-dir", str(fake_data_dir), *args])
        assert bad.exit_code == 2 and msg in " ".join(bad.output.split()), (args, bad.output)


def test_worker_processes_give_the_serial_study(fake_data_dir, tmp_path):
    bench = create_benchmark("nb201", dataset="cifar10", protocol="oracle", data_dir=str(fake_data_dir))
    kw = dict(sample=4, seed=2, proxies="synflow,params", batch_size=4, space_options=SMALL)
    serial = proxy_study("nb201", bench, **kw)
    seen = []
    par = proxy_study("nb201", bench, workers=2, out=tmp_path / "p.jsonl", progress=lambda i, n: seen.append((i, n)),
                      **kw)
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [(c["arch"], c["values"]) for c in par["cells"]] == [(c["arch"], c["values"]) for c in serial["cells"]]
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 5  # the config line and one line per cell


def test_sample_architectures_of_a_huge_space():
    from nasforge.evaluators.proxy_study import sample_architectures
    from nasforge.spaces.mobilenet import MobileNetSpace

    sp = MobileNetSpace()
    archs = sample_architectures(sp, 5, 0)
    assert len({sp.key(a) for a in archs}) == 5 and archs == sample_architectures(sp, 5, 0)
