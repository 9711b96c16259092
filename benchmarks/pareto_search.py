"""Pareto search: the hypervolume of the trade-off found at equal budget, nasforge against random search and
Optuna's multi-objective samplers, on two tabular benchmarks.

Settings (two objectives each; every method gets the same budget of ``--trials`` proposals, repeated
architectures included, over ``--seeds`` seeds):

* ``graph``: NAS-Bench-Graph on ``--dataset`` (cora): validation accuracy ``valid_perf`` (max) against
  inference latency ``latency`` in seconds (min);
* ``analog``: AnalogNAS-Bench: ``baseline_accuracy`` (max) against ``--drift`` (default
  ``analog_drift_86400``, the accuracy after a day of conductance drift on analog hardware; max).

Methods:

* ``random``: nasforge's random search (with repeats, the default);
* ``nsga2``: nasforge's NSGA-II with the two objectives (population 10, its defaults); it is the only
  nasforge strategy with an ``objectives`` option;
* ``map-elites``: nasforge's MAP-Elites maximising the first objective in cells of the second objective
  and ``changed_from_first`` (defaults otherwise): quality-diversity along the trade-off;
* ``rea+mnasnet``, ``reinforce+mnasnet`` (graph only): single-objective REA and REINFORCE (their defaults)
  on the MnasNet soft reward ``valid_perf * (latency / target) ** -0.07`` (a derived metric of the study),
  with ``target`` the table's median latency: scalarisation, as MnasNet searched;
* ``optuna-nsga2``, ``optuna-tpe``, ``optuna-random``: Optuna's ``NSGAIISampler`` (population 50),
  ``TPESampler`` and ``RandomSampler`` at their defaults, in Optuna's multi-objective mode with the two
  directions (:func:`nasforge.peers.run_peer` with ``objectives``).

A run's figure is the hypervolume (:func:`nasforge.pareto.hypervolume`, exact) of the objective values
of all its complete trials, from one reference point per setting, the same for every method and seed:
the median of each objective over the whole table (an architecture adds volume only when it is better
than the median architecture in both objectives; ``--reference worst`` takes the table's worst values
instead). ``% of table`` divides by the hypervolume of the table's own Pareto front (the most any search
can reach). The table gives the median, the mean with its standard error, and the difference of each
method's mean to the best peer's (the Optuna method with the highest mean) with the standard error of
that difference (independent runs). Searches are deterministic for a seed.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/pareto_search.py            # 30 seeds, 100 trials
    .venv/bin/python benchmarks/pareto_search.py --seeds 3 --settings graph             # quick
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

import numpy as np

from _common import add_snapshot_option, code_record, command_line, machine, write_json

PEERS = ("optuna-nsga2", "optuna-tpe", "optuna-random")
MNASNET_W = -0.07


def settings(which: list[str], dataset: str, drift: str) -> list[dict[str, Any]]:
    """The benchmark settings asked for, each with its benchmark, options and objectives."""
    known = {
        "graph": {"name": "graph", "title": f"nasbench-graph {dataset}: valid_perf max, latency (s) min",
                  "benchmark": "nasbench-graph", "kwargs": {"dataset": dataset},
                  "objectives": ["valid_perf:max", "latency:min"]},
        "analog": {"name": "analog", "title": f"analog-nb201: baseline_accuracy max, {drift} max",
                   "benchmark": "analog-nb201", "kwargs": {"metric": "baseline_accuracy"},
                   "objectives": ["baseline_accuracy:max", f"{drift}:max"]},
    }
    bad = [w for w in which if w not in known]
    if bad:
        raise SystemExit(f"unknown setting(s) {bad}; known: {', '.join(known)}")
    return [known[w] for w in which]


def table_figures(bench: Any, objectives: list[Any], reference: str) -> dict[str, Any]:
    """The fixed reference point of a setting and the hypervolume of the table's own front from it."""
    from nasforge.pareto import hypervolume

    cols = np.stack([bench.column(o.name) for o in objectives], axis=1)
    if reference == "median":
        ref = [float(np.median(cols[:, k])) for k in range(len(objectives))]
    else:  # the worst of each objective over the table
        ref = [float(o.sign * np.min(o.sign * cols[:, k])) for k, o in enumerate(objectives)]
    return {"reference_point": ref, "table_hypervolume": hypervolume(cols, ref, objectives),
            "median_latency": float(np.median(bench.column("latency"))) if "latency" in bench.columns() else None}


def methods(setting: dict[str, Any]) -> list[str]:
    names = ["random", "nsga2", "map-elites"]
    if setting["name"] == "graph":
        names += ["rea+mnasnet", "reinforce+mnasnet"]
    return names + list(PEERS)


def run_method(method: str, setting: dict[str, Any], bench: Any, seed: int, n_trials: int,
               target: float | None) -> dict[str, Any]:
    """One search; the objective values of its complete trials."""
    from nasforge.peers import run_peer
    from nasforge.registry import create_strategy
    from nasforge.results import parse_objectives
    from nasforge.study import Study

    objs = parse_objectives(setting["objectives"])
    t0 = time.perf_counter()
    if method in PEERS:
        trials = run_peer(method, setting["benchmark"], setting["kwargs"], seed, n_trials=n_trials,
                          objectives=setting["objectives"])
        values = [t["values"] for t in trials if t["values"] is not None]
        n = len(trials)
    else:
        sp = bench.space
        derived, study_objs = None, setting["objectives"]
        base, _, scalar = method.partition("+")
        opts: dict[str, Any] = {}
        if base == "nsga2":
            opts["objectives"] = setting["objectives"]
        elif base == "map-elites":
            opts["descriptors"] = [objs[1].name, "changed_from_first"]
        if scalar == "mnasnet":
            derived = f"mnasnet({objs[0].name}, {objs[1].name}, target={target!r}, w={MNASNET_W})"
            study_objs = ["mnasnet_reward:max"]
        st = Study(sp, create_strategy(base, sp, seed=seed, **opts), bench, name=f"{method}-{seed}",
                   objectives=study_objs, derived=derived)
        st.optimize(n_trials=n_trials)
        values = [[float(t.metrics[o.name]) for o in objs] for t in st.trials if t.status == "complete"]
        n = st.n_trials
    return {"method": method, "seed": seed, "trials": n, "values": values, "seconds": time.perf_counter() - t0}


def summarise(runs: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """Rows per method: hypervolume median, mean, standard error, % of the table's, difference to the best peer."""
    rows = []
    for m in names:
        hv = [r["hypervolume"] for r in runs if r["method"] == m]
        mean = statistics.fmean(hv)
        se = statistics.stdev(hv) / math.sqrt(len(hv)) if len(hv) > 1 else math.nan
        rows.append({"method": m, "n": len(hv), "median": statistics.median(hv), "mean": mean, "se": se,
                     "front_size": statistics.fmean(r["front_size"] for r in runs if r["method"] == m),
                     "seconds_per_run": statistics.fmean(r["seconds"] for r in runs if r["method"] == m)})
    peers = [r for r in rows if r["method"] in PEERS]
    best = max(peers, key=lambda r: r["mean"]) if peers else None
    for r in rows:
        r["best_peer"] = None if best is None else best["method"]
        r["diff_best_peer"] = None if best is None else r["mean"] - best["mean"]
        r["diff_se"] = None if best is None else math.sqrt(r["se"] ** 2 + best["se"] ** 2)
    return rows


def markdown(setting: dict[str, Any], rows: list[dict[str, Any]], scale: float) -> str:
    ref = ", ".join(f"{o.partition(':')[0]} {v:.6g}" for o, v in zip(setting["objectives"],
                                                                      setting["reference_point"]))
    lines = [f"### {setting['title']}", "",
             f"Reference point ({setting['reference_kind']} of the table): {ref}; hypervolume of the table's front "
             f"{setting['table_hypervolume']:.6g}; {rows[0]['n']} seeds, {setting['trials']} trials per run. "
             f"Hypervolumes x {scale:g}.", "",
             "| method | median HV | mean HV +- SE | % of table | mean - best peer (" + str(rows[0]["best_peer"])
             + ") +- SE | front size | s / run |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(rows, key=lambda r: -r["mean"]):
        diff = "-" if r["diff_best_peer"] is None else \
            f"{scale * r['diff_best_peer']:+.3f} +- {scale * r['diff_se']:.3f}"
        lines.append(f"| {r['method']} | {scale * r['median']:.3f} | {scale * r['mean']:.3f} +- {scale * r['se']:.3f} "
                     f"| {100 * r['mean'] / setting['table_hypervolume']:.1f} | {diff} | {r['front_size']:.1f} "
                     f"| {r['seconds_per_run']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--settings", default="graph,analog", help="comma-separated: graph, analog (default both)")
    ap.add_argument("--dataset", default="cora", help="NAS-Bench-Graph dataset (default cora)")
    ap.add_argument("--drift", default="analog_drift_86400",
                    help="AnalogNAS-Bench second objective (default analog_drift_86400)")
    ap.add_argument("--seeds", type=int, default=30, help="seeds per method (default 30)")
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--trials", type=int, default=100, help="trials (proposals) per search (default 100)")
    ap.add_argument("--methods", default=None, help="comma-separated subset of the methods (default all)")
    ap.add_argument("--reference", choices=("median", "worst"), default="median",
                    help="the fixed reference point: the table's median (default) or worst value of each objective")
    ap.add_argument("--save", default="benchmarks/results/pareto_search.json", help="JSON output ('' for none)")
    ap.add_argument("--json", action="store_true", help="print the JSON document instead of the tables")
    add_snapshot_option(ap)
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.trials < 1:
        raise SystemExit(f"--seeds and --trials must be at least 1, got {args.seeds} and {args.trials}")
    from nasforge.pareto import hypervolume
    from nasforge.registry import create_benchmark
    from nasforge.results import parse_objectives

    t_start = time.perf_counter()
    out: dict[str, Any] = {"command": command_line(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                           "machine": machine(with_torch=True, with_load=True),
                           "code": code_record(Path(__file__).resolve().parent,
                                               snapshot_commit=args.snapshot_commit),
                           "trials": args.trials, "seeds": list(range(args.seed_start, args.seed_start + args.seeds)),
                           "settings": []}
    tables = []
    for setting in settings([s for s in args.settings.split(",") if s], args.dataset, args.drift):
        t0 = time.perf_counter()
        bench = create_benchmark(setting["benchmark"], **setting["kwargs"])
        bench.prepare()
        objs = list(parse_objectives(setting["objectives"]))
        setting.update(table_figures(bench, objs, args.reference), reference_kind=args.reference,
                       trials=args.trials)
        names = methods(setting)
        if args.methods:
            wanted = [m for m in args.methods.split(",") if m]
            unknown = [m for m in wanted if m not in names]
            if unknown:
                raise SystemExit(f"unknown method(s) {unknown} for {setting['name']}; known: {', '.join(names)}")
            names = [m for m in names if m in wanted]
        runs = []
        for seed in out["seeds"]:
            for m in names:
                r = run_method(m, setting, bench, seed, args.trials, setting["median_latency"])
                pts = np.array(r.pop("values"), dtype=float).reshape(-1, len(objs))
                r["hypervolume"] = hypervolume(pts, setting["reference_point"], objs)
                r["front_size"] = _front_size(pts, objs)
                runs.append(r)
        setting["rows"] = summarise(runs, names)
        setting["runs"] = runs
        setting["seconds"] = time.perf_counter() - t0
        scale = 10 ** -math.floor(math.log10(setting["table_hypervolume"])) if setting["table_hypervolume"] > 0 \
            else 1.0
        setting["hypervolume_scale"] = scale
        tables.append(markdown(setting, setting["rows"], scale) + f"\n\n({setting['seconds']:.0f} s)")
        out["settings"].append(setting)
    out["wall_seconds"] = time.perf_counter() - t_start
    out["machine"]["loadavg_at_end"] = list(os.getloadavg())
    write_json(out, args.save or None, args.json)
    if not args.json:
        print("\n\n".join(tables))
        print(f"\ntotal {out['wall_seconds']:.0f} s; load average at start {out['machine']['loadavg_at_start']}, "
              f"at end {out['machine']['loadavg_at_end']}")
    return 0


def _front_size(pts: np.ndarray, objectives: list[Any]) -> int:
    """Distinct non-dominated points among a run's values."""
    from nasforge.pareto import non_dominated_sort

    if not len(pts):
        return 0
    uniq = np.unique(pts * [o.sign for o in objectives], axis=0)
    return len(non_dominated_sort(uniq)[0])


if __name__ == "__main__":
    sys.exit(main())
