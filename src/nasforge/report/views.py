"""The views of a study: the sections that the HTML report prints and the dashboard keeps up to date.

:func:`study_sections` turns a :class:`~nasforge.report.data.StudyData` snapshot into
an ordered list of :class:`Section` (a title, a sentence on what it shows, a Plotly
figure and/or an HTML fragment). The report renders them once into a page; the
dashboard sends them as JSON and updates each in place. One code path for both, so
the dashboard shows exactly what the report would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasforge.report import figures, html
from nasforge.report.data import StudyData


@dataclass
class Section:
    """One part of a page: ``id`` (an HTML anchor), ``title``, ``intro`` (what it shows, one or two sentences),
    a Plotly ``figure`` (or None) and an HTML fragment (may be empty)."""

    id: str
    title: str
    intro: str
    figure: Any = None
    html: str = ""


def study_sections(data: StudyData, *, drawings: int = 3, trial_rows: int | None = None) -> list[Section]:
    """The sections of a study's page, in order; those that do not apply (a Pareto front with one objective,
    proxies that were never computed) are left out. ``drawings``: how many of the best architectures to draw;
    ``trial_rows``: the most recent trials listed (None: all)."""
    objs = data.objectives
    out = [Section("overview", f"Study {data.name}", "", html=html.overview(data))]
    out.append(Section(
        "progress", "Progress",
        f"Every finished trial's {objs[0].name} and the best so far (feasible trials at the highest fidelity), "
        f"against the trial number, the wall time since the first trial started, and the "
        f"{data.summary.get('cost_kind', 'measured')} cost spent. Infeasible trials are marked with a cross, "
        f"failed ones (no value) along the bottom.",
        figure=figures.progress_figure(data)))
    if len(objs) > 1:
        out.append(Section(
            "pareto", "Pareto front",
            f"Objectives {', '.join(map(str, objs))}: every complete trial at the highest fidelity, the "
            f"non-dominated feasible ones (the Pareto set, {len(data.summary.get('pareto') or [])} architectures) "
            f"and the hypervolume they dominate from the reference point.",
            figure=figures.pareto_figure(data)))
    ops = figures.operations_figure(data)
    out.append(Section(
        "operations", "Operations",
        f"How often each option of each choice (an edge's operation, a block's kernel, ...) appears among the "
        f"best {int(figures.TOP_FRACTION * 100)}% of the distinct architectures (by {objs[0].name}) against all "
        f"the distinct architectures evaluated.",
        figure=ops, html="" if ops is not None else html.note(
            "No architecture to count yet." if not data.finished else
            "The architectures of this study could not be read as choices.")))
    if drawings > 0:
        out.append(Section(
            "architectures", "Best architectures",
            f"The best {drawings} distinct architecture{'s' if drawings != 1 else ''} by {objs[0].name} "
            f"(feasible, at the highest fidelity), drawn from their choices.", html=html.drawings(data, drawings)))
    proxies = figures.proxy_figure(data)
    if proxies is not None:
        out.append(Section(
            "proxies", "Zero-cost proxies",
            f"Each zero-cost proxy computed for the study's architectures against {data.report_metric}, with "
            f"Spearman's rank correlation.", figure=proxies))
    if figures.uses_weight_sharing(data):
        ws = figures.weight_sharing_figure(data)
        out.append(Section(
            "weight-sharing", "Weight sharing",
            "Architectures scored with the supernet's inherited weights and, when they were retrained on their "
            "own, their stand-alone accuracy: points near the diagonal mean the supernet ranks them faithfully.",
            figure=ws, html=html.weight_sharing(data, has_pairs=ws is not None)))
    out.append(Section(
        "top", "Top architectures",
        f"The best distinct architectures by {objs[0].name} (feasible, at the highest fidelity) with their "
        f"canonical strings and metrics.", html=html.top_table(data)))
    out.append(Section(
        "trials", "Trials",
        "Every trial with its status" + (f" (the {trial_rows} most recent)." if trial_rows else ", newest first."),
        html=html.trials_table(data, limit=trial_rows)))
    out.append(Section(
        "settings", "Settings and versions",
        "What the study was run with (space, strategy, evaluator, objectives, constraints, seed) and the "
        "versions that made this page: enough to run it again.", html=html.settings(data)))
    return out


__all__ = ["Section", "study_sections"]
