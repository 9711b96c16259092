"""Comparing strategies (and peer frameworks) over many seeds on a tabular benchmark.

:func:`run_bench` runs every (method, seed) pair in parallel processes (or as Ray
tasks) with in-memory studies, then summarises the *reported* metric of each run's
incumbent (the best trial by feedback so far) at budget checkpoints: mean,
std and median over seeds, the relative improvement over the average random
architecture (100 x (acc - acc_random_avg) / acc_random_avg, as proposed in
"NAS evaluation is frustratingly hard"), and regret against the best
architecture in the table. It writes ``bench.json`` (every run's trajectory)
and ``regret.png`` (mean regret with 95% confidence bands).

A checkpoint ``c`` counts the trials that *started* before the budget reached
``c`` (the same rule as ``Study.optimize``: the trial that crosses the budget
counts).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass
class BenchConfig:
    """One comparison: methods x seeds on a benchmark with one budget."""

    strategies: list[str]
    benchmark: str = "nb201"
    benchmark_kwargs: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: list(range(10)))
    n_trials: int | None = None
    budget_seconds: float | None = None
    checkpoints: list[float] = field(default_factory=list)
    strategy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    peers: list[str] = field(default_factory=list)
    workers: int = 2

    def __post_init__(self) -> None:
        if (self.n_trials is None) == (self.budget_seconds is None):
            raise ValueError("give exactly one budget: n_trials or budget_seconds")
        if not self.strategies and not self.peers:
            raise ValueError("give at least one strategy or peer to compare")
        if not self.seeds:
            raise ValueError("give at least one seed")
        budget = float(self.n_trials if self.n_trials is not None else self.budget_seconds)  # type: ignore[arg-type]
        if not self.checkpoints:
            self.checkpoints = [budget / 4, budget / 2, budget]
        bad = [c for c in self.checkpoints if not 0 < c <= budget]
        if bad:
            raise ValueError(f"checkpoints must lie in (0, {budget:g}], got {bad}")
        self.checkpoints = sorted(float(c) for c in self.checkpoints)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {self.workers!r}")
        unknown = set(self.strategy_params) - set(self.strategies)
        if unknown:
            raise ValueError(f"options given for {sorted(unknown)}, which are not among the strategies "
                             f"{self.strategies}")

    @property
    def unit(self) -> str:
        return "trials" if self.n_trials is not None else "seconds"

    @property
    def methods(self) -> list[str]:
        return list(self.strategies) + list(self.peers)


_BENCH_CACHE: dict[str, Any] = {}


def _benchmark(name: str, kwargs: dict[str, Any]) -> Any:
    from nasforge.registry import create_benchmark

    key = json.dumps([name, kwargs], sort_keys=True)
    if key not in _BENCH_CACHE:
        b = create_benchmark(name, **kwargs)
        b.prepare()
        _BENCH_CACHE[key] = b
    return _BENCH_CACHE[key]


def run_one(cfg: BenchConfig, method: str, seed: int) -> dict[str, Any]:
    """One search; its trials as ``{"objective", "report", "cost"}`` in order, and its overhead."""
    t0 = time.perf_counter()
    if method in cfg.peers:
        from nasforge.peers import run_peer

        trials = run_peer(method, cfg.benchmark, cfg.benchmark_kwargs, seed, n_trials=cfg.n_trials,
                          budget_seconds=cfg.budget_seconds)
        trials = [{k: t.get(k) for k in ("objective", "report", "cost")} for t in trials]
        kind = "peer"
    else:
        from nasforge.registry import create_strategy
        from nasforge.study import Study

        bench = _benchmark(cfg.benchmark, cfg.benchmark_kwargs)
        strat = create_strategy(method, bench.space, seed=seed, **cfg.strategy_params.get(method, {}))
        st = Study(bench.space, strat, bench, name=f"{method}-{seed}")
        st.optimize(n_trials=cfg.n_trials, budget_seconds=cfg.budget_seconds)
        trials = [{"objective": r.value, "report": r.metrics.get(bench.report) if r.status == "complete" else None,
                   "cost": r.cost} for r in st.trials]
        kind = "nasforge"
    return {"method": method, "kind": kind, "seed": seed, "trials": trials,
            "wall_seconds": time.perf_counter() - t0}


def incumbent_at(trials: list[dict[str, Any]], checkpoint: float, unit: str) -> float | None:
    """The reported metric of the best-by-feedback trial among those started before ``checkpoint``."""
    spent, best = 0.0, None
    for i, t in enumerate(trials):
        if (i if unit == "trials" else spent) >= checkpoint:
            break
        spent += float(t["cost"] or 0.0)
        if t["objective"] is not None and (best is None or t["objective"] > best["objective"]):
            best = t
    return None if best is None else best["report"]


def curve(trials: list[dict[str, Any]], unit: str) -> tuple[np.ndarray, np.ndarray]:
    """Budget used after each trial, and the incumbent's reported metric then (NaN before any success)."""
    xs, ys, spent, best = [], [], 0.0, None
    for i, t in enumerate(trials):
        spent += float(t["cost"] or 0.0)
        if t["objective"] is not None and (best is None or t["objective"] > best["objective"]):
            best = t
        xs.append(i + 1 if unit == "trials" else spent)
        ys.append(np.nan if best is None else best["report"])
    return np.array(xs, dtype=float), np.array(ys, dtype=float)


def summarize(cfg: BenchConfig, runs: list[dict[str, Any]], random_average: float,
              best_possible: float) -> list[dict[str, Any]]:
    """Rows per (method, checkpoint): mean, std, median, standard error, relative improvement, regret."""
    rows = []
    for method in cfg.methods:
        mine = [r for r in runs if r["method"] == method]
        for c in cfg.checkpoints:
            vals = np.array([v for r in mine if (v := incumbent_at(r["trials"], c, cfg.unit)) is not None], float)
            n = len(vals)
            mean = float(vals.mean()) if n else math.nan
            rows.append({
                "method": method, "checkpoint": c, "n": n, "mean": mean,
                "std": float(vals.std(ddof=1)) if n > 1 else 0.0,
                "median": float(np.median(vals)) if n else math.nan,
                "sem": float(vals.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0,
                "relative_improvement_pct": 100.0 * (mean - random_average) / abs(random_average)
                if random_average else math.nan,
                "regret": best_possible - mean,
            })
    return rows


def plot_regret(cfg: BenchConfig, runs: list[dict[str, Any]], best_possible: float, path: Path,
                title: str = "") -> Path | None:
    """Mean regret (best in table - incumbent's reported metric) against budget, 95% bands."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    budget = cfg.checkpoints[-1]
    grid = np.linspace(budget / 100, budget, 100)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in cfg.methods:
        mat = []
        for r in (r for r in runs if r["method"] == method):
            x, y = curve(r["trials"], cfg.unit)
            idx = np.searchsorted(x, grid, side="right") - 1
            mat.append(np.where(idx >= 0, best_possible - y[np.clip(idx, 0, None)], np.nan))
        m = np.array(mat)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(m, axis=0)
            half = 1.96 * np.nanstd(m, axis=0, ddof=1) / np.sqrt(np.sum(~np.isnan(m), axis=0))
        ax.plot(grid, mean, label=method)
        ax.fill_between(grid, np.maximum(mean - half, 1e-6), mean + half, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("trials" if cfg.unit == "trials" else "simulated seconds")
    ax.set_ylabel("regret of the reported metric")
    ax.set_title(title or f"{cfg.benchmark} ({len(cfg.seeds)} seeds)")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _job(args: tuple[BenchConfig, str, int]) -> dict[str, Any]:
    cfg, method, seed = args
    return run_one(cfg, method, seed)


def reusable_runs(cfg: BenchConfig, previous: str | Path | dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """Runs of an earlier comparison (its ``bench.json`` or result) that ``cfg`` would repeat.

    The earlier comparison must have the same benchmark, benchmark options and budget (a
    ``ValueError`` names the difference otherwise); a (method, seed) pair is reused when the
    method is in ``cfg`` with the same strategy options. Searches are deterministic for a seed,
    so a reused run is the run ``cfg`` would make.
    """
    prev = json.loads(Path(previous).read_text()) if isinstance(previous, (str, Path)) else previous
    if "config" not in prev or "runs" not in prev:
        raise ValueError(f"{previous!r} is not a bench.json written by run_bench (no 'config' and 'runs')")
    old = prev["config"]
    for key in ("benchmark", "benchmark_kwargs", "n_trials", "budget_seconds"):
        if old.get(key) != getattr(cfg, key):
            raise ValueError(f"cannot reuse runs: the earlier comparison has {key}={old.get(key)!r}, "
                             f"this one {getattr(cfg, key)!r}")
    old_params = old.get("strategy_params", {})
    keep = {}
    for r in prev["runs"]:
        m = r["method"]
        if m in cfg.methods and r["seed"] in cfg.seeds and old_params.get(m, {}) == cfg.strategy_params.get(m, {}):
            keep[(m, r["seed"])] = r
    return keep


def run_bench(cfg: BenchConfig, out_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None,
              reuse: str | Path | dict[str, Any] | None = None, *, executor: str = "process",
              ray_address: str | None = None) -> dict[str, Any]:
    """Run the comparison; write ``bench.json`` and ``regret.png`` to ``out_dir`` when given.

    ``reuse``: an earlier ``bench.json`` (path or loaded dict) of the same benchmark and budget;
    its runs of methods and seeds in ``cfg`` are taken as they are instead of being run again
    (to add a strategy to a finished comparison). See :func:`reusable_runs`.

    ``executor``: where the runs go, ``cfg.workers`` at a time: ``process`` (worker processes here;
    one worker runs them in this process) or ``ray`` (Ray tasks of one CPU each, on a local Ray
    instance or the cluster at ``ray_address``; its nodes need nasforge and the benchmark data at the
    same path). Every run is seeded, so the results do not depend on where they ran.
    """
    from nasforge.executors import check_pool

    check_pool(executor, ray_address)
    bench = _benchmark(cfg.benchmark, cfg.benchmark_kwargs)
    for m in cfg.strategies:  # fail fast on unknown names and options
        from nasforge.registry import create_strategy

        create_strategy(m, bench.space, seed=0, **cfg.strategy_params.get(m, {}))
    if cfg.peers:
        from nasforge.peers import PEERS

        bad = [p for p in cfg.peers if p not in PEERS]
        if bad:
            raise ValueError(f"unknown peer(s) {bad}; known: {', '.join(PEERS)}")
    from nasforge.study import check_budgets

    check_budgets(bench, cfg.n_trials, cfg.budget_seconds)
    reused = reusable_runs(cfg, reuse) if reuse is not None else {}
    jobs = [(cfg, m, s) for m in cfg.methods for s in cfg.seeds if (m, s) not in reused]
    runs: list[dict[str, Any]] = list(reused.values())
    t0 = time.perf_counter()
    if cfg.workers == 1 and executor == "process":
        for j in jobs:
            runs.append(_job(j))
            if progress:
                progress(len(runs) - len(reused), len(jobs))
    elif jobs:
        from nasforge.executors import make_pool

        with make_pool(executor, cfg.workers, ray_address=ray_address) as pool:
            for run in pool.map_unordered(_job, jobs):
                runs.append(run)
                if progress:
                    progress(len(runs) - len(reused), len(jobs))
    order = {m: i for i, m in enumerate(cfg.methods)}
    runs.sort(key=lambda r: (order[r["method"]], r["seed"]))
    rand_avg, best = bench.random_average(), bench.best_possible()
    result = {
        "config": asdict(cfg), "benchmark": bench.describe(), "random_average": rand_avg,
        "best_in_table": best, "rows": summarize(cfg, runs, rand_avg, best),
        "overhead_ms_per_trial": {m: 1e3 * sum(r["wall_seconds"] for r in runs if r["method"] == m)
                                  / max(1, sum(len(r["trials"]) for r in runs if r["method"] == m))
                                  for m in cfg.methods},
        "wall_seconds": time.perf_counter() - t0, "reused_runs": len(reused), "runs": runs,
    }
    if bench.warning:
        result["warning"] = bench.warning
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(result, default=float))
        png = plot_regret(cfg, runs, best, out / "regret.png")
        result["files"] = {"json": str(out / "bench.json"), "plot": None if png is None else str(png)}
    return result
