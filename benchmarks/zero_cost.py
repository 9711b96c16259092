"""Training-free NAS on NAS-Bench-201 (CIFAR-10): proxy correlations, proxy cost, NASWOT search, RoBoT,
proxy-assisted REA.

Parts (``--parts``, comma-separated; each prints its table and goes into the JSON of ``--out``):

* ``correlation``: every proxy on ``--sample`` (1,000) distinct cells sampled with seed 0 (full
  C=16, N=5 networks, batch 64 of 32x32 crops of scikit-learn's sample photos with random labels,
  seed 0); Spearman and Kendall against the 200-epoch test accuracy, next to the published
  values (Abdelfattah et al. 2021 on NB201 CIFAR-10: synflow 0.74, jacob_cov 0.73; NASWOT paper
  about 0.79 as reported in the training-free literature; best combination 0.82). Also the
  best sum-of-ranks combination of 2 or 3 proxies, *chosen on the even-numbered cells and
  reported on the odd-numbered ones* (choosing on all cells would flatter it). The cells are
  scored by ``proxy_study`` into ``--table`` (JSON lines), so an interrupted run resumes.
* ``data``: the data-dependent proxies again on the first ``--noise-sample`` (200) cells with
  Gaussian noise as the batch, against the photo patches on the same cells: how much the
  batch's content matters (CIFAR-10 itself is not available here).
* ``cost``: seconds of each proxy alone per network (``--cost-cells`` cells, each proxy timed
  on its own, median), on ``--threads`` torch threads. Target: at most 1 s on 2 cores.
* ``naswot``: NASWOT search (score N=100 random cells, pick the best NASWOT score), 500 seeds.
  The scores come from the 1,000-cell table: each seed draws its 100 cells from those 1,000
  (a resampling estimate: the table is a uniform sample of the space, but seeds share cells).
  Published: 91.6-92.8 (NASWOT paper, N=10..100, CIFAR-10 test).
* ``robot``: RoBoT with 20 real queries (NB201 protocol: query result = 12-epoch validation
  accuracy, reported = 200-epoch test accuracy of the best-by-feedback cell), seeds
  ``--seed-start`` .. + ``--seeds``, on (``--robot-pools``) ``full``: the whole space with the
  data-free proxies of ``--full-table`` (synflow, l2_norm, params, flops for all 15,625 cells)
  and ``sample``: the cells of ``--table`` (the 1,000-cell sample) with all its proxies; each
  of the ``--robot-variants`` (labels of ``ROBOT_VARIANTS``: option sets such as
  ``rank-nonneg``; ``zscore-signed`` is the behaviour before these options existed, ``default``
  the current defaults; the ``paper6`` ones, the paper's six proxies, on the sample only).
  Published 94.36; target at least 94.0. Per variant: mean +- std (and SE), the worst seed,
  how many seeds end below 90 % (a collapse) and how many find the space's best cell.
  Variants are chosen on seeds 1000-1049 (``--seed-start 1000 --seeds 50``) and reported
  on seeds 0-99.
* ``prescreen``: REA under the NB201 protocol (12,000 simulated seconds), plain and with
  children chosen as the best synflow score of k=10 mutations (``prescreen``), ``--seeds``
  seeds; the simulated seconds the assisted search needs to reach plain REA's final mean.
* ``cost_to_best``: each of ``--cost-methods`` under the NB201 protocol with a 12,000 s budget:
  the simulated seconds until the incumbent (best by 12-epoch validation accuracy so far)
  has a 200-epoch test accuracy within 0.1 of the space's best cell, as a fraction of
  12,000 s (inf when not reached; a run stops once it is reached, ``Study.stop``); median and
  quartiles over the seeds. A method is a registered strategy (its own, no proxies),
  ``live-X`` (``prescreen`` around strategy X: each proposal the best synflow score of 10,
  synflow computed on the fly on the built network) or ``live-robot`` (RoBoT on a pool of
  1,000 sampled cells, its four data-free proxies computed on the fly). For the live
  methods every second spent computing proxies (network built, proxy computed, in this
  worker's one torch thread) is added to the simulated clock, charged to the next trial, so
  they pay for their proxies; no proxy table is read.

    .venv/bin/python benchmarks/zero_cost.py --parts correlation,naswot
    .venv/bin/python benchmarks/zero_cost.py --parts cost --threads 2
    .venv/bin/python benchmarks/zero_cost.py --parts robot,prescreen --seeds 500
    .venv/bin/python benchmarks/zero_cost.py --parts robot --seed-start 1000 --seeds 50 \
        --robot-variants zscore-signed,zscore-nonneg,rank-signed,rank-nonneg,minmax-signed,minmax-nonneg
    .venv/bin/python benchmarks/zero_cost.py --parts cost_to_best --seeds 100 --cost-methods adaptive-ea,rea
    .venv/bin/python benchmarks/zero_cost.py --parts cost_to_best --seeds 20 --cost-methods live-adaptive-ea,live-rea
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import multiprocessing as mp
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from nasforge.bench import incumbent_at
from nasforge.evaluators.proxy_study import ProxyTable, proxy_study, rank_correlations
from nasforge.registry import DEFAULT_STRATEGY, create_benchmark, create_space, create_strategy
from nasforge.study import Study

PUBLISHED_SPEARMAN = {"synflow": 0.74, "jacob_cov": 0.73, "naswot": 0.79, "grad_norm": 0.58, "snip": 0.58,
                      "grasp": 0.48, "fisher": 0.36}
BEST_COMBINATION = 0.82
OUT = Path("benchmarks/out/proxies")


def machine() -> str:
    import torch

    return f"{platform.machine()}, {mp.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def correlation(args: argparse.Namespace) -> dict[str, Any]:
    bench = create_benchmark("nb201", dataset="cifar10", protocol="oracle")
    t0 = time.perf_counter()
    res = proxy_study("nb201", bench, sample=args.sample, seed=0, proxies="all", data="patches", batch_size=64,
                      workers=args.workers, out=args.table,
                      progress=lambda d, n: d % 100 == 0 and print(f"  scored {d}/{n}", flush=True))
    cells = res["cells"]
    acc = np.array([c["accuracy"] for c in cells])
    names = [r["proxy"] for r in res["rows"]]
    vals = {p: np.array([c["values"][p] for c in cells]) for p in names}
    print(f"\n## Correlation with NB201 CIFAR-10 test accuracy ({len(cells)} cells; {res['config']['data_description']})")
    for r in res["rows"]:
        pub = PUBLISHED_SPEARMAN.get(r["proxy"])
        print(f"  {r['proxy']:<10} Spearman {r['spearman']:.3f}  Kendall {r['kendall']:.3f}  n {r['n']:4d}  "
              f"failed {r['failed']:3d}  {r['median_seconds']:.3f} s/net (1 thread, in the study)"
              + (f"  published {pub:.2f}" if pub else ""))

    def ranks(p: str, idx: np.ndarray) -> np.ndarray:
        v = vals[p][idx].copy()
        v[~np.isfinite(v)] = np.nanmin(v) if np.isfinite(v).any() else 0.0
        return rankdata(v)

    even, odd = np.arange(0, len(cells), 2), np.arange(1, len(cells), 2)
    combos = []
    for k in (2, 3):
        for combo in itertools.combinations(names, k):
            rho_fit = rank_correlations(sum(ranks(p, even) for p in combo), acc[even])[0]
            combos.append((rho_fit, combo))
    combos.sort(key=lambda t: -t[0])
    best_fit, best = combos[0]
    rho_held = rank_correlations(sum(ranks(p, odd) for p in best), acc[odd])[0]
    rho_all = rank_correlations(sum(ranks(p, np.arange(len(cells))) for p in best), acc)[0]
    print(f"  best sum-of-ranks combination on the even cells: {'+'.join(best)} (Spearman {best_fit:.3f}); "
          f"on the odd cells {rho_held:.3f}; on all {rho_all:.3f}; published best {BEST_COMBINATION}")
    top = [{"proxies": list(c), "spearman_even": r} for r, c in combos[:5]]
    return {"rows": res["rows"], "config": res["config"], "best_combination": list(best),
            "combination_spearman_selection": best_fit, "combination_spearman_held_out": rho_held,
            "combination_spearman_all": rho_all, "top_combinations": top, "seconds": time.perf_counter() - t0}


def data_source(args: argparse.Namespace) -> dict[str, Any]:
    """The data-dependent proxies on the first ``--noise-sample`` cells of the sample with Gaussian noise
    instead of photo patches: how much the batch's content matters to them."""
    from nasforge.evaluators.zero_cost import DATA_DEPENDENT

    bench = create_benchmark("nb201", dataset="cifar10", protocol="oracle")
    noise = proxy_study("nb201", bench, sample=args.noise_sample, seed=0, proxies=DATA_DEPENDENT, data="noise",
                        batch_size=64, workers=args.workers,
                        out=OUT / f"nb201_sample{args.noise_sample}_noise_b64_s0.jsonl")
    patches = {json.loads(line)["arch"]: json.loads(line)["values"]
               for line in Path(args.table).read_text().splitlines()[1:] if line.strip()}
    cells = [c for c in noise["cells"] if c["arch"] in patches]
    acc = [c["accuracy"] for c in cells]
    print(f"\n## Data-dependent proxies: photo patches against Gaussian noise, the same {len(cells)} cells")
    rows = []
    for p in DATA_DEPENDENT:
        rp = rank_correlations([patches[c["arch"]][p] for c in cells], acc)[0]
        rn = rank_correlations([c["values"][p] for c in cells], acc)[0]
        rows.append({"proxy": p, "spearman_patches": rp, "spearman_noise": rn})
        print(f"  {p:<10} patches {rp:.3f}  noise {rn:.3f}  difference {rp - rn:+.3f}")
    return {"cells": len(cells), "rows": rows}


def cost(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from nasforge.evaluators.zero_cost import PROXIES, PROXY_NAMES, ProxyScorer
    from nasforge.evaluators.proxy_study import sample_architectures

    torch.set_num_threads(args.threads)
    space = create_space("nb201")
    scorer = ProxyScorer(space, proxies="all", data="patches", batch_size=64, seed=0)
    archs = sample_architectures(space, args.cost_cells, 1)
    secs: dict[str, list[float]] = {p: [] for p in PROXY_NAMES}
    for a in archs:
        model = scorer.build(a)
        for p in PROXY_NAMES:
            t = time.perf_counter()
            try:
                PROXIES[p](model, scorer.batch.inputs, scorer.batch.targets, seed=0)
            except (FloatingPointError, ValueError):
                pass
            secs[p].append(time.perf_counter() - t)
    print(f"\n## Seconds per NB201 network (C=16, N=5, batch 64, 32x32), each proxy alone, {args.cost_cells} cells, "
          f"{args.threads} torch thread(s); target 1 s")
    rows = []
    for p in PROXY_NAMES:
        med, worst = statistics.median(secs[p]), max(secs[p])
        rows.append({"proxy": p, "median_seconds": med, "max_seconds": worst, "pass": med <= 1.0})
        print(f"  {p:<10} median {med:.3f} s  max {worst:.3f} s  {'PASS' if med <= 1.0 else 'FAIL'}")
    return {"threads": args.threads, "cells": args.cost_cells, "rows": rows}


def naswot_search(args: argparse.Namespace) -> dict[str, Any]:
    tab = [json.loads(line) for line in Path(args.table).read_text().splitlines()[1:] if line.strip()]
    bench = create_benchmark("nb201", dataset="cifar10", protocol="oracle")
    table = bench.table()
    score = np.array([r["values"]["naswot"] for r in tab], float)
    acc = np.array([table[r["arch"]]["test_acc_200ep"] for r in tab])
    score[~np.isfinite(score)] = -np.inf
    out = {}
    print(f"\n## NASWOT search on NB201 CIFAR-10 ({args.naswot_seeds} seeds, N cells drawn from the {len(tab)}-cell table)")
    for n in (10, 100):
        picks = []
        for s in range(args.naswot_seeds):
            idx = np.random.default_rng((s, 100)).choice(len(tab), size=n, replace=False)
            picks.append(acc[idx[np.argmax(score[idx])]])
        m, sd = float(np.mean(picks)), float(np.std(picks, ddof=1))
        out[f"N={n}"] = {"mean": m, "std": sd}
        print(f"  N={n:<4} test accuracy {m:.2f} +- {sd:.2f}  (published 91.6-92.8 for N=10..100)")
    return out


# -- searches under the NB201 protocol (worker processes load the tables once) ---------------------------------
_W: dict[str, Any] = {}

#: RoBoT variants of the ``robot`` part: label -> options (``--robot-variants`` picks some). Each names both
#: ``normalise`` and ``weights``, so a label means the same whatever the defaults are; ``default`` is {}
PAPER6 = ["fisher", "grad_norm", "grasp", "jacob_cov", "snip", "synflow"]  # the paper's six proxies
ROBOT_VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    **{f"{n}-{w}": {"normalise": n, "weights": {"nonneg": "nonnegative"}.get(w, w)}
       for n in ("zscore", "minmax", "rank") for w in ("signed", "nonneg")},
    "zscore-signed-bo15": {"normalise": "zscore", "weights": "signed", "bo_queries": 15},
    "rank-nonneg-bo15": {"normalise": "rank", "weights": "nonnegative", "bo_queries": 15},
    "paper6-zscore-signed": {"proxies": PAPER6, "normalise": "zscore", "weights": "signed"},
    "paper6-zscore-nonneg": {"proxies": PAPER6, "normalise": "zscore", "weights": "nonnegative"},
    "paper6-rank-nonneg": {"proxies": PAPER6, "normalise": "rank", "weights": "nonnegative"},
    "paper6-minmax-nonneg": {"proxies": PAPER6, "normalise": "minmax", "weights": "nonnegative"},
}


class ClockedScorer:
    """A live scorer whose real seconds go onto the study's simulated clock (see :class:`ClockedBenchmark`)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def __call__(self, arch: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.inner(arch)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


class ClockedBenchmark:
    """The benchmark, with the scorer's seconds since the previous trial added to each trial's cost: the
    proxies a strategy computed before proposing a cell are paid for by that cell's trial."""

    def __init__(self, bench: Any, scorer: ClockedScorer) -> None:
        self.bench, self.scorer, self.charged = bench, scorer, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bench, name)

    def evaluate(self, arch: Any, fidelity: float | None = None) -> Any:
        result = self.bench.evaluate(arch, fidelity)
        extra, self.charged = self.scorer.seconds - self.charged, self.scorer.seconds
        return dataclasses.replace(result, cost=result.cost + extra)


def _init(full_table: str, table: str) -> None:
    import torch

    torch.set_num_threads(1)
    bench = create_benchmark("nb201", dataset="cifar10", protocol="nb201")
    bench.table()
    _W.update(bench=bench, full=ProxyTable(bench.space, full_table) if Path(full_table).is_file() else None,
              sample=ProxyTable(bench.space, table) if Path(table).is_file() else None)


def _search(job: tuple[str, int, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    method, seed, budget, options = job
    bench = _W["bench"]
    clock = None
    if method == "prescreen-rea":
        strat = create_strategy("prescreen", bench.space, seed=seed, strategy="rea", scorer=_W["full"],
                                proxy="synflow", k=10)
    elif method == "live-robot":  # RoBoT on a sampled pool of 1,000 cells, data-free proxies computed on the fly
        from nasforge.evaluators.zero_cost import ProxyScorer

        clock = ClockedScorer(ProxyScorer(bench.space, proxies=["synflow", "l2_norm", "params", "flops"],
                                          data="patches", batch_size=64, seed=0))
        strat = create_strategy("robot", bench.space, seed=seed, scorer=clock, pool_size=1000, **options)
    elif method.startswith("live-"):  # prescreen around the named strategy, synflow computed on the fly
        from nasforge.evaluators.zero_cost import ProxyScorer

        clock = ClockedScorer(ProxyScorer(bench.space, proxies=["synflow"], data="patches", batch_size=64, seed=0))
        strat = create_strategy("prescreen", bench.space, seed=seed, strategy=method[len("live-"):], scorer=clock,
                                proxy="synflow", k=10)
    elif method == "robot-full":
        strat = create_strategy("robot", bench.space, seed=seed, scorer=_W["full"], **options)
    elif method == "robot-sample":
        pool = [bench.space.from_string(a) for a in _W["sample"].values]
        strat = create_strategy("robot", bench.space, seed=seed, scorer=_W["sample"], candidates=pool, **options)
    else:  # a registered strategy on its own (an unknown name raises, listing the known ones)
        strat = create_strategy(method, bench.space, seed=seed, **options)
    evaluator = bench if clock is None else ClockedBenchmark(bench, clock)
    st = Study(bench.space, strat, evaluator, name=f"{method}-{seed}")
    incumbent: list[float] = [-math.inf]

    def stop_at_target(study: Study, rec: Any) -> None:  # cost_to_best: nothing after the target counts
        if rec.value is not None and rec.value > incumbent[0]:
            incumbent[0] = rec.value
            if rec.metrics.get("test_acc_200ep", -math.inf) >= budget["stop_at"]:
                study.stop()

    st.optimize(**{k: v for k, v in budget.items() if k != "stop_at"},
                callbacks=[stop_at_target] if "stop_at" in budget else [])
    cache = getattr(strat, "_cache", None)
    return {"method": method, "seed": seed, "options": options,
            "scored": len(cache.values) if cache is not None else 0,
            "proxy_seconds": None if clock is None else clock.seconds,
            "trials": [{"objective": t.value, "cost": t.cost,
                        "report": t.metrics.get("test_acc_200ep") if t.status == "complete" else None}
                       for t in st.trials]}


def _run(jobs: list[tuple[str, int, dict[str, Any], dict[str, Any]]], args: argparse.Namespace
         ) -> list[dict[str, Any]]:
    out, t0, step = [], time.perf_counter(), max(1, len(jobs) // 10)
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"), initializer=_init,
                             initargs=(args.full_table, args.table)) as pool:
        for i, res in enumerate(pool.map(_search, jobs, chunksize=4), 1):
            out.append(res)
            if i % step == 0 or i == len(jobs):
                print(f"  [{time.perf_counter() - t0:6.0f} s] {i}/{len(jobs)} searches", flush=True)
    return out


def _seeds(args: argparse.Namespace) -> range:
    return range(args.seed_start, args.seed_start + args.seeds)


def robot(args: argparse.Namespace) -> dict[str, Any]:
    variants = args.robot_variants.split(",")
    bad = [v for v in variants if v not in ROBOT_VARIANTS]
    if bad:
        raise SystemExit(f"unknown RoBoT variant(s) {bad}; known: {', '.join(ROBOT_VARIANTS)}")
    pools = args.robot_pools.split(",")
    jobs = [(f"robot-{pool}", s, {"n_trials": 20}, ROBOT_VARIANTS[v]) for pool in pools for v in variants
            for s in _seeds(args) if not (pool == "full" and v.startswith("paper6"))]
    runs = _run(jobs, args)
    table = _W_table()
    best = max(r["test_acc_200ep"] for r in table.values())
    space = create_space("nb201")
    sample = ProxyTable(space, args.table) if "sample" in pools else None
    pool_best = {"full": best, "sample": max(table[space.key(space.from_string(a))]["test_acc_200ep"]
                                             for a in sample.values) if sample is not None else None}
    out = {}
    print(f"\n## RoBoT, 20 queries (NB201 protocol feedback), seeds {args.seed_start}-{args.seed_start + args.seeds - 1}; "
          f"target 94.0, published 94.36; the space's best cell {best:.3f}")
    for pool in pools:
        for v in variants:
            mine = [r for r in runs if r["method"] == f"robot-{pool}" and r["options"] == ROBOT_VARIANTS[v]]
            if not mine:
                continue
            acc = np.array([incumbent_at(r["trials"], 20, "trials") for r in mine])
            row = {"mean": float(acc.mean()), "std": float(acc.std(ddof=1)),
                   "se": float(acc.std(ddof=1) / np.sqrt(len(acc))), "n": len(acc), "min": float(acc.min()),
                   "below_90": int((acc < 90).sum()), "pool_best": pool_best[pool],
                   "found_best": int((acc >= pool_best[pool] - 1e-9).sum()), "options": ROBOT_VARIANTS[v]}
            out[f"{pool}/{v}"] = row
            print(f"  {pool:<6} {v:<19} {row['mean']:.3f} +- {row['std']:.3f} (se {row['se']:.3f})  min {row['min']:.2f}  "
                  f"below 90: {row['below_90']:3d}  pool's best cell ({pool_best[pool]:.2f}): "
                  f"{row['found_best']:3d}/{row['n']}  "
                  f"{'PASS' if row['mean'] >= 94.0 else 'FAIL'}")
    return out


def _W_table() -> dict[str, Any]:
    return create_benchmark("nb201", dataset="cifar10", protocol="nb201").table()


def cost_to_best(args: argparse.Namespace) -> dict[str, Any]:
    """Simulated seconds until the incumbent's test accuracy is within 0.1 of the best cell's, per run."""
    methods = args.cost_methods.split(",")
    best = max(r["test_acc_200ep"] for r in _W_table().values())
    jobs = [(m, s, {"budget_seconds": 12000.0, "stop_at": best - 0.1}, {}) for m in methods for s in _seeds(args)]
    runs = _run(jobs, args)
    out: dict[str, Any] = {"best_cell": best}
    print(f"\n## Cost to reach the best cell (test accuracy >= {best - 0.1:.3f}), NB201 protocol, 12,000 s, "
          f"seeds {args.seed_start}-{args.seed_start + args.seeds - 1}; fraction of 12,000 s (inf: not reached)")
    for m in methods:
        fracs, proxy_secs = [], []
        for r in (r for r in runs if r["method"] == m):
            spent, inc_val, inc_rep, reached = 0.0, -math.inf, None, math.inf
            for t in r["trials"]:
                spent += t["cost"]
                if t["objective"] is not None and t["objective"] > inc_val:
                    inc_val, inc_rep = t["objective"], t["report"]
                if inc_rep is not None and inc_rep >= best - 0.1:
                    reached = spent / 12000.0
                    break
            fracs.append(reached)
            proxy_secs.append(r["proxy_seconds"] or 0.0)
        f = np.array(fracs)
        q = {k: float(np.quantile(f, p, method="inverted_cdf")) for k, p in (("q25", 0.25), ("median", 0.5),
                                                                             ("q75", 0.75))}
        row = {**q,
               "reached": int(np.isfinite(f).sum()), "n": len(f),
               "mean_proxy_seconds": float(np.mean(proxy_secs)), "median_proxy_seconds": float(np.median(proxy_secs))}
        out[m] = row
        print(f"  {m:<22} median {row['median']:.3f} (quartiles {row['q25']:.3f}-{row['q75']:.3f})  reached "
              f"{row['reached']}/{row['n']}  proxy seconds on the clock: median {row['median_proxy_seconds']:.1f}")
    return out


def prescreen(args: argparse.Namespace) -> dict[str, Any]:
    runs = _run([(m, s, {"budget_seconds": 12000.0}, {}) for m in ("rea", "prescreen-rea") for s in _seeds(args)], args)
    grid = np.linspace(120, 12000, 100)
    curves = {}
    for m in ("rea", "prescreen-rea"):
        mine = [r for r in runs if r["method"] == m]
        curves[m] = np.array([np.mean([incumbent_at(r["trials"], b, "seconds") for r in mine]) for b in grid])
    target = curves["rea"][-1]
    reach = grid[np.argmax(curves["prescreen-rea"] >= target)] if (curves["prescreen-rea"] >= target).any() else None
    print(f"\n## Proxy-assisted REA (best synflow of 10 mutations), NB201 protocol, {args.seeds} seeds")
    print(f"  plain REA at 12,000 s: {target:.3f}; assisted at 12,000 s: {curves['prescreen-rea'][-1]:.3f}")
    print("  assisted reaches the plain result at " + (f"{reach:.0f} s: ratio {reach / 12000:.2f}" if reach
                                                         else "no budget up to 12,000 s"))
    scored = float(np.mean([r["scored"] for r in runs if r["method"] == "prescreen-rea"]))
    trials = {m: float(np.mean([len(r["trials"]) for r in runs if r["method"] == m])) for m in curves}
    print(f"  mean trials: plain {trials['rea']:.1f}, assisted {trials['prescreen-rea']:.1f}; the assisted search "
          f"scored {scored:.0f} distinct cells with synflow (about 0.05 s each on one CPU thread, not on the clock)")
    finals = {m: [incumbent_at(r["trials"], 12000, "seconds") for r in runs if r["method"] == m] for m in curves}
    return {"rea_final": float(target), "assisted_final": float(curves["prescreen-rea"][-1]),
            "std": {m: float(np.std(v, ddof=1)) for m, v in finals.items()}, "mean_trials": trials,
            "cells_scored_per_search": scored,
            "seconds_to_reach": None if reach is None else float(reach),
            "ratio": None if reach is None else float(reach / 12000), "grid": grid.tolist(),
            "curves": {m: c.tolist() for m, c in curves.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="correlation,naswot")
    ap.add_argument("--sample", type=int, default=1000)
    ap.add_argument("--table", default=str(OUT / "nb201_sample1000_patches_b64_s0.jsonl"))
    ap.add_argument("--full-table", default=str(OUT / "nb201_all_dataless_s0.jsonl"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cost-cells", type=int, default=20)
    ap.add_argument("--noise-sample", type=int, default=200)
    ap.add_argument("--naswot-seeds", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--seed-start", type=int, default=0, help="first seed of the search parts (selection: 1000)")
    ap.add_argument("--robot-variants", default="zscore-signed,minmax-nonneg",
                    help=f"RoBoT variants (comma-separated) of: {', '.join(ROBOT_VARIANTS)}")
    ap.add_argument("--robot-pools", default="full,sample", help="full (whole space, data-free proxies), sample")
    ap.add_argument("--cost-methods", default=f"{DEFAULT_STRATEGY},rea,live-{DEFAULT_STRATEGY},live-rea",
                    help="methods of the cost_to_best part (live-X: prescreen around X, synflow on the fly)")
    ap.add_argument("--out", default=str(OUT / "zero_cost.json"))
    args = ap.parse_args(argv)
    parts = {"correlation": correlation, "data": data_source, "cost": cost, "naswot": naswot_search,
             "robot": robot, "prescreen": prescreen, "cost_to_best": cost_to_best}
    bad = [p for p in args.parts.split(",") if p not in parts]
    if bad:
        ap.error(f"unknown part(s) {bad}; accepted: {', '.join(parts)}")
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {}
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    for p in args.parts.split(","):
        report[p] = {**parts[p](args), "machine": machine(), "date": time.strftime("%Y-%m-%d")}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
