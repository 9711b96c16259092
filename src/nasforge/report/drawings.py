"""Drawings of architectures as inline SVG, written here (no graphviz): a page opens anywhere.

One drawing per kind of space, read from the architecture's choices
(``{choice: option}``, see :func:`nasforge.report.data.arch_values`):

* ``nb201``: the cell DAG, 4 nodes and 6 edges labelled with their operations
  (``none`` edges dashed: they carry nothing);
* ``darts``: the normal and the reduction cell (or each distinct cell), two
  inputs, four intermediate nodes and the output that concatenates them;
* ``mobilenet``: a block diagram, one column per stage, one box per MBConv block;
* ``nasbench-graph``: the GNN DAG from the input through the four computing
  nodes to the output (which concatenates the leaves);
* ``mlp``: the list of layers, each bar as wide as its layer.

Any other space (user spaces included) gets its choices as a key/value table, and
an architecture that cannot be read gets its canonical string. Drawing never
raises: a report is still useful without a picture.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any, Callable, Mapping, Sequence

#: operation -> colour; ops not listed take colours from a fixed palette by name
OP_COLORS: dict[str, str] = {
    "nor_conv_3x3": "#1f77b4", "nor_conv_1x1": "#17becf", "avg_pool_3x3": "#2ca02c", "skip_connect": "#ff7f0e",
    "none": "#9a9a9a", "max_pool_3x3": "#8c9d1a", "sep_conv_3x3": "#1f77b4", "sep_conv_5x5": "#3b4cc0",
    "dil_conv_3x3": "#d62728", "dil_conv_5x5": "#9467bd", "skip": "#9a9a9a",
}
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_FONT = "font-family='system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif'"


def op_color(op: str) -> str:
    """A stable colour for an operation name."""
    if op in OP_COLORS:
        return OP_COLORS[op]
    return _PALETTE[sum(map(ord, op)) % len(_PALETTE)]


def op_label(op: str) -> str:
    """A short label: ``nor_conv_3x3`` -> ``conv 3x3``, ``skip_connect`` -> ``skip``."""
    text = re.sub(r"^(nor_)", "", op).replace("_connect", "")
    text = re.sub(r"_(\d)x(\d)$", r" \1×\2", text).replace("_conv", "").replace("_", " ")
    return text


def _svg(width: float, height: float, body: str, label: str, markers: Sequence[str] = ()) -> str:
    defs = "".join(
        f"<marker id='arrow-{c[1:]}' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
        f"orient='auto-start-reverse'><path d='M0,0L10,5L0,10z' fill='{c}'/></marker>" for c in sorted(set(markers)))
    return (f"<svg class='arch' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:.0f} {height:.0f}' "
            f"width='{width:.0f}' role='img' aria-label='{escape(label)}' {_FONT} font-size='13'>"
            f"<defs>{defs}</defs>{body}</svg>")


def _text(x: float, y: float, text: str, *, size: int = 13, color: str = "#222", anchor: str = "middle",
          weight: str = "normal", halo: bool = False) -> str:
    extra = " paint-order='stroke' stroke='#fff' stroke-width='4' stroke-linejoin='round'" if halo else ""
    return (f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' dominant-baseline='central' font-size='{size}' "
            f"fill='{color}' font-weight='{weight}'{extra}>{escape(text)}</text>")


def _edge(x0: float, y0: float, x1: float, y1: float, bend: float, op: str, r0: float, r1: float,
          label_t: float = 0.5, color: str | None = None) -> tuple[str, tuple[float, float]]:
    """A curved arrow from (x0, y0) to (x1, y1) between circles of radius r0 and r1, bent by ``bend`` (pixels
    at the middle, perpendicular); returns the SVG and the point where the label goes."""
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length, dx / length
    cx, cy = mx + 2 * bend * nx, my + 2 * bend * ny  # a quadratic's middle lies half way to its control point

    def towards(px: float, py: float, qx: float, qy: float, r: float) -> tuple[float, float]:
        d = math.hypot(qx - px, qy - py) or 1.0
        return px + r * (qx - px) / d, py + r * (qy - py) / d

    sx, sy = towards(x0, y0, cx, cy, r0)
    ex, ey = towards(x1, y1, cx, cy, r1 + 2)
    color = color or op_color(op)
    dashed = op == "none"
    style = f"stroke='{color}' stroke-width='{1.5 if dashed else 2.2}' fill='none'"
    if dashed:
        style += " stroke-dasharray='5 4'"
    else:
        style += f" marker-end='url(#arrow-{color[1:]})'"
    t = label_t
    lx = (1 - t) ** 2 * sx + 2 * (1 - t) * t * cx + t ** 2 * ex
    ly = (1 - t) ** 2 * sy + 2 * (1 - t) * t * cy + t ** 2 * ey
    path = (f"<path d='M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}' {style}>"
            f"<title>{escape(op)}</title></path>")
    return path, (lx, ly)


def _circle(x: float, y: float, r: float, label: str, fill: str = "#fff", stroke: str = "#444",
            sub: str | None = None) -> str:
    out = f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='{fill}' stroke='{stroke}' stroke-width='1.6'/>"
    out += _text(x, y, label, weight="bold")
    if sub:
        out += _text(x, y + r + 12, sub, size=11, color="#666")
    return out


# ----------------------------------------------------------------------------- NB201
_NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def draw_nb201(values: Mapping[str, str]) -> str:
    """The NB201 cell: node 0 (the cell's input) to node 3 (its output), an operation on each of 6 edges."""
    ops = {e: str(values[f"{e[0]}<-{e[1]}"]) for e in _NB201_EDGES}
    xs = {i: 50 + 170 * i for i in range(4)}
    y, r = 150.0, 18
    # adjacent nodes: straight; two apart: one above, one below; three apart: high above
    bends = {(1, 0): 0, (2, 1): 0, (3, 2): 0, (2, 0): -55, (3, 1): 55, (3, 0): -110}
    paths, labels, markers = [], [], []
    for (to, frm), op in ops.items():
        # a negative bend is up for a left-to-right edge (the normal points down in SVG coordinates)
        path, (lx, ly) = _edge(xs[frm], y, xs[to], y, bends[(to, frm)], op, r, r)
        paths.append(path)
        markers.append(op_color(op))
        labels.append(_text(lx, ly, op_label(op), color=op_color(op), halo=True, weight="bold"))
    nodes = "".join(_circle(xs[i], y, r, str(i), sub={0: "input", 3: "output"}.get(i)) for i in range(4))
    return _svg(610, 262, "".join(paths) + nodes + "".join(labels), "NB201 cell",
                [m for m, op in zip(markers, ops.values()) if op != "none"])


# ----------------------------------------------------------------------------- DARTS
def _darts_cells(values: Mapping[str, str]) -> list[str]:
    cells = []
    for key in values:
        cell = key.split(".n", 1)[0]
        if cell not in cells:
            cells.append(cell)
    return cells


def draw_darts_cell(values: Mapping[str, str], cell: str) -> str:
    """One DARTS cell: inputs c_{k-2}, c_{k-1}; nodes 0-3 each summing two edges; output concatenating them.

    Nodes are placed in columns by their longest path from the inputs (as a layered graph drawing would),
    so most edges run left to right between neighbouring columns.
    """
    srcs = {k: [(int(values[f"{cell}.n{k}.in{j}"]), str(values[f"{cell}.n{k}.op{j}"])) for j in (0, 1)]
            for k in range(4)}
    rank = {0: 0, 1: 0}
    for k in range(4):
        rank[2 + k] = 1 + max(rank[s] for s, _ in srcs[k])
    last = max(rank.values()) + 1
    columns: dict[int, list[int]] = {}
    for node in range(6):
        columns.setdefault(rank[node], []).append(node)
    height = max(250.0, 40 + 105 * max(len(c) for c in columns.values()))
    pos: dict[int, tuple[float, float]] = {}
    for r, nodes in columns.items():
        gap = (height - 30) / len(nodes)
        for j, node in enumerate(nodes):
            pos[node] = (60.0 + 230 * r, 30 + gap * (j + 0.5))
    out_xy = (60.0 + 230 * last - 60, 30 + (height - 30) / 2)
    paths, labels, markers = [], [], []
    for k in range(4):
        for j, (src, op) in enumerate(srcs[k]):
            (x0, y0), (x1, y1) = pos[src], pos[2 + k]
            span = rank[2 + k] - rank[src]
            bend = (12 + 22 * (span - 1)) * (1 if j == 0 else -1)
            # labels near the target node: edges fanning out of the two inputs would stack them in the middle
            path, (lx, ly) = _edge(x0, y0, x1, y1, bend, op, 34 if src < 2 else 17, 17, label_t=0.68)
            paths.append(path)
            if op != "none":
                markers.append(op_color(op))
            labels.append(_text(lx, ly, op_label(op), size=12, color=op_color(op), halo=True, weight="bold"))
    concat = "".join(
        f"<path d='M{pos[2 + k][0] + 17:.1f},{pos[2 + k][1]:.1f} L{out_xy[0] - 30:.1f},{out_xy[1]:.1f}' "
        f"stroke='#c4c4c4' stroke-width='1.2' fill='none'><title>node {k} -> output (concatenated)</title></path>"
        for k in range(4))
    nodes = ""
    for i, name in ((0, "c_{k-2}"), (1, "c_{k-1}")):
        x, y = pos[i]
        nodes += (f"<rect x='{x - 34:.1f}' y='{y - 16:.1f}' width='68' height='32' rx='8' fill='#e8f4e8' "
                  f"stroke='#4a8a4a'/>" + _text(x, y, name, size=12))
    for k in range(4):
        nodes += _circle(*pos[2 + k], 17, str(k), fill="#eaf1fb", stroke="#3b6fb0")
    ox, oy = out_xy
    nodes += (f"<rect x='{ox - 30:.1f}' y='{oy - 16:.1f}' width='60' height='32' rx='8' fill='#fdf3d9' "
              f"stroke='#b48a1c'/>" + _text(ox, oy, "c_{k}", size=12))
    title = {"normal": "normal cell", "reduce": "reduction cell"}.get(cell, cell)
    body = _text(8, 12, title, anchor="start", weight="bold", size=14) + concat + "".join(paths) + nodes \
        + "".join(labels)
    return _svg(ox + 45, height + 10, body, f"DARTS {title}", markers)


def draw_darts(values: Mapping[str, str]) -> str:
    """Every cell of a DARTS architecture (normal and reduction, or each distinct cell), one below the other."""
    return "".join(f"<div class='cell'>{draw_darts_cell(values, c)}</div>" for c in _darts_cells(values))


# ----------------------------------------------------------------------------- MobileNet
def draw_mobilenet(values: Mapping[str, str], space: Any = None) -> str:
    """A block diagram: stem, one column of MBConv blocks per stage (kernel, expansion, squeeze-excite), head."""
    stages = []
    s = 0
    while f"s{s}.depth" in values:
        depth = int(values[f"s{s}.depth"])
        stages.append([(int(values[f"s{s}.b{b}.kernel"]), int(values[f"s{s}.b{b}.expand"]),
                        str(values[f"s{s}.b{b}.se"]) == "True") for b in range(depth)])
        s += 1
    if not stages:
        raise KeyError("s0.depth")
    chans: list[Any] = [None] * len(stages)
    strides: list[Any] = [None] * len(stages)
    stem = head = None
    if space is not None and hasattr(space, "channels"):
        try:
            stem, chans, head = space.channels()
            strides = [int(st) for _, st in space.stages]
        except Exception:  # drawn without channel counts
            pass
    col, box_h, top = 132, 40, 64
    width = 110 + col * len(stages) + 110
    height = top + box_h * max(len(b) for b in stages) + 10 * max(len(b) for b in stages) + 30
    shades = {3: "#dbe8f6", 5: "#a9c8ea", 7: "#6f9fd6"}
    body = ""

    def box(x: float, y: float, w: float, h: float, fill: str, lines: Sequence[str], stroke: str = "#48617f") -> str:
        out = f"<rect x='{x:.1f}' y='{y:.1f}' width='{w:.1f}' height='{h:.1f}' rx='6' fill='{fill}' stroke='{stroke}'/>"
        for i, line in enumerate(lines):
            out += _text(x + w / 2, y + h / 2 + (i - (len(lines) - 1) / 2) * 14, line, size=12)
        return out

    body += box(10, top, 90, box_h, "#eee", ["stem 3×3", f"{stem} ch" if stem else "conv"], "#777")
    x = 110.0
    for i, blocks in enumerate(stages):
        first = f"stage {i}" + (" (/2)" if strides[i] == 2 else "")
        second = (f"{chans[i]} ch · " if chans[i] else "") + f"{len(blocks)} block{'s' if len(blocks) != 1 else ''}"
        body += _text(x + col / 2 - 6, top - 30, first, size=12, weight="bold")
        body += _text(x + col / 2 - 6, top - 14, second, size=11, color="#666")
        for b, (k, e, se) in enumerate(blocks):
            y = top + b * (box_h + 10)
            tip = f"stage {i} block {b}: kernel {k}, expansion {e}, squeeze-excite {'on' if se else 'off'}"
            body += f"<g><title>{tip}</title>" + box(x, y, col - 12, box_h, shades.get(k, "#c8d6e5"),
                                                     [f"MBConv{e} {k}×{k}"] + (["+ SE"] if se else [])) + "</g>"
        body += (f"<line x1='{x - 10:.1f}' y1='{top + box_h / 2:.1f}' x2='{x - 2:.1f}' y2='{top + box_h / 2:.1f}' "
                 f"stroke='#48617f' stroke-width='2' marker-end='url(#arrow-48617f)'/>")
        x += col
    body += (f"<line x1='{x - 10:.1f}' y1='{top + box_h / 2:.1f}' x2='{x - 2:.1f}' y2='{top + box_h / 2:.1f}' "
             f"stroke='#48617f' stroke-width='2' marker-end='url(#arrow-48617f)'/>")
    body += box(x, top, 90, box_h, "#eee", ["head 1×1", f"{head} ch" if head else "pool, fc"], "#777")
    legend = "kernel: " + ", ".join(f"{k}×{k}" for k in sorted(shades))
    body += "".join(f"<rect x='{10 + 62 * j + 52:.0f}' y='{height - 22}' width='12' height='12' fill='{c}' stroke='#48617f'/>"
                    + _text(10 + 62 * j + 68, height - 16, f"{k}×{k}", size=11, anchor="start")
                    for j, (k, c) in enumerate(sorted(shades.items())))
    body += _text(10, height - 16, legend.split(":")[0] + ":", size=11, anchor="start", color="#666")
    return _svg(width, height, body, "MobileNet block diagram", ["#48617f"])


# ----------------------------------------------------------------------------- NAS-Bench-Graph
def draw_nbgraph(values: Mapping[str, str]) -> str:
    """The GNN DAG: input, four computing nodes (each reading one earlier node) and the output, which
    concatenates the leaves (nodes nothing reads)."""
    n = 4
    links = [int(values[f"link{i}"]) for i in range(1, n + 1)]
    ops = [str(values[f"op{i}"]) for i in range(1, n + 1)]
    depth = {0: 0}
    for i in range(1, n + 1):
        depth[i] = depth[links[i - 1]] + 1
    leaves = [i for i in range(1, n + 1) if i not in links]
    levels: dict[int, list[int]] = {}
    for i in range(n + 1):
        levels.setdefault(depth[i], []).append(i)
    max_depth = max(depth.values())
    height = 80 + 70 * max(len(v) for v in levels.values())
    pos = {}
    for d, nodes in levels.items():
        for j, node in enumerate(nodes):
            pos[node] = (60 + 150 * d, height / 2 + (j - (len(nodes) - 1) / 2) * 70)
    out_xy = (60 + 150 * (max_depth + 1), height / 2)
    body, markers = "", ["#555"]
    for i in range(1, n + 1):
        (x0, y0), (x1, y1) = pos[links[i - 1]], pos[i]
        body += _edge(x0, y0, x1, y1, 0, f"node {links[i - 1]} -> node {i}", 24, 24, color="#555")[0]
    for leaf in leaves:
        body += _edge(*pos[leaf], *out_xy, 0, f"node {leaf} -> output", 24, 24, color="#555")[0]
    body += _circle(*pos[0], 24, "in", fill="#e8f4e8", stroke="#4a8a4a")
    for i in range(1, n + 1):
        op = ops[i - 1]
        fill = "#f0f0f0" if op == "skip" else "#fff"
        x, y = pos[i]
        body += (f"<circle cx='{x:.1f}' cy='{y:.1f}' r='24' fill='{fill}' stroke='{op_color(op)}' stroke-width='2.5'/>"
                 + _text(x, y, op, weight="bold", color=op_color(op)) + _text(x, y + 35, f"node {i}", size=10,
                                                                               color="#888"))
    body += _circle(*out_xy, 24, "out", fill="#fdf3d9", stroke="#b48a1c")
    return _svg(out_xy[0] + 60, height, body, "NAS-Bench-Graph GNN", markers)


# ----------------------------------------------------------------------------- MLP
def draw_mlp(values: Mapping[str, str]) -> str:
    """The layers top to bottom: input, each hidden layer (a bar as wide as log2 of its width), the classifier."""
    depth = int(values["depth"])
    widths = [int(values[f"l{i}.width"]) for i in range(depth)]
    act, norm, drop = str(values.get("act", "")), str(values.get("norm", "none")), str(values.get("dropout", "0"))
    row, top = 36, 14
    height = top + row * (depth + 2) + 6
    biggest = max(math.log2(max(w, 2)) for w in widths)
    body = ""

    def bar(y: float, frac: float, fill: str, text: str) -> str:
        w = 60 + 240 * frac
        return (f"<rect x='{170 - w / 2:.1f}' y='{y:.1f}' width='{w:.1f}' height='{row - 10}' rx='5' fill='{fill}' "
                f"stroke='#48617f'/>" + _text(340, y + (row - 10) / 2, text, anchor="start", size=12))

    body += bar(top, 0.0, "#e8f4e8", "input (flattened)")
    for i, w in enumerate(widths):
        parts = [f"Linear → {w}"] + ([norm] if norm != "none" else []) + ([act] if act else []) + \
            ([f"dropout {drop}"] if drop not in ("0", "0.0") else [])
        body += bar(top + row * (i + 1), math.log2(max(w, 2)) / biggest, "#a9c8ea", " · ".join(parts))
    body += bar(top + row * (depth + 1), 0.0, "#fdf3d9", "Linear → classes")
    return _svg(620, height, body, "MLP layers")


# ----------------------------------------------------------------------------- generic
def draw_choices(values: Mapping[str, str]) -> str:
    """Any space: its choices as a key/value table."""
    rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in values.items())
    return f"<table class='kv choices'>{rows}</table>"


DRAWERS: dict[str, Callable[..., str]] = {
    "nb201": draw_nb201, "darts": draw_darts, "mobilenet": draw_mobilenet, "nasbench-graph": draw_nbgraph,
    "mlp": draw_mlp,
}


def draw_architecture(space_name: str | None, values: Mapping[str, str] | None, arch: str, space: Any = None) -> str:
    """HTML for one architecture: the drawing of its space (an ``<svg>``), else its choices as a table, else its
    canonical string. Never raises."""
    if values:
        drawer = DRAWERS.get(space_name or "")
        if drawer is not None:
            try:
                return drawer(values, space) if drawer is draw_mobilenet else drawer(values)
            except (KeyError, ValueError, TypeError):  # not this space's choices after all (a user space's name)
                pass
        return draw_choices(values)
    return f"<code class='arch-string'>{escape(arch)}</code>"


__all__ = ["DRAWERS", "OP_COLORS", "draw_architecture", "draw_choices", "draw_darts", "draw_darts_cell",
           "draw_mlp", "draw_mobilenet", "draw_nb201", "draw_nbgraph", "op_color", "op_label"]
