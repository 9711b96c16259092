"""Studies of every kind in one SQLite store, built once per session from fakes (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge import api
from nasforge.benchmarks.nb201 import NB201Benchmark
from nasforge.evaluators.base import FunctionEvaluator
from nasforge.registry import create_strategy
from nasforge.results import Result
from nasforge.study import Study
from nasforge.testing import toy_space


def linear(space, seed=0, scale=10.0, offset=70.0):
    """A fixed random linear score of the encoding (deterministic, instant), shifted to look like accuracy."""
    w = np.random.default_rng(seed).normal(size=space.encoding_size)
    return lambda arch: offset + scale * float(np.asarray(space.encode(arch)) @ w) / np.sqrt(space.encoding_size)


def fn_study(url, name, space, fn, n=20, strategy="random", objective="val_acc", config=None, **kw):
    st = Study(space, create_strategy(strategy, space, seed=0), FunctionEvaluator(fn, objective=objective), name=name,
               storage=url, config=config, **kw)
    if n:
        st.optimize(n_trials=n)
    return st


def bench_study(url, name, data_dir, strategy="random", n=30, run=True, **kw):
    """A study of the fake NB201 benchmark (NB201 protocol: simulated cost), built from the parts."""
    bench = NB201Benchmark(data_dir=data_dir)
    opts = {"objectives": kw["objectives"]} if strategy == "nsga2" and "objectives" in kw else {}
    st = Study(bench.space, create_strategy(strategy, bench.space, seed=0, **opts), bench, name=name, storage=url,
               config={"seed": 0, "benchmark": "nb201"}, **kw)
    if run:
        st.optimize(n_trials=n)
    return st


@pytest.fixture
def make_bench_study():
    return bench_study


@pytest.fixture(scope="session")
def report_store(tmp_path_factory, fake_data_dir):
    """``(url, {kind: study name})``: one study per kind a report must handle."""
    url = f"sqlite:///{tmp_path_factory.mktemp('report')}/studies.db"
    names = {}

    # one objective on the NB201 protocol, with a constraint (infeasible trials) and a failed trial from elsewhere
    st = bench_study(url, "single", fake_data_dir, "rea", 40, constraints=["train_seconds_12ep <= 140"])
    st.add_trial(st.trials[0].arch, Result.failure("out of memory: <b>boom</b>"), source="import")
    st.close()
    names["single"] = "single"

    bench_study(url, "multi", fake_data_dir, "nsga2", 40,
                objectives=["valid_acc_12ep:max", "train_seconds_12ep:min"]).close()
    names["multi"] = "multi"

    sp = api.make_space("nb201")
    f = linear(sp)
    fn_study(url, "three", sp, lambda a: {"val_acc": f(a), "params": 1000 + 50 * f(a) % 300, "latency": f(a) / 7},
             n=25, objectives="val_acc:max,params:min,latency:min").close()
    names["three"] = "three"

    # weight sharing: sub-networks scored with inherited weights, the best three retrained stand-alone
    st = fn_study(url, "spos", sp, f, n=15, config={"supernet": "/runs/spos/supernet.pt",
                                                     "oneshot": {"method": "spos", "seed": 0}})
    for r in sorted(st.trials, key=lambda r: -r.value)[:3]:
        st.add_trial(r.arch, Result(metrics={"val_acc": r.value + 5.0, "inherited_val_acc": r.value,
                                             "search_trial": r.number}, value=r.value + 5.0), source="retrain")
    st.add_trial(st.trials[1].arch, Result(metrics={"val_acc": 71.0, "search_seconds": 90.0, "collapsed": False},
                                           value=71.0, cost=90.0), source="darts")
    st.close()
    names["weight-sharing"] = "spos"

    # zero-cost proxies recorded with the metrics
    g = linear(sp, seed=1)
    fn_study(url, "proxies", sp, lambda a: {"val_acc": f(a), "synflow": f(a) + g(a), "naswot": 2 * f(a) - g(a)},
             n=20).close()
    names["proxies"] = "proxies"

    # nothing yet, and only failures
    bench_study(url, "empty", fake_data_dir, run=False).close()
    names["empty"] = "empty"

    def boom(arch):
        raise RuntimeError(f"cannot build {arch}")

    fn_study(url, "failed", sp, boom, n=4).close()
    names["failed"] = "failed"

    # every kind of space the drawings know, one nobody knows, and a user space whose file is gone
    for kind, params in (("darts", {}), ("mobilenet", {"width_mult": 0.5, "max_depth": 3}), ("nasbench-graph", {}),
                         ("mlp", {})):
        space = api.make_space(kind, params)
        fn_study(url, f"space-{kind}", space, linear(space), n=12).close()
        names[f"space-{kind}"] = f"space-{kind}"
    toy = toy_space()
    fn_study(url, "space-generic", toy, linear(toy), n=12).close()
    names["space-generic"] = "space-generic"
    fn_study(url, "space-user", toy, linear(toy), n=8,
             config={"space": "my_space", "space_params": {"source": "/gone/my_space.py:my_space"}}).close()
    names["space-user"] = "space-user"
    return url, names


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory, fake_data_dir):
    """A small ``nasforge bench`` comparison written to a directory (bench.json)."""
    out = tmp_path_factory.mktemp("bench")
    api.compare(["random", "rea"], benchmark="nb201", benchmark_options={"data_dir": str(fake_data_dir)}, seeds=3,
                n_trials=20, workers=1, out=str(out))
    return out
