"""Weight-sharing search (DARTS, second-order DARTS, GDAS) on MNIST-1D against REA at equal wall clock.

Space: NB201 cells, C=8, N=2 (the size ``make run`` uses); task: MNIST-1D. Every search, retraining
and cost measurement runs in its own freshly spawned process with one torch thread, at most
``--workers`` (default 2) at a time, so ``peak_rss_mb`` is the peak of that one job.

1. **Equal wall clock.** For each search seed ``s`` and each method (``darts``, ``darts2``, ``gdas``) one
   run ``ONESHOT.create(method, space, task, epochs=--epochs, select="pt", seed=s, threads=1)``. It gives
   two architectures from the same supernet: the DARTS-PT one (``out.arch``) and the magnitude one (the
   ``arch`` of the last search-phase history entry, what ``select="magnitude"`` returns). REA
   (population 10, tournament 3, ``--trial-epochs`` 5 epochs per trial as ``make run``, one process, one
   thread, in-memory storage, seed ``s``) gets ``wall_seconds`` = that run's ``search_seconds`` (which
   includes the PT selection). Every architecture (derived, REA's best by validation accuracy, and
   ``--random`` architectures drawn once, shared by all seeds) is retrained with the same final schedule
   (``train_final``: train+validation, ``--final-epochs``, training seed ``--train-seed``) and its test
   accuracy measured. Retraining is deterministic on the CPU for a seed, so an architecture found twice is
   trained once.
2. **Collapse.** For every derived cell: the fraction of parameter-free edges (skip_connect,
   avg_pool_3x3, none), whether they are a majority (> 3 of 6), and the cell's NAS-Bench-201 CIFAR-10
   200-epoch test accuracy (tabular benchmark; transfer context only, the search ran on MNIST-1D).
3. **Side by side.** darts2 - darts and pt - magnitude, paired by seed: mean difference +- standard error.
4. **BatchNorm recalibration.** For the darts seed-0 supernet after ``m.run`` (i.e. after the PT
   selection's fine-tuning), ``path_accuracy`` of ``--bn-archs`` random cells (the random set, extended)
   with ``recalibrate=True`` and ``False``, and Kendall's tau of each against their retrained test accuracies.
5. **Search cost.** Seconds per supernet epoch and peak memory of darts, darts2 and gdas (``select=
   "magnitude"``, ``--cost-epochs`` epochs, fresh process each) on nb201 (C=8, N=2), darts
   (``DartsSpace(C=4, layers=5)``) and mobilenet (``width_mult=0.25, max_depth=2, head_channels=64``; gdas
   also with ``max_depth=1``), all on MNIST-1D; failures are recorded, not raised.

Means are over seeds with standard error SE = std (ddof=1) / sqrt(n).

Every job imports nasforge anew, so a source tree edited during the run would mix versions: run on a
frozen copy. Each job records the SHA-1 of the package source it imported; the JSON says whether all
jobs agree (``code.same_code_in_every_job``) and the run warns when they do not.

    git archive HEAD src | tar -x -C /tmp/snap         # a frozen copy of the package (mkdir /tmp/snap first)
    PYTHONPATH=/tmp/snap/src NASFORGE_DATA_DIR=/work/shared/data \
        .venv/bin/python benchmarks/oneshot.py --epochs 10 --final-epochs 10   # 3 seeds; 26 min on 2 cores
    .venv/bin/python benchmarks/oneshot.py --quick        # smoke run, about 2 minutes

The defaults (20 supernet epochs, 30 retraining epochs) take roughly twice as long (not measured).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import (JobQueue, code_record, command_line, fmt_mean_se, machine, mean_se,  # benchmarks/_common.py
                     rea_at_budget, record_retrained, retrain_archs, stamped_log, write_json)

METHODS = ("darts", "darts2", "gdas")
SELECTIONS = ("magnitude", "pt")
PARAM_FREE = ("skip_connect", "avg_pool_3x3", "none")
NB201_OPTIONS = {"C": 8, "N": 2}
# rough seconds per supernet epoch on one thread (MNIST-1D): only used to start long jobs first
EST_EPOCH = {"nb201": {"darts": 5.0, "darts2": 15.0, "gdas": 2.5},
             "darts": {"darts": 47.0, "darts2": 150.0, "gdas": 5.0},
             "mobilenet": {"darts": 82.0, "darts2": 250.0, "gdas": 10.0}}


# ----------------------------------------------------------------------------- worker side
def _task():
    from nasforge.api import load_task, task_config

    return load_task(task_config("mnist1d"))


def _make_space(name: str, options: dict[str, Any]):
    if name == "nb201":
        from nasforge.spaces.nb201 import NB201Space

        return NB201Space(**options)
    if name == "darts":
        from nasforge.spaces.darts import DartsSpace

        return DartsSpace(**options)
    from nasforge.spaces.mobilenet import MobileNetSpace

    return MobileNetSpace(**options)


def _oneshot(method: str, seed: int, epochs: int, bn_archs: list[str] | None) -> dict[str, Any]:
    """One ``select="pt"`` search; with ``bn_archs``, part 4 on its supernet afterwards."""
    from nasforge.registry import ONESHOT
    from nasforge.oneshot.supernet import path_accuracy

    task, space = _task(), _make_space("nb201", NB201_OPTIONS)
    m = ONESHOT.create(method, space, task, epochs=epochs, select="pt", seed=seed, threads=1)
    out = m.run()
    search = [h for h in out.history if h.get("phase") == "search"]
    mt = out.metrics
    res: dict[str, Any] = {
        "method": method, "seed": seed,
        "arch": {"pt": space.to_string(out.arch), "magnitude": search[-1]["arch"]},
        "inherited_val_acc": {"pt": out.val_acc, "magnitude": search[-1]["val_acc"]},
        "search_seconds": mt["search_seconds"], "peak_rss_mb": mt["peak_rss_mb"],
        "supernet_epoch_seconds": [h["seconds"] for h in search],
        "search_phase_seconds": sum(h["seconds"] for h in search),
        "param_free_fraction_pt": mt["param_free_fraction"], "collapsed_pt": mt["collapsed"],
        "supernet_epochs": mt["supernet_epochs"], "supernet_params": mt["supernet_params"],
        "history": [{k: h.get(k) for k in ("epoch", "arch", "val_acc", "train_acc", "seconds")} for h in search],
        "alphas": mt["alphas"]}
    if bn_archs:
        d = m.data
        accs: dict[str, list[float]] = {"recalibrated": [], "not_recalibrated": []}
        t0 = time.perf_counter()
        for s in bn_archs:
            a = space.from_string(s)
            for key, recal in (("recalibrated", True), ("not_recalibrated", False)):
                accs[key].append(path_accuracy(m.supernet, a, d["X_val"], d["y_val"], X_calib=d["X_train"],
                                               recalibrate=recal, calib_batches=m.calib_batches))
        res["bn"] = {"archs": bn_archs, **accs, "calib_batches": m.calib_batches,
                     "seconds": time.perf_counter() - t0}
    return res


def _rea(seed: int, wall_seconds: float, trial_epochs: int) -> dict[str, Any]:
    """REA at a search's wall clock (no trial limit)."""
    return rea_at_budget(seed, wall_seconds, trial_epochs, NB201_OPTIONS)


def _retrain(archs: list[str], final_epochs: int, train_seed: int) -> dict[str, Any]:
    """Several retrainings in one process (they need no fresh process: it only saves start-up time)."""
    return retrain_archs(_task(), _make_space("nb201", NB201_OPTIONS), archs, final_epochs, train_seed)


def _cost(space_name: str, options: dict[str, Any], method: str, epochs: int) -> dict[str, Any]:
    from nasforge.registry import ONESHOT

    task, space = _task(), _make_space(space_name, options)
    m = ONESHOT.create(method, space, task, epochs=epochs, select="magnitude", seed=0, threads=1)
    out = m.run()
    search = [h for h in out.history if h.get("phase") == "search"]
    return {"search_seconds": out.metrics["search_seconds"], "peak_rss_mb": out.metrics["peak_rss_mb"],
            "epoch_seconds": [h["seconds"] for h in search], "supernet_params": out.metrics["supernet_params"],
            "collapsed": out.metrics["collapsed"], "param_free_fraction": out.metrics["param_free_fraction"]}


JOBS = {"oneshot": _oneshot, "rea": _rea, "retrain": _retrain, "cost": _cost}  # what a job's kind runs


# ----------------------------------------------------------------------------- helpers
def cell_ops(arch: str) -> list[str]:
    return re.findall(r"\|([a-z0-9_]+)~\d+", arch)


def param_free(arch: str) -> tuple[float, int]:
    ops = cell_ops(arch)
    n = sum(o in PARAM_FREE for o in ops)
    return n / len(ops), n


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="search seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, default=20, help="supernet epochs (default 20)")
    p.add_argument("--final-epochs", type=int, default=30, help="retraining epochs (default 30)")
    p.add_argument("--random", type=int, default=10, help="random architectures retrained, one shared set (default 10)")
    p.add_argument("--bn-archs", type=int, default=20, help="random architectures of part 4 (default 20)")
    p.add_argument("--trial-epochs", type=int, default=5, help="REA training epochs per trial (default 5, as make run)")
    p.add_argument("--train-seed", type=int, default=0, help="training seed of every retraining (default 0)")
    p.add_argument("--random-seed", type=int, default=0, help="seed of the random architectures (default 0)")
    p.add_argument("--cost-epochs", type=int, default=2, help="supernet epochs of part 5 (default 2)")
    p.add_argument("--no-cost", action="store_true", help="skip part 5")
    p.add_argument("--workers", type=int, default=2, help="parallel processes, one torch thread each (default 2)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 seed, 1 supernet epoch, 1 retraining epoch, 3 random, 5 cost runs")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/oneshot.json; "
                                               "with --quick /tmp/oneshot_quick.json)")
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs, a.final_epochs, a.random, a.bn_archs, a.cost_epochs = 1, 1, 1, 3, 4, 1
    for name in ("seeds", "epochs", "final_epochs", "trial_epochs", "cost_epochs", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.random < 2:
        p.error("--random must be at least 2 (a standard error needs two values)")
    out_path = Path(a.out) if a.out else (Path("/tmp/oneshot_quick.json") if a.quick
                                          else Path(__file__).resolve().parent / "results" / "oneshot.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    mobile = {"width_mult": 0.25, "max_depth": 2, "head_channels": 64}
    if a.quick:  # the nb201 rows, and one cheap run on each other space
        cost_jobs = [("nb201", dict(NB201_OPTIONS), m) for m in METHODS] + [
            ("darts", {"C": 2, "layers": 3}, "gdas"), ("mobilenet", mobile, "gdas")]
    else:  # mobilenet with max_depth=1 as well for gdas (max_depth=2 may not run with gdas, see the JSON errors)
        cost_jobs = [(sp, opts, m) for sp, opts in (("nb201", dict(NB201_OPTIONS)), ("darts", {"C": 4, "layers": 5}),
                                                    ("mobilenet", mobile)) for m in METHODS]
        cost_jobs.append(("mobilenet", {**mobile, "max_depth": 1}, "gdas"))

    import numpy as np

    from nasforge.registry import BENCHMARKS
    from nasforge.spaces.base import sample_distinct
    from nasforge.spaces.nb201 import NB201Space

    os.environ["OMP_NUM_THREADS"] = "1"
    info = machine(with_torch=False, with_load=True)
    info["torch_threads_per_process"] = 1
    code = code_record(Path(__file__).resolve().parent)
    digests: set[str] = {code["nasforge_src_sha1"]}
    t_start = time.perf_counter()
    log = stamped_log(t_start)

    space = NB201Space(**NB201_OPTIONS)
    n_rand = max(a.random, a.bn_archs)
    rand_archs = [space.to_string(x) for x in sample_distinct(space, n_rand, np.random.default_rng(a.random_seed))]
    random_set, bn_set = rand_archs[:a.random], rand_archs[:a.bn_archs]
    bench = BENCHMARKS.create("nb201")
    table = bench.table()

    def nb201_c10(arch: str) -> float:
        return float(table[arch]["test_acc_200ep"])

    oneshot: dict[tuple[str, int], dict[str, Any]] = {}
    rea: dict[tuple[str, int], dict[str, Any]] = {}
    retrained: dict[str, dict[str, Any]] = {}
    cost: list[dict[str, Any]] = []
    errors: list[str] = []
    queue = JobQueue()
    push, want_retrain = queue.push, queue.want_retrain

    for s in range(a.seeds):
        for meth in METHODS:
            bn = bn_set if (meth == "darts" and s == 0 and a.bn_archs >= 2) else None
            push(0, EST_EPOCH["nb201"][meth] * a.epochs, "oneshot", (meth, s, a.epochs, bn), f"{meth} seed {s}")
    if not a.no_cost:
        for sp_name, opts, meth in cost_jobs:
            push(1, EST_EPOCH[sp_name][meth] * a.cost_epochs, "cost", (sp_name, opts, meth, a.cost_epochs),
                 f"cost {meth} on {sp_name} {opts}")
    for arch in rand_archs:
        want_retrain(arch)

    def on_done(kind: str, args: tuple[Any, ...], label: str, res: dict[str, Any]) -> None:
        if "error" in res:
            errors.append(f"{label}: {res['error']}")
            log(f"FAILED {label} after {res['wall_seconds']:.0f} s: {res['error']}")
        if kind == "oneshot":
            meth, s = args[0], args[1]
            oneshot[(meth, s)] = res
            if "error" in res:
                return
            log(f"done {label}: {res['search_seconds']:.0f} s (search phase {res['search_phase_seconds']:.0f} s), "
                f"peak {res['peak_rss_mb']:.0f} MB; magnitude {res['arch']['magnitude']}; pt {res['arch']['pt']}")
            push(1, res["search_seconds"], "rea", (s, res["search_seconds"], a.trial_epochs),
                 f"rea seed {s} at the {meth} budget")
            for sel in SELECTIONS:
                want_retrain(res["arch"][sel])
        elif kind == "rea":
            s, budget = args[0], args[1]
            meth = label.split(" at the ")[1].split()[0]
            rea[(meth, s)] = res
            if "error" in res:
                return
            log(f"done {label}: {res['search_seconds']:.0f} s for a {budget:.0f} s budget, {res['trials']} trials, "
                f"best {res['best_arch']} (val {res['best_val_acc']:.2f})")
            if res["best_arch"]:
                want_retrain(res["best_arch"])
        elif kind == "retrain":
            record_retrained(retrained, args[0], res, log)
        else:
            sp_name, opts, meth, ep = args
            row = {"space": sp_name, "options": opts, "method": meth, "epochs": ep, **res}
            cost.append(row)
            if "error" not in res:
                log(f"done {label}: {res['search_seconds']:.0f} s, {statistics.fmean(res['epoch_seconds']):.1f} s per "
                    f"epoch, peak {res['peak_rss_mb']:.0f} MB")

    queue.run(JOBS, a.workers, lambda archs: (archs, a.final_epochs, a.train_seed), on_done, log, digests)
    elapsed = time.perf_counter() - t_start
    code["same_code_in_every_job"] = len(digests) == 1

    # ------------------------------------------------------------------ the figures
    def test_acc(arch: str | None) -> float:
        r = retrained.get(arch or "")
        return math.nan if r is None or "error" in r else float(r["test_acc"])

    seeds = list(range(a.seeds))
    rand_accs = [test_acc(x) for x in random_set]
    rand_ok = [x for x in rand_accs if not math.isnan(x)]
    rmean, rse = mean_se(rand_ok)
    cells = []
    for meth in METHODS:
        for s in seeds:
            r = oneshot.get((meth, s))
            if not r or "error" in r:
                continue
            for sel in SELECTIONS:
                arch = r["arch"][sel]
                frac, n = param_free(arch)
                cells.append({"method": meth, "select": sel, "seed": s, "arch": arch, "param_free_fraction": frac,
                              "param_free_edges": n, "majority_param_free": n > 3, "test_acc": test_acc(arch),
                              "inherited_val_acc": r["inherited_val_acc"][sel], "nb201_cifar10_test_200ep": nb201_c10(arch)})

    def cell(meth: str, sel: str, s: int) -> dict[str, Any] | None:
        return next((c for c in cells if (c["method"], c["select"], c["seed"]) == (meth, sel, s)), None)

    def rea_acc(meth: str, s: int) -> float:
        r = rea.get((meth, s))
        return math.nan if not r or "error" in r else test_acc(r["best_arch"])

    def rea_c10(meth: str, s: int) -> float:
        r = rea.get((meth, s))
        return math.nan if not r or "error" in r or not r.get("best_arch") else nb201_c10(r["best_arch"])

    def paired(xs: list[float], ys: list[float]) -> tuple[float, float, int]:
        d = [x - y for x, y in zip(xs, ys) if not (math.isnan(x) or math.isnan(y))]
        m, se = mean_se(d)
        return m, se, len(d)

    summary = []
    for meth in METHODS:
        budgets = [oneshot[(meth, s)]["search_seconds"] for s in seeds if "error" not in oneshot.get((meth, s), {"error": 1})]
        reas = [rea_acc(meth, s) for s in seeds]
        for sel in SELECTIONS:
            accs = [(cell(meth, sel, s) or {}).get("test_acc", math.nan) for s in seeds]
            c10 = [(cell(meth, sel, s) or {}).get("nb201_cifar10_test_200ep", math.nan) for s in seeds]
            m, se = mean_se([x for x in accs if not math.isnan(x)])
            rm, rs = mean_se([x for x in reas if not math.isnan(x)])
            dm, dse, dn = paired(accs, reas)
            cm, cse = mean_se([x for x in c10 if not math.isnan(x)])
            summary.append({"method": meth, "select": sel, "test_acc_per_seed": accs, "test_acc_mean": m,
                            "test_acc_se": se, "rea_test_acc_per_seed": reas, "rea_mean": rm, "rea_se": rs,
                            "minus_rea_mean": dm, "minus_rea_se": dse, "minus_random_mean": m - rmean,
                            "budget_seconds_mean": statistics.fmean(budgets) if budgets else math.nan,
                            "nb201_c10_mean": cm, "nb201_c10_se": cse,
                            "rea_nb201_c10_mean": mean_se([x for x in (rea_c10(meth, s) for s in seeds)
                                                           if not math.isnan(x)])[0]})
    side = []
    for sel in SELECTIONS:
        xs = [(cell("darts2", sel, s) or {}).get("test_acc", math.nan) for s in seeds]
        ys = [(cell("darts", sel, s) or {}).get("test_acc", math.nan) for s in seeds]
        dm, dse, dn = paired(xs, ys)
        side.append({"comparison": f"darts2 - darts ({sel})", "mean": dm, "se": dse, "n": dn, "per_seed": [x - y for x, y in zip(xs, ys)]})
    for meth in METHODS:
        xs = [(cell(meth, "pt", s) or {}).get("test_acc", math.nan) for s in seeds]
        ys = [(cell(meth, "magnitude", s) or {}).get("test_acc", math.nan) for s in seeds]
        dm, dse, dn = paired(xs, ys)
        side.append({"comparison": f"pt - magnitude ({meth})", "mean": dm, "se": dse, "n": dn, "per_seed": [x - y for x, y in zip(xs, ys)]})

    bn_out: dict[str, Any] | None = None
    bn_src = oneshot.get(("darts", 0), {}).get("bn")
    if bn_src:
        from scipy.stats import kendalltau

        ta = [test_acc(x) for x in bn_src["archs"]]
        rec, nrec = bn_src["recalibrated"], bn_src["not_recalibrated"]
        ok = [i for i, x in enumerate(ta) if not math.isnan(x)]
        diff_m, diff_se = mean_se([r - n for r, n in zip(rec, nrec)])

        def tau(xs: list[float]) -> dict[str, float]:
            t = kendalltau([xs[i] for i in ok], [ta[i] for i in ok])
            return {"tau": float(t.statistic), "p": float(t.pvalue)}

        bn_out = {**bn_src, "retrained_test_acc": ta, "mean_recalibrated": mean_se(rec),
                  "mean_not_recalibrated": mean_se(nrec), "mean_difference": (diff_m, diff_se),
                  "kendall_recalibrated": tau(rec), "kendall_not_recalibrated": tau(nrec),
                  "kendall_between": {"tau": float(kendalltau(rec, nrec).statistic)}}

    out = {"benchmark": "oneshot", "task": "mnist1d", "space": "nb201", "space_options": NB201_OPTIONS,
           "config": {k: getattr(a, k) for k in ("seeds", "epochs", "final_epochs", "random", "bn_archs", "trial_epochs",
                                                 "train_seed", "random_seed", "cost_epochs", "workers", "quick")},
           "summary": summary, "random": {"archs": random_set, "test_acc": rand_accs, "mean": rmean, "se": rse,
                                          "nb201_c10": [nb201_c10(x) for x in random_set]},
           "cells": cells, "side_by_side": side, "bn_recalibration": bn_out, "cost": cost,
           "oneshot_runs": [oneshot[k] for k in sorted(oneshot)], "rea_runs": {f"{k[0]}/{k[1]}": v for k, v in sorted(rea.items())},
           "retrained": retrained, "nb201_cifar10_random_average": bench.random_average(), "errors": errors,
           "code": code, "elapsed_seconds": elapsed, "machine": {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    write_json(out, str(out_path), False)

    # ------------------------------------------------------------------ the tables
    print(f"\nrandom NB201 cells (K={len(rand_ok)}, one shared set): test acc {fmt_mean_se(rmean, rse)}")
    print("\n1. equal wall clock (test accuracy %, mean +- SE over seeds; REA given each run's search_seconds)")
    print(f"{'method':<7} {'select':<9} {'test acc':>14} {'REA same budget':>16} {'minus REA':>14} {'minus random':>12} {'budget s':>8}")
    for r in summary:
        print(f"{r['method']:<7} {r['select']:<9} {fmt_mean_se(r['test_acc_mean'], r['test_acc_se']):>14} "
              f"{fmt_mean_se(r['rea_mean'], r['rea_se']):>16} "
              f"{fmt_mean_se(r['minus_rea_mean'], r['minus_rea_se']):>14} "
              f"{r['minus_random_mean']:>12.2f} {r['budget_seconds_mean']:>8.0f}")
    print("\n2. derived cells")
    for c in cells:
        print(f"{c['method']:<7} {c['select']:<9} s{c['seed']} {c['arch']} free {c['param_free_edges']}/6"
              f"{' MAJORITY' if c['majority_param_free'] else ''} test {c['test_acc']:.2f} "
              f"NB201-C10 {c['nb201_cifar10_test_200ep']:.2f}")
    print("\n3. side by side (paired by seed)")
    for r in side:
        print(f"{r['comparison']:<26} {fmt_mean_se(r['mean'], r['se'])}")
    if bn_out:
        print("\n4. BN recalibration (darts seed 0 supernet)")
        print(f"recalibrated {fmt_mean_se(*bn_out['mean_recalibrated'])}, "
              f"not {fmt_mean_se(*bn_out['mean_not_recalibrated'])}, "
              f"difference {fmt_mean_se(*bn_out['mean_difference'])}; Kendall vs retrained: recal "
              f"{bn_out['kendall_recalibrated']['tau']:.2f}, not {bn_out['kendall_not_recalibrated']['tau']:.2f}")
    if cost:
        print("\n5. search cost")
        for r in cost:
            if "error" in r:
                print(f"{r['space']:<9} {r['options']} {r['method']:<7} FAILED {r['error']}")
            else:
                print(f"{r['space']:<9} {r['options']} {r['method']:<7} {statistics.fmean(r['epoch_seconds']):7.1f} s/epoch "
                      f"peak {r['peak_rss_mb']:.0f} MB")
    print(f"\nnasforge from {code['nasforge_path']} (source digest {code['nasforge_src_sha1'][:12]}), "
          f"same code in every job: {'yes' if code['same_code_in_every_job'] else 'NO'}")
    print(f"elapsed {elapsed:.0f} s; errors: {len(errors)}; JSON: {out_path}")
    for e in errors:
        print(f"  {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
