"""Reports of searches: one self-contained HTML page per study or per comparison.

>>> from nasforge.report import write_report
>>> write_report("nb201-cifar10-rea-s0", storage="sqlite:///nasforge.db", path="report.html")  # doctest: +SKIP

:func:`write_report` reads a study through the storage (read-only) and writes a page
with its progress, Pareto front, operation frequencies, drawings of the best
architectures, proxies, weight sharing, the top-k table and its settings;
:func:`write_bench_report` does the same for ``nasforge bench`` results. The page
embeds plotly.js, so it opens without a network. The modules: ``data`` (the study
snapshot), ``figures`` (Plotly figures), ``drawings`` (SVG of architectures),
``views`` (the sections, shared with the dashboard), ``html`` (the page),
``bench`` (comparisons). Needs the ``report`` extra (plotly).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping


def _plotly_js() -> str:
    from nasforge.report.figures import plotly

    plotly()  # the clear error when the extra is missing
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _write(path: str | os.PathLike[str], text: str) -> Path:
    out = Path(path)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)  # a page being rewritten is never seen half written
    return out


def study_page(study: Any, storage: Any = None, *, top: int = 10, drawings: int = 3) -> str:
    """The HTML of a study's report (see :func:`write_report`)."""
    from nasforge.report import html
    from nasforge.report.data import load_study
    from nasforge.report.views import study_sections

    data = load_study(study, storage, top=top)
    sections = study_sections(data, drawings=drawings)
    sub = f"{len(data.finished)} finished trials" + (f" · {data.storage}" if data.storage else "")
    return html.page(f"nasforge report: {data.name}", sub, sections, _plotly_js())


def write_report(study: Any, storage: Any = None, path: str | os.PathLike[str] | None = None, *, top: int = 10,
                 drawings: int = 3) -> Path:
    """Write the report of ``study`` (a :class:`~nasforge.study.Study`, or a study name in ``storage``, a URL
    opened read-only) to ``path`` (default ``report-STUDY.html``) and return the path. ``top``: rows of the
    top-k table; ``drawings``: how many of the best architectures are drawn."""
    name = study if isinstance(study, str) else getattr(study, "name", "study")
    text = study_page(study, storage, top=top, drawings=drawings)
    return _write(path if path is not None else f"report-{name}.html", text)


def write_bench_report(results: str | os.PathLike[str] | Mapping[str, Any],
                       path: str | os.PathLike[str] | None = None) -> Path:
    """Write the report of a comparison (``nasforge bench``): ``results`` is its ``bench.json``, the directory
    holding it, or the dict :func:`nasforge.api.compare` returned. ``path`` defaults to ``report.html`` beside
    the ``bench.json`` (``bench-report.html`` for a dict). Returns the path."""
    from nasforge.report import html
    from nasforge.report.bench import bench_sections, load_bench

    result = load_bench(results if isinstance(results, Mapping) else str(results))
    if path is None:
        if isinstance(results, Mapping):
            path = "bench-report.html"
        else:
            src = Path(results)
            path = (src if src.is_dir() else src.parent) / "report.html"
    bench = result.get("benchmark") or {}
    title = "nasforge bench: " + ", ".join(f"{k} {v}" for k, v in bench.items() if k in ("benchmark", "dataset",
                                                                                         "protocol", "metric"))
    sub = f"{len(result['config'].get('seeds', []))} seeds"
    return _write(path, html.page(title, sub, bench_sections(result), _plotly_js()))


__all__ = ["study_page", "write_bench_report", "write_report"]
