"""The command line on real data: search --task, train, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.cli import app
from nasforge.registry import DEFAULT_STRATEGY

runner = CliRunner()
SMALL = ["--space", "nb201", "-P", "C=4", "-P", "N=1", "--epochs", "1", "--batch-size", "128"]


def run(*args: str, code: int = 0):
    res = runner.invoke(app, list(args))
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    return res


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-train")
    db = f"sqlite:///{d}/t.db"
    out = json.loads(run("search", "--task", "digits", *SMALL, "--trials", "3", "--strategy", "random",
                         "--storage", db, "--study", "dg", "--json").stdout)
    return d, db, out


def test_search_on_digits(searched):
    _, _, out = searched
    assert out["trials"] == 3 and out["failed"] == 0
    m = out["best"]["metrics"]
    assert 0 <= m["val_acc"] <= 100 and m["params"] > 0 and m["flops"] > 0 and m["latency_ms"] > 0
    assert out["task"]["input_shape"] == [1, 8, 8] and out["space"] == {"name": "nb201", "C": 4, "N": 1}
    assert out["cost_seconds"] > 0 and out["cost_kind"] == "measured"  # training seconds are the cost


def test_train_from_study_then_export(searched):
    d, db, out = searched
    ck = d / "ck"
    res = json.loads(run("train", "--study", "dg", "--storage", db, "--epochs", "2", "--baseline-random", "1",
                         "--out", str(ck), "--json").stdout)
    assert res["arch"] == out["best"]["arch"] and res["epochs"] == 2 and 0 <= res["test_acc"] <= 100
    assert res["random_baseline"]["n"] == 1 and (ck / "genotype.json").is_file()
    pytest.importorskip("onnxruntime")
    man = json.loads(run("export", str(ck), "--json").stdout)
    assert man["onnx_max_abs_diff"] <= 1e-4 and (ck / "model.onnx").is_file() and (ck / "model.ts").is_file()


def test_train_explicit_arch_and_table_output(tmp_path):
    arch = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"
    res = run("train", "--task", "digits", "--space", "nb201", "-P", "C=4", "-P", "N=1", "--arch", arch,
              "--epochs", "1")
    assert "test accuracy" in res.stdout and arch in res.stdout


def test_npz_task(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 1, 6, 6)).astype(np.float32)
    y = np.arange(90) % 3
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    out = json.loads(run("search", "--task", str(tmp_path / "mine.npz"), *SMALL, "--trials", "2",
                         "--storage", "memory:", "--json").stdout)
    assert out["study"] == f"mine-nb201-{DEFAULT_STRATEGY}-s0" and out["task"]["num_classes"] == 3


@pytest.mark.parametrize("args,message", [
    (["search", "--task", "digits", "-b", "nb201"], "either --benchmark"),
    (["search", "--task", "nope.xyz", "--storage", "memory:"], "nope.xyz"),
    (["search", "--task", "digits", "--space", "nasbench-graph", "--trials", "1", "--storage", "memory:"],
     "cannot build networks"),
    (["search", "--task", "digits", *SMALL, "--workers", "0", "--storage", "memory:"], "--workers must be at least 1"),
    (["search", "--task", "digits", "--space", "nb201", "-P", "D=3", "--storage", "memory:"], "space 'nb201' has no option(s) D"),
    (["search", "--task", "digits", *SMALL[:6], "--optimizer", "adam", "--storage", "memory:"], "unknown optimizer 'adam'"),
    (["search", "-b", "nb201", "-P", "C=4"], "--space-param is for --task"),
    (["train"], "give --study NAME, or all of --task, --space and --arch"),
    (["train", "--task", "digits", "--space", "nb201", "--arch", "|bad|"], "malformed NB201 cell"),
    (["export", "/nonexistent/ck"], "not a nasforge checkpoint"),
    (["search", "-b", "nb201", "--hardware", "lut"], "--hardware and --hardware-option are for --task and --supernet searches"),
    (["search", "--task", "digits", *SMALL, "--hardware", "gpu", "--storage", "memory:"],
     "unknown hardware model 'gpu'; known: lut, measured, predictor"),
    (["search", "--task", "digits", *SMALL, "-H", "backend=tensorrt", "--storage", "memory:"],
     "unknown latency backend 'tensorrt'; accepted: torch, onnxruntime, onnxruntime-int8"),
])
def test_bad_input(args, message):
    res = run(*args, code=2)
    assert message in " ".join(res.output.split()) and "Traceback" not in res.output


def test_train_refuses_benchmark_studies(tmp_path, fake_data_dir):
    db = f"sqlite:///{tmp_path}/b.db"
    run("search", "--data-dir", str(fake_data_dir), "--trials", "2", "--storage", db, "--study", "tab", "--json")
    res = run("train", "--study", "tab", "--storage", db, code=2)
    assert "only task studies (--task) can be retrained" in res.output


def test_a_study_of_a_relative_task_path_retrains_from_another_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    (tmp_path / "data").mkdir()
    (tmp_path / "elsewhere").mkdir()
    np.savez(tmp_path / "data" / "mine.npz", X=rng.normal(size=(90, 1, 6, 6)).astype(np.float32),
             y=np.arange(90) % 3)
    db = f"sqlite:///{tmp_path}/rel.db"
    monkeypatch.chdir(tmp_path / "data")
    run("search", "--task", "mine.npz", *SMALL, "--trials", "2", "--storage", db, "--study", "rel", "--json")
    monkeypatch.chdir(tmp_path / "elsewhere")
    res = json.loads(run("train", "--study", "rel", "--storage", db, "--epochs", "1", "--json").stdout)
    assert res["task"] == "mine" and 0 <= res["test_acc"] <= 100
    res = run("train", "--study", "rel", "--storage", db, "--task", "digits", code=2)
    assert "records its task" in res.output  # --task with --study is refused, not ignored


def test_train_prints_plain_lines_in_a_log(searched):
    _, db, _ = searched
    res = run("train", "--study", "dg", "--storage", db, "--epochs", "1", "--baseline-random", "1")
    assert "[0/2] training" in res.output and "[2/2] random baseline 1/1: test accuracy" in res.output


def test_search_for_accuracy_against_latency_from_a_lookup_table():
    out = json.loads(run("search", "--task", "digits", *SMALL, "--trials", "3", "--strategy", "nsga2",
                         "--objective", "val_acc:max", "--objective", "latency_ms:min", "--hardware", "lut",
                         "-H", "backend=onnxruntime", "-H", "calibration=2", "-H", "profile=1",
                         "--storage", "memory:", "--json").stdout)
    assert out["objectives"] == ["val_acc:max", "latency_ms:min"] and out["trials"] == 3
    assert out["pareto"] and all(p["metrics"]["latency_ms"] >= 0 for p in out["pareto"])
    assert out["hypervolume"] >= 0 and len(out["reference_point"]) == 2 and out["reference_kind"] == "worst"


USER_SPACE = '''
import torch.nn as nn

def small(c, task):
    width = c.choice("width", [4, 8])
    act = c.choice("act", {"relu": nn.ReLU, "tanh": nn.Tanh})
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), act(), nn.Linear(width, task.num_classes))
'''


def test_a_user_space_from_a_file_is_searched_listed_and_retrained(tmp_path):
    f = tmp_path / "my_space.py"
    f.write_text(USER_SPACE)
    db = f"sqlite:///{tmp_path}/u.db"
    out = json.loads(run("search", "--task", "digits", "--space", f"{f}:small", "--epochs", "1", "--trials", "3",
                         "--strategy", "random", "--storage", db, "--json").stdout)
    assert out["study"] == "digits-small-random-s0" and out["trials"] == 3 and out["failed"] == 0
    rows = json.loads(run("list", "spaces", "--space", f"{f}:small", "--json").stdout)
    mine = [r for r in rows if r["name"] == "small"]
    assert mine and mine[0]["size"] == 4 and "width [4, 8]" in mine[0]["about"]
    # a new process-like path: the study records the space's source, so retraining re-creates it
    res = run("train", "--study", out["study"], "--storage", db, "--epochs", "1", "--json")
    assert json.loads(res.stdout)["test_acc"] > 0
    res = run("list", "strategies", "--space", f"{f}:small", code=2)
    assert "--space adds user spaces to `nasforge list spaces`" in res.output


def test_list_spaces_runs_a_user_space_with_the_task_given(tmp_path):
    f = tmp_path / "table.py"
    f.write_text("import torch.nn as nn\n\ndef table(c, task):\n    (n,) = task.input_shape\n"
                 "    w = c.choice('w', [2, 4])\n    return nn.Sequential(nn.Linear(n, w), nn.Linear(w, task.num_classes))\n")
    np.savez(tmp_path / "t.npz", X=np.random.default_rng(0).normal(size=(60, 5)), y=np.arange(60) % 3)
    rows = json.loads(run("list", "spaces", "--space", f"{f}:table", "--task", str(tmp_path / "t.npz"),
                          "--json").stdout)
    assert [r["size"] for r in rows if r["name"] == "table"] == [2]
    assert "--task is for --space" in run("list", "spaces", "--task", "digits", code=2).output
