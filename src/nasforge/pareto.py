"""Several objectives: parsing ``name:max`` / ``name:min``, dominance, non-dominated sorting,
crowding distance (Deb et al., NSGA-II) and the Pareto set of a study's trials."""

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
