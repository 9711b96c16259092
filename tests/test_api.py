"""The Python API the CLI calls: search, summarise, list_studies, retrain, compare."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nasforge import api
from nasforge.errors import ConfigError, NasforgeError, StudyNotFoundError
from nasforge.evaluators.base import FunctionEvaluator
from nasforge.spaces.base import SearchSpace, categorical


def test_search_benchmark_and_summarise(fake_data_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    st = api.search(benchmark="nb201", benchmark_options={"data_dir": str(fake_data_dir)}, strategy="rea",
                    strategy_options={"population_size": 5}, n_trials=20, seed=3, storage=url)
    assert st.name == "nb201-cifar10-rea-s3" and st.n_trials == 20
    s = api.summarise(st, top=3)
    assert s["best"]["arch"] == st.best_trial().arch and len(s["top"]) == 3
    assert [t["value"] for t in s["top"]] == sorted((t["value"] for t in s["top"]), reverse=True)
    ref = s["reference"]
    best_test = s["best"]["metrics"]["test_acc_200ep"]
    assert ref["relative_improvement_pct"] == pytest.approx(100 * (best_test - ref["random_average"])
                                                            / ref["random_average"])
    st.close()
    # the same summary from the store alone (what `nasforge show` prints), without the benchmark
    again = api.summarise("nb201-cifar10-rea-s3", url, top=3)
    assert again["top"] == json.loads(json.dumps(s["top"])) and again["cost_kind"] == "simulated"
    (row,) = api.list_studies(url)
    assert row["study"] == st.name and row["best_value"] == s["best"]["value"] and row["trials"] == 20


def test_resume_takes_the_recorded_strategy_and_options_unless_given(fake_data_dir, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    common = {"benchmark_options": {"data_dir": str(fake_data_dir)}, "seed": 2, "storage": url, "study": "s"}
    api.search(strategy="rea", strategy_options={"population_size": 5, "sample_size": 2}, n_trials=12,
               **common).close()
    # no strategy: the study's own; options not given: those it recorded (population 5, not today's 10)
    monkeypatch.setattr(api, "DEFAULT_STRATEGY", "random")
    st = api.search(n_trials=30, resume=True, **common)
    assert st.strategy.name == "rea" and (st.strategy.population_size, st.strategy.sample_size) == (5, 2)
    st.close()
    ref = api.search(strategy="rea", strategy_options={"population_size": 5, "sample_size": 2}, n_trials=30,
                     **{**common, "storage": None})
    assert [t.arch for t in api.search(n_trials=30, resume=True, **common).trials] == [t.arch for t in ref.trials]
    # an option given explicitly still has to match the record
    with pytest.raises(ConfigError, match="population_size"):
        api.search(strategy="rea", strategy_options={"population_size": 7}, n_trials=31, resume=True, **common)
    # another strategy named explicitly: nothing is taken from the record, and the mismatch is refused
    with pytest.raises(ConfigError, match="strategy: stored 'rea', now 'local'"):
        api.search(strategy="local", n_trials=31, resume=True, **common)
    assert api.recorded_strategy(url, "nope") == ("random", {})  # no such study: the default
    name, recorded = api.recorded_strategy(url, "s", strategy_options={"sample_size": 3})
    assert name == "rea" and recorded["population_size"] == 5 and "sample_size" not in recorded  # given: not taken
    assert "seed" not in recorded


def test_search_same_seed_same_result(fake_data_dir):
    runs = [api.search(benchmark_options={"data_dir": str(fake_data_dir)}, strategy="local", n_trials=15, seed=1)
            for _ in range(2)]
    assert [t.arch for t in runs[0].trials] == [t.arch for t in runs[1].trials]


def test_search_multi_objective_passes_objectives_to_nsga2():
    sp = SearchSpace([categorical("a", range(4)), categorical("b", range(4))], name="grid")
    ev = FunctionEvaluator(lambda a: {"acc": float(a["a"] + a["b"]), "size": float(a["a"])}, objective="acc",
                           metrics=("acc", "size"))
    st = api.search(evaluator=ev, space=sp, strategy="nsga2", objectives="acc:max,size:min", n_trials=30)
    assert st.strategy.objectives == ["acc:max", "size:min"]
    front = {t.arch for t in st.pareto_set()}
    assert front <= {"a=0,b=3", "a=1,b=3", "a=2,b=3", "a=3,b=3"} and len(front) >= 2
    assert "pareto" in api.summarise(st)


def test_default_study_names_include_the_space_for_tasks():
    assert api.default_study_name("photos", "rea", 0, "mobilenet") == "photos-mobilenet-rea-s0"
    assert api.default_study_name("nb201-cifar10", "rea", 0) == "nb201-cifar10-rea-s0"


@pytest.mark.parametrize("kwargs,match", [
    ({"benchmark": "nb201", "task": "digits"}, "give one of benchmark, task, evaluator or supernet"),
    ({"workers": 0}, "workers must be an integer >= 1"),
    ({"strategy": "rae"}, "unknown strategy 'rae' \\(did you mean 'rea'\\?\\)"),
    ({"strategy": "rea", "strategy_options": {"pop": 3}}, "strategy 'rea' has no option\\(s\\) pop"),
    ({"space": "darts"}, "covers space 'nb201', not 'darts'"),
    ({"n_trials": 0}, "n_trials must be a positive integer"),
    ({"objectives": "val:sideways"}, "malformed objective"),
    ({"constraints": "params <= 1e6"}, "constraint metric 'params' is not measured"),
])
def test_search_bad_input_creates_no_study(fake_data_dir, tmp_path, kwargs, match):
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    kwargs.setdefault("benchmark_options", {"data_dir": str(fake_data_dir)})
    if "task" in kwargs:
        kwargs.pop("benchmark_options")
    with pytest.raises(NasforgeError, match=match):
        api.search(storage=url, **kwargs)
    assert not (tmp_path / "bad.db").exists() or api.list_studies(url) == []


def test_summarise_errors(tmp_path):
    with pytest.raises(ConfigError, match="no study database at"):
        api.summarise("x", f"sqlite:///{tmp_path / 'none.db'}")
    url = f"sqlite:///{tmp_path / 'e.db'}"
    sp = SearchSpace([categorical("a", range(3))], name="line")
    api.search(evaluator=FunctionEvaluator(lambda a: float(a["a"])), space=sp, n_trials=2, storage=url,
               study="one").close()
    with pytest.raises(StudyNotFoundError, match="no study named 'two'; known: one"):
        api.summarise("two", url)
    with pytest.raises(ConfigError, match="top must be an integer >= 1"):
        api.summarise("one", url, top=0)


def test_retrain_a_task_study_with_random_baseline(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    small = {"epochs": 1, "batch_size": 128}
    st = api.search(task="digits", space="nb201", space_options={"C": 4, "N": 1}, strategy="random",
                    training_options=small, n_trials=2, storage=url, study="dg")
    best = st.best_trial().arch
    st.close()
    seen = []
    res = api.retrain("dg", url, epochs=1, baseline_random=2, repeats=2, out=str(tmp_path / "ck"),
                      progress=lambda what, done, total: seen.append((done, total)))
    assert res["arch"] == best and res["epochs"] == 1 and 0 <= res["test_acc"] <= 100
    rp = res["repeats"]
    assert rp["n"] == 2 and rp["test_acc"][0] == res["test_acc"] and len(rp["test_acc"]) == 2
    rb = res["random_baseline"]
    assert rb["n"] == 2 and len(rb["archs"]) == 2 and rb["sem_test_acc"] is not None
    accs = [a["test_acc"] for a in rb["archs"]]
    sem = float(np.std(accs, ddof=1) / np.sqrt(2))
    assert res["margin_sem"] == pytest.approx((rp["mean_test_acc"] - np.mean(accs)) / sem) if sem else True
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert (tmp_path / "ck" / "genotype.json").is_file()
    with pytest.raises(ConfigError, match="records its task"):
        api.retrain("dg", url, task="digits")


def test_retrain_in_worker_processes_gives_the_serial_results(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    st = api.search(task="digits", space="nb201", space_options={"C": 4, "N": 1}, strategy="random",
                    training_options={"epochs": 1, "batch_size": 128}, n_trials=2, storage=url, study="dg")
    st.close()
    serial = api.retrain("dg", url, epochs=1, baseline_random=3, repeats=2, threads=1, seed=5)
    seen = []
    parallel = api.retrain("dg", url, epochs=1, baseline_random=3, repeats=2, threads=1, seed=5, workers=2,
                           progress=lambda what, done, total: seen.append((what, done, total)))
    assert parallel["repeats"]["test_acc"] == serial["repeats"]["test_acc"]
    assert parallel["random_baseline"]["archs"] == serial["random_baseline"]["archs"]
    assert parallel["margin_sem"] == serial["margin_sem"]
    assert [d for _, d, _ in seen] == [0, 1, 2, 3, 4, 5] and all(t == 5 for _, _, t in seen)
    assert sum("random baseline" in w for w, _, _ in seen) == 3
    with pytest.raises(ConfigError, match="workers"):
        api.retrain("dg", url, epochs=1, workers=0)


def test_retrain_refuses_benchmark_studies(fake_data_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    api.search(benchmark_options={"data_dir": str(fake_data_dir)}, n_trials=2, storage=url, study="tab").close()
    with pytest.raises(ConfigError, match="only task studies"):
        api.retrain("tab", url)


def test_compare_runs_the_bench(fake_data_dir, tmp_path):
    res = api.compare(["random", "rea"], benchmark_options={"data_dir": str(fake_data_dir)}, seeds=2,
                      n_trials=10, workers=1, out=str(tmp_path / "b"))
    assert {r["method"] for r in res["rows"]} == {"random", "rea"}
    assert (tmp_path / "b" / "bench.json").is_file()
    with pytest.raises(ConfigError, match="seeds must be an integer >= 1"):
        api.compare(["random"], benchmark_options={"data_dir": str(fake_data_dir)}, seeds=0)


def test_proxy_table_missing_cells_is_refused_before_a_study_exists(fake_data_dir, tmp_path):
    from nasforge.spaces.nb201 import NB201Space

    sp = NB201Space()
    cells = [sp.to_string(a) for a in sp.enumerate()][:5]
    table = tmp_path / "t.jsonl"
    table.write_text("\n".join([json.dumps({"config": {"proxies": ["synflow"]}})]
                               + [json.dumps({"arch": c, "values": {"synflow": float(i)}}) for i, c in enumerate(cells)]))
    url = f"sqlite:///{tmp_path / 'p.db'}"
    with pytest.raises(ConfigError, match="holds 5 of the 15,625 architectures of space 'nb201'"):
        api.search(benchmark_options={"data_dir": str(fake_data_dir)}, strategy="prescreen",
                   strategy_options={"proxy": "synflow"}, proxy_options={"table": str(table)}, storage=url)
    assert not (tmp_path / "p.db").exists() or api.list_studies(url) == []
    # a candidate list inside the table is fine
    st = api.search(benchmark_options={"data_dir": str(fake_data_dir)}, strategy="robot",
                    strategy_options={"candidates": cells, "bo_queries": 2}, proxy_options={"table": str(table)},
                    n_trials=3)
    assert st.n_trials == 3 and {t.arch for t in st.trials} <= set(cells)


def test_a_benchmark_is_given_its_space(fake_data_dir):
    from nasforge.registry import create_benchmark
    from nasforge.spaces.nb201 import NB201Space

    sp = NB201Space()
    bench = create_benchmark("nb201", space=sp, data_dir=str(fake_data_dir))
    assert bench.space is sp
    st = api.search(space=sp, benchmark_options={"data_dir": str(fake_data_dir)}, n_trials=3)
    assert st.space is sp
    with pytest.raises(ConfigError):
        api.search(space=SearchSpace([categorical("a", range(2))], name="other"),
                   benchmark_options={"data_dir": str(fake_data_dir)}, n_trials=3)
