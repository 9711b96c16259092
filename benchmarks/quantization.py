"""Post-training int8 quantisation of three found models: test accuracy and latency of int8 against float.

The models are found by one short seeded search: REA (population 10, tournament 3, seed ``--seed``) over
NB201 (``C=16, N=1``; or ``--space mobilenet``: ``width_mult=0.5, max_depth=2, head_channels=256``) on
digits, ``--trials`` trials of ``--epochs`` epochs on one thread; the ``--models`` best distinct
architectures by validation accuracy are retrained on train+validation for ``--final-epochs``
(``api.retrain``, training seed 0) and saved as checkpoints (which record their task: digits, split seed 0).

Each checkpoint is quantised by ``nasforge.export.quantize_checkpoint`` with its defaults: 256 examples of
the training split (seed 0) calibrate the activation ranges (min-max), QDQ format, int8 weights per
output channel, uint8 activations. Both ONNX files are evaluated on the 270 digits test images with ONNX
Runtime (CPU) and timed at batch 1 with one thread (float and int8 in alternation, ``--repeats`` calls
after 20 untimed ones, median and interquartile range, re-measured when IQR / median > 0.25). For
comparison, each is also quantised with signed int8 activations (``activations="int8"``), and the float
model and both int8 models are timed together at batch ``--throughput-batch`` (throughput rather than
latency). The convolutions ONNX Runtime runs as int8 kernels (``QLinearConv``) and those it leaves in
float are counted from its optimised graph.

Reported per model: float and int8 test accuracy, the drop (percentage points), how often both predict
the same class, latency and speed-up (float latency / int8 latency: below 1 the int8 model is slower),
file sizes; and the median speed-up over the models.

    C=$(git rev-parse HEAD); mkdir -p /tmp/snapC && git archive $C src | tar -x -C /tmp/snapC
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/snapC/src NASFORGE_CACHE_DIR=/tmp/snapC/cache nice -n 5 \\
        .venv/bin/python benchmarks/quantization.py --snapshot-commit $C     # nb201: under 2 minutes
    ... --space mobilenet --out benchmarks/results/quantization_mobilenet.json            # about 6 minutes
    .venv/bin/python benchmarks/quantization.py --quick                     # smoke run, about 10 seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import add_snapshot_option, code_record, command_line, machine, stamped_log, write_json

SPACES: dict[str, dict[str, Any]] = {"nb201": {"C": 16, "N": 1},
                                     "mobilenet": {"width_mult": 0.5, "max_depth": 2, "head_channels": 256}}


def graph_ops(path: Path) -> dict[str, int]:
    """Operator counts of the graph ONNX Runtime runs for the model at ``path`` (after all its optimisations):
    convolutions as int8 kernels (``QLinearConv``) or in float (``Conv``, also fused ``FusedConv``)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as d:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.optimized_model_filepath = str(Path(d) / "opt.onnx")
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        ops = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    return {"int8_convs": ops["QLinearConv"], "float_convs": ops["Conv"] + ops["FusedConv"],
            "quantize": ops["QuantizeLinear"], "dequantize": ops["DequantizeLinear"]}


def top_distinct(study: Any, n: int) -> list[tuple[str, float]]:
    """The ``n`` best distinct architectures of a study by validation accuracy (ties: the earlier trial)."""
    done = [r for r in study.trials if r.status == "complete" and r.value is not None and r.duplicate_of is None]
    seen: dict[str, float] = {}
    for r in sorted(done, key=lambda r: (-r.value, r.number)):
        seen.setdefault(r.arch, r.value)
    return list(seen.items())[:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", choices=sorted(SPACES), default="nb201", help="search space (default nb201)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    p.add_argument("--trials", type=int, default=40, help="trials of the search (default 40)")
    p.add_argument("--epochs", type=int, default=4, help="training epochs per trial (default 4)")
    p.add_argument("--models", type=int, default=3, help="best distinct architectures quantised (default 3)")
    p.add_argument("--final-epochs", type=int, default=30, help="epochs of each retraining (default 30)")
    p.add_argument("--repeats", type=int, default=300, help="timed calls per latency measurement (default 300)")
    p.add_argument("--throughput-batch", type=int, default=64, help="second batch size timed (default 64; 0: none)")
    p.add_argument("--workdir", default=None, help="where the checkpoints go (default a temporary directory)")
    add_snapshot_option(p)
    p.add_argument("--quick", action="store_true", help="smoke run: 6 trials x 1 epoch, 2 final epochs, 50 repeats")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/quantization.json; "
                                               "with --quick quantization_quick.json)")
    a = p.parse_args(argv)
    if a.quick:
        a.trials, a.epochs, a.final_epochs, a.repeats = 6, 1, 2, 50
    for name in ("trials", "epochs", "models", "final_epochs", "repeats"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.throughput_batch < 0:
        p.error("--throughput-batch must be >= 0")
    here = Path(__file__).resolve().parent
    out_path = Path(a.out) if a.out else here / "results" / ("quantization_quick.json" if a.quick
                                                             else "quantization.json")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import onnxruntime
    import torch

    torch.set_num_threads(1)
    from nasforge import api
    from nasforge.export import checkpoint_task, onnx_latency, quantize_checkpoint

    info = machine(with_torch=True, with_load=True)
    code = code_record(here, "checkout_git_head_at_start", a.snapshot_commit)
    t_start = time.perf_counter()
    log = stamped_log(t_start)
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="nasforge-quantization-"))
    space_options = SPACES[a.space]

    study = api.search(task="digits", space=a.space, space_options=space_options, strategy="rea",
                       strategy_options={"population_size": 10, "sample_size": 3},
                       training_options={"epochs": a.epochs, "threads": 1}, n_trials=a.trials, seed=a.seed,
                       storage="memory:")
    found = top_distinct(study, a.models)
    search_seconds = time.perf_counter() - t_start
    study.close()
    log(f"search: {a.trials} trials in {search_seconds:.0f} s; best {len(found)} distinct: "
        + ", ".join(f"{v:.2f}" for _, v in found))

    rows = []
    for i, (arch, val_acc) in enumerate(found):
        ck = work / f"model{i}"
        t0 = time.perf_counter()
        tr = api.retrain(task="digits", space=a.space, space_options=space_options, arch=arch,
                         epochs=a.final_epochs, threads=1, device="cpu", out=str(ck))
        train_s = time.perf_counter() - t0
        rep = quantize_checkpoint(ck, warmup=20, repeats=a.repeats)
        s8 = quantize_checkpoint(ck, out_dir=ck / "int8-activations", activations="int8", warmup=20,
                                 repeats=a.repeats)
        row: dict[str, Any] = {
            "arch": arch, "search_val_acc": val_acc, "params": tr["params"], "flops": tr["flops"],
            "retrain_seconds": train_s, "pytorch_test_acc": tr["test_acc"], "report": rep,
            "ops_int8": graph_ops(ck / "model.int8.onnx"), "ops_float": graph_ops(ck / "model.onnx"),
            "int8_activations": {k: s8[k] for k in ("int8", "accuracy_drop", "agreement", "speedup")},
            "ops_int8_activations": graph_ops(ck / "int8-activations" / "model.int8.onnx")}
        if a.throughput_batch:
            task = checkpoint_task(ck)
            files = {"float": ck / "model.onnx", "int8": ck / "model.int8.onnx",
                     "int8_s8": ck / "int8-activations" / "model.int8.onnx"}
            lat = onnx_latency({k: f.read_bytes() for k, f in files.items()}, task.X_test[:a.throughput_batch],
                               warmup=5, repeats=max(20, a.repeats // 5))
            row["throughput"] = {"batch_size": a.throughput_batch,
                                 **{k: {"latency_ms": m.median_ms, "latency_iqr_ms": m.iqr_ms, "stable": m.stable}
                                    for k, m in lat.items()},
                                 "speedup": lat["float"].median_ms / lat["int8"].median_ms,
                                 "speedup_int8_activations": lat["float"].median_ms / lat["int8_s8"].median_ms}
        rows.append(row)
        log(f"model {i}: float {rep['float']['test_acc']:.2f}% -> int8 {rep['int8']['test_acc']:.2f}%, "
            f"{rep['float']['latency_ms']:.4f} -> {rep['int8']['latency_ms']:.4f} ms (x{rep['speedup']:.2f}); "
            f"{arch}")

    speedups = [r["report"]["speedup"] for r in rows]
    summary = {"median_speedup": statistics.median(speedups),
               "median_accuracy_drop": statistics.median(r["report"]["accuracy_drop"] for r in rows),
               "median_speedup_int8_activations": statistics.median(r["int8_activations"]["speedup"] for r in rows),
               "median_size_ratio": statistics.median(r["report"]["size_ratio"] for r in rows)}
    if a.throughput_batch:
        summary["median_throughput_speedup"] = statistics.median(r["throughput"]["speedup"] for r in rows)
    elapsed = time.perf_counter() - t_start
    out = {"benchmark": "quantization", "task": "digits", "space": a.space, "space_options": space_options,
           "config": {k: getattr(a, k) for k in ("seed", "trials", "epochs", "models", "final_epochs", "repeats",
                                                 "throughput_batch", "quick")},
           "onnxruntime": onnxruntime.__version__, "search_seconds": search_seconds, "models": rows,
           "summary": summary, "code": code, "elapsed_seconds": elapsed, "workdir": str(work),
           "machine": {**info, "loadavg_at_end": list(os.getloadavg())}, "command": command_line()}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, str(out_path), False)

    cal = rows[0]["report"]["calibration"] if rows else {}
    print(f"\n{a.space} {space_options} on digits: REA seed {a.seed}, {a.trials} trials x {a.epochs} epochs; the "
          f"{len(rows)} best distinct retrained {a.final_epochs} epochs; int8: {cal.get('examples')} calibration "
          f"examples, uint8 activations, int8 weights per channel; ONNX Runtime {onnxruntime.__version__}, "
          f"1 thread, batch 1, median of {a.repeats} calls\n")
    tp = f" | x at batch {a.throughput_batch}" if a.throughput_batch else ""
    print(f"| model | params | float acc % | int8 acc % | drop (pp) | same class % | float ms | int8 ms | speed-up"
          f"{tp} | size ratio | int8 / float convs |")
    print("|" + " --- |" * (11 + bool(a.throughput_batch)))
    for i, r in enumerate(rows):
        rep, ops = r["report"], r["ops_int8"]
        tpv = f" | {r['throughput']['speedup']:.2f}" if a.throughput_batch else ""
        print(f"| {i} | {r['params']:,} | {rep['float']['test_acc']:.2f} | {rep['int8']['test_acc']:.2f} | "
              f"{rep['accuracy_drop']:+.2f} | {rep['agreement']:.1f} | {rep['float']['latency_ms']:.4f} | "
              f"{rep['int8']['latency_ms']:.4f} | {rep['speedup']:.2f}{tpv} | {rep['size_ratio']:.2f} | "
              f"{ops['int8_convs']} / {ops['float_convs']} |")
    print("\nwith signed int8 activations instead (activations='int8'):\n")
    print(f"| model | int8 acc % | drop (pp) | int8 ms | speed-up{tp} | int8 / float convs |")
    print("|" + " --- |" * (6 + bool(a.throughput_batch)))
    for i, r in enumerate(rows):
        s8, ops = r["int8_activations"], r["ops_int8_activations"]
        tpv = f" | {r['throughput']['speedup_int8_activations']:.2f}" if a.throughput_batch else ""
        print(f"| {i} | {s8['int8']['test_acc']:.2f} | {s8['accuracy_drop']:+.2f} | {s8['int8']['latency_ms']:.4f} | "
              f"{s8['speedup']:.2f}{tpv} | {ops['int8_convs']} / {ops['float_convs']} |")
    print(f"\nmedian speed-up {summary['median_speedup']:.2f} (signed activations "
          f"{summary['median_speedup_int8_activations']:.2f}"
          + (f"; at batch {a.throughput_batch}: {summary['median_throughput_speedup']:.2f}" if a.throughput_batch
             else "")
          + f"), median accuracy drop {summary['median_accuracy_drop']:+.2f} points, median size ratio "
            f"{summary['median_size_ratio']:.2f}")
    for i, r in enumerate(rows):
        print(f"model {i}: {r['arch']}")
    print(f"elapsed {elapsed:.0f} s; JSON {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
