"""A live, read-only dashboard of the studies in a store (the ``dashboard`` extra: starlette, uvicorn, plotly).

>>> from nasforge.dashboard import serve
>>> serve("sqlite:///nasforge.db", port=8080)        # doctest: +SKIP   (or: nasforge dashboard)

It lists the studies and shows the report's views of the chosen one
(:mod:`nasforge.report.views`), updating them as trials finish, with no page
reload. It has no authentication: it listens on 127.0.0.1 unless told otherwise,
and anyone who can reach another address it listens on can read every study.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable

LOOPBACK_HOSTS = ("localhost",)
NO_AUTH_WARNING = ("the dashboard has no authentication: anyone who can reach {host}:{port} can read every study "
                   "in this storage; serve it on 127.0.0.1 (the default) unless that is what you want")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: assume the network can reach it
        return False


def create_app(storage: Any, **kwargs: Any) -> Any:
    """The ASGI app (see :func:`nasforge.dashboard.app.create_app`)."""
    from nasforge.dashboard.app import create_app as make

    return make(storage, **kwargs)


def serve(storage: Any, host: str = "127.0.0.1", port: int = 8080, *, interval: float = 2.0,
          warn: Callable[[str], None] | None = None, log_level: str = "warning") -> None:
    """Serve the dashboard of ``storage`` until interrupted. A host other than loopback calls ``warn`` (default:
    a Python warning) with :data:`NO_AUTH_WARNING` first."""
    from nasforge.dashboard.app import _require
    from nasforge.options import check_int

    _require()
    check_int("port", port, 0, 65535)
    if not is_loopback(host):
        message = NO_AUTH_WARNING.format(host=host, port=port)
        if warn is None:
            import warnings

            warnings.warn(message, stacklevel=2)
        else:
            warn(message)
    try:
        import uvicorn
    except ImportError:
        from nasforge.errors import MissingExtraError

        raise MissingExtraError("the dashboard needs uvicorn, which is not installed: "
                                "pip install 'nasforge[dashboard]'") from None
    app = create_app(storage, interval=interval)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


__all__ = ["NO_AUTH_WARNING", "create_app", "is_loopback", "serve"]
