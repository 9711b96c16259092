"""`nasforge bench`: many seeds, a table at checkpoints, a regret plot and a JSON of every run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nasforge.bench import BenchConfig, curve, incumbent_at, run_bench
from nasforge.cli import app

TRIALS = [{"objective": 1.0, "report": 10.0, "cost": 5.0}, {"objective": None, "report": None, "cost": 1.0},
          {"objective": 3.0, "report": 30.0, "cost": 5.0}, {"objective": 2.0, "report": 99.0, "cost": 5.0}]


def test_incumbent_follows_feedback_not_report():
    assert incumbent_at(TRIALS, 1, "trials") == 10.0
    assert incumbent_at(TRIALS, 4, "trials") == 30.0  # trial 3 reports 99 but its feedback is worse
    assert incumbent_at(TRIALS, 5, "seconds") == 10.0  # only the first trial started before 5 s
    assert incumbent_at(TRIALS, 5.5, "seconds") == 10.0 and incumbent_at(TRIALS, 6.5, "seconds") == 30.0
    x, y = curve(TRIALS, "seconds")
    assert list(x) == [5, 6, 11, 16] and list(y) == [10, 10, 30, 30]


def test_config_validation():
    with pytest.raises(ValueError, match="exactly one budget"):
        BenchConfig(strategies=["rea"])
    with pytest.raises(ValueError, match="checkpoints must lie in"):
        BenchConfig(strategies=["rea"], n_trials=10, checkpoints=[20])
    with pytest.raises(ValueError, match="not among the strategies"):
        BenchConfig(strategies=["rea"], n_trials=10, strategy_params={"random": {"replace": False}})


def test_run_bench_on_fake_benchmark(fake_data_dir, tmp_path):
    cfg = BenchConfig(strategies=["random", "rea"], benchmark_kwargs={"data_dir": str(fake_data_dir)},
                      seeds=[0, 1, 2], budget_seconds=2000, checkpoints=[1000, 2000],
                      strategy_params={"rea": {"population_size": 5, "sample_size": 2}}, workers=1)
    res = run_bench(cfg, tmp_path)
    assert [(r["method"], r["checkpoint"]) for r in res["rows"]] == [
        ("random", 1000), ("random", 2000), ("rea", 1000), ("rea", 2000)]
    assert all(r["n"] == 3 for r in res["rows"])
    for r in res["rows"]:
        assert r["regret"] == pytest.approx(res["best_in_table"] - r["mean"])
        assert r["relative_improvement_pct"] == pytest.approx(100 * (r["mean"] - res["random_average"]) / res["random_average"])
    # the table's figures follow from the stored runs
    runs = json.loads((tmp_path / "bench.json").read_text())["runs"]
    assert len(runs) == 6 and (tmp_path / "regret.png").stat().st_size > 1000
    rea = [incumbent_at(r["trials"], 2000, "seconds") for r in runs if r["method"] == "rea"]
    assert res["rows"][3]["mean"] == pytest.approx(sum(rea) / 3)


def test_parallel_bench_equals_serial(fake_data_dir):
    kw = dict(strategies=["rea"], benchmark_kwargs={"data_dir": str(fake_data_dir)}, seeds=[0, 1], n_trials=30)
    a = run_bench(BenchConfig(**kw, workers=1))
    b = run_bench(BenchConfig(**kw, workers=2))
    assert [r["trials"] for r in a["runs"]] == [r["trials"] for r in b["runs"]]


def test_cli_bench(fake_data_dir, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "-s", "random,local", "--data-dir", str(fake_data_dir), "--seeds", "2",
                              "--trials", "20", "--workers", "1", "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {r["method"] for r in out["rows"]} == {"random", "local"} and out["files"]["plot"].endswith("regret.png")
    res = runner.invoke(app, ["bench", "-s", "rea", "--data-dir", str(fake_data_dir), "--seeds", "1", "--trials", "10",
                              "--workers", "1", "--out", ""])
    assert res.exit_code == 0 and "rea" in res.stdout and "regret" in res.stdout
    res = runner.invoke(app, ["bench", "-s", "rea", "--data-dir", str(fake_data_dir), "--seeds", "1", "--trials", "10",
                              "--workers", "1", "--out", str(tmp_path / "o2")])
    assert res.exit_code == 0 and f"nasforge report --bench {tmp_path / 'o2'}" in " ".join(res.stdout.split())
    for args, msg in [(["-s", "nope"], "unknown strategy 'nope'"), (["-p", "population_size=3"], "malformed --param"),
                      (["-s", "rea", "-p", "rea.pop=3"], "no option"), (["--checkpoints", "a,b"], "malformed --checkpoints"),
                      (["--executor", "dask"], "unknown executor 'dask'; accepted: process, ray"),
                      (["--ray-address", "auto"], "ray_address='auto' is for the ray executor, not 'process'")]:
        r = runner.invoke(app, ["bench", "--data-dir", str(fake_data_dir), "--seeds", "1", "--trials", "5",
                                "--workers", "1", "--out", "", *args])
        assert r.exit_code == 2 and msg in " ".join(r.output.split()), (args, r.output)


def test_unknown_peer(fake_data_dir):
    pytest.importorskip("nasforge.peers")
    with pytest.raises(ValueError, match="unknown peer"):
        run_bench(BenchConfig(strategies=[], peers=["optuna-xyz"], benchmark_kwargs={"data_dir": str(fake_data_dir)},
                              seeds=[0], n_trials=5, workers=1))


def test_reuse_runs_of_an_earlier_comparison(fake_data_dir, tmp_path, monkeypatch):
    import nasforge.bench as nb

    kw = dict(benchmark_kwargs={"data_dir": str(fake_data_dir)}, n_trials=20, workers=1)
    first = run_bench(BenchConfig(strategies=["random"], seeds=[0, 1], **kw), tmp_path / "a")
    ran = []
    real = nb.run_one
    monkeypatch.setattr(nb, "run_one", lambda cfg, m, s: ran.append((m, s)) or real(cfg, m, s))
    both = run_bench(BenchConfig(strategies=["random", "rea"], seeds=[0, 1, 2], **kw), tmp_path / "b",
                     reuse=tmp_path / "a" / "bench.json")
    assert sorted(ran) == [("random", 2), ("rea", 0), ("rea", 1), ("rea", 2)]  # random 0, 1 taken as they were
    assert both["reused_runs"] == 2
    fresh = run_bench(BenchConfig(strategies=["random", "rea"], seeds=[0, 1, 2], **kw))
    assert [r["trials"] for r in both["runs"]] == [r["trials"] for r in fresh["runs"]]
    assert both["rows"] == fresh["rows"]
    assert first["rows"][-1]["n"] == 2
    with pytest.raises(ValueError, match="n_trials=20, this one 30"):
        run_bench(BenchConfig(strategies=["random"], seeds=[0], **{**kw, "n_trials": 30}),
                  reuse=tmp_path / "a" / "bench.json")
    ran.clear()  # other strategy options: not reused
    run_bench(BenchConfig(strategies=["random"], seeds=[0], strategy_params={"random": {"replace": False}}, **kw),
              reuse=tmp_path / "a" / "bench.json")
    assert ran == [("random", 0)]
