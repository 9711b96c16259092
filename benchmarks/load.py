"""Load: tabular trials through one shared store with several drivers, and through Ray; a training search
through Ray against the process pool.

Drivers (``--stores``, ``--drivers``): for each store (a SQLite file in a temporary directory, opened by
nasforge with WAL journaling and ``synchronous=NORMAL``; a fresh database on a throwaway PostgreSQL server
the script starts with ``nasforge.storage.postgres.throwaway_cluster``, fsync off) and each driver
count d, d driver processes (``sys.executable -c``, ``OMP_NUM_THREADS=1``, one torch thread if torch is
loaded) each build the ``nb201`` benchmark (CIFAR-10, protocol ``nb201``: a lookup of the 12-epoch
validation accuracy) and ``create_strategy("random", space, seed=--seed)`` (the same seed: a joined
driver takes a random stream of its own), open ``Study(..., name="load", storage=URL, join=True)``
(heartbeat 10 s, stale after 60 s: the defaults) and run ``optimize(n_trials=--trials)`` on the one
study; the budget counts every driver's trials and may be overshot by a few (about one per driver).
Imports, the table and the study are set up first; then each driver says it is ready and waits for a
go file, so the timed part starts together. Timed: from the go to the exit of the last driver
(``seconds``); the go to the last ``optimize`` return is recorded beside it (``opt. s``).
trials/s = finished trials in the store / seconds. Each driver's own trials are counted (the store's
``worker`` column).

Ray (``--ray-workers``, ``--skip-ray``): one driver, the same way, on a SQLite store, with
``make_executor("ray", benchmark, workers=w, threads=1, cpus_per_trial=min(1, cores / w))`` built
before the go (it starts a local Ray instance with num_cpus = cores): on 2 cores, 4 workers get 0.5
CPU each so that 4 trials run at once. The start of Ray's worker processes and the executor's
``shutdown()`` (``ray.shutdown``) are inside the timed part.

The consistency check after every run, on the store read back with ``get_storage(url,
read_only=True)``: trial numbers are 0..n-1, each once; n >= ``--trials`` (the overshoot n - trials is
reported); every trial is ``complete`` (none ``running``, ``failed`` or ``interrupted``: any is
reported with its error); every complete trial has the objective metric in its metrics and a value
equal to it; the drivers' own counts add up to n. PASS or FAIL per run; exit status 1 if any run
fails its check or errors.

Order: in each of ``--repeats`` repeats (default 1), for each driver count the stores in turn, then the
Ray worker counts; every run on a fresh database. Reported per configuration: medians over the repeats
and ratios of median trials/s: d drivers / 1 driver (per store), PostgreSQL / SQLite (per d), Ray w
workers / 1 worker, and Ray w workers / SQLite with 1 plain driver.

Training (``--skip-training``): ``nasforge.api.search(task="digits", space="nb201",
space_options={"C": 8, "N": 1}, strategy="random", seed=--seed, n_trials=8, training_options={"epochs": 3,
"threads": 1}, workers=2, executor="process" | "ray", storage=None)`` (``--train-task mnist1d``,
``--train-trials``, ``--train-epochs``, ``--train-workers``, ``--train-C``, ``--train-N``), each run in a
fresh process: imports of torch, nasforge and ray untimed; the whole ``search`` call timed (loading the
task, building the study, starting the executor, Ray's local instance included, the trials, and the
shutdown). Median wall seconds over ``--train-repeats`` (default 3; ``--repeats`` when given), run
interleaved with the order alternating, and the ratio ray / process. Random search proposes the same
architectures whatever the order results arrive in, so every search must train the same set (checked:
a difference fails the run).

Figures measured on a busy machine are not the measurement: the JSON records the load average at start
and end of every run.

    .venv/bin/python benchmarks/load.py                                       # full size: 10,000 trials
    .venv/bin/python benchmarks/load.py --trials 300 --repeats 1 --train-trials 4 --train-epochs 1 \\
        --out benchmarks/results/load_quick.json                              # quick (about 1.5 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from _common import (add_snapshot_option, code_record, command_line, machine, new_code, stamped_log,
                     write_json)  # benchmarks/_common.py (scripts run from benchmarks/)

HERE = Path(__file__).resolve().parent
STUDY = "load"


# ----------------------------------------------------------------------------- child processes
def _child_env() -> dict[str, str]:
    """The environment of a child: one compute thread, and ``benchmarks/`` and the nasforge this process
    imported first on the path (a frozen copy given through PYTHONPATH stays the one the children run)."""
    import nasforge

    pkg_parent = str(Path(nasforge.__file__).resolve().parent.parent)
    path = [str(HERE), pkg_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE"}


def _start_child(fn: str, spec: dict[str, Any], log_prefix: Path) -> subprocess.Popen:
    """``sys.executable -c 'from load import <fn>; <fn>(spec)'``, its output into ``<log_prefix>.out/.err``."""
    code = f"import sys; from load import {fn}; {fn}(sys.argv[1])"
    out = open(f"{log_prefix}.out", "w")
    err = open(f"{log_prefix}.err", "w")
    try:
        return subprocess.Popen([sys.executable, "-c", code, json.dumps(spec)], env=_child_env(), stdout=out,
                                stderr=err, cwd=str(HERE))
    finally:
        out.close()
        err.close()


def _write_result(path: str, res: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(res, fh)
    os.replace(tmp, path)


def _one_thread() -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def driver(spec_json: str) -> None:
    """One driver process: set up, say ready, wait for the go, run the study, write its result file."""
    a = json.loads(spec_json)
    res: dict[str, Any] = {"pid": os.getpid()}
    code = 0
    ex = study = None
    try:
        from nasforge.registry import create_benchmark, create_strategy
        from nasforge.study import Study

        bench = create_benchmark("nb201", dataset="cifar10", protocol="nb201", data_dir=a.get("data_dir"))
        space = bench.space
        study = Study(space, create_strategy("random", space, seed=a["seed"]), bench, name=STUDY,
                      storage=a["url"], join=True)
        if a.get("ray_workers"):
            from nasforge.executors import make_executor

            ex = make_executor("ray", bench, workers=a["ray_workers"], threads=1,
                               cpus_per_trial=a["cpus_per_trial"])
        _one_thread()
        from _common import src_digest

        res.update(worker=study.worker, nasforge_src_sha1=src_digest())
        barrier = Path(a["barrier"])
        (barrier / f"ready-{os.getpid()}").touch()
        go = barrier / "go"
        while not go.exists():
            time.sleep(0.005)
        res["t_go_seen"] = time.time()
        study.optimize(n_trials=a["trials"], executor=ex)
        res["t_optimize_end"] = time.time()
        if ex is not None:
            ex.shutdown()
            ex = None
        res["t_shutdown_end"] = time.time()
        res["own_trials"] = sum(1 for r in study.trials if r.worker == study.worker)
        res["seen_trials"] = study.n_trials
    except BaseException as exc:  # recorded for the parent, which reports it
        res.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    finally:
        if ex is not None:
            try:
                ex.shutdown(cancel=True)
            except Exception:
                pass
        if study is not None:
            try:
                study.close()
            except Exception:
                pass
    _write_result(a["result"], res)
    sys.exit(code)


def training_run(spec_json: str) -> None:
    """One training search in this (fresh) process; writes wall seconds and the trials to the result file."""
    a = json.loads(spec_json)
    res: dict[str, Any] = {"kind": a["kind"], "pid": os.getpid()}
    try:
        import torch

        torch.set_num_threads(1)
        import importlib

        from nasforge import api

        # import costs outside the timed part (Ray's start, the executor's, is timed)
        for module in ["nasforge.data", "nasforge.evaluators.training"] + (["ray"] if a["kind"] == "ray" else []):
            importlib.import_module(module)
        from _common import src_digest

        res["nasforge_src_sha1"] = src_digest()
        res["loadavg_1min_at_start"] = os.getloadavg()[0]
        t0 = time.perf_counter()
        study = api.search(task=a["task"], space="nb201", space_options={"C": a["C"], "N": a["N"]},
                           strategy="random", seed=a["seed"], n_trials=a["trials"],
                           training_options={"epochs": a["epochs"], "threads": 1}, workers=a["workers"],
                           executor=a["kind"], storage=None)
        res["wall_seconds"] = time.perf_counter() - t0
        res["loadavg_1min_at_end"] = os.getloadavg()[0]
        trials = sorted(study.trials, key=lambda r: r.number)
        res["archs"] = [r.arch for r in trials]
        res["values"] = [r.value for r in trials]
        res["statuses"] = dict(Counter(r.status for r in trials))
        res["errors"] = sorted({r.error for r in trials if r.error})[:5]
        res["trial_seconds_sum"] = sum(float(r.metrics.get("wall_seconds", 0.0)) for r in trials
                                       if r.duplicate_of is None)
        study.close()
    except BaseException as exc:
        res.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    _write_result(a["result"], res)


# ----------------------------------------------------------------------------- the parent's side
def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text()[-n:]
    except OSError:
        return ""


def run_drivers(url: str, n_drivers: int, a: argparse.Namespace, run_dir: Path,
                ray_workers: int = 0, cpus_per_trial: float = 1.0) -> dict[str, Any]:
    """Start ``n_drivers`` drivers on the study at ``url``, wait until all are ready, give the go, wait for
    them all; the seconds, the drivers' results and any error."""
    run_dir.mkdir(parents=True)
    procs = []
    for i in range(n_drivers):
        spec = {"url": url, "trials": a.trials, "seed": a.seed, "barrier": str(run_dir), "data_dir": a.data_dir,
                "result": str(run_dir / f"result-{i}.json"), "ray_workers": ray_workers,
                "cpus_per_trial": cpus_per_trial}
        procs.append(_start_child("driver", spec, run_dir / f"driver-{i}"))
    out: dict[str, Any] = {"loadavg_1min_at_start": os.getloadavg()[0]}
    deadline = time.monotonic() + a.timeout
    try:
        while len(list(run_dir.glob("ready-*"))) < n_drivers:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a driver ended before the go")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the drivers were not ready after {a.timeout:g} s")
            time.sleep(0.02)
        t_go = time.time()
        (run_dir / "go").touch()
        for p in procs:
            left = deadline - time.monotonic()
            p.wait(timeout=max(1.0, left))
        t_end = time.time()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        _stop(procs)
        out["error"] = str(exc) if not isinstance(exc, subprocess.TimeoutExpired) else \
            f"the drivers had not finished after {a.timeout:g} s (killed)"
        t_go = t_end = None
    out["loadavg_1min_at_end"] = os.getloadavg()[0]
    drivers = []
    for i, p in enumerate(procs):
        f = run_dir / f"result-{i}.json"
        res = json.loads(f.read_text()) if f.exists() else {"error": "no result file"}
        res["returncode"] = p.returncode
        if p.returncode != 0 and "traceback" not in res:
            res["stderr_tail"] = _tail(run_dir / f"driver-{i}.err")
        drivers.append(res)
    out["drivers"] = drivers
    errors = [d["error"] for d in drivers if "error" in d] + [f"driver exit status {d['returncode']}"
                                                              for d in drivers if d["returncode"] not in (0, None)]
    if errors:
        out["error"] = "; ".join(([out["error"]] if "error" in out else []) + sorted(set(errors)))
    if t_go is not None and t_end is not None:
        out["seconds"] = t_end - t_go
        ends = [d.get("t_optimize_end") for d in drivers]
        if all(e is not None for e in ends):
            out["optimize_seconds"] = max(ends) - t_go
        shut = [d.get("t_shutdown_end") for d in drivers]
        if all(e is not None for e in shut):
            out["shutdown_seconds"] = max(shut) - max(ends)
        seen = [d.get("t_go_seen") for d in drivers if d.get("t_go_seen")]
        if seen:
            out["go_latency_max_seconds"] = max(seen) - t_go
    return out


def check_store(url: str, trials: int, objective: str, drivers: list[dict[str, Any]]) -> dict[str, Any]:
    """The consistency check of the study in ``url`` (see the module's docstring)."""
    from nasforge.storage import get_storage

    store = get_storage(url, read_only=True)
    try:
        records = store.trials(STUDY)
    finally:
        store.close()
    numbers = [r.number for r in records]
    n = len(records)
    statuses = Counter(r.status for r in records)
    complete = [r for r in records if r.status == "complete"]
    no_metric = [r.number for r in complete if objective not in r.metrics or r.value is None]
    mismatch = [r.number for r in complete if objective in r.metrics and r.value is not None
                and float(r.metrics[objective]) != float(r.value)]
    bad = [r for r in records if r.status != "complete"]
    per_worker = Counter(r.worker for r in records)
    own = {d.get("worker"): d.get("own_trials") for d in drivers}
    own_ok = all(per_worker.get(w, 0) == c for w, c in own.items() if w is not None and c is not None) and \
        sum(c for c in own.values() if c is not None) == n
    finished = sum(1 for r in records if r.status in ("complete", "failed"))
    checks = {
        "numbers_0_to_n_minus_1_once": sorted(numbers) == list(range(n)) and len(set(numbers)) == n,
        "at_least_the_budget": n >= trials,
        "all_complete": not bad,
        "objective_metric_and_value": not no_metric and not mismatch,
        "driver_counts_add_up": own_ok,
    }
    return {
        "trials_in_store": n, "finished": finished, "complete": len(complete), "overshoot": n - trials,
        "statuses": dict(statuses), "running": statuses.get("running", 0), "failed": statuses.get("failed", 0),
        "interrupted": statuses.get("interrupted", 0),
        "not_complete_examples": [{"number": r.number, "status": r.status, "error": r.error, "worker": r.worker}
                                  for r in bad[:10]],
        "without_objective_metric_or_value": no_metric[:20], "value_differs_from_metric": mismatch[:20],
        "duplicates_answered": sum(1 for r in records if r.duplicate_of is not None),
        "retries": sum(1 for r in records if r.retry_of is not None),
        "per_driver": {str(w): c for w, c in sorted(per_worker.items(), key=lambda x: str(x[0]))},
        "drivers_own_counts": {str(w): c for w, c in own.items()},
        "checks": checks, "pass": all(checks.values()),
    }


def load_run(label: str, store_kind: str, url: str, n: int, a: argparse.Namespace, run_dir: Path,
             objective: str, ray_workers: int = 0, cpus_per_trial: float = 1.0) -> dict[str, Any]:
    """One timed run and its consistency check."""
    res = run_drivers(url, 1 if ray_workers else n, a, run_dir, ray_workers, cpus_per_trial)
    res.update(label=label, store=store_kind, n=n)
    if ray_workers:
        res.update(executor="ray", workers=ray_workers, cpus_per_trial=cpus_per_trial)
    else:
        res.update(executor="serial", n_drivers=n)
    try:
        res["consistency"] = check_store(url, a.trials, objective, res["drivers"])
    except Exception as exc:  # the store could not be read back
        res["consistency"] = {"pass": False, "error": f"{type(exc).__name__}: {exc}",
                              "traceback": traceback.format_exc()}
    c = res["consistency"]
    if "seconds" in res and "complete" in c:
        res["trials_per_second"] = c["finished"] / res["seconds"]
        if res.get("optimize_seconds"):
            res["trials_per_second_to_optimize_end"] = c["finished"] / res["optimize_seconds"]
    res["pass"] = bool(c.get("pass")) and "error" not in res
    return res


def describe_run(r: dict[str, Any]) -> str:
    c = r["consistency"]
    if "seconds" not in r:
        return f"{r['label']}: ERROR {r.get('error')}; consistency {'PASS' if c.get('pass') else 'FAIL'}"
    per = "/".join(str(v) for v in c.get("per_driver", {}).values())
    return (f"{r['label']}: {c.get('finished')} trials in {r['seconds']:.1f} s = {r['trials_per_second']:.1f} "
            f"trials/s (to last optimize end {r.get('optimize_seconds', float('nan')):.1f} s), overshoot "
            f"{c.get('overshoot')}, per driver {per}, statuses {c.get('statuses')}, consistency "
            f"{'PASS' if c.get('pass') else 'FAIL ' + str({k: v for k, v in c.get('checks', {}).items() if not v})}"
            + (f"; ERROR {r['error']}" if "error" in r else ""))


def training_once(kind: str, a: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """One training search in a fresh process, waited for."""
    run_dir.mkdir(parents=True)
    spec = {"kind": kind, "task": a.train_task, "C": a.train_C, "N": a.train_N, "seed": a.seed,
            "trials": a.train_trials, "epochs": a.train_epochs, "workers": a.train_workers,
            "result": str(run_dir / "result.json")}
    p = _start_child("training_run", spec, run_dir / "search")
    try:
        p.wait(timeout=a.timeout)
    except subprocess.TimeoutExpired:
        _stop([p])
        return {"kind": kind, "error": f"not finished after {a.timeout:g} s (killed)"}
    f = run_dir / "result.json"
    res = json.loads(f.read_text()) if f.exists() else {"kind": kind, "error": "no result file",
                                                         "stderr_tail": _tail(run_dir / "search.err")}
    res["returncode"] = p.returncode
    if p.returncode != 0 and "error" not in res:
        res["error"] = f"exit status {p.returncode}"
        res["stderr_tail"] = _tail(run_dir / "search.err")
    return res


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def summarise_load(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per configuration (label): medians over the repeats, worst overshoot, PASS when every repeat passed."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        s = out.setdefault(r["label"], {"store": r["store"], "executor": r["executor"], "n": r["n"],
                                        "seconds": [], "optimize_seconds": [], "trials_per_second": [],
                                        "finished": [],
                                        "overshoot": [], "pass": True, "errors": []})
        c = r["consistency"]
        if "seconds" in r:
            s["seconds"].append(r["seconds"])
            s["trials_per_second"].append(r["trials_per_second"])
            if "optimize_seconds" in r:
                s["optimize_seconds"].append(r["optimize_seconds"])
        if "finished" in c:
            s["finished"].append(c["finished"])
            s["overshoot"].append(c["overshoot"])
        s["pass"] = s["pass"] and r["pass"]
        if "error" in r:
            s["errors"].append(r["error"])
    for s in out.values():
        s["median_seconds"] = _median(s["seconds"])
        s["median_optimize_seconds"] = _median(s["optimize_seconds"])
        s["median_trials_per_second"] = _median(s["trials_per_second"])
        s["max_overshoot"] = max(s["overshoot"]) if s["overshoot"] else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=10000, help="tabular trials per run, the whole study's (10000)")
    p.add_argument("--drivers", default="1,2,4", help="driver counts (default 1,2,4)")
    p.add_argument("--stores", default="sqlite,postgresql", help="stores (default sqlite,postgresql)")
    p.add_argument("--ray-workers", default="1,2,4", help="Ray worker counts, one driver, SQLite (default 1,2,4)")
    p.add_argument("--skip-ray", action="store_true", help="no Ray runs (load and training)")
    p.add_argument("--skip-training", action="store_true", help="no training searches")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of every run (default 1 for the load runs, 3 for the training searches)")
    p.add_argument("--train-repeats", type=int, default=None, help="repeats of the training searches "
                   "(default: --repeats when given, else 3)")
    p.add_argument("--seed", type=int, default=0, help="strategy seed of every driver and search (default 0)")
    p.add_argument("--train-task", default="digits", help="training task: digits or mnist1d (default digits)")
    p.add_argument("--train-trials", type=int, default=8, help="trials of the training search (default 8)")
    p.add_argument("--train-epochs", type=int, default=3, help="epochs per training trial (default 3)")
    p.add_argument("--train-workers", type=int, default=2, help="workers of the training search (default 2)")
    p.add_argument("--train-C", type=int, default=8, help="NB201 network channels (default 8)")
    p.add_argument("--train-N", type=int, default=1, help="NB201 network cells per stage (default 1)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before a run is killed (default 3600)")
    p.add_argument("--tmpdir", default=None, help="where the SQLite files and run directories go (default: the "
                   "system temp dir)")
    p.add_argument("--data-dir", default=None, help="directory holding nb201/nb201.csv (default: nasforge's)")
    p.add_argument("--out", default=str(HERE / "results" / "load.json"),
                   help="the JSON document (default benchmarks/results/load.json; '' for none)")
    p.add_argument("--json", action="store_true", help="print the JSON document as well")
    add_snapshot_option(p)
    a = p.parse_args(argv)
    try:
        drivers = [int(x) for x in a.drivers.split(",") if x.strip()]
        ray_workers = [] if a.skip_ray else [int(x) for x in a.ray_workers.split(",") if x.strip()]
    except ValueError:
        p.error("--drivers and --ray-workers take comma-separated integers")
    stores = [s.strip() for s in a.stores.split(",") if s.strip()]
    if any(s not in ("sqlite", "postgresql") for s in stores):
        p.error("--stores takes sqlite and/or postgresql")
    load_repeats = a.repeats if a.repeats is not None else 1
    train_repeats = a.train_repeats if a.train_repeats is not None else (a.repeats if a.repeats is not None else 3)
    if min([a.trials, load_repeats, train_repeats, a.train_trials, a.train_epochs, a.train_workers,
            *drivers, *ray_workers] or [1]) < 1:
        p.error("counts must be positive")
    a.data_dir = a.data_dir or None

    import sqlite3

    from nasforge.registry import create_benchmark

    objective = create_benchmark("nb201", dataset="cifar10", protocol="nb201", data_dir=a.data_dir).objective
    info = machine(with_load=True)
    code = code_record(HERE, snapshot_commit=a.snapshot_commit)
    digests = {code["nasforge_src_sha1"]}
    log = stamped_log(time.perf_counter())
    cores = os.cpu_count() or 1
    versions: dict[str, Any] = {"sqlite": sqlite3.sqlite_version}
    runs: list[dict[str, Any]] = []
    training: dict[str, list[dict[str, Any]]] = {}
    t_start = time.perf_counter()

    def note_code(res: dict[str, Any], label: str) -> None:
        for d in res.get("drivers", [res]):
            if new_code(d, digests):
                log(f"WARNING: {label} ran other nasforge code (source digest {d['nasforge_src_sha1'][:12]}): "
                    f"the package was edited during the run")

    with tempfile.TemporaryDirectory(prefix="nasforge-load-", dir=a.tmpdir) as tmp:
        tmpdir = Path(tmp)
        count = 0

        def run_dir(name: str) -> Path:
            nonlocal count
            count += 1
            return tmpdir / f"{count:03d}-{name}"

        def pg_runs(pg_url: str | None, pg_error: str | None) -> None:
            for rep in range(load_repeats):
                for n in drivers:
                    for store in stores:
                        label = f"{store}, {n} driver{'s' if n > 1 else ''}"
                        rd = run_dir(f"{store}-{n}")
                        if store == "sqlite":
                            url = f"sqlite:///{rd}.db"
                        elif pg_url is None:
                            res = {"label": label, "store": store, "executor": "serial", "n": n, "drivers": [],
                                   "error": pg_error, "consistency": {"pass": False}, "pass": False}
                            runs.append(res)
                            log(f"repeat {rep + 1}/{load_repeats}: {describe_run(res)}")
                            continue
                        else:
                            from nasforge.storage.postgres import create_database

                            url = create_database(pg_url, f"load_{rd.name.replace('-', '_')}")
                        res = load_run(label, store, url, n, a, rd, objective)
                        res["repeat"] = rep
                        runs.append(res)
                        note_code(res, label)
                        log(f"repeat {rep + 1}/{load_repeats}: {describe_run(res)}")
                        if store == "sqlite":  # free the space
                            for f in tmpdir.glob(f"{rd.name}.db*"):
                                f.unlink()
                for w in ray_workers:
                    cpt = min(1.0, cores / w)
                    label = f"ray, {w} worker{'s' if w > 1 else ''}"
                    rd = run_dir(f"ray-{w}")
                    res = load_run(label, "sqlite", f"sqlite:///{rd}.db", w, a, rd, objective, ray_workers=w,
                                   cpus_per_trial=cpt)
                    res["repeat"] = rep
                    runs.append(res)
                    note_code(res, label)
                    log(f"repeat {rep + 1}/{load_repeats}: {describe_run(res)}")
                    for f in tmpdir.glob(f"{rd.name}.db*"):
                        f.unlink()

        if drivers or ray_workers:
            if "postgresql" in stores and drivers:
                from nasforge.errors import StorageError
                from nasforge.storage.postgres import throwaway_cluster

                try:
                    with throwaway_cluster() as pg_url:
                        import sqlalchemy as sa

                        eng = sa.create_engine(pg_url)
                        with eng.connect() as conn:
                            versions["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar()
                        eng.dispose()
                        log(f"PostgreSQL {versions['postgresql']} started (throwaway cluster, fsync off)")
                        pg_runs(pg_url, None)
                except StorageError as exc:
                    log(f"PostgreSQL: {exc}")
                    pg_runs(None, str(exc))
            else:
                pg_runs(None, "not started")

        if not a.skip_training:
            kinds = ["process"] + ([] if a.skip_ray else ["ray"])
            training = {k: [] for k in kinds}
            for rep in range(train_repeats):
                for k in (kinds if rep % 2 == 0 else kinds[::-1]):
                    res = training_once(k, a, run_dir(f"train-{k}"))
                    training[k].append(res)
                    note_code(res, f"training {k}")
                    if "error" in res:
                        log(f"training repeat {rep + 1}/{train_repeats}: {k}: ERROR {res['error']}")
                    else:
                        log(f"training repeat {rep + 1}/{train_repeats}: {k}, {a.train_workers} workers: "
                            f"{res['wall_seconds']:.1f} s, statuses {res['statuses']}")
    elapsed = time.perf_counter() - t_start

    try:
        import ray

        versions["ray"] = ray.__version__
    except ImportError:
        pass
    summary = summarise_load(runs)
    ratios: dict[str, float] = {}
    for label, s in summary.items():  # against one driver (one worker) of the same store / executor
        base = next((b for b in summary.values() if b["store"] == s["store"] and b["executor"] == s["executor"]
                     and b["n"] == 1), None)
        if base is not None and s["n"] != 1 and s["median_trials_per_second"] and base["median_trials_per_second"]:
            ratios[f"{label} / 1"] = s["median_trials_per_second"] / base["median_trials_per_second"]
    for n in drivers:
        pg = summary.get(f"postgresql, {n} driver{'s' if n > 1 else ''}")
        sq = summary.get(f"sqlite, {n} driver{'s' if n > 1 else ''}")
        if pg and sq and pg["median_trials_per_second"] and sq["median_trials_per_second"]:
            ratios[f"postgresql / sqlite, {n} driver{'s' if n > 1 else ''}"] = \
                pg["median_trials_per_second"] / sq["median_trials_per_second"]
    sq1 = summary.get("sqlite, 1 driver")
    for w in ray_workers:  # Ray against the plain driver on the same store
        ry = summary.get(f"ray, {w} worker{'s' if w > 1 else ''}")
        if ry and sq1 and ry["median_trials_per_second"] and sq1["median_trials_per_second"]:
            ratios[f"ray, {w} worker{'s' if w > 1 else ''} / sqlite, 1 driver"] = \
                ry["median_trials_per_second"] / sq1["median_trials_per_second"]

    train_out: dict[str, Any] = {}
    train_ok = True
    if training:
        ok_runs = {k: [r for r in v if "error" not in r] for k, v in training.items()}
        med = {k: _median([r["wall_seconds"] for r in v]) for k, v in ok_runs.items()}
        sets = [sorted(r["archs"]) for v in ok_runs.values() for r in v]
        same = bool(sets) and all(s == sets[0] for s in sets)
        failed_trials = sum(sum(n for st, n in r["statuses"].items() if st != "complete")
                            for v in ok_runs.values() for r in v)
        train_ok = all("error" not in r for v in training.values() for r in v) and same
        train_out = {
            "task": a.train_task, "space": {"name": "nb201", "C": a.train_C, "N": a.train_N}, "strategy": "random",
            "seed": a.seed, "trials": a.train_trials, "epochs": a.train_epochs, "workers": a.train_workers,
            "repeats": train_repeats,
            "configs": {k: {"median_s": med[k], "all_s": [r["wall_seconds"] for r in ok_runs[k]],
                            "trial_seconds_sum": [r["trial_seconds_sum"] for r in ok_runs[k]]} for k in training},
            "runs": training, "same_architectures": same, "failed_trials": failed_trials,
        }
        if med.get("ray") and med.get("process"):
            train_out["ratio_ray_over_process"] = med["ray"] / med["process"]
    ok = all(s["pass"] for s in summary.values()) and train_ok
    out = {
        "benchmark": "load", "trials": a.trials, "repeats": load_repeats, "seed": a.seed, "objective": objective,
        "drivers": drivers, "stores": stores, "ray_workers": ray_workers,
        "ray_cpus_per_trial": {str(w): min(1.0, cores / w) for w in ray_workers},
        "study_options": {"join": True, "heartbeat": 10.0, "stale_after": 60.0},
        "runs": runs, "summary": summary, "ratios_of_medians": ratios, "training": train_out, "pass": ok,
        "versions": versions, "elapsed_seconds": elapsed,
        "machine": {**info, "loadavg_at_end": list(os.getloadavg())}, "code": code, "command": command_line(),
    }
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(out, a.out or None, a.json)

    if summary:
        print()
        print(f"load: {a.trials} tabular NB201 trials (random search, seed {a.seed}) per run, medians of "
              f"{load_repeats} repeat(s); seconds from the go to the last driver's exit (opt. s: to the last "
              f"optimize() return, before the executor's shutdown and the exit)")
        head = (f"{'store / executor':<16} {'drv/wrk':>7} {'trials':>7} {'seconds':>8} {'opt. s':>7} "
                f"{'trials/s':>9} {'overshoot':>9} {'per driver':<22} {'consistency':<11}")
        print(head)
        print("-" * len(head))
        last = {r["label"]: r for r in runs}
        for label, s in summary.items():
            kind = "ray (sqlite)" if s["executor"] == "ray" else s["store"]
            fin = _median(s["finished"])
            per = "/".join(str(v) for v in last[label]["consistency"].get("per_driver", {}).values()) \
                if s["executor"] != "ray" else "-"
            secs, tps, opt = s["median_seconds"], s["median_trials_per_second"], s["median_optimize_seconds"]
            print(f"{kind:<16} {s['n']:>7} {'-' if fin is None else int(fin):>7} "
                  f"{'-' if secs is None else f'{secs:.1f}':>8} {'-' if opt is None else f'{opt:.1f}':>7} "
                  f"{'-' if tps is None else f'{tps:.1f}':>9} "
                  f"{'-' if s['max_overshoot'] is None else s['max_overshoot']:>9} {per:<22} "
                  f"{'PASS' if s['pass'] else 'FAIL':<11}" + (f" {s['errors'][0][:200]}" if s["errors"] else ""))
        for name, v in ratios.items():
            print(f"ratio of trials/s: {name:<44} {v:6.2f}")
    if train_out:
        print()
        print(f"training: {a.train_trials} trials of random search (seed {a.seed}) over NB201 C={a.train_C} "
              f"N={a.train_N} on {a.train_task}, {a.train_epochs} epochs each, {a.train_workers} workers; wall "
              f"seconds of api.search in a fresh process, median of {train_repeats}")
        for k, c in train_out["configs"].items():
            vals = ", ".join(f"{x:.1f}" for x in c["all_s"])
            m = "-" if c["median_s"] is None else f"{c['median_s']:.1f}"
            print(f"  {k:<8} median {m:>7} s   ({vals})")
        if "ratio_ray_over_process" in train_out:
            print(f"  ratio ray / process {train_out['ratio_ray_over_process']:.2f}")
        print(f"  same architectures in every search: {'yes' if train_out['same_architectures'] else 'NO'}; "
              f"trials not complete: {train_out['failed_trials']}")
        for k, v in training.items():
            for r in v:
                if "error" in r:
                    print(f"  {k}: ERROR {r['error']}")
    print(f"{'PASS' if ok else 'FAIL'}: every store consistent{'' if train_ok else '; training FAILED'}   "
          f"({elapsed:.0f} s){'   -> ' + a.out if a.out else ''}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
