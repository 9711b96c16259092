"""A study still receiving trials, a dashboard server on a free loopback port, and Debian's Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from nasforge.benchmarks.nb201 import NB201Benchmark
from nasforge.registry import create_strategy
from nasforge.study import Study

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def root_service_unavailable(request: pytest.FixtureRequest):
    """``service_unavailable`` of tests/conftest.py (skip here, fail in CI), found among pytest's plugins: every
    conftest is a module named ``conftest``, so importing it by name would find whichever was loaded last."""
    want = (Path(__file__).resolve().parents[1] / "conftest.py")
    for plugin in request.config.pluginmanager.get_plugins():
        f = getattr(plugin, "__file__", None)
        if f and Path(f).resolve() == want:
            return plugin.service_unavailable
    raise RuntimeError(f"{want} is not loaded as a conftest")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Writer:
    """A study of the fake NB201 benchmark written by a background thread: ``initial`` trials at once, then,
    after :meth:`go`, one more every ``every`` seconds until stopped (like a search still running)."""

    def __init__(self, url: str, data_dir: Path, name: str = "live", initial: int = 6, every: float = 0.4,
                 limit: int = 60) -> None:
        self.url, self.data_dir, self.name = url, data_dir, name
        self.initial, self.every, self.limit = initial, every, limit
        self.ready, self._go, self._stop = threading.Event(), threading.Event(), threading.Event()
        self.written = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            bench = NB201Benchmark(data_dir=self.data_dir)
            # the study lives on this thread: its SQL connection is used by one thread only
            st = Study(bench.space, create_strategy("rea", bench.space, seed=0, population_size=5, sample_size=2),
                       bench, name=self.name, storage=self.url, config={"seed": 0, "benchmark": "nb201"})
            st.optimize(n_trials=self.initial)
            self.written = self.initial
            self.ready.set()
            self._go.wait()
            while not self._stop.is_set() and self.written < self.limit:
                st.optimize(n_trials=self.written + 1)
                self.written += 1
                self._stop.wait(self.every)
            st.close()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.ready.set()

    def start(self) -> "Writer":
        self.thread.start()
        assert self.ready.wait(30), "the writer did not start"
        if self.error:
            raise self.error
        return self

    def go(self) -> None:
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        self.thread.join(10)


@pytest.fixture
def live_study(tmp_path, fake_data_dir):
    w = Writer(f"sqlite:///{tmp_path}/live.db", fake_data_dir).start()
    yield w
    w.stop()


@pytest.fixture
def dashboard_server(live_study):
    """``http://127.0.0.1:PORT/`` of a dashboard of the live study's store (uvicorn in a thread)."""
    import uvicorn

    from nasforge.dashboard import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(live_study.url, interval=0.5), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the dashboard server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def chromium(request):
    """Debian's Chromium driven by playwright (never a downloaded browser); skipped with the reason where there is
    none, failed in CI."""
    unavailable = root_service_unavailable(request)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed (pip install 'nasforge[test]')")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        unavailable("no Chromium: install Debian's chromium package (apt-get install chromium)")
    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
    except Exception as exc:
        pw.stop()
        unavailable(f"Chromium at {exe} did not start: {exc}")
    yield browser
    browser.close()
    pw.stop()
