"""Plotly figures of a study snapshot (:class:`~nasforge.report.data.StudyData`), for the report and the dashboard.

Each builder returns a ``plotly.graph_objects.Figure``, or None when the study has
nothing to show in it (no second objective, no proxies, no weight sharing). Trace
names are stable (``complete``, ``infeasible``, ``failed``, ``best so far``,
``Pareto front``, ...): the dashboard updates figures in place by them and tests
count their points. plotly is imported here, inside functions: ``import nasforge``
never needs it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

from nasforge.report.data import StudyData
from nasforge.results import COMPLETE, FAILED, TrialRecord

#: fraction of the distinct architectures counted as "top" in the operation frequencies
TOP_FRACTION = 0.2
#: at most this many choices are shown in the operation frequencies (a large space would give a wall of rows)
MAX_CHOICES = 64
#: proxy names that are also ordinary metrics of a network and do not make a study a proxy study
NOT_PROXIES = ("params", "flops")
COLORS = {"complete": "#1f77b4", "lower": "#9db4cc", "infeasible": "#ff7f0e", "failed": "#d62728",
          "best": "#2ca02c", "front": "#d62728"}


def plotly() -> Any:
    """``plotly.graph_objects``, or an error naming the extra that installs it."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        from nasforge.errors import MissingExtraError

        raise MissingExtraError("reports need plotly, which is not installed: pip install 'nasforge[report]'") \
            from None
    return go


def _layout(fig: Any, title: str, height: int = 380) -> Any:
    # uirevision keeps a user's zoom and hidden traces when the dashboard replaces the data
    # the legend goes on its own row under the title, clear of the mode bar (top right) and the plot area
    fig.update_layout(template="plotly_white", title={"text": title, "x": 0.01, "y": 1 - 14 / height,
                                                      "yanchor": "middle", "font": {"size": 15}},
                      height=height, margin={"l": 60, "r": 20, "t": 84, "b": 60}, uirevision="keep",
                      legend={"orientation": "h", "y": 1 - 34 / height, "yanchor": "top", "x": 0.01,
                              "xanchor": "left", "yref": "container", "bgcolor": "rgba(255,255,255,0.8)"},
                      hoverlabel={"align": "left"})
    return fig


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _hover(r: TrialRecord, value: float | None, what: str) -> str:
    head = f"trial {r.number}" + ("" if r.source == "ask" else f" ({r.source})")
    lines = [head, _short(r.arch)]
    if value is not None:
        lines.append(f"{what} = {value:.6g}")
    if r.error:
        lines.append(_short(r.error))
    return "<br>".join(lines)


def top_fidelity(records: Sequence[TrialRecord]) -> float | None:
    """The highest fidelity among complete trials (None when none has one)."""
    fids = [r.fidelity for r in records if r.status == COMPLETE and r.fidelity is not None]
    return max(fids) if fids else None


# ----------------------------------------------------------------------------- progress
def progress_figure(data: StudyData) -> Any:
    """Every finished trial and the best so far (first objective; feasible trials at the top fidelity), against
    trial number, wall time and cost (simulated or measured)."""
    go = plotly()
    from plotly.subplots import make_subplots

    obj = data.objectives[0]
    cost_kind = data.summary.get("cost_kind", "measured")
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("by trial", "by wall time", f"by {cost_kind} cost"))
    finished = data.finished
    top = top_fidelity(finished)
    by_finish = sorted(finished, key=lambda r: (r.finished_at or 0.0, r.number))
    t0 = min((r.started_at for r in data.records if r.started_at is not None), default=0.0)
    spent, cost_at = 0.0, {}
    for r in by_finish:
        spent += r.cost
        cost_at[r.number] = spent
    xs = {1: {r.number: float(r.number) for r in finished},
          2: {r.number: max(0.0, (r.finished_at or t0) - t0) for r in finished},
          3: cost_at}
    values = {r.number: data.objective_value(r) for r in finished}
    known = [v for v in values.values() if v is not None]
    floor = min(known) if known else 0.0
    kinds: dict[str, list[TrialRecord]] = {"complete": [], "lower fidelity": [], "infeasible": [], "failed": []}
    for r in finished:
        if r.status == FAILED or values[r.number] is None:
            kinds["failed"].append(r)
        elif not r.feasible:
            kinds["infeasible"].append(r)
        elif top is not None and r.fidelity != top:
            kinds["lower fidelity"].append(r)
        else:
            kinds["complete"].append(r)
    style = {"complete": {"color": COLORS["complete"], "size": 7},
             "lower fidelity": {"color": COLORS["lower"], "size": 6},
             "infeasible": {"color": COLORS["infeasible"], "size": 8, "symbol": "x"},
             "failed": {"color": COLORS["failed"], "size": 8, "symbol": "x-thin-open", "line": {"width": 2}}}
    for col in (1, 2, 3):
        for kind, recs in kinds.items():
            if not recs:
                continue
            recs = sorted(recs, key=lambda r: xs[col][r.number])
            fig.add_trace(go.Scatter(
                x=[xs[col][r.number] for r in recs],
                y=[floor if kind == "failed" else values[r.number] for r in recs],
                mode="markers", name=kind if kind != "failed" else "failed (drawn at the bottom: no value)",
                legendgroup=kind, showlegend=col == 1, marker=style[kind], opacity=0.85,
                hovertext=[_hover(r, values[r.number], obj.name) for r in recs], hoverinfo="text"),
                row=1, col=col)
        best, bx, by = None, [], []
        for r in sorted(kinds["complete"], key=lambda r: xs[col][r.number]):
            v = values[r.number]
            if best is None or obj.sign * v > obj.sign * best:
                best = v
            bx.append(xs[col][r.number])
            by.append(best)
        if bx:
            fig.add_trace(go.Scatter(x=bx, y=by, mode="lines", name="best so far", legendgroup="best",
                                     showlegend=col == 1, line={"shape": "hv", "color": COLORS["best"], "width": 2.5},
                                     hoverinfo="skip"), row=1, col=col)
    fig.update_xaxes(title_text="trial", row=1, col=1)
    fig.update_xaxes(title_text="wall seconds", row=1, col=2)
    fig.update_xaxes(title_text=f"{cost_kind} seconds", row=1, col=3)
    fig.update_yaxes(title_text=f"{obj.name} ({'max' if obj.sign > 0 else 'min'})", row=1, col=1)
    n = len(finished)
    return _layout(fig, f"{obj.name}: {n} finished trial{'s' if n != 1 else ''} and the best so far", 400)


# ----------------------------------------------------------------------------- Pareto front
def pareto_figure(data: StudyData) -> Any:
    """With several objectives: every complete trial at the top fidelity, the Pareto front (a step line with
    two objectives, highlighted in a scatter matrix with more), the reference point and the hypervolume."""
    if len(data.objectives) < 2:
        return None
    go = plotly()
    objs = data.objectives
    finished = data.finished
    top = top_fidelity(finished)
    pts = [r for r in finished if r.status == COMPLETE and (top is None or r.fidelity == top)
           and all(data.objective_value(r, o) is not None for o in objs)]
    front_ids = {p["trial"] for p in data.summary.get("pareto") or []}
    front = sorted([r for r in pts if r.number in front_ids and r.feasible],
                   key=lambda r: data.objective_value(r, objs[0]))  # type: ignore[arg-type, return-value]
    others = [r for r in pts if r.number not in front_ids]
    hv, ref = data.summary.get("hypervolume"), data.summary.get("reference_point")
    title = "Pareto front"
    if hv is not None and ref is not None:
        kind = "given" if data.summary.get("reference_kind") == "given" else "worst of each objective"
        title += f": hypervolume {hv:.6g} (reference point {', '.join(f'{v:.4g}' for v in ref)}: {kind})"
    if len(objs) == 2:
        fig = go.Figure()
        a, b = objs

        def add(recs: list[TrialRecord], name: str, marker: dict[str, Any], mode: str = "markers",
                line: dict[str, Any] | None = None) -> None:
            fig.add_trace(go.Scatter(
                x=[data.objective_value(r, a) for r in recs], y=[data.objective_value(r, b) for r in recs],
                mode=mode, name=name, marker=marker, line=line,
                hovertext=[_hover(r, data.objective_value(r, a), a.name) + f"<br>{b.name} = "
                           f"{data.objective_value(r, b):.6g}" for r in recs], hoverinfo="text"))

        add([r for r in others if r.feasible], "complete", {"color": COLORS["complete"], "size": 7, "opacity": 0.7})
        add([r for r in others if not r.feasible], "infeasible",
            {"color": COLORS["infeasible"], "size": 8, "symbol": "x"})
        if front:
            # the front as a staircase: each point dominates the region it opens towards the worse corner
            step = "hv" if (a.sign > 0) == (b.sign > 0) else "vh"
            add(front, "Pareto front", {"color": COLORS["front"], "size": 10, "line": {"width": 1, "color": "#fff"}},
                mode="lines+markers", line={"shape": step, "color": COLORS["front"], "width": 2})
        if ref is not None:
            fig.add_trace(go.Scatter(x=[ref[0]], y=[ref[1]], mode="markers", name="reference point",
                                     marker={"symbol": "star", "size": 13, "color": "#555"},
                                     hovertext=[f"reference point ({ref[0]:.6g}, {ref[1]:.6g})"], hoverinfo="text"))
        fig.update_xaxes(title_text=f"{a.name} ({'max' if a.sign > 0 else 'min'})")
        fig.update_yaxes(title_text=f"{b.name} ({'max' if b.sign > 0 else 'min'})")
        return _layout(fig, title, 440)
    is_front = [r.number in front_ids and r.feasible for r in pts]
    fig = go.Figure(go.Splom(
        dimensions=[{"label": o.name, "values": [data.objective_value(r, o) for r in pts]} for o in objs],
        name="trials", showupperhalf=False, diagonal={"visible": False},
        marker={"color": [COLORS["front"] if f else COLORS["complete"] for f in is_front],
                "size": [9 if f else 6 for f in is_front], "opacity": 0.8},
        hovertext=[_hover(r, None, "") + (" (Pareto front)" if f else "") for r, f in zip(pts, is_front)],
        hoverinfo="text"))
    return _layout(fig, title + " (red: the front)", 200 + 160 * len(objs))


# ----------------------------------------------------------------------------- operations
def _choice_order(data: StudyData, names: set[str]) -> list[str]:
    layout_names = [c.name for c in getattr(data.space, "choices", [])] if data.space is not None else []
    ordered = [n for n in layout_names if n in names]
    return ordered + sorted(names - set(ordered))


def _option_order(data: StudyData, name: str, seen: set[str]) -> list[str]:
    if data.space is not None:
        try:
            opts = [str(o) for o in data.space.layout.choice(name).options]
            return opts + sorted(seen - set(opts))
        except Exception:  # not a choice of the rebuilt space
            pass
    return sorted(seen, key=lambda s: (len(s), s))


def operation_frequencies(data: StudyData) -> dict[str, Any] | None:
    """Per choice and option: the share among the top architectures (the best :data:`TOP_FRACTION` of the
    distinct feasible complete ones at the top fidelity, by the first objective) and among all distinct
    architectures evaluated. Shares count only architectures where the choice is active."""
    from nasforge.study import best_candidates

    obj = data.objectives[0]
    every: dict[str, dict[str, str]] = {}
    for r in data.finished:
        vals = data.arch_values(r.arch)
        if vals is not None:
            every.setdefault(r.arch, vals)
    ranked, seen = [], set()
    for r in sorted(best_candidates(data.finished), key=lambda r: (-obj.sign * (data.objective_value(r) or 0.0),
                                                                     r.number)):
        if r.arch not in seen and r.arch in every:
            seen.add(r.arch)
            ranked.append(r.arch)
    if not ranked:
        return None
    k = max(1, math.ceil(TOP_FRACTION * len(ranked)))
    top = ranked[:k]
    names = _choice_order(data, {n for v in every.values() for n in v})
    rows = []
    for name in names[:MAX_CHOICES]:
        opts_seen = {v[name] for v in every.values() if name in v}
        options = _option_order(data, name, opts_seen)
        all_n = sum(1 for v in every.values() if name in v)
        top_n = sum(1 for a in top if name in every[a])
        rows.append({"choice": name, "options": options,
                     "all": [sum(1 for v in every.values() if v.get(name) == o) / all_n if all_n else 0.0
                             for o in options],
                     "top": [sum(1 for a in top if every[a].get(name) == o) / top_n if top_n else math.nan
                             for o in options]})
    return {"rows": rows, "top_n": k, "all_n": len(every), "truncated": max(0, len(names) - MAX_CHOICES)}


def operations_figure(data: StudyData) -> Any:
    """Heatmaps of the option frequencies: colour is the share among the top architectures minus the share
    among all (points), the text the share among the top; one heatmap per set of options."""
    freq = operation_frequencies(data)
    if freq is None:
        return None
    go = plotly()
    from plotly.subplots import make_subplots

    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in freq["rows"]:
        groups.setdefault(tuple(row["options"]), []).append(row)
    sizes = [len(g) for g in groups.values()]
    fig = make_subplots(rows=len(groups), cols=1, row_heights=[s + 1.5 for s in sizes], vertical_spacing=0.18 / len(groups) + 0.02)
    for i, (options, rows) in enumerate(groups.items(), start=1):
        z = [[100 * (t - a) if not math.isnan(t) else None for t, a in zip(r["top"], r["all"])] for r in rows]
        text = [[f"{100 * t:.0f}%" if not math.isnan(t) else "" for t in r["top"]] for r in rows]
        hover = [[f"{r['choice']} = {o}<br>top {freq['top_n']}: {100 * t:.0f}%<br>all {freq['all_n']}: {100 * a:.0f}%"
                  if not math.isnan(t) else f"{r['choice']} = {o}: never active among the top"
                  for o, t, a in zip(options, r["top"], r["all"])] for r in rows]
        fig.add_trace(go.Heatmap(
            z=z, x=list(options), y=[r["choice"] for r in rows], text=text, texttemplate="%{text}",
            hovertext=hover, hoverinfo="text", colorscale="RdBu", reversescale=True, zmid=0, zmin=-100, zmax=100,
            showscale=i == 1, name=f"options {i}", xgap=2, ygap=2,
            colorbar={"title": {"text": "top − all<br>(points)"}, "len": 0.6, "y": 1, "yanchor": "top"}),
            row=i, col=1)
        fig.update_yaxes(autorange="reversed", row=i, col=1, type="category")
        fig.update_xaxes(type="category", side="top" if i == 1 else "bottom", row=i, col=1)
    height = 130 + 34 * sum(sizes) + 60 * len(groups)
    title = (f"Options among the top {freq['top_n']} architectures against all {freq['all_n']} "
             f"(text: share among the top; colour: difference)")
    if freq["truncated"]:
        title += f"; {freq['truncated']} more choices not shown"
    return _layout(fig, title, height)


# ----------------------------------------------------------------------------- proxies
def proxy_values(data: StudyData) -> dict[str, dict[str, float]]:
    """``{proxy: {arch: value}}``: zero-cost proxies recorded among the trials' metrics, or read from the proxy
    table a training-free study was given (when that file is still there)."""
    try:
        from nasforge.evaluators.zero_cost import PROXIES
        known = set(PROXIES) - set(NOT_PROXIES)
    except Exception:  # pragma: no cover - the module is part of nasforge
        known = set()
    out: dict[str, dict[str, float]] = {}
    for r in data.finished:
        for name, v in r.metrics.items():
            if name in known and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.setdefault(name, {})[r.arch] = float(v)
    scorer = (data.config.get("strategy_params") or {}).get("scorer")
    table = scorer.get("table") if isinstance(scorer, dict) else None
    if table and Path(table).is_file():
        wanted = {r.arch for r in data.finished}
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash
                continue
            if rec.get("arch") in wanted:
                for name, v in (rec.get("values") or {}).items():
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        out.setdefault(name, {}).setdefault(rec["arch"], float(v))
    return out


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    import numpy as np

    if len(x) < 3:
        return math.nan
    try:
        from scipy.stats import spearmanr

        return float(spearmanr(x, y)[0])
    except ImportError:  # ranks without ties' averaging: close enough for a label
        rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
        return float(np.corrcoef(rx, ry)[0, 1])


def proxy_figure(data: StudyData) -> Any:
    """Each proxy against the reported metric (the first objective when nothing else is reported), one panel per
    proxy with Spearman's rank correlation in its title."""
    proxies = proxy_values(data)
    if not proxies:
        return None
    go = plotly()
    from plotly.subplots import make_subplots

    metric = data.report_metric
    acc: dict[str, float] = {}
    for r in data.finished:
        v = r.metrics.get(metric) if r.status == COMPLETE else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            acc.setdefault(r.arch, float(v))
    names = sorted(proxies)[:8]
    titles = []
    pairs = {}
    for p in names:
        archs = [a for a in proxies[p] if a in acc]
        pairs[p] = archs
        rho = _spearman([proxies[p][a] for a in archs], [acc[a] for a in archs])
        titles.append(f"{p}: Spearman {rho:.2f} (n={len(archs)})" if not math.isnan(rho) else f"{p} (n={len(archs)})")
    cols = min(3, len(names))
    nrows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, vertical_spacing=0.12 if nrows > 1 else 0.1)
    for i, p in enumerate(names):
        archs = pairs[p]
        fig.add_trace(go.Scatter(x=[proxies[p][a] for a in archs], y=[acc[a] for a in archs], mode="markers",
                                 name=p, showlegend=False, marker={"size": 6, "opacity": 0.75},
                                 hovertext=[_short(a) for a in archs], hoverinfo="text+x+y"),
                      row=i // cols + 1, col=i % cols + 1)
        fig.update_xaxes(title_text=p, row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(title_text=metric, col=1)
    return _layout(fig, f"Zero-cost proxies against {metric}", 120 + 300 * nrows)


# ----------------------------------------------------------------------------- weight sharing
#: metric that holds a sub-network's validation accuracy with the supernet's (inherited) weights
INHERITED = "inherited_val_acc"


def weight_sharing_pairs(data: StudyData) -> list[tuple[TrialRecord, float, float]]:
    """Trials measured both ways: ``(trial, supernet accuracy, stand-alone accuracy)``. A sub-network retrained
    on its own (``source="retrain"`` after SPOS, few-shot, BigNAS) records its inherited accuracy beside
    its stand-alone one."""
    out = []
    for r in data.finished:
        if r.status != COMPLETE:
            continue
        inh, own = r.metrics.get(INHERITED), r.metrics.get("val_acc", r.value)
        if isinstance(inh, (int, float)) and isinstance(own, (int, float)) and not isinstance(inh, bool):
            out.append((r, float(inh), float(own)))
    return out


def uses_weight_sharing(data: StudyData) -> bool:
    """Whether the study came from a weight-sharing method (a one-shot study, or a search of a trained supernet)."""
    return bool(data.config.get("oneshot") or data.config.get("supernet")
                or str(data.config.get("strategy", "")).startswith("oneshot:")
                or any(r.source == "retrain" or INHERITED in r.metrics for r in data.records))


def weight_sharing_figure(data: StudyData) -> Any:
    """Supernet (inherited-weights) accuracy against stand-alone accuracy, with the diagonal; None when no
    architecture was measured both ways."""
    pairs = weight_sharing_pairs(data)
    if not pairs:
        return None
    go = plotly()
    xs, ys = [p[1] for p in pairs], [p[2] for p in pairs]
    lo, hi = min(xs + ys), max(xs + ys)
    pad = max(0.5, 0.05 * (hi - lo))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[lo - pad, hi + pad], y=[lo - pad, hi + pad], mode="lines", name="equal",
                             line={"dash": "dot", "color": "#999"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="architectures", marker={"size": 10},
                             hovertext=[_hover(p[0], None, "") + f"<br>supernet {p[1]:.4g}, stand-alone {p[2]:.4g}"
                                        for p in pairs], hoverinfo="text"))
    fig.update_xaxes(title_text="validation accuracy with the supernet's weights")
    fig.update_yaxes(title_text="validation accuracy trained stand-alone")
    return _layout(fig, "Supernet against stand-alone", 400)


__all__ = ["COLORS", "INHERITED", "TOP_FRACTION", "operation_frequencies", "operations_figure", "pareto_figure",
           "plotly", "progress_figure", "proxy_figure", "proxy_values", "top_fidelity", "uses_weight_sharing",
           "weight_sharing_figure", "weight_sharing_pairs"]
