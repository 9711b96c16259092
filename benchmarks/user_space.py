"""Is anything lost by writing a space as plain PyTorch? Built-in NB201 against the same space as a user space.

The user space is a define-by-run function (``nb201_function``) that asks one choice per NB201 edge,
with the built-in names and options (``edge_name(to, frm)``, ``NB201_OPS``), and builds
``nasforge.spaces.nn.NB201Network`` with ``C=--C``, ``N=--N``: ``UserSpace(fn, task=task)``. The
built-in space is ``NB201Space(C=--C, N=--N)``.

(a) **Equivalence.** On ``digits`` and ``mnist1d`` (``--tasks``), for each strategy (``--strategies``:
REA with population ``--population`` and tournament ``--sample``, so mutation runs within the budget;
random search) and seed (``--seeds``), both spaces are searched with ``api.search(..., seed=s)`` for
``--trials`` trials of ``--epochs`` epochs (``TrainingEvaluator`` with its defaults, training seed 0,
latency not measured, one torch thread, in memory), after an untimed 2-trial warm-up of each space
on each task. Trial by trial the two searches are compared: the architecture's choice values, its
encoding (``space.encode``), and the validation accuracy, train loss and parameter count, each
exactly. The target is identical searches.

(b) **Overhead.** The time of the space operations the search loop calls, per call: ``sample``,
``mutate``, ``encode`` (``--op-calls`` calls per repeat) and ``build`` (``--build-calls`` networks,
for the task ``--overhead-task``), median over ``--repeats`` repeats with the two spaces interleaved
(both spaces use ``SearchSpace``'s ``sample``, ``mutate`` and ``encode``; the first two end by writing the
architecture's string, which ``NB201Space`` writes in NB201's cell notation and ``UserSpace`` as
``name=value`` pairs; a user ``build`` replays the function and checks the network's output with a
forward pass of two inputs, timed on its own as ``output_check``); the one-time discovery of ``UserSpace``
(median of ``--repeats`` constructions; how many times it ran the function); and the whole trials of
(a): the median wall time per trial of each search (``finished_at - started_at`` of the trials that
were trained, duplicates excluded) and the study's ``optimize`` time per trial, paired per (task,
strategy, seed), ratio user / built-in. The order of the two searches alternates between seeds so
drift of the machine's load does not favour one.

This is a report: exit status 1 only when the searches differ (or a trial fails).

    C=$(git rev-parse HEAD); mkdir -p /tmp/snapD && git archive $C src | tar -x -C /tmp/snapD
    cd benchmarks && OMP_NUM_THREADS=1 PYTHONPATH=/tmp/snapD/src nice -n 5 ../.venv/bin/python user_space.py \\
        --snapshot-commit $C --save results/user_space.json        # about 2.5 min on one core
    ../.venv/bin/python user_space.py --tasks digits --strategies random --seeds 1 --trials 3 --repeats 2   # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from _common import add_snapshot_option, code_record, command_line, machine, write_json  # benchmarks/_common.py


def nb201_function(C: int, N: int) -> Callable[[Any, Any], Any]:
    """The built-in NB201 space written as a space function, with the network's ``C`` and ``N``."""

    def nb201_user(c: Any, task: Any) -> Any:
        from nasforge.spaces.nb201 import NB201_EDGES, NB201_OPS, edge_name
        from nasforge.spaces.nn import NB201Network

        ops = [c.choice(edge_name(to, frm), NB201_OPS) for to, frm in NB201_EDGES]
        return NB201Network(ops, C, N, task.input_shape[0], task.num_classes, NB201_EDGES)

    return nb201_user


# ----------------------------------------------------------------------------- (a) equivalence
def run_search(task: Any, space: Any, strategy: str, seed: int, a: argparse.Namespace) -> dict[str, Any]:
    """One search; its trials as comparable rows, and its timings."""
    from nasforge import api

    options = {"population_size": a.population, "sample_size": a.sample} if strategy == "rea" else {}
    study = api.search(task=task, space=space, strategy=strategy, strategy_options=options, n_trials=a.trials,
                       seed=seed, storage=None, run=False,
                       training_options={"epochs": a.epochs, "device": "cpu", "measure_latency": False,
                                         "threads": 1})
    t0 = time.perf_counter()
    study.optimize(n_trials=a.trials)
    optimize_s = time.perf_counter() - t0
    rows, trained_s = [], []
    for r in study.trials:
        arch = space.parse(r.arch)
        rows.append({"number": r.number, "status": r.status, "arch": r.arch,
                     "choices": [list(x) for x in arch.choices],
                     "encoding": [float(v) for v in space.encode(arch)], "val_acc": r.metrics.get("val_acc"),
                     "train_loss": r.metrics.get("train_loss"), "params": r.metrics.get("params"),
                     "duplicate_of": r.duplicate_of})
        if r.duplicate_of is None and r.started_at is not None and r.finished_at is not None:
            trained_s.append(r.finished_at - r.started_at)
    return {"trials": rows, "optimize_seconds": optimize_s, "optimize_ms_per_trial": 1e3 * optimize_s / a.trials,
            "trial_ms_median": 1e3 * statistics.median(trained_s) if trained_s else None,
            "trained_trials": len(trained_s)}


def compare(builtin: list[dict[str, Any]], user: list[dict[str, Any]]) -> dict[str, Any]:
    """How many trials agree on each field, and the first difference."""
    fields = ("choices", "encoding", "val_acc", "train_loss", "params", "status")
    same = {f: sum(1 for b, u in zip(builtin, user) if b[f] == u[f]) for f in fields}
    first = next(({"number": b["number"], "field": f, "builtin": b[f], "user": u[f]}
                  for b, u in zip(builtin, user) for f in fields if b[f] != u[f]), None)
    identical = len(builtin) == len(user) and all(v == len(builtin) for v in same.values())
    return {"trials": len(builtin), "same": same, "identical": identical, "first_difference": first}


# ----------------------------------------------------------------------------- (b) overhead
def time_calls(fn: Callable[[], Any], calls: int) -> float:
    """Microseconds per call of ``fn`` over ``calls`` calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return 1e6 * (time.perf_counter() - t0) / calls


def space_ops(spaces: dict[str, Any], task: Any, a: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Median microseconds per call of sample, mutate, encode and build for each space, interleaved; for the
    user space also of the output check its ``build`` ends with (a forward pass of a batch of two)."""
    import torch

    from nasforge.spaces.user import UserSpace, check_output

    samples: dict[str, dict[str, list[float]]] = {k: {op: [] for op in ("sample", "mutate", "encode", "build")}
                                                  for k in spaces}
    for rep in range(a.repeats):
        for label, sp in sorted(spaces.items(), reverse=rep % 2 == 1):  # alternate which goes first
            rng = np.random.default_rng(rep)
            archs = [sp.sample(rng) for _ in range(64)]
            it = iter(range(10**9))
            s = samples[label]
            s["sample"].append(time_calls(lambda: sp.sample(rng), a.op_calls))
            s["mutate"].append(time_calls(lambda: sp.mutate(archs[next(it) % 64], rng), a.op_calls))
            s["encode"].append(time_calls(lambda: sp.encode(archs[next(it) % 64]), a.op_calls))
            torch.manual_seed(0)
            s["build"].append(time_calls(lambda: sp.build(archs[next(it) % 64], task), a.build_calls))
            if isinstance(sp, UserSpace):  # the part of a user build that checks the network's output
                nets = [(sp.to_string(x), sp.build(x, task)) for x in archs[:a.build_calls]]
                s.setdefault("output_check", []).append(
                    time_calls(lambda: check_output(sp.name, *nets[next(it) % len(nets)], task), a.build_calls))
    return {label: {op: statistics.median(v) for op, v in s.items()} for label, s in samples.items()}


def discovery(fn: Callable[[Any, Any], Any], task: Any, repeats: int) -> dict[str, Any]:
    """Median seconds of ``UserSpace(fn, task=task)`` and how many times discovery ran the function."""
    from nasforge.spaces.user import UserSpace

    runs = [0]

    def counted(c: Any, t: Any) -> Any:
        runs[0] += 1
        return fn(c, t)

    times = []
    for _ in range(repeats):
        runs[0] = 0
        t0 = time.perf_counter()
        UserSpace(counted, name="nb201_user", task=task)
        times.append(time.perf_counter() - t0)
    return {"median_ms": 1e3 * statistics.median(times), "min_ms": 1e3 * min(times), "function_runs": runs[0]}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="digits,mnist1d", help="comma-separated tasks (default digits,mnist1d)")
    p.add_argument("--strategies", default="rea,random", help="comma-separated strategies (default rea,random)")
    p.add_argument("--seeds", type=int, default=2, help="search seeds 0..seeds-1 (default 2)")
    p.add_argument("--trials", type=int, default=10, help="trials per search (default 10)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs per trial (default 2)")
    p.add_argument("--C", type=int, default=8, help="NB201 network initial channels (default 8)")
    p.add_argument("--N", type=int, default=1, help="NB201 network cells per stage (default 1)")
    p.add_argument("--population", type=int, default=5, help="REA population (default 5)")
    p.add_argument("--sample", type=int, default=2, help="REA tournament size (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="repeats of the overhead timings (default 7)")
    p.add_argument("--op-calls", type=int, default=2000, help="sample/mutate/encode calls per repeat (default 2000)")
    p.add_argument("--build-calls", type=int, default=40, help="networks built per repeat (default 40)")
    p.add_argument("--overhead-task", default="digits", help="the task networks are built for in (b) (default digits)")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the tables")
    p.add_argument("--save", metavar="PATH", default=None, help="also write the JSON document to PATH")
    add_snapshot_option(p)
    a = p.parse_args(argv)
    for name in ("seeds", "trials", "epochs", "C", "N", "population", "sample", "repeats", "op_calls", "build_calls"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    tasks = [t for t in a.tasks.split(",") if t]
    strategies = [s for s in a.strategies.split(",") if s]

    import torch

    torch.set_num_threads(1)
    from nasforge import api
    from nasforge.spaces.nb201 import NB201Space
    from nasforge.spaces.user import UserSpace

    here = Path(__file__).resolve().parent
    t_start = time.perf_counter()
    info = machine(with_torch=True, with_load=True)
    started_utc = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    code = code_record(here, "checkout_git_head_at_start", a.snapshot_commit)
    fn = nb201_function(a.C, a.N)

    def log(msg: str) -> None:
        if not a.json:
            print(f"[{time.perf_counter() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    # (a) equivalence, with the whole trials' timings
    runs = []
    loaded = {t: api.resolve_task(t)[0] for t in tasks}
    for tname, task in loaded.items():
        builtin = NB201Space(C=a.C, N=a.N)
        user = UserSpace(fn, name="nb201_user", task=task)
        layout_same = user.choices == builtin.choices
        for sp in (builtin, user):  # untimed warm-up: the first trainings in a process are slower
            run_search(task, sp, "random", 0, argparse.Namespace(**{**vars(a), "trials": 2, "epochs": 1}))
        for strategy in strategies:
            for seed in range(a.seeds):
                order = [("builtin", builtin), ("user", user)]
                if seed % 2:
                    order.reverse()
                res = {label: run_search(task, sp, strategy, seed, a) for label, sp in order}
                cmp = compare(res["builtin"]["trials"], res["user"]["trials"])
                runs.append({"task": tname, "strategy": strategy, "seed": seed, "layout_same": layout_same,
                             "order": [label for label, _ in order], **cmp,
                             "builtin": res["builtin"], "user": res["user"]})
                log(f"{tname} {strategy} seed {seed}: identical {cmp['identical']}, trial ms median built-in "
                    f"{res['builtin']['trial_ms_median']:.0f} / user {res['user']['trial_ms_median']:.0f}")

    # (b) space operations and discovery
    otask = loaded.get(a.overhead_task) or api.resolve_task(a.overhead_task)[0]
    spaces = {"builtin": NB201Space(C=a.C, N=a.N), "user": UserSpace(fn, name="nb201_user", task=otask)}
    ops = space_ops(spaces, otask, a)
    log("space operations timed")
    disc = {t: discovery(fn, task, a.repeats) for t, task in loaded.items()}
    log("discovery timed")

    def ratio(u: float | None, b: float | None) -> float | None:
        return u / b if u is not None and b else None

    trial_ratios = [ratio(r["user"]["trial_ms_median"], r["builtin"]["trial_ms_median"]) for r in runs]
    optimize_ratios = [ratio(r["user"]["optimize_ms_per_trial"], r["builtin"]["optimize_ms_per_trial"])
                       for r in runs]
    overhead = {
        "ops_us": ops,
        "ops_ratio": {op: ratio(ops["user"][op], ops["builtin"][op]) for op in ops["builtin"]},
        # SearchSpace's method in both spaces (sample and mutate call each space's own to_string)
        "ops_same_method": {op: getattr(type(spaces["user"]), op) is getattr(type(spaces["builtin"]), op)
                            for op in ("sample", "mutate", "encode")},
        "discovery": disc,
        "trial_ratio_median": statistics.median([x for x in trial_ratios if x is not None]),
        "optimize_ratio_median": statistics.median([x for x in optimize_ratios if x is not None]),
        "trial_ms_extra_median": statistics.median(
            [r["user"]["trial_ms_median"] - r["builtin"]["trial_ms_median"] for r in runs]),
    }
    all_identical = all(r["identical"] and r["layout_same"] for r in runs)
    failed = sum(1 for r in runs for s in ("builtin", "user") for t in r[s]["trials"] if t["status"] != "complete")
    out = {"benchmark": "user_space", "date_utc": started_utc,
           "config": {k: getattr(a, k) for k in ("tasks", "strategies", "seeds", "trials", "epochs", "C", "N",
                                                 "population", "sample", "repeats", "op_calls", "build_calls",
                                                 "overhead_task")},
           "all_identical": all_identical, "failed_trials": failed, "runs": runs, "overhead": overhead,
           "elapsed_seconds": time.perf_counter() - t_start,
           "machine": {**info, "loadavg_at_end": list(os.getloadavg())}, "code": code, "command": command_line()}
    write_json(out, a.save, a.json)
    if not a.json:
        print_tables(out, a)
    return 0 if all_identical and not failed else 1


def print_tables(out: dict[str, Any], a: argparse.Namespace) -> None:
    """The markdown tables of the report."""
    m = out["machine"]
    print(f"{out['date_utc']}: NB201 C={a.C} N={a.N}, built-in vs user space; {a.trials} trials x {a.epochs} "
          f"epochs per search, "
          f"REA population {a.population} tournament {a.sample}; one torch thread; {m['nproc']} x {m['cpu']}; "
          f"load average {m['loadavg_at_start'][0]:.2f} at start, {m['loadavg_at_end'][0]:.2f} at end; "
          f"{out['elapsed_seconds']:.0f} s\n")
    print("(a) the same search through both spaces, trial by trial\n")
    print("| task | strategy | seed | trials | same choices | same encodings | same val acc | same train loss "
          "| same params | identical | trial ms built-in | trial ms user | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in out["runs"]:
        s, b, u = r["same"], r["builtin"]["trial_ms_median"], r["user"]["trial_ms_median"]
        print(f"| {r['task']} | {r['strategy']} | {r['seed']} | {r['trials']} | {s['choices']} | {s['encoding']} "
              f"| {s['val_acc']} | {s['train_loss']} | {s['params']} | {'yes' if r['identical'] else 'NO'} "
              f"| {b:.0f} | {u:.0f} | {u / b:.3f} |")
    ov = out["overhead"]
    print(f"\nall searches identical: {'yes' if out['all_identical'] else 'NO'}; median ratio of the median trial "
          f"time user / built-in {ov['trial_ratio_median']:.3f} (extra {ov['trial_ms_extra_median']:+.1f} ms per "
          f"trial), of optimize time per trial {ov['optimize_ratio_median']:.3f}")
    for r in out["runs"]:
        if r["first_difference"]:
            print(f"first difference {r['task']} {r['strategy']} seed {r['seed']}: {r['first_difference']}")
    print(f"\n(b) space operations, microseconds per call (median of {a.repeats} repeats; build for "
          f"{a.overhead_task})\n")
    print("| operation | built-in | user | ratio user / built-in |")
    print("| --- | --- | --- | --- |")
    for op, b in ov["ops_us"]["builtin"].items():
        same = " (SearchSpace's in both)" if ov["ops_same_method"].get(op) else ""
        print(f"| {op}{same} | {b:.1f} | {ov['ops_us']['user'][op]:.1f} | {ov['ops_ratio'][op]:.2f} |")
    if "output_check" in ov["ops_us"]["user"]:
        print(f"| of which the user build's output check | - | {ov['ops_us']['user']['output_check']:.1f} | - |")
    print("\nsample and mutate end with the space's to_string: NB201's cell notation for the built-in space, "
          "name=value pairs for the user space.")
    print("\n| discovery of UserSpace | median ms | min ms | function runs |")
    print("| --- | --- | --- | --- |")
    for t, d in ov["discovery"].items():
        print(f"| {t} | {d['median_ms']:.1f} | {d['min_ms']:.1f} | {d['function_runs']} |")


if __name__ == "__main__":
    sys.exit(main())
