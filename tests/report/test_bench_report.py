"""``nasforge bench`` results in the report's style, and the ``report`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nasforge.bench import curve
from nasforge.cli import app
from nasforge.errors import ConfigError
from nasforge.report import write_bench_report
from nasforge.report.bench import bench_figure, bench_sections, load_bench

runner = CliRunner()


def test_regret_curves_with_bands_and_the_table(bench_dir):
    result = load_bench(bench_dir)
    fig = bench_figure(result, "regret")
    lines = [t for t in fig.data if not t.name.endswith("band")]
    bands = [t for t in fig.data if t.name.endswith("band")]
    assert [t.name for t in lines] == ["random (3 seeds)", "rea (3 seeds)"] and len(bands) == 2
    assert fig.layout.yaxis.type == "log"
    # the last point of each line is the mean regret over seeds at the full budget, as bench.curve gives it
    for method, line in zip(("random", "rea"), lines):
        finals = [result["best_in_table"] - curve(r["trials"], "trials")[1][-1]
                  for r in result["runs"] if r["method"] == method]
        assert line.y[-1] == pytest.approx(np.mean(finals)) or np.mean(finals) == 0
        band = next(b for b in bands if b.name.startswith(method))
        assert len(band.x) == 2 * len(line.x) and band.fill == "toself"
    ids = [s.id for s in bench_sections(result)]
    assert ids == ["regret", "incumbent", "table", "settings"]


def test_bench_page(bench_dir):
    path = write_bench_report(bench_dir)
    assert path == bench_dir / "report.html"
    text = path.read_text()
    rows = json.loads((bench_dir / "bench.json").read_text())["rows"]
    assert text.count("<tr><td class=''>") == len(rows) == 6  # 2 methods x 3 checkpoints
    for sid in ("regret", "incumbent", "table", "settings"):
        assert f"id='{sid}'" in text
    assert "Plotly.newPlot" in text and "<script src=" not in text


def test_bad_bench_results_are_named(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_bench(tmp_path / "none.json")
    (tmp_path / "b.json").write_text(json.dumps({"config": {}}))
    with pytest.raises(ConfigError, match="lack runs, rows"):
        load_bench(tmp_path / "b.json")


def run(*args, code=0):
    res = runner.invoke(app, list(args))
    assert res.exit_code == code, (res.exit_code, res.output, res.exception)
    return res


def test_cli_report(report_store, bench_dir, tmp_path):
    url, names = report_store
    out = tmp_path / "single.html"
    res = run("report", names["single"], "--storage", url, "--out", str(out), "--top", "3")
    assert res.stdout.strip() == f"wrote {out}" and out.is_file()
    assert out.read_text().count("<tr><td class='num'>") >= 3
    res = run("report", "--bench", str(bench_dir / "bench.json"), "--out", str(tmp_path / "b.html"))
    assert "b.html" in res.stdout and (tmp_path / "b.html").is_file()


@pytest.mark.parametrize("args,match", [
    (["nope"], "no study named 'nope'; known: .*single"),
    ([], "give a study name"),
    (["single", "--bench", "x.json"], "not both"),
    (["single", "--top", "0"], "--top must be at least 1"),
])
def test_cli_report_errors(report_store, args, match):
    import re

    url, _ = report_store
    res = run("report", *args, "--storage", url, code=2)
    assert re.search(match, res.output.replace("\n", " ")), res.output
