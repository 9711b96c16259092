"""HTML of the report: the fragments of each section (tables, cards, drawings) and the self-contained page.

Everything a study recorded is text someone else may have written (architecture
strings of user spaces, error messages, configuration values), so every value is
escaped here; figures go into the page as JSON with ``<`` escaped, so no value can
close a ``<script>``. Any URL shown has its password hidden.
"""

from __future__ import annotations

import json
import math
import platform
import time
from html import escape
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from nasforge.report.data import StudyData, constraints_of

if TYPE_CHECKING:
    from nasforge.report.views import Section

#: the trials table of a report lists at most this many trials (the newest)
MAX_TRIAL_ROWS = 2000

CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --accent:#2f6fb0; --bad:#c62828;
        --warn:#e07b00; --ok:#2e7d32; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color:var(--fg); background:var(--bg); }
header.top { background:#1e2a3a; color:#fff; padding:12px 24px; display:flex; align-items:baseline; gap:16px; }
header.top h1 { font-size:18px; margin:0; font-weight:600; }
header.top .sub { color:#b8c4d0; font-size:13px; }
nav.toc { padding:6px 24px; background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0; z-index:5; }
nav.toc a { margin-right:14px; color:var(--accent); text-decoration:none; font-size:13px; }
main { padding:16px 24px 40px; max-width:1400px; }
section.view { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:0 0 16px; }
section.view > h2 { font-size:16px; margin:0 0 4px; }
p.intro { color:var(--muted); margin:0 0 8px; font-size:13px; }
p.note { color:var(--muted); font-style:italic; }
.cards { display:flex; flex-wrap:wrap; gap:10px; margin:6px 0; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 12px; min-width:120px; background:#fbfcfd; }
.card .k { color:var(--muted); font-size:12px; }
.card .v { font-size:18px; font-weight:600; }
.card.wide { flex:1 1 420px; }
.card .v.arch, code.arch-string { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       word-break:break-all; font-weight:normal; }
table.data { border-collapse:collapse; width:100%; font-size:13px; }
table.data th, table.data td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left;
       vertical-align:top; }
table.data th { background:#f0f3f7; position:sticky; top:0; font-weight:600; }
table.data td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.data td.arch { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       word-break:break-all; min-width:240px; }
table.data tr:nth-child(even) td { background:#fafbfc; }
.scroll { max-height:560px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
table.kv th { text-align:left; padding:3px 12px 3px 0; color:var(--muted); font-weight:600; vertical-align:top;
       white-space:nowrap; }
table.kv td { padding:3px 0; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       word-break:break-all; }
.badge { display:inline-block; padding:0 7px; border-radius:9px; font-size:12px; color:#fff; }
.badge.complete { background:var(--ok); } .badge.failed { background:var(--bad); }
.badge.running { background:var(--accent); } .badge.interrupted { background:#7b8794; }
.badge.infeasible { background:var(--warn); }
.archs { display:flex; flex-wrap:wrap; gap:14px; }
.archs figure { margin:0; border:1px solid var(--line); border-radius:6px; padding:8px; background:#fff;
       flex:1 1 520px; max-width:100%; overflow-x:auto; }
.archs figcaption { font-size:12px; color:var(--muted); margin-bottom:4px; max-width:820px; }
.archs figcaption code { word-break:break-all; }
svg.arch { max-width:100%; height:auto; display:block; }
details summary { cursor:pointer; color:var(--accent); margin:6px 0; }
pre.config { background:#f7f9fb; border:1px solid var(--line); padding:10px; overflow:auto; font-size:12px; }
.plot { width:100%; }
.warning { color:var(--warn); }
"""


# ----------------------------------------------------------------------------- formatting
def fmt(v: Any) -> str:
    """A value for a table cell: floats to 4 significant places (or 4 decimals), ints with separators."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10000 else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4f}" if 1e-3 <= abs(v) < 1e4 else f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return _short(json.dumps(v, default=str), 120)
    return str(v)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def note(text: str) -> str:
    return f"<p class='note'>{escape(text)}</p>"


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>``: ``<`` written as ``\\u003c`` (valid JSON and JavaScript)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def scrub(value: Any) -> Any:
    """``value`` with the password of any URL-like string hidden (configurations may hold storage URLs)."""
    if isinstance(value, str) and "://" in value and "@" in value:
        from nasforge.storage.sql import safe_url

        return safe_url(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _table(head: Sequence[str], rows: Iterable[Sequence[tuple[str, str]]], cls: str = "data") -> str:
    """A table; each cell is ``(css class, html)``."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td class='{c}'>{h}</td>" for c, h in row) + "</tr>" for row in rows)
    return f"<table class='{cls}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "–"


# ----------------------------------------------------------------------------- sections
def _card(key: str, value: str, wide: bool = False, arch: bool = False) -> str:
    return (f"<div class='card{' wide' if wide else ''}'><div class='k'>{escape(key)}</div>"
            f"<div class='v{' arch' if arch else ''}'>{value}</div></div>")


def overview(data: StudyData) -> str:
    """Cards: what was searched, how many trials in each state, the best, the cost, the hypervolume."""
    s, cfg = data.summary, data.config
    counts = {k: sum(r.status == k for r in data.records) for k in ("complete", "failed", "running", "interrupted")}
    what = cfg.get("benchmark") or (cfg.get("task") or {}).get("source") or (cfg.get("task") or {}).get("name") \
        or (cfg.get("evaluator") or {}).get("name") or "–"
    cards = [
        _card("space", escape(str(cfg.get("space", "–")))),
        _card("strategy", escape(str(cfg.get("strategy", "–")))),
        _card("benchmark / task", escape(_short(str(what), 40))),
        _card("objectives", escape(", ".join(s.get("objectives") or []))),
        _card("trials", " · ".join(f"<span class='badge {k}'>{v} {k}</span>" for k, v in counts.items() if v)
              or "none yet"),
    ]
    if s.get("infeasible"):
        cards.append(_card("infeasible", str(s["infeasible"])))
    cards.append(_card(f"{s.get('cost_kind', 'measured')} cost", f"{float(s.get('cost_seconds') or 0.0):,.1f} s"))
    if s.get("hypervolume") is not None:
        cards.append(_card("hypervolume", fmt(s["hypervolume"])))
    best = s.get("best")
    if best:
        cards.append(_card(f"best {data.objectives[0].name}", fmt(best.get("value"))))
        rep = data.report_metric
        if rep != data.objectives[0].name and rep in (best.get("metrics") or {}):
            cards.append(_card(f"its {rep}", fmt(best["metrics"][rep])))
        cards.append(_card(f"best architecture (trial {best.get('trial')})", escape(best.get("arch", "")), wide=True,
                           arch=True))
    out = f"<div class='cards'>{''.join(cards)}</div>"
    if not data.finished:
        out += note("No finished trial yet: the views fill in as trials finish."
                    if counts["running"] else "This study has no finished trials.")
    elif best is None:
        out += note("No complete feasible trial: every finished trial failed or broke a constraint "
                    "(the trials table says why).")
    for key in ("warning", "error"):
        if s.get(key):
            out += f"<p class='warning'>{escape(str(s[key]))}</p>"
    return out


def drawings(data: StudyData, n: int) -> str:
    """The best ``n`` distinct architectures, each drawn with its canonical string and value."""
    from nasforge.report.drawings import draw_architecture

    top = (data.summary.get("top") or [])[:n]
    if not top:
        return note("No complete feasible architecture to draw yet.")
    items = []
    obj = data.objectives[0].name
    for i, t in enumerate(top, 1):
        picture = draw_architecture(data.config.get("space"), data.arch_values(t["arch"]), t["arch"], data.space)
        items.append(f"<figure><figcaption><b>#{i}</b> trial {t['trial']} · {escape(obj)} {fmt(t['value'])}<br>"
                     f"<code>{escape(t['arch'])}</code></figcaption>{picture}</figure>")
    return f"<div class='archs'>{''.join(items)}</div>"


def _metric_columns(data: StudyData, rows: Sequence[Mapping[str, Any]], limit: int = 10) -> list[str]:
    """Metric columns: objectives, the reported metric and constrained metrics first, then the other scalars."""
    scalar = {k for r in rows for k, v in (r.get("metrics") or {}).items()
              if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    # the first objective has its own column (the value); the other objectives and the reported metric lead
    first = [o.name for o in data.objectives[1:]] + [data.report_metric] + [c.metric for c in constraints_of(data)]
    cols = []
    for m in first + sorted(scalar):
        if m in scalar and m not in cols and m != data.objectives[0].name:
            cols.append(m)
    return cols[:limit]


def top_table(data: StudyData) -> str:
    """The top-k distinct architectures: rank, trial, canonical string, value, metrics."""
    top = data.summary.get("top") or []
    if not top:
        return note("No complete feasible trial yet.")
    cols = _metric_columns(data, top)
    rows = []
    for i, t in enumerate(top, 1):
        src = t.get("source", "ask")
        rows.append([("num", str(i)), ("num", f"{t['trial']}" + ("" if src == "ask" else f" ({escape(src)})")),
                     ("arch", escape(t["arch"])), ("num", fmt(t.get("value")))]
                    + [("num", escape(fmt(t["metrics"].get(m)))) for m in cols])
    head = ["#", "trial", "architecture", data.objectives[0].name] + cols
    return f"<div class='scroll'>{_table(head, rows)}</div>"


def trials_table(data: StudyData, limit: int | None = None) -> str:
    """Every trial, newest first (at most ``limit``, else :data:`MAX_TRIAL_ROWS`): status, source, architecture,
    value, cost, wall seconds, fidelity and why it failed or is infeasible."""
    recs = sorted(data.records, key=lambda r: r.number, reverse=True)
    if not recs:
        return note("No trials yet.")
    shown = recs[: limit or MAX_TRIAL_ROWS]
    obj = data.objectives[0]
    rows = []
    for r in shown:
        status = "infeasible" if r.status == "complete" and not r.feasible else r.status
        why = r.error or (f"duplicate of trial {r.duplicate_of}" if r.duplicate_of is not None else "")
        wall = r.wall_seconds
        rows.append([("num", str(r.number)), ("", f"<span class='badge {status}'>{status}</span>"),
                     ("", escape(r.source)), ("arch", escape(r.arch)),
                     ("num", fmt(data.objective_value(r, obj))), ("num", fmt(r.cost)),
                     ("num", fmt(wall) if wall is not None else "–"), ("num", fmt(r.fidelity)),
                     ("", escape(_short(why, 200)))])
    more = "" if len(shown) == len(recs) else note(f"Showing the {len(shown)} most recent of {len(recs)} trials.")
    table = _table(["trial", "status", "source", "architecture", obj.name, "cost s", "wall s", "fidelity", "note"],
                   rows)
    return f"{more}<div class='scroll'>{table}</div>"


def weight_sharing(data: StudyData, has_pairs: bool) -> str:
    """The architectures a weight-sharing method recorded, with its method's own figures."""
    cfg = data.config
    lines = []
    if cfg.get("oneshot"):
        method = (cfg["oneshot"] or {}).get("method") if isinstance(cfg["oneshot"], dict) else None
        lines.append(f"One-shot method: <b>{escape(str(method or cfg.get('strategy', '?')))}</b>.")
    if cfg.get("supernet"):
        lines.append(f"Sub-networks scored by the trained supernet <code>{escape(str(cfg['supernet']))}</code>.")
    if not has_pairs:
        lines.append("No architecture was also trained stand-alone in this study; retrain one with "
                     "<code>nasforge train --study NAME</code> to compare.")
    recs = [r for r in data.finished if r.source != "ask"]
    out = "<p>" + " ".join(lines) + "</p>" if lines else ""
    if recs:
        keys = ["val_acc", "inherited_val_acc", "search_seconds", "supernet_epochs", "collapsed"]
        keys = [k for k in keys if any(k in r.metrics for r in recs)]
        rows = [[("num", str(r.number)), ("", escape(r.source)), ("arch", escape(r.arch))]
                + [("num", escape(fmt(r.metrics.get(k)))) for k in keys] for r in recs]
        out += f"<div class='scroll'>{_table(['trial', 'source', 'architecture'] + keys, rows)}</div>"
    return out


def versions() -> dict[str, str]:
    """Versions of what made the page: nasforge, Python, and the libraries the results depend on."""
    from importlib import metadata

    import nasforge

    out = {"nasforge": nasforge.__version__, "python": platform.python_version(), "platform": platform.platform()}
    for dist in ("numpy", "torch", "sqlalchemy", "plotly"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _kv(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v if isinstance(v, str) else json.dumps(v, default=str))}"
                   f"</td></tr>" for k, v in rows)
    return f"<table class='kv'>{body}</table>"


def settings(data: StudyData) -> str:
    """The study's settings (space, strategy, evaluator, objectives, constraints, seed, ...), its full
    configuration as JSON, and the versions that made the page."""
    cfg = scrub(dict(data.config))
    rows: list[tuple[str, Any]] = [("study", data.name), ("created", _when(data.created_at))]
    if data.storage:
        rows.append(("storage", data.storage))
    named = [("space", "space_params"), ("strategy", "strategy_params")]
    for key, params in named:
        if key in cfg:
            rows.append((key, f"{cfg[key]} {json.dumps(cfg.get(params) or {}, default=str)}"))
    for key in ("benchmark", "task", "evaluator", "objectives", "constraints", "derived", "seed", "charge_duplicates",
                "oneshot", "supernet"):
        if key in cfg:
            rows.append((key, cfg[key]))
    shown = {k for k, _ in rows} | {p for _, p in named}
    rows += [(k, v) for k, v in cfg.items() if k not in shown]
    out = _kv(rows)
    out += (f"<details><summary>full configuration (JSON)</summary><pre class='config'>"
            f"{escape(json.dumps(cfg, indent=2, default=str))}</pre></details>")
    out += "<h3 style='font-size:14px;margin:12px 0 4px'>versions</h3>" + _kv(versions().items())
    out += f"<p class='note'>page made {escape(_when(time.time()))}</p>"
    return out


# ----------------------------------------------------------------------------- the page
def page(title: str, subtitle: str, sections: Sequence["Section"], plotly_js: str) -> str:
    """One self-contained HTML page: the sections, their figures drawn by the plotly.js given inline."""
    figs, body = {}, []
    for s in sections:
        parts = [f"<section class='view' id='{escape(s.id)}'><h2>{escape(s.title)}</h2>"]
        if s.intro:
            parts.append(f"<p class='intro'>{escape(s.intro)}</p>")
        if s.figure is not None:
            figs[f"fig-{s.id}"] = s.figure.to_json()
            parts.append(f"<div class='plot' id='fig-{escape(s.id)}'></div>")
        parts.append(s.html)
        parts.append("</section>")
        body.append("".join(parts))
    toc = "".join(f"<a href='#{escape(s.id)}'>{escape(s.title if s.id != 'overview' else 'Overview')}</a>"
                  for s in sections)
    fig_js = "{" + ",".join(f"{json.dumps(k)}:{script_json(v)}" for k, v in figs.items()) + "}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{CSS}</style>
<script>{plotly_js}</script></head>
<body><header class="top"><h1>{escape(title)}</h1><span class="sub">{escape(subtitle)}</span></header>
<nav class="toc">{toc}</nav><main>{''.join(body)}</main>
<script>
const FIGURES = {fig_js};
for (const [id, fig] of Object.entries(FIGURES)) {{
  Plotly.newPlot(id, fig.data, fig.layout, {{displaylogo: false, responsive: true}});
}}
</script></body></html>
"""


__all__ = ["CSS", "MAX_TRIAL_ROWS", "drawings", "fmt", "note", "overview", "page", "scrub", "script_json",
           "settings", "top_table", "trials_table", "versions", "weight_sharing"]
