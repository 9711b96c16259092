"""Per-epoch training time of nasforge's TrainingEvaluator against a plain hand-written PyTorch loop.

For each model (a search space, its options and one fixed architecture), on
the ``digits`` task (``load_task("digits", seed=0)``):

* **evaluator**: ``TrainingEvaluator(task, space, epochs=E, batch_size=64,
  lr=0.05, optimizer='sgd', weight_decay=5e-4, seed=0).evaluate(arch)``; the
  training time is the evaluator's own ``metrics['train_seconds']`` (timed
  inside ``fit`` from the first epoch to the last step: model build, optimiser
  creation, validation accuracy, FLOPs and latency are outside it);
* **plain**: the loop written out below (``plain_train``): the same model
  (``space.build(arch, task)`` after ``torch.manual_seed(seed)``), the same
  tensors (the evaluator's own ``tensors()``), SGD with Nesterov momentum
  0.9 and the same weight decay, ``CosineAnnealingLR`` stepped per batch over
  all steps, batch size 64, shuffling by ``torch.randperm`` from a generator
  seeded with ``seed``, plain cross-entropy; timed over the same span.

Before timing, one untimed run of each checks that the two loops compute the
same thing (the evaluator's ``fit`` and ``plain_train`` must give bitwise-equal
weights). Then ``--repeats`` timed runs of each, interleaved (evaluator first
on even repeats, plain first on odd ones). Reported per model: the median
seconds per epoch of each, the ratio of medians evaluator / plain (the check:
at most ``--target``, default 1.10), and the evaluator's extra per-trial cost
beyond training (``wall_seconds - train_seconds`` of ``evaluate``), with its
parts timed separately on a trained model: build, validation accuracy, FLOPs
count and latency measurement (batch 1, 5 warm-up + 20 timed forwards).

Exit status 1 when any model's ratio exceeds the target.

    .venv/bin/python benchmarks/training_overhead.py                 # 3 models, 5 repeats
    .venv/bin/python benchmarks/training_overhead.py --repeats 2 --models nb201-c8n1
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from typing import Any

from _common import command_line, machine, write_json  # benchmarks/_common.py (scripts run from benchmarks/)

#: name -> (space name, space options, architecture string, default epochs per timed run)
MODELS: dict[str, tuple[str, dict[str, Any], str, int]] = {
    # the best NB201 cell on CIFAR-10 (mixes conv3x3, skip and the zero op)
    "nb201-c8n1": ("nb201", {"C": 8, "N": 1},
                   "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 4),
    "nb201-c16n2": ("nb201", {"C": 16, "N": 2},
                    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 2),
    # a small, fast model: per-step Python overhead shows most here
    "mlp": ("mlp", {}, "depth=2,l0.width=256,l1.width=128,act=relu,dropout=0.1,norm=batchnorm", 20),
}



def plain_train(space: Any, arch: Any, task: Any, X: Any, y: Any, epochs: int, batch_size: int, lr: float,
                weight_decay: float, seed: int) -> tuple[Any, float]:
    """A hand-written training loop; returns the model and the seconds spent in the epochs."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    model = space.build(arch, task)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    n = len(y)
    steps = math.ceil(n / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model, time.perf_counter() - t0


def same_weights(a: Any, b: Any) -> bool:
    import torch

    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def extras(ev: Any, arch: Any) -> dict[str, float]:
    """Seconds of the evaluator's per-trial steps other than training, each timed once on its own."""
    from nasforge.evaluators.hardware import count_flops, measure_latency
    from nasforge.evaluators.training import accuracy

    t = ev.tensors()
    t0 = time.perf_counter()
    model = ev.space.build(arch, ev.task).to(t["device"])
    t1 = time.perf_counter()
    accuracy(model, t["X_val"], t["y_val"])
    t2 = time.perf_counter()
    count_flops(model, ev.task.input_shape)
    t3 = time.perf_counter()
    measure_latency(model, ev.task.input_shape, device=t["device"])
    t4 = time.perf_counter()
    return {"build": t1 - t0, "val_accuracy": t2 - t1, "flops": t3 - t2, "latency": t4 - t3}


def bench_model(name: str, task: Any, epochs: int | None, repeats: int, log: bool) -> dict[str, Any]:
    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.registry import create_space

    space_name, opts, arch_text, default_epochs = MODELS[name]
    ep = epochs or default_epochs
    space = create_space(space_name, **opts)
    arch = space.from_string(arch_text)
    kw = {"batch_size": 64, "lr": 0.05, "weight_decay": 5e-4, "seed": 0}
    ev = TrainingEvaluator(task, space, epochs=ep, optimizer="sgd", measure_latency=True, device="cpu", **kw)
    t = ev.tensors()
    X, y = t["X_train"], t["y_train"]
    if len(y) % kw["batch_size"] == 1:
        raise SystemExit("the training split leaves a trailing batch of one, which the evaluator skips and the "
                         "plain loop does not; choose another batch size")

    # untimed warm-up of each, and the check that both loops compute the same weights
    ref = ev.fit(arch, X, y, ep).model
    plain_model, _ = plain_train(space, arch, task, X, y, ep, **kw)
    equal = same_weights(ref, plain_model)
    if not equal:
        raise SystemExit(f"{name}: the evaluator's fit and the plain loop give different weights; the comparison "
                         f"would not be like for like")

    ev_s, plain_s, extra_s = [], [], []
    for rep in range(repeats):
        order = ("evaluator", "plain") if rep % 2 == 0 else ("plain", "evaluator")
        for who in order:
            if who == "evaluator":
                r = ev.evaluate(arch)
                if not r.ok:
                    raise SystemExit(f"{name}: evaluation failed: {r.error}")
                ev_s.append(r.metrics["train_seconds"] / ep)
                extra_s.append(r.metrics["wall_seconds"] - r.metrics["train_seconds"])
            else:
                plain_s.append(plain_train(space, arch, task, X, y, ep, **kw)[1] / ep)
        if log:
            print(f"  {name} repeat {rep + 1}/{repeats}: evaluator {ev_s[-1]:.4f} s/epoch, plain "
                  f"{plain_s[-1]:.4f} s/epoch", file=sys.stderr, flush=True)
    parts = [extras(ev, arch) for _ in range(3)]
    med_ev, med_plain = statistics.median(ev_s), statistics.median(plain_s)
    return {
        "space": space_name, "space_params": opts, "arch": arch_text, "params": sum(p.numel() for p in ref.parameters()),
        "epochs_per_run": ep, "steps_per_epoch": math.ceil(len(y) / kw["batch_size"]), "same_weights": equal,
        "evaluator_s_per_epoch": {"median": med_ev, "min": min(ev_s), "max": max(ev_s), "all": ev_s},
        "plain_s_per_epoch": {"median": med_plain, "min": min(plain_s), "max": max(plain_s), "all": plain_s},
        "ratio": med_ev / med_plain,
        "extra_per_trial_s": {"median": statistics.median(extra_s), "all": extra_s,
                              "parts_median": {k: statistics.median(p[k] for p in parts) for k in parts[0]}},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated, from: {', '.join(MODELS)} (default: all)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs of each loop per model (default 5)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per timed run (default per model: " +
                        ", ".join(f"{k} {v[3]}" for k, v in MODELS.items()) + ")")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads for both loops (default 0: torch's default, 2 on 2 cores); 1 is "
                        "far less sensitive to other load on the machine")
    p.add_argument("--target", type=float, default=1.10, help="PASS when every ratio evaluator/plain <= this (1.10)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--save", metavar="PATH", default=None, help="also write the JSON document to PATH")
    a = p.parse_args(argv)
    names = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in names if m not in MODELS]
    if bad or not names:
        p.error(f"unknown model(s) {bad}; accepted: {', '.join(MODELS)}")
    if a.repeats < 1 or (a.epochs is not None and a.epochs < 1):
        p.error("--repeats and --epochs must be positive")

    if a.threads < 0:
        p.error("--threads must be >= 0")
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    from nasforge.data import load_task

    load_start = list(os.getloadavg())
    task = load_task("digits", seed=0)
    t_start = time.perf_counter()
    results = {m: bench_model(m, task, a.epochs, a.repeats, not a.json) for m in names}
    elapsed = time.perf_counter() - t_start
    ok = all(r["ratio"] <= a.target for r in results.values())
    out = {"benchmark": "training_overhead", "task": "digits", "n_train": int(len(task.y_train)),
           "repeats": a.repeats, "models": results, "target": a.target, "pass": ok, "elapsed_seconds": elapsed,
           "machine": {**machine(with_torch=True), "loadavg_at_start": load_start, "loadavg_at_end": list(os.getloadavg())},
           "command": command_line()}
    write_json(out, a.save, a.json)
    if a.json:
        return 0 if ok else 1

    print(f"training time per epoch on digits ({len(task.y_train)} training images, batch 64), "
          f"median of {a.repeats} interleaved runs; torch threads {out['machine']['torch_threads']}")
    head = (f"{'model':<12} {'params':>8} {'ep/run':>6} {'evaluator s':>12} {'plain s':>10} {'ratio':>6} "
            f"{'extra s/trial':>13}  (build / val acc / FLOPs / latency)")
    print(head)
    print("-" * len(head))
    for m, r in results.items():
        pm = r["extra_per_trial_s"]["parts_median"]
        print(f"{m:<12} {r['params']:>8} {r['epochs_per_run']:>6} {r['evaluator_s_per_epoch']['median']:12.4f} "
              f"{r['plain_s_per_epoch']['median']:10.4f} {r['ratio']:6.3f} {r['extra_per_trial_s']['median']:13.4f}"
              f"  ({pm['build']:.4f} / {pm['val_accuracy']:.4f} / {pm['flops']:.4f} / {pm['latency']:.4f})")
    worst = max(results, key=lambda m: results[m]["ratio"])
    print(f"{'PASS' if ok else 'FAIL'}: worst ratio evaluator/plain {results[worst]['ratio']:.3f} ({worst}), "
          f"target <= {a.target:g}   ({elapsed:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
