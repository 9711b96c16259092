"""Wall time of one fixed training search run serially and with ProcessExecutor(n_workers=2).

The search: ``--trials`` trials (default 16) of random search (seed
``--seed``) over the NB201 cell space with network C=8, N=2 on ``digits``,
each trial trained for ``--epochs`` epochs (default 3) by
``TrainingEvaluator(task, space, seed=0)`` (defaults otherwise, latency
measured). Random search proposes the same architectures whatever the order in
which results arrive, so every configuration trains the same set of networks
(checked). The configurations, run interleaved in each repeat:

* ``serial``: ``Study.optimize`` with no executor (in this process), torch's
  default intra-op threads here (``torch.get_num_threads()``: 2 on 2 cores);
* ``serial-1t`` (``--no-serial-1t`` to skip): the same with
  ``torch.set_num_threads(1)``, what each pool worker gets below;
* ``process-1``: ``ProcessExecutor(evaluator, n_workers=1)``: one spawned
  worker with cores // 1 = 2 threads. Its excess over ``serial`` is the cost
  of the pool: spawning, importing torch, sending the evaluator, plus
  sending results back;
* ``process-2``: ``ProcessExecutor(evaluator, n_workers=2)``: two workers
  with cores // 2 = 1 thread each, two trials in flight.

Timed: creating the executor, ``optimize(n_trials=...)`` and ``shutdown()``
(so pool start-up is included; study creation is not). One untimed in-process
evaluation warms this process up first. Reported: median wall seconds over
``--repeats`` (default 3), min and max, the sum of the trials' own
``wall_seconds`` (work per trial, slower with fewer threads), and ratios of
medians: serial / process-2 (the speed-up), process-1 / process-2 and
serial-1t / process-2. A check: PASS when serial / process-2 >= ``--target``
(default 1.3); exit status 1 on FAIL.

    .venv/bin/python benchmarks/parallel_speedup.py                       # about 5 minutes on 2 cores
    .venv/bin/python benchmarks/parallel_speedup.py --trials 6 --repeats 1 --epochs 1   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from _common import command_line, machine, write_json  # benchmarks/_common.py (scripts run from benchmarks/)



def run_once(kind: str, task: Any, a: argparse.Namespace) -> dict[str, Any]:
    """One timed search; returns wall seconds and the trials' architectures and objectives."""
    import torch

    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.executors import ProcessExecutor
    from nasforge.registry import create_space, create_strategy
    from nasforge.study import Study

    space = create_space("nb201", C=a.C, N=a.N)
    ev = TrainingEvaluator(task, space, epochs=a.epochs, seed=0)
    study = Study(space, create_strategy(a.strategy, space, seed=a.seed), ev, name=f"speedup-{kind}", storage=None)
    threads = torch.get_num_threads()
    if kind == "serial-1t":
        torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        ex = None
        if kind.startswith("process-"):
            ex = ProcessExecutor(ev, n_workers=int(kind.split("-")[1]))
        try:
            study.optimize(n_trials=a.trials, executor=ex)
        finally:
            if ex is not None:
                ex.shutdown()
        wall = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    failed = [r.error for r in study.trials if r.status != "complete"]
    if failed:
        raise SystemExit(f"{kind}: {len(failed)} trials failed: {sorted(set(failed))}")
    trials = sorted(study.trials, key=lambda r: r.number)
    return {"wall": wall, "archs": [r.arch for r in trials], "objectives": [r.value for r in trials],
            "trial_seconds": sum(float(r.metrics.get("wall_seconds", 0.0)) for r in trials if r.duplicate_of is None)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=16, help="trials per search (default 16)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs per trial (default 3)")
    p.add_argument("--C", type=int, default=8, help="NB201 network initial channels (default 8)")
    p.add_argument("--N", type=int, default=2, help="NB201 network cells per stage (default 2)")
    p.add_argument("--seed", type=int, default=0, help="strategy seed (default 0)")
    p.add_argument("--strategy", default="random",
                   help="strategy name (default random; with rea the proposals depend on the order results "
                        "arrive, so configurations may train different networks)")
    p.add_argument("--repeats", type=int, default=3, help="timed searches per configuration (default 3)")
    p.add_argument("--no-serial-1t", action="store_true", help="skip the in-process 1-thread configuration")
    p.add_argument("--target", type=float, default=1.3, help="PASS when serial / process-2 >= this (1.3)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--save", metavar="PATH", default=None, help="also write the JSON document to PATH")
    a = p.parse_args(argv)
    if min(a.trials, a.epochs, a.C, a.N, a.repeats) < 1:
        p.error("--trials, --epochs, --C, --N and --repeats must be positive")

    import numpy as np
    import torch

    from nasforge.data import load_task
    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.registry import create_space

    info = machine(with_torch=True, with_load=True)
    task = load_task("digits", seed=0)
    kinds = ["serial"] + ([] if a.no_serial_1t else ["serial-1t"]) + ["process-1", "process-2"]
    labels = {
        "serial": f"serial, in process, {torch.get_num_threads()} torch threads",
        "serial-1t": "serial, in process, 1 torch thread",
        "process-1": f"ProcessExecutor, 1 worker x {max(1, (os.cpu_count() or 1) // 1)} threads",
        "process-2": f"ProcessExecutor, 2 workers x {max(1, (os.cpu_count() or 1) // 2)} thread(s)",
    }

    # warm this process up (first-call costs of torch kernels), untimed
    space = create_space("nb201", C=a.C, N=a.N)
    TrainingEvaluator(task, space, epochs=1, seed=0).evaluate(space.sample(np.random.default_rng(0)))

    t_start = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for rep in range(a.repeats):
        order = kinds if rep % 2 == 0 else kinds[::-1]
        for k in order:
            runs[k].append(run_once(k, task, a))
            if not a.json:
                print(f"repeat {rep + 1}/{a.repeats}: {k} {runs[k][-1]['wall']:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t_start

    ref = runs["serial"][0]
    same_archs = all(sorted(r["archs"]) == sorted(ref["archs"]) for v in runs.values() for r in v)
    by_arch = {k: [dict(zip(r["archs"], r["objectives"])) for r in v] for k, v in runs.items()}
    ref_obj = by_arch["serial"][0]
    same_obj = same_archs and all(d == ref_obj for v in by_arch.values() for d in v)
    med = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    work = {k: statistics.median(r["trial_seconds"] for r in v) for k, v in runs.items()}
    ratios = {"serial/process-2": med["serial"] / med["process-2"],
              "process-1/process-2": med["process-1"] / med["process-2"],
              "process-1 - serial (s)": med["process-1"] - med["serial"]}
    if "serial-1t" in med:
        ratios["serial-1t/process-2"] = med["serial-1t"] / med["process-2"]
        ratios["serial-1t/serial"] = med["serial-1t"] / med["serial"]
    ok = ratios["serial/process-2"] >= a.target
    out = {"benchmark": "parallel_speedup", "task": "digits", "space": {"name": "nb201", "C": a.C, "N": a.N},
           "strategy": a.strategy, "seed": a.seed, "trials": a.trials, "epochs": a.epochs, "repeats": a.repeats,
           "configs": {k: {"label": labels[k], "median_s": med[k], "min_s": min(r["wall"] for r in runs[k]),
                           "max_s": max(r["wall"] for r in runs[k]), "all_s": [r["wall"] for r in runs[k]],
                           "trial_seconds_sum_median": work[k]} for k in kinds},
           "ratios_of_medians": ratios, "same_architectures": same_archs, "same_objectives": same_obj,
           "target": a.target, "pass": ok, "elapsed_seconds": elapsed,
           "machine": {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    write_json(out, a.save, a.json)
    if a.json:
        return 0 if ok else 1

    print(f"{a.trials} trials of {a.strategy} search (seed {a.seed}), NB201 C={a.C} N={a.N} on digits, "
          f"{a.epochs} epochs per trial; wall seconds, median of {a.repeats}")
    head = f"{'configuration':<44} {'median':>8} {'min':>8} {'max':>8} {'sum trial s':>12}"
    print(head)
    print("-" * len(head))
    for k in kinds:
        c = out["configs"][k]
        print(f"{labels[k]:<44} {c['median_s']:8.1f} {c['min_s']:8.1f} {c['max_s']:8.1f} {work[k]:12.1f}")
    for name, v in ratios.items():
        print(f"{name:<28} {v:8.2f}")
    print(f"same architectures in every run: {'yes' if same_archs else 'NO'}; same validation accuracies: "
          f"{'yes' if same_obj else 'no (thread count changes float summation order)'}")
    print(f"{'PASS' if ok else 'FAIL'}: speed-up serial / process-2 = {ratios['serial/process-2']:.2f} "
          f"(target >= {a.target:g})   ({elapsed:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
