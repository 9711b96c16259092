"""The dashboard's ASGI app (Starlette): a page, plotly.js from the installed package, and two JSON endpoints.

Routes:

* ``/``: the single page (:mod:`nasforge.dashboard.page`); it shows a study by the
  URL's fragment (``#/study/NAME``), so choosing one never reloads the page;
* ``/static/plotly.min.js``: plotly.js from the installed ``plotly`` package (never a CDN);
* ``/api/studies``: one row per study (name, space, strategy, objectives, trials, best);
* ``/api/studies/{name}?since=TOKEN``: the study's sections as JSON (the report's views:
  :func:`nasforge.report.views.study_sections`), or ``{"unchanged": true}`` when nothing
  was written since ``TOKEN``.

The store is opened read-only and only ever read. Every storage call runs on one
worker thread owned by the app: a SQL connection is then used by one thread only,
and the event loop stays free while a large study's figures are built.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from nasforge.errors import MissingExtraError

#: seconds between the page's polls (the page reads it from the app)
DEFAULT_INTERVAL = 2.0
#: the dashboard's trials table lists this many of the newest trials
TRIAL_ROWS = 200


def _require() -> None:
    import importlib

    try:
        for module in ("plotly", "starlette"):
            importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(f"the dashboard needs {exc.name}, which is not installed: "
                                f"pip install 'nasforge[dashboard]'") from None


class StoreReader:
    """Read-only access to one storage from one thread, with the last views of each study cached by a token
    that changes whenever a trial is written."""

    def __init__(self, storage: Any, top: int = 10, drawings: int = 3) -> None:
        from nasforge.storage import Storage

        self.url = storage if isinstance(storage, str) else None
        self._given = storage if isinstance(storage, Storage) else None
        self._store: Any = None
        self.top, self.drawings = top, drawings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nasforge-dashboard-store")
        self._cache: dict[str, tuple[str, dict[str, Any]]] = {}

    def store(self) -> Any:
        if self._store is None:
            if self._given is not None:
                self._store = self._given
            else:
                from nasforge.api import open_storage

                self._store = open_storage(self.url, read_only=True)
        return self._store

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` on the store's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # -- on the store's thread ---------------------------------------------------------
    def studies(self) -> list[dict[str, Any]]:
        from nasforge.report.data import study_objectives
        from nasforge.study import best_trial

        store = self.store()
        rows = []
        for info in store.list_studies():
            trials = store.trials(info.name)
            objs = study_objectives(info.config)
            best = best_trial(trials, objs[0])
            cfg = info.config
            rows.append({"study": info.name, "space": cfg.get("space"), "strategy": cfg.get("strategy"),
                         "objectives": [str(o) for o in objs], "created_at": info.created_at,
                         "trials": sum(t.finished for t in trials), "running": sum(t.status == "running" for t in trials),
                         "failed": sum(t.status == "failed" for t in trials),
                         "best_value": None if best is None else best.value})
        return rows

    def views(self, name: str, since: str | None = None) -> dict[str, Any]:
        from nasforge.report.data import load_study
        from nasforge.report.views import study_sections

        store = self.store()
        records = store.trials(name)  # raises StudyNotFoundError naming the known studies
        token = _token(records)
        if since is not None and since == token:
            return {"study": name, "token": token, "unchanged": True}
        cached = self._cache.get(name)
        if cached is not None and cached[0] == token:
            return cached[1]
        data = load_study(name, store, top=self.top)
        data.storage = None if self.url is None else _safe(self.url)
        sections = study_sections(data, drawings=self.drawings, trial_rows=TRIAL_ROWS)
        payload = {"study": name, "token": _token(data.records), "trials": len(data.finished),
                   "running": sum(r.status == "running" for r in data.records),
                   "sections": [{"id": s.id, "title": s.title, "intro": s.intro, "html": s.html,
                                 "figure": None if s.figure is None else json.loads(s.figure.to_json())}
                                for s in sections]}
        self._cache[name] = (payload["token"], payload)
        return payload

    def close(self) -> None:
        def shut() -> None:
            if self._store is not None and self._given is None:
                self._store.close()

        try:
            self._pool.submit(shut).result(timeout=10)
        finally:
            self._pool.shutdown(wait=False)


def _safe(url: str) -> str:
    from nasforge.storage.sql import safe_url

    return safe_url(url)


def _token(records: list[Any]) -> str:
    """Changes whenever a trial is added or rewritten (a running trial finishing)."""
    h = hashlib.sha1()
    for r in records:
        h.update(f"{r.number}:{r.status}:{r.finished_at}:{r.value};".encode())
    return h.hexdigest()[:16]


def create_app(storage: Any, *, interval: float = DEFAULT_INTERVAL, top: int = 10, drawings: int = 3) -> Any:
    """The Starlette app serving ``storage`` (a URL, opened read-only on first use, or a Storage). ``interval``:
    seconds between the page's polls. Raises :class:`~nasforge.errors.MissingExtraError` without the extra."""
    _require()
    import os

    import plotly
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from nasforge.dashboard.page import render_page
    from nasforge.errors import NasforgeError, StudyNotFoundError
    from nasforge.options import check_number

    check_number("interval", interval, 0.1)
    reader = StoreReader(storage, top=top, drawings=drawings)
    where = _safe(storage) if isinstance(storage, str) else type(storage).__name__
    plotly_js = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    page = render_page(where, interval)

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def plotly_file(request: Request) -> Response:
        return FileResponse(plotly_js, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    async def studies(request: Request) -> Response:
        try:
            return JSONResponse({"storage": where, "studies": await reader.run(reader.studies)})
        except NasforgeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=500)

    async def study(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            payload = await reader.run(reader.views, name, request.query_params.get("since"))
        except StudyNotFoundError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except NasforgeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=500)
        # plotly's JSON holds no NaN (to_json writes null), so the standard encoder is enough
        return Response(json.dumps(payload, default=str), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        reader.close()

    app = Starlette(routes=[Route("/", index), Route("/static/plotly.min.js", plotly_file),
                            Route("/api/studies", studies), Route("/api/studies/{name:path}", study)],
                    lifespan=lifespan)
    app.state.reader = reader
    return app


__all__ = ["DEFAULT_INTERVAL", "StoreReader", "TRIAL_ROWS", "create_app"]
