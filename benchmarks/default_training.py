"""The default strategy against the peer frameworks on real training: digits and mnist1d.

What is measured: for each task (``digits``, ``mnist1d``), nasforge's default strategy
(``adaptive-ea``, :data:`nasforge.registry.DEFAULT_STRATEGY`, at its default options, driven by a
:class:`~nasforge.study.Study`) and the five peers of :mod:`nasforge.peers` (Optuna TPE / NSGA-II /
random, NNI REA / random at their defaults, through :func:`nasforge.peers.run_peer_on`) each search the
NB201 cell space (``-P C=4 -P N=1`` by default: a small network) for ``--trials`` trials, once per seed
``--seed-start`` .. ``+--seeds - 1``.

Protocol. A trial trains the architecture on the task's training split with
``TrainingEvaluator(task, space, epochs=E, batch_size=B, seed=0, threads=1, measure_latency=False)``
(SGD with Nesterov momentum, lr 0.05, cosine schedule; ``E``, ``B`` per task in :data:`TRAINING`) and
feeds back its validation accuracy; the same trained network's test accuracy is recorded beside it
(the reported figure, never shown to a search). The training seed is fixed (0) and training is
deterministic on one CPU thread, so the objective is a function of the architecture; on top of that,
every training result goes to a cache on disk shared by every method, seed and worker (one JSON line
per architecture in ``<out>/cache/<task>-<settings>.jsonl``, ``settings`` a digest of the task, space
and training options), so an architecture is trained once and every method faces exactly the same
objective. A repeat still counts as a trial (the budget is in trials): a study answers a repeated
proposal from its records, a peer from its run's records (:func:`~nasforge.peers.run_peer_on`), and
a proposal first seen by this search but trained by another is read from the cache.

Figures per task and method, over seeds: mean +- standard error (std ddof=1 / sqrt(seeds)) of the
best-by-feedback trial's validation accuracy (the earliest on ties) and of its test accuracy. Then
``adaptive-ea`` against the best peer (the peer with the highest mean of that figure): ``d`` = difference
of means, ``se`` = its standard error (independent samples), ``z = d / se``, and the verdict of
``benchmarks/default_strategy.py``: **win** when z >= 2; **tie** when |z| <= 1 and the task is
*saturated* (the best peer's median incumbent has the best validation accuracy of every architecture
trained for the task in this measurement: half its searches found the best anyone found); otherwise
**short**. The verdict that counts is the one on test accuracy (the reported figure).

Overhead: the time a method spends between two trainings (its tell of one result and its ask of the next,
with the study's or the peer's bookkeeping; lookups in the cache excluded), per trial: the gaps between
consecutive evaluator calls of a search, each divided by the trials it spans (repeats answered without a
call). The table gives the median over every gap of every seed in ms, and that as a percentage of the
median seconds of one training (the cache's trainings of the task; target: below 5 %).

Runs: one job per (task, method, seed) in ``--workers`` spawned processes (one torch thread each); the
parent appends each finished search to ``<out>/runs.jsonl``, and a search already there (same task,
settings, method, seed and trials) is skipped, so a stopped run resumes where it was. ``--analyse``
prints the tables from what is there. Workers share the cache file: each appends whole lines in single
``O_APPEND`` writes and reads the lines the others appended before training an architecture (two
workers may train the same architecture at once: the first line wins; training is deterministic).

    .venv/bin/python benchmarks/default_training.py --quick                  # smoke run, about a minute
    .venv/bin/python benchmarks/default_training.py --seeds 10 --trials 40 --workers 1
    .venv/bin/python benchmarks/default_training.py --seeds 10 --trials 40 --analyse --markdown
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (add_snapshot_option, code_record, compare, fmt_mean_se, key_value, machine,  # noqa: E402
                     mean_se, run_queued, stamped_log)

from nasforge.evaluators.base import Capabilities, Evaluator  # noqa: E402
from nasforge.evaluators.hardware import torch_threads  # noqa: E402
from nasforge.evaluators.training import TrainingEvaluator, accuracy  # noqa: E402
from nasforge.peers import PEERS  # noqa: E402
from nasforge.registry import DEFAULT_STRATEGY  # noqa: E402
from nasforge.results import Result  # noqa: E402
from nasforge.spaces.base import Architecture  # noqa: E402

TASKS = ("digits", "mnist1d")
#: training options per task, chosen so that one training takes about 0.4-1 s on one thread (a shared core)
TRAINING: dict[str, dict[str, Any]] = {"digits": {"epochs": 2, "batch_size": 64},
                                       "mnist1d": {"epochs": 2, "batch_size": 128}}
SPACE_PARAMS = {"C": 4, "N": 1}
TRAIN_SEED = 0
#: the task split's seed (load_task(task, seed=...))
SPLIT_SEED = 0
METHODS = (DEFAULT_STRATEGY, *PEERS)


# ----------------------------------------------------------------------------- the shared training cache
def settings_for(task: str, space_params: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """Everything the objective of ``task`` depends on (the cache and the runs are keyed by its digest)."""
    return {"task": task, "split_seed": SPLIT_SEED, "space": "nb201", "space_params": dict(space_params),
            "training": {**training, "seed": TRAIN_SEED, "optimizer": "sgd", "lr": 0.05, "weight_decay": 5e-4,
                         "schedule": "cosine"}}


def settings_id(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


class TrainingCache:
    """Training results per architecture key in a JSON-lines file shared by processes (first line wins).

    :meth:`refresh` reads the lines other processes appended since the last read (only up to the last
    newline: a line being written is read next time); :meth:`add` appends one whole line in a single
    ``O_APPEND`` write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        self._offset = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.refresh()

    def refresh(self) -> None:
        if not self.path.is_file():
            return
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            if line.strip():
                row = json.loads(line)
                self.rows.setdefault(row["arch"], row)
        self._offset += end

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        """Append ``row`` and return the row that stands for its architecture (an earlier one, if any)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(row) + "\n").encode())
        finally:
            os.close(fd)
        self.refresh()
        return self.rows[row["arch"]]


class CachedTraining(Evaluator):
    """The evaluator every method of one task searches with: the cache's row of the architecture, or a
    training (``inner``, a TrainingEvaluator) whose result and test accuracy are added to the cache.

    ``val_acc`` is the objective, ``test_acc`` (the same trained network on the test split) the report.
    One per search: it logs its calls (``calls``: architecture key, start and end times, trained or not)
    for the overhead figure."""

    objective = "val_acc"
    report = "test_acc"
    provides_cost = True

    def __init__(self, cache: TrainingCache, inner: Any) -> None:
        self.cache, self.inner = cache, inner
        self.calls: list[tuple[str, float, float, bool]] = []

    def capabilities(self) -> Capabilities:
        return Capabilities(None, True, ("val_acc", "test_acc", "params", "train_seconds"))

    def prepare(self) -> None:
        self.inner.prepare()

    def describe(self) -> dict[str, Any]:
        return {"evaluator": "cached-training", "inner": self.inner.describe(), "cache": str(self.cache.path)}

    def evaluate(self, arch: Architecture, fidelity: float | None = None) -> Result:
        t0 = time.perf_counter()
        key = self.inner.space.key(arch)
        row = self.cache.rows.get(key)
        if row is None:
            self.cache.refresh()  # another worker may have trained it meanwhile
            row = self.cache.rows.get(key)
        trained = row is None
        if row is None:
            row = self.cache.add(self._train(key, arch))
        self.calls.append((key, t0, time.perf_counter(), trained))
        if row["error"] is not None:
            return Result.failure(row["error"], cost=row["seconds"])
        return Result(metrics={k: row[k] for k in ("val_acc", "test_acc", "params", "train_seconds")},
                      value=row["val_acc"], cost=row["seconds"])

    def _train(self, key: str, arch: Architecture) -> dict[str, Any]:
        t0 = time.perf_counter()
        res = self.inner.evaluate(arch)
        row: dict[str, Any] = {"arch": key, "error": res.error, "val_acc": None, "test_acc": None, "params": None,
                               "train_seconds": None}
        if res.ok:
            t = self.inner.tensors()
            with torch_threads(self.inner.threads):
                row.update(val_acc=float(res.value), test_acc=accuracy(self.inner.last_model, t["X_test"], t["y_test"]),
                           params=int(res.metrics["params"]), train_seconds=float(res.metrics["train_seconds"]))
        row["seconds"] = time.perf_counter() - t0
        return row


class KeepsModel(TrainingEvaluator):
    """A TrainingEvaluator that keeps the last network it trained (so its test accuracy can be measured)."""

    last_model: Any = None

    def fit(self, arch: Architecture, X: Any, y: Any, epochs: int, deadline: float | None = None) -> Any:
        outcome = super().fit(arch, X, y, epochs, deadline)
        self.last_model = outcome.model
        return outcome


_CONTEXT: dict[str, tuple[Any, Any, TrainingCache]] = {}


def context(out: str, settings: dict[str, Any]) -> tuple[Any, Any, TrainingCache]:
    """(space, training evaluator, cache) of these settings, made once per process."""
    sid = settings_id(settings)
    if sid not in _CONTEXT:
        from nasforge.data import load_task
        from nasforge.registry import create_space

        task = load_task(settings["task"], seed=settings["split_seed"])
        space = create_space("nb201", **settings["space_params"])
        tr = settings["training"]
        inner = KeepsModel(task, space, epochs=tr["epochs"], batch_size=tr["batch_size"],
                           optimizer=tr["optimizer"], lr=tr["lr"], weight_decay=tr["weight_decay"],
                           schedule=tr["schedule"], seed=tr["seed"], threads=1, measure_latency=False)
        _CONTEXT[sid] = (space, inner, TrainingCache(Path(out) / "cache" / f"{settings['task']}-{sid}.jsonl"))
    return _CONTEXT[sid]


# ----------------------------------------------------------------------------- one search
def overhead_ms(calls: list[tuple[str, float, float, bool]], archs: list[str]) -> list[float]:
    """Per gap between consecutive evaluator calls, its length in ms divided by the trials it spans (the
    trials of ``archs`` from the call's trial to the next call's; a repeat answered from records makes no
    call). Calls are matched to trials in order by architecture."""
    at, i = [], 0
    for key, *_ in calls:
        while archs[i] != key:
            i += 1
        at.append(i)
        i += 1
    return [1e3 * (calls[j + 1][1] - calls[j][2]) / (at[j + 1] - at[j]) for j in range(len(calls) - 1)]


def run_search(out: str, settings: dict[str, Any], method: str, seed: int, n_trials: int) -> dict[str, Any]:
    """One search of ``method`` with ``seed`` for ``n_trials`` trials: its trials (architecture, validation and
    test accuracy), its overhead gaps and what it trained."""
    from nasforge.peers import run_peer_on
    from nasforge.registry import create_strategy
    from nasforge.study import Study

    space, inner, cache = context(out, settings)
    ev = CachedTraining(cache, inner)
    t0 = time.perf_counter()
    if method in PEERS:
        raw = run_peer_on(method, space, ev, seed, n_trials=n_trials)
        trials = [{"arch": t["arch"], "val": t["objective"], "test": t["report"]} for t in raw]
    else:
        study = Study(space, create_strategy(method, space, seed=seed), ev, name=f"{method}-{seed}", storage=None)
        study.optimize(n_trials=n_trials)
        trials = [{"arch": r.arch, "val": r.value, "test": r.metrics.get("test_acc") if r.value is not None else None}
                  for r in study.trials]
    wall = time.perf_counter() - t0
    trained = [c for c in ev.calls if c[3]]
    return {"task": settings["task"], "settings": settings_id(settings), "method": method, "seed": seed,
            "n_trials": n_trials, "trials": trials, "overhead_ms": overhead_ms(ev.calls, [t["arch"] for t in trials]),
            "calls": len(ev.calls), "trained": len(trained), "train_wall_seconds": sum(c[2] - c[1] for c in trained),
            "wall_seconds": wall}


def _job(args: tuple[str, dict[str, Any], str, int, int]) -> dict[str, Any]:
    return run_search(*args)


# ----------------------------------------------------------------------------- analysis
def best_by_feedback(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The trial with the highest validation accuracy, the earliest on ties."""
    best = None
    for t in trials:
        if t["val"] is not None and (best is None or t["val"] > best["val"]):
            best = t
    return best


def load_runs(out: Path) -> list[dict[str, Any]]:
    path = out / "runs.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def analyse(out: Path, tasks: list[str], sids: dict[str, str], methods: list[str], seeds: range,
            n_trials: int) -> list[dict[str, Any]]:
    runs = [r for r in load_runs(out) if r["task"] in tasks and r["settings"] == sids[r["task"]]
            and r["n_trials"] == n_trials and r["seed"] in seeds and r["method"] in methods]
    tables = []
    for task in tasks:
        cache = TrainingCache(out / "cache" / f"{task}-{sids[task]}.jsonl")
        ok = [r for r in cache.rows.values() if r["error"] is None]
        if not ok:
            continue
        best_val = max(r["val_acc"] for r in ok)
        train_s = statistics.median(r["seconds"] for r in cache.rows.values())
        rows: dict[str, dict[str, Any]] = {}
        for m in methods:
            mine = sorted((r for r in runs if r["task"] == task and r["method"] == m), key=lambda r: r["seed"])
            if not mine:
                continue
            bests = [best_by_feedback(r["trials"]) for r in mine]
            vals = [b["val"] if b else None for b in bests]
            tests = [b["test"] if b else None for b in bests]
            gaps = [g for r in mine for g in r["overhead_ms"]]
            ms = statistics.median(gaps) if gaps else math.nan
            rows[m] = {"n": len(mine), "val": mean_se(vals), "test": mean_se(tests),
                       "val_median": statistics.median(v for v in vals if v is not None),
                       "distinct": statistics.fmean(len({t["arch"] for t in r["trials"]}) for r in mine),
                       "trained": sum(r["trained"] for r in mine),
                       "ms_per_ask_tell": ms, "overhead_pct": 100.0 * ms / 1e3 / train_s,
                       "wall_seconds": sum(r["wall_seconds"] for r in mine)}
        peers = {m: r for m, r in rows.items() if m in PEERS}
        verdicts: dict[str, Any] = {}
        if DEFAULT_STRATEGY in rows and peers:
            for fig in ("val", "test"):
                bp = max(peers, key=lambda m: peers[m][fig][0])
                saturated = peers[bp]["val_median"] >= best_val - 1e-9
                same = [m for m in peers if m != bp and peers[m][fig] == peers[bp][fig]]  # e.g. the same trials
                verdicts[fig] = {"best_peer": bp, "same_as": same, "saturated": saturated,
                                 **compare(rows[DEFAULT_STRATEGY][fig], peers[bp][fig], saturated)}
        tables.append({"task": task, "settings": sids[task], "best_val_trained": best_val,
                       "architectures_trained": len(cache.rows), "median_training_seconds": train_s,
                       "rows": rows, "verdicts": verdicts})
    return tables


def print_tables(tables: list[dict[str, Any]], markdown: bool) -> None:
    for t in tables:
        head = (f"{t['task']}: {t['architectures_trained']} architectures trained (median "
                f"{t['median_training_seconds']:.2f} s each); best validation accuracy of any of them "
                f"{t['best_val_trained']:.2f}")
        print(f"\n### {head}\n" if markdown else f"\n{head}")
        print("| method | seeds | best val acc | its test acc | distinct archs / search | ms per ask+tell | "
              "% of a training |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for m, r in sorted(t["rows"].items(), key=lambda kv: -kv[1]["test"][0]):
            print(f"| {m} | {r['n']} | {fmt_mean_se(*r['val'])} | {fmt_mean_se(*r['test'])} | {r['distinct']:.1f} | "
                  f"{r['ms_per_ask_tell']:.2f} | {r['overhead_pct']:.2f} |")
        if t["verdicts"]:
            title = f"{DEFAULT_STRATEGY} against the best peer:"
            print(f"\n{title}\n" if markdown else title)
            print(f"| figure | {DEFAULT_STRATEGY} | best peer | peer | difference +- se | z | verdict |")
            print("| --- | --- | --- | --- | --- | --- | --- |")
            for fig, name in (("val", "best val acc (feedback)"), ("test", "its test acc (reported)")):
                v = t["verdicts"][fig]
                sat = " (saturated)" if v["saturated"] else ""
                same = f" (= {', '.join(v['same_as'])})" if v["same_as"] else ""
                print(f"| {name} | {fmt_mean_se(*t['rows'][DEFAULT_STRATEGY][fig])} | {v['best_peer']}{same}{sat} | "
                      f"{fmt_mean_se(*t['rows'][v['best_peer']][fig])} | {v['diff']:+.2f} +- {v['se']:.2f} | "
                      f"{v['z']:+.2f} | {v['verdict']} |")


# ----------------------------------------------------------------------------- main


def _names(text: str, known: tuple[str, ...], what: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in names if x not in known]
    if bad or not names:
        raise SystemExit(f"unknown {what} {bad or text!r}; known: {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated: the default strategy and peers")
    ap.add_argument("--seeds", type=int, default=10, help="seeds per method and task (default 10)")
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--trials", type=int, default=40, help="trials per search (default 40)")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs per trial for every task "
                    "(default per task: " + ", ".join(f"{k} {v['epochs']}" for k, v in TRAINING.items()) + ")")
    ap.add_argument("-P", "--space-param", type=key_value, action="append", default=None,
                    help="NB201 space option key=value, repeatable (default C=4 N=1)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes, one torch thread each (default 1)")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/out/default_training, "
                    "with --quick benchmarks/out/default_training_quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 8 trials, 1 epoch")
    ap.add_argument("--analyse", action="store_true", help="only print the tables from the results in --out")
    ap.add_argument("--markdown", action="store_true", help="print markdown headings around the tables")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the analysis to PATH")
    add_snapshot_option(ap)
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.trials, a.epochs = 2, 8, 1
    for name in ("seeds", "trials", "workers"):
        if getattr(a, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if a.epochs is not None and a.epochs < 1:
        ap.error("--epochs must be at least 1")
    tasks = _names(a.tasks, TASKS, "task(s)")
    methods = _names(a.methods, METHODS, "method(s)")
    out = Path(a.out or ("benchmarks/out/default_training_quick" if a.quick else "benchmarks/out/default_training"))
    space_params = dict(a.space_param) if a.space_param else dict(SPACE_PARAMS)
    settings = {t: settings_for(t, space_params, {**TRAINING[t], **({"epochs": a.epochs} if a.epochs else {})})
                for t in tasks}
    sids = {t: settings_id(s) for t, s in settings.items()}
    seeds = range(a.seed_start, a.seed_start + a.seeds)

    if not a.analyse:
        out.mkdir(parents=True, exist_ok=True)
        for t, s in settings.items():
            (out / "cache").mkdir(exist_ok=True)
            (out / "cache" / f"{t}-{sids[t]}.settings.json").write_text(json.dumps(s, indent=1) + "\n")
        done = {(r["task"], r["settings"], r["method"], r["seed"], r["n_trials"]) for r in load_runs(out)}
        # seeds outermost: a stopped run has every method at the same seeds
        jobs = [(str(out), settings[t], m, s, a.trials) for s in seeds for t in tasks for m in methods
                if (t, sids[t], m, s, a.trials) not in done]
        log = stamped_log(time.perf_counter())
        meta = {"machine": machine(with_torch=True, with_load=True),
                "code": code_record(Path(__file__).resolve().parent, snapshot_commit=a.snapshot_commit),
                "command": " ".join(sys.argv), "settings": settings, "trials": a.trials, "seeds": list(seeds),
                "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        with open(out / "runs.log", "a") as fh:
            fh.write(json.dumps(meta) + "\n")
        log(f"{len(jobs)} searches to run ({len(tasks)} tasks x {len(methods)} methods x {a.seeds} seeds x "
            f"{a.trials} trials, less those already in {out}); {a.workers} worker(s); load {os.getloadavg()[0]:.2f}")
        n_done = [0]

        def record(j: tuple[Any, ...], res: dict[str, Any]) -> None:
            with open(out / "runs.jsonl", "a") as fh:
                fh.write(json.dumps(res) + "\n")
            n_done[0] += 1
            b = best_by_feedback(res["trials"])
            gaps = res["overhead_ms"]
            log(f"{res['task']} {res['method']} seed {res['seed']}: best val "
                f"{b['val'] if b else float('nan'):.2f} test {b['test'] if b else float('nan'):.2f}; "
                f"{len(res['trials'])} trials, {res['trained']} trained ({res['train_wall_seconds']:.0f} s), "
                f"{statistics.median(gaps) if gaps else float('nan'):.2f} ms per ask+tell; "
                f"{res['wall_seconds']:.0f} s; {n_done[0]}/{len(jobs)} searches; load {os.getloadavg()[0]:.2f}")

        run_queued(_job, jobs, a.workers, record, log)
    tables = analyse(out, tasks, sids, methods, seeds, a.trials)
    print(f"\n{a.trials} trials per search, seeds {seeds.start}-{seeds.stop - 1}; NB201 "
          + " ".join(f"{k}={v}" for k, v in space_params.items()) + "; "
          + "; ".join(f"{t}: {s['training']['epochs']} epochs, batch {s['training']['batch_size']}"
                      for t, s in settings.items()))
    print_tables(tables, a.markdown)
    if a.json:
        Path(a.json).write_text(json.dumps({"settings": settings, "trials": a.trials, "seeds": list(seeds),
                                            "tables": tables}, indent=1, default=float) + "\n")
    return 0




if __name__ == "__main__":
    sys.exit(main())
