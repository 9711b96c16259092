"""api.oneshot and `nasforge oneshot`: recorded through add_trial, shown, retrained, resumed after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nasforge import api
from nasforge.errors import ConfigError, StudyExistsError
from nasforge.testing import tiny_task

OPTS = {"epochs": 2, "batch_size": 16, "threads": 1}


def _task_file(tmp_path: Path) -> str:
    t = tiny_task(n=90, classes=3, image=True)
    path = tmp_path / "tiny.npz"
    np.savez(path, X=np.concatenate([t.X_train, t.X_val, t.X_test]), y=np.concatenate([t.y_train, t.y_val, t.y_test]))
    return str(path)


def test_the_derived_architecture_is_recorded_and_retrainable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    task = _task_file(tmp_path)
    out = api.oneshot("gdas", task=task, space="nb201", space_options={"C": 2, "N": 1}, storage=url,
                      method_options=OPTS, training_options={"epochs": 1}, checkpoint_dir=tmp_path / "ck")
    assert out["study"] == "tiny-nb201-gdas-s0" and out["number"] == 0
    summary = api.summarise(out["study"], url)
    best = summary["best"]
    assert best["arch"] == out["arch"] and best["source"] == "gdas"
    assert best["value"] == pytest.approx(out["val_acc"])
    assert summary["config"]["oneshot"]["method"] == "gdas" and summary["config"]["strategy"] == "oneshot:gdas"
    rows = api.list_studies(url)
    assert rows[0]["strategy"] == "oneshot:gdas"
    # `nasforge train` on the study retrains the derived architecture with the recorded schedule
    result = api.retrain(out["study"], url, epochs=1, threads=1)
    assert result["arch"] == out["arch"] and 0 <= result["test_acc"] <= 100


@pytest.mark.parametrize("method", ["darts", "darts2", "gdas"])
def test_every_method_records_its_result_with_the_search_cost(tmp_path: Path, method: str) -> None:
    from nasforge.registry import ONESHOT

    assert method in ONESHOT.list()
    url = f"sqlite:///{tmp_path / 's.db'}"
    out = api.oneshot(method, task=_task_file(tmp_path), space_options={"C": 2, "N": 1}, storage=url,
                      method_options={**OPTS, "epochs": 1})
    rec = api.summarise(out["study"], url)["best"]
    assert rec["source"] == method and rec["arch"] == out["arch"]
    assert rec["metrics"]["method"] == method and rec["metrics"]["search_seconds"] > 0
    assert rec["metrics"]["val_acc"] == pytest.approx(out["val_acc"])


def test_resuming_a_finished_run_records_nothing_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    task = _task_file(tmp_path)
    kw = dict(task=task, space="nb201", space_options={"C": 2, "N": 1}, storage=url, method_options=OPTS,
              checkpoint_dir=tmp_path / "ck")
    first = api.oneshot("darts", **kw)
    with pytest.raises((StudyExistsError, ConfigError), match="exists"):  # the checkpoint is checked first
        api.oneshot("darts", **kw)
    again = api.oneshot("darts", resume=True, **kw)
    assert again["number"] == first["number"] and again["arch"] == first["arch"]
    assert len(api.summarise(first["study"], url)["top"]) == 1


def test_a_one_shot_study_does_not_ask(tmp_path: Path) -> None:
    from nasforge.oneshot.record import OneShotRecord
    from nasforge.spaces.nb201 import NB201Space

    with pytest.raises(ConfigError, match="does not propose trials"):
        OneShotRecord(NB201Space(), method="darts").ask()


def test_bad_input_is_refused_before_a_study_exists(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    task = _task_file(tmp_path)
    with pytest.raises(ConfigError, match="space 'nasbench-graph' has no supernet"):
        api.oneshot("darts", task=task, space="nasbench-graph", storage=url, method_options=OPTS)
    with pytest.raises(ConfigError, match="has no option.*nope"):
        api.oneshot("darts", task=task, space="nb201", storage=url, method_options={"nope": 1})
    assert not (tmp_path / "s.db").exists()  # nothing was created
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "oneshot.pt").write_bytes(b"from an earlier run")
    with pytest.raises(ConfigError, match="exists from an earlier run"):
        api.oneshot("darts", task=task, space="nb201", storage=url, method_options=OPTS,
                    checkpoint_dir=tmp_path / "old")
    assert not (tmp_path / "s.db").exists()


def _cli(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nasforge.cli", "oneshot", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_run_killed_mid_search_resumes_to_the_uninterrupted_architecture(tmp_path: Path) -> None:
    task = _task_file(tmp_path)
    common = ["--task", task, "-P", "C=2", "-P", "N=1", "--epochs", "6", "--batch-size", "16", "--threads", "1",
              "--select", "pt", "-p", "pt_tune_steps=3", "--json"]
    full = _cli(*common, "--storage", "sqlite:///full.db", "--checkpoint-dir", "ck-full", cwd=tmp_path)
    out, err = full.communicate(timeout=300)
    assert full.returncode == 0, err
    expected = json.loads(out)

    run = _cli(*common[:-1], "--storage", "sqlite:///killed.db", cwd=tmp_path)
    ck = tmp_path / "nasforge-checkpoints" / "tiny-nb201-darts-s0" / "oneshot.pt"  # the default place
    deadline = time.time() + 240
    while not ck.exists() and time.time() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert ck.exists(), run.communicate()[1]
    assert run.poll() is None, "the run ended before it could be killed"
    run.send_signal(signal.SIGKILL)  # no chance to clean up: only the last checkpoint survives
    run.communicate()
    resumed = _cli(*common, "--storage", "sqlite:///killed.db", "--resume", cwd=tmp_path)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    got = json.loads(out)
    assert got["arch"] == expected["arch"] and got["val_acc"] == pytest.approx(expected["val_acc"])
    assert got["metrics"]["alphas"] == expected["metrics"]["alphas"]


def test_cli_prints_progress_lines_and_where_the_result_went(tmp_path: Path) -> None:
    task = _task_file(tmp_path)
    p = _cli("--task", task, "-P", "C=2", "-P", "N=1", "--epochs", "2", "--batch-size", "16", "--method", "gdas",
             "--threads", "1", "--storage", "sqlite:///s.db", cwd=tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "derived |" in err
    assert "recorded as trial 0 of study tiny-nb201-gdas-s0" in out and "nasforge train --study" in out
    again = _cli("--task", task, "--method", "gdas", "--storage", "sqlite:///s.db", cwd=tmp_path)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 2 and "exists" in err and "--resume" in err
    bad = _cli("--task", task, "--method", "enas", "--storage", "sqlite:///s.db", cwd=tmp_path)
    _, err = bad.communicate(timeout=300)
    assert bad.returncode == 2 and "unknown one-shot method 'enas'" in err and "darts, darts2, fewshot, gdas" in err


def test_list_shows_the_methods_and_supernets() -> None:
    from typer.testing import CliRunner

    from nasforge.cli import app

    res = CliRunner().invoke(app, ["list", "oneshot", "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert {"darts", "darts2", "gdas", "spos", "fewshot"} <= set(rows) and "select" in rows["darts"]["options"]
    assert "sampling" in rows["fewshot"]["options"] and "split" in rows["fewshot"]["options"]
    assert "task" not in rows["darts"]["options"]
    res = CliRunner().invoke(app, ["list", "supernets", "--json"])
    assert {r["name"] for r in json.loads(res.stdout)} == {"nb201", "darts", "mobilenet", "mobilenet:elastic", "mlp"}


def test_cli_ctrl_c_says_how_to_continue(tmp_path: Path) -> None:
    task = _task_file(tmp_path)
    run = _cli("--task", task, "-P", "C=2", "-P", "N=1", "--epochs", "50", "--batch-size", "16", "--threads", "1",
               "--storage", "sqlite:///s.db", cwd=tmp_path)
    ck = tmp_path / "nasforge-checkpoints" / "tiny-nb201-darts-s0" / "oneshot.pt"
    deadline = time.time() + 240
    while not ck.exists() and time.time() < deadline and run.poll() is None:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130
    assert "interrupted: every finished epoch is checkpointed under nasforge-checkpoints" in err
    assert "--resume" in err


@pytest.mark.parametrize("method", ["proxyless", "single-path", "spos", "fewshot", "bignas"])
def test_every_part_two_method_records_through_the_api_and_resumes_without_repeating(tmp_path: Path,
                                                                                     method: str) -> None:
    from nasforge.registry import ONESHOT

    mobile = method in ("single-path", "bignas")
    space = "mobilenet" if mobile else "nb201"
    sopts = {"width_mult": 0.25, "max_depth": 2, "stages": [[16, 1], [24, 2]], "head_channels": 16} if mobile \
        else {"C": 2, "N": 1}
    mopts = {**OPTS, "epochs": 1}
    if ONESHOT.get(method).searches:
        mopts.update(search_trials=3)
    if method == "fewshot":
        mopts.update(child_epochs=1)
    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = dict(task=_task_file(tmp_path), space=space, space_options=sopts, storage=url, method_options=mopts,
              checkpoint_dir=tmp_path / "ck")
    out = api.oneshot(method, **kw)
    store = api.open_storage(url)
    first = [(t.number, t.source, t.arch, t.value) for t in store.trials(out["study"])]
    store.close()
    again = api.oneshot(method, resume=True, **kw)
    assert (again["number"], again["arch"], again["val_acc"]) == (out["number"], out["arch"], out["val_acc"])
    store = api.open_storage(url)
    assert [(t.number, t.source, t.arch, t.value) for t in store.trials(out["study"])] == first
    assert store.get_study(out["study"]).config["oneshot"]["method"] == method
    store.close()
    sources = [s for _, s, _, _ in first]
    if method in ("spos", "fewshot"):
        assert sources == ["ask"] * 3 + ["retrain"] and first[-1][2] == out["arch"]
        # `nasforge train --study` retrains the sub-network the search retrained, whatever the others' values
        assert api.retrain(out["study"], url, epochs=1, threads=1)["arch"] == out["arch"]
    elif method == "bignas":
        assert sources == ["ask"] * 3
    else:
        assert sources == [method]
    if method == "spos":  # the saved supernet, searched in two worker processes (each reads the file)
        st = api.search(supernet=tmp_path / "ck" / "supernet.pt", workers=2, n_trials=4, storage=url,
                        training_options={"threads": 1})
        assert st.n_trials == 4 and all(t.status == "complete" for t in st.trials)
