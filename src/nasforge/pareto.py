"""Several objectives: parsing ``name:max`` / ``name:min``, dominance, non-dominated sorting,
crowding distance (Deb et al., NSGA-II), the Pareto set of a study's trials, and the hypervolume
of a set of points.

The *hypervolume* of a set of points with respect to a *reference point* is the volume of the
region that the points dominate and that dominates the reference point (Zitzler & Thiele 1998).
:func:`hypervolume` computes it exactly for any number of objectives: by a sweep in two
dimensions, and in three or more by the exclusive-contribution recursion of WFG (While,
Bradstreet & Barone, "A fast way of calculating exact hypervolumes", IEEE TEC 2012), which is
quick for fronts of a few hundred points in up to about five objectives. Its value depends on the
reference point, so the reference point must be stated wherever a hypervolume is shown;
:func:`default_reference` gives the worst value of each objective among the points.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

def parse_objectives(specs: Sequence[str] | str) -> list[tuple[str, float]]:
    """``["val_acc:max", "params:min"]`` (or one comma-separated string) -> ``[(name, sign)]``.

    ``sign`` is +1 to maximise and -1 to minimise; a name without a direction is maximised.
    The parsing is :func:`nasforge.results.parse_objectives`'s.
    """
    from nasforge.errors import ConfigError
    from nasforge.results import parse_objectives as parse

    out = [(o.name, o.sign) for o in parse(specs)]
    if not out:
        raise ConfigError("give at least one objective, e.g. 'val_acc:max,params:min'")
    return out


def objective_matrix(metrics: Iterable[Mapping[str, Any]], objectives: Sequence[tuple[str, float]]) -> np.ndarray:
    """Rows of objective values, signed so that larger is better in every column."""
    rows = []
    for m in metrics:
        try:
            rows.append([sign * float(m[name]) for name, sign in objectives])
        except KeyError as exc:
            raise KeyError(f"objective {exc.args[0]!r} is not among the metrics {sorted(m)}") from None
    return np.asarray(rows, dtype=float).reshape(len(rows), len(objectives))


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere (larger is better)."""
    return bool(np.all(a >= b) and np.any(a > b))


def non_dominated_sort(values: np.ndarray) -> list[list[int]]:
    """Fronts of row indices: front 0 is non-dominated, front 1 is dominated only by front 0, ..."""
    n = len(values)
    if n == 0:
        return []
    ge = np.all(values[:, None, :] >= values[None, :, :], axis=2)
    gt = np.any(values[:, None, :] > values[None, :, :], axis=2)
    dom = ge & gt  # dom[i, j]: i dominates j
    counts = dom.sum(axis=0)
    fronts: list[list[int]] = []
    current = [i for i in range(n) if counts[i] == 0]
    while current:
        fronts.append(current)
        nxt = []
        for i in current:
            for j in np.flatnonzero(dom[i]):
                counts[j] -= 1
                if counts[j] == 0:
                    nxt.append(int(j))
        current = sorted(nxt)
    return fronts


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row within one front (boundary points get infinity)."""
    n, m = values.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(values[:, k], kind="stable")
        span = values[order[-1], k] - values[order[0], k]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (values[order[2:], k] - values[order[:-2], k]) / span
    return dist


def pareto_front(records: Sequence[Any], objectives: Sequence[str] | str) -> list[Any]:
    """The complete records (TrialRecord-like, with ``metrics``) that no other complete record dominates,
    one per architecture, ordered by the first objective (best first)."""
    objs = parse_objectives(objectives)
    seen, done = set(), []
    for r in records:
        if getattr(r, "status", "complete") == "complete" and r.arch not in seen:
            seen.add(r.arch)
            done.append(r)
    if not done:
        return []
    vals = objective_matrix([r.metrics for r in done], objs)
    front = non_dominated_sort(vals)[0]
    return sorted((done[i] for i in front), key=lambda r: -objs[0][1] * float(r.metrics[objs[0][0]]))


# ----------------------------------------------------------------------------- hypervolume
def directions_signs(directions: Sequence[Any] | None, m: int) -> np.ndarray:
    """The +1 (maximise) / -1 (minimise) of each of ``m`` objectives.

    Each direction is ``"max"`` or ``"min"``, a sign (+1 or -1), an
    :class:`~nasforge.results.Objective`, or a ``(name, sign)`` pair as :func:`parse_objectives`
    returns; None maximises every objective.
    """
    if directions is None:
        return np.ones(m)
    if isinstance(directions, str):  # "max" alone would be read letter by letter
        directions = [directions]
    directions = list(directions)
    if len(directions) != m:
        raise ValueError(f"{len(directions)} directions {directions!r} for {m} objectives; give one per objective")
    signs = []
    for k, d in enumerate(directions):
        if isinstance(d, tuple) and len(d) == 2:
            d = d[1]
        elif hasattr(d, "sign") and hasattr(d, "direction"):  # an Objective
            d = d.sign
        if d in ("max", "min"):
            signs.append(1.0 if d == "max" else -1.0)
        elif not isinstance(d, (bool, str)) and isinstance(d, (int, float, np.integer, np.floating)) and \
                float(d) in (1.0, -1.0):
            signs.append(float(d))
        else:
            raise ValueError(f"direction {k} is {d!r}; accepted: 'max', 'min', +1, -1, an Objective "
                             f"or a (name, sign) pair")
    return np.array(signs)


def _as_points(points: Any, m: int | None = None) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, m if m is not None else (arr.shape[-1] if arr.ndim == 2 else 0))
    if arr.ndim != 2 or (m is not None and arr.shape[1] != m):
        want = f"(n, {m})" if m is not None else "(n, m)"
        raise ValueError(f"points must be a {want} array of objective values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(arr), axis=1))[0])
        raise ValueError(f"point {bad} is {arr[bad].tolist()}; objective values must be finite numbers")
    return arr


def default_reference(points: Any, directions: Sequence[Any] | None = None) -> tuple[float, ...]:
    """The worst value of each objective among ``points`` (the smallest of a maximised objective, the
    largest of a minimised one): the reference point a study's hypervolume uses unless given one.

    With it, a point that is the worst in some objective adds no volume (it lies on the reference's
    boundary), and the hypervolume is relative to the points themselves; to compare searches, fix a
    reference point for all of them.
    """
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        raise ValueError("no points: a default reference point needs at least one point")
    arr = _as_points(arr)
    signs = directions_signs(directions, arr.shape[1])
    return tuple(float(v) for v in signs * np.min(arr * signs, axis=0))


def _minimal(points: np.ndarray) -> np.ndarray:
    """The distinct rows of ``points`` that no other row weakly dominates (smaller is better)."""
    pts = np.unique(points, axis=0)
    n, m = pts.shape
    if n <= 1:
        return pts
    keep = np.ones(n, dtype=bool)
    step = max(1, 4_000_000 // (n * m))  # rows compared at once, to bound the memory of the comparison
    for start in range(0, n, step):
        block = pts[start:start + step]
        # rows are distinct, so another row "<= everywhere" dominates
        le = np.all(pts[None, :, :] <= block[:, None, :], axis=2)
        le[np.arange(len(block)), np.arange(start, start + len(block))] = False
        keep[start:start + len(block)] = ~le.any(axis=1)
    return pts[keep]


def _hv2(pts: np.ndarray, ref: np.ndarray) -> float:
    """Two objectives, minimised, every point strictly better than ``ref``: a sweep along the first
    (dominated points and duplicates add nothing to it)."""
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    best = np.minimum.accumulate(pts[:, 1])  # the lowest second value reached so far
    xs = np.append(pts[1:, 0], ref[0])
    return float(np.sum((xs - pts[:, 0]) * (ref[1] - best)))


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    """Minimised objectives, every point strictly better than ``ref`` (dominated points are allowed, but
    removing them first makes three or more objectives faster)."""
    n, m = pts.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hv2(pts, ref)
    if n == 1:
        return float(np.prod(ref - pts[0]))
    # WFG: the sum of each point's exclusive contribution, with the points sorted by the last objective
    # from worst to best. The region point i shares with the later points j is the union of the boxes
    # from max(p_i, p_j) to ref; every such box starts at p_i's last value (p_j's is no larger), so
    # that union is (ref_last - p_i_last) times an (m-1)-dimensional hypervolume.
    pts = pts[np.argsort(-pts[:, -1], kind="stable")]
    total = 0.0
    for i in range(n):
        p = pts[i]
        own = float(np.prod(ref - p))
        rest = pts[i + 1:, :-1]
        if len(rest):
            limited = np.maximum(rest, p[:-1])
            own -= float(ref[-1] - p[-1]) * _hv(limited if m == 3 else _minimal(limited), ref[:-1])
        total += own
    return total


def hypervolume(points: Any, reference: Sequence[float], directions: Sequence[Any] | None = None) -> float:
    """The exact hypervolume of ``points`` (an ``(n, m)`` array of objective values, as measured)
    with respect to ``reference`` (``m`` values in the same units).

    ``directions`` gives each objective's direction (see :func:`directions_signs`; default: every
    objective maximised). Only points strictly better than the reference in every objective add
    volume; dominated points and duplicates change nothing. An empty set has hypervolume 0.

    >>> hypervolume([[3, 1], [1, 3]], reference=[0, 0])          # two boxes of 3 overlapping in 1
    5.0
    >>> hypervolume([[2.0, 0.5]], reference=[0, 1], directions=["max", "min"])
    1.0
    """
    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or ref.size == 0 or not np.all(np.isfinite(ref)):
        raise ValueError(f"reference must be one finite number per objective, got {reference!r}")
    m = ref.size
    pts = _as_points(points, m)
    signs = directions_signs(directions, m)
    mins, rmin = -signs * pts, -signs * ref  # every objective minimised
    inside = mins[np.all(mins < rmin, axis=1)]
    return _hv(inside if m <= 2 else _minimal(inside), rmin)
