"""The ``nasforge`` command line: search, studies, show, list.

Every command exits non-zero with a one-line ``error: ...`` on bad input
(unknown names, malformed values, missing data, invalid budgets).
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from nasforge.registry import (BENCHMARKS, DEFAULT_STRATEGY, EVALUATORS, HARDWARE, ONESHOT, SPACES, STRATEGIES,
                               SUPERNETS, accepted_options)

DEFAULT_STORAGE = "sqlite:///nasforge.db"

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="nasforge: neural architecture search for PyTorch.")
# wide when piped, so architecture strings are not folded in logs
out = Console(width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 250)


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    # the message is text, not markup: "pip install 'nasforge[export]'" must print its brackets
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's user-facing exceptions into a clear message and exit code 2."""
    import functools

    from nasforge.errors import NasforgeError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (CLIError, NasforgeError, ValueError) as exc:
            _fail(str(exc))
    return wrapper


def _hardware_opts(hardware: str | None, options: list[str], default: str | None = "measured") -> dict[str, Any]:
    """``hardware`` and ``hardware_options`` from --hardware and -H: none unless one is given (then a --task
    search keeps its default, measured latency, and a --supernet search reports no latency); -H alone names
    the ``default`` model (None: the consumer's own, as a latency cost's lookup table)."""
    if hardware is None and not options:
        return {}
    out = {"hardware_options": _parse_params(options, "--hardware-option", "backend=onnxruntime")}
    if hardware is not None or default is not None:
        out["hardware"] = hardware or default
    return out


def _parse_params(params: list[str], flag: str = "--param", example: str = "population_size=10") -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, true/false), else strings."""
    outp: dict[str, Any] = {}
    for p in params:
        key, sep, raw = p.partition("=")
        if not sep or not key:
            raise CLIError(f"malformed {flag} {p!r}; expected key=value, e.g. {example}")
        try:
            outp[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            outp[key.replace("-", "_")] = raw
    return outp


def _metric_fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


@app.command()
@_guard
def search(
    benchmark: Optional[str] = typer.Option(None, "--benchmark", "-b", help="tabular benchmark to search (default nb201; see `nasforge list benchmarks`)"),
    task: Optional[str] = typer.Option(None, help="train on real data instead: 'digits', a .npz (X, y), a .csv or an image folder"),
    space: Optional[str] = typer.Option(None, help="search space (default: the benchmark's own; with --task: nb201 for images, mlp for tabular)"),
    space_param: List[str] = typer.Option([], "--space-param", "-P", help="space option key=value, repeatable (e.g. -P C=8 -P N=1)"),
    dataset: Optional[str] = typer.Option(None, help="benchmark dataset, e.g. cifar10 / cifar100 / imagenet16-120, or cora"),
    protocol: Optional[str] = typer.Option(None, help="evaluation protocol: nb201 (validation feedback, simulated clock) or oracle"),
    metric: Optional[str] = typer.Option(None, help="the objective metric, for benchmarks with several (analog-nb201)"),
    data_dir: Optional[str] = typer.Option(None, help="directory holding benchmark data (default $NASFORGE_DATA_DIR or ../shared/data)"),
    label_column: str = typer.Option("label", help="--task CSV: the label column"),
    image_size: int = typer.Option(32, help="--task image folder: images are resized to this size"),
    grayscale: bool = typer.Option(False, help="--task image folder: read images as one channel"),
    data_seed: int = typer.Option(0, help="--task: seed of the train/validation/test split"),
    epochs: int = typer.Option(10, help="--task: training epochs per trial (the fidelity)"),
    batch_size: int = typer.Option(64, help="--task: batch size"),
    lr: float = typer.Option(0.05, help="--task: learning rate (cosine schedule)"),
    optimizer: str = typer.Option("sgd", help="--task: sgd (Nesterov momentum 0.9) or adamw"),
    weight_decay: float = typer.Option(5e-4, help="--task: weight decay"),
    label_smoothing: float = typer.Option(0.0, help="--task: label smoothing"),
    device: str = typer.Option("auto", help="--task: auto (CUDA when present), cpu, cuda"),
    time_limit: Optional[float] = typer.Option(None, help="--task: seconds per trial before it fails"),
    workers: int = typer.Option(1, "--workers", "--trials-in-flight", help="trials evaluated at once (processes with --task; Ray tasks with --executor ray)"),
    executor: Optional[str] = typer.Option(None, help="where trials run: serial (this process), process (a pool of --workers processes; the default with --workers > 1) or ray (Ray tasks; see --ray-address)"),
    ray_address: Optional[str] = typer.Option(None, help="--executor ray: a Ray cluster to run trials on ('auto', or host:port); default a local Ray started for this search"),
    cpus_per_trial: float = typer.Option(1, help="--executor ray: CPUs reserved per trial"),
    gpus_per_trial: float = typer.Option(0, help="--executor ray: GPUs reserved per trial"),
    join: bool = typer.Option(False, help="run as one of several drivers of one study in a shared store (SQLite file or PostgreSQL): create the study or join it; trial numbers never repeat, results are shared"),
    heartbeat: float = typer.Option(10.0, help="seconds between heartbeats of this driver's running trials (on a shared store)"),
    stale_after: float = typer.Option(60.0, help="--join: a running trial without a heartbeat for this many seconds is failed (its driver is gone)"),
    on_stale: str = typer.Option("fail", help="--join: what happens to a trial whose heartbeat stopped: fail, or requeue (failed, and evaluated again)"),
    retries: int = typer.Option(0, help="evaluate a trial again, as a new trial, this many times when its worker died (see --retry-on)"),
    retry_on: str = typer.Option("crash", help="which failed trials --retries evaluates again: crash (the worker died) or any"),
    threads: Optional[int] = typer.Option(None, help="--task: torch threads per trial (default: cores / workers; 1 is often fastest for small networks and on a busy machine)"),
    hardware: Optional[str] = typer.Option(None, help="--task: how latency_ms is obtained: measured (the default: on this machine, cached), lut (per-operation lookup table), predictor (HELP-style, adapted with a few measurements); --supernet: the same, and latency_ms is reported only when this or -H is given; see docs/hardware.md"),
    hardware_option: List[str] = typer.Option([], "--hardware-option", "-H", help="--task, --supernet: hardware model option key=value, repeatable, e.g. -H backend=onnxruntime -H threads=1 -H batch_size=1 (backends: torch, onnxruntime, onnxruntime-int8)"),
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help=f"search strategy (see `nasforge list strategies`; default {DEFAULT_STRATEGY}, measured in benchmarks/RESULTS.md, 'Default strategy'; resuming a study: the one it recorded, with its recorded options unless given)"),
    param: List[str] = typer.Option([], "--param", "-p", help="strategy option key=value, repeatable (e.g. -p population_size=10)"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="stop after this many trials in the study"),
    budget_seconds: Optional[float] = typer.Option(None, help="stop when the evaluator's cost reaches this (simulated seconds on a tabular benchmark, training seconds with --task)"),
    wall_seconds: Optional[float] = typer.Option(None, help="stop this run after this many wall-clock seconds"),
    seed: int = typer.Option(0, help="seed of the strategy; same seed, same search"),
    study: Optional[str] = typer.Option(None, help="study name (default: benchmark-dataset-strategy-sSEED)"),
    storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL: sqlite:///file.db, memory:, or another SQLAlchemy URL"),
    resume: bool = typer.Option(False, help="continue an existing study: finished trials are replayed, none repeated"),
    load_if_exists: bool = typer.Option(False, help="continue the study if it exists, else create it"),
    takeover: bool = typer.Option(False, help="with --resume: treat running trials of a process on another machine as dead"),
    charge_duplicates: bool = typer.Option(True, help="charge a repeated architecture's cost again (NB201 protocol does)"),
    proxy_names: Optional[str] = typer.Option(None, "--proxies", help="training-free strategies (naswot, prescreen, robot): the zero-cost proxies to compute (default: the strategy's own; all for robot)"),
    proxy_data: Optional[str] = typer.Option(None, help="training-free strategies: the proxies' batch, task / patches / noise (default task with --task, else patches)"),
    proxy_batch_size: int = typer.Option(64, help="training-free strategies: batch size of the proxies"),
    proxy_table: Optional[str] = typer.Option(None, help="training-free strategies: read proxies from a file written by `nasforge proxies --out` instead of computing them"),
    objectives: List[str] = typer.Option([], "--objectives", "--objective", "-o", help="objectives metric:max|min, comma-separated or repeated (default: the evaluator's objective, maximised), e.g. -o val_acc:max,params:min or --objective val_acc:max --objective latency_ms:min"),
    constraint: List[str] = typer.Option([], "--constraint", "-c", help="a constraint 'metric <= bound' (or <, >=, >), repeatable, e.g. -c 'params <= 1e6'; infeasible architectures are recorded and never the best"),
    supernet: Optional[str] = typer.Option(None, help="search the sub-networks of a trained supernet (a supernet.pt written by `nasforge oneshot --method spos|fewshot|bignas`), scored with inherited weights on its own task and space"),
    derived: List[str] = typer.Option([], "--derived", help="a derived metric, repeatable, usable in -o and -c by its name, e.g. --derived 'mnasnet(val_acc, latency_ms, target=5, w=-0.07)' (MnasNet's soft reward, named mnasnet_reward; hard constraint: alpha=0, beta=-1)"),
    reference_point: Optional[str] = typer.Option(None, help="several objectives: the hypervolume's reference point in the summary, one number per objective, e.g. 0.7,0.005 (default: the worst of each objective among the feasible trials)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
    progress: bool = typer.Option(True, help="show a progress bar on stderr"),
) -> None:
    """Search a tabular benchmark, or train candidates on real data (--task); print the best architecture."""
    from nasforge import api
    from nasforge.storage.sql import safe_url

    if task is not None and benchmark is not None:
        raise CLIError("give either --benchmark (a tabular benchmark) or --task (real data), not both")
    if supernet is not None and (task is not None or benchmark is not None or space is not None or space_param):
        raise CLIError("--supernet brings its own task and space: do not give --task, --benchmark, --space or "
                       "--space-param with it")
    if supernet is not None and not Path(supernet).is_file():
        raise CLIError(f"--supernet {supernet}: no such file (a supernet.pt written by `nasforge oneshot --method "
                       f"spos|fewshot|bignas`, in its checkpoint directory)")
    if workers < 1:
        raise CLIError(f"--workers must be at least 1, got {workers}")
    if threads is not None and threads < 1:
        raise CLIError(f"--threads must be at least 1, got {threads}")
    if space_param and task is None:
        raise CLIError("--space-param is for --task searches; a benchmark's space is fixed")
    _check_budget_flags(trials, budget_seconds, wall_seconds)
    if workers > 1 and task is None and supernet is None and executor != "ray":
        raise CLIError("--workers is for --task and --supernet searches, or with --executor ray (a tabular lookup "
                       "is faster in one process)")
    bench_opts = {k: v for k, v in {"dataset": dataset, "protocol": protocol, "metric": metric,
                                    "data_dir": data_dir}.items() if v is not None}
    misplaced = [k for k in bench_opts if k != "data_dir"]  # the data directory is harmless with --task
    if task is not None and misplaced:
        raise CLIError(f"--{', --'.join(k.replace('_', '-') for k in misplaced)}: for --benchmark searches, "
                       f"not --task")
    if (hardware is not None or hardware_option) and task is None and supernet is None:
        raise CLIError("--hardware and --hardware-option are for --task and --supernet searches (a tabular benchmark "
                       "has its own latency column, e.g. nasbench-graph's latency)")
    train_opts = {"epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "lr": lr,
                  "weight_decay": weight_decay, "label_smoothing": label_smoothing, "device": device,
                  "time_limit": time_limit, "threads": threads}
    hw_opts = _hardware_opts(hardware, hardware_option)
    train_opts.update(hw_opts)
    task_opts = {"label_column": label_column, "image_size": image_size, "grayscale": grayscale, "seed": data_seed}
    proxy_opts = {"proxies": proxy_names, "data": proxy_data, "batch_size": proxy_batch_size, "table": proxy_table,
                  "seed": seed}
    strategy_name = strategy or (api.recorded_strategy(storage, study)[0] if resume or load_if_exists or join
                                 else DEFAULT_STRATEGY)
    st = api.search(benchmark=None if task is not None or supernet is not None else (benchmark or "nb201"),
                    task=task, space=space, supernet=supernet,
                    strategy=strategy, objectives=",".join(objectives) or None, constraints=constraint or None,
                    n_trials=trials, budget_seconds=budget_seconds, wall_seconds=wall_seconds, seed=seed,
                    study=study, storage=storage, resume=resume, load_if_exists=load_if_exists, takeover=takeover,
                    workers=workers,
                    charge_duplicates=charge_duplicates, space_options=_parse_params(space_param, "--space-param", "C=8") or None,
                    strategy_options=_parse_params(param), benchmark_options=bench_opts,
                    training_options=train_opts if task is not None else
                    ({"threads": threads, "device": device, **hw_opts}
                     if supernet is not None else None),
                    task_options=task_opts if task is not None else None,
                    proxy_options=proxy_opts if (proxy_names or proxy_data or proxy_table) else
                    ({"seed": seed, "batch_size": proxy_batch_size} if "scorer" in
                     accepted_options(STRATEGIES.get(strategy_name)) else None), run=False, derived=derived or None,
                    join=join, heartbeat=heartbeat, stale_after=stale_after, on_stale=on_stale, retries=retries,
                    retry_on=retry_on)
    if trials is None and budget_seconds is None and wall_seconds is None:
        trials = api.DEFAULT_TRIALS
    evaluator = st.evaluator
    if evaluator.warning and not as_json:
        err.print(f"[bold yellow]warning:[/] {evaluator.warning}", highlight=False)
    t0 = time.monotonic()
    _sigterm_as_interrupt()
    ex = api.study_executor(st, executor, workers=workers, threads=threads, ray_address=ray_address,
                            cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial)
    try:
        _run_with_progress(st, trials, budget_seconds, wall_seconds, show=progress and not as_json, executor=ex)
    except KeyboardInterrupt:
        err.print(f"interrupted after {st.n_trials} finished trials (all recorded in {safe_url(storage)}); "
                  f"continue with the same command and --resume --study {st.name}", highlight=False)
        raise typer.Exit(130)
    finally:
        if ex is not None:
            ex.shutdown()
    summary = api.summarise(st, reference_point=reference_point)
    summary.pop("config")
    summary["wall_seconds"] = time.monotonic() - t0
    summary["strategy"] = {"name": st.strategy.name, **st.strategy.plain_params()}
    if task is None and supernet is None:
        summary["benchmark"] = evaluator.describe()
    else:
        summary["task"] = evaluator.task.describe()
        summary["space"] = {"name": st.space.name, **st.space.get_params()}
    st.close()
    if as_json:
        print(json.dumps(summary, default=float))
        return
    _print_summary(summary)


def _check_budget_flags(trials: int | None, budget_seconds: float | None, wall_seconds: float | None = None) -> None:
    """Budgets checked under their flag names (the API's messages name its arguments)."""
    import math

    if trials is not None and trials < 1:
        raise CLIError(f"--trials must be at least 1, got {trials}")
    for flag, v in (("--budget-seconds", budget_seconds), ("--wall-seconds", wall_seconds)):
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise CLIError(f"{flag} must be a positive number of seconds, got {v}")


def _version(value: bool) -> None:
    if value:
        from nasforge import __version__

        print(f"nasforge {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """nasforge: neural architecture search for PyTorch."""


def _sigterm_as_interrupt() -> None:
    """SIGTERM ends a search like Ctrl-C: running trials are marked interrupted, the study can be resumed."""
    import signal

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. inside a test runner's thread)
        pass


def _run_with_progress(st: Any, trials: int | None, budget_seconds: float | None,
                       wall_seconds: float | None, show: bool, executor: Any = None) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if trials is not None:
        total, unit, done = float(trials), "trials", lambda: float(st.n_trials)
    elif budget_seconds is not None:
        unit = "sim. s" if st.evaluator.capabilities().simulated_cost else "s"
        total, done = float(budget_seconds), lambda: st.cost_spent
    else:
        t0 = time.monotonic()
        total, unit, done = float(wall_seconds or 1), "s", lambda: time.monotonic() - t0
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} " + unit), TimeElapsedColumn(),
                  console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("searching", total=total, completed=min(done(), total))

        first = st.objectives[0]
        best: list[Any] = [st.best_trial()]  # kept up to date per trial, never by rescanning the study

        def update(study: Any, rec: Any) -> None:
            b = best[0]
            if rec.status == "complete" and rec.feasible and rec.value is not None and (
                    b is None or (rec.fidelity or 0) > (b.fidelity or 0)
                    or ((rec.fidelity or 0) == (b.fidelity or 0) and first.sign * rec.value > first.sign * b.value)):
                best[0] = b = rec
            desc = "searching" if b is None else f"best {first.name} {b.value:.3f}"
            bar.update(task, completed=min(done(), total), description=desc)
            if not show:
                return
            if not sys.stderr.isatty():  # a log: one plain line per trial
                if rec.status == "complete":
                    what = f"{first.name} {rec.value:.4f}" + ("" if rec.feasible else " (infeasible)")
                else:
                    what = f"{rec.status}: {rec.error}"
                err.print(f"trial {rec.number}: {what}; {desc}", highlight=False, soft_wrap=True)

        st.optimize(n_trials=trials, budget_seconds=budget_seconds, wall_seconds=wall_seconds, callbacks=[update],
                    executor=executor)


def _print_summary(s: dict[str, Any]) -> None:
    extra = "".join(f", {s[k]} {k}" for k in ("failed", "infeasible", "duplicates") if s.get(k))
    out.print(f"study [bold]{s['study']}[/]: {s['trials']} trials{extra}; {s['cost_seconds']:.1f} s of "
              f"{'simulated' if s['cost_kind'] == 'simulated' else 'measured'} evaluation cost, "
              f"{s['wall_seconds']:.1f} wall s", highlight=False)
    if s["constraints"]:
        out.print("constraints: " + ", ".join(s["constraints"]), highlight=False)
    if s["best"] is None:
        out.print("no trial finished successfully" + (" and feasibly" if s["constraints"] else ""))
        return
    out.print(f"best architecture (by {s['objectives'][0]}): [bold]{s['best']['arch']}[/]", highlight=False)
    table = Table("metric", "value")
    for k, v in s["best"]["metrics"].items():
        if not isinstance(v, list):  # curves are in `nasforge show --json`
            table.add_row(k + (" (reported)" if k == s["report"] else ""), _metric_fmt(v))
    out.print(table)
    if s.get("pareto"):
        names = [o.partition(":")[0] for o in s["objectives"]]
        pt = Table("architecture", *names, title=f"Pareto set ({len(s['pareto'])}) of {', '.join(s['objectives'])}")
        for r in s["pareto"]:
            pt.add_row(r["arch"], *(_metric_fmt(r["metrics"].get(n, r["value"])) for n in names))
        out.print(pt)
    if s.get("hypervolume") is not None:
        out.print(_hypervolume_line(s), highlight=False)
    ref = s.get("reference", {})
    if ref.get("relative_improvement_pct") is not None:
        out.print(f"{s['report']}: average random architecture {ref['random_average']:.4f}, best in table "
                  f"{ref['best_in_table']:.4f}; relative improvement over random "
                  f"{ref['relative_improvement_pct']:+.2f}%", highlight=False)
    if "warning" in s:
        out.print(f"[bold yellow]warning:[/] {s['warning']}", highlight=False)


@app.command()
@_guard
def train(
    study: Optional[str] = typer.Option(None, help="retrain this study's best architecture (a --task search)"),
    storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL of the study"),
    arch: Optional[str] = typer.Option(None, help="the architecture (string or JSON form) instead of the study's best"),
    task: Optional[str] = typer.Option(None, help="without --study: the data ('digits', .npz, .csv, image folder)"),
    space: Optional[str] = typer.Option(None, help="without --study: the space of --arch"),
    space_param: List[str] = typer.Option([], "--space-param", "-P", help="without --study: space option key=value"),
    label_column: str = typer.Option("label", help="without --study: CSV label column"),
    image_size: int = typer.Option(32, help="without --study: image folder size"),
    grayscale: bool = typer.Option(False, help="without --study: read images as one channel"),
    data_seed: int = typer.Option(0, help="without --study: seed of the data split"),
    epochs: Optional[int] = typer.Option(None, help="training epochs (default: 3 x the search's epochs, or 30)"),
    batch_size: Optional[int] = typer.Option(None, help="batch size (default: the search's, or 64)"),
    lr: Optional[float] = typer.Option(None, help="learning rate (default: the search's, or 0.05)"),
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu, cuda"),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's; 1 on a busy machine)"),
    baseline_random: int = typer.Option(0, help="also train this many random architectures of the space the same way and report their mean test accuracy"),
    seed: int = typer.Option(0, help="seed for the random baseline architectures"),
    repeats: int = typer.Option(1, help="train the architecture this many times (training seeds +0, +1, ...) and report the spread"),
    workers: int = typer.Option(1, help="train the repeats and the random baseline in this many worker processes (of --threads, default 1, torch threads each) after the first training; same results as serially with --threads 1"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="write the trained model here (genotype.json + model.pt) for `nasforge export`"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Retrain an architecture on train+validation with a longer schedule and report its test accuracy."""
    from rich.progress import Progress

    from nasforge import api

    if study is None and (task is None or space is None or arch is None):
        raise CLIError("give --study NAME, or all of --task, --space and --arch")
    if epochs is not None and epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {epochs}")
    if baseline_random < 0:
        raise CLIError(f"--baseline-random must be >= 0, got {baseline_random}")
    if repeats < 1:
        raise CLIError(f"--repeats must be at least 1, got {repeats}")
    if workers < 1:
        raise CLIError(f"--workers must be at least 1, got {workers}")
    plain = not as_json and not sys.stderr.isatty()  # a log: plain lines instead of a bar
    with Progress(console=err, transient=True, disable=as_json or plain) as bar:
        job = bar.add_task("training", total=repeats + max(baseline_random, 0))

        def progress(what: str, done: int, total: int) -> None:
            bar.update(job, description=what, completed=done, total=total)
            if plain:
                err.print(f"[{done}/{total}] {what}", highlight=False, soft_wrap=True)

        result = api.retrain(study, storage, arch=arch, task=task, space=space,
                             space_options=_parse_params(space_param, "--space-param", "C=8"),
                             task_options={"label_column": label_column, "image_size": image_size,
                                           "grayscale": grayscale, "seed": data_seed},
                             epochs=epochs, batch_size=batch_size, lr=lr, device=device, threads=threads,
                             baseline_random=baseline_random, seed=seed, repeats=repeats, workers=workers, out=out_dir,
                             progress=progress)
    if as_json:
        print(json.dumps(result, default=float))
        return
    chosen, tk_name, final_epochs = result["arch"], result["task"], result["epochs"]
    out_lines = [f"retrained [bold]{chosen}[/] on {tk_name} train+validation for {final_epochs} epochs",
                 f"test accuracy {result['test_acc']:.2f}%  ({result['params']:,} parameters, "
                 f"{result['flops']:,} FLOPs, {result['latency_ms']:.2f} ms at batch 1)"]
    if "repeats" in result:
        rp = result["repeats"]
        out_lines.append(f"over {rp['n']} trainings (training seeds +0..+{rp['n'] - 1}): "
                         f"{rp['mean_test_acc']:.2f}% (std {rp['std_test_acc']:.2f})")
    if "random_baseline" in result:
        rb = result["random_baseline"]
        sem = f", standard error {rb['sem_test_acc']:.2f}" if rb.get("sem_test_acc") is not None else ""
        out_lines.append(f"average of {rb['n']} random architectures of the same space, trained the same way: "
                         f"{rb['mean_test_acc']:.2f}% (std {rb['std_test_acc']:.2f}{sem})")
        if result.get("margin_sem") is not None:
            m = result["margin_sem"]
            verdict = "above" if m > 0 else "below"
            out_lines.append(f"the searched architecture is {abs(m):.1f} standard errors {verdict} the random "
                             f"average" + (" (more than 2: a real improvement)" if m > 2 else ""))
    if out_dir is not None:
        out_lines.append(f"saved to {out_dir} (export with `nasforge export {out_dir}`)")
    for line in out_lines:
        out.print(line, highlight=False)


@app.command()
@_guard
def oneshot(
    method: str = typer.Option("darts", "--method", "-m", help="derive an architecture: darts (first order), darts2 (second order), gdas (Gumbel-softmax), proxyless (binarised paths), single-path (superkernels, mobilenet); or train a supernet and search it: spos, fewshot (split supernets), bignas (elastic mobilenet, sandwich rule)"),
    task: str = typer.Option("mnist1d", help="the data: 'mnist1d', 'digits', a .npz (X, y), a .csv or an image folder"),
    space: Optional[str] = typer.Option(None, help="space with a supernet: nb201 (default for images), darts, mobilenet, mlp (default for tabular data)"),
    space_param: List[str] = typer.Option([], "--space-param", "-P", help="space option key=value, repeatable (e.g. -P C=8 -P N=2; darts: -P distinct_cells=true)"),
    label_column: str = typer.Option("label", help="CSV task: the label column"),
    image_size: int = typer.Option(32, help="image-folder task: images are resized to this size"),
    grayscale: bool = typer.Option(False, help="image-folder task: read images as one channel"),
    data_seed: int = typer.Option(0, help="seed of the train/validation/test split"),
    epochs: Optional[int] = typer.Option(None, help="supernet training epochs (default: the method's, 20 for the DARTS family, 30 for spos and fewshot)"),
    batch_size: Optional[int] = typer.Option(None, help="batch size (default 64)"),
    select: Optional[str] = typer.Option(None, help="darts, darts2, gdas: how the architecture is chosen: pt (perturbation-based, DARTS-PT; the default: it never collapsed in benchmarks/RESULTS.md, magnitude selection did) or magnitude (largest weight)"),
    early_stop: Optional[bool] = typer.Option(None, "--early-stop/--no-early-stop", help="DARTS family: stop when the Hessian's dominant eigenvalue w.r.t. the architecture grows sharply (RobustDARTS)"),
    weighting: Optional[str] = typer.Option(None, help="darts/darts2: softmax (default) or max-w (sharpDARTS)"),
    lr_schedule: Optional[str] = typer.Option(None, help="DARTS family: weight learning rate schedule, cosine (default), cosine-power (sharpDARTS) or constant"),
    sampling: Optional[str] = typer.Option(None, help="spos, fewshot: which path each step trains: uniform-op (default), uniform-arch or pada (importance sampling of paths and data)"),
    search_strategy: Optional[str] = typer.Option(None, help="spos, fewshot, bignas: the strategy that searches the trained supernet (default rea)"),
    search_trials: Optional[int] = typer.Option(None, help="spos, fewshot, bignas: sub-networks scored in that search (default 100)"),
    retrain_epochs: Optional[int] = typer.Option(None, help="spos, fewshot: epochs of stand-alone training of the winner (default 10; 0 skips it)"),
    objectives: List[str] = typer.Option([], "--objectives", "--objective", "-o", help="spos, fewshot, bignas: objectives of the sub-network search, comma-separated or repeated, e.g. val_acc:max,params:min"),
    constraint: List[str] = typer.Option([], "--constraint", "-c", help="spos, fewshot, bignas: a constraint of the sub-network search, e.g. -c 'params <= 20000' (metrics: params, flops, and latency_ms with --hardware)"),
    param: List[str] = typer.Option([], "--param", "-p", help="other method option key=value, repeatable (e.g. -p arch_lr=3e-4, -p split=fixed); see docs/oneshot.md"),
    hardware: Optional[str] = typer.Option(None, help="spos, fewshot, bignas: a hardware model (measured, lut, predictor) whose latency_ms the sub-network search reports, for -o and -c; proxyless, single-path with -p cost=latency: the lookup table of the latency term (lut, the default); see docs/hardware.md"),
    hardware_option: List[str] = typer.Option([], "--hardware-option", "-H", help="hardware model option key=value, repeatable, e.g. -H backend=onnxruntime -H threads=1"),
    train_epochs: int = typer.Option(10, help="epochs per training for a later `nasforge train` of this study (it retrains with 3x this)"),
    seed: int = typer.Option(0, help="seed of the supernet and the search; same seed, same result"),
    study: Optional[str] = typer.Option(None, help="study name (default: task-space-method-sSEED)"),
    storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL: sqlite:///file.db, memory:, or another SQLAlchemy URL"),
    checkpoint_dir: Optional[str] = typer.Option(None, help="where the supernet is checkpointed every epoch (default nasforge-checkpoints/STUDY)"),
    resume: bool = typer.Option(False, help="continue a stopped run from its last checkpoint"),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object at the end"),
) -> None:
    """Weight-sharing search: train a supernet and derive an architecture (DARTS family, ProxylessNAS,
    Single-Path NAS), or train a supernet and search its sub-networks (SPOS, few-shot, BigNAS); the result
    is recorded in a study (then `nasforge show`, `train` and `export` work on it)."""
    from nasforge import api
    from nasforge.registry import ONESHOT

    searches = getattr(ONESHOT.get(method), "searches", False)
    options = _parse_params(param, "--param", "arch_lr=3e-4")
    given = {"epochs": epochs, "batch_size": batch_size, "select": select, "early_stop": early_stop,
             "weighting": weighting, "lr_schedule": lr_schedule, "sampling": sampling,
             "search_strategy": search_strategy, "search_trials": search_trials, "retrain_epochs": retrain_epochs}
    accepted = accepted_options(ONESHOT.get(method))
    wrong = [k for k, v in given.items() if v is not None and k not in accepted]
    if wrong:
        raise CLIError(f"--{', --'.join(k.replace('_', '-') for k in wrong)}: not an option of method {method!r}")
    if (objectives or constraint) and not searches:
        raise CLIError(f"--objectives and --constraint are for the methods that search a trained supernet (spos, "
                       f"fewshot, bignas), not {method!r}")
    options.update({k: v for k, v in given.items() if v is not None}, threads=threads)
    hw_opts = _hardware_opts(hardware, hardware_option, default="measured" if searches else None)
    if hw_opts and "hardware_options" not in accepted:
        raise CLIError(f"--hardware and --hardware-option: method {method!r} has no latency (spos, fewshot and bignas "
                       f"report it in their search; proxyless and single-path price it with -p cost=latency)")
    options.update(hw_opts)
    ck = checkpoint_dir or str(Path("nasforge-checkpoints") / "{study}")

    def progress(info: dict[str, Any]) -> None:
        if as_json:
            return
        err.print(_oneshot_line(info), highlight=False, soft_wrap=True)

    import warnings

    from nasforge.oneshot.methods import CollapseWarning

    warnings.simplefilter("ignore", CollapseWarning)  # said below, in the summary
    _sigterm_as_interrupt()
    try:
        result = api.oneshot(method, task=task, space=space, seed=seed, study=study, storage=storage, resume=resume,
                             checkpoint_dir=ck, space_options=_parse_params(space_param, "--space-param", "C=8"),
                             task_options={"label_column": label_column, "image_size": image_size,
                                           "grayscale": grayscale, "seed": data_seed},
                             method_options=options, training_options={"epochs": train_epochs},
                             objectives=",".join(objectives) or None, constraints=constraint or None,
                             progress=progress)
    except KeyboardInterrupt:
        err.print(f"interrupted: every finished epoch is checkpointed under {Path(ck).parent}; continue with the "
                  f"same command and --resume", highlight=False)
        raise typer.Exit(130)
    if as_json:
        print(json.dumps({k: v for k, v in result.items() if k != "history"}, default=float))
        return
    m = result["metrics"]
    out.print(f"{method} on {result['task']} ({result['space']}): [bold]{result['arch']}[/]", highlight=False)
    if searches:
        line = f"validation accuracy with inherited weights {m['inherited_val_acc']:.2f}%"
        if result["number"] != result["best_search_trial"]:
            line += f"; trained stand-alone ({m.get('epochs')} epochs) {result['val_acc']:.2f}%"
        out.print(line + f"; supernet training {m['train_seconds'] or 0:.0f} s ({m['members']} supernet"
                         f"{'s' if m['members'] > 1 else ''})", highlight=False)
        if result.get("supernet"):
            out.print(f"trained supernet saved to {result['supernet']}; search it again with `nasforge search "
                      f"--supernet {result['supernet']} --strategy STRATEGY`", highlight=False)
    else:
        out.print(f"validation accuracy with inherited weights {result['val_acc']:.2f}%; search "
                  f"{m['search_seconds']:.0f} s, {m['supernet_epochs']} supernet epochs, peak memory "
                  f"{m['peak_rss_mb']:.0f} MB", highlight=False)
    if m.get("collapsed"):
        out.print(f"warning: {m['param_free_fraction']:.0%} of the derived decisions are parameter-free (skip, "
                  f"pooling, none): the search may have collapsed; try --select pt or --early-stop", highlight=False)
    out.print(f"recorded as trial {result['number']} of study {result['study']} in {storage}; retrain it with "
              f"`nasforge train --study {result['study']} --storage {storage}`", highlight=False)


def _oneshot_line(info: dict[str, Any]) -> str:
    """One plain progress line of a one-shot run."""
    phase = info["phase"]
    if phase == "search" and "epoch" in info:
        line = (f"epoch {info['epoch']}/{info['epochs']}  train loss {info['train_loss']:.3f}  "
                f"train acc {info['train_acc']:.1f}%  derived {info['arch']}  val acc {info['val_acc']:.1f}% "
                f"(inherited weights)  {info['seconds']:.1f} s")
        if "eigenvalue" in info:
            line += f"  eigenvalue {info['eigenvalue']:.3g}"
        if "early_stop" in info:
            line += f"  stopped: {info['early_stop']}"
        return line
    if phase == "select":
        return f"select {info['done']}/{info['total']}: {info['decision']} keeps {info['kept']}  {info['seconds']:.1f} s"
    if phase in ("supernet", "members"):
        who = f"sub-supernet {info['member'] + 1}/{info['members']} " if phase == "members" else "supernet "
        derived = f"  derived {info['arch']} ({info['flops']:,} FLOPs)" if "arch" in info else ""
        return (f"{who}epoch {info['epoch']}/{info['epochs']}  train loss {info['train_loss']:.3f}  "
                f"train acc {info['train_acc']:.1f}%{derived}  {info['seconds']:.1f} s")
    if phase == "split":
        return f"split on {', '.join(info['decisions'])} into {info['members']} sub-supernets  {info['seconds']:.1f} s"
    if phase == "search":
        value = f"{info['value']:.2f}%" if info.get("value") is not None else info.get("status")
        return f"search {info['done']}/{info['total']}: {info['arch']}  val acc {value} (inherited weights)"
    if phase == "retrain":
        return f"retraining {info['arch']} stand-alone for {info['epochs']} epochs"
    if phase == "retrained":
        return f"retrained: val acc {info['val_acc']:.2f}%"
    if phase == "loaded":
        return f"trained supernet loaded from {info['supernet']}"
    return " ".join(f"{k}={v}" for k, v in info.items())


@app.command("export")
@_guard
def export_(checkpoint: str = typer.Argument(..., help="a directory written by `nasforge train --out`"),
            out_dir: Optional[str] = typer.Option(None, "--out", help="write the files here (default: the checkpoint)"),
            int8: bool = typer.Option(False, "--int8", help=(
                "also quantise to int8 (model.int8.onnx: ONNX Runtime static quantisation calibrated on the task's "
                "training split) and compare test accuracy and latency (batch 1, 1 thread) with the float model; "
                "the report goes to quantization.json")),
            task: Optional[str] = typer.Option(None, help=(
                "--int8: the data the model was trained on ('digits', .npz, .csv, image folder), for a checkpoint "
                "that does not record it")),
            calibration: Optional[int] = typer.Option(None, help=(
                "--int8: training examples the activation ranges are calibrated on (default 256)")),
            as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Export a trained model as TorchScript and ONNX (checked with ONNX Runtime against PyTorch); with --int8
    also as a post-training int8 ONNX model, with test accuracy and latency beside the float model's."""
    from nasforge.export import export_checkpoint, quantize_checkpoint

    if not int8 and (task is not None or calibration is not None):
        raise CLIError("--task and --calibration are options of --int8")
    try:
        manifest = export_checkpoint(checkpoint, out_dir)
        report = None
        if int8:
            report = quantize_checkpoint(checkpoint, task=task, out_dir=out_dir,
                                         calibration=256 if calibration is None else calibration)
    except (FileNotFoundError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    manifest["directory"] = str(out_dir or checkpoint)
    if report is not None:
        manifest["quantization"] = report
    if as_json:
        print(json.dumps(manifest))
        return
    d = manifest["directory"]
    out.print(f"wrote {d}/{manifest['torchscript']} (max |diff| vs PyTorch "
                           f"{manifest['torchscript_max_abs_diff']:.2e}) and {d}/{manifest['onnx']} (ONNX Runtime "
                           f"max |diff| {manifest['onnx_max_abs_diff']:.2e}); load the weights with "
                           f"nasforge.export.load_model('{d}')", highlight=False)
    if report is None:
        return
    lat, cal = report["latency"], report["calibration"]
    rows = [(k, report[k]) for k in ("float", "int8")]
    title = (f"{report['task']} test split ({report['test_examples']} examples); latency through ONNX Runtime at "
             f"batch {lat['batch_size']}, {lat['threads']} thread{'s' if lat['threads'] > 1 else ''}")
    if sys.stdout.isatty():
        table = Table("model", "file", "size (KB)", "test acc %", "latency ms (median)", "IQR ms", title=title)
        for k, r in rows:
            table.add_row(k, r["file"], f"{r['size_bytes'] / 1024:.1f}", f"{r['test_acc']:.2f}",
                          f"{r['latency_ms']:.4f}", f"{r['latency_iqr_ms']:.4f}")
        out.print(table)
    else:  # a log: plain lines
        out.print(title, highlight=False)
        for k, r in rows:
            out.print(f"{k:<5}  {d}/{r['file']}  {r['size_bytes'] / 1024:.1f} KB  test acc {r['test_acc']:.2f}%  "
                      f"latency {r['latency_ms']:.4f} ms (IQR {r['latency_iqr_ms']:.4f})", highlight=False)
    out.print(f"int8 against float: accuracy drop {report['accuracy_drop']:+.2f} points, same prediction on "
              f"{report['agreement']:.1f}% of the test examples, speed-up {report['speedup']:.2f}x, "
              f"{report['size_ratio']:.2f}x smaller; calibrated on {cal['examples']} training examples; "
              f"report in {d}/quantization.json", highlight=False)
    unstable = [k for k, r in rows if not r["latency_stable"]]
    if unstable:
        out.print(f"[bold yellow]warning:[/] the latency of {' and '.join(unstable)} spread widely (IQR over "
                  f"{lat['max_spread']:.0%} of the median after {lat['repeats']} calls, re-measured): is the machine "
                  f"busy?", highlight=False)


@app.command()
@_guard
def bench(
    strategies: str = typer.Option("random,rea,local", "--strategies", "-s", help="comma-separated strategies to compare"),
    peers: str = typer.Option("", help="comma-separated peer frameworks, e.g. optuna-tpe,nni-rea (extra 'peers')"),
    benchmark: str = typer.Option("nb201", "--benchmark", "-b", help="tabular benchmark"),
    dataset: Optional[str] = typer.Option(None, help="benchmark dataset"),
    protocol: Optional[str] = typer.Option(None, help="nb201 protocol: nb201 or oracle"),
    metric: Optional[str] = typer.Option(None, help="analog-nb201 objective metric"),
    data_dir: Optional[str] = typer.Option(None, help="directory holding benchmark data"),
    seeds: int = typer.Option(10, help="number of seeds per method (seeds seed-start .. seed-start+N-1)"),
    seed_start: int = typer.Option(0, help="first seed"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="budget in trials per search"),
    budget_seconds: Optional[float] = typer.Option(None, help="budget in simulated seconds per search"),
    checkpoints: str = typer.Option("", help="comma-separated budget checkpoints for the table (default: 1/4, 1/2, all)"),
    param: List[str] = typer.Option([], "--param", "-p", help="strategy option strategy.key=value, repeatable (e.g. -p rea.population_size=20)"),
    workers: int = typer.Option(2, help="searches run at once (processes, or Ray tasks with --executor ray)"),
    executor: str = typer.Option("process", help="where the searches run: process (worker processes here) or ray (Ray tasks; see --ray-address)"),
    ray_address: Optional[str] = typer.Option(None, help="--executor ray: a Ray cluster ('auto', host:port or ray://host:port); default a local Ray started for this comparison"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="directory for bench.json and regret.png (default: a new bench-BENCHMARK-DATE-TIME folder; '' for none)"),
    reuse: Optional[str] = typer.Option(None, help="an earlier bench.json of the same benchmark and budget: its runs "
                                        "of the methods and seeds asked for are reused, not run again"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Compare strategies (and peers) over many seeds: table at budget checkpoints, regret plot, JSON of every run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nasforge import api
    from nasforge.executors import check_pool

    strat_params: dict[str, dict[str, Any]] = {}
    for key, value in _parse_params(param).items():
        name, dot, opt = key.partition(".")
        if not dot or not opt:
            raise CLIError(f"malformed --param {key!r}; expected strategy.option=value, e.g. rea.population_size=20")
        strat_params.setdefault(name, {})[opt] = value
    try:
        cps = [float(c) for c in checkpoints.split(",") if c.strip()]
    except ValueError:
        raise CLIError(f"malformed --checkpoints {checkpoints!r}; expected numbers like 3000,6000,12000") from None
    if seeds < 1:
        raise CLIError(f"--seeds must be at least 1, got {seeds}")
    _check_budget_flags(trials, budget_seconds)
    if out_dir is None:  # a new folder per comparison: an earlier one is never overwritten
        base = f"bench-{benchmark}-{time.strftime('%Y%m%d-%H%M%S')}"
        out_dir, n = base, 1
        while Path(out_dir).exists():
            n += 1
            out_dir = f"{base}-{n}"
    bench_kwargs = {k: v for k, v in {"dataset": dataset, "protocol": protocol, "metric": metric,
                                      "data_dir": data_dir}.items() if v is not None}
    check_pool(executor, ray_address)
    with Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json) as bar:
        task = bar.add_task("runs", total=None)
        result = api.compare([s for s in strategies.split(",") if s.strip()],
                             peers=[p for p in peers.split(",") if p.strip()], benchmark=benchmark,
                             benchmark_options=bench_kwargs, seeds=seeds, seed_start=seed_start, n_trials=trials,
                             budget_seconds=budget_seconds, checkpoints=cps, strategy_options=strat_params,
                             workers=workers, out=out_dir or None, reuse=reuse, executor=executor, ray_address=ray_address,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))
    cfg_trials = result["config"]["n_trials"] if "config" in result else trials
    summary = {k: v for k, v in result.items() if k != "runs"}
    if as_json:
        print(json.dumps(summary, default=float))
        return
    unit = "trials" if cfg_trials is not None else "sim. s"
    table = Table("method", f"budget ({unit})", "mean", "std", "median", "sem", "n", "rel. impr. %", "regret",
                  title=", ".join(f"{k} {v}" for k, v in result["benchmark"].items()) + f", {seeds} seeds")
    for r in result["rows"]:
        table.add_row(r["method"], f"{r['checkpoint']:g}", f"{r['mean']:.3f}", f"{r['std']:.3f}",
                      f"{r['median']:.3f}", f"{r['sem']:.3f}", str(r["n"]), f"{r['relative_improvement_pct']:.2f}",
                      f"{r['regret']:.3f}")
    out.print(table)
    out.print(f"average random architecture {result['random_average']:.4f}, best in table "
              f"{result['best_in_table']:.4f}; {result['wall_seconds']:.1f} s", highlight=False)
    if result.get("files"):
        out.print(f"wrote {result['files']['json']}" + (f" and {result['files']['plot']}" if result["files"]["plot"]
                                                        else " (no plot: install matplotlib)"), highlight=False)
        out.print(f"as an HTML page: nasforge report --bench {Path(result['files']['json']).parent}", highlight=False)
    if "warning" in result:
        out.print(f"[bold yellow]warning:[/] {result['warning']}", highlight=False)


@app.command()
@_guard
def proxies(
    space: Optional[str] = typer.Option(None, help="trainable search space (default: the benchmark's, nb201)"),
    benchmark: str = typer.Option("nb201", "--benchmark", "-b", help="benchmark over the space's cells: nb201 or analog-nb201"),
    dataset: Optional[str] = typer.Option(None, help="benchmark dataset: cifar10, cifar100, imagenet16-120"),
    data_dir: Optional[str] = typer.Option(None, help="directory holding benchmark data"),
    sample: int = typer.Option(100, help="number of distinct cells sampled (all when the space is smaller)"),
    seed: int = typer.Option(0, help="seed of the sample, the batch and the networks' initialisation"),
    proxy: str = typer.Option("all", "--proxies", help="comma-separated proxies, or all"),
    data: str = typer.Option("patches", help="batch for the proxies: patches (crops of scikit-learn's sample photos) or noise"),
    batch_size: int = typer.Option(64, help="batch size of the proxies"),
    workers: int = typer.Option(1, help="cells scored at once (processes of one torch thread each, or Ray tasks with --executor ray)"),
    executor: str = typer.Option("process", help="where the cells are scored: process (worker processes here) or ray (Ray tasks of one CPU; see --ray-address)"),
    ray_address: Optional[str] = typer.Option(None, help="--executor ray: a Ray cluster ('auto', host:port or ray://host:port); default a local Ray started for this study"),
    out_file: Optional[str] = typer.Option(None, "--out", help="JSON-lines file of every scored cell; an interrupted run resumes from it"),
    as_json: bool = typer.Option(False, "--json", help="print the summary (and every cell) as JSON"),
) -> None:
    """Zero-cost proxies of sampled cells against a benchmark: Spearman, Kendall and seconds per network."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nasforge.evaluators.proxy_study import proxy_study

    if data not in ("patches", "noise"):
        raise CLIError(f"--data {data!r} not accepted here: patches or noise (a benchmark has no training data)")
    bench_kwargs = {k: v for k, v in {"dataset": dataset, "data_dir": data_dir}.items() if v is not None}
    if benchmark == "nb201":
        bench_kwargs["protocol"] = "oracle"  # only the reported metric is read
    bench = BENCHMARKS.create(benchmark, **bench_kwargs)
    space_name = space or bench.space_name
    if space_name != bench.space_name:
        raise CLIError(f"benchmark {benchmark!r} covers space {bench.space_name!r}, not {space_name!r}")
    with Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json) as bar:
        task = bar.add_task("cells", total=sample)
        res = proxy_study(space_name, bench, sample=sample, seed=seed, proxies=proxy, data=data,
                          batch_size=batch_size, workers=workers, out=out_file, executor=executor,
                          ray_address=ray_address,
                          progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print(json.dumps(res, default=float))
        return
    cfg = res["config"]
    table = Table("proxy", "Spearman", "Kendall", "n", "failed", "s / network (median)",
                  title=f"{len(res['cells'])} {space_name} cells vs {bench.describe().get('dataset', benchmark)} "
                        f"{res['report']}")
    for r in res["rows"]:
        table.add_row(r["proxy"], f"{r['spearman']:.3f}", f"{r['kendall']:.3f}", str(r["n"]), str(r["failed"]),
                      f"{r['median_seconds']:.3f}")
    out.print(table)
    out.print(f"data: {cfg['data_description']}; batch {cfg['batch_size']}, seed {cfg['init_seed']} "
              f"(initialisation and batch), networks for {cfg['num_classes']} classes at "
              f"{'x'.join(map(str, cfg['input_shape']))}", highlight=False)
    if out_file:
        out.print(f"every cell in {out_file}", highlight=False)


@app.command()
@_guard
def studies(storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL"),
            as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List the studies in a storage with their size and best value."""
    from nasforge import api

    rows = api.list_studies(storage)
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("study", "space", "strategy", "benchmark / task", "objectives", "trials", "best value")
    for r in rows:
        table.add_row(r["study"], str(r["space"]), str(r["strategy"]), str(r["benchmark"] or r["task"]),
                      ", ".join(r["objectives"]), str(r["trials"]),
                      "-" if r["best_value"] is None else f"{r['best_value']:.4f}")
    out.print(table)


def _hypervolume_line(s: dict[str, Any]) -> str:
    """The hypervolume of a summary with the reference point it was measured from."""
    ref = ", ".join(f"{o.partition(':')[0]}={v:.6g}" for o, v in zip(s["objectives"], s["reference_point"]))
    kind = "given" if s.get("reference_kind") == "given" else "the worst of each objective among the feasible trials"
    return f"hypervolume {s['hypervolume']:.6g} (reference point {ref}: {kind})"


@app.command()
@_guard
def show(name: str = typer.Argument(..., help="study name"),
         storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL"),
         top: int = typer.Option(10, help="how many of the best trials to show"),
         reference_point: Optional[str] = typer.Option(
             None, help="several objectives: the hypervolume's reference point, one number per objective in their "
                        "order, e.g. 0.7,0.005 (default: the worst of each objective among the feasible trials)"),
         as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Show a study's best trials (feasible, at the highest fidelity, by the first objective), its Pareto set
    and the Pareto set's hypervolume with its reference point."""
    from nasforge import api

    if top < 1:
        raise CLIError(f"--top must be at least 1, got {top}")
    payload = api.summarise(name, storage, top=top, reference_point=reference_point)
    if as_json:
        print(json.dumps(payload, default=float))
        return
    counts = payload["counts"]
    out.print(f"study [bold]{name}[/]: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
              + (f" ({payload['infeasible']} infeasible)" if payload["infeasible"] else "")
              + f"; objectives {', '.join(payload['objectives'])}, reported {payload['report']}"
              + (f"; constraints {', '.join(payload['constraints'])}" if payload["constraints"] else ""),
              highlight=False)
    best = payload["top"]
    metric_names = sorted({k for t in best for k, v in t["metrics"].items() if not isinstance(v, (list, dict))})
    table = Table("#", "trial", "architecture", "value", *metric_names)
    table.columns[2].overflow = "fold"  # the whole architecture string, over several lines when needed
    for i, t in enumerate(best, 1):
        table.add_row(str(i), str(t["trial"]) + ("" if t["source"] == "ask" else f" ({t['source']})"),
                      t["arch"], f"{t['value']:.4f}", *(_metric_fmt(t["metrics"].get(m, "")) for m in metric_names))
    out.print(table)
    if payload.get("pareto"):
        out.print(f"Pareto set: {len(payload['pareto'])} architectures (--json lists them)", highlight=False)
    if payload.get("hypervolume") is not None:
        out.print(_hypervolume_line(payload), highlight=False)


@app.command("list")
@_guard
def list_(kind: str = typer.Argument(..., help="spaces, strategies, benchmarks, evaluators, oneshot (weight-sharing methods), supernets or hardware (latency models)"),
          user_space: List[str] = typer.Option([], "--space", help="spaces: also a user space FILE.py:FUNCTION (or MODULE:FUNCTION), repeatable, with its discovered choices"),
          task: Optional[str] = typer.Option(None, help="with --space: the task the function is run with while its choices are discovered (digits, mnist1d, a file), for functions that depend on it"),
          as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List registered spaces, strategies, benchmarks, evaluators, one-shot methods, supernets or hardware models
    with their options."""
    registries = {"spaces": SPACES, "strategies": STRATEGIES, "benchmarks": BENCHMARKS, "evaluators": EVALUATORS,
                  "oneshot": ONESHOT, "supernets": SUPERNETS, "hardware": HARDWARE}
    if kind not in registries:
        raise CLIError(f"unknown kind {kind!r}; accepted: {', '.join(registries)}")
    reg = registries[kind]
    rows = []
    for n in reg.list():
        obj = reg.get(n)
        doc = (inspect.getdoc(obj) or "").splitlines()
        options = [o for o in accepted_options(obj) if o != "task"]  # one-shot methods and supernets take the task
        about = doc[0] if doc else ""
        if kind == "strategies" and n == DEFAULT_STRATEGY:
            about = "(the default) " + about
        rows.append({"name": n, "options": options, "about": about})
    if user_space and kind != "spaces":
        raise CLIError("--space adds user spaces to `nasforge list spaces`")
    if task is not None and not user_space:
        raise CLIError("--task is for --space: the task a user space's function is run with")
    tk = None
    if task is not None:
        from nasforge.api import resolve_task

        tk = resolve_task(task)[0]
    for source in user_space:
        from nasforge.registry import create_space

        sp = create_space(source, **({"task": tk} if tk is not None else {}))
        about = f"user space {source}: " + ", ".join(
            f"{c.name} {list(c.options)}" + (f" when {c.when[0]} in {list(c.when[1])}" if c.when else "")
            for c in sp.choices)
        rows.append({"name": sp.name, "options": list(sp.get_params()), "about": about, "source": source,
                     "size": sp.size()})
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("name", "options", "about")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["options"]), r["about"])
    out.print(table)


# ----- report and dashboard (issue 17)
@app.command()
@_guard
def report(name: Optional[str] = typer.Argument(None, help="study name (omit with --bench)"),
           storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL (opened read-only)"),
           out_file: Optional[str] = typer.Option(None, "--out", help="the HTML file to write (default: report-STUDY.html; with --bench: report.html beside bench.json)"),
           top: int = typer.Option(10, help="rows of the top-k table"),
           drawings: int = typer.Option(3, help="how many of the best architectures to draw"),
           bench: Optional[str] = typer.Option(None, "--bench", help="report `nasforge bench` results instead: its bench.json or the directory holding it")) -> None:
    """Write one self-contained HTML page (no network needed to open it) with a study's plots, drawings of its
    best architectures, its top-k table and settings; or, with --bench, a comparison's regret curves and table."""
    from nasforge.report import write_bench_report, write_report

    if bench is not None:
        if name is not None:
            raise CLIError(f"give a study name or --bench, not both (got {name!r} and --bench {bench})")
        path = write_bench_report(bench, out_file)
    else:
        if name is None:
            raise CLIError("give a study name (see `nasforge studies`), or --bench RESULTS for `nasforge bench` results")
        if top < 1:
            raise CLIError(f"--top must be at least 1, got {top}")
        if drawings < 0:
            raise CLIError(f"--drawings must be at least 0, got {drawings}")
        path = write_report(name, storage, out_file, top=top, drawings=drawings)
    out.print(f"wrote {path}", highlight=False)


@app.command()
@_guard
def dashboard(storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL (opened read-only)"),
              host: str = typer.Option("127.0.0.1", help="address to listen on; anything but loopback exposes every study (no authentication)"),
              port: int = typer.Option(8080, help="port to listen on"),
              interval: float = typer.Option(2.0, help="seconds between the page's updates")) -> None:
    """Serve a live, read-only web page of the studies in a storage: the report's views, updated as trials
    finish."""
    from nasforge.api import open_storage
    from nasforge.dashboard import serve
    from nasforge.storage.sql import safe_url

    if interval < 0.1:
        raise CLIError(f"--interval must be at least 0.1 seconds, got {interval}")
    if not 0 < port < 65536:
        raise CLIError(f"--port must be in 1..65535, got {port}")
    open_storage(storage).close()  # a missing or unreadable store fails here, with one line, not in the browser
    shown = host if ":" not in host else f"[{host}]"
    err.print(f"nasforge dashboard of {safe_url(storage)} on http://{shown}:{port}/ (read-only; Ctrl-C stops it)",
              highlight=False)
    serve(storage, host=host, port=port, interval=interval,
          warn=lambda message: err.print(f"[bold yellow]warning:[/] {message}", highlight=False))


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
