"""Accuracy against measured latency on real data: Pareto search on digits (issue 14, "on digits with
measured latency over at least 5 seeds").

Task ``digits`` (scikit-learn's 8x8 digits, the project's fixed split), space ``nb201`` with
``C=8, N=1``; every trial trains ``--epochs`` epochs (SGD, cosine, training seed 0, one torch thread)
and reports validation accuracy (%) and latency measured on this machine
(:class:`~nasforge.evaluators.hardware.models.MeasuredLatency`: eager PyTorch, batch 1, 1 thread,
median of 20 after 5 warm-up, stability check). One latency cache file is shared by every run, so an
architecture's latency is measured once and every method sees the same figure for it.

Methods, each for ``--trials`` trials per seed over ``--seeds`` seeds, objectives
``val_acc:max, latency_ms:min``: nasforge ``nsga2`` (population 10), ``random``, and Optuna's
NSGA-II in multi-objective mode (``optuna-nsga2``, Optuna's defaults) through the project's peer
adapter on the same evaluator.

Hypervolume of each run's non-dominated set (``nasforge.pareto.hypervolume``) with ONE reference
point for every method and seed, fixed before the searches: accuracy 0 %, and the largest latency
among ``--ref-archs`` architectures sampled with seed 12345 times 1.1 (stated in the output). Means
with standard errors (std / sqrt(n)); the difference of each method to the best other method, with
the standard error of the difference of means.

    .venv/bin/python benchmarks/hardware_search.py --save benchmarks/results/hardware_search.json  # ~20 min
    .venv/bin/python benchmarks/hardware_search.py --seeds 1 --trials 6 --epochs 1                  # smoke run
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import add_snapshot_option, code_record, command_line, machine, mean_se, stamped_log, write_json

METHODS = ("nsga2", "random", "optuna-nsga2")
OBJECTIVES = "val_acc:max,latency_ms:min"


def make_evaluator(args: argparse.Namespace, cache: str) -> tuple[Any, Any]:
    from nasforge.api import make_space, resolve_task
    from nasforge.registry import EVALUATORS

    task, _, _ = resolve_task("digits", None)
    space = make_space("nb201", {"C": 8, "N": 1})
    ev = EVALUATORS.create("training", task, space, epochs=args.epochs, threads=1, device="cpu", seed=0,
                           hardware="measured", hardware_options={"cache": cache, "threads": 1})
    return space, ev


def run_method(method: str, seed: int, space: Any, ev: Any, args: argparse.Namespace) -> list[list[float]]:
    """The (val_acc, latency_ms) of every successful trial of one search."""
    if method.startswith("optuna"):
        from nasforge.peers import PeerRun
        from nasforge.results import parse_objectives

        run = PeerRun(ev, args.trials, None, tuple(parse_objectives(OBJECTIVES)))
        importlib.import_module("nasforge.peers._optuna").run(method, run, seed)
        return [list(t["values"]) for t in run.trials if t.get("values")]
    from nasforge import api
    from nasforge.results import COMPLETE

    opts = {"population_size": 10} if method == "nsga2" else {}
    st = api.search(evaluator=ev, space=space, strategy=method, strategy_options=opts, objectives=OBJECTIVES,
                    n_trials=args.trials, seed=seed, storage="memory:", study=f"{method}-s{seed}")
    return [[float(r.metrics["val_acc"]), float(r.metrics["latency_ms"])] for r in st.trials if r.status == COMPLETE]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--ref-archs", type=int, default=50)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--save", default=None)
    p.add_argument("--json", action="store_true")
    add_snapshot_option(p)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from nasforge.data.task import Task
    from nasforge.pareto import hypervolume

    log = stamped_log(time.perf_counter())
    info = machine(with_torch=True, with_load=True)
    with tempfile.TemporaryDirectory(prefix="nasforge-hw-search-") as tmp:
        cache = os.path.join(tmp, "latency.sqlite")
        space, ev = make_evaluator(args, cache)
        shape = Task.shape_only("digits", ev.task.input_shape, ev.task.num_classes)
        rng = np.random.default_rng(12345)
        ref_lat = 1.1 * max(ev.hardware.latency(space, space.sample(rng), shape) for _ in range(args.ref_archs))
        reference = [0.0, ref_lat]
        log(f"reference point: val_acc 0 %, latency {ref_lat:.4f} ms")
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
        for seed in range(args.seeds):
            for m in args.methods:
                t0 = time.perf_counter()
                pts = run_method(m, seed, space, ev, args)
                hv = hypervolume(pts, reference, ["max", "min"]) if pts else 0.0
                runs[m].append({"seed": seed, "hypervolume": hv, "points": pts,
                                "seconds": time.perf_counter() - t0})
                log(f"seed {seed} {m}: hypervolume {hv:.4f} ({len(pts)} trials, {time.perf_counter() - t0:.0f} s)")
    rows = []
    for m in args.methods:
        hv = [r["hypervolume"] for r in runs[m]]
        mean, se = mean_se(hv)
        others = [o for o in args.methods if o != m]
        best_other = max(others, key=lambda o: float(np.mean([r["hypervolume"] for r in runs[o]])))
        om, ose = mean_se([r["hypervolume"] for r in runs[best_other]])
        diff_se = math.sqrt(se ** 2 + ose ** 2) if not (math.isnan(se) or math.isnan(ose)) else math.nan
        rows.append({"method": m, "n": len(hv), "mean": mean, "se": se, "median": float(np.median(hv)),
                     "best_other": best_other, "diff": mean - om, "diff_se": diff_se})
    print(f"reference point: val_acc 0 %, latency_ms {ref_lat:.4f} (1.1 x the slowest of {args.ref_archs} "
          f"sampled architectures); {args.trials} trials x {args.epochs} epochs, {args.seeds} seeds")
    print("| method | runs | hypervolume mean +- SE | median | best other method | difference +- SE |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['n']} | {r['mean']:.4f} +- {r['se']:.4f} | {r['median']:.4f} | "
              f"{r['best_other']} | {r['diff']:+.4f} +- {r['diff_se']:.4f} |")
    out = {"command": command_line(), "machine": info, "loadavg_at_end": list(os.getloadavg()),
           "date": time.strftime("%Y-%m-%d"),
           **code_record(Path(__file__).resolve().parent, snapshot_commit=args.snapshot_commit),
           "settings": {k: v for k, v in vars(args).items() if k not in ("save", "json")},
           "reference_point": reference, "summary": rows, "runs": runs}
    write_json(out, args.save, args.json)


if __name__ == "__main__":
    main()
