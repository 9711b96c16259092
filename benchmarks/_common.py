"""What the benchmark scripts share: what they record about the machine and the code they ran, the worker
processes their jobs run in (one at a time, or a queue of them), the jobs several scripts run (REA at a
wall-clock budget, retraining architectures), and the mean +- standard error of their tables.

Every function a process pool runs under ``spawn`` is module-level here, so a worker imports it by name
(a spawned worker gets the parent's ``sys.path``, which holds ``benchmarks/``)."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable


def machine(with_torch: bool = False, with_load: bool = False) -> dict[str, Any]:
    """CPU model, cores, Python; with ``with_torch`` torch's version and threads; with ``with_load``
    the load average now (the machines are shared: a figure measured under load says so)."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"arch": platform.machine(), "nproc": os.cpu_count(), "cpu": cpu,
                            "python": platform.python_version()}
    if with_torch:
        import torch

        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    if with_load:
        info["loadavg_at_start"] = list(os.getloadavg())
    return info


def command_line() -> str:
    """The command that ran this script, as recorded beside its figures."""
    return " ".join([os.path.basename(sys.executable)] + sys.argv)


def write_json(out: dict[str, Any], save: str | None, as_json: bool) -> None:
    """Write the JSON document to ``save`` (when given) and print it (when ``as_json``)."""
    if save:
        with open(save, "w") as fh:
            json.dump(out, fh, indent=2)
    if as_json:
        print(json.dumps(out, indent=2))


def stamped_log(t_start: float) -> Callable[[str], None]:
    """A ``log(msg)`` that prints ``msg`` after the seconds since ``t_start`` (``time.perf_counter()``)."""

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.0f} s] {msg}", flush=True)

    return log


# ----------------------------------------------------------------------------- the code that ran
def dir_digest(root: Path) -> str:
    """SHA-1 of the Python files under ``root`` (their paths relative to ``root`` and their bytes, in
    sorted order)."""
    import hashlib

    h = hashlib.sha1()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def src_digest() -> str:
    """:func:`dir_digest` of the imported nasforge package: every job must have run the same code (the
    source may be edited while a benchmark runs; run it on a frozen copy, see RESULTS.md)."""
    import nasforge

    return dir_digest(Path(nasforge.__file__).resolve().parent)


def git_head(where: Path) -> str | None:
    """The commit checked out in the git checkout holding ``where`` (None outside one)."""
    return subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or None


def snapshot_check(commit: str, digest: str, repo: Path) -> dict[str, Any]:
    """Whether the package imported (``digest``) is ``src/`` of ``commit`` (the frozen copy's commit)."""
    import tempfile

    top = subprocess.run(["git", "-C", str(repo), "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True).stdout.strip() or str(repo)
    repo = Path(top)
    full = subprocess.run(["git", "-C", str(repo), "rev-parse", commit], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as d:
        arch = subprocess.run(["git", "-C", str(repo), "archive", full or commit, "src"], capture_output=True)
        subprocess.run(["tar", "-x", "-C", d], input=arch.stdout, check=False)
        theirs = dir_digest(Path(d) / "src" / "nasforge") if (Path(d) / "src" / "nasforge").is_dir() else None
    return {"snapshot_commit": full or commit, "snapshot_src_sha1": theirs, "snapshot_matches_imported": theirs == digest}


def code_record(here: Path, head_key: str = "checkout_git_head",
                snapshot_commit: str | None = None) -> dict[str, Any]:
    """The code a run starts with: ``nasforge_path`` and ``nasforge_src_sha1`` (:func:`src_digest`) of the
    imported package, the checkout's HEAD under ``head_key``; with ``snapshot_commit``, :func:`snapshot_check`
    against it (a warning is printed when the imported package is not that commit's ``src/``)."""
    import nasforge

    code = {"nasforge_path": str(Path(nasforge.__file__).resolve().parent), "nasforge_src_sha1": src_digest(),
            head_key: git_head(here)}
    if snapshot_commit:
        code.update(snapshot_check(snapshot_commit, code["nasforge_src_sha1"], here))
        if not code["snapshot_matches_imported"]:
            print(f"WARNING: the imported nasforge is not src/ of {snapshot_commit}", flush=True)
    return code


def new_code(res: dict[str, Any], digests: set[str]) -> bool:
    """Whether the job result ``res`` ran package source (``nasforge_src_sha1``) not in ``digests`` yet
    (it is added): the package was edited during the run."""
    d = res.get("nasforge_src_sha1")
    if d and d not in digests:
        digests.add(d)
        return True
    return False


def check_job(res: dict[str, Any], label: str, digests: set[str], errors: list[str],
              log: Callable[[str], None]) -> bool:
    """What a script does with each job's result ``res``: warn when it ran other package source
    (:func:`new_code`), and on an error append ``"<label>: <error>"`` to ``errors`` and log it with its
    traceback. Returns whether the job succeeded (the caller then logs its own line)."""
    if new_code(res, digests):
        log(f"WARNING: {label} ran other nasforge code")
    if "error" in res:
        errors.append(f"{label}: {res['error']}")
        log(f"FAILED {label}: {res['error']}\n{res.get('traceback', '')}")
        return False
    return True


# ----------------------------------------------------------------------------- worker side
def worker_init() -> None:
    """Process-pool initializer: one torch (and OpenMP) thread in the worker."""
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def key_value(text: str) -> tuple[str, Any]:
    """An argparse ``type`` for ``key=value`` (``-P C=8``): the value parsed as JSON when it parses, else the string."""
    import argparse

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def run_queued(fn: Callable[[Any], Any], jobs: list[Any], workers: int, on_result: Callable[[Any, Any], None],
               log: Callable[[str], None], queue: int = 2) -> int:
    """``fn(job)`` for every job in ``workers`` spawned processes (:func:`worker_init`: one thread each), at most
    ``queue`` x ``workers`` submitted at a time (a bounded queue keeps the pool busy without submitting
    thousands of futures at once); ``on_result(job, result)`` in the parent as each finishes. A job that
    raises is logged and the rest go on. Returns how many finished."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    it = iter(jobs)

    def take(n: int) -> list[Any]:
        out = []
        for job in it:
            out.append(job)
            if len(out) == n:
                break
        return out

    done = 0
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=worker_init) as pool:
        live = {pool.submit(fn, j): j for j in take(queue * workers)}
        while live:
            finished, _ = wait(live, return_when=FIRST_COMPLETED)
            for f in finished:
                job = live.pop(f)
                try:
                    res = f.result()
                except Exception as exc:  # noqa: BLE001 - a failed job is reported, the rest go on
                    log(f"FAILED {job}: {type(exc).__name__}: {exc}")
                    continue
                done += 1
                on_result(job, res)
            for j in take(len(finished)):
                live[pool.submit(fn, j)] = j
    return done


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (``ru_maxrss``: KB on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def guarded(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``fn`` returning its dict with ``wall_seconds`` and the 1-minute load average at start and end added;
    an exception becomes ``{"error", "traceback"}`` (recorded in the JSON, never hides the other jobs)."""

    def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:  # recorded in the JSON, reported, never hides the rest
            out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        out.update(wall_seconds=time.perf_counter() - t0, loadavg_1min_at_start=load0,
                   loadavg_1min_at_end=os.getloadavg()[0])
        return out

    run.__name__ = fn.__name__
    return run


def run_job(fn: Callable[..., dict[str, Any]], *args: Any, process_peak: bool = False) -> dict[str, Any]:
    """What a worker process runs: :func:`guarded` ``fn(*args)``, then (with ``process_peak``, unless ``fn``
    gave one) ``process_peak_rss_mb``, and ``nasforge_src_sha1`` (:func:`src_digest`). ``fn`` must be
    importable by name (module-level in the script or here)."""
    out = guarded(fn)(*args)
    if process_peak:
        out.setdefault("process_peak_rss_mb", peak_rss_mb())
    out["nasforge_src_sha1"] = src_digest()
    return out


def worker_died(exc: BaseException) -> dict[str, Any]:
    """The result of a job whose worker process died (killed, out of memory, ...)."""
    return {"error": f"{type(exc).__name__}: {exc}", "wall_seconds": math.nan}


def run_alone(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """:func:`run_job` ``fn(*args)`` in a freshly spawned process with one torch thread, waited for (one
    job at a time); a dead worker gives :func:`worker_died`."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"), initializer=worker_init) as ex:
        try:
            return ex.submit(run_job, fn, *args).result()
        except Exception as exc:  # the worker died
            return worker_died(exc)


class JobQueue:
    """Jobs for a pool of freshly spawned processes (one job per process, one torch thread each). A job is
    ``(kind, args, label)``: ``jobs[kind](*args)`` through :func:`run_job` (with ``process_peak_rss_mb``).
    Lower ranks start first, within a rank the longer estimate, then the order pushed. Retrainings
    (kind ``"retrain"``, one architecture each when queued) are batched when they start: the ones left
    are shared between the free workers, at most 6 to a process."""

    def __init__(self) -> None:
        self.pending: list[tuple[tuple[int, float, int], str, tuple[Any, ...], str]] = []
        self._counter = 0
        self._queued_archs: set[str] = set()

    def push(self, rank: int, est: float, kind: str, args: tuple[Any, ...], label: str) -> None:
        """Queue a job; ``est`` is its rough seconds (only used to start long jobs first)."""
        self._counter += 1
        self.pending.append(((rank, -est, self._counter), kind, args, label))

    def want_retrain(self, arch: str) -> None:
        """Queue the retraining of ``arch`` (rank 2), once per architecture however often it is asked for."""
        if arch not in self._queued_archs:
            self._queued_archs.add(arch)
            self.push(2, 0.0, "retrain", (arch,), "retrain")

    def run(self, jobs: dict[str, Callable[..., dict[str, Any]]], workers: int,
            retrain_args: Callable[[list[str]], tuple[Any, ...]],
            on_done: Callable[[str, tuple[Any, ...], str, dict[str, Any]], None], log: Callable[[str], None],
            digests: set[str], hold_retrain_for: tuple[str, ...] = ()) -> None:
        """Run until no job is pending or running; ``on_done(kind, args, label, result)`` as each finishes
        (it may push more). A batch of retrainings runs ``jobs["retrain"](*retrain_args(archs))``; they wait
        while a job of a kind in ``hold_retrain_for`` runs (more winners may come). A result from package
        source not in ``digests`` (:func:`new_code`) is warned about."""
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        pending = self.pending
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), max_tasks_per_child=1,
                                 initializer=worker_init) as ex:
            running: dict[Any, tuple[str, tuple[Any, ...], str]] = {}
            while pending or running:
                pending.sort(key=lambda x: x[0])
                while pending and len(running) < workers:
                    if pending[0][1] == "retrain" and any(k in hold_retrain_for for k, _, _ in running.values()):
                        break  # more winners may come: retrain them together
                    _, kind, args, label = pending.pop(0)
                    if kind == "retrain":  # the retrainings left, shared between the free workers
                        more = [x for x in pending if x[1] == "retrain"]
                        n = min(6, math.ceil((1 + len(more)) / max(1, workers - len(running))))
                        take = more[:n - 1]
                        for x in take:
                            pending.remove(x)
                        archs = [args[0]] + [x[2][0] for x in take]
                        args, label = retrain_args(archs), f"retrain {len(archs)} architectures"
                    log(f"start {label}")
                    running[ex.submit(run_job, jobs[kind], *args, process_peak=True)] = (kind, args, label)
                if not running:
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    kind, args, label = running.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # the worker process died
                        res = worker_died(exc)
                    if new_code(res, digests):
                        log(f"WARNING: {label} ran other nasforge code (source digest {res['nasforge_src_sha1'][:12]}): "
                            f"the package was edited during the run")
                    on_done(kind, args, label, res)


# ----------------------------------------------------------------------------- jobs
def rea_at_budget(seed: int, wall_seconds: float, trial_epochs: int, space_options: dict[str, Any],
                  n_trials: int | None = None, task: str = "mnist1d", space: str = "nb201") -> dict[str, Any]:
    """REA (population 10, tournament 3, seed ``seed``) on ``task`` over ``space`` with ``space_options``,
    ``trial_epochs`` training epochs per trial on one thread, in-memory storage, until ``wall_seconds`` (or
    ``n_trials``): its seconds, its best architecture by validation accuracy and its trial counts."""
    from nasforge import api

    t0 = time.perf_counter()
    study = api.search(task=task, space=space, space_options=space_options, strategy="rea",
                       strategy_options={"population_size": 10, "sample_size": 3},
                       training_options={"epochs": trial_epochs, "threads": 1}, wall_seconds=wall_seconds,
                       n_trials=n_trials, seed=seed, storage="memory:")
    seconds = time.perf_counter() - t0
    summ = study.summary()
    best = study.best_arch()
    study.close()
    return {"seed": seed, "budget_seconds": wall_seconds, "search_seconds": seconds,
            "best_arch": None if best is None else study.space.to_string(best),
            "best_val_acc": (summ.get("best") or {}).get("value"), "trials": summ.get("trials"),
            "failed": summ.get("failed"), "duplicates": summ.get("duplicates")}


def retrain_archs(task: Any, space: Any, archs: list[str], epochs: int, train_seed: int,
                  detail: bool = False) -> dict[str, Any]:
    """``train_final`` (train + validation, ``epochs`` epochs, training seed ``train_seed``, one thread) of
    each of ``archs`` (strings of ``space``), all in this process: ``{"results": rows}``, a row an
    architecture with its test accuracy, parameters and training seconds; with ``detail`` also the epochs,
    FLOPs and the last epoch's training loss."""
    from nasforge.evaluators.training import TrainingEvaluator, train_final

    ev = TrainingEvaluator(task, space, epochs=epochs, seed=train_seed, threads=1, measure_latency=False)
    rows = []
    for arch in archs:
        _, mt = train_final(ev, space.from_string(arch))
        row = {"arch": arch, "test_acc": mt["test_acc"], "params": mt["params"], "train_seconds": mt["train_seconds"]}
        if detail:
            row.update(epochs=epochs, flops=mt["flops"],
                       final_train_loss=mt["train_loss_curve"][-1] if mt["train_loss_curve"] else None)
        rows.append(row)
    return {"results": rows}


def record_retrained(retrained: dict[str, dict[str, Any]], archs: list[str], res: dict[str, Any],
                     log: Callable[[str], None]) -> None:
    """Enter the result ``res`` of a job that retrained ``archs`` (:func:`retrain_archs`) in ``retrained``
    (architecture -> its row with the job's ``batch_wall_seconds``, logged; ``{"arch", "error"}`` for each
    when the job failed)."""
    if "error" in res:
        for arch in archs:
            retrained[arch] = {"arch": arch, "error": res["error"]}
        return
    for row in res["results"]:
        retrained[row["arch"]] = {**row, "batch_wall_seconds": res["wall_seconds"]}
        log(f"retrained {row['arch']}: test {row['test_acc']:.2f} in {row['train_seconds']:.0f} s")


# ----------------------------------------------------------------------------- statistics
def mean_se(xs: list[float | None]) -> tuple[float, float]:
    """Mean and standard error (std with ddof=1 / sqrt(n)) of the values of ``xs`` that are not None or NaN;
    NaN for the mean without values, for the error with fewer than two."""
    ok = [float(x) for x in xs if x is not None and not math.isnan(float(x))]
    if not ok:
        return math.nan, math.nan
    m = statistics.fmean(ok)
    return m, (statistics.stdev(ok) / math.sqrt(len(ok)) if len(ok) > 1 else math.nan)


def compare(a: tuple[float, float], b: tuple[float, float], saturated: bool) -> dict[str, Any]:
    """The verdict of a candidate (mean, SE) against the best peer (mean, SE), as the default-strategy
    scripts fix it: ``diff``, its ``se`` (independent samples), ``z``; **win** when z >= 2, **tie** when
    |z| <= 1 on a saturated setting, else **short**."""
    d, se = a[0] - b[0], math.sqrt(a[1] ** 2 + b[1] ** 2)
    z = d / se if se > 0 else (0.0 if d == 0 else math.copysign(math.inf, d))
    verdict = "win" if z >= 2 else ("tie" if saturated and abs(z) <= 1 else "short")
    return {"diff": d, "se": se, "z": z, "verdict": verdict}


def fmt_mean_se(m: float | None, se: float | None = math.nan, nd: int = 2) -> str:
    """``"m +- se"`` with ``nd`` decimals; ``"m"`` without an error (None or NaN); ``"-"`` without a mean."""
    if m is None or math.isnan(m):
        return "-"
    return f"{m:.{nd}f}" if se is None or math.isnan(se) else f"{m:.{nd}f} +- {se:.{nd}f}"


def add_snapshot_option(parser: Any) -> None:
    """``--snapshot-commit``: the commit the frozen copy of ``src/`` was archived from (see :func:`code_record`)."""
    parser.add_argument("--snapshot-commit", default=None,
                        help="the commit the frozen copy of src/ was archived from (recorded, checked against the "
                             "imported package's digest); the checkout's HEAD may move during the run")
