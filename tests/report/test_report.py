"""The study report: every view for every kind of study, and the page that holds them."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from nasforge import api
from nasforge.errors import MissingExtraError, StudyNotFoundError
from nasforge.report import figures, html, study_page, write_report
from nasforge.report.data import load_study
from nasforge.report.views import study_sections

KINDS = ["single", "multi", "three", "weight-sharing", "proxies", "empty", "failed", "space-darts", "space-mobilenet",
         "space-nasbench-graph", "space-mlp", "space-generic", "space-user"]
ALWAYS = ["overview", "progress", "operations", "architectures", "top", "trials", "settings"]


def data_of(report_store, kind, top=10):
    url, names = report_store
    return load_study(names[kind], url, top=top)


def points(fig, name, col=None):
    """How many points the traces called ``name`` hold (in subplot column ``col`` when given)."""
    n = 0
    for t in fig.data:
        axis = getattr(t, "xaxis", None) or "x"
        if t.name == name and (col is None or axis == ("x" if col == 1 else f"x{col}")):
            n += len(t.x)
    return n


@pytest.mark.parametrize("kind", KINDS)
def test_every_view_of_every_kind_of_study(report_store, kind):
    data = data_of(report_store, kind)
    sections = study_sections(data)
    ids = [s.id for s in sections]
    assert ids[: 2] == ["overview", "progress"] and all(i in ids for i in ALWAYS)
    assert ("pareto" in ids) == (kind in ("multi", "three"))
    assert ("proxies" in ids) == (kind == "proxies")
    assert ("weight-sharing" in ids) == (kind == "weight-sharing")
    for s in sections:
        if s.figure is not None:
            json.loads(s.figure.to_json())  # serialisable for the page and the dashboard
    # the progress figure holds every finished trial once per column
    progress = sections[1].figure
    kinds = ["complete", "lower fidelity", "infeasible", "failed (drawn at the bottom: no value)"]
    for col in (1, 2, 3):
        assert sum(points(progress, k, col) for k in kinds) == len(data.finished)


def test_progress_marks_failed_and_infeasible_and_best_so_far_is_monotone(report_store):
    data = data_of(report_store, "single")
    fig = figures.progress_figure(data)
    infeasible = sum(1 for r in data.finished if r.status == "complete" and not r.feasible)
    assert infeasible > 0 and points(fig, "infeasible", 1) == infeasible
    assert points(fig, "failed (drawn at the bottom: no value)", 1) == 1
    best = next(t for t in fig.data if t.name == "best so far" and t.xaxis == "x")
    assert list(best.y) == sorted(best.y) and best.y[-1] == pytest.approx(data.summary["best"]["value"])


def test_pareto_front_and_hypervolume(report_store):
    data = data_of(report_store, "multi")
    fig = figures.pareto_figure(data)
    front = next(t for t in fig.data if t.name == "Pareto front")
    assert len(front.x) == len(data.summary["pareto"]) > 0
    assert f"hypervolume {data.summary['hypervolume']:.6g}" in fig.layout.title.text
    assert points(fig, "reference point") == 1
    # more than two objectives: a scatter matrix with one dimension per objective
    three = figures.pareto_figure(data_of(report_store, "three"))
    assert three.data[0].type == "splom" and len(three.data[0].dimensions) == 3
    assert figures.pareto_figure(data_of(report_store, "single")) is None


def test_operation_frequencies_per_edge(report_store):
    data = data_of(report_store, "single")
    freq = figures.operation_frequencies(data)
    assert [r["choice"] for r in freq["rows"]] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    for r in freq["rows"]:
        assert r["options"][:5] == ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
        assert sum(r["top"]) == pytest.approx(1.0) and sum(r["all"]) == pytest.approx(1.0)
    # the top architectures are the best 20 % of the distinct feasible ones; the best one is among them
    distinct = {r.arch for r in data.finished}
    assert freq["all_n"] == len(distinct) and 1 <= freq["top_n"] < freq["all_n"]
    best = data.arch_values(data.summary["best"]["arch"])
    row = freq["rows"][0]
    assert row["top"][row["options"].index(best["1<-0"])] > 0
    fig = figures.operations_figure(data)
    assert fig.data[0].type == "heatmap" and len(fig.data[0].y) == 6


def test_operation_frequencies_of_conditional_and_generic_spaces(report_store):
    freq = figures.operation_frequencies(data_of(report_store, "space-mobilenet"))
    names = [r["choice"] for r in freq["rows"]]
    assert "s0.depth" in names and "s0.b2.kernel" in names  # a block that exists only when depth > 2
    generic = figures.operation_frequencies(data_of(report_store, "space-generic"))
    assert {"stem", "se"} <= {r["choice"] for r in generic["rows"]}


def test_weight_sharing_supernet_against_stand_alone(report_store):
    data = data_of(report_store, "weight-sharing")
    pairs = figures.weight_sharing_pairs(data)
    assert len(pairs) == 3 and all(own == pytest.approx(inh + 5.0) for _, inh, own in pairs)
    fig = figures.weight_sharing_figure(data)
    assert points(fig, "architectures") == 3
    section = next(s for s in study_sections(data) if s.id == "weight-sharing")
    assert "spos" in section.html and "retrain" in section.html and "darts" in section.html
    assert "/runs/spos/supernet.pt" in section.html


def test_proxies_against_the_reported_metric(report_store):
    data = data_of(report_store, "proxies")
    assert set(figures.proxy_values(data)) == {"synflow", "naswot"}
    fig = figures.proxy_figure(data)
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 2 and all("Spearman" in t for t in titles)
    assert all(len(t.x) == len({r.arch for r in data.finished}) for t in fig.data)


def test_proxies_from_the_table_a_training_free_study_was_given(report_store, tmp_path):
    data = data_of(report_store, "single")
    table = tmp_path / "proxies.jsonl"
    archs = sorted({r.arch for r in data.finished})
    lines = [json.dumps({"config": {"proxies": ["synflow"]}})]
    lines += [json.dumps({"arch": a, "values": {"synflow": float(i)}, "seconds": {}, "errors": {}})
              for i, a in enumerate(archs)]
    table.write_text("\n".join(lines) + "\n{\"arch\": \"cut by a cra")  # a line cut by a crash is skipped
    data.config["strategy_params"] = {"scorer": {"type": "nasforge.evaluators.proxy_study.ProxyTable",
                                                 "table": str(table)}}
    assert len(figures.proxy_values(data)["synflow"]) == len(archs)
    data.config["strategy_params"]["scorer"]["table"] = str(tmp_path / "gone.jsonl")
    assert figures.proxy_values(data) == {}


def test_page_is_self_contained_with_the_expected_sections(report_store, tmp_path):
    url, names = report_store
    path = write_report(names["single"], url, tmp_path / "r.html", top=5)
    text = path.read_text()
    for sid in ALWAYS:
        assert f"id='{sid}'" in text
    assert "Plotly.newPlot" in text and len(text) > 3_000_000  # plotly.js is inline
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=['\"]?(https?:)?//", text)  # nothing from a network
    data = load_study(names["single"], url, top=5)
    for t in data.summary["top"]:
        assert t["arch"] in text  # canonical strings of the top-k
    assert text.count("<tr><td class='num'>") >= 5
    assert "nasforge" in text and "seed" in text and "numpy" in text and "valid_acc_12ep" in text
    assert "&lt;b&gt;boom&lt;/b&gt;" in text and "<b>boom</b>" not in text  # recorded text is escaped


def test_empty_and_failed_studies_give_readable_pages(report_store):
    url, names = report_store
    empty = study_page(names["empty"], url)
    assert "This study has no finished trials." in empty and "No trials yet." in empty
    failed = study_page(names["failed"], url)
    assert "No complete feasible trial" in failed and "cannot build" in failed
    assert failed.count("<span class='badge failed'>failed</span>") == 4 and "4 failed" in failed


def test_study_object_and_api(report_store, fake_data_dir, tmp_path, make_bench_study):
    st = make_bench_study(f"sqlite:///{tmp_path}/x.db", "obj", fake_data_dir, n=6)
    path = write_report(st, path=tmp_path / "obj.html")
    st.close()
    assert "Study obj" in path.read_text()
    url, names = report_store
    out = api.report(names["multi"], url, tmp_path / "sub" / "multi.html")
    assert out.is_file() and "id='pareto'" in out.read_text()


def test_unknown_study_names_the_known_ones(report_store):
    url, _ = report_store
    with pytest.raises(StudyNotFoundError, match="no study named 'nope'; known: .*single.*multi"):
        load_study("nope", url)


def test_passwords_never_shown():
    cfg = {"storage": "postgresql+psycopg://alice:s3cret@db.example/nas", "nested": ["mysql://u:pw@h/x"]}
    scrubbed = json.dumps(html.scrub(cfg))
    assert "s3cret" not in scrubbed and ":pw@" not in scrubbed and "alice" in scrubbed


def test_script_json_cannot_close_the_script():
    assert "</script>" not in html.script_json({"arch": "</script><script>alert(1)</script>"})


def test_missing_plotly_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'nasforge\[report\]'"):
        figures.plotly()


def test_importing_nasforge_and_the_cli_needs_no_plotly():
    code = ("import sys, nasforge, nasforge.cli, nasforge.report, nasforge.dashboard; "
            "print(sorted(m for m in ('plotly', 'starlette', 'uvicorn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
