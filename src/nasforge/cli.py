"""The ``nasforge`` command line: search, studies, show, list.

Every command exits non-zero with a one-line ``error: ...`` on bad input
(unknown names, malformed values, missing data, invalid budgets).
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from typing import Any, Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from nasforge.registry import BENCHMARKS, SPACES, STRATEGIES, UnknownNameError

DEFAULT_STORAGE = "sqlite:///nasforge.db"

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="nasforge: neural architecture search for PyTorch.")
# wide when piped, so architecture strings are not folded in logs
out = Console(width=None if sys.stdout.isatty() else 250)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 250)


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's user-facing exceptions into a clear message and exit code 2."""
    import functools

    from nasforge.benchmarks._files import DataNotFoundError
    from nasforge.storage import StudyExistsError, StudyNotFoundError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (CLIError, ValueError, UnknownNameError, DataNotFoundError, StudyExistsError,
                StudyNotFoundError) as exc:
            _fail(str(exc))
    return wrapper


def _parse_params(params: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, true/false), else strings."""
    outp: dict[str, Any] = {}
    for p in params:
        key, sep, raw = p.partition("=")
        if not sep or not key:
            raise CLIError(f"malformed --param {p!r}; expected key=value, e.g. population_size=10")
        try:
            outp[key.replace("-", "_")] = json.loads(raw)
        except json.JSONDecodeError:
            outp[key.replace("-", "_")] = raw
    return outp


def _accepted(factory: Callable[..., Any], skip: tuple[str, ...] = ("self", "space")) -> list[str]:
    return [p for p in inspect.signature(factory).parameters if p not in skip]


def _build(kind: str, name: str, factory: Callable[..., Any], kwargs: dict[str, Any], *args: Any) -> Any:
    accepted = _accepted(factory)
    bad = sorted(set(kwargs) - set(accepted))
    if bad:
        raise CLIError(f"{kind} {name!r} has no option(s) {', '.join(bad)}; its options: "
                       f"{', '.join(accepted) or '(none)'}")
    return factory(*args, **kwargs)


def _metric_fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


@app.command()
@_guard
def search(
    benchmark: str = typer.Option("nb201", "--benchmark", "-b", help="tabular benchmark to search (see `nasforge list benchmarks`)"),
    space: Optional[str] = typer.Option(None, help="search space (default: the benchmark's own)"),
    dataset: Optional[str] = typer.Option(None, help="benchmark dataset, e.g. cifar10 / cifar100 / imagenet16-120, or cora"),
    protocol: Optional[str] = typer.Option(None, help="evaluation protocol: nb201 (validation feedback, simulated clock) or oracle"),
    metric: Optional[str] = typer.Option(None, help="the objective metric, for benchmarks with several (analog-nb201)"),
    data_dir: Optional[str] = typer.Option(None, help="directory holding benchmark data (default $NASFORGE_DATA_DIR or ../shared/data)"),
    strategy: str = typer.Option("rea", "--strategy", "-s", help="search strategy (see `nasforge list strategies`)"),
    param: List[str] = typer.Option([], "--param", "-p", help="strategy option key=value, repeatable (e.g. -p population_size=10)"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="stop after this many trials in the study"),
    budget_seconds: Optional[float] = typer.Option(None, help="stop when the evaluator's cost reaches this (simulated seconds on a tabular benchmark)"),
    wall_seconds: Optional[float] = typer.Option(None, help="stop this run after this many wall-clock seconds"),
    seed: int = typer.Option(0, help="seed of the strategy; same seed, same search"),
    study: Optional[str] = typer.Option(None, help="study name (default: benchmark-dataset-strategy-sSEED)"),
    storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL: sqlite:///file.db, memory:, or another SQLAlchemy URL"),
    resume: bool = typer.Option(False, help="continue an existing study: finished trials are replayed, none repeated"),
    charge_duplicates: bool = typer.Option(True, help="charge a repeated architecture's cost again (NB201 protocol does)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
    progress: bool = typer.Option(True, help="show a progress bar on stderr"),
) -> None:
    """Search a tabular benchmark and print the best architecture with its reported metrics."""
    from nasforge.study import Study, check_budgets

    bench_factory = BENCHMARKS.get(benchmark)
    bench_kwargs = {k: v for k, v in {"dataset": dataset, "protocol": protocol, "metric": metric,
                                      "data_dir": data_dir}.items() if v is not None}
    bench = _build("benchmark", benchmark, bench_factory, bench_kwargs)
    space_name = space or bench.space_name
    SPACES.get(space_name)
    if space_name != bench.space_name:
        raise CLIError(f"benchmark {benchmark!r} covers space {bench.space_name!r}, not {space_name!r}")
    sp = bench.space
    strat_cls = STRATEGIES.get(strategy)
    strat = _build("strategy", strategy, strat_cls, {"seed": seed, **_parse_params(param)}, sp)
    if trials is None and budget_seconds is None and wall_seconds is None:
        trials = 100
    check_budgets(bench, trials, budget_seconds, wall_seconds)
    name = study or "-".join(filter(None, [benchmark, getattr(bench, "dataset", None), strategy, f"s{seed}"]))
    st = Study(sp, strat, bench, name=name, storage=storage, resume=resume, charge_duplicates=charge_duplicates,
               config={"benchmark": benchmark, "seed": seed})
    if bench.warning and not as_json:
        err.print(f"[bold yellow]warning:[/] {bench.warning}", highlight=False)
    t0 = time.monotonic()
    try:
        _run_with_progress(st, trials, budget_seconds, wall_seconds, show=progress and not as_json)
    except KeyboardInterrupt:
        err.print(f"interrupted after {st.n_trials} finished trials (all recorded in {storage}); "
                  f"continue with the same command and --resume --study {name}", highlight=False)
        raise typer.Exit(130)
    summary = st.summary()
    summary["wall_seconds"] = time.monotonic() - t0
    summary["benchmark"] = bench.describe()
    summary["strategy"] = {"name": strategy, **strat.get_params()}
    avg = bench.random_average()
    summary["reference"] = {"random_average": avg, "best_in_table": bench.best_possible()}
    if summary["best"] is not None:
        got = summary["best"]["metrics"][bench.report]
        summary["reference"]["relative_improvement_pct"] = 100.0 * (got - avg) / abs(avg) if avg else None
    st.close()
    if as_json:
        print(json.dumps(summary))
        return
    _print_summary(summary)


def _run_with_progress(st: Any, trials: int | None, budget_seconds: float | None,
                       wall_seconds: float | None, show: bool) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if trials is not None:
        total, unit, done = float(trials), "trials", lambda: float(st.n_trials)
    elif budget_seconds is not None:
        total, unit, done = float(budget_seconds), "sim. s", lambda: st.cost_spent
    else:
        t0 = time.monotonic()
        total, unit, done = float(wall_seconds or 1), "s", lambda: time.monotonic() - t0
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} " + unit), TimeElapsedColumn(),
                  console=err, transient=True, disable=not show) as bar:
        task = bar.add_task("searching", total=total, completed=min(done(), total))

        def update(study: Any, rec: Any) -> None:
            best = study.best_trial()
            desc = "searching" if best is None else f"best {study.evaluator.objective} {best.objective:.3f}"
            bar.update(task, completed=min(done(), total), description=desc)

        st.optimize(n_trials=trials, budget_seconds=budget_seconds, wall_seconds=wall_seconds, callbacks=[update])


def _print_summary(s: dict[str, Any]) -> None:
    out.print(f"study [bold]{s['study']}[/]: {s['trials']} trials ({s['failed']} failed, {s['duplicates']} "
              f"duplicates), {s['simulated_seconds']:.0f} simulated s, {s['wall_seconds']:.1f} wall s", highlight=False)
    if s["best"] is None:
        out.print("no trial finished successfully")
        return
    out.print(f"best architecture (by {s['objective']}): [bold]{s['best']['arch']}[/]", highlight=False)
    table = Table("metric", "value")
    for k, v in s["best"]["metrics"].items():
        table.add_row(k + (" (reported)" if k == s["report"] else ""), _metric_fmt(v))
    out.print(table)
    ref = s["reference"]
    if ref.get("relative_improvement_pct") is not None:
        out.print(f"{s['report']}: average random architecture {ref['random_average']:.4f}, best in table "
                  f"{ref['best_in_table']:.4f}; relative improvement over random "
                  f"{ref['relative_improvement_pct']:+.2f}%", highlight=False)
    if "warning" in s:
        out.print(f"[bold yellow]warning:[/] {s['warning']}", highlight=False)


def _open_storage(storage: str) -> Any:
    from nasforge.storage import get_storage

    if storage.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(storage[len("sqlite:///"):])
        if not path.is_file():
            raise CLIError(f"no study database at {path}; pass --storage sqlite:///path/to/file.db")
    return get_storage(storage)


@app.command()
@_guard
def studies(storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL"),
            as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List the studies in a storage with their size and best objective."""
    store = _open_storage(storage)
    rows = []
    for info in store.list_studies():
        trials = store.trials(info.name)
        done = [t for t in trials if t.status == "complete" and t.objective is not None]
        best = max(done, key=lambda t: t.objective, default=None)
        rows.append({"study": info.name, "space": info.config.get("space"), "strategy": info.config.get("strategy"),
                     "benchmark": info.config.get("benchmark"), "trials": sum(t.finished for t in trials),
                     "best_objective": None if best is None else best.objective,
                     "created_at": info.created_at})
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("study", "space", "strategy", "benchmark", "trials", "best objective")
    for r in rows:
        table.add_row(r["study"], str(r["space"]), str(r["strategy"]), str(r["benchmark"]), str(r["trials"]),
                      "-" if r["best_objective"] is None else f"{r['best_objective']:.4f}")
    out.print(table)


@app.command()
@_guard
def show(name: str = typer.Argument(..., help="study name"),
         storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL"),
         top: int = typer.Option(10, help="how many of the best trials to show"),
         as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Show a study's best trials (by objective) with their metrics."""
    if top < 1:
        raise CLIError(f"--top must be at least 1, got {top}")
    store = _open_storage(storage)
    info = store.get_study(name)
    trials = store.trials(name)
    done = sorted((t for t in trials if t.status == "complete" and t.objective is not None),
                  key=lambda t: (-t.objective, t.number))
    unique, seen = [], set()
    for t in done:
        if t.arch not in seen:
            seen.add(t.arch)
            unique.append(t)
    best = unique[:top]
    counts = {s: sum(t.status == s for t in trials) for s in ("complete", "failed", "interrupted", "running")}
    ev = info.config.get("evaluator", {})
    payload = {"study": name, "config": info.config, "counts": counts,
               "simulated_seconds": sum(t.cost for t in trials if t.finished),
               "top": [{"trial": t.number, "arch": t.arch, "objective": t.objective, "metrics": dict(t.metrics)}
                       for t in best]}
    if as_json:
        print(json.dumps(payload))
        return
    out.print(f"study [bold]{name}[/]: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
              + f"; objective {ev.get('objective')}, reported {ev.get('report')}", highlight=False)
    metric_names = sorted({k for t in best for k in t.metrics})
    table = Table("#", "trial", "architecture", "objective", *metric_names)
    for i, t in enumerate(best, 1):
        table.add_row(str(i), str(t.number), t.arch, f"{t.objective:.4f}",
                      *(_metric_fmt(t.metrics.get(m, "")) for m in metric_names))
    out.print(table)


@app.command("list")
@_guard
def list_(kind: str = typer.Argument(..., help="spaces, strategies or benchmarks"),
          as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List registered spaces, strategies or benchmarks with their options."""
    registries = {"spaces": SPACES, "strategies": STRATEGIES, "benchmarks": BENCHMARKS}
    if kind not in registries:
        raise CLIError(f"unknown kind {kind!r}; accepted: {', '.join(registries)}")
    reg = registries[kind]
    rows = []
    for n in reg.list():
        obj = reg.get(n)
        doc = (inspect.getdoc(obj) or "").splitlines()
        rows.append({"name": n, "options": _accepted(obj), "about": doc[0] if doc else ""})
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("name", "options", "about")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["options"]), r["about"])
    out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
