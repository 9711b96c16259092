"""How well zero-cost proxies rank architectures: proxies of a sample of cells against a benchmark.

:func:`proxy_study` samples distinct architectures of a trainable space (seeded),
computes every requested proxy on each one's network (:class:`ProxyScorer`, in
worker processes of one torch thread each, or as Ray tasks), looks up the benchmark's reported
metric (e.g. NAS-Bench-201's 200-epoch test accuracy) and returns Spearman's and
Kendall's rank correlations per proxy with the median seconds per network. With
``out`` every scored cell is appended to a JSON-lines file as it finishes, so an
interrupted study resumes where it stopped (``nasforge proxies --out``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from nasforge.evaluators.zero_cost import ProxyScorer, check_proxies

#: input shape and classes of the networks NAS-Bench-201 trained per dataset
NB201_INPUTS: dict[str, tuple[tuple[int, int, int], int]] = {
    "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "imagenet16-120": ((3, 16, 16), 120)}


def benchmark_network_input(benchmark: Any) -> tuple[tuple[int, ...], int]:
    """The input shape and class count of the networks behind a tabular benchmark of a trainable space."""
    dataset = getattr(benchmark, "dataset", "cifar10")
    if dataset in NB201_INPUTS and getattr(benchmark, "space_name", "nb201") == "nb201":
        return NB201_INPUTS[dataset]
    raise ValueError(f"no network input known for benchmark {type(benchmark).__name__} dataset {dataset!r}; "
                     f"proxies need a benchmark over NB201 cells ({', '.join(NB201_INPUTS)})")


def sample_architectures(space: Any, n: int, seed: int) -> list[Any]:
    """``n`` distinct architectures drawn uniformly (seeded); all of them when the space has at most ``n``
    (:func:`nasforge.spaces.base.sample_distinct`, which never counts a huge space with ``len()``)."""
    from nasforge.options import check_int
    from nasforge.spaces.base import sample_distinct

    check_int("sample", n, 1)
    return sample_distinct(space, n, np.random.default_rng((seed, 31)))


_WORKER: dict[str, Any] = {}


def _init_worker(spec: dict[str, Any]) -> None:
    """Build this process's scorer (once per worker; the pool has set its threads)."""
    from nasforge.registry import create_space

    spec = dict(spec)
    space = create_space(spec.pop("space"), **spec.pop("space_options"))
    _WORKER["scorer"] = ProxyScorer(space, **spec)


def _score(text: str) -> tuple[str, dict[str, float], dict[str, float], dict[str, str]]:
    scorer = _WORKER["scorer"]
    arch = scorer.space.from_string(text)
    values = scorer(arch)
    key = scorer.space.key(arch)
    seconds = {p: s[-1] for p, s in scorer.seconds.items()}
    errors = {p: e for (k, p), e in scorer.errors.items() if k == key}
    return text, values, seconds, errors


def rank_correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Spearman's rho and Kendall's tau of ``x`` against ``y`` over the pairs where ``x`` is finite."""
    from scipy.stats import kendalltau, spearmanr

    xa, ya = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xa) & np.isfinite(ya)
    if ok.sum() < 3 or np.ptp(xa[ok]) == 0:
        return math.nan, math.nan, int(ok.sum())
    return float(spearmanr(xa[ok], ya[ok])[0]), float(kendalltau(xa[ok], ya[ok])[0]), int(ok.sum())


def proxy_study(space_name: str, benchmark: Any, *, sample: int = 1000, seed: int = 0,
                proxies: Any = None, data: str = "patches", batch_size: int = 64,
                space_options: dict[str, Any] | None = None, workers: int = 1, threads: int = 1,
                out: str | Path | None = None, progress: Callable[[int, int], None] | None = None,
                executor: str = "process", ray_address: str | None = None) -> dict[str, Any]:
    """Proxies of ``sample`` cells against ``benchmark``'s reported metric; see the module docstring.

    ``executor``: ``process`` (``workers`` processes here; one worker scores in this process) or
    ``ray`` (``workers`` Ray tasks at a time, each with ``threads`` CPUs, on a local Ray instance or
    the cluster at ``ray_address``). The scores do not depend on where they were computed."""
    from nasforge.executors import check_pool
    from nasforge.registry import create_space

    check_pool(executor, ray_address)
    names = check_proxies(proxies)
    for label, v in (("workers", workers), ("threads", threads)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{label} must be an integer >= 1, got {v!r}")
    space_options = dict(space_options or {})
    space = create_space(space_name, **space_options)
    shape, classes = benchmark_network_input(benchmark)
    spec = {"space": space_name, "space_options": space_options, "proxies": names, "data": data,
            "batch_size": batch_size, "seed": seed, "input_shape": shape, "num_classes": classes}
    probe = ProxyScorer(space, **{k: v for k, v in spec.items() if k not in ("space", "space_options")})
    # what the scores depend on (not the benchmark: one file serves every protocol of a dataset)
    config = {"space": space_name, "space_options": space_options, "sample": sample, **probe.describe()}
    archs = sample_architectures(space, sample, seed)
    texts = [space.to_string(a) for a in archs]
    done: dict[str, dict[str, Any]] = {}
    if out is not None:
        out = Path(out)
        if out.exists() and out.stat().st_size:
            lines = out.read_text().splitlines()
            head = json.loads(lines[0])
            if head.get("config") != json.loads(json.dumps(config)):
                raise ValueError(f"{out} holds a study with another configuration ({head.get('config')}); "
                                 f"give another --out file or the same options")
            for line in lines[1:]:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash: that cell is scored again
                    continue
                done[rec["arch"]] = rec
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"config": config}) + "\n")
    todo = [t for t in texts if t not in done]

    def record(res: tuple[str, dict[str, float], dict[str, float], dict[str, str]]) -> None:
        text, values, seconds, errors = res
        rec = {"arch": text, "values": values, "seconds": seconds, "errors": errors}
        done[text] = rec
        if out is not None:
            with open(out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
        if progress:
            progress(len(done), len(texts))

    if executor == "process" and (workers == 1 or len(todo) <= 1):
        from nasforge.evaluators.hardware import torch_threads

        with torch_threads(threads):
            _init_worker(json.loads(json.dumps(spec)))
            for t in todo:
                record(_score(t))
    elif todo:
        from nasforge.executors import make_pool

        with make_pool(executor, workers, threads, initializer=_init_worker, initargs=(spec,),
                       ray_address=ray_address) as pool:
            for res in pool.map_unordered(_score, todo):
                record(res)
    cells = []
    for text, arch in zip(texts, archs):
        metrics = benchmark.evaluate(arch).metrics
        cells.append({"arch": text, "accuracy": float(metrics[benchmark.report]), **done[text]})
    acc = [c["accuracy"] for c in cells]
    rows = []
    for p in names:
        vals = [c["values"][p] for c in cells]
        rho, tau, n = rank_correlations(vals, acc)
        rows.append({"proxy": p, "spearman": rho, "kendall": tau, "n": n,
                     "median_seconds": float(np.median([c["seconds"][p] for c in cells])),
                     "failed": sum(1 for c in cells if p in c["errors"])})
    return {"config": config, "benchmark": benchmark.describe(), "report": benchmark.report, "rows": rows,
            "cells": cells}


class ProxyTable:
    """A scorer that reads precomputed proxies: the JSON-lines file of :func:`proxy_study` (``--out``).

    ``table(arch) -> {proxy: value}`` for every architecture in the file; another
    architecture raises ``KeyError`` naming it and the file. ``proxies`` keeps a
    subset. ``score_many`` is there for strategies that score a whole pool.
    """

    def __init__(self, space: Any, path: str | Path, proxies: Any = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"proxy table {str(path)!r} does not exist; write one with `nasforge proxies --out`")
        lines = path.read_text().splitlines()
        try:
            self.config = json.loads(lines[0])["config"]
        except (IndexError, KeyError, json.JSONDecodeError):
            raise ValueError(f"{path} is not a proxy table written by `nasforge proxies --out`") from None
        available = tuple(self.config["proxies"])
        self.proxies = check_proxies(proxies) if proxies is not None else available
        missing = [p for p in self.proxies if p not in available]
        if missing:
            raise ValueError(f"proxy table {path} has no {missing}; it holds {', '.join(available)}")
        self.space, self.path = space, path
        self.values: dict[str, dict[str, float]] = {}
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.values[rec["arch"]] = {p: float(rec["values"][p]) for p in self.proxies}

    def __len__(self) -> int:
        return len(self.values)

    def __call__(self, arch: Any) -> dict[str, float]:
        text = self.space.to_string(arch)
        try:
            return dict(self.values[text])
        except KeyError:
            raise KeyError(f"architecture {text} is not in the proxy table {self.path} "
                           f"({len(self.values)} cells)") from None

    def score_many(self, archs: Sequence[Any], progress: Callable[[int, int], None] | None = None
                   ) -> list[dict[str, float]]:
        return [self(a) for a in archs]

    def describe(self) -> dict[str, Any]:
        return {"table": str(self.path), **self.config, "proxies": list(self.proxies)}
