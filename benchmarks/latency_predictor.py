"""HELP-style latency predictor: adapted to an unseen device with 10 and 20 measurements, against a predictor
trained on the target's measurements alone.

Parts (``--parts``, comma-separated):

* ``nb201``: NB-201 networks (``NB201Space(C=16, N=5)`` by default, input 3x32x32, 10 classes) measured on
  this machine on ``--devices`` through :func:`~nasforge.evaluators.hardware.predictor.measure_devices` and
  the persistent latency cache (``$NASFORGE_CACHE_DIR``; ``--warmup`` 3 and ``--measure-repeats`` 10 with the
  stability check): the 10 reference architectures (seed 0), a source pool of ``--source-archs`` (150)
  architectures and ``--test-archs`` (50) held-out ones, disjoint. The default devices are torch, onnxruntime
  and onnxruntime-int8 at batch 1, 4 and 8, one thread each (nine): on a shared 2-core machine, measurements at 2
  threads mostly measure the other processes (torch at 2 threads and batch 8 ran 4x slower than at 1 thread
  with an IQR/median of 0.85), so they are left out here (``--devices`` takes any list). ``--retest``
  measures the test architectures a second time without the cache: the noise ceiling of any predictor.
* ``nbgraph``: NAS-Bench-Graph's ``latency`` column (seconds, read as ms) with its eight datasets of the full
  operation set as eight devices (PROTEINS is left out: it was evaluated on a different operation set, so
  most reference architectures have no latency there); ``--graph-source-archs`` and ``--graph-test-archs``.

For each target device in turn (``--targets``, default all), the predictor is trained on the *other* devices'
references and source pool only, in each variant of ``--methods`` (``method[:hidden]``: ``multitask`` is the
default predictor, its model chosen on the source devices; ``multitask:linear``, ``fomaml:linear`` and
``fomaml:64x64`` fix the model; ``--meta-steps``). Then, ``--repeats`` times, ``n`` in ``--shots`` (10, 20)
architectures are drawn from the source pool and "measured" on the target (their latencies read from the
target's measurements); the predictor is adapted on them plus the references, and scored on the held-out
architectures of the target: Spearman and mean absolute percentage error (MAPE). Beside it, on the very same
target measurements (references + ``n``): the trained predictor without adaptation (``zero-shot``,
references only), the predictor's model (linear term and a 64x64 MLP) trained on them from scratch
(``scratch``, the baseline HELP beats) and ridge regression of the log latency on the same features
(``ridge``, alpha 1). Means over repeats per target, then mean +- standard error over targets. Check (exit
status 1 when it fails): on ``nb201``, the default predictor (``multitask``) with 20 measurements has a mean
Spearman of at least 0.9 and is above ``scratch``.

    C=$(git rev-parse HEAD); mkdir -p /tmp/snapB && git archive $C src | tar -x -C /tmp/snapB
    OMP_NUM_THREADS=1 NASFORGE_CACHE_DIR=/tmp/snapB/cache PYTHONPATH=/tmp/snapB/src nice -n 5 \\
        .venv/bin/python benchmarks/latency_predictor.py --retest --snapshot-commit $C
    # on 2 loaded cores: about 15 min measuring (cached for the next run), 3 min retest, 15 min training
    .venv/bin/python benchmarks/latency_predictor.py --quick   # smoke run: nbgraph only, 2 targets
    # the predictor again on stored measurements (no measuring; 4-17 min of training, one thread):
    .venv/bin/python benchmarks/latency_predictor.py --parts nb201 \\
        --measured benchmarks/results/latency_predictor.json --out /tmp/lp.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.stats import spearmanr

from _common import (  # _common.py
    add_snapshot_option, code_record, command_line, fmt_mean_se, machine, mean_se, stamped_log, write_json)

SCORES = ("help", "zero_shot", "scratch", "ridge")
#: the nb201 devices: three backends x batch 1, 4 and 8, one thread each (see the module's docstring)
DEVICES = tuple(f"{b}:1:{n}" for b in ("torch", "onnxruntime", "onnxruntime-int8") for n in (1, 4, 8))


def ridge_fit(space: Any, measured: dict[str, float], alpha: float = 1.0) -> Callable[[list[str]], np.ndarray]:
    """Ridge regression of the log latency on the predictor's features (one-hot encoding and option counts):
    a linear per-option cost model fitted to the target's measurements alone."""
    from nasforge.evaluators.hardware.predictor import encode_features

    keys = list(measured)
    X = encode_features(space, keys).astype(np.float64)
    y = np.log([measured[k] for k in keys])
    mu = y.mean()
    w = np.linalg.solve(X.T @ X + alpha * np.eye(X.shape[1]), X.T @ (y - mu))

    def predict(archs: list[str]) -> np.ndarray:
        return np.exp(encode_features(space, archs).astype(np.float64) @ w + mu)

    return predict


#: how a variant adapts (``/...`` after the variant): the schedule chosen by cross-validation on the target's
#: samples by squared error (``cv``, the predictor's default) or by Spearman (``spearman``), or the
#: meta-training's schedule (``meta``, the only one before the cross-validation)
ADAPT_MODES = {"cv": {"select": "mse"}, "spearman": {"select": "spearman"}, "meta": None}


def variant(name: str) -> dict[str, Any]:
    """``method[:hidden]`` (``multitask``, ``fomaml:linear``, ``multitask:64x64``) as meta_train options."""
    method, _, hidden = name.partition("/")[0].partition(":")
    if not hidden:
        return {"method": method}
    return {"method": method, "hidden": "linear" if hidden == "linear" else [int(w) for w in hidden.split("x")]}


def adapt_options(name: str, meta: Any) -> dict[str, Any]:
    """The keyword arguments of ``meta.adapt`` for a variant ``...[/cv|/spearman|/meta]``."""
    mode = name.partition("/")[2] or "cv"
    if mode not in ADAPT_MODES:
        raise SystemExit(f"variant {name!r}: unknown adaptation {mode!r}; accepted: {', '.join(ADAPT_MODES)}")
    opts = ADAPT_MODES[mode]
    return dict(opts) if opts is not None else {"steps": meta.options["inner_steps"], "lr": meta.options["inner_lr"]}


def score(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Spearman and mean absolute percentage error (in %) of predictions against the truth."""
    rho = float(spearmanr(pred, truth)[0])
    return (rho if math.isfinite(rho) else 0.0), float(np.mean(np.abs(pred / truth - 1.0)) * 100)


def leave_one_out(part: str, space: Any, lat: dict[str, dict[str, float]], refs: list[str], pool: list[str],
                  test: list[str], a: argparse.Namespace, log: Callable[[str], None],
                  trainings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every target in turn: train on the others, adapt with each number of shots, score on ``test``; a row
    per (target, variant, shots, repeat), and a record per training appended to ``trainings``."""
    from nasforge.evaluators.hardware.predictor import fit_from_scratch, meta_train

    devices = list(lat)
    targets = devices if not a.targets else [t for t in a.targets.split(",") if t in lat]
    shots = [int(s) for s in a.shots.split(",")]
    rows: list[dict[str, Any]] = []
    for target in targets:
        truth = np.array([lat[target][k] for k in test])
        sources = {d: {k: lat[d][k] for k in refs + pool} for d in devices if d != target}
        draws = {(n, r): [pool[i] for i in np.random.default_rng((r, n)).choice(len(pool), n, replace=False)]
                 for n in shots for r in range(a.repeats)}
        baselines: dict[tuple[int, int], dict[str, float]] = {}
        for (n, r), picked in draws.items():
            measured = {k: lat[target][k] for k in refs + picked}
            sr, mr = score(fit_from_scratch(space, measured, seed=r).predict(space, test), truth)
            rr, mrr = score(ridge_fit(space, measured)(test), truth)
            baselines[n, r] = {"scratch_spearman": sr, "scratch_mape": mr, "ridge_spearman": rr, "ridge_mape": mrr}
        trained: dict[str, tuple[Any, float]] = {}  # variants that differ in adaptation only share a training
        for method in a.methods.split(","):
            model = method.partition("/")[0]
            if model not in trained:
                t0 = time.perf_counter()
                trained[model] = (meta_train(space, sources, refs, adapt=max(shots), meta_steps=a.meta_steps, seed=0,
                                             **variant(method)), time.perf_counter() - t0)
            meta, seconds = trained[model]
            trainings.append({"part": part, "target": target, "method": method, "seconds": seconds,
                              "hidden": meta.options["hidden"], "hidden_selection": meta.options["hidden_selection"],
                              "adapt_lr": meta.options["inner_lr"]})
            for (n, r), picked in draws.items():
                measured = {k: lat[target][k] for k in refs + picked}
                adapted = meta.adapt(space, measured, **adapt_options(method, meta))
                hs, hm = score(adapted.predict(space, test), truth)
                zs, zm = score(meta.zero_shot(space, measured).predict(space, test), truth)
                rows.append({"part": part, "target": target, "method": method, "shots": n, "repeat": r,
                             # (an older package, run through --measured for a before/after, has no schedule)
                             "adapt_steps": getattr(adapted, "schedule", {}).get("steps"),
                             "adapt_lr": getattr(adapted, "schedule", {}).get("lr"),
                             "help_spearman": hs, "help_mape": hm, "zero_shot_spearman": zs, "zero_shot_mape": zm,
                             **baselines[n, r]})
            for n in shots:
                mine = [x for x in rows if x["target"] == target and x["method"] == method and x["shots"] == n]
                log(f"{part} target {target} {method} {n} shots: HELP Spearman "
                    f"{statistics.fmean(x['help_spearman'] for x in mine):.3f}, scratch "
                    f"{statistics.fmean(x['scratch_spearman'] for x in mine):.3f}, ridge "
                    f"{statistics.fmean(x['ridge_spearman'] for x in mine):.3f} (training {seconds:.0f} s, "
                    f"model {meta.options['hidden'] or 'linear'})")
    return rows


def rounded(x: Any) -> Any:
    """``x`` with every float rounded to 5 significant digits (a JSON document a tenth the size)."""
    if isinstance(x, float):
        return float(f"{x:.5g}")
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [rounded(v) for v in x]
    return x


def per_target(rows: list[dict[str, Any]], trainings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means over repeats per (part, target, method, shots), with the model the training used."""
    model = {(t["part"], t["target"], t["method"]): t["hidden"] for t in trainings}
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = {}
    for x in rows:
        groups.setdefault((x["part"], x["target"], x["method"], x["shots"]), []).append(x)
    out = []
    for (part, target, method, n), xs in groups.items():
        row: dict[str, Any] = {"part": part, "target": target, "method": method, "shots": n, "repeats": len(xs),
                               "retest_spearman": xs[0].get("retest_spearman"), "hidden": model[part, target, method]}
        for s in SCORES:
            for m in ("spearman", "mape"):
                row[f"{s}_{m}"] = statistics.fmean(x[f"{s}_{m}"] for x in xs)
        out.append(row)
    return out


def summary(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean +- standard error over targets per (part, method, shots)."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for x in targets:
        groups.setdefault((x["part"], x["method"], x["shots"]), []).append(x)
    out = []
    for (part, method, n), xs in sorted(groups.items()):
        row: dict[str, Any] = {"part": part, "method": method, "shots": n, "targets": len(xs),
                               "help_spearman_ge_0.9": sum(x["help_spearman"] >= 0.9 for x in xs),
                               "help_beats_scratch": sum(x["help_spearman"] > x["scratch_spearman"] for x in xs)}
        for s in SCORES:
            for m in ("spearman", "mape"):
                row[f"{s}_{m}"], row[f"{s}_{m}_se"] = mean_se([x[f"{s}_{m}"] for x in xs])
        out.append(row)
    return out


def print_tables(summ: list[dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    print("\n| part | method | shots | targets | HELP Spearman | HELP MAPE % | zero-shot Spearman | scratch Spearman "
          "| scratch MAPE % | ridge Spearman | ridge MAPE % | HELP >= 0.9 | HELP > scratch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in summ:
        cells = [fmt_mean_se(r[f"{s}_{m}"], r[f"{s}_{m}_se"], 3 if m == "spearman" else 1)
                 for s, m in (("help", "spearman"), ("help", "mape"), ("zero_shot", "spearman"),
                              ("scratch", "spearman"), ("scratch", "mape"), ("ridge", "spearman"), ("ridge", "mape"))]
        print(f"| {r['part']} | {r['method']} | {r['shots']} | {r['targets']} | " + " | ".join(cells)
              + f" | {r['help_spearman_ge_0.9']}/{r['targets']} | {r['help_beats_scratch']}/{r['targets']} |")
    methods = sorted({x["method"] for x in targets})
    print("\nPer target (Spearman, mean over repeats):\n")
    print("| part | target | shots | " + " | ".join(f"HELP {m}" for m in methods) + " | scratch | ridge | retest |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in methods) + " | --- | --- | --- |")
    keys = sorted({(x["part"], x["target"], x["shots"]) for x in targets}, key=lambda k: (k[0], k[2], k[1]))
    for part, target, n in keys:
        mine = {x["method"]: x for x in targets if (x["part"], x["target"], x["shots"]) == (part, target, n)}
        first = next(iter(mine.values()))
        def cell(m: str) -> str:
            if m not in mine:
                return "-"
            model = "x".join(map(str, mine[m]["hidden"])) or "linear"
            return f"{mine[m]['help_spearman']:.3f}" + ("" if ":" in m else f" ({model})")

        print(f"| {part} | {target} | {n} | " + " | ".join(cell(m) for m in methods)
              + f" | {first['scratch_spearman']:.3f} | {first['ridge_spearman']:.3f} | "
              + (f"{first['retest_spearman']:.3f} |" if first.get("retest_spearman") is not None else "- |"))


# ----------------------------------------------------------------------------- the two parts
def nb201_part(a: argparse.Namespace, log: Callable[[str], None],
               trainings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from nasforge.data.task import Task
    from nasforge.evaluators.hardware.predictor import device_name, measure_devices, parse_device, reference_archs
    from nasforge.registry import create_space
    from nasforge.spaces.base import sample_distinct

    space = create_space("nb201", C=a.C, N=a.N)
    task = Task.shape_only("latency", (3, 32, 32), 10)
    devices = [device_name(*parse_device(d)) for d in a.devices.split(",")]
    refs = reference_archs(space, 10, 0)
    if a.measured:
        lat, archs, retest, seconds = stored_nb201(a, space, devices, refs, log)
    else:
        others = sample_distinct(space, a.source_archs + a.test_archs, np.random.default_rng(1),
                                 exclude={space.key(r) for r in refs})
        lat, archs, retest, seconds = {}, refs + others, {}, 0.0
    new = [d for d in devices if d not in lat]  # all of them, or those --measured's file lacks
    if new:
        log(f"nb201: measuring {len(archs)} architectures on {len(new)} devices ({', '.join(new)})")
        t0 = time.perf_counter()
        lat.update(measure_devices(space, task, new, archs, warmup=a.warmup, repeats=a.measure_repeats,
                                   progress=log))
        seconds += time.perf_counter() - t0
    keys = [space.to_string(x) for x in archs]
    refs_k, pool, test = keys[:10], keys[10:10 + a.source_archs], keys[10 + a.source_archs:]
    cross = spearmanr(np.array([[lat[d][k] for k in keys] for d in devices]).T)[0]
    if a.retest and new:
        log(f"nb201: measuring the {len(test)} test architectures again on {len(new)} devices (no cache)")
        again = measure_devices(space, task, new, archs[10 + a.source_archs:], warmup=a.warmup,
                                repeats=a.measure_repeats, cache=False, progress=log)
        for d in new:
            rho, mape = score(np.array([again[d][k] for k in test]), np.array([lat[d][k] for k in test]))
            retest[d] = {"spearman": rho, "mape": mape}
            log(f"nb201 retest {d}: Spearman {rho:.3f}, MAPE {mape:.1f} %")
    rows = leave_one_out("nb201", space, lat, refs_k, pool, test, a, log, trainings)
    for x in rows:
        if x["target"] in retest:
            x["retest_spearman"], x["retest_mape"] = retest[x["target"]]["spearman"], retest[x["target"]]["mape"]
    data = {"space": "nb201", "space_params": space.get_params(), "input_shape": [3, 32, 32], "num_classes": 10,
            "devices": devices, "references": 10, "source_archs": len(pool), "test_archs": len(test),
            "measure_seconds": seconds, "warmup": a.warmup, "measure_repeats": a.measure_repeats,
            "cross_device_spearman": np.asarray(cross).round(3).tolist(), "retest": retest,
            "measured_from": a.measured, "archs": keys,
            "latency_ms": {d: [round(lat[d][k], 5) for k in keys] for d in devices}}
    return rows, data


def stored_nb201(a: argparse.Namespace, space: Any, devices: list[str], refs: list[Any],
                 log: Callable[[str], None]) -> tuple[dict[str, dict[str, float]], list[Any], dict[str, Any], float]:
    """The nb201 measurements of an earlier run's JSON (``--measured``): latencies of those of ``devices`` it
    has, the architectures (references, source pool, test, in that order; the pool and test sizes of that run
    are taken over), its retest figures and measuring time. The references must be this script's and the space
    options the same; :func:`nb201_part` measures the devices the file lacks."""
    path = Path(a.measured)
    if not path.is_file():
        raise SystemExit(f"--measured {str(path)!r}: no such file (a JSON written by this script with the nb201 part)")
    stored = json.loads(path.read_text()).get("parts", {}).get("nb201")
    if not stored or "latency_ms" not in stored:
        raise SystemExit(f"--measured {str(path)!r} holds no nb201 measurements (parts.nb201.latency_ms)")
    if stored["space_params"] != space.get_params():
        raise SystemExit(f"--measured {str(path)!r} measured nb201 with {stored['space_params']}; this run asks for "
                         f"{space.get_params()} (--C, --N)")
    archs = [space.parse(k) for k in stored["archs"]]
    if [space.key(x) for x in archs[:len(refs)]] != [space.key(r) for r in refs]:
        raise SystemExit(f"--measured {str(path)!r}: its first architectures are not this script's references")
    a.source_archs, a.test_archs = int(stored["source_archs"]), int(stored["test_archs"])
    have = [d for d in devices if d in stored["latency_ms"]]
    log(f"nb201: {len(archs)} architectures on {len(have)} devices read from {path} (measured there)")
    lat = {d: dict(zip(stored["archs"], stored["latency_ms"][d])) for d in have}
    retest = {d: v for d, v in stored.get("retest", {}).items() if d in have}
    return lat, archs, retest, float(stored.get("measure_seconds", 0.0))


def nbgraph_part(a: argparse.Namespace, log: Callable[[str], None],
                 trainings: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from nasforge.benchmarks import nbgraph_data as nbg
    from nasforge.evaluators.hardware.predictor import reference_archs
    from nasforge.spaces.nbgraph import NASBenchGraphSpace, format_arch

    space = NASBenchGraphSpace("full")
    datasets = [d for d in nbg.DATASETS if nbg.op_set_for(d) == "full"]
    lat = {d: {format_arch(lk, ops): rec["latency"] * 1e3 for lk, ops, rec in nbg.stored_records(d)}
           for d in datasets}
    refs = [space.to_string(x) for x in reference_archs(space, 10, 0)]
    rest = [k for k in lat[datasets[0]] if k not in set(refs)]
    order = np.random.default_rng(1).permutation(len(rest))
    pool = [rest[i] for i in order[:a.graph_source_archs]]
    test = [rest[i] for i in order[a.graph_source_archs:a.graph_source_archs + a.graph_test_archs]]
    keys = refs + pool + test
    cross = spearmanr(np.array([[lat[d][k] for k in keys] for d in datasets]).T)[0]
    log(f"nbgraph: {len(datasets)} datasets as devices, {len(pool)} source and {len(test)} test architectures")
    rows = leave_one_out("nbgraph", space, lat, refs, pool, test, a, log, trainings)
    data = {"space": "nasbench-graph", "space_params": space.get_params(), "devices": datasets, "references": 10,
            "source_archs": len(pool), "test_archs": len(test), "latency_unit": "ms (the column's seconds x 1000)",
            "cross_device_spearman": np.asarray(cross).round(3).tolist()}
    return rows, data


def main(argv: list[str] | None = None) -> int:
    from nasforge.evaluators.hardware.predictor import DEFAULT_SOURCES

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="nb201,nbgraph", help="nb201, nbgraph or both (default both)")
    p.add_argument("--devices", default=",".join(DEVICES),
                   help=f"nb201 devices backend:threads:batch (default {','.join(DEVICES)}; the predictor's own "
                        f"default sources are {','.join(DEFAULT_SOURCES)})")
    p.add_argument("--C", type=int, default=16, help="NB201 channels (default 16)")
    p.add_argument("--N", type=int, default=5, help="NB201 cells per stage (default 5)")
    p.add_argument("--source-archs", type=int, default=150, help="nb201 source pool (default 150)")
    p.add_argument("--test-archs", type=int, default=50, help="nb201 held-out architectures (default 50)")
    p.add_argument("--warmup", type=int, default=3, help="untimed passes per measurement (default 3)")
    p.add_argument("--measure-repeats", type=int, default=10, help="timed passes per measurement (default 10)")
    p.add_argument("--measured", default=None, metavar="JSON",
                   help="nb201: read the latencies (and retest figures) from an earlier run's JSON instead of "
                        "measuring, e.g. benchmarks/results/latency_predictor.json: a change to the predictor is "
                        "then compared on the very same measurements; --devices the file lacks are measured now "
                        "on the same architectures")
    p.add_argument("--retest", action="store_true",
                   help="nb201: measure the test architectures a second time (no cache): the noise ceiling")
    p.add_argument("--graph-source-archs", type=int, default=1000, help="nbgraph source pool (default 1000)")
    p.add_argument("--graph-test-archs", type=int, default=1000, help="nbgraph held-out architectures (default 1000)")
    p.add_argument("--targets", default="", help="comma-separated target devices (default: every device in turn)")
    p.add_argument("--shots", default="10,20", help="target measurements besides the references (default 10,20)")
    p.add_argument("--repeats", type=int, default=5, help="draws of the target measurements per target (default 5)")
    p.add_argument("--methods", default="multitask,multitask:linear,fomaml:linear,fomaml:64x64",
                   help="predictor variants method[:hidden][/adapt]: multitask or fomaml, hidden linear, 64x64, ... or "
                        "none for 'auto', adapt cv (the default: schedule chosen by cross-validation on the target's "
                        "samples, by squared error), spearman (the same by rank correlation) or meta (the "
                        "meta-training's schedule, as before the cross-validation) (default multitask,"
                        "multitask:linear,fomaml:linear,fomaml:64x64)")
    p.add_argument("--meta-steps", type=int, default=1500, help="meta-training steps (default 1500)")
    add_snapshot_option(p)
    p.add_argument("--quick", action="store_true", help="smoke run: nbgraph, 2 targets, 2 repeats, 200 steps")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/latency_predictor.json; "
                                               "with --quick latency_predictor_quick.json)")
    p.add_argument("--json", action="store_true", help="print the JSON document instead of the tables")
    a = p.parse_args(argv)
    if a.quick:
        a.parts, a.targets, a.repeats, a.meta_steps, a.methods = "nbgraph", "cora,physics", 2, 200, "multitask"
        a.graph_source_archs, a.graph_test_archs = 300, 300
    here = Path(__file__).resolve().parent
    out_path = Path(a.out) if a.out else here / "results" / ("latency_predictor_quick.json" if a.quick
                                                             else "latency_predictor.json")
    info = machine(with_torch=True, with_load=True)
    info["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS")
    code = code_record(here, "checkout_git_head_at_start", a.snapshot_commit)
    log = stamped_log(time.perf_counter())
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    rows: list[dict[str, Any]] = []
    trainings: list[dict[str, Any]] = []
    parts: dict[str, Any] = {}
    for part in a.parts.split(","):
        if part not in ("nb201", "nbgraph"):
            p.error(f"unknown part {part!r}; accepted: nb201, nbgraph")
        got, data = (nb201_part if part == "nb201" else nbgraph_part)(a, log, trainings)
        rows += got
        parts[part] = data
    targets = per_target(rows, trainings)
    summ = summary(targets)
    failures = []
    for r in summ:
        if r["part"] == "nb201" and r["method"] == "multitask" and r["shots"] == 20:
            if not (r["help_spearman"] >= 0.9 and r["help_spearman"] > r["scratch_spearman"]):
                failures.append(f"nb201, the default predictor (multitask, model chosen on the sources), 20 shots: "
                                f"Spearman {r['help_spearman']:.3f} (scratch {r['scratch_spearman']:.3f}); "
                                f"wanted >= 0.9 and above scratch")
    info["loadavg_at_end"] = list(os.getloadavg())
    columns = list(dict.fromkeys(c for x in rows for c in x))
    out = {"benchmark": "latency_predictor", "command": command_line(), "started": started, "machine": info,
           "code": code, "options": vars(a), "summary": summ, "per_target": targets, "trainings": trainings,
           "rows": {"columns": columns, "values": [[x.get(c) for c in columns] for x in rows]},
           "parts": parts,
           "check_failures": failures}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(rounded(out), str(out_path), a.json)
    if not a.json:
        print_tables(summ, targets)
        print(f"\nmachine: {info['nproc']} x {info['cpu']}, load average at start {info['loadavg_at_start']}, "
              f"at end {info['loadavg_at_end']}; JSON: {out_path}")
    for f in failures:
        print(f"CHECK FAILED: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
