"""The command line, driven through Typer's test runner (and once as a real process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nasforge.cli import app

runner = CliRunner()


def run(*args: str, code: int = 0):
    res = runner.invoke(app, list(args))
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    return res


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path}/cli.db"


def search_json(db, *extra):
    return json.loads(run("search", "--storage", db, "--json", *extra).stdout)


def test_search_json_shape(fake_data_dir, db):
    out = search_json(db, "--data-dir", str(fake_data_dir), "--strategy", "rea", "--budget-seconds", "3000",
                      "--seed", "0", "-p", "population_size=5", "-p", "sample_size=2")
    assert out["study"] == "nb201-cifar10-rea-s0"
    assert set(out["best"]) >= {"arch", "metrics"} and "test_acc_200ep" in out["best"]["metrics"]
    assert out["trials"] > 0 and out["cost_seconds"] >= 3000 and out["cost_kind"] == "simulated" and out["wall_seconds"] > 0
    assert out["strategy"] == {"name": "rea", "seed": 0, "population_size": 5, "sample_size": 2, "mutation_rate": None,
                               "unique": False}


def test_search_table_and_show_and_studies(fake_data_dir, db):
    res = run("search", "--storage", db, "--data-dir", str(fake_data_dir), "--trials", "30", "--strategy", "random",
              "--study", "mine", "--no-progress")
    assert "best architecture" in res.stdout and "test_acc_200ep (reported)" in res.stdout
    shown = json.loads(run("show", "mine", "--storage", db, "--top", "3", "--json").stdout)
    objs = [t["value"] for t in shown["top"]]
    assert len(objs) == 3 and objs == sorted(objs, reverse=True)
    assert shown["counts"]["complete"] == 30
    table = run("show", "mine", "--storage", db).stdout
    assert shown["top"][0]["arch"] in table
    studies = json.loads(run("studies", "--storage", db, "--json").stdout)
    assert [s["study"] for s in studies] == ["mine"] and studies[0]["trials"] == 30
    assert "mine" in run("studies", "--storage", db).stdout


def test_resume_extends_a_study(fake_data_dir, db):
    args = ["--data-dir", str(fake_data_dir), "--study", "r", "--strategy", "rea", "--seed", "3"]
    first = search_json(db, *args, "--trials", "20")
    again = run("search", "--storage", db, *args, "--trials", "20", code=2)
    assert "already exists" in again.output and "--resume" in again.output
    more = search_json(db, *args, "--trials", "50", "--resume")
    assert first["trials"] == 20 and more["trials"] == 50
    ref = search_json("sqlite:///:memory:", *args, "--trials", "50")
    assert ref["best"] == more["best"]


def test_resume_without_a_strategy_continues_with_the_recorded_one(fake_data_dir, db):
    args = ["--data-dir", str(fake_data_dir), "--study", "k", "--seed", "1"]
    search_json(db, *args, "--trials", "10", "--strategy", "rea", "-p", "population_size=4")
    more = search_json(db, *args, "--trials", "25", "--resume")
    assert more["trials"] == 25 and more["strategy"] == {**more["strategy"], "name": "rea", "population_size": 4}
    ref = search_json("sqlite:///:memory:", *args, "--trials", "25", "--strategy", "rea", "-p", "population_size=4")
    assert ref["best"] == more["best"]


def test_oracle_says_it_selects_on_test(fake_data_dir, db):
    out = search_json(db, "--data-dir", str(fake_data_dir), "--protocol", "oracle", "--trials", "10")
    assert "TEST" in out["warning"]
    res = run("search", "--storage", db, "--data-dir", str(fake_data_dir), "--protocol", "oracle", "--trials", "10",
              "--study", "o2")
    assert "TEST" in res.output


def test_other_benchmarks(db):
    out = search_json(db, "-b", "nasbench-graph", "--dataset", "citeseer", "--trials", "20", "-s", "local")
    assert set(out["best"]["metrics"]) == {"valid_perf", "perf", "latency", "para"}
    out = search_json(db, "-b", "analog-nb201", "--metric", "analog_accuracy", "--trials", "20")
    assert out["best"]["value"] == out["best"]["metrics"]["analog_accuracy"]


@pytest.mark.parametrize("args,message", [
    (["search", "--strategy", "rae"], "unknown strategy 'rae'"),
    (["search", "-b", "nb2O1"], "unknown benchmark 'nb2O1'"),
    (["search", "--space", "nasbench-graph"], "covers space 'nb201', not 'nasbench-graph'"),
    (["search", "--space", "nope"], "unknown space 'nope'"),
    (["search", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["search", "-p", "population_size"], "malformed --param 'population_size'"),
    (["search", "-s", "rea", "-p", "pop=3"], "strategy 'rea' has no option(s) pop"),
    (["search", "-s", "rea", "-p", "population_size=0"], "population_size must be an integer >= 1, got 0"),
    (["search", "--trials", "0"], "--trials must be at least 1, got 0"),
    (["search", "--budget-seconds", "-5"], "--budget-seconds must be a positive number of seconds"),
    (["search", "-b", "analog-nb201", "--budget-seconds", "100"], "budget_seconds needs an evaluator"),
    (["search", "--task", "digits", "-P", "C8"], "malformed --space-param 'C8'; expected key=value, e.g. C=8"),
    (["search", "-o", "val:up"], "malformed objective 'val:up'"),
    (["search", "-c", "params < big"], "'big' is not a number"),
    (["search", "-c", "params <= 1e6"], "constraint metric 'params' is not measured"),
    (["bench", "--trials", "-1"], "--trials must be at least 1, got -1"),
    (["train", "--task", "digits", "--space", "nb201", "--arch", "x", "--epochs", "0"], "--epochs must be at least 1"),
    (["search", "-b", "analog-nb201", "--dataset", "cifar10"], "benchmark 'analog-nb201' has no option(s) dataset"),
    (["search", "--storage", "nasforge.db"], "is not a URL"),
    (["search", "--data-dir", "/nonexistent/dir", "--trials", "3"], "NAS-Bench-201 data not found"),
    (["search", "--resume", "--study", "ghost"], "no study named 'ghost' to resume"),
    (["list", "widgets"], "unknown kind 'widgets'"),
    (["show", "nope"], "no study database at"),
    (["show", "x", "--top", "0"], "--top must be at least 1"),
])
def test_bad_input_is_a_clear_error(args, message, tmp_path, monkeypatch, fake_data_dir):
    monkeypatch.chdir(tmp_path)
    if "--storage" not in args and args[0] == "search":
        args = [*args, "--storage", f"sqlite:///{tmp_path}/e.db"]
    if "--data-dir" not in args and args[0] == "search" and "-b" not in args:
        args = [*args, "--data-dir", str(fake_data_dir)]
    res = run(*args, code=2)
    assert "error:" in res.output and message in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_show_unknown_study(db, fake_data_dir):
    search_json(db, "--data-dir", str(fake_data_dir), "--trials", "3", "--study", "known")
    res = run("show", "ghost", "--storage", db, code=2)
    assert "no study named 'ghost'; known: known" in res.output


@pytest.mark.parametrize("kind,name", [("spaces", "nb201"), ("strategies", "rea"), ("benchmarks", "analog-nb201"),
                                       ("hardware", "lut")])
def test_list(kind, name):
    rows = json.loads(run("list", kind, "--json").stdout)
    assert name in [r["name"] for r in rows]
    assert name in run("list", kind).stdout


def test_list_strategies_names_the_default():
    from nasforge.registry import DEFAULT_STRATEGY

    rows = {r["name"]: r["about"] for r in json.loads(run("list", "strategies", "--json").stdout)}
    assert rows[DEFAULT_STRATEGY].startswith("(the default)")
    assert sum("(the default)" in about for about in rows.values()) == 1


def test_console_script_runs(tmp_path):
    exe = [sys.executable, "-m", "nasforge.cli"]
    res = subprocess.run([*exe, "list", "strategies"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "rea" in res.stdout
    res = subprocess.run([*exe, "search", "--strategy", "nope"], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert res.returncode == 2 and "unknown strategy 'nope'" in res.stderr


def test_training_free_search_computes_or_reads_proxies(fake_data_dir, db, tmp_path):
    # naswot on the fly: N=4 small networks scored, the best evaluated first
    out = search_json(db, "--data-dir", str(fake_data_dir), "--strategy", "naswot", "-p", "n_samples=4",
                      "--proxies", "synflow", "-p", "proxy=synflow", "--proxy-batch-size", "4", "--trials", "2")
    assert out["trials"] == 2 and out["strategy"]["scorer"]["proxies"] == ["synflow"]
    assert out["strategy"]["scorer"]["data"] == "patches" and out["strategy"]["scorer"]["num_classes"] == 10
    # prescreened REA reading a proxy table written by `nasforge proxies --out`
    from nasforge.spaces.nb201 import NB201Space

    table, space = tmp_path / "t.jsonl", NB201Space()
    lines = [json.dumps({"config": {"proxies": ["params"]}})]
    lines += [json.dumps({"arch": space.to_string(a), "values": {"params": float(space.ops(a).count("nor_conv_3x3"))}})
              for a in space.enumerate()]
    table.write_text("\n".join(lines) + "\n")
    out = search_json(db, "--data-dir", str(fake_data_dir), "--strategy", "prescreen", "-p", "proxy=params",
                      "-p", "k=3", "--proxy-table", str(table), "--trials", "12", "--study", "pre")
    assert out["trials"] == 12 and out["strategy"]["scorer"]["table"] == str(table)
    out = search_json(db, "--data-dir", str(fake_data_dir), "--strategy", "robot", "-p", "proxies=params",
                      "-p", "bo_queries=2", "--proxy-table", str(table), "--trials", "4", "--study", "rob")
    assert out["trials"] == 4 and out["strategy"]["proxies"] == ["params"]
    bad = run("search", "--storage", db, "--data-dir", str(fake_data_dir), "--strategy", "rea", "--proxies",
              "synflow", code=2)
    assert "training-free strategies" in bad.output


def test_version():
    from nasforge import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"nasforge {__version__}"


def test_constrained_multi_objective_search_json(fake_data_dir, db):
    out = search_json(db, "--data-dir", str(fake_data_dir), "-s", "nsga2", "--trials", "30",
                      "-o", "valid_acc_12ep:max,train_seconds_12ep:min", "-c", "train_seconds_12ep <= 120")
    assert out["objectives"] == ["valid_acc_12ep:max", "train_seconds_12ep:min"]
    assert out["constraints"] == ["train_seconds_12ep <= 120"]
    assert out["best"]["metrics"]["train_seconds_12ep"] <= 120 and out["pareto"]
    assert all(p["metrics"]["train_seconds_12ep"] <= 120 for p in out["pareto"])
    shown = json.loads(runner.invoke(app, ["show", out["study"], "--storage", db, "--json"]).stdout)
    assert shown["pareto"] == out["pareto"] and shown["infeasible"] == out["infeasible"]


def test_bench_never_overwrites_an_earlier_comparison(fake_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        run("bench", "-s", "random", "--data-dir", str(fake_data_dir), "--seeds", "1", "--trials", "5",
            "--workers", "1")
    folders = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("bench-nb201-"))
    assert len(folders) == 2 and all((tmp_path / f / "bench.json").is_file() for f in folders)


def test_progress_callback_does_not_rescan_the_study(fake_data_dir, db, monkeypatch):
    from nasforge.study import Study

    calls = []
    real = Study.best_trial
    monkeypatch.setattr(Study, "best_trial", lambda self: (calls.append(1), real(self))[1])
    run("search", "--storage", db, "--data-dir", str(fake_data_dir), "--trials", "200", "-s", "random")
    assert len(calls) <= 3  # once at the start (and in the summary), never per trial


def test_plain_progress_lines_when_not_a_terminal(fake_data_dir, db):
    res = run("search", "--storage", db, "--data-dir", str(fake_data_dir), "--trials", "3", "-s", "random")
    lines = [l for l in res.output.splitlines() if l.startswith("trial ")]
    assert [l.split(":")[0] for l in lines] == ["trial 0", "trial 1", "trial 2"]
    assert all("valid_acc_12ep" in l and "best valid_acc_12ep" in l for l in lines)


def test_search_without_a_strategy_uses_the_default(fake_data_dir, db):
    from nasforge.registry import DEFAULT_STRATEGY, STRATEGIES

    assert DEFAULT_STRATEGY in STRATEGIES.list()
    out = search_json(db, "--data-dir", str(fake_data_dir), "--trials", "12", "--seed", "1")
    assert out["strategy"]["name"] == DEFAULT_STRATEGY
    assert out["study"] == f"nb201-cifar10-{DEFAULT_STRATEGY}-s1" and out["trials"] == 12
