"""Peak memory of path binarisation (ProxylessNAS) against the mixed supernet (DARTS) as candidates per block grow.

Space: ``MobileNetSpace(width_mult=0.25, max_depth=2, head_channels=64)`` with the default six stages
(the mobilenet of the weight-sharing cost table in RESULTS.md), on MNIST-1D; the variants differ only
in the options of every block decision (``kernels`` x ``expand_ratios`` x ``se_options``):

    c1:  k 3      e 3      se off       1 candidate per block
    c2:  k 3,5    e 3      se off       2
    c4:  k 3,5    e 3,6    se off       4
    c6:  k 3,5,7  e 3,6    se off       6
    c9:  k 3,5,7  e 1,3,6  se off       9
    c18: k 3,5,7  e 1,3,6  se off/on    18   (the space's defaults)

(every stage's depth decision, 1 or 2 blocks, is the same in all of them). For each variant and each
method, in a FRESH spawned process with one torch thread, ONE process at a time:

* ``proxyless``: ``ONESHOT.create("proxyless", space, task, epochs=1, batch_size=64, threads=1,
  select="magnitude")``: weight steps compute one sampled path, architecture steps two sampled
  candidates per decision (binary gates);
* ``darts``: ``ONESHOT.create("darts", ..., select="magnitude")``: both steps compute the softmax
  mixture of every candidate.

The process's peak resident memory (``peak_rss_mb()``, i.e. ``ru_maxrss``) is read after importing
torch and nasforge and loading the task's tensors (the baseline), after one warm-up training step of a
small stand-alone network (torch's first-use allocations, which any training pays: the warm
baseline), then after ``m.run()`` (one epoch on the first ``--train-examples`` training examples,
default all 3,500: 55 weight steps and 55 architecture steps, then the epoch's derived architecture
scored with inherited weights, BatchNorm recalibrated). Reported: the peak's increase over both
baselines, the current RSS after the run (``rss_after``; glibc keeps most freed memory, so it stays
near the peak and does not separate weights from activations), the supernet's weight count and ``3 x
4`` bytes per weight (weights, gradients, SGD momentum: what both methods must hold), seconds of the
epoch, and, measured after the peak is read, the bytes autograd saves for backward (non-parameter
tensors, counted once per storage) in one training-mode forward of a batch of 64 with each weighting
the method uses (darts: ``softmax``; proxyless: ``binary`` for architecture steps, ``sample`` for
weight steps). RSS counts everything the process maps: interpreter, torch, weights, allocator slack.
``--repeats`` repetitions, interleaved; medians.

    C=$(git rev-parse HEAD); mkdir -p /tmp/snap_big && git archive $C src | tar -x -C /tmp/snap_big
    PYTHONPATH=/tmp/snap_big/src NASFORGE_DATA_DIR=/work/shared/data \
        .venv/bin/python benchmarks/binarisation_memory.py --snapshot-commit $C   # 3 repeats: 15 min
    .venv/bin/python benchmarks/binarisation_memory.py --quick      # smoke run, about 1 minute
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

from _common import (  # benchmarks/_common.py
    add_snapshot_option, check_job, code_record, command_line, machine, run_alone, stamped_log, write_json)

TASK = "mnist1d"
BASE_OPTIONS: dict[str, Any] = {"width_mult": 0.25, "max_depth": 2, "head_channels": 64}
VARIANTS: dict[str, dict[str, Any]] = {
    "c1": {"kernels": [3], "expand_ratios": [3], "se_options": [False]},
    "c2": {"kernels": [3, 5], "expand_ratios": [3], "se_options": [False]},
    "c4": {"kernels": [3, 5], "expand_ratios": [3, 6], "se_options": [False]},
    "c6": {"kernels": [3, 5, 7], "expand_ratios": [3, 6], "se_options": [False]},
    "c9": {"kernels": [3, 5, 7], "expand_ratios": [1, 3, 6], "se_options": [False]},
    "c18": {"kernels": [3, 5, 7], "expand_ratios": [1, 3, 6], "se_options": [False, True]},
}
METHODS = ("proxyless", "darts")


def candidates(variant: str) -> int:
    v = VARIANTS[variant]
    return len(v["kernels"]) * len(v["expand_ratios"]) * len(v["se_options"])


# ----------------------------------------------------------------------------- worker side
def _current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return math.nan


def _warm_up(task: Any) -> None:
    """One training step (forward, backward, SGD) of the smallest stand-alone network of the c1 variant on a
    batch of 64: torch's first-use allocations (autograd engine, convolution kernels), paid by any training."""
    import torch
    import torch.nn.functional as F

    from nasforge.evaluators.training import task_tensors
    from nasforge.spaces.mobilenet import MobileNetSpace

    space = MobileNetSpace(**BASE_OPTIONS, **{k: tuple(v) for k, v in VARIANTS["c1"].items()})
    net = space.build(space.from_blocks([[(3, 3, False)]] * len(space.stages)), task)
    t = task_tensors(task, "cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss = F.cross_entropy(net(t["X_train"][:64]), t["y_train"][:64])
    loss.backward()
    opt.step()


def _saved_bytes(sn: Any, x: Any, weighting: str, draws: int = 8) -> dict[str, float]:
    """Bytes of the distinct non-parameter tensors autograd saves for backward in one training-mode forward
    of ``sn`` on ``x`` with mixed ``weighting`` (softmax: every candidate; binary: two sampled candidates
    per decision; sample: one path); for the sampled weightings the mean and max over ``draws`` forwards
    (the candidates drawn differ in size). BatchNorm statistics restored afterwards."""
    sizes = [_saved_bytes_once(sn, x, weighting) for _ in range(1 if weighting == "softmax" else draws)]
    return {"mean": statistics.fmean(sizes), "max": float(max(sizes)), "draws": len(sizes)}


def _saved_bytes_once(sn: Any, x: Any, weighting: str) -> int:
    import torch

    from nasforge.oneshot.supernet import bn_snapshot

    params = {p.untyped_storage().data_ptr() for p in sn.parameters()}
    seen: dict[int, int] = {}

    def pack(t: Any) -> Any:
        try:
            st = t.untyped_storage()
        except Exception:
            return t
        if st.data_ptr() not in params:
            seen[st.data_ptr()] = max(seen.get(st.data_ptr(), 0), st.nbytes())
        return t

    ctl = sn.controller
    saved_mode = (ctl.mode, ctl.weighting, ctl.tau, dict(ctl.path))
    sn.train()
    try:
        with bn_snapshot(sn), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            sn.set_mixed(weighting)
            out = sn(x)
            del out
    finally:
        ctl.mode, ctl.weighting, ctl.tau, ctl.path = saved_mode
    return sum(seen.values())


def _measure(variant: str, method: str, train_examples: int, seed: int) -> dict[str, Any]:
    import dataclasses

    import torch

    from nasforge import api
    from nasforge.evaluators.training import task_tensors
    from nasforge.oneshot.methods import peak_rss_mb
    from nasforge.registry import ONESHOT
    from nasforge.spaces.mobilenet import MobileNetSpace

    task = api.resolve_task(TASK)[0]
    if train_examples < len(task.y_train):
        task = dataclasses.replace(task, X_train=task.X_train[:train_examples], y_train=task.y_train[:train_examples])
    task_tensors(task, "cpu")  # the tensors, once: what every method starts from (run() makes them again)
    space = MobileNetSpace(**BASE_OPTIONS, **{k: tuple(v) for k, v in VARIANTS[variant].items()})
    torch.manual_seed(0)
    base_peak, base_rss = peak_rss_mb(), _current_rss_mb()
    _warm_up(task)
    warm_peak = peak_rss_mb()
    m = ONESHOT.create(method, space, task, epochs=1, batch_size=64, threads=1, select="magnitude", seed=seed)
    t0 = time.perf_counter()
    out = m.run()
    run_seconds = time.perf_counter() - t0
    peak, after = peak_rss_mb(), _current_rss_mb()
    params = int(out.metrics["supernet_params"])
    # after the peak is read: the bytes autograd keeps for backward in one forward of a batch of 64, per weighting
    x = m.data["X_train"][:64]
    saved = {w: _saved_bytes(m.supernet, x, w) for w in (("softmax",) if method == "darts" else ("binary", "sample"))}
    search = [h for h in out.history if h.get("phase") == "search"]
    return {"variant": variant, "method": method, "candidates": candidates(variant), "seed": seed,
            "train_examples": len(task.y_train), "steps": math.ceil(len(task.y_train) / 64),
            "baseline_peak_mb": base_peak, "baseline_rss_mb": base_rss, "peak_mb": peak, "rss_after_mb": after,
            "warm_baseline_peak_mb": warm_peak, "increase_over_warm_mb": peak - warm_peak,
            "saved_for_backward_mb": {w: b["mean"] / 2**20 for w, b in saved.items()},
            "saved_for_backward_max_mb": {w: b["max"] / 2**20 for w, b in saved.items()},
            "increase_mb": peak - base_peak, "freed_mb": peak - after, "held_after_mb": after - base_rss,
            "supernet_params": params, "weight_state_mb": 3 * 4 * params / 2**20,
            "epoch_seconds": search[0]["seconds"] if search else math.nan, "run_seconds": run_seconds,
            "search_seconds": out.metrics["search_seconds"], "arch": str(out.arch), "val_acc": out.val_acc,
            "train_acc": search[0].get("train_acc") if search else None,
            "method_peak_rss_mb": out.metrics["peak_rss_mb"]}


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated (default {','.join(VARIANTS)})")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated (default proxyless,darts)")
    p.add_argument("--repeats", type=int, default=3, help="repetitions, interleaved (default 3)")
    p.add_argument("--train-examples", type=int, default=3500, help="training examples of the epoch (default all)")
    p.add_argument("--seed", type=int, default=0, help="method seed (default 0)")
    add_snapshot_option(p)
    p.add_argument("--quick", action="store_true", help="smoke run: c1, c6, c18, 1 repeat, 256 examples")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/binarisation_memory.json; "
                                               "with --quick binarisation_memory_quick.json)")
    a = p.parse_args(argv)
    if a.quick:
        a.variants, a.repeats, a.train_examples = "c1,c6,c18", 1, 256
    variants = [v for v in a.variants.split(",") if v]
    methods = [m for m in a.methods.split(",") if m]
    here = Path(__file__).resolve().parent
    out_path = Path(a.out) if a.out else here / "results" / (
        "binarisation_memory_quick.json" if a.quick else "binarisation_memory.json")

    os.environ["OMP_NUM_THREADS"] = "1"
    info = machine(with_torch=False, with_load=True)
    info["torch_threads_per_process"] = 1
    code = code_record(here, "checkout_git_head_at_start", a.snapshot_commit)
    digests = {code["nasforge_src_sha1"]}
    t_start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    errors: list[str] = []
    log = stamped_log(t_start)

    for rep in range(a.repeats):
        for v in variants:
            for meth in methods:
                # a fresh process each, one at a time; a dead worker (out of memory, ...) is recorded
                r = run_alone(_measure, v, meth, a.train_examples, a.seed)
                r.update(repeat=rep, variant=v, method=meth, candidates=candidates(v))
                runs.append(r)
                if check_job(r, f"{v}/{meth} repeat {rep}", digests, errors, log):
                    log(f"repeat {rep} {v:>3} ({r['candidates']:>2} cand.) {meth:<9} baseline {r['baseline_peak_mb']:6.0f} "
                        f"warm {r['warm_baseline_peak_mb']:6.0f} peak {r['peak_mb']:6.0f} (+{r['increase_mb']:5.0f}) "
                        f"after {r['rss_after_mb']:6.0f} "
                        f"freed {r['freed_mb']:5.0f} MB; weights {r['supernet_params']:>9,} "
                        f"(x12 B = {r['weight_state_mb']:.0f} MB); epoch {r['epoch_seconds']:.1f} s")
    elapsed = time.perf_counter() - t_start
    code["same_code_in_every_job"] = len(digests) == 1

    def med(rows: list[dict[str, Any]], key: str) -> float:
        xs = [float(r[key]) for r in rows if key in r and r[key] is not None]
        return statistics.median(xs) if xs else math.nan

    summary = []
    for v in variants:
        for meth in methods:
            rows = [r for r in runs if r["variant"] == v and r["method"] == meth and "error" not in r]
            keys = ("baseline_peak_mb", "warm_baseline_peak_mb", "peak_mb", "increase_mb", "increase_over_warm_mb",
                    "rss_after_mb", "held_after_mb", "freed_mb", "epoch_seconds", "run_seconds")
            summary.append({"variant": v, "method": meth, "candidates": candidates(v), "n": len(rows),
                            "supernet_params": rows[0]["supernet_params"] if rows else None,
                            "saved_for_backward_mb": rows[0]["saved_for_backward_mb"] if rows else None,
                            "saved_for_backward_max_mb": rows[0]["saved_for_backward_max_mb"] if rows else None,
                            "weight_state_mb": rows[0]["weight_state_mb"] if rows else None,
                            **{f"{k}_median": med(rows, k) for k in keys},
                            "increase_mb_all": [r["increase_mb"] for r in rows],
                            "epoch_seconds_all": [r["epoch_seconds"] for r in rows]})

    def get(v: str, meth: str, key: str) -> float:
        for s in summary:
            if s["variant"] == v and s["method"] == meth:
                return s[key]
        return math.nan

    ratios = [{"variant": v, "candidates": candidates(v),
               "increase_darts_over_proxyless": get(v, "darts", "increase_mb_median") / get(v, "proxyless", "increase_mb_median"),
               "increase_over_warm_darts_over_proxyless": get(v, "darts", "increase_over_warm_mb_median")
               / get(v, "proxyless", "increase_over_warm_mb_median"),
               "saved_softmax_over_binary": (get(v, "darts", "saved_for_backward_mb") or {}).get("softmax", math.nan)
               / (get(v, "proxyless", "saved_for_backward_mb") or {}).get("binary", math.nan),
               "epoch_darts_over_proxyless": get(v, "darts", "epoch_seconds_median") / get(v, "proxyless", "epoch_seconds_median")}
              for v in variants if "darts" in methods and "proxyless" in methods]
    out = {"benchmark": "binarisation_memory", "task": TASK, "space": "mobilenet", "base_options": BASE_OPTIONS,
           "variants": {v: {**VARIANTS[v], "candidates": candidates(v)} for v in variants}, "methods": methods,
           "config": {k: getattr(a, k) for k in ("repeats", "train_examples", "seed", "quick")},
           "summary": summary, "ratios": ratios, "runs": runs, "errors": errors, "code": code,
           "elapsed_seconds": elapsed, "machine": {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, str(out_path), False)

    print(f"\nmedians over {a.repeats} repeats (MB; epoch on {a.train_examples} training examples)")
    print(f"{'var':<4} {'cand':>4} {'method':<9} {'weights':>10} {'12B/w MB':>8} {'baseline':>8} {'warm':>6} "
          f"{'peak':>7} {'increase':>8} {'over warm':>9} {'freed':>6} {'saved/fwd MB':>16} {'s/epoch':>8}")
    for s in summary:
        sv = "/".join(f"{x:.1f}" for x in (s["saved_for_backward_mb"] or {}).values())
        print(f"{s['variant']:<4} {s['candidates']:>4} {s['method']:<9} {s['supernet_params'] or 0:>10,} "
              f"{s['weight_state_mb'] or math.nan:>8.1f} {s['baseline_peak_mb_median']:>8.0f} "
              f"{s['warm_baseline_peak_mb_median']:>6.0f} {s['peak_mb_median']:>7.0f} "
              f"{s['increase_mb_median']:>8.0f} {s['increase_over_warm_mb_median']:>9.0f} {s['freed_mb_median']:>6.0f} "
              f"{sv:>16} {s['epoch_seconds_median']:>8.1f}")
    for r in ratios:
        print(f"{r['variant']:<4} darts / proxyless: increase {r['increase_darts_over_proxyless']:.2f}, over warm "
              f"{r['increase_over_warm_darts_over_proxyless']:.2f}, saved per forward (softmax / binary) "
              f"{r['saved_softmax_over_binary']:.2f}, epoch time {r['epoch_darts_over_proxyless']:.2f}")
    print(f"\nsame code in every job: {'yes' if code['same_code_in_every_job'] else 'NO'}; elapsed {elapsed:.0f} s; "
          f"errors {len(errors)}; JSON {out_path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
