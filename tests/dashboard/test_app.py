"""The dashboard's ASGI app through Starlette's test client: the page, plotly.js, the JSON views, updates."""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from nasforge.cli import app as cli_app
from nasforge.dashboard import create_app, is_loopback


@pytest.fixture
def client(live_study):
    with TestClient(create_app(live_study.url, interval=0.5)) as c:
        yield c


def test_page_and_plotly_are_served_locally(client):
    page = client.get("/").text
    assert '<script src="static/plotly.min.js"></script>' in page
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", page)  # nothing from a CDN or any other site
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js" in js.content[:400] and len(js.content) > 1_000_000


def test_studies_and_views(client, live_study):
    studies = client.get("/api/studies").json()["studies"]
    assert [s["study"] for s in studies] == ["live"] and studies[0]["trials"] == live_study.written
    views = client.get("/api/studies/live").json()
    ids = [s["id"] for s in views["sections"]]
    assert ids == ["overview", "progress", "operations", "architectures", "top", "trials", "settings"]
    progress = next(s for s in views["sections"] if s["id"] == "progress")["figure"]
    assert progress["layout"]["uirevision"] == "keep"  # a user's zoom survives updates
    assert sum(len(t["x"]) for t in progress["data"] if t.get("xaxis", "x") == "x" and t["mode"] == "markers") \
        == live_study.written
    # nothing new: the page is told so and redraws nothing
    again = client.get(f"/api/studies/live?since={views['token']}").json()
    assert again == {"study": "live", "token": views["token"], "unchanged": True}


def test_a_new_trial_changes_the_views(client, live_study):
    first = client.get("/api/studies/live").json()
    live_study.go()
    deadline = time.monotonic() + 10
    while live_study.written < 8:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    later = client.get(f"/api/studies/live?since={first['token']}").json()
    assert "unchanged" not in later and later["token"] != first["token"] and later["trials"] > first["trials"]
    trials = next(s for s in later["sections"] if s["id"] == "trials")["html"]
    assert f"<td class='num'>{later['trials'] - 1}</td>" in trials


def test_unknown_study_names_the_known_ones(client):
    res = client.get("/api/studies/nope")
    assert res.status_code == 404 and res.json()["error"] == "no study named 'nope'; known: live"


def test_read_only_against_the_store(client, live_study, tmp_path):
    files = [tmp_path / "live.db", tmp_path / "live.db-wal"]

    def state():
        return [(f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files]

    before = state()
    for _ in range(3):
        client.get("/api/studies")
        client.get("/api/studies/live")
    assert state() == before  # the writer is paused: the database and its write-ahead log are untouched


def test_passwords_stay_hidden():
    with TestClient(create_app("postgresql+psycopg://alice:s3cret@127.0.0.1:1/nas")) as c:
        page = c.get("/").text
        res = c.get("/api/studies")
    assert "alice:***@127.0.0.1" in page and "s3cret" not in page
    assert res.status_code == 500 and "s3cret" not in res.text


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                           ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                           ("example.org", False)])
def test_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_cli_warns_about_other_addresses(live_study, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    runner = CliRunner()
    res = runner.invoke(cli_app, ["dashboard", "--storage", live_study.url, "--host", "0.0.0.0", "--port", "8123"])
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "no authentication" in res.output and "0.0.0.0:8123" in res.output
    assert calls == [{"host": "0.0.0.0", "port": 8123, "log_level": "warning"}]
    res = runner.invoke(cli_app, ["dashboard", "--storage", live_study.url])
    assert res.exit_code == 0 and "warning" not in res.output and "http://127.0.0.1:8080/" in res.output
    assert calls[-1]["host"] == "127.0.0.1"
    res = runner.invoke(cli_app, ["dashboard", "--storage", "sqlite:////nowhere/x.db"])
    assert res.exit_code == 2 and "no study database at /nowhere/x.db" in res.output
