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

from nasforge.registry import BENCHMARKS, SPACES, STRATEGIES, UnknownNameError, accepted_options, check_options

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


def _build(kind: str, name: str, factory: Callable[..., Any], kwargs: dict[str, Any], *args: Any) -> Any:
    check_options(kind, name, factory, kwargs)
    return factory(*args, **kwargs)


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
    workers: int = typer.Option(1, help="--task: trials trained in parallel processes"),
    strategy: str = typer.Option("rea", "--strategy", "-s", help="search strategy (see `nasforge list strategies`)"),
    param: List[str] = typer.Option([], "--param", "-p", help="strategy option key=value, repeatable (e.g. -p population_size=10)"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="stop after this many trials in the study"),
    budget_seconds: Optional[float] = typer.Option(None, help="stop when the evaluator's cost reaches this (simulated seconds on a tabular benchmark, training seconds with --task)"),
    wall_seconds: Optional[float] = typer.Option(None, help="stop this run after this many wall-clock seconds"),
    seed: int = typer.Option(0, help="seed of the strategy; same seed, same search"),
    study: Optional[str] = typer.Option(None, help="study name (default: benchmark-dataset-strategy-sSEED)"),
    storage: str = typer.Option(DEFAULT_STORAGE, help="storage URL: sqlite:///file.db, memory:, or another SQLAlchemy URL"),
    resume: bool = typer.Option(False, help="continue an existing study: finished trials are replayed, none repeated"),
    charge_duplicates: bool = typer.Option(True, help="charge a repeated architecture's cost again (NB201 protocol does)"),
    proxy_names: Optional[str] = typer.Option(None, "--proxies", help="training-free strategies (naswot, prescreen, robot): the zero-cost proxies to compute (default: the strategy's own; all for robot)"),
    proxy_data: Optional[str] = typer.Option(None, help="training-free strategies: the proxies' batch, task / patches / noise (default task with --task, else patches)"),
    proxy_batch_size: int = typer.Option(64, help="training-free strategies: batch size of the proxies"),
    proxy_table: Optional[str] = typer.Option(None, help="training-free strategies: read proxies from a file written by `nasforge proxies --out` instead of computing them"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
    progress: bool = typer.Option(True, help="show a progress bar on stderr"),
) -> None:
    """Search a tabular benchmark, or train candidates on real data (--task); print the best architecture."""
    from nasforge.study import Study, check_budgets

    executor = None
    if task is not None:
        if benchmark is not None:
            raise CLIError("give either --benchmark (a tabular benchmark) or --task (real data), not both")
        task_cfg = {"source": task, "label_column": label_column, "image_size": image_size, "grayscale": grayscale,
                    "seed": data_seed}
        tk = _load_task(task_cfg)
        sp = _make_space(space or ("mlp" if tk.kind == "tabular" else "nb201"), space_param)
        from nasforge.evaluators.training import TrainingEvaluator

        evaluator: Any = TrainingEvaluator(tk, sp, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                                           weight_decay=weight_decay, label_smoothing=label_smoothing, seed=data_seed,
                                           device=device, time_limit=time_limit)
        if workers > 1:
            from nasforge.executors import ProcessExecutor

            executor = ProcessExecutor(evaluator, n_workers=workers)
        elif workers < 1:
            raise CLIError(f"--workers must be at least 1, got {workers}")
        label = Path(task).stem if Path(task).suffix else Path(task).name
        config = {"task": task_cfg, "seed": seed}
    else:
        benchmark = benchmark or "nb201"
        bench_factory = BENCHMARKS.get(benchmark)
        bench_kwargs = {k: v for k, v in {"dataset": dataset, "protocol": protocol, "metric": metric,
                                          "data_dir": data_dir}.items() if v is not None}
        evaluator = _build("benchmark", benchmark, bench_factory, bench_kwargs)
        space_name = space or evaluator.space_name
        SPACES.get(space_name)
        if space_name != evaluator.space_name:
            raise CLIError(f"benchmark {benchmark!r} covers space {evaluator.space_name!r}, not {space_name!r}")
        if space_param:
            raise CLIError("--space-param is for --task searches; a benchmark's space is fixed")
        sp = evaluator.space
        label = "-".join(filter(None, [benchmark, getattr(evaluator, "dataset", None)]))
        config = {"benchmark": benchmark, "seed": seed}
    strat_cls = STRATEGIES.get(strategy)
    strat_kwargs = {"seed": seed, **_parse_params(param)}
    if "scorer" in accepted_options(strat_cls):
        strat_kwargs["scorer"] = _make_scorer(strategy, strat_kwargs, sp, tk if task is not None else None,
                                              None if task is not None else evaluator, proxy_names, proxy_data,
                                              proxy_batch_size, proxy_table, seed)
    elif proxy_names or proxy_data or proxy_table:
        raise CLIError(f"--proxies / --proxy-data / --proxy-table are for the training-free strategies "
                       f"(naswot, prescreen, robot), not {strategy!r}")
    strat = _build("strategy", strategy, strat_cls, strat_kwargs, sp)
    if trials is None and budget_seconds is None and wall_seconds is None:
        trials = 100
    check_budgets(evaluator, trials, budget_seconds, wall_seconds)
    name = study or f"{label}-{strategy}-s{seed}"
    st = Study(sp, strat, evaluator, name=name, storage=storage, resume=resume, charge_duplicates=charge_duplicates,
               config=config)
    if evaluator.warning and not as_json:
        err.print(f"[bold yellow]warning:[/] {evaluator.warning}", highlight=False)
    t0 = time.monotonic()
    try:
        _run_with_progress(st, trials, budget_seconds, wall_seconds, show=progress and not as_json, executor=executor)
    except KeyboardInterrupt:
        err.print(f"interrupted after {st.n_trials} finished trials (all recorded in {storage}); "
                  f"continue with the same command and --resume --study {name}", highlight=False)
        raise typer.Exit(130)
    finally:
        if executor is not None:
            executor.shutdown()
    summary = st.summary()
    summary["wall_seconds"] = time.monotonic() - t0
    summary["strategy"] = {"name": strategy, **strat.plain_params()}
    if task is None:
        summary["benchmark"] = evaluator.describe()
        avg = evaluator.random_average()
        summary["reference"] = {"random_average": avg, "best_in_table": evaluator.best_possible()}
        if summary["best"] is not None:
            got = summary["best"]["metrics"][evaluator.report]
            summary["reference"]["relative_improvement_pct"] = 100.0 * (got - avg) / abs(avg) if avg else None
    else:
        summary["task"] = tk.describe()
        summary["space"] = {"name": sp.name, **sp.get_params()}
    st.close()
    if as_json:
        print(json.dumps(summary, default=float))
        return
    _print_summary(summary)


def _make_scorer(strategy: str, kwargs: dict[str, Any], space: Any, task: Any, bench: Any, names: str | None,
                 data: str | None, batch_size: int, table: str | None, seed: int) -> Any:
    """The zero-cost proxy scorer a training-free strategy calls: computed on the fly, or read from a table."""
    if names is None:  # the proxies the strategy reads
        if strategy == "naswot":
            names = kwargs.get("proxy", "naswot")
        elif strategy == "prescreen":
            names = kwargs.setdefault("proxy", "naswot")
        else:
            if isinstance(kwargs.get("proxies"), str):  # -p proxies=synflow,naswot
                kwargs["proxies"] = [n.strip() for n in kwargs["proxies"].split(",") if n.strip()]
            names = kwargs.get("proxies") and ",".join(kwargs["proxies"])
    if table is not None:
        from nasforge.evaluators.proxy_study import ProxyTable

        return ProxyTable(space, table, proxies=names)
    from nasforge.evaluators.zero_cost import ProxyScorer

    if task is not None:
        return ProxyScorer(space, proxies=names, task=task, data=data or "task", batch_size=batch_size, seed=seed)
    if data == "task":
        raise CLIError("--proxy-data task needs --task; a benchmark has no training data: use patches or noise")
    from nasforge.evaluators.proxy_study import benchmark_network_input

    shape, classes = benchmark_network_input(bench)
    return ProxyScorer(space, proxies=names, input_shape=shape, num_classes=classes, data=data or "patches",
                       batch_size=batch_size, seed=seed)


def _load_task(cfg: dict[str, Any]) -> Any:
    from nasforge.data import load_task

    return load_task(cfg["source"], label_column=cfg["label_column"], image_size=cfg["image_size"],
                     grayscale=cfg["grayscale"], seed=cfg["seed"])


def _make_space(name: str, params: list[str] | dict[str, Any]) -> Any:
    factory = SPACES.get(name)
    kwargs = params if isinstance(params, dict) else _parse_params(params)
    return _build("space", name, factory, kwargs)


def _run_with_progress(st: Any, trials: int | None, budget_seconds: float | None,
                       wall_seconds: float | None, show: bool, executor: Any = None) -> None:
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
            desc = "searching" if best is None else f"best {study.evaluator.objective} {best.value:.3f}"
            bar.update(task, completed=min(done(), total), description=desc)

        st.optimize(n_trials=trials, budget_seconds=budget_seconds, wall_seconds=wall_seconds, callbacks=[update],
                    executor=executor)


def _print_summary(s: dict[str, Any]) -> None:
    out.print(f"study [bold]{s['study']}[/]: {s['trials']} trials ({s['failed']} failed, {s['duplicates']} "
              f"duplicates), {s['simulated_seconds']:.1f} s of evaluation cost ({'training' if 'task' in s else 'simulated'}), "
              f"{s['wall_seconds']:.1f} wall s", highlight=False)
    if s["best"] is None:
        out.print("no trial finished successfully")
        return
    out.print(f"best architecture (by {s['objective']}): [bold]{s['best']['arch']}[/]", highlight=False)
    table = Table("metric", "value")
    for k, v in s["best"]["metrics"].items():
        if not isinstance(v, list):  # curves are in `nasforge show --json`
            table.add_row(k + (" (reported)" if k == s["report"] else ""), _metric_fmt(v))
    out.print(table)
    ref = s.get("reference", {})
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
    baseline_random: int = typer.Option(0, help="also train this many random architectures of the space the same way and report their mean test accuracy"),
    seed: int = typer.Option(0, help="seed for the random baseline architectures"),
    out_dir: Optional[str] = typer.Option(None, "--out", help="write the trained model here (genotype.json + model.pt) for `nasforge export`"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Retrain an architecture on train+validation with a longer schedule and report its test accuracy."""
    import numpy as np

    from nasforge.evaluators.training import TrainingEvaluator, train_final
    from nasforge.export import save_checkpoint

    train_cfg: dict[str, Any] = {}
    if study is not None:
        store = _open_storage(storage)
        info = store.get_study(study)
        cfg = info.config
        if "task" not in cfg:
            raise CLIError(f"study {study!r} searched a tabular benchmark ({cfg.get('benchmark')}); "
                           f"only --task studies can be retrained")
        task_cfg, space_name, space_kwargs = cfg["task"], cfg["space"], cfg.get("space_params", {})
        train_cfg = {k: cfg["evaluator"][k] for k in ("epochs", "batch_size", "optimizer", "lr", "weight_decay",
                                                      "label_smoothing", "schedule")}
        if arch is None:
            done = [t for t in store.trials(study) if t.status == "complete" and t.value is not None]
            if not done:
                raise CLIError(f"study {study!r} has no complete trial to retrain")
            arch = max(done, key=lambda t: (t.value, -t.number)).arch
        store.close()
    else:
        if task is None or space is None or arch is None:
            raise CLIError("give --study NAME, or all of --task, --space and --arch")
        task_cfg = {"source": task, "label_column": label_column, "image_size": image_size,
                    "grayscale": grayscale, "seed": data_seed}
        space_name, space_kwargs = space, _parse_params(space_param)
    tk = _load_task(task_cfg)
    sp = _make_space(space_name, space_kwargs)
    chosen = sp.parse(arch)
    search_epochs = train_cfg.pop("epochs", None)
    final_epochs = epochs or (3 * search_epochs if search_epochs else 30)
    if batch_size is not None:
        train_cfg["batch_size"] = batch_size
    if lr is not None:
        train_cfg["lr"] = lr
    if baseline_random < 0:
        raise CLIError(f"--baseline-random must be >= 0, got {baseline_random}")
    ev = TrainingEvaluator(tk, sp, epochs=final_epochs, seed=task_cfg["seed"], device=device, **train_cfg)
    from rich.progress import Progress

    with Progress(console=err, transient=True, disable=as_json) as bar:
        job = bar.add_task(f"training {chosen}", total=1 + baseline_random)
        model, metrics = train_final(ev, chosen)
        bar.advance(job)
        baseline = []
        rng = np.random.default_rng(seed)
        for _ in range(baseline_random):
            ra = sp.sample(rng)
            bar.update(job, description=f"random baseline {ra}")
            baseline.append({"arch": str(ra), "test_acc": train_final(ev, ra)[1]["test_acc"]})
            bar.advance(job)
    result: dict[str, Any] = {"arch": str(chosen), "space": sp.name, "task": tk.name, "epochs": final_epochs,
                              **{k: v for k, v in metrics.items() if k != "train_loss_curve"},
                              "train_loss_curve": metrics["train_loss_curve"]}
    if baseline:
        mean = float(np.mean([b["test_acc"] for b in baseline]))
        result["random_baseline"] = {"n": len(baseline), "mean_test_acc": mean,
                                     "std_test_acc": float(np.std([b["test_acc"] for b in baseline])),
                                     "archs": baseline}
    if out_dir is not None:
        save_checkpoint(out_dir, sp, chosen, tk, model, metrics, {"epochs": final_epochs, **train_cfg,
                                                              "task": task_cfg})
        result["checkpoint"] = str(out_dir)
    if as_json:
        print(json.dumps(result, default=float))
        return
    out_lines = [f"retrained [bold]{chosen}[/] on {tk.name} train+validation for {final_epochs} epochs",
                 f"test accuracy {metrics['test_acc']:.2f}%  ({metrics['params']:,} parameters, "
                 f"{metrics['flops']:,} FLOPs, {metrics['latency_ms']:.2f} ms at batch 1)"]
    if baseline:
        rb = result["random_baseline"]
        out_lines.append(f"average of {rb['n']} random architectures of the same space, trained the same way: "
                         f"{rb['mean_test_acc']:.2f}% (std {rb['std_test_acc']:.2f})")
    if out_dir is not None:
        out_lines.append(f"saved to {out_dir} (export with `nasforge export {out_dir}`)")
    for line in out_lines:
        out.print(line, highlight=False)


@app.command("export")
@_guard
def export_(checkpoint: str = typer.Argument(..., help="a directory written by `nasforge train --out`"),
            out_dir: Optional[str] = typer.Option(None, "--out", help="write the files here (default: the checkpoint)"),
            as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """Export a trained model as TorchScript and ONNX (checked with ONNX Runtime against PyTorch)."""
    from nasforge.export import export_checkpoint

    try:
        manifest = export_checkpoint(checkpoint, out_dir)
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None
    manifest["directory"] = str(out_dir or checkpoint)
    if as_json:
        print(json.dumps(manifest))
        return
    d = manifest["directory"]
    out.print(f"wrote {d}/{manifest['torchscript']} (max |diff| vs PyTorch "
                           f"{manifest['torchscript_max_abs_diff']:.2e}) and {d}/{manifest['onnx']} (ONNX Runtime "
                           f"max |diff| {manifest['onnx_max_abs_diff']:.2e}); load the weights with "
                           f"nasforge.export.load_model('{d}')", highlight=False)


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
    workers: int = typer.Option(2, help="parallel processes"),
    out_dir: Optional[str] = typer.Option("bench-out", "--out", help="directory for bench.json and regret.png ('' for none)"),
    reuse: Optional[str] = typer.Option(None, help="an earlier bench.json of the same benchmark and budget: its runs "
                                        "of the methods and seeds asked for are reused, not run again"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Compare strategies (and peers) over many seeds: table at budget checkpoints, regret plot, JSON of every run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nasforge.bench import BenchConfig, run_bench

    strat_params: dict[str, dict[str, Any]] = {}
    for key, value in _parse_params(param).items():
        name, dot, opt = key.partition(".")
        if not dot or not opt:
            raise CLIError(f"malformed --param {key!r}; expected strategy.option=value, e.g. rea.population_size=20")
        strat_params.setdefault(name, {})[opt] = value
    if trials is None and budget_seconds is None:
        trials = 100
    try:
        cps = [float(c) for c in checkpoints.split(",") if c.strip()]
    except ValueError:
        raise CLIError(f"malformed --checkpoints {checkpoints!r}; expected numbers like 3000,6000,12000") from None
    if seeds < 1:
        raise CLIError(f"--seeds must be at least 1, got {seeds}")
    bench_kwargs = {k: v for k, v in {"dataset": dataset, "protocol": protocol, "metric": metric,
                                      "data_dir": data_dir}.items() if v is not None}
    _build("benchmark", benchmark, BENCHMARKS.get(benchmark), bench_kwargs)  # validates names and options
    cfg = BenchConfig(strategies=[s for s in strategies.split(",") if s.strip()],
                      peers=[p for p in peers.split(",") if p.strip()], benchmark=benchmark,
                      benchmark_kwargs=bench_kwargs, seeds=list(range(seed_start, seed_start + seeds)),
                      n_trials=trials, budget_seconds=budget_seconds, checkpoints=cps,
                      strategy_params=strat_params, workers=workers)
    with Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json) as bar:
        task = bar.add_task("runs", total=len(cfg.methods) * len(cfg.seeds))
        if reuse is not None and not Path(reuse).is_file():
            raise CLIError(f"--reuse {reuse!r}: no such file; give the bench.json of an earlier run")
        try:
            result = run_bench(cfg, out_dir or None, progress=lambda done, total: bar.update(task, completed=done, total=total),
                               reuse=reuse)
        except ValueError as e:
            raise CLIError(str(e)) from None
    summary = {k: v for k, v in result.items() if k != "runs"}
    if as_json:
        print(json.dumps(summary, default=float))
        return
    unit = "trials" if cfg.n_trials is not None else "sim. s"
    table = Table("method", f"budget ({unit})", "mean", "std", "median", "sem", "n", "rel. impr. %", "regret",
                  title=", ".join(f"{k} {v}" for k, v in result["benchmark"].items()) + f", {len(cfg.seeds)} seeds")
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
    workers: int = typer.Option(1, help="parallel processes (one torch thread each)"),
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
    bench = _build("benchmark", benchmark, BENCHMARKS.get(benchmark), bench_kwargs)
    space_name = space or bench.space_name
    if space_name != bench.space_name:
        raise CLIError(f"benchmark {benchmark!r} covers space {bench.space_name!r}, not {space_name!r}")
    with Progress(TextColumn("cells"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=as_json) as bar:
        task = bar.add_task("cells", total=sample)
        res = proxy_study(space_name, bench, sample=sample, seed=seed, proxies=proxy, data=data,
                          batch_size=batch_size, workers=workers, out=out_file,
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
    """List the studies in a storage with their size and best objective."""
    store = _open_storage(storage)
    rows = []
    for info in store.list_studies():
        trials = store.trials(info.name)
        done = [t for t in trials if t.status == "complete" and t.value is not None]
        best = max(done, key=lambda t: t.value, default=None)
        rows.append({"study": info.name, "space": info.config.get("space"), "strategy": info.config.get("strategy"),
                     "benchmark": info.config.get("benchmark"), "trials": sum(t.finished for t in trials),
                     "best_objective": None if best is None else best.value,
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
    done = sorted((t for t in trials if t.status == "complete" and t.value is not None),
                  key=lambda t: (-t.value, t.number))
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
               "top": [{"trial": t.number, "arch": t.arch, "objective": t.value, "metrics": dict(t.metrics)}
                       for t in best]}
    if as_json:
        print(json.dumps(payload))
        return
    out.print(f"study [bold]{name}[/]: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
              + f"; objective {ev.get('objective')}, reported {ev.get('report')}", highlight=False)
    metric_names = sorted({k for t in best for k in t.metrics})
    table = Table("#", "trial", "architecture", "objective", *metric_names)
    for i, t in enumerate(best, 1):
        table.add_row(str(i), str(t.number), t.arch, f"{t.value:.4f}",
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
        rows.append({"name": n, "options": accepted_options(obj), "about": doc[0] if doc else ""})
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
