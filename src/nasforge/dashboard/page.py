"""The dashboard's single page: a list of studies and the chosen study's views, kept up to date in place.

The page polls ``api/studies`` and ``api/studies/NAME?since=TOKEN`` every few
seconds. When a study changed, each section is updated where it stands: figures
through ``Plotly.react`` (zoom and hidden traces are kept: the figures set
``uirevision``), HTML fragments by replacing the section's fragment (keeping the
table's scroll position). Nothing reloads the page; choosing a study changes only
the URL's fragment. The sections and their HTML come from the report's code
(:mod:`nasforge.report.views`), so the page and a report show the same views.
"""

from __future__ import annotations

from html import escape

from nasforge.report.html import CSS, script_json

DASHBOARD_CSS = """
body { display:flex; flex-direction:column; min-height:100vh; }
header.top .live { margin-left:auto; font-size:12px; color:#b8c4d0; }
header.top .dot { display:inline-block; width:8px; height:8px; border-radius:50%; background:#4caf50;
       margin-right:6px; vertical-align:middle; }
header.top .dot.stale { background:#e07b00; }
.layout { display:flex; flex:1; min-height:0; }
aside.studies { width:270px; flex:none; background:#fff; border-right:1px solid var(--line); overflow-y:auto;
       max-height:calc(100vh - 48px); position:sticky; top:0; }
aside.studies h2 { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted);
       margin:12px 14px 6px; }
aside.studies a { display:block; padding:8px 14px; color:var(--fg); text-decoration:none;
       border-left:3px solid transparent; }
aside.studies a:hover { background:#f0f4f8; }
aside.studies a.active { background:#e8f0fa; border-left-color:var(--accent); }
aside.studies .name { font-weight:600; word-break:break-all; }
aside.studies .meta { font-size:12px; color:var(--muted); }
aside.studies .run { color:var(--accent); font-weight:600; }
main { flex:1; min-width:0; }
.error { color:var(--bad); padding:8px 0; }
.error:empty { display:none; }
.empty { color:var(--muted); padding:40px 0; }
"""

_SCRIPT = r"""
const INTERVAL_MS = __INTERVAL__;
const CONFIG = {displaylogo: false, responsive: true};
let current = null, token = null, lastHtml = new Map(), busy = false;

async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store"});
  const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}
function selected() {
  const m = location.hash.match(/^#\/study\/(.+)$/);
  return m ? decodeURIComponent(m[1]) : null;
}
function fmt(v) {
  if (v === null || v === undefined) return "–";
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toPrecision(4);
}
function renderList(studies) {
  const nav = document.getElementById("study-list");
  nav.replaceChildren();
  for (const s of studies) {
    const a = document.createElement("a");
    a.href = "#/study/" + encodeURIComponent(s.study);
    a.dataset.name = s.study;
    if (s.study === selected()) a.className = "active";
    const name = document.createElement("div"); name.className = "name"; name.textContent = s.study;
    const meta = document.createElement("div"); meta.className = "meta";
    meta.textContent = `${s.space || "?"} · ${s.strategy || "?"} · ${s.trials} trials · best ${fmt(s.best_value)}`;
    if (s.running) {
      const run = document.createElement("span"); run.className = "run"; run.textContent = ` · ${s.running} running`;
      meta.appendChild(run);
    }
    a.append(name, meta);
    nav.appendChild(a);
  }
  if (!studies.length) {
    const p = document.createElement("p"); p.className = "meta"; p.style.padding = "0 14px";
    p.textContent = "No studies in this storage yet.";
    nav.appendChild(p);
  }
  if (!selected() && studies.length) history.replaceState(null, "", "#/study/" + encodeURIComponent(studies[0].study));
}
function sectionEl(s, prev) {
  const views = document.getElementById("views");
  let el = views.querySelector(`section[data-id="${CSS.escape(s.id)}"]`);
  if (!el) {
    el = document.createElement("section");
    el.className = "view"; el.id = s.id; el.dataset.id = s.id;
    el.innerHTML = "<h2></h2><p class='intro'></p><div class='plot'></div><div class='html'></div>";
    if (prev && prev.nextSibling) views.insertBefore(el, prev.nextSibling);
    else if (prev) views.appendChild(el);
    else views.prepend(el);
  }
  return el;
}
function apply(j) {
  const views = document.getElementById("views");
  const ids = new Set(j.sections.map(s => s.id));
  for (const el of [...views.querySelectorAll("section.view")]) {
    if (!ids.has(el.dataset.id)) { Plotly.purge(el.querySelector(".plot")); el.remove(); }
  }
  const empty = views.querySelector(".empty"); if (empty) empty.remove();
  let prev = null;
  for (const s of j.sections) {
    const el = sectionEl(s, prev);
    el.querySelector("h2").textContent = s.title;
    const intro = el.querySelector(".intro"); intro.textContent = s.intro; intro.hidden = !s.intro;
    const plot = el.querySelector(".plot");
    if (s.figure) { plot.hidden = false; Plotly.react(plot, s.figure.data, s.figure.layout, CONFIG); }
    else if (!plot.hidden) { Plotly.purge(plot); plot.hidden = true; }
    const key = j.study + "/" + s.id;
    if (lastHtml.get(key) !== s.html) {
      const box = el.querySelector(".html");
      const scrolls = [...box.querySelectorAll(".scroll")].map(d => d.scrollTop);
      box.innerHTML = s.html;  // made by the server from escaped values
      box.querySelectorAll(".scroll").forEach((d, i) => { if (scrolls[i]) d.scrollTop = scrolls[i]; });
      lastHtml.set(key, s.html);
    }
    prev = el;
  }
  document.title = `${j.study} · nasforge dashboard`;
}
function setStatus(text, ok) {
  document.getElementById("status").textContent = text;
  document.getElementById("dot").className = ok ? "dot" : "dot stale";
}
async function refreshStudy() {
  const name = selected();
  const views = document.getElementById("views");
  if (!name) return;
  if (name !== current) {
    current = name; token = null; lastHtml = new Map();
    for (const el of [...views.querySelectorAll("section.view")]) { Plotly.purge(el.querySelector(".plot")); el.remove(); }
    views.innerHTML = "<p class='empty'>loading…</p>";
  }
  const j = await getJSON("api/studies/" + encodeURIComponent(name) + (token ? "?since=" + token : ""));
  if (name !== selected()) return;  // the user chose another study meanwhile
  if (!j.unchanged) { token = j.token; apply(j); document.body.dataset.trials = j.trials; }
}
async function tick() {
  if (busy) return;
  busy = true;
  try {
    const list = await getJSON("api/studies");
    renderList(list.studies);
    await refreshStudy();
    setStatus("updated " + new Date().toLocaleTimeString(), true);
    document.getElementById("error").textContent = "";
  } catch (e) {
    setStatus("not updated: " + e.message, false);
    document.getElementById("error").textContent = e.message;
  } finally {
    busy = false;
  }
}
window.addEventListener("hashchange", () => {
  for (const a of document.querySelectorAll("#study-list a")) a.classList.toggle("active", a.dataset.name === selected());
  tick();
});
tick();
setInterval(tick, INTERVAL_MS);
"""


def render_page(storage: str, interval: float) -> str:
    """The page for a storage (its display name, password hidden) polling every ``interval`` seconds."""
    script = _SCRIPT.replace("__INTERVAL__", script_json(int(interval * 1000)))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nasforge dashboard</title><style>{CSS}{DASHBOARD_CSS}</style>
<script src="static/plotly.min.js"></script></head>
<body><header class="top"><h1>nasforge dashboard</h1><span class="sub">{escape(storage)} · read-only</span>
<span class="live"><span class="dot" id="dot"></span><span id="status">connecting…</span></span></header>
<div class="layout"><aside class="studies"><h2>Studies</h2><nav id="study-list"></nav></aside>
<main><div id="error" class="error"></div><div id="views"><p class="empty">Choose a study.</p></div></main></div>
<script>{script}</script></body></html>
"""


__all__ = ["render_page"]
