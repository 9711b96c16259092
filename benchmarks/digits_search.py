"""Does a short REA search on ``digits`` find architectures that beat random ones, once retrained?

For each of ``--seeds`` seeds ``s``:

1. search: regularized evolution (``create_strategy('rea', space, seed=s,
   population_size=8, sample_size=3)``) over the NB201 cell space (network
   ``C=--C``, ``N=--N``) for ``--trials`` trials, each trained for ``--epochs``
   epochs by ``TrainingEvaluator(task, space, seed=s)`` (SGD, lr 0.05, batch
   64, cosine, weight decay 5e-4) and scored by validation accuracy; in
   memory, in this process (``--workers`` > 1 uses a ProcessExecutor, which
   makes the search order depend on timing); the search's wall time is
   that of ``Study.optimize``;
2. retrain the best architecture by validation accuracy
   (``study.best_arch()``; the earliest on ties) with ``train_final`` for
   ``--final-epochs`` epochs on train+validation, and measure test accuracy.

The reference: ``--random`` distinct architectures drawn uniformly from the
same space *once* (generator seeded with ``--random-seed``) and shared by
every seed, each retrained with the same ``train_final`` schedule and the same
training seed as the searched ones (``--final-seed``). A searched architecture
that is also in the reference set, or found by two seeds, is trained once (the
training is deterministic).

Reported per seed: retrained best test accuracy, the random mean, relative
improvement 100 x (best - rand) / rand (and the same over the random
median, which a disconnected cell at chance accuracy cannot drag down), the
fraction of the random architectures the best beats (ties count half),
search wall time; and the means over seeds, with the random architectures' spread (std, min, max).
The test split of digits has 270 images, so one image is 0.37 points.

This is a report, not a check: exit status 0 unless a trial or a retraining fails.

    .venv/bin/python benchmarks/digits_search.py                        # 5 seeds, about 10 minutes on 2 cores
    .venv/bin/python benchmarks/digits_search.py --seeds 1 --trials 10 --random 4 --final-epochs 5   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from _common import command_line, machine, write_json  # benchmarks/_common.py (scripts run from benchmarks/)



def draw_random(space: Any, n: int, seed: int) -> list[Any]:
    """``n`` distinct architectures drawn uniformly (by rejection of repeats)."""
    rng = np.random.default_rng(seed)
    seen: dict[str, Any] = {}
    while len(seen) < n:
        arch = space.sample(rng)
        seen.setdefault(space.to_string(arch), arch)
    return list(seen.values())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5, help="number of search seeds (default 5)")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--C", type=int, default=8, help="NB201 network initial channels (default 8)")
    p.add_argument("--N", type=int, default=1, help="NB201 network cells per stage (default 1)")
    p.add_argument("--trials", type=int, default=40, help="trials per search (default 40)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs per trial (default 5)")
    p.add_argument("--population", type=int, default=8, help="REA population size (default 8)")
    p.add_argument("--sample", type=int, default=3, help="REA tournament size (default 3)")
    p.add_argument("--final-epochs", type=int, default=30, help="epochs of the final retraining (default 30)")
    p.add_argument("--final-seed", type=int, default=0, help="training seed of every final retraining (default 0)")
    p.add_argument("--random", type=int, default=20, help="random reference architectures (default 20)")
    p.add_argument("--random-seed", type=int, default=12345, help="seed drawing them (default 12345)")
    p.add_argument("--workers", type=int, default=1, help="search worker processes (default 1: in this process)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads in this process and in each worker (default 1; 0 = torch's default). "
                        "One thread keeps the accuracies independent of the core count, and on a loaded machine "
                        "it is far faster than 2 (see RESULTS.md)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--save", metavar="PATH", default=None, help="also write the JSON document to PATH")
    a = p.parse_args(argv)
    for name in ("seeds", "C", "N", "trials", "epochs", "population", "sample", "final_epochs", "random", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.threads < 0:
        p.error("--threads must be >= 0")

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)

    from nasforge.data import load_task
    from nasforge.evaluators.training import TrainingEvaluator, train_final
    from nasforge.executors import ProcessExecutor
    from nasforge.registry import create_space, create_strategy
    from nasforge.study import Study

    def log(msg: str) -> None:
        if not a.json:
            print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    info = machine(with_torch=True, with_load=True)
    task = load_task("digits", seed=0)
    space = create_space("nb201", C=a.C, N=a.N)
    final_ev = TrainingEvaluator(task, space, epochs=a.final_epochs, seed=a.final_seed, measure_latency=False)
    final_cache: dict[str, dict[str, Any]] = {}

    def final(arch: Any) -> dict[str, Any]:
        key = space.to_string(arch)
        if key not in final_cache:
            t0 = time.perf_counter()
            _, m = train_final(final_ev, arch, a.final_epochs)
            final_cache[key] = {"test_acc": m["test_acc"], "params": m["params"], "seconds": time.perf_counter() - t0}
        return final_cache[key]

    # the shared random reference
    randoms = draw_random(space, a.random, a.random_seed)
    t0 = time.perf_counter()
    rand_acc = []
    for i, arch in enumerate(randoms):
        rand_acc.append(final(arch)["test_acc"])
        log(f"random {i + 1}/{len(randoms)}: test {rand_acc[-1]:.2f}  {space.to_string(arch)}")
    random_seconds = time.perf_counter() - t0
    rand_mean = statistics.fmean(rand_acc)
    rand_median = statistics.median(rand_acc)

    per_seed = []
    for s in range(a.seed_start, a.seed_start + a.seeds):
        ev = TrainingEvaluator(task, space, epochs=a.epochs, seed=s, measure_latency=False)
        strat = create_strategy("rea", space, seed=s, population_size=a.population, sample_size=a.sample)
        study = Study(space, strat, ev, name=f"digits-rea-{s}", storage=None)
        ex = (ProcessExecutor(ev, n_workers=a.workers, threads_per_worker=a.threads or None) if a.workers > 1
              else None)
        t0 = time.perf_counter()
        try:
            study.optimize(n_trials=a.trials, executor=ex)
        finally:
            if ex is not None:
                ex.shutdown()
        search_s = time.perf_counter() - t0
        summ = study.summary()
        if summ["failed"]:
            errors = sorted({r.error for r in study.trials if r.error})
            raise SystemExit(f"seed {s}: {summ['failed']} trials failed: {errors}")
        best = study.best_trial()
        arch = study.best_arch()
        t1 = time.perf_counter()
        fin = final(arch)
        final_s = time.perf_counter() - t1
        acc = fin["test_acc"]
        beats = sum(1.0 if acc > r else 0.5 if acc == r else 0.0 for r in rand_acc) / len(rand_acc)
        row = {"seed": s, "best_arch": best.arch, "best_val_acc": best.value,
               "best_test_acc": acc, "best_params": fin["params"], "random_mean_test_acc": rand_mean,
               "rel_improvement_pct": 100.0 * (acc - rand_mean) / rand_mean,
               "rel_improvement_vs_median_pct": 100.0 * (acc - rand_median) / rand_median,
               "fraction_random_beaten": beats,
               "search_seconds": search_s, "final_seconds": final_s, "trials": summ["trials"],
               "duplicates": summ["duplicates"],
               "val_acc_ties_at_best": sum(1 for r in study.trials if r.duplicate_of is None
                                           and r.value == best.value)}
        per_seed.append(row)
        log(f"seed {s}: search {search_s:.0f} s, best val {best.value:.2f} -> test {acc:.2f} "
            f"(random mean {rand_mean:.2f}), {best.arch}")

    best_accs = [r["best_test_acc"] for r in per_seed]
    mean = {
        "best_test_acc": statistics.fmean(best_accs),
        "best_test_acc_std": statistics.stdev(best_accs) if len(best_accs) > 1 else 0.0,
        "random_mean_test_acc": rand_mean,
        "rel_improvement_pct": statistics.fmean(r["rel_improvement_pct"] for r in per_seed),
        "rel_improvement_vs_median_pct": statistics.fmean(r["rel_improvement_vs_median_pct"] for r in per_seed),
        "fraction_random_beaten": statistics.fmean(r["fraction_random_beaten"] for r in per_seed),
        "search_seconds": statistics.fmean(r["search_seconds"] for r in per_seed),
        "seeds_beating_random_mean": sum(1 for r in per_seed if r["best_test_acc"] > rand_mean),
    }
    random_ref = {"archs": [space.to_string(x) for x in randoms], "test_acc": rand_acc, "mean": rand_mean,
                  "std": statistics.stdev(rand_acc) if len(rand_acc) > 1 else 0.0, "min": min(rand_acc),
                  "max": max(rand_acc), "median": statistics.median(rand_acc), "seconds": random_seconds,
                  "shared_across_seeds": True, "draw_seed": a.random_seed}
    elapsed = time.perf_counter() - t_start
    out = {"benchmark": "digits_search", "task": "digits", "n_test": int(len(task.y_test)),
           "config": {k: getattr(a, k) for k in ("seeds", "seed_start", "C", "N", "trials", "epochs", "population",
                                                 "sample", "final_epochs", "final_seed", "random", "random_seed",
                                                 "workers", "threads")},
           "per_seed": per_seed, "mean": mean, "random": random_ref, "elapsed_seconds": elapsed,
           "machine": {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    write_json(out, a.save, a.json)
    if a.json:
        return 0

    print(f"REA (population {a.population}, tournament {a.sample}) on digits, NB201 C={a.C} N={a.N}: "
          f"{a.trials} trials x {a.epochs} epochs per seed; final retraining {a.final_epochs} epochs on train+val; "
          f"test split {len(task.y_test)} images; torch threads {torch.get_num_threads()}")
    head = (f"{'seed':>4} {'best test':>9} {'rand mean':>9} {'rel impr %':>10} {'beats':>6} {'search s':>9}  "
            f"best architecture (val acc)")
    print(head)
    print("-" * len(head))
    for r in per_seed:
        print(f"{r['seed']:>4} {r['best_test_acc']:9.2f} {r['random_mean_test_acc']:9.2f} "
              f"{r['rel_improvement_pct']:10.2f} {r['fraction_random_beaten']:6.2f} {r['search_seconds']:9.1f}  "
              f"{r['best_arch']} ({r['best_val_acc']:.2f})")
    print(f"{'mean':>4} {mean['best_test_acc']:9.2f} {rand_mean:9.2f} {mean['rel_improvement_pct']:10.2f} "
          f"{mean['fraction_random_beaten']:6.2f} {mean['search_seconds']:9.1f}")
    print(f"best test acc over seeds: {mean['best_test_acc']:.2f} +- {mean['best_test_acc_std']:.2f} (std); "
          f"{mean['seeds_beating_random_mean']}/{len(per_seed)} seeds beat the random mean")
    print(f"relative improvement over the random median instead of the mean: "
          f"{mean['rel_improvement_vs_median_pct']:.2f} % (the mean is pulled down by any cell whose output "
          f"is cut off from the input by 'none' edges)")
    print(f"random reference ({a.random} architectures, shared by all seeds): mean {rand_mean:.2f}, "
          f"std {random_ref['std']:.2f}, median {random_ref['median']:.2f}, min {random_ref['min']:.2f}, "
          f"max {random_ref['max']:.2f}")
    print(f"total {elapsed:.0f} s (random reference retraining {random_seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
