"""Latency lookup table against measured latency on this machine (issue 14's first "Measured" item).

For each space (``nb201`` at its benchmark size C=16, N=5; ``mobilenet`` at its defaults) and each
backend (eager PyTorch, ONNX Runtime), at batch 1 and 1 thread, for an input of ``--input`` (3x32x32,
10 classes by default):

1. a :class:`~nasforge.evaluators.hardware.models.LatencyTable` is prepared (units profiled on the
   covering and ``profile`` sampled architectures, the constant fitted on ``calibration`` measured
   networks; seeds disjoint from the test set);
2. ``--n`` test architectures (seed ``--seed``, distinct from the table's) are estimated by the table
   and measured whole (:class:`~nasforge.evaluators.hardware.models.MeasuredLatency`, the same
   warm-up, repeats and stability check);
3. reported: Spearman rank correlation and mean absolute percentage error (MAPE) of estimate against
   measurement, with bootstrap 95 % intervals (1,000 resamples of the architectures); as a baseline the
   Spearman of FLOPs against measurement (FLOPs as a latency proxy); with ``--retest`` the Spearman and
   MAPE of a second, independent measurement against the first (the noise ceiling no estimate can beat).

Targets (issue 14): Spearman >= 0.95 and MAPE <= 10 %. Everything runs in this one process with one
torch thread; a private cache file (``--cache``, default a fresh temporary file) keeps the run honest
(nothing measured by an earlier run is reused). The machine is shared: its load average is recorded.

    .venv/bin/python benchmarks/latency_table.py --save benchmarks/results/latency_table.json   # ~15 min
    .venv/bin/python benchmarks/latency_table.py --n 20 --spaces nb201 --backends torch         # smoke run
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import add_snapshot_option, code_record, command_line, machine, stamped_log, write_json

SPACES = {"nb201": {"C": 16, "N": 5}, "mobilenet": {}}


def bootstrap(est: np.ndarray, meas: np.ndarray, fn: Any, seed: int = 0, n: int = 1000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(est), len(est))
        vals.append(fn(est[i], meas[i]))
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


def mape(est: np.ndarray, meas: np.ndarray) -> float:
    return float(np.mean(np.abs(est - meas) / meas) * 100)


def run_setting(space_name: str, backend: str, args: argparse.Namespace, cache: str,
                log: Any) -> dict[str, Any]:
    from nasforge.data.task import Task
    from nasforge.evaluators.hardware import LatencyTable, MeasuredLatency, count_flops
    from nasforge.evaluators.hardware.models import build_network
    from nasforge.registry import SPACES as REG

    space = REG.create(space_name, **SPACES[space_name])
    task = Task.shape_only("latency", args.input, args.classes)
    opts = {"backend": backend, "threads": 1, "batch_size": 1, "warmup": args.warmup, "repeats": args.repeats,
            "cache": cache}
    t0 = time.perf_counter()
    lut = LatencyTable(calibration=args.calibration, profile=args.profile, seed=args.seed + 1000, fit=args.fit,
                       **opts)
    lut.prepare(space, task, progress=log)
    prep = time.perf_counter() - t0
    measured = MeasuredLatency(**opts)
    rng = np.random.default_rng(args.seed)
    archs, seen = [], set()
    while len(archs) < args.n:
        a = space.sample(rng)
        if space.key(a) not in seen:
            seen.add(space.key(a))
            archs.append(a)
    est, meas, flops, retest = [], [], [], []
    t1 = time.perf_counter()
    for i, a in enumerate(archs):
        net = build_network(space, a, task)
        est.append(lut.latency(space, a, task, net))
        meas.append(measured.latency(space, a, task, net))
        flops.append(count_flops(net, task.input_shape))
        if args.retest:
            retest.append(MeasuredLatency(**{**opts, "cache": False}).latency(space, a, task, net))
        if (i + 1) % 50 == 0:
            log(f"{space_name}/{backend}: {i + 1}/{len(archs)} networks")
    e, m, f = np.asarray(est), np.asarray(meas), np.asarray(flops, dtype=float)
    out: dict[str, Any] = {
        "space": space_name, "space_options": SPACES[space_name], "backend": backend, "n": len(archs),
        "spearman": spearman(e, m), "spearman_ci95": bootstrap(e, m, spearman),
        "mape_pct": mape(e, m), "mape_ci95": bootstrap(e, m, mape),
        "flops_spearman": spearman(f, m),
        "measured_ms_median": float(np.median(m)), "measured_ms_range": [float(m.min()), float(m.max())],
        "table_entries": lut.state()["entries"], "fitted_scale": lut.scale, "fitted_constant_ms": lut.constant,
        "prepare_seconds": prep, "test_seconds": time.perf_counter() - t1,
    }
    if retest:
        r = np.asarray(retest)
        out.update(retest_spearman=spearman(r, m), retest_mape_pct=mape(r, m))
    log(f"{space_name}/{backend}: spearman {out['spearman']:.3f}, MAPE {out['mape_pct']:.1f} %")
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| space | backend | n | Spearman [95 % CI] | MAPE % [95 % CI] | FLOPs Spearman | retest Spearman / MAPE % "
             "| measured ms (median, range) | entries | fitted constant ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci, mci = r["spearman_ci95"], r["mape_ci95"]
        rt = (f"{r['retest_spearman']:.3f} / {r['retest_mape_pct']:.1f}" if "retest_spearman" in r else "-")
        lo, hi = r["measured_ms_range"]
        lines.append(f"| {r['space']} | {r['backend']} | {r['n']} | {r['spearman']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] "
                     f"| {r['mape_pct']:.1f} [{mci[0]:.1f}, {mci[1]:.1f}] | {r['flops_spearman']:.3f} | {rt} "
                     f"| {r['measured_ms_median']:.3f} ({lo:.3f}-{hi:.3f}) | {r['table_entries']} "
                     f"| {r['fitted_constant_ms']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spaces", nargs="+", default=list(SPACES), choices=list(SPACES))
    p.add_argument("--backends", nargs="+", default=["torch", "onnxruntime"],
                   choices=["torch", "onnxruntime", "onnxruntime-int8"])
    p.add_argument("--n", type=int, default=200, help="test networks per space")
    p.add_argument("--input", type=lambda s: tuple(int(x) for x in s.split("x")), default=(3, 32, 32),
                   help="input shape CxHxW (default 3x32x32)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--calibration", type=int, default=10)
    p.add_argument("--profile", type=int, default=20)
    p.add_argument("--fit", default="constant", choices=["constant", "affine"])
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retest", action="store_true", help="measure every test network a second time")
    p.add_argument("--cache", default=None, help="latency cache file (default: a fresh temporary file)")
    p.add_argument("--save", default=None)
    p.add_argument("--json", action="store_true")
    add_snapshot_option(p)
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    log = stamped_log(time.perf_counter())
    with tempfile.TemporaryDirectory(prefix="nasforge-lut-bench-") as tmp:
        cache = args.cache or os.path.join(tmp, "latency.sqlite")
        info = machine(with_torch=True, with_load=True)
        rows = [run_setting(s, b, args, cache, log) for s in args.spaces for b in args.backends]
    out = {"command": command_line(), "machine": info, "loadavg_at_end": list(os.getloadavg()),
           "date": time.strftime("%Y-%m-%d"),
           **code_record(Path(__file__).resolve().parent, snapshot_commit=args.snapshot_commit),
           "settings": {k: v for k, v in vars(args).items() if k not in ("save", "json")}, "results": rows}
    print(table(rows))
    ok = all(r["spearman"] >= 0.95 and r["mape_pct"] <= 10 for r in rows)
    print(f"targets (Spearman >= 0.95, MAPE <= 10 %): {'met' if ok else 'NOT met'} on every setting"
          if ok else "targets (Spearman >= 0.95, MAPE <= 10 %): NOT met on "
          + ", ".join(f"{r['space']}/{r['backend']}" for r in rows if not (r["spearman"] >= 0.95
                                                                           and r["mape_pct"] <= 10)))
    write_json(out, args.save, args.json)
    if any(math.isnan(r["spearman"]) for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
