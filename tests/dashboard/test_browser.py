"""The dashboard in a real browser (headless Chromium): plots and tables render, and a new trial shows up in
place, without the page being reloaded."""

from __future__ import annotations


def test_live_dashboard_in_chromium(chromium, dashboard_server, live_study, tmp_path):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    external = []
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith(dashboard_server) else None)
    page.goto(dashboard_server + "#/study/live")
    # the plots are drawn (plotly's SVG) and the trials table has the first trials
    page.wait_for_selector("section#progress .plot .main-svg", timeout=15000)
    page.wait_for_selector("section#operations .plot .main-svg", timeout=15000)
    page.wait_for_selector("section#trials table tbody tr", timeout=15000)
    page.wait_for_selector("section#architectures svg.arch", timeout=15000)
    assert page.inner_text("#study-list") .count("live") == 1
    page.evaluate("window.__loaded = 1")  # gone if the page were reloaded
    rows = page.locator("section#trials table tbody tr").count()
    newest = int(page.inner_text("section#trials table tbody tr:first-child td:first-child"))
    assert rows == live_study.written and newest == live_study.written - 1
    points = page.evaluate("document.querySelector('section#progress .plot').data"
                           ".filter(t => t.xaxis === 'x' && t.mode === 'markers').reduce((n, t) => n + t.x.length, 0)")
    assert points == live_study.written

    live_study.go()  # the search goes on: new trials are written while the page is open
    page.wait_for_function(
        f"Number(document.querySelector('section#trials table tbody tr td').textContent) > {newest + 1}",
        timeout=15000)
    assert page.evaluate("window.__loaded") == 1, "the page was reloaded"
    page.wait_for_function(  # the figure follows the table
        "document.querySelector('section#progress .plot').data.filter(t => t.xaxis === 'x' && t.mode === 'markers')"
        f".reduce((n, t) => n + t.x.length, 0) > {points + 1}", timeout=15000)
    assert page.locator("section#trials table tbody tr").count() > rows
    live_study.stop()
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")
    assert not errors, errors
    assert not external, f"the page fetched from elsewhere: {external}"
