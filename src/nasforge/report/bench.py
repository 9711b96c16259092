"""Results of ``nasforge bench`` in the report's style: regret curves with confidence bands and the table.

Reads what :func:`nasforge.bench.run_bench` returns or writes (``bench.json``): the
curves are computed from every run's trials with :func:`nasforge.bench.curve`, the
same function ``regret.png`` uses, on the same grid.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nasforge.errors import ConfigError
from nasforge.report import html
from nasforge.report.figures import _layout, plotly

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")


def load_bench(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """A comparison's results: a loaded dict, a ``bench.json``, or the directory ``nasforge bench`` wrote it to."""
    if isinstance(source, Mapping):
        result = dict(source)
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "bench.json"
        if not path.is_file():
            raise ConfigError(f"bench results {str(source)!r}: no such file; give the bench.json written by "
                              f"`nasforge bench --out DIR` or that directory")
        try:
            result = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"bench results {str(path)!r} are not JSON ({exc})") from None
    missing = [k for k in ("config", "runs", "rows") if k not in result]
    if missing:
        raise ConfigError(f"bench results lack {', '.join(missing)}: expected the bench.json written by "
                          f"`nasforge bench` (keys config, runs, rows, ...)")
    return result


def _bands(result: Mapping[str, Any], method: str, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Grid, mean and 95% half-width over seeds of ``regret`` or the incumbent's ``reported`` metric."""
    from nasforge.bench import curve

    cfg = result["config"]
    unit = "trials" if cfg.get("n_trials") is not None else "seconds"
    budget = float(cfg["checkpoints"][-1]) if cfg.get("checkpoints") else \
        float(cfg.get("n_trials") or cfg.get("budget_seconds"))
    grid = np.linspace(budget / 100, budget, 100)
    best = float(result.get("best_in_table", math.nan))
    mat = []
    for r in (r for r in result["runs"] if r["method"] == method):
        x, y = curve(r["trials"], unit)
        idx = np.searchsorted(x, grid, side="right") - 1
        vals = y[np.clip(idx, 0, None)]
        mat.append(np.where(idx >= 0, best - vals if what == "regret" else vals, np.nan))
    m = np.array(mat, dtype=float).reshape(len(mat), len(grid))
    with np.errstate(invalid="ignore", divide="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns before any success
            mean = np.nanmean(m, axis=0)
            n = np.sum(~np.isnan(m), axis=0)
            half = 1.96 * np.nanstd(m, axis=0, ddof=1) / np.sqrt(n)
    half = np.where(n > 1, half, 0.0)
    return grid, mean, half, len(mat)


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def bench_figure(result: Mapping[str, Any], what: str = "regret") -> Any:
    """Mean regret (``what="regret"``, log scale) or the incumbent's reported metric (``"reported"``) against
    the budget, one line per method with its 95% confidence band over seeds."""
    go = plotly()
    cfg = result["config"]
    methods = list(cfg.get("strategies", [])) + list(cfg.get("peers", []))
    fig = go.Figure()
    curves = {m: _bands(result, m, what) for m in methods}
    # a log axis needs a positive floor: a tenth of the smallest positive mean regret, so a band that reaches
    # zero (some seeds found the best architecture) does not stretch the axis over decades of nothing
    positive = [v for _, mean, _, _ in curves.values() for v in mean if v > 0]
    floor = 0.1 * min(positive) if positive else 1e-6
    for i, method in enumerate(methods):
        grid, mean, half, n = curves[method]
        color = _PALETTE[i % len(_PALETTE)]
        lo = mean - half
        if what == "regret":
            lo = np.maximum(lo, floor)
        hi = mean + half
        ok = ~np.isnan(mean)
        xs, lo, hi, mid = grid[ok], lo[ok], hi[ok], mean[ok]
        if what == "regret":
            mid = np.maximum(mid, floor)
        fig.add_trace(go.Scatter(x=np.concatenate([xs, xs[::-1]]).tolist(), y=np.concatenate([hi, lo[::-1]]).tolist(),
                                 fill="toself", fillcolor=_rgba(color, 0.18), line={"width": 0}, hoverinfo="skip",
                                 legendgroup=method, showlegend=False, name=f"{method} 95% band"))
        fig.add_trace(go.Scatter(x=xs.tolist(), y=mid.tolist(), mode="lines", name=f"{method} ({n} seeds)",
                                 legendgroup=method, line={"color": color, "width": 2.2}))
    unit = "trials" if cfg.get("n_trials") is not None else "simulated seconds"
    fig.update_xaxes(title_text=unit)
    if what == "regret":
        fig.update_yaxes(type="log", title_text="regret of the reported metric (best in table − incumbent)")
        title = "Regret against budget (mean over seeds, 95% confidence band)"
    else:
        fig.update_yaxes(title_text="incumbent's reported metric")
        title = "Incumbent's reported metric against budget (mean over seeds, 95% confidence band)"
    return _layout(fig, title, 440)


def bench_table(result: Mapping[str, Any]) -> str:
    """The comparison table: per method and checkpoint, mean, std, median, sem, n, relative improvement, regret."""
    rows = []
    for r in result["rows"]:
        rows.append([("", escape(str(r["method"]))), ("num", f"{float(r['checkpoint']):g}")]
                    + [("num", html.fmt(r.get(k))) for k in ("mean", "std", "median", "sem", "n",
                                                              "relative_improvement_pct", "regret")])
    unit = "trials" if result["config"].get("n_trials") is not None else "sim. s"
    head = ["method", f"budget ({unit})", "mean", "std", "median", "sem", "n", "rel. impr. %", "regret"]
    table = html._table(head, rows)
    extra = (f"<p class='intro'>average random architecture {html.fmt(result.get('random_average'))}, best in table "
             f"{html.fmt(result.get('best_in_table'))}; {html.fmt(result.get('wall_seconds'))} s wall.</p>")
    return f"<div class='scroll'>{table}</div>{extra}"


def bench_sections(result: Mapping[str, Any]) -> list[Any]:
    """The sections of a comparison's page."""
    from nasforge.report.views import Section

    cfg = result["config"]
    bench = result.get("benchmark") or {"benchmark": cfg.get("benchmark")}
    overhead = result.get("overhead_ms_per_trial") or {}
    settings = html._kv([("benchmark", bench), ("methods", list(cfg.get("strategies", [])) + list(cfg.get("peers", []))),
                         ("seeds", cfg.get("seeds")), ("budget", {"n_trials": cfg.get("n_trials"),
                                                                  "budget_seconds": cfg.get("budget_seconds")}),
                         ("checkpoints", cfg.get("checkpoints")), ("strategy options", cfg.get("strategy_params")),
                         ("overhead (ms per trial)", {k: round(v, 3) for k, v in overhead.items()}),
                         ("reused runs", result.get("reused_runs", 0))])
    settings += "<h3 style='font-size:14px;margin:12px 0 4px'>versions</h3>" + html._kv(html.versions().items())
    warn = f"<p class='warning'>{escape(str(result['warning']))}</p>" if result.get("warning") else ""
    return [
        Section("regret", "Regret", "Mean regret of the incumbent's reported metric (the best architecture in the "
                "table minus the incumbent, chosen by feedback) over seeds, with 95% confidence bands.",
                figure=bench_figure(result, "regret"), html=warn),
        Section("incumbent", "Incumbent", "The incumbent's reported metric itself, mean over seeds with 95% bands.",
                figure=bench_figure(result, "reported")),
        Section("table", "Comparison table", "Each method at each budget checkpoint, over seeds.",
                html=bench_table(result)),
        Section("settings", "Settings and versions", "What was compared, on which benchmark, with which budget.",
                html=settings),
    ]


__all__ = ["bench_figure", "bench_sections", "bench_table", "load_bench"]
