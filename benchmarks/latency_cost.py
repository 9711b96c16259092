"""A latency term in the loss of Single-Path NAS and ProxylessNAS: what it buys in measured latency.

Space: the small ``MobileNetSpace`` of ``bignas.py`` (``width_mult=0.5, max_depth=2``, stages ``(16, 1),
(24, 2), (40, 2)``, ``head_channels=64``; kernels 3/5/7, expansions 1/3/6, SE on/off); task: MNIST-1D.
For each method of ``--methods`` (``single-path``, ``proxyless``), each seed ``s`` and each cost of
``--costs`` (``none``, ``flops``, ``latency``), one job in a FRESH spawned process with one torch thread,
ONE at a time (the machine is shared):

    ONESHOT.create(method, space, task, epochs=--epochs, threads=1, seed=s, cost=COST,
                   cost_weight=--cost-weight, [select="magnitude" for proxyless]).run()

With ``cost="latency"`` each candidate block is priced by its entry in a lookup table measured in that
process (``LatencyTable``: PyTorch eager, batch 1, one thread; its units profiled alone and cached in a
file of this run, ``--cache``, so every latency job reads the same entries). Recorded per job: the
derived architecture, its validation accuracy with inherited weights (BatchNorm recalibrated), its
FLOPs, the method's seconds, and for the latency cost the table's estimate of the derived network.

Then ONE more process measures every distinct derived network, and the space's largest and smallest,
whole (``measure_latency``: PyTorch eager, batch 1, one thread, 10 warm-up and 50 timed calls, the
median), in ``--rounds`` interleaved rounds; a network's latency is the median of its rounds. Reported
per method and cost: mean +- SE over seeds of the validation accuracy, the measured latency and the
FLOPs, and the latency paired by seed against the ``none`` run (median ratio).

    C=$(git rev-parse HEAD); mkdir -p /tmp/snap_lat && git archive $C src | tar -x -C /tmp/snap_lat
    PYTHONPATH=/tmp/snap_lat/src NASFORGE_DATA_DIR=/work/shared/data \\
        .venv/bin/python benchmarks/latency_cost.py --snapshot-commit $C
    .venv/bin/python benchmarks/latency_cost.py --quick      # smoke run, about a minute
    .venv/bin/python benchmarks/latency_cost.py --measure 'k7e6se|k7e6se|k3e6se;k7e6|k7e6|k3e6' --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (  # benchmarks/_common.py
    add_snapshot_option, check_job, code_record, command_line, fmt_mean_se, machine, mean_se, run_alone,
    stamped_log, write_json)

TASK = "mnist1d"
SPACE_OPTIONS: dict[str, Any] = {"width_mult": 0.5, "max_depth": 2, "stages": [[16, 1], [24, 2], [40, 2]],
                                 "head_channels": 64}
METHODS = ("single-path", "proxyless")
COSTS = ("none", "flops", "latency")


def _space() -> Any:
    from nasforge.spaces.mobilenet import MobileNetSpace

    return MobileNetSpace(**{k: tuple(tuple(s) for s in v) if k == "stages" else v for k, v in SPACE_OPTIONS.items()})


# ----------------------------------------------------------------------------- worker side
def _search(method: str, cost: str, seed: int, epochs: int, cost_weight: float, cache: str) -> dict[str, Any]:
    from nasforge import api
    from nasforge.evaluators.hardware import LatencyTable, count_flops
    from nasforge.registry import ONESHOT

    task, space = api.resolve_task(TASK)[0], _space()
    opts: dict[str, Any] = {"epochs": epochs, "threads": 1, "seed": seed, "cost": cost, "cost_weight": cost_weight}
    if method == "proxyless":
        opts["select"] = "magnitude"
    table = None
    if cost == "latency":
        table = LatencyTable(threads=1, batch_size=1, cache=cache)
        opts["hardware"] = table
    m = ONESHOT.create(method, space, task, **opts)
    t0 = time.perf_counter()
    out = m.run()
    seconds = time.perf_counter() - t0
    net = space.build(out.arch, task)
    res = {"method": method, "cost": cost, "seed": seed, "arch": space.key(out.arch), "val_acc": out.val_acc,
           "flops": int(count_flops(net, tuple(task.input_shape))), "seconds": seconds,
           "search_seconds": out.metrics.get("search_seconds")}
    if table is not None:
        res.update(lut_latency_ms=out.metrics.get("latency_ms"), table_entries=len(table.table),
                   fitted_constant_ms=table.constant)
    return res


def _measure(archs: list[str], rounds: int) -> dict[str, Any]:
    from nasforge import api
    from nasforge.evaluators.hardware import build_network, measure_latency

    task, space = api.resolve_task(TASK)[0], _space()
    nets = {a: build_network(space, space.parse(a), task) for a in archs}
    times: dict[str, list[float]] = {a: [] for a in archs}
    for _ in range(rounds):
        for a in archs:
            m = measure_latency(nets[a], tuple(task.input_shape), batch_size=1, threads=1, warmup=10, repeats=50,
                                max_spread=10.0)
            times[a].append(m.median_ms)
    return {"ms": {a: statistics.median(v) for a, v in times.items()}, "rounds": times}


def _extremes() -> dict[str, str]:
    from nasforge import api
    from nasforge.oneshot.methods import build_supernet

    task, space = api.resolve_task(TASK)[0], _space()
    sn = build_supernet(space, task, kind="elastic")
    return {"largest": space.key(sn.largest_arch()), "smallest": space.key(sn.smallest_arch())}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated (default {','.join(METHODS)})")
    p.add_argument("--costs", default=",".join(COSTS), help=f"comma-separated (default {','.join(COSTS)})")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, default=10, help="supernet epochs (default 10)")
    p.add_argument("--cost-weight", type=float, default=0.5, help="weight of the cost term (default 0.5)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of whole-network measurements (default 3)")
    p.add_argument("--cache", default=None, help="latency cache file of the lookup tables (default: a new temporary "
                                                  "file, shared by the run's latency jobs)")
    p.add_argument("--measure", default=None, metavar="ARCHS",
                   help="only measure these networks of the space whole (architecture keys separated by ';'), "
                        "--rounds interleaved rounds, and print their medians; nothing is trained or written")
    add_snapshot_option(p)
    p.add_argument("--quick", action="store_true", help="smoke run: single-path, 1 seed, 1 epoch, 1 round")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/latency_cost.json; with --quick "
                                               "latency_cost_quick.json)")
    a = p.parse_args(argv)
    if a.measure:
        os.environ["OMP_NUM_THREADS"] = "1"
        archs = [x.strip() for x in a.measure.split(";") if x.strip()]
        meas = run_alone(_measure, archs, a.rounds)
        if "error" in meas:
            print(f"FAILED: {meas['error']}\n{meas.get('traceback', '')}")
            return 1
        for x in archs:
            print(f"{x:50s} {meas['ms'][x]:.3f} ms  rounds {[round(v, 3) for v in meas['rounds'][x]]}")
        return 0
    if a.quick:
        a.methods, a.seeds, a.epochs, a.rounds = "single-path", 1, 1, 1
    methods = [m for m in a.methods.split(",") if m]
    costs = [c for c in a.costs.split(",") if c]
    here = Path(__file__).resolve().parent
    out_path = Path(a.out) if a.out else here / "results" / ("latency_cost_quick.json" if a.quick else "latency_cost.json")
    cache = a.cache or str(Path(tempfile.mkdtemp(prefix="nasforge-latcost-")) / "latency.sqlite")
    os.environ["OMP_NUM_THREADS"] = "1"
    info = machine(with_torch=False, with_load=True)
    info["torch_threads_per_process"] = 1
    code = code_record(here, "checkout_git_head_at_start", a.snapshot_commit)
    digests = {code["nasforge_src_sha1"]}
    t_start = time.perf_counter()
    log = stamped_log(t_start)
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    for seed in range(a.seeds):
        for meth in methods:
            for cost in costs:
                r = run_alone(_search, meth, cost, seed, a.epochs, a.cost_weight, cache)
                r.update(method=meth, cost=cost, seed=seed)
                runs.append(r)
                if check_job(r, f"{meth}/{cost}/seed {seed}", digests, errors, log):
                    lut = f", table {r['lut_latency_ms']:.3f} ms" if r.get("lut_latency_ms") is not None else ""
                    log(f"seed {seed} {meth:<11} cost {cost:<7} val {r['val_acc']:6.2f} %  FLOPs {r['flops']:>10,}"
                        f"{lut}  ({r['seconds']:.0f} s)  {r['arch']}")
    ext = run_alone(_extremes)
    archs = sorted({r["arch"] for r in runs if "error" not in r} | {v for k, v in ext.items() if k != "error" and
                                                                    isinstance(v, str) and k in ("largest", "smallest")})
    log(f"measuring {len(archs)} networks whole, {a.rounds} interleaved rounds")
    meas = run_alone(_measure, archs, a.rounds)
    if "error" in meas:
        errors.append(f"measure: {meas['error']}")
        log(f"FAILED measuring: {meas['error']}")
    ms = meas.get("ms", {})
    for r in runs:
        r["measured_ms"] = ms.get(r.get("arch"))
    summary: dict[str, Any] = {}
    lines = ["| method | cost | val acc % (inherited) | measured latency ms | latency / cost none (median, paired) "
             "| FLOPs | seconds |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for meth in methods:
        base = {r["seed"]: r["measured_ms"] for r in runs if r["method"] == meth and r["cost"] == "none"
                and r.get("measured_ms")}
        for cost in costs:
            rs = [r for r in runs if r["method"] == meth and r["cost"] == cost and "error" not in r]
            ratios = [r["measured_ms"] / base[r["seed"]] for r in rs if r.get("measured_ms") and base.get(r["seed"])]
            row = {"val_acc": mean_se([r["val_acc"] for r in rs]), "measured_ms": mean_se([r.get("measured_ms") for r in rs]),
                   "flops": mean_se([r["flops"] for r in rs]), "seconds": mean_se([r["seconds"] for r in rs]),
                   "ratio_to_none_median": statistics.median(ratios) if ratios else None, "n": len(rs)}
            summary[f"{meth}/{cost}"] = row
            ratio = f"{row['ratio_to_none_median']:.2f}" if row["ratio_to_none_median"] is not None else "-"
            lines.append(f"| {meth} | {cost} | {fmt_mean_se(*row['val_acc'])} | {fmt_mean_se(*row['measured_ms'], nd=3)} "
                         f"| {ratio} | {fmt_mean_se(*row['flops'], nd=0)} | {fmt_mean_se(*row['seconds'], nd=0)} |")
    if "largest" in ext and ms:
        lines.append(f"\nlargest network {ms.get(ext['largest'], float('nan')):.3f} ms, smallest "
                     f"{ms.get(ext['smallest'], float('nan')):.3f} ms (measured the same way)")
    print("\n".join(lines))
    out = {"benchmark": "latency_cost", "task": TASK, "space_options": SPACE_OPTIONS,
           "config": {"methods": methods, "costs": costs, "seeds": a.seeds, "epochs": a.epochs,
                      "cost_weight": a.cost_weight, "rounds": a.rounds, "cache": cache},
           "runs": runs, "extremes": ext, "measured": meas, "summary": summary, "errors": errors, "code": code,
           "machine": {**info, "loadavg_at_end": list(os.getloadavg())}, "command": command_line(),
           "elapsed_seconds": time.perf_counter() - t_start, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    write_json(out, str(out_path), False)
    log(f"JSON: {out_path}; errors: {len(errors)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
