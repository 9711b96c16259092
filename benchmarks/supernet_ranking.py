"""Single-path and few-shot supernets (SPOS, PA&DA, few-shot with fixed and GM splits) on MNIST-1D: how well
their inherited-weight accuracies rank architectures, and what they find against REA at equal wall clock.

Space: NB201 cells, C=8, N=2; task: MNIST-1D (3,500 train, 750 validation, 750 test). Every training,
supernet, search and retraining runs in its own freshly spawned process with one torch thread, at most
``--workers`` (default 2) at a time.

1. **Ground truth.** ``--archs`` (48) distinct NB201 architectures drawn once with
   ``np.random.default_rng(2026)`` (``space.sample``, deduplicated by ``space.key``), the same set for every
   method, each trained stand-alone with ``TrainingEvaluator(epochs=--truth-epochs (10), seed=t)`` for the
   training seeds t = 0 and 1. Ground truth = the mean validation accuracy over the two seeds. Kendall's tau
   between the two seeds' accuracies is the noise ceiling of any ranking against this truth. The accuracies
   are cached in ``benchmarks/results/supernet_ranking_truth.json`` (keyed by architecture string, with the
   training settings), so a rerun trains only what is missing.
2. **Ranking quality.** For supernet seeds 0..``--seeds``-1 and each configuration (E = ``--epochs``, 30;
   F = ``--child-epochs``, 10):

   ====================  ==================================================================  ==============
   name                  ``ONESHOT.create(...)``                                              epochs trained
   ====================  ==================================================================  ==============
   ``spos``              ``"spos", epochs=E, sampling="uniform-op"``                          E
   ``spos-long``         ``"spos", epochs=E+5F``: the steps of 5 sub-supernets, the fair one  E + 5F
   ``spos-pada``         ``"spos", epochs=E, sampling="pada"``                                E
   ``fewshot-fixed``     ``"fewshot", split="fixed", groups=0, child_epochs=F`` (5 members)   E + 5F
   ``fewshot-gm``        ``"fewshot", split="gm", groups=0, child_epochs=F`` (5 members)      E + 5F
   ``fewshot-gm2``       ``"fewshot", split="gm", groups=2, child_epochs=F`` (2 members)      E + 2F
   ====================  ==================================================================  ==============

   the supernet is trained (``.train()``), the architectures scored with ``trained.score(arch)`` (validation
   accuracy with inherited weights, BatchNorm recalibrated), and Kendall's tau and Spearman's rho computed
   against the ground truth, with a 95 % percentile bootstrap interval (``--boot`` 2,000 resamples of the
   architectures). Paired differences (few-shot - spos-long, gm - fixed, pada - uniform, ...) use the same
   resamples for both sides, per seed and pooled over seeds (the per-seed taus averaged inside each
   resample), and over seeds and architectures together (a two-level bootstrap: each resample also draws the
   seeds with replacement, so the interval includes how much a supernet's ranking varies from one training
   seed to the next; with 3 seeds it is wide). Also: the ground-truth top 5 found in the supernet's top 5, and
   the training seconds, and tau inside each group of cells that one sub-supernet of the fixed split scores
   (weighted by group size; with ``fewshot-fixed`` in the run): a ranking judged without comparing scores
   across sub-supernets.
3. **Equal wall clock.** For each seed s: ``api.oneshot("spos"|"fewshot", ..., method_options={"epochs": E,
   "search_trials": 100, "retrain_epochs": 0, ...})`` (few-shot: split gm, groups 0, child_epochs F); its wall
   seconds (supernet training + REA search of 100 trials on the supernet, timed around the call) are the
   budget of an ordinary REA (population 10, tournament 3, ``--trial-epochs`` 5 per trial, seed s,
   ``wall_seconds`` = that budget). Every winner (the supernet searches' best by inherited accuracy, REA's
   best by validation accuracy) is retrained with ``train_final`` (train+validation, ``--final-epochs`` 10,
   training seed 0) and its test accuracy reported; an architecture found twice is trained once.

Means over seeds carry the standard error SE = std (ddof=1) / sqrt(n).

Every job imports nasforge anew, so run on a frozen copy of the package; each job records the SHA-1 of the
source it imported (``code.same_code_in_every_job``):

    mkdir -p /tmp/snap_rank && git archive HEAD src | tar -x -C /tmp/snap_rank
    git rev-parse HEAD > /tmp/snap_rank/COMMIT      # recorded as code.frozen_copy_commit
    PYTHONPATH=/tmp/snap_rank/src NASFORGE_DATA_DIR=/work/shared/data \\
        .venv/bin/python benchmarks/supernet_ranking.py            # 3 seeds, 48 archs: 44 min on 2 busy cores
    .venv/bin/python benchmarks/supernet_ranking.py --quick       # smoke run (8 archs, 2 epochs, 1 seed), 1-2 min
    .venv/bin/python benchmarks/supernet_ranking.py --reanalyse benchmarks/results/supernet_ranking.json
                                                    # recompute the figures of a recorded run, training nothing

The full run above took 2,634 s with the machine's load average at 2.6-5.3 (another engineer's tests on
the same 2 cores); unloaded, a stand-alone 10-epoch training takes about 6 s instead of 19 s and a supernet
epoch 0.8 s, so it should take about half as long.
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
from typing import Any

from _common import (JobQueue, code_record, command_line, fmt_mean_se, machine, mean_se,  # benchmarks/_common.py
                     rea_at_budget, record_retrained, retrain_archs, stamped_log, write_json)

NB201_OPTIONS = {"C": 8, "N": 2}
TRUTH_SEEDS = (0, 1)
ARCH_SEED = 2026
BOOT_SEED = 13
CONFIG_NAMES = ("spos", "spos-long", "spos-pada", "spos-pada-paths", "spos-pada-data", "fewshot-fixed", "fewshot-gm",
                "fewshot-gm2", "fewshot-fixed-lowlr", "fewshot-gm-lowlr")
# (a, b, what): paired differences a - b
COMPARISONS = (("fewshot-fixed", "spos-long", "few-shot (fixed) - one-shot at equal steps"),
               ("fewshot-gm", "spos-long", "few-shot (GM) - one-shot at equal steps"),
               ("fewshot-gm2", "spos-long", "GM 2 members (E+2F) - one-shot E+5F (fewer steps)"),
               ("fewshot-gm", "fewshot-fixed", "GM split - fixed split"),
               ("fewshot-gm2", "fewshot-gm", "GM 2 members - GM 5 members"),
               ("spos-pada", "spos", "PA&DA - uniform (E epochs)"),
               ("spos-pada-paths", "spos", "PA&DA paths only - uniform"),
               ("spos-pada-data", "spos", "PA&DA data only - uniform"),
               ("spos-long", "spos", "one-shot E+5F - E epochs"),
               ("fewshot-gm", "spos", "few-shot (GM) - its own parent (E epochs)"),
               ("fewshot-fixed-lowlr", "spos-long", "few-shot (fixed, child lr 0.01) - one-shot at equal steps"),
               ("fewshot-gm-lowlr", "spos-long", "few-shot (GM, child lr 0.01) - one-shot at equal steps"),
               ("fewshot-gm-lowlr", "fewshot-gm", "child lr 0.01 - 0.05 (GM)"))
# rough one-thread seconds, used only to start long jobs first
SEC_PER_SUPERNET_EPOCH = 0.9
SEC_PER_TRAINING_EPOCH = 0.65


def _half_means(per_seed: dict[int, Any], R: Any) -> dict[str, Any]:
    """With 4 or more truth seeds: Kendall tau (and its bootstrap interval) between the means of the first and
    the second half of the seeds, the reliability of a mean of that many trainings."""
    import numpy as np
    from scipy.stats import kendalltau

    seeds = sorted(per_seed)
    if len(seeds) < 4:
        return {}
    k = len(seeds) // 2
    m1, m2 = np.mean([per_seed[s] for s in seeds[:k]], axis=0), np.mean([per_seed[s] for s in seeds[k:2 * k]], axis=0)
    return {"half_mean_seeds": [seeds[:k], seeds[k:2 * k]], "half_mean_tau": float(kendalltau(m1, m2).statistic),
            "half_mean_tau_ci": interval(tau_b_rows(m1[R], m2[R]))}


def configurations(E: int, F: int) -> dict[str, tuple[str, dict[str, Any], int]]:
    """name -> (method, options, epochs of training steps)."""
    return {"spos": ("spos", {"epochs": E, "sampling": "uniform-op"}, E),
            "spos-long": ("spos", {"epochs": E + 5 * F, "sampling": "uniform-op"}, E + 5 * F),
            "spos-pada": ("spos", {"epochs": E, "sampling": "pada"}, E),
            "spos-pada-paths": ("spos", {"epochs": E, "sampling": "pada", "pada_data": False}, E),
            "spos-pada-data": ("spos", {"epochs": E, "sampling": "pada", "pada_paths": False}, E),
            "fewshot-fixed": ("fewshot", {"epochs": E, "split": "fixed", "groups": 0, "child_epochs": F}, E + 5 * F),
            "fewshot-gm": ("fewshot", {"epochs": E, "split": "gm", "groups": 0, "child_epochs": F}, E + 5 * F),
            "fewshot-gm2": ("fewshot", {"epochs": E, "split": "gm", "groups": 2, "child_epochs": F}, E + 2 * F),
            "fewshot-fixed-lowlr": ("fewshot", {"epochs": E, "split": "fixed", "groups": 0, "child_epochs": F,
                                                "child_lr": 0.01}, E + 5 * F),
            "fewshot-gm-lowlr": ("fewshot", {"epochs": E, "split": "gm", "groups": 0, "child_epochs": F,
                                             "child_lr": 0.01}, E + 5 * F)}


# ----------------------------------------------------------------------------- worker side
def _task_space():
    from nasforge.api import resolve_task
    from nasforge.spaces.nb201 import NB201Space

    return resolve_task("mnist1d")[0], NB201Space(**NB201_OPTIONS)


def _truth(archs: list[str], epochs: int, seeds: list[int]) -> dict[str, Any]:
    """Stand-alone training of several architectures (validation accuracy) for each training seed."""
    from nasforge.evaluators.training import TrainingEvaluator

    task, space = _task_space()
    rows = []
    for arch in archs:
        for s in seeds:
            ev = TrainingEvaluator(task, space, epochs=epochs, seed=s, threads=1, measure_latency=False)
            t0 = time.perf_counter()
            r = ev.evaluate(space.from_string(arch))
            if r.status != "complete" or r.value is None:
                raise RuntimeError(f"training {arch} seed {s}: status {r.status}, error {r.error}")
            rows.append({"arch": arch, "seed": s, "val_acc": float(r.value), "seconds": time.perf_counter() - t0})
    return {"results": rows}


def _rank(name: str, method: str, options: dict[str, Any], seed: int, archs: list[str]) -> dict[str, Any]:
    """Train one supernet configuration and score the architectures with inherited weights."""
    from nasforge.registry import ONESHOT

    task, space = _task_space()
    m = ONESHOT.create(method, space, task, seed=seed, threads=1, **options)
    events: list[dict[str, Any]] = []
    trained = m.train(progress=lambda info: events.append(dict(info)) if info.get("phase") == "split" else None)
    t0 = time.perf_counter()
    parsed = [space.from_string(a) for a in archs]
    scores = [float(trained.score(a)) for a in parsed]
    score_seconds = time.perf_counter() - t0
    members = [int(trained.member_of(a)) for a in parsed]
    hist = list(getattr(trained, "history", []))
    epochs_run = [h for h in hist if h.get("phase") in ("supernet", "members")]
    n_train = len(trained.tensors()["y_train"])
    steps_per_epoch = max(1, n_train // m.batch_size)
    split = events[0] if events else None  # the split is reported to progress, not kept in the history
    res: dict[str, Any] = {
        "name": name, "method": method, "options": options, "seed": seed, "scores": scores, "member": members,
        "n_members": len(trained), "train_seconds": float(trained.train_seconds), "score_seconds": score_seconds,
        "epochs_trained": len(epochs_run), "steps": len(epochs_run) * steps_per_epoch,
        "steps_per_epoch": steps_per_epoch,
        "history": [{k: h.get(k) for k in ("phase", "member", "epoch", "train_acc", "train_loss", "seconds")}
                    for h in epochs_run],
        "params": m.params()}
    if split is not None:
        ctl = trained.members[0].controller
        res["split"] = {"decisions": split.get("decisions"), "scores": split.get("scores"),
                        "seconds": split.get("seconds"),
                        "groups": [{k: [ctl.decisions[k].options[i] for i in v] for k, v in g.items()}
                                   for g in trained.groups]}
    return res


def _oneshot(method: str, seed: int, options: dict[str, Any]) -> dict[str, Any]:
    """``api.oneshot`` (train, search the supernet, no retraining), timed around the call."""
    from nasforge import api

    t0 = time.perf_counter()
    out = api.oneshot(method, task="mnist1d", space="nb201", space_options=NB201_OPTIONS, seed=seed,
                      method_options=options, storage="memory:")
    seconds = time.perf_counter() - t0
    mt = out["metrics"]
    return {"method": method, "seed": seed, "options": options, "oneshot_seconds": seconds, "arch": out["arch"],
            "inherited_val_acc": out["val_acc"], "train_seconds": mt.get("train_seconds"),
            "members": mt.get("members"), "best_search_trial": out.get("best_search_trial")}


def _rea(seed: int, wall_seconds: float, trial_epochs: int) -> dict[str, Any]:
    """REA at a supernet search's wall clock (at most 10,000 trials)."""
    return rea_at_budget(seed, wall_seconds, trial_epochs, NB201_OPTIONS, n_trials=10_000)


def _retrain(archs: list[str], final_epochs: int, train_seed: int) -> dict[str, Any]:
    """The winners' retrainings, several in one process."""
    return retrain_archs(*_task_space(), archs, final_epochs, train_seed)


# what a job's kind runs
JOBS = {"truth": _truth, "rank": _rank, "oneshot": _oneshot, "rea": _rea, "retrain": _retrain}


# ----------------------------------------------------------------------------- statistics
def tau_b_rows(X: Any, Y: Any) -> Any:
    """Kendall's tau-b of each row pair of X and Y (B x n arrays), as scipy.stats.kendalltau computes it."""
    import numpy as np

    sx = np.sign(X[:, :, None] - X[:, None, :])
    sy = np.sign(Y[:, :, None] - Y[:, None, :])
    num = (sx * sy).sum(axis=(1, 2))
    den = np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def rho_rows(X: Any, Y: Any) -> Any:
    """Spearman's rho of each row pair (average ranks for ties)."""
    import numpy as np
    from scipy.stats import rankdata

    rx, ry = rankdata(X, axis=1), rankdata(Y, axis=1)
    rx = rx - rx.mean(axis=1, keepdims=True)
    ry = ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def interval(samples: Any) -> list[float]:
    import numpy as np

    ok = samples[~np.isnan(samples)]
    return [float(np.percentile(ok, 2.5)), float(np.percentile(ok, 97.5))] if len(ok) else [math.nan, math.nan]


def within_groups_tau(scores: Any, truth: Any, fixed_run: dict[str, Any] | None) -> float:
    """Kendall's tau inside each group of cells that one sub-supernet of the fixed split (same seed) scores,
    averaged with the groups' sizes as weights: a ranking judged without comparing across sub-supernets.
    NaN without that run."""
    import numpy as np
    from scipy.stats import kendalltau

    if not fixed_run or "error" in fixed_run or fixed_run.get("member") is None:
        return math.nan
    member = np.asarray(fixed_run["member"])
    taus, sizes = [], []
    for g in np.unique(member):
        idx = np.flatnonzero(member == g)
        if len(idx) > 2:
            t = kendalltau(scores[idx], truth[idx]).statistic
            if not math.isnan(t):
                taus.append(t)
                sizes.append(len(idx))
    return float(np.average(taus, weights=sizes)) if taus else math.nan


def excludes_zero(ci: list[float]) -> bool:
    return bool(ci[0] > 0 or ci[1] < 0)


def top_overlap(scores: list[float], truth: list[float], k: int = 5) -> int:
    import numpy as np

    a = set(np.argsort(-np.asarray(scores), kind="stable")[:k].tolist())
    b = set(np.argsort(-np.asarray(truth), kind="stable")[:k].tolist())
    return len(a & b)


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="supernet / search seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, default=30, help="supernet epochs E (default 30)")
    p.add_argument("--child-epochs", type=int, default=10, help="few-shot epochs F per sub-supernet (default 10)")
    p.add_argument("--archs", type=int, default=48, help="ground-truth architectures K (default 48)")
    p.add_argument("--truth-epochs", type=int, default=10, help="stand-alone training epochs of the truth (default 10)")
    p.add_argument("--trial-epochs", type=int, default=5, help="REA training epochs per trial (default 5)")
    p.add_argument("--final-epochs", type=int, default=10, help="retraining epochs of the winners (default 10)")
    p.add_argument("--search-trials", type=int, default=100, help="REA trials on a trained supernet (default 100)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--workers", type=int, default=2, help="parallel processes, one torch thread each (default 2)")
    p.add_argument("--skip-wallclock", action="store_true", help="skip part 3 (equal wall clock against REA)")
    p.add_argument("--truth-seeds", type=int, default=2,
                   help="training seeds 0..N-1 of the ground truth, averaged (default 2; with 4 or more the JSON also "
                        "gives the agreement of two half-means, the noise ceiling of the mean)")
    p.add_argument("--configs", default=",".join(CONFIG_NAMES),
                   help=f"comma-separated ranking configurations to run (default all: {', '.join(CONFIG_NAMES)})")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 8 archs, 2 epochs (supernet and truth), 1 child epoch, 1 seed, 1-epoch trials")
    p.add_argument("--truth", default=None, help="ground-truth cache (default benchmarks/results/"
                                                 "supernet_ranking_truth.json; with --quick /tmp/...)")
    p.add_argument("--reanalyse", default=None, metavar="JSON",
                   help="recompute the figures from the runs recorded in JSON (and the truth cache), running nothing; "
                        "the settings are JSON's; written to --out (default: JSON itself)")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/supernet_ranking.json; "
                                               "with --quick /tmp/supernet_ranking_quick.json)")
    a = p.parse_args(argv)
    old_run: dict[str, Any] | None = None
    if a.reanalyse:
        old_run = json.loads(Path(a.reanalyse).read_text())
        for k, v in old_run["config"].items():
            setattr(a, k, v)
        a.out = a.out or a.reanalyse
    elif a.quick:
        a.archs, a.epochs, a.truth_epochs, a.child_epochs, a.seeds = 8, 2, 2, 1, 1
        a.trial_epochs, a.final_epochs, a.search_trials, a.boot = 1, 1, 20, 500
    global TRUTH_SEEDS
    if a.truth_seeds < 2:
        p.error("--truth-seeds must be at least 2")
    TRUTH_SEEDS = tuple(range(a.truth_seeds))
    for name in ("seeds", "epochs", "child_epochs", "truth_epochs", "trial_epochs", "final_epochs", "search_trials",
                 "boot", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if a.archs < 5:
        p.error("--archs must be at least 5 (top-5 overlap)")
    here = Path(__file__).resolve().parent
    out_path = Path(a.out) if a.out else (Path("/tmp/supernet_ranking_quick.json") if a.quick
                                          else here / "results" / "supernet_ranking.json")
    truth_path = Path(a.truth) if a.truth else (Path("/tmp/supernet_ranking_quick_truth.json") if a.quick
                                                else here / "results" / "supernet_ranking_truth.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)

    import numpy as np
    from scipy.stats import kendalltau, spearmanr

    from nasforge.spaces.nb201 import NB201Space

    os.environ["OMP_NUM_THREADS"] = "1"
    info = machine(with_torch=True, with_load=True)
    info["torch_threads_per_process"] = 1
    code = code_record(here)
    head = code["checkout_git_head"]
    # written beside src/ when the frozen copy was made (see the docstring)
    marker = Path(code["nasforge_path"]).parents[1] / "COMMIT"
    code["frozen_copy_commit"] = marker.read_text().strip() if marker.exists() else None
    digests: set[str] = {code["nasforge_src_sha1"]}
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    t_start = time.perf_counter()
    log = stamped_log(t_start)

    # the architectures: drawn once, the same for every method
    space = NB201Space(**NB201_OPTIONS)
    rng = np.random.default_rng(ARCH_SEED)
    archs: list[str] = []
    seen: set[str] = set()
    while len(archs) < a.archs:
        x = space.sample(rng)
        if space.key(x) not in seen:
            seen.add(space.key(x))
            archs.append(space.to_string(x))

    # ground-truth cache
    truth_meta = {"task": "mnist1d", "space": "nb201", "space_options": NB201_OPTIONS, "epochs": a.truth_epochs,
                  "evaluator": "TrainingEvaluator(epochs, seed, threads=1, measure_latency=False), defaults otherwise"}
    cache: dict[str, Any] = {**truth_meta, "archs": {}}
    if truth_path.exists():
        old = json.loads(truth_path.read_text())
        if any(old.get(k) != v for k, v in truth_meta.items()):
            p.error(f"{truth_path} holds ground truth of other settings ({ {k: old.get(k) for k in truth_meta} }); "
                    f"give another --truth file")
        cache = old
    missing = [(x, s) for x in archs for s in TRUTH_SEEDS if str(s) not in cache["archs"].get(x, {}).get("val_acc", {})]
    log(f"{len(archs)} architectures; {len(missing)} of {len(archs) * len(TRUTH_SEEDS)} stand-alone trainings "
        f"to run ({truth_path})")

    def save_cache() -> None:
        tmp = truth_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache, indent=1))
        tmp.replace(truth_path)

    E, F = a.epochs, a.child_epochs
    confs = configurations(E, F)
    queue = JobQueue()
    push, want_retrain = queue.push, queue.want_retrain
    rank_runs: dict[tuple[str, int], dict[str, Any]] = {}
    oneshot_runs: dict[tuple[str, int], dict[str, Any]] = {}
    rea_runs: dict[tuple[str, int], dict[str, Any]] = {}
    retrained: dict[str, dict[str, Any]] = {}
    errors: list[str] = []

    # stand-alone trainings in batches of up to 4 architectures (both seeds of an architecture in one job)
    by_arch: dict[str, list[int]] = {}
    for x, s in missing:
        by_arch.setdefault(x, []).append(s)
    items = list(by_arch.items())
    for i in range(0, len(items), 4):
        chunk = items[i:i + 4]
        for seeds_needed in sorted({tuple(v) for _, v in chunk}):
            batch = [x for x, v in chunk if tuple(v) == seeds_needed]
            est = SEC_PER_TRAINING_EPOCH * a.truth_epochs * len(batch) * len(seeds_needed)
            push(1, est, "truth", (batch, a.truth_epochs, list(seeds_needed)), f"truth {len(batch)} archs")
    seeds = list(range(a.seeds))
    chosen = [c.strip() for c in str(a.configs).split(",") if c.strip()]
    bad = [c for c in chosen if c not in CONFIG_NAMES]
    if bad:
        p.error(f"--configs: unknown {bad}; known: {', '.join(CONFIG_NAMES)}")
    for s in seeds:
        for name in chosen:
            meth, opts, ep = confs[name]
            push(1, SEC_PER_SUPERNET_EPOCH * ep, "rank", (name, meth, opts, s, archs), f"{name} seed {s}")
    wall_opts = {"spos": {"epochs": E, "threads": 1, "search_trials": a.search_trials, "retrain_epochs": 0},
                 "fewshot": {"epochs": E, "threads": 1, "search_trials": a.search_trials, "retrain_epochs": 0,
                             "split": "gm", "groups": 0, "child_epochs": F}}
    if not a.skip_wallclock:
        for s in seeds:
            for meth in ("spos", "fewshot"):
                ep = E + (5 * F if meth == "fewshot" else 0)
                push(0, SEC_PER_SUPERNET_EPOCH * ep + 10, "oneshot", (meth, s, wall_opts[meth]), f"oneshot {meth} seed {s}")

    def on_done(kind: str, args: tuple[Any, ...], label: str, res: dict[str, Any]) -> None:
        if "error" in res:
            errors.append(f"{label}: {res['error']}")
            log(f"FAILED {label} after {res['wall_seconds']:.0f} s: {res['error']}")
        if kind == "truth":
            if "error" in res:
                return
            for row in res["results"]:
                ent = cache["archs"].setdefault(row["arch"], {"val_acc": {}, "seconds": {}})
                ent["val_acc"][str(row["seed"])] = row["val_acc"]
                ent["seconds"][str(row["seed"])] = row["seconds"]
            save_cache()
            log(f"done {label} in {res['wall_seconds']:.0f} s: "
                + ", ".join(f"{r['val_acc']:.1f}" for r in res["results"]))
        elif kind == "rank":
            name, s = args[0], args[3]
            rank_runs[(name, s)] = res
            if "error" not in res:
                tau = math.nan
                if not missing_truth():
                    gt_now = [statistics.fmean(cache["archs"][x]["val_acc"][str(t)] for t in TRUTH_SEEDS) for x in archs]
                    tau = float(kendalltau(res["scores"], gt_now).statistic)
                log(f"done {label}: train {res['train_seconds']:.0f} s, {res['n_members']} member(s), "
                    f"{res['steps']} steps, mean inherited acc {statistics.fmean(res['scores']):.1f}"
                    + ("" if math.isnan(tau) else f", tau {tau:.3f}"))
        elif kind == "oneshot":
            meth, s = args[0], args[1]
            oneshot_runs[(meth, s)] = res
            if "error" in res:
                return
            log(f"done {label}: {res['oneshot_seconds']:.0f} s (train {res['train_seconds']:.0f} s), "
                f"{res['arch']} inherited {res['inherited_val_acc']:.1f}")
            push(0, res["oneshot_seconds"], "rea", (s, res["oneshot_seconds"], a.trial_epochs),
                 f"rea seed {s} at the {meth} budget")
            want_retrain(res["arch"])
        elif kind == "rea":
            s = args[0]
            meth = label.split(" at the ")[1].split()[0]
            rea_runs[(meth, s)] = res
            if "error" in res:
                return
            log(f"done {label}: {res['search_seconds']:.0f} s for a {args[1]:.0f} s budget, {res['trials']} trials, "
                f"best {res['best_arch']} (val {res['best_val_acc']:.2f})")
            if res["best_arch"]:
                want_retrain(res["best_arch"])
        else:
            record_retrained(retrained, args[0], res, log)

    def missing_truth() -> bool:
        return any(str(s) not in cache["archs"].get(x, {}).get("val_acc", {}) for x in archs for s in TRUTH_SEEDS)

    if old_run is not None:  # --reanalyse: the runs of the recorded benchmark, nothing is run
        queue.pending.clear()
        rank_runs.update({(r["name"], r["seed"]): r for r in old_run["rank_runs"]})
        for src, dst in ((old_run["oneshot_runs"], oneshot_runs), (old_run["rea_runs"], rea_runs)):
            dst.update({(k.split("/")[0], int(k.split("/")[1])): v for k, v in src.items()})
        retrained.update(old_run["retrained"])
        errors.extend(old_run["errors"])
        code, info, date = old_run["code"], old_run["machine"], old_run["date"]
        digests = {code["nasforge_src_sha1"]} if code.get("same_code_in_every_job") else {"", "several"}
        if missing_truth():
            p.error(f"--reanalyse: the truth cache {truth_path} lacks some of the recorded run's architectures")
    queue.run(JOBS, a.workers, lambda batch: (batch, a.final_epochs, 0), on_done, log, digests,
              hold_retrain_for=("oneshot", "rea"))
    elapsed = old_run["elapsed_seconds"] if old_run is not None else time.perf_counter() - t_start
    code["same_code_in_every_job"] = len(digests) == 1

    # ------------------------------------------------------------------ part 1: the truth
    per_seed = {s: np.array([cache["archs"].get(x, {}).get("val_acc", {}).get(str(s), math.nan) for x in archs])
                for s in TRUTH_SEEDS}
    gt = np.mean([per_seed[s] for s in TRUTH_SEEDS], axis=0)
    ok_truth = not np.isnan(gt).any()
    # the better half of the architectures by ground truth: does a ranking separate more than the few weak ones?
    top_half = np.sort(np.argsort(-gt, kind="stable")[:len(archs) // 2])
    boot_rng = np.random.default_rng(BOOT_SEED)
    R = boot_rng.integers(0, len(archs), size=(a.boot, len(archs)))
    truth_out: dict[str, Any] = {"archs": archs, "val_acc_mean": gt.tolist(),
                                 "val_acc_per_seed": {str(s): per_seed[s].tolist() for s in TRUTH_SEEDS},
                                 "epochs": a.truth_epochs, "cache": str(truth_path)}
    if ok_truth:
        s0, s1 = per_seed[TRUTH_SEEDS[0]], per_seed[TRUTH_SEEDS[1]]
        nt = tau_b_rows(s0[R], s1[R])
        nr = rho_rows(s0[R], s1[R])
        truth_out.update(
            seed_tau=float(kendalltau(s0, s1).statistic), seed_tau_ci=interval(nt),
            seed_rho=float(spearmanr(s0, s1).statistic), seed_rho_ci=interval(nr),
            seed_top5_overlap=top_overlap(list(s0), list(s1)),
            mean=float(gt.mean()), std=float(gt.std(ddof=1)), min=float(gt.min()), max=float(gt.max()),
            median=float(np.median(gt)), distinct_values=int(len(set(gt.tolist()))),
            seed_abs_diff_mean=float(np.abs(s0 - s1).mean()),
            seed_tau_top_half=float(kendalltau(s0[top_half], s1[top_half]).statistic),
            **_half_means(per_seed, R),
            train_seconds_mean=statistics.fmean(v for x in archs for v in cache["archs"][x]["seconds"].values()))

    # ------------------------------------------------------------------ part 2: ranking
    boot: dict[tuple[str, int], dict[str, Any]] = {}
    ranking_rows, pair_rows = [], []
    if ok_truth:
        for name in CONFIG_NAMES:
            if not any((name, s) in rank_runs for s in seeds):
                continue  # not run (--configs)
            per = []
            for s in seeds:
                r = rank_runs.get((name, s))
                if not r or "error" in r:
                    continue
                sc = np.asarray(r["scores"])
                bt, br = tau_b_rows(sc[R], gt[R]), rho_rows(sc[R], gt[R])
                boot[(name, s)] = {"tau": bt, "rho": br}
                per.append({"seed": s, "tau": float(kendalltau(sc, gt).statistic), "tau_ci": interval(bt),
                            "rho": float(spearmanr(sc, gt).statistic), "rho_ci": interval(br),
                            "top5_overlap": top_overlap(list(sc), list(gt)), "train_seconds": r["train_seconds"],
                            "steps": r["steps"], "members": r["n_members"],
                            "mean_inherited_acc": float(sc.mean()), "split": r.get("split"),
                            "tau_top_half": float(kendalltau(sc[top_half], gt[top_half]).statistic),
                            "tau_within_fixed_groups": within_groups_tau(sc, gt, rank_runs.get(("fewshot-fixed", s)))})
            got = [q["seed"] for q in per]
            pooled_t = np.mean([boot[(name, s)]["tau"] for s in got], axis=0) if got else np.array([math.nan])
            pooled_r = np.mean([boot[(name, s)]["rho"] for s in got], axis=0) if got else np.array([math.nan])
            tm, tse = mean_se([q["tau"] for q in per])
            rm, rse = mean_se([q["rho"] for q in per])
            meth, opts, ep = confs[name]
            ranking_rows.append({"name": name, "method": meth, "options": opts, "epochs_of_steps": ep,
                                 "per_seed": per, "tau_mean": tm, "tau_se": tse, "tau_pooled_ci": interval(pooled_t),
                                 "rho_mean": rm, "rho_se": rse, "rho_pooled_ci": interval(pooled_r),
                                 "top5_mean": mean_se([q["top5_overlap"] for q in per])[0],
                                 "tau_top_half_mean": mean_se([q["tau_top_half"] for q in per])[0],
                                 "tau_within_fixed_groups": mean_se([q["tau_within_fixed_groups"] for q in per]),
                                 "train_seconds_mean": mean_se([q["train_seconds"] for q in per])[0],
                                 "steps": per[0]["steps"] if per else None})
        for x, y, what in COMPARISONS:
            common = [s for s in seeds if (x, s) in boot and (y, s) in boot]
            row: dict[str, Any] = {"a": x, "b": y, "what": what, "seeds": common, "per_seed": []}
            for metric in ("tau", "rho"):
                for s in common:
                    d = boot[(x, s)][metric] - boot[(y, s)][metric]
                    rx = next(q for q in next(r for r in ranking_rows if r["name"] == x)["per_seed"] if q["seed"] == s)
                    ry = next(q for q in next(r for r in ranking_rows if r["name"] == y)["per_seed"] if q["seed"] == s)
                    ci = interval(d)
                    ent = next((e for e in row["per_seed"] if e["seed"] == s), None)
                    if ent is None:
                        ent = {"seed": s}
                        row["per_seed"].append(ent)
                    ent[metric] = rx[metric] - ry[metric]
                    ent[f"{metric}_ci"] = ci
                    ent[f"{metric}_excludes_zero"] = excludes_zero(ci)
                if common:
                    diffs = np.array([boot[(x, s)][metric] - boot[(y, s)][metric] for s in common])
                    ci = interval(diffs.mean(axis=0))
                    row[f"{metric}_pooled"] = statistics.fmean(e[metric] for e in row["per_seed"])
                    row[f"{metric}_pooled_ci"] = ci
                    row[f"{metric}_pooled_excludes_zero"] = excludes_zero(ci)
                    # two levels: the supernet seeds resampled too, so the interval covers the seed-to-seed
                    # spread as well as the choice of architectures (resample b takes seeds pick[b])
                    pick = np.random.default_rng(BOOT_SEED + 1).integers(0, len(common), (diffs.shape[1], len(common)))
                    ci2 = interval(diffs[pick, np.arange(diffs.shape[1])[:, None]].mean(axis=1))
                    row[f"{metric}_seeds_ci"] = ci2
                    row[f"{metric}_seeds_excludes_zero"] = excludes_zero(ci2)
                    row[f"{metric}_seeds_se"] = mean_se([e[metric] for e in row["per_seed"]])[1]
            pair_rows.append(row)

    # ------------------------------------------------------------------ part 3: equal wall clock
    def test_acc(arch: str | None) -> float:
        r = retrained.get(arch or "")
        return math.nan if r is None or "error" in r else float(r["test_acc"])

    wall_rows, wall_pairs = [], []
    if not a.skip_wallclock:
        for meth in ("spos", "fewshot"):
            accs, reas, budgets = [], [], []
            runs = []
            for s in seeds:
                o, r = oneshot_runs.get((meth, s), {}), rea_runs.get((meth, s), {})
                acc = test_acc(o.get("arch")) if "error" not in o else math.nan
                racc = test_acc(r.get("best_arch")) if r and "error" not in r else math.nan
                accs.append(acc)
                reas.append(racc)
                budgets.append(o.get("oneshot_seconds", math.nan))
                runs.append({"seed": s, "arch": o.get("arch"), "inherited_val_acc": o.get("inherited_val_acc"),
                             "test_acc": acc, "budget_seconds": o.get("oneshot_seconds"),
                             "train_seconds": o.get("train_seconds"), "rea_arch": r.get("best_arch"),
                             "rea_val_acc": r.get("best_val_acc"), "rea_test_acc": racc, "rea_trials": r.get("trials"),
                             "rea_seconds": r.get("search_seconds")})
            d = [x - y for x, y in zip(accs, reas)]
            wall_rows.append({"method": meth, "options": wall_opts[meth], "runs": runs,
                              "test_acc": mean_se(accs), "rea_test_acc": mean_se(reas), "minus_rea": mean_se(d),
                              "budget_seconds_mean": mean_se(budgets)[0]})
        f_acc = [q["test_acc"] for q in wall_rows[1]["runs"]]
        s_acc = [q["test_acc"] for q in wall_rows[0]["runs"]]
        wall_pairs.append({"comparison": "fewshot (gm) - spos", "per_seed": [x - y for x, y in zip(f_acc, s_acc)],
                           "mean_se": mean_se([x - y for x, y in zip(f_acc, s_acc)])})

    out = {"benchmark": "supernet_ranking", "task": "mnist1d", "space": "nb201", "space_options": NB201_OPTIONS,
           "config": {k: getattr(a, k) for k in ("seeds", "epochs", "child_epochs", "archs", "truth_epochs",
                                                 "trial_epochs", "final_epochs", "search_trials", "boot", "workers",
                                                 "skip_wallclock", "quick", "configs", "truth_seeds")},
           "configurations": {k: {"method": v[0], "options": v[1], "epochs_of_steps": v[2]} for k, v in confs.items()},
           "arch_seed": ARCH_SEED, "truth_seeds": list(TRUTH_SEEDS), "bootstrap_seed": BOOT_SEED,
           "truth": truth_out, "ranking": ranking_rows, "paired": pair_rows,
           "rank_runs": [rank_runs[k] for k in sorted(rank_runs)],
           "wallclock": wall_rows, "wallclock_paired": wall_pairs,
           "oneshot_runs": {f"{k[0]}/{k[1]}": v for k, v in sorted(oneshot_runs.items())},
           "rea_runs": {f"{k[0]}/{k[1]}": v for k, v in sorted(rea_runs.items())},
           "retrained": retrained, "errors": errors, "code": code, "git_head": code["frozen_copy_commit"] or head or None, "date": date,
           "elapsed_seconds": elapsed,
           "machine": info if old_run is not None else {**info, "loadavg_at_end": list(os.getloadavg())},
           "command": old_run["command"] if old_run is not None else command_line()}
    if old_run is not None:
        out["reanalysed_by"] = command_line()
    write_json(out, str(out_path), False)

    # ------------------------------------------------------------------ the tables
    if ok_truth:
        t = truth_out
        print(f"\n1. ground truth: K={len(archs)}, val acc mean {t['mean']:.2f} (median {t['median']:.2f}, "
              f"range {t['min']:.2f}-{t['max']:.2f}); seed 0 vs 1: tau {t['seed_tau']:.3f} "
              f"[{t['seed_tau_ci'][0]:.3f}, {t['seed_tau_ci'][1]:.3f}], rho {t['seed_rho']:.3f}, "
              f"top-5 overlap {t['seed_top5_overlap']}; tau on the better half {t['seed_tau_top_half']:.3f}")
        print("\n2. ranking (per seed tau / rho; mean +- SE; pooled bootstrap 95% CI of the mean tau)")
        for r in ranking_rows:
            taus = "/".join(f"{q['tau']:.3f}" for q in r["per_seed"])
            rhos = "/".join(f"{q['rho']:.3f}" for q in r["per_seed"])
            tops = "/".join(str(q["top5_overlap"]) for q in r["per_seed"])
            print(f"{r['name']:<14} steps {r['steps']!s:>5} tau {taus:<20} "
                  f"{fmt_mean_se(r['tau_mean'], r['tau_se'], 3):>16} "
                  f"[{r['tau_pooled_ci'][0]:.3f}, {r['tau_pooled_ci'][1]:.3f}]  rho {rhos:<20} "
                  f"{fmt_mean_se(r['rho_mean'], r['rho_se'], 3):>16}  top5 {tops}  "
                  f"train {r['train_seconds_mean']:.0f} s  "
                  f"tau better half {r['tau_top_half_mean']:.3f}"
                  + (f"  tau within the fixed split's groups {fmt_mean_se(*r['tau_within_fixed_groups'], nd=3)}"
                     if not math.isnan(r["tau_within_fixed_groups"][0]) else ""))
        print("\n   paired differences (a - b): tau per seed [95% CI]; pooled")
        for r in pair_rows:
            if not r["seeds"]:
                continue
            ps = "  ".join(f"{e['tau']:+.3f} [{e['tau_ci'][0]:+.3f}, {e['tau_ci'][1]:+.3f}]" for e in r["per_seed"])
            print(f"{r['a']} - {r['b']}: {ps}  pooled tau {r['tau_pooled']:+.3f} [{r['tau_pooled_ci'][0]:+.3f}, "
                  f"{r['tau_pooled_ci'][1]:+.3f}]{' *' if r['tau_pooled_excludes_zero'] else ''}  rho "
                  f"{r['rho_pooled']:+.3f} [{r['rho_pooled_ci'][0]:+.3f}, {r['rho_pooled_ci'][1]:+.3f}]"
                  f"{' *' if r['rho_pooled_excludes_zero'] else ''}")
            if len(r["seeds"]) > 1:
                print(f"    over seeds and architectures: tau {r['tau_pooled']:+.3f} +- {r['tau_seeds_se']:.3f} (SE over "
                      f"{len(r['seeds'])} seeds) [{r['tau_seeds_ci'][0]:+.3f}, {r['tau_seeds_ci'][1]:+.3f}]"
                      f"{' *' if r['tau_seeds_excludes_zero'] else ''}")
    if wall_rows:
        print("\n3. equal wall clock (test acc %, mean +- SE over seeds)")
        for r in wall_rows:
            print(f"{r['method']:<8} budget {r['budget_seconds_mean']:.0f} s: {fmt_mean_se(*r['test_acc'])}  REA "
                  f"{fmt_mean_se(*r['rea_test_acc'])}  minus REA {fmt_mean_se(*r['minus_rea'])}  per seed "
                  + " ".join(f"{q['test_acc']:.2f}/{q['rea_test_acc']:.2f}({q['rea_trials']})" for q in r["runs"]))
        for r in wall_pairs:
            print(f"{r['comparison']}: {fmt_mean_se(*r['mean_se'])}")
    print(f"\nnasforge from {code['nasforge_path']} (digest {code['nasforge_src_sha1'][:12]}, frozen from "
          f"{(code.get('frozen_copy_commit') or '?')[:10]}, checkout HEAD {(code['checkout_git_head'] or '?')[:10]}), "
          f"same code in every job: {'yes' if code['same_code_in_every_job'] else 'NO'}")
    print(f"elapsed {elapsed:.0f} s; errors: {len(errors)}; JSON: {out_path}")
    for e in errors:
        print(f"  {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
