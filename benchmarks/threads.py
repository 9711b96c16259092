"""Training threads on a busy machine: a 6-trial digits search with the mobilenet space, alone and
while another process keeps both cores busy, with torch's default threads and with one thread per worker.

The search (the issue's case): random search (seed 0) over ``mobilenet`` (``width_mult=0.25``,
``max_depth=2``) on ``digits``, 6 trials of ``--epochs`` epochs (default 3) with
``TrainingEvaluator(task, space, seed=0, measure_latency=False)``, 2 worker processes
(``ProcessExecutor``). Two thread settings:

* ``oversubscribed`` (what nasforge did before the threads fix): each of the 2 workers runs
  torch with 2 threads (``threads_per_worker=2``) and OpenMP's default wait policy, so 4 busy
  threads share 2 cores;
* ``one-per-worker`` (today's default with 2 workers): ``threads_per_worker=1``, idle threads
  sleep (``OMP_WAIT_POLICY=PASSIVE``).

Each runs on a quiet machine and while a *load* process keeps both cores busy: a separate
Python process multiplying 512x512 matrices with torch on 2 threads, for as long as the
search runs (it is stopped right after; it stops by itself after ``--load-seconds`` too).
Timed: executor creation, ``optimize`` and shutdown. Reported: median wall seconds over
``--repeats`` (default 3), and ratios of medians against ``one-per-worker`` in the same
condition. The same 6 architectures are trained in every configuration (checked).

    .venv/bin/python benchmarks/threads.py                  # about 5-10 minutes on 2 cores
    .venv/bin/python benchmarks/threads.py --repeats 1      # quick
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import machine  # benchmarks/_common.py (scripts run from benchmarks/)

LOAD = """
import sys, time, torch
torch.set_num_threads(2)
a = torch.randn(512, 512)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    a = (a @ a).clamp_(-1, 1)
"""


def run_search(threads_per_worker: int, epochs: int, passive: bool) -> tuple[float, list[str]]:
    from nasforge.data import load_task
    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.executors import ProcessExecutor
    from nasforge.registry import create_space, create_strategy
    from nasforge.study import Study

    if passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    else:  # the old workers: OpenMP's default (spinning) wait policy
        os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
    task = load_task("digits")
    space = create_space("mobilenet", width_mult=0.25, max_depth=2)
    ev = TrainingEvaluator(task, space, epochs=epochs, seed=0, measure_latency=False)
    st = Study(space, create_strategy("random", space, seed=0), ev)
    t0 = time.perf_counter()
    ex = ProcessExecutor(ev, n_workers=2, threads_per_worker=threads_per_worker)
    try:
        st.optimize(n_trials=6, executor=ex)
    finally:
        ex.shutdown()
    wall = time.perf_counter() - t0
    if any(t.status != "complete" for t in st.trials):
        raise SystemExit(f"a trial failed: {[t.error for t in st.trials if t.error]}")
    return wall, sorted(t.arch for t in st.trials)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--load-seconds", type=float, default=900.0, help="the load process stops by itself after this")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    configs = {"oversubscribed": (2, False), "one-per-worker": (1, True)}
    times: dict[str, list[float]] = {f"{c}/{cond}": [] for c in configs for cond in ("quiet", "loaded")}
    archs: set[tuple[str, ...]] = set()
    start = time.time()
    for _ in range(args.repeats):
        for cond in ("quiet", "loaded"):
            for name, (threads, passive) in configs.items():
                load = None
                if cond == "loaded":
                    load = subprocess.Popen([sys.executable, "-c", LOAD, str(args.load_seconds)])
                    time.sleep(1.0)  # the load is running
                try:
                    wall, trained = run_search(threads, args.epochs, passive)
                finally:
                    if load is not None:
                        load.kill()
                        load.wait()
                times[f"{name}/{cond}"].append(wall)
                archs.add(tuple(trained))
                print(f"{name:15s} {cond:6s} {wall:7.1f} s", flush=True)
    if len(archs) != 1:
        raise SystemExit("the configurations trained different architectures")
    med = {k: statistics.median(v) for k, v in times.items()}
    out: dict[str, Any] = {
        "machine": machine(with_torch=True, with_load=True), "epochs": args.epochs, "repeats": args.repeats,
        "median_seconds": med, "min_max": {k: [min(v), max(v)] for k, v in times.items()},
        "ratio_oversubscribed_over_one_per_worker": {
            cond: med[f"oversubscribed/{cond}"] / med[f"one-per-worker/{cond}"] for cond in ("quiet", "loaded")},
        "ratio_loaded_over_quiet": {
            name: med[f"{name}/loaded"] / med[f"{name}/quiet"] for name in configs},
        "wall_seconds": time.time() - start,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in med.items():
            print(f"median {k:30s} {v:7.1f} s  ({min(times[k]):.1f}-{max(times[k]):.1f})")
        for cond, r in out["ratio_oversubscribed_over_one_per_worker"].items():
            print(f"{cond}: oversubscribed / one-per-worker = {r:.2f}")
        for name, r in out["ratio_loaded_over_quiet"].items():
            print(f"{name}: loaded / quiet = {r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
