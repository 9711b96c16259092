"""Which strategy should be the default? Every candidate against the best peer on every visible setting.

Settings (tabular, query budgets): AnalogNAS-Bench with each of its 13 metrics as the objective,
NAS-Bench-Graph on each of its 9 datasets, NAS-Bench-201 under the ``nb201`` protocol (CIFAR-10,
feedback = 12-epoch validation accuracy, report = 200-epoch test accuracy) and under ``oracle`` on
CIFAR-10, CIFAR-100 and ImageNet16-120 (feedback = report). Each search runs the largest budget
(300 queries by default) once; the figure at a smaller budget is the incumbent after that many trials
of the same search (no strategy or peer knows its budget, so the first 100 trials of a 300-trial
search are the 100-trial search).

Methods: nasforge candidates as ``name`` or ``name:key=value;key=value`` (options), and the peers
(Optuna TPE / NSGA-II / random, NNI REA / random). The figure is the reported metric of the
best-by-feedback trial, per seed; a setting's table gives each method's mean +- standard error.

Verdict per candidate and setting (fixed before the runs): let ``d`` = candidate mean - best peer
mean and ``se`` = its standard error (independent samples). **win** when d >= 2 se; **tie** when
|d| <= se and the setting is *saturated* (the best peer's median incumbent has the best feedback in the
whole table: half its searches found the feedback's optimum); otherwise **short**. The default is the candidate with the best worst case of d / se over every setting and
budget.

Results go to ``<out>/<setting>/<label>.jsonl`` (one line per seed, appended as runs finish), so a
stopped run resumes where it was; ``--analyse`` prints the tables from what is there.

    .venv/bin/python benchmarks/default_strategy.py --seeds 100 --candidates nao,rea,...
    .venv/bin/python benchmarks/default_strategy.py --analyse --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (add_snapshot_option, code_record, compare, machine, mean_se, run_queued,  # noqa: E402
                     stamped_log)

PEERS = ("optuna-tpe", "optuna-nsga2", "optuna-random", "nni-random", "nni-rea")
#: the final run's candidates, chosen on a pilot of seeds 100-119 (RESULTS.md) among 21 configurations
CANDIDATES = ("bohb", "nsga2", "adaptive-ea", "rea", "rea:population_size=20;sample_size=5;unique=true",
              "local:mode=first")
CHECKPOINTS = (25, 50, 100, 200, 300)


def all_settings() -> dict[str, tuple[str, dict[str, Any]]]:
    """Setting name -> (benchmark, benchmark options)."""
    from nasforge.benchmarks.analog_data import ANALOG_METRICS
    from nasforge.benchmarks.nbgraph_data import DATASETS as GRAPH
    from nasforge.benchmarks.nb201 import DATASETS as NB201

    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for m in ANALOG_METRICS:
        out[f"analog-{m}"] = ("analog-nb201", {"metric": m})
    for ds in GRAPH:
        out[f"graph-{ds}"] = ("nasbench-graph", {"dataset": ds})
    out["nb201-nb201-cifar10"] = ("nb201", {"dataset": "cifar10", "protocol": "nb201"})
    for ds in NB201:
        out[f"nb201-oracle-{ds}"] = ("nb201", {"dataset": ds, "protocol": "oracle"})
    return out


def pick_settings(spec: str) -> list[str]:
    names = list(all_settings())
    out: list[str] = []
    for part in filter(None, spec.split(",")):
        hits = [n for n in names if n == part or n.startswith(part + "-")]
        if not hits:
            raise SystemExit(f"unknown setting {part!r}; known: analog, graph, nb201, or one of {names}")
        out += [h for h in hits if h not in out]
    return out


def parse_label(label: str) -> tuple[str, dict[str, Any]]:
    """``name`` or ``name:key=value;...`` -> (name, options); values are read as JSON when they parse."""
    name, _, rest = label.partition(":")
    opts: dict[str, Any] = {}
    for kv in filter(None, rest.split(";")):
        k, _, v = kv.partition("=")
        try:
            opts[k] = json.loads(v)
        except json.JSONDecodeError:
            opts[k] = v
    return name, opts


_BENCH: dict[str, Any] = {}


def _bench(setting: str) -> Any:
    if setting not in _BENCH:
        from nasforge.registry import create_benchmark

        name, kwargs = all_settings()[setting]
        b = create_benchmark(name, **kwargs)
        b.prepare()
        _BENCH[setting] = b
    return _BENCH[setting]


def run_job(setting: str, label: str, seed: int, budget: int) -> dict[str, Any]:
    """One search of ``budget`` trials (:func:`nasforge.bench.run_one`); the incumbent's reported figure and
    its feedback at each checkpoint."""
    from nasforge.bench import BenchConfig, incumbent_at, run_one

    name, kwargs = all_settings()[setting]
    strat, opts = parse_label(label)
    peer = label in PEERS
    cfg = BenchConfig(strategies=[] if peer else [strat], peers=[label] if peer else [], benchmark=name,
                      benchmark_kwargs=kwargs, seeds=[seed], n_trials=budget,
                      strategy_params={} if peer else {strat: opts}, workers=1)
    run = run_one(cfg, label if peer else strat, seed)
    trials = run["trials"]
    at = {str(c): incumbent_at(trials, c, "trials") for c in CHECKPOINTS if c <= budget}
    # the incumbent's feedback too: a setting is saturated when the best peer's feedback is the table's best
    fb = {str(c): max((t["objective"] for t in trials[:c] if t["objective"] is not None), default=None)
          for c in CHECKPOINTS if c <= budget}
    return {"setting": setting, "label": label, "seed": seed, "at": at, "fb": fb, "n_trials": len(trials),
            "wall_seconds": run["wall_seconds"]}


def _job(args: tuple[str, str, int, int]) -> dict[str, Any]:
    return run_job(*args)


def done_seeds(path: Path) -> set[int]:
    if not path.is_file():
        return set()
    return {json.loads(line)["seed"] for line in path.read_text().splitlines() if line.strip()}


def load(out: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """setting -> label -> runs (sorted by seed)."""
    data: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for f in sorted(out.glob("*/*.jsonl")):
        runs = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        for r in runs:
            data.setdefault(r["setting"], {}).setdefault(r["label"], []).append(r)
    for per in data.values():
        for runs in per.values():
            runs.sort(key=lambda r: r["seed"])
    return data


def attainable(setting: str) -> tuple[float, float]:
    """The best feedback in the whole table, and the best reported figure."""
    b = _bench(setting)
    return float(b.column(b.objective).max()), b.best_possible()


def feedback_optimum(setting: str) -> dict[str, Any]:
    """What a search that always finds the feedback's optimum would report: the reported metric of the
    table's best-feedback architecture (the mean over ties), and how many share that feedback."""
    b = _bench(setting)
    fb, rep = b.column(b.objective), b.column(b.report)
    top = fb >= fb.max() - 1e-12
    return {"feedback": float(fb.max()), "report": float(rep[top].mean()), "ties": int(top.sum()),
            "report_rank": int((rep > rep[top].mean()).sum()) + 1, "architectures": int(len(rep))}


def bound(res: dict[str, Any], focus: str) -> list[dict[str, Any]]:
    """For every setting and budget of an analysis: the feedback optimum's report against the best peer.

    ``z_optimum`` = (optimum's report - best peer mean) / the peer's standard error: the z of a search that
    finds the feedback's optimum on every seed (no spread of its own). Where it is below 2 on a setting that
    is not saturated, a perfect optimiser of the feedback would not win there by the verdict rule; where it
    is below 0, it would lose. A real search stops short of the optimum, and the near-optimal architectures
    it reports may score better or worse than the optimum itself, so this is not a bound on what a search
    can score: it says whether getting better at the objective the search is given leads to the win.
    """
    rows = []
    cache: dict[str, dict[str, Any]] = {}
    for t in res["tables"]:
        opt = cache.setdefault(t["setting"], feedback_optimum(t["setting"]))
        p = t["rows"][t["best_peer"]]
        z = (opt["report"] - p["mean"]) / p["sem"] if p["sem"] > 0 else math.copysign(math.inf,
                                                                                          opt["report"] - p["mean"])
        v = t["verdicts"].get(focus, {})
        rows.append({"setting": t["setting"], "budget": t["budget"], "saturated": t["saturated"],
                     "best_peer": t["best_peer"], "peer_mean": p["mean"], "peer_sem": p["sem"],
                     "optimum": opt, "z_optimum": z, "focus": focus, "z_focus": v.get("z"),
                     "verdict_focus": v.get("verdict"),
                     "optimum_wins": t["saturated"] or z >= 2.0})
    return rows


def bound_markdown(rows: list[dict[str, Any]]) -> str:
    focus = rows[0]["focus"] if rows else "the candidate"
    lines = ["| setting | budget | best peer (mean +- se) | feedback optimum's report (rank of its report) "
             f"| z of the optimum | z of {focus} (verdict) | would the optimum win |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        o = r["optimum"]
        ties = f", {o['ties']} tied" if o["ties"] > 1 else ""
        zf = f"{r['z_focus']:+.2f} ({r['verdict_focus']})" if r["z_focus"] is not None else "-"
        sat = " (saturated)" if r["saturated"] else ""
        lines.append(f"| {r['setting']}{sat} | {r['budget']} | {r['best_peer']} {r['peer_mean']:.4f} +- "
                     f"{r['peer_sem']:.4f} | {o['report']:.4f} ({o['report_rank']:,} of {o['architectures']:,}"
                     f"{ties}) | {r['z_optimum']:+.2f} | {zf} | {'yes' if r['optimum_wins'] else '**no**'} |")
    return "\n".join(lines)


def stats(vals: list[float]) -> dict[str, float]:
    mean, sem = mean_se(vals)
    return {"n": len(vals), "mean": mean, "median": float(np.median(vals)), "sem": sem}


def analyse(out: Path, budgets: list[int], seeds: range | None = None) -> dict[str, Any]:
    data = load(out)
    tables = []
    for setting in sorted(data):
        per = data[setting]
        best_fb, best_att = attainable(setting)
        for budget in budgets:
            key = str(budget)
            rows = {}
            for label, runs in per.items():
                vals = [r["at"][key] for r in runs if key in r["at"] and r["at"][key] is not None
                        and (seeds is None or r["seed"] in seeds)]
                if len(vals) >= 2:
                    rows[label] = stats(vals) | {"ms_per_trial": 1e3 * sum(r["wall_seconds"] for r in runs)
                                                 / max(1, sum(r["n_trials"] for r in runs))}
            peers = {m: r for m, r in rows.items() if m in PEERS}
            if not peers:
                continue
            bp = max(peers, key=lambda m: peers[m]["mean"])
            fbs = [r["fb"][key] for r in per[bp] if "fb" in r and r["fb"].get(key) is not None
                   and (seeds is None or r["seed"] in seeds)]
            saturated = bool(fbs) and float(np.median(fbs)) >= best_fb - 1e-12
            verdicts = {}
            for m, r in rows.items():
                if m in PEERS:
                    continue
                verdicts[m] = compare((r["mean"], r["sem"]), (peers[bp]["mean"], peers[bp]["sem"]), saturated)
            tables.append({"setting": setting, "budget": budget, "attainable": best_att, "best_feedback": best_fb,
                           "saturated": saturated,
                           "best_peer": bp, "rows": rows, "verdicts": verdicts})
    cands = sorted({m for t in tables for m in t["verdicts"]})
    summary = {}
    for m in cands:
        zs = [(t["verdicts"][m]["z"], t["setting"], t["budget"]) for t in tables if m in t["verdicts"]]
        ok = [t for t in tables if m in t["verdicts"] and t["verdicts"][m]["verdict"] != "short"]
        worst = min(zs)
        summary[m] = {"worst_z": worst[0], "worst_setting": f"{worst[1]} @ {worst[2]}",
                      "median_z": float(np.median([z for z, *_ in zs])), "met": len(ok), "of": len(zs)}
    ranked = sorted(summary, key=lambda m: -summary[m]["worst_z"])
    return {"tables": tables, "summary": summary, "ranking": ranked}


def print_analysis(res: dict[str, Any], focus: str | None) -> None:
    for t in res["tables"]:
        sat = " (saturated)" if t["saturated"] else ""
        print(f"\n## {t['setting']} @ {t['budget']} queries{sat}; best feedback {t['best_feedback']:.4f}, best report {t['attainable']:.4f}; "
              f"best peer {t['best_peer']}")
        for m, r in sorted(t["rows"].items(), key=lambda kv: -kv[1]["mean"]):
            v = t["verdicts"].get(m)
            extra = f"  d {v['diff']:+.4f} +- {v['se']:.4f} (z {v['z']:+.2f}) {v['verdict']}" if v else ""
            mark = "*" if m == focus else " "
            print(f" {mark}{m:<40} {r['mean']:.4f} +- {r['sem']:.4f} (n {r['n']}, {r['ms_per_trial']:.2f} ms/trial)"
                  f"{extra}")
    print("\n## candidates by worst case (z = (candidate - best peer) / se)")
    for m in res["ranking"]:
        s = res["summary"][m]
        print(f"  {m:<40} worst z {s['worst_z']:+.2f} ({s['worst_setting']}), median z {s['median_z']:+.2f}, "
              f"met {s['met']}/{s['of']}")


def markdown(res: dict[str, Any], focus: str, budget: int) -> str:
    """The RESULTS.md table of one candidate against the best peer at one budget."""
    lines = [f"| setting | {focus} | best peer | peer mean | difference +- se | z | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in res["tables"]:
        if t["budget"] != budget or focus not in t["verdicts"]:
            continue
        r, p, v = t["rows"][focus], t["rows"][t["best_peer"]], t["verdicts"][focus]
        sat = " (saturated)" if t["saturated"] else ""
        lines.append(f"| {t['setting']}{sat} | {r['mean']:.4f} +- {r['sem']:.4f} | {t['best_peer']} | "
                     f"{p['mean']:.4f} +- {p['sem']:.4f} | {v['diff']:+.4f} +- {v['se']:.4f} | {v['z']:+.2f} | "
                     f"{v['verdict']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", default="analog,graph,nb201",
                    help="comma-separated: analog, graph, nb201, or setting names (see --list)")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (a pilot run takes others)")
    ap.add_argument("--budget", type=int, default=300, help="trials per search (figures at 100 and at this)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/out/default_strategy")
    ap.add_argument("--analyse", action="store_true", help="only print the tables from the results in --out")
    ap.add_argument("--focus", default=None, help="the candidate to mark in the tables")
    ap.add_argument("--list", action="store_true", help="list the settings and exit")
    ap.add_argument("--json", default=None, help="also write the analysis to this file")
    ap.add_argument("--bound", default=None, metavar="ANALYSIS_JSON",
                    help="read an analysis written by --json and print, per setting and budget, what a search "
                         "that always finds the feedback's optimum would score against the best peer (with "
                         "--focus for the candidate to show beside it); nothing is run")
    add_snapshot_option(ap)
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(all_settings()))
        return 0
    if args.bound:
        focus = args.focus or "adaptive-ea"
        rows = bound(json.loads(Path(args.bound).read_text()), focus)
        print(bound_markdown(rows))
        lost = [f"{r['setting']} @ {r['budget']}" for r in rows if not r["optimum_wins"]]
        print(f"\n{len(lost)} of {len(rows)} setting-budget pairs where a search that found the feedback's "
              f"optimum on every seed would not win"
              + (f": {', '.join(lost)}" if lost else ""))
        if args.json:
            Path(args.json).write_text(json.dumps({"source": args.bound, "focus": focus, "rows": rows}, indent=1))
        return 0
    out = Path(args.out)
    budgets = sorted({100, args.budget}) if args.budget >= 100 else [args.budget]
    if not args.analyse:
        settings = pick_settings(args.settings)
        labels = [x for x in args.candidates.split(",") if x] + [x for x in args.peers.split(",") if x]
        labels = list(dict.fromkeys(_merge_labels(labels)))
        jobs = []
        for s in settings:
            for lab in labels:
                done = done_seeds(out / s / f"{lab}.jsonl")
                jobs += [(s, lab, seed, args.budget) for seed in range(args.seed_start, args.seed_start + args.seeds)
                         if seed not in done]
        log = stamped_log(time.perf_counter())
        meta = {"machine": machine(with_load=True), "code": code_record(Path(__file__).resolve().parent,
                                                                         snapshot_commit=args.snapshot_commit),
                "command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "runs.log", "a") as fh:
            fh.write(json.dumps(meta) + "\n")
        log(f"{len(jobs)} searches to run ({len(settings)} settings x {len(labels)} methods x {args.seeds} seeds, "
            f"less those already in {out}); load {os.getloadavg()[0]:.2f}")
        remaining: dict[tuple[str, str], int] = {}
        for s, lab, _, _ in jobs:
            remaining[(s, lab)] = remaining.get((s, lab), 0) + 1
        n_done = [0]

        def record(j: tuple[Any, ...], res: dict[str, Any]) -> None:
            path = out / j[0] / f"{j[1]}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as fh:
                fh.write(json.dumps(res) + "\n")
            n_done[0] += 1
            remaining[(j[0], j[1])] -= 1
            if remaining[(j[0], j[1])] == 0:
                log(f"{j[0]} {j[1]} done ({n_done[0]}/{len(jobs)} searches)")

        run_queued(_job, jobs, args.workers, record, log, queue=4)
    res = analyse(out, budgets, range(args.seed_start, args.seed_start + args.seeds))
    print_analysis(res, args.focus)
    if args.focus:
        for b in budgets:
            print(f"\n### {args.focus} against the best peer at {b} queries\n")
            print(markdown(res, args.focus, b))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=float))
    return 0


def _merge_labels(labels: list[str]) -> list[str]:
    for lab in labels:
        name, _ = parse_label(lab)
        if lab not in PEERS:
            from nasforge.registry import STRATEGIES

            STRATEGIES.get(name)  # unknown names fail here, before any run
    return labels




if __name__ == "__main__":
    sys.exit(main())
