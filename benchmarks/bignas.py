"""BigNAS / Once-for-All on MNIST-1D: sub-networks of a trained elastic supernet used without retraining.

Space: a small ``MobileNetSpace`` (``width_mult=0.5, max_depth=2``, three stages ``(16, 1), (24, 2),
(40, 2)``, ``head_channels=64``; kernels 3/5/7, expansions 1/3/6, SE on/off: 18 options per block, up
to 6 blocks); task: MNIST-1D (input ``(1, 1, 40)``, every stride fitted to 1). Each job below runs in
its own freshly spawned process with one torch thread, ONE at a time (the machine is shared).

0. **Plan** (one job): 200 random sub-networks (``space.sample``, seed ``--random-seed``) and their
   parameter counts; the bound ``B`` = their median (``median_low``, an actual count); the *middle*
   sub-network = the first of the 200 whose count is ``B``; the smallest and largest
   (``ElasticMobileNetSupernet.smallest_arch()`` / ``largest_arch()``); ``--random-feasible`` distinct
   random sub-networks with at most ``B`` parameters (seed ``--random-seed + 1``), one set shared by all seeds.
1. **Supernet** (one job per seed ``s``): ``ONESHOT.create("bignas", space, task, epochs=--epochs,
   threads=1, seed=s).train()`` (sandwich rule, in-place distillation, 2 random sub-networks per step).
   Then, with inherited weights and BatchNorm recalibrated on 4 training batches of 128
   (``path_accuracy(..., X_calib=X_train)``): test (and validation) accuracy of the three sizes; the
   constrained search ``api.search(evaluator=SupernetEvaluator(trained), strategy="rea",
   constraints="params<=B", n_trials=--trials, seed=s)`` (REA population 10, tournament 3, scoring
   validation accuracy with inherited weights); the found sub-network's inherited test accuracy
   against the random feasible set's.
2. **From scratch** (jobs of several architectures): every architecture above trained stand-alone with
   ``train_final`` (train + validation, training seed ``--train-seed``): the three sizes and the found
   sub-networks for ``--short-epochs`` and for ``--epochs`` (as many epochs as the supernet trained),
   the random feasible set for ``--short-epochs``.

Means are given with standard error SE = std (ddof=1) / sqrt(n).

    C=$(git rev-parse HEAD); mkdir -p /tmp/snap_big && git archive $C src | tar -x -C /tmp/snap_big
    PYTHONPATH=/tmp/snap_big/src NASFORGE_DATA_DIR=/work/shared/data \
        .venv/bin/python benchmarks/bignas.py --snapshot-commit $C   # 2 seeds, 40 epochs: 27 min on one core
    .venv/bin/python benchmarks/bignas.py --quick            # smoke run, under a minute
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import (  # _common.py
    add_snapshot_option, check_job, code_record, command_line, fmt_mean_se, machine, mean_se, retrain_archs,
    run_alone, stamped_log, write_json)

TASK = "mnist1d"
SPACE_OPTIONS: dict[str, Any] = {"width_mult": 0.5, "max_depth": 2, "stages": [[16, 1], [24, 2], [40, 2]],
                                 "head_channels": 64}
REA_OPTIONS = {"population_size": 10, "sample_size": 3}


# ----------------------------------------------------------------------------- worker side
def _task():
    from nasforge import api

    return api.resolve_task(TASK)[0]


def _space():
    from nasforge.spaces.mobilenet import MobileNetSpace

    return MobileNetSpace(**{k: (tuple(tuple(s) for s in v) if k == "stages" else v) for k, v in SPACE_OPTIONS.items()})


def _size(space: Any, task: Any, arch: Any) -> dict[str, int]:
    from nasforge.evaluators.hardware import count_flops, count_params

    net = space.build(arch, task)
    return {"params": count_params(net), "flops": count_flops(net, tuple(task.input_shape))}


def _plan(n_random: int, n_feasible: int, random_seed: int) -> dict[str, Any]:
    import numpy as np

    from nasforge.oneshot.methods import build_supernet

    task, space = _task(), _space()
    sn = build_supernet(space, task, 0, kind="elastic")
    rng = np.random.default_rng(random_seed)
    rand = [space.sample(rng) for _ in range(n_random)]
    sizes = [_size(space, task, a) for a in rand]
    params = [s["params"] for s in sizes]
    bound = int(statistics.median_low(params))
    middle = rand[params.index(bound)]
    rng2 = np.random.default_rng(random_seed + 1)
    feasible: list[str] = []
    tried = 0
    while len(feasible) < n_feasible:
        a = space.sample(rng2)
        tried += 1
        s = space.to_string(a)
        if s not in feasible and _size(space, task, a)["params"] <= bound:
            feasible.append(s)
    sizes_named = {}
    for name, a in (("smallest", sn.smallest_arch()), ("middle", middle), ("largest", sn.largest_arch())):
        sizes_named[name] = {"arch": space.to_string(a), **_size(space, task, a),
                             "flops_supernet_count": int(sn.arch_flops(a))}
    return {"random_archs": [space.to_string(a) for a in rand], "random_params": params,
            "random_flops": [s["flops"] for s in sizes], "bound": bound, "sizes": sizes_named,
            "feasible_archs": feasible, "feasible_draws": tried,
            "feasible_fraction_of_draws": n_feasible / tried, "space_size": int(space.size())}


def _supernet(seed: int, epochs: int, trials: int, plan: dict[str, Any]) -> dict[str, Any]:
    from nasforge import api
    from nasforge.evaluators.supernet import SupernetEvaluator
    from nasforge.oneshot.methods import peak_rss_mb
    from nasforge.oneshot.supernet import path_accuracy
    from nasforge.registry import ONESHOT

    task, space = _task(), _space()
    m = ONESHOT.create("bignas", space, task, epochs=epochs, threads=1, seed=seed)
    t0 = time.perf_counter()
    trained = m.train()
    train_seconds = time.perf_counter() - t0
    sn, d = trained.members[0], trained.tensors()

    def inherited(arch_s: str) -> dict[str, float]:
        a = space.from_string(arch_s)
        return {"test_acc": path_accuracy(sn, a, d["X_test"], d["y_test"], X_calib=d["X_train"],
                                          calib_batches=trained.calib_batches),
                "val_acc": path_accuracy(sn, a, d["X_val"], d["y_val"], X_calib=d["X_train"],
                                         calib_batches=trained.calib_batches),
                "test_acc_no_recal": path_accuracy(sn, a, d["X_test"], d["y_test"], recalibrate=False)}

    sizes = {name: {**row, **inherited(row["arch"])} for name, row in plan["sizes"].items()}
    t1 = time.perf_counter()
    ev = SupernetEvaluator(trained, threads=1)
    study = api.search(evaluator=ev, space=space, strategy="rea", strategy_options=REA_OPTIONS,
                       constraints=f"params<={plan['bound']}", n_trials=trials, seed=seed, storage="memory:")
    search_seconds = time.perf_counter() - t1
    best = study.best_trial()
    summ = study.summary()
    trials_rows = [{"arch": r.arch, "val_acc": r.value, "params": (r.metrics or {}).get("params"),
                    "feasible": r.feasible, "status": r.status, "duplicate_of": r.duplicate_of}
                   for r in study.trials]
    study.close()
    found = None
    if best is not None:
        found = {"arch": best.arch, "search_val_acc": best.value, "params": best.metrics.get("params"),
                 "flops": best.metrics.get("flops"), "trial": best.number, **inherited(best.arch)}
    t2 = time.perf_counter()
    feas = [{"arch": s, **inherited(s), **_size(space, task, space.from_string(s))} for s in plan["feasible_archs"]]
    return {"seed": seed, "epochs": epochs, "train_seconds": train_seconds,
            "epoch_seconds": [h["seconds"] for h in trained.history],
            "train_acc": [h["train_acc"] for h in trained.history],
            "train_loss": [h["train_loss"] for h in trained.history],
            "supernet_params": sum(p.numel() for p in sn.weight_parameters()),
            "sizes": sizes, "search": {"bound": plan["bound"], "trials": trials, "seconds": search_seconds,
                                       "summary": {k: summ.get(k) for k in ("trials", "failed", "duplicates",
                                                                            "infeasible")},
                                       "distinct_archs": len({r["arch"] for r in trials_rows}),
                                       "feasible_trials": sum(1 for r in trials_rows if r["feasible"]),
                                       "found": found, "trials_rows": trials_rows},
            "random_feasible": feas, "random_eval_seconds": time.perf_counter() - t2,
            "peak_rss_mb": peak_rss_mb()}


def _retrain(archs: list[str], epochs: int, train_seed: int) -> dict[str, Any]:
    """From-scratch trainings of several sub-networks in one process."""
    return retrain_archs(_task(), _space(), archs, epochs, train_seed, detail=True)


JOBS = {"plan": _plan, "supernet": _supernet, "retrain": _retrain}  # what a job's kind runs


# ----------------------------------------------------------------------------- helpers
def kendall(xs: list[float], ys: list[float]) -> dict[str, float]:
    from scipy.stats import kendalltau

    ok = [(x, y) for x, y in zip(xs, ys) if not (math.isnan(x) or math.isnan(y))]
    if len(ok) < 3:
        return {"tau": math.nan, "p": math.nan, "n": len(ok)}
    t = kendalltau([x for x, _ in ok], [y for _, y in ok])
    return {"tau": float(t.statistic), "p": float(t.pvalue), "n": len(ok)}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=2, help="supernet seeds 0..N-1 (default 2)")
    p.add_argument("--epochs", type=int, default=40, help="BigNAS supernet epochs, also the long from-scratch "
                                                          "schedule (default 40)")
    p.add_argument("--short-epochs", type=int, default=10, help="the short from-scratch schedule (default 10)")
    p.add_argument("--trials", type=int, default=100, help="REA trials of the constrained search (default 100)")
    p.add_argument("--random", type=int, default=200, help="random sub-networks for the median (default 200)")
    p.add_argument("--random-feasible", type=int, default=30, help="random feasible sub-networks (default 30)")
    p.add_argument("--scratch-random", type=int, default=30,
                   help="how many of them are trained from scratch (--short-epochs; default 30)")
    p.add_argument("--random-seed", type=int, default=0, help="seed of the random sub-networks (default 0)")
    p.add_argument("--train-seed", type=int, default=0, help="training seed of every from-scratch run (default 0)")
    add_snapshot_option(p)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 1 epoch, 10 trials, 5 random")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/bignas.json; with --quick "
                                               "benchmarks/results/bignas_quick.json)")
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs, a.short_epochs, a.trials, a.random, a.random_feasible, a.scratch_random = 1, 1, 1, 10, 50, 5, 3
    here = Path(__file__).resolve().parent
    out_path = Path(a.out) if a.out else here / "results" / ("bignas_quick.json" if a.quick else "bignas.json")

    os.environ["OMP_NUM_THREADS"] = "1"
    info = machine(with_torch=False, with_load=True)
    info["torch_threads_per_process"] = 1
    code = code_record(here, "checkout_git_head_at_start", a.snapshot_commit)
    digests = {code["nasforge_src_sha1"]}
    errors: list[str] = []
    t_start = time.perf_counter()
    log = stamped_log(t_start)

    def run(kind: str, *args: Any) -> dict[str, Any]:
        """One job in a fresh process, one at a time."""
        res = run_alone(JOBS[kind], *args)
        check_job(res, f"{kind} {args[:2] if kind != 'plan' else ''}".strip(), digests, errors, log)
        return res

    log(f"plan: {a.random} random sub-networks, {a.random_feasible} random feasible")
    plan = run("plan", a.random, a.random_feasible, a.random_seed)
    if "error" in plan:
        return 1
    log(f"bound params <= {plan['bound']}; sizes: " +
        ", ".join(f"{k} {v['arch']} ({v['params']} params)" for k, v in plan["sizes"].items()))

    supernets: dict[int, dict[str, Any]] = {}
    for s in range(a.seeds):
        log(f"start supernet seed {s} ({a.epochs} epochs)")
        r = run("supernet", s, a.epochs, a.trials, plan)
        supernets[s] = r
        if "error" not in r:
            f = r["search"]["found"]
            log(f"done supernet seed {s}: {r['train_seconds']:.0f} s training "
                f"({statistics.fmean(r['epoch_seconds']):.1f} s/epoch), search {r['search']['seconds']:.0f} s; "
                + ", ".join(f"{k} inherited test {v['test_acc']:.2f}" for k, v in r["sizes"].items())
                + (f"; found {f['arch']} ({f['params']} params) inherited test {f['test_acc']:.2f}" if f else ""))

    # from-scratch training: the sizes and found sub-networks at both schedules, the random set at the short one
    scratch: dict[tuple[str, int], dict[str, Any]] = {}
    jobs: list[tuple[list[str], int]] = []
    sizes_archs = [v["arch"] for v in plan["sizes"].values()]
    found_archs = [r["search"]["found"]["arch"] for r in supernets.values()
                   if "error" not in r and r["search"]["found"]]
    for ep in sorted({a.short_epochs, a.epochs}):
        archs = list(dict.fromkeys(sizes_archs + found_archs))
        if ep == a.short_epochs:
            archs = list(dict.fromkeys(archs + plan["feasible_archs"][:a.scratch_random]))
        # batches of up to 8 architectures per fresh process
        for i in range(0, len(archs), 8):
            jobs.append((archs[i:i + 8], ep))
    for archs, ep in jobs:
        log(f"start from-scratch training of {len(archs)} architectures, {ep} epochs")
        r = run("retrain", archs, ep, a.train_seed)
        if "error" in r:
            for arch in archs:
                scratch[(arch, ep)] = {"arch": arch, "epochs": ep, "error": r["error"]}
            continue
        for row in r["results"]:
            scratch[(row["arch"], ep)] = {**row, "job_wall_seconds": r["wall_seconds"],
                                          "job_loadavg_1min_at_start": r["loadavg_1min_at_start"]}
            log(f"  {row['arch']}: test {row['test_acc']:.2f} ({row['train_seconds']:.0f} s)")
    elapsed = time.perf_counter() - t_start
    code["same_code_in_every_job"] = len(digests) == 1

    # ------------------------------------------------------------------ the figures
    def sc(arch: str | None, ep: int) -> float:
        r = scratch.get((arch or "", ep))
        return math.nan if r is None or "error" in r else float(r["test_acc"])

    ok_seeds = [s for s, r in supernets.items() if "error" not in r]
    size_rows = []
    for name, row in plan["sizes"].items():
        inh = [supernets[s]["sizes"][name]["test_acc"] for s in ok_seeds]
        inh_nr = [supernets[s]["sizes"][name]["test_acc_no_recal"] for s in ok_seeds]
        m, se = mean_se(inh)
        size_rows.append({"size": name, "arch": row["arch"], "params": row["params"], "flops": row["flops"],
                          "inherited_test_acc_per_seed": inh, "inherited_test_acc_mean": m, "inherited_test_acc_se": se,
                          "inherited_test_acc_no_recal_per_seed": inh_nr,
                          "scratch_short": sc(row["arch"], a.short_epochs), "scratch_long": sc(row["arch"], a.epochs),
                          "minus_scratch_short": m - sc(row["arch"], a.short_epochs),
                          "minus_scratch_long": m - sc(row["arch"], a.epochs)})
    search_rows = []
    scratch_rand = [sc(x, a.short_epochs) for x in plan["feasible_archs"][:a.scratch_random]]
    for s in ok_seeds:
        r = supernets[s]
        f = r["search"]["found"]
        rand_inh = [x["test_acc"] for x in r["random_feasible"]]
        rm, rse = mean_se(rand_inh)
        row: dict[str, Any] = {"seed": s, "random_inherited_mean": rm, "random_inherited_se": rse,
                               "random_inherited_median": statistics.median(rand_inh) if rand_inh else math.nan,
                               "random_inherited_max": max(rand_inh) if rand_inh else math.nan,
                               "feasible_trials": r["search"]["feasible_trials"],
                               "distinct_archs": r["search"]["distinct_archs"], "search_seconds": r["search"]["seconds"]}
        if f:
            row.update(found_arch=f["arch"], found_params=f["params"], found_flops=f["flops"],
                       found_search_val_acc=f["search_val_acc"], found_inherited_test_acc=f["test_acc"],
                       beats=sum(x < f["test_acc"] for x in rand_inh), ties=sum(x == f["test_acc"] for x in rand_inh),
                       n_random=len(rand_inh), found_scratch_short=sc(f["arch"], a.short_epochs),
                       found_scratch_long=sc(f["arch"], a.epochs),
                       scratch_random_beats=sum(x < sc(f["arch"], a.short_epochs) for x in scratch_rand
                                                if not math.isnan(x)))
        # does the inherited ranking of the random feasible set agree with training from scratch?
        inh_sub = rand_inh[:a.scratch_random]
        row["kendall_inherited_vs_scratch_random"] = kendall(inh_sub, scratch_rand[:len(inh_sub)])
        search_rows.append(row)
    srm, srse = mean_se(scratch_rand)

    out = {"benchmark": "bignas", "task": TASK, "space": "mobilenet", "space_options": SPACE_OPTIONS,
           "config": {k: getattr(a, k) for k in ("seeds", "epochs", "short_epochs", "trials", "random",
                                                 "random_feasible", "scratch_random", "random_seed", "train_seed",
                                                 "quick")},
           "rea_options": REA_OPTIONS, "sizes": size_rows, "search": search_rows,
           "random_feasible_scratch_short": {"test_acc": scratch_rand, "mean": srm, "se": srse,
                                             "median": statistics.median(scratch_rand) if scratch_rand else None},
           "plan": plan, "supernets": {str(s): r for s, r in supernets.items()},
           "scratch": [v for _, v in sorted(scratch.items())], "errors": errors, "code": code,
           "elapsed_seconds": elapsed, "machine": {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, str(out_path), False)

    # ------------------------------------------------------------------ the tables
    print(f"\nBigNAS on {TASK}, mobilenet {SPACE_OPTIONS}, {a.epochs} supernet epochs, seeds {ok_seeds}")
    for s in ok_seeds:
        r = supernets[s]
        print(f"  seed {s}: {statistics.fmean(r['epoch_seconds']):.1f} s/epoch, last train acc (largest) "
              f"{r['train_acc'][-1]:.1f}")
    print(f"\n1. three sizes (test acc %; inherited = mean over seeds, BN recalibrated; scratch = train+val, "
          f"seed {a.train_seed})")
    print(f"{'size':<9} {'params':>7} {'FLOPs':>9} {'inherited':>15} {f'scratch {a.short_epochs}ep':>12} "
          f"{f'scratch {a.epochs}ep':>12} {'inh-scr(long)':>13}  arch")
    for r in size_rows:
        inh = fmt_mean_se(r['inherited_test_acc_mean'], r['inherited_test_acc_se'])
        print(f"{r['size']:<9} {r['params']:>7} {r['flops']:>9} {inh:>15} "
              f"{r['scratch_short']:>12.2f} {r['scratch_long']:>12.2f} {r['minus_scratch_long']:>13.2f}  {r['arch']}")
    print(f"\n2. constrained search (params <= {plan['bound']}, REA {a.trials} trials) against {a.random_feasible} "
          f"random feasible (inherited test acc)")
    for r in search_rows:
        if "found_arch" in r:
            print(f"  seed {r['seed']}: found {r['found_arch']} ({r['found_params']} params) inherited "
                  f"{r['found_inherited_test_acc']:.2f} (val {r['found_search_val_acc']:.2f}); random "
                  f"{fmt_mean_se(r['random_inherited_mean'], r['random_inherited_se'])} "
                  f"(max {r['random_inherited_max']:.2f}); "
                  f"beats {r['beats']}/{r['n_random']}; scratch {a.short_epochs}ep {r['found_scratch_short']:.2f}, "
                  f"{a.epochs}ep {r['found_scratch_long']:.2f}; Kendall inherited vs scratch (random) "
                  f"{r['kendall_inherited_vs_scratch_random']['tau']:.2f}")
    print(f"  random feasible from scratch ({a.short_epochs} epochs, K={len(scratch_rand)}): {fmt_mean_se(srm, srse)}")
    print(f"\nsame code in every job: {'yes' if code['same_code_in_every_job'] else 'NO'}; elapsed {elapsed:.0f} s; "
          f"errors {len(errors)}; JSON {out_path}")
    for e in errors:
        print(f"  {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
