"""The main job (``make run``) over several seeds: does the retrained winner beat random architectures?

For each seed ``s`` of ``--seeds``, exactly what ``make run`` does, through the Python API:

1. ``api.search(task=--task, space=--space, space_options=-P..., strategy=--strategy (default: the
   library's default strategy, as ``make run``; with ``rea``, strategy_options={population_size,
   sample_size}), training_options={"epochs": --epochs},
   n_trials=--trials, workers=--workers, seed=s)`` into a temporary SQLite file (workers are
   spawned processes with one torch thread each); every trial trains a network on the task's
   training split and is scored by validation accuracy;
2. ``api.retrain(study, epochs=--final-epochs, baseline_random=--random, seed=s)``: the best
   architecture by validation accuracy is retrained on train+validation and its test accuracy
   measured once; ``--random`` architectures drawn uniformly from the same space (seeded with
   ``s``) are trained the same way (same epochs, same training seed) and their test accuracies
   give the reference mean, std and standard error SE = std (ddof=1) / sqrt(K).

Printed per seed: wall seconds of the search and of the retraining, the winner's test accuracy,
the random mean +- SE (and std), the margin (winner - mean) / SE, and the fraction of the random
architectures the winner beats. The claim checked: margin > 2 on every seed (exit status 1
otherwise). With ``--winner-repeats R`` the winner is also trained ``R`` more times with other
training seeds (outside the timed job) to show the spread of its own figure.

The retraining runs with ``--threads`` torch threads (default 1, as ``make run`` runs ``nasforge train``: on a
shared 2-core machine two threads can be many times slower): the winner's first training in this process, the
random baseline in ``--retrain-workers`` worker processes (default 2, as ``make run``; 1: all in this process).

    .venv/bin/python benchmarks/main_job.py                   # 3 seeds, about 25 minutes on 2 shared cores
    .venv/bin/python benchmarks/main_job.py --seeds 1 --trials 8 --random 3 --final-epochs 3   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from _common import command_line, key_value, machine, write_json  # benchmarks/_common.py (scripts run from benchmarks/)

from nasforge.registry import DEFAULT_STRATEGY


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    p.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--task", default="mnist1d", help="task (default mnist1d)")
    p.add_argument("--space", default="nb201", help="space (default nb201)")
    p.add_argument("-P", "--space-param", type=key_value, action="append", default=None,
                   help="space option key=value, repeatable (default C=8 N=2)")
    p.add_argument("--strategy", default=DEFAULT_STRATEGY,
                   help=f"strategy (default {DEFAULT_STRATEGY}, the library's default, as make run)")
    p.add_argument("--population", type=int, default=10, help="REA population size (default 10)")
    p.add_argument("--sample", type=int, default=3, help="REA tournament size (default 3)")
    p.add_argument("--trials", type=int, default=60, help="trials per search (default 60)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs per trial (default 5)")
    p.add_argument("--workers", type=int, default=2, help="search worker processes, one thread each (default 2)")
    p.add_argument("--final-epochs", type=int, default=8, help="epochs of the retraining (default 8)")
    p.add_argument("--random", type=int, default=50, help="random baseline architectures K (default 50)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each retraining, in this process and "
                                                            "in the retrain workers (default 1; 0 = torch's default "
                                                            "here, 1 in the workers)")
    p.add_argument("--retrain-workers", type=int, default=2,
                   help="worker processes of the random baseline's trainings (default 2, as make run; 1: serial)")
    p.add_argument("--winner-repeats", type=int, default=0,
                   help="train the winner this many more times with training seeds 1..R, untimed (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--save", metavar="PATH", default=None, help="also write the JSON document to PATH")
    a = p.parse_args(argv)
    for name in ("seeds", "population", "sample", "trials", "epochs", "workers", "final_epochs", "random",
                 "retrain_workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.random < 2:
        p.error("--random must be at least 2 (a standard error needs two values)")
    space_options = dict(a.space_param) if a.space_param else {"C": 8, "N": 2}

    import torch

    if a.threads:
        torch.set_num_threads(a.threads)

    from nasforge import api
    from nasforge.evaluators.training import TrainingEvaluator, train_final

    def log(msg: str) -> None:
        if not a.json:
            print(msg, file=sys.stderr, flush=True)

    info = machine(with_torch=True, with_load=True)
    t_start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="nasforge-main-job-") as tmp:
        storage = f"sqlite:///{tmp}/run.db"
        for s in range(a.seed_start, a.seed_start + a.seeds):
            name = f"{a.task}-{a.space}-{a.strategy}-s{s}"
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            study = api.search(task=a.task, space=a.space, space_options=space_options, strategy=a.strategy,
                               strategy_options={"population_size": a.population, "sample_size": a.sample}
                               if a.strategy == "rea" else None,
                               training_options={"epochs": a.epochs}, n_trials=a.trials, workers=a.workers,
                               seed=s, study=name, storage=storage)
            search_s = time.perf_counter() - t0
            summ = study.summary()
            study.close()
            if summ["failed"]:
                raise SystemExit(f"seed {s}: {summ['failed']} trials failed")
            t1 = time.perf_counter()
            res = api.retrain(name, storage, epochs=a.final_epochs, baseline_random=a.random, seed=s,
                              workers=a.retrain_workers, threads=a.threads or None)
            retrain_s = time.perf_counter() - t1
            rb = res["random_baseline"]
            accs = [b["test_acc"] for b in rb["archs"]]
            mean, std = statistics.fmean(accs), statistics.stdev(accs)
            se = std / len(accs) ** 0.5
            win = res["test_acc"]
            margin = (win - mean) / se if se > 0 else float("inf")
            beats = sum(1.0 if win > r else 0.5 if win == r else 0.0 for r in accs) / len(accs)
            row: dict[str, Any] = {
                "seed": s, "winner_arch": res["arch"], "winner_val_acc": summ["best"]["value"],
                "winner_test_acc": win, "winner_params": res["params"], "random_test_acc": accs,
                "random_archs": [b["arch"] for b in rb["archs"]], "random_mean": mean, "random_std": std,
                "random_se": se, "margin_se": margin, "fraction_random_beaten": beats,
                "search_seconds": search_s, "retrain_seconds": retrain_s, "job_seconds": search_s + retrain_s,
                "trials": summ["trials"], "duplicates": summ.get("duplicates"), "loadavg_1min_at_start": load0}
            if a.winner_repeats:
                from nasforge.data import load_task
                from nasforge.registry import create_space

                task, space = load_task(a.task), create_space(a.space, **space_options)
                arch = space.parse(res["arch"])
                reps = [win]
                for r in range(1, a.winner_repeats + 1):
                    ev = TrainingEvaluator(task, space, epochs=a.final_epochs, seed=r, measure_latency=False)
                    reps.append(train_final(ev, arch)[1]["test_acc"])
                row["winner_test_acc_repeats"] = reps
                row["winner_repeat_mean"], row["winner_repeat_std"] = statistics.fmean(reps), statistics.stdev(reps)
            rows.append(row)
            spread = (f" (over {len(row['winner_test_acc_repeats'])} training seeds "
                      f"{row['winner_repeat_mean']:.2f} +- {row['winner_repeat_std']:.2f} std)"
                      if a.winner_repeats else "")
            log(f"seed {s}: search {search_s:.0f} s + retrain {retrain_s:.0f} s = {search_s + retrain_s:.0f} s; "
                f"winner {win:.2f}{spread} vs random {mean:.2f} +- {se:.2f} SE (std {std:.2f}, K={len(accs)}): "
                f"margin {margin:.1f} SE, beats {100 * beats:.0f}% of them; {res['arch']}")

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    medians = {k: med(k) for k in ("job_seconds", "search_seconds", "retrain_seconds", "winner_test_acc",
                                   "random_mean", "random_se", "random_std", "margin_se")}
    holds = all(r["margin_se"] > 2 for r in rows)
    out = {"benchmark": "main_job", "task": a.task, "space": a.space, "space_options": space_options,
           "config": {k: getattr(a, k) for k in ("seeds", "seed_start", "strategy", "population", "sample", "trials",
                                                 "epochs", "workers", "final_epochs", "random", "threads",
                                                 "retrain_workers", "winner_repeats")},
           "per_seed": rows, "median": medians, "claim_margin_over_2_se_on_every_seed": holds,
           "elapsed_seconds": time.perf_counter() - t_start,
           "machine": {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    write_json(out, a.save, a.json)
    if not a.json:
        print(f"{'seed':>4} {'search s':>8} {'retrain s':>9} {'job s':>6} {'winner':>7} {'random mean':>11} "
              f"{'SE':>5} {'std':>5} {'margin SE':>9}")
        for r in rows:
            print(f"{r['seed']:>4} {r['search_seconds']:>8.0f} {r['retrain_seconds']:>9.0f} {r['job_seconds']:>6.0f} "
                  f"{r['winner_test_acc']:>7.2f} {r['random_mean']:>11.2f} {r['random_se']:>5.2f} "
                  f"{r['random_std']:>5.2f} {r['margin_se']:>9.1f}")
        m = medians
        print(f"{'med':>4} {m['search_seconds']:>8.0f} {m['retrain_seconds']:>9.0f} {m['job_seconds']:>6.0f} "
              f"{m['winner_test_acc']:>7.2f} {m['random_mean']:>11.2f} {m['random_se']:>5.2f} {m['random_std']:>5.2f} "
              f"{m['margin_se']:>9.1f}")
        print(f"winner beats the random mean by more than 2 SE on every seed: {'yes' if holds else 'NO'}")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
