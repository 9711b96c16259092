"""Where studies and their trials are kept: in memory, or in SQL (SQLite by default).

URLs: ``memory:`` (or ``None``) for :class:`InMemoryStorage`; any SQLAlchemy
URL (``sqlite:///nasforge.db``, ``postgresql://...``) for :class:`SQLStorage`.
See :mod:`nasforge.storage.base` for the interface and who owns what.
"""

from __future__ import annotations

from nasforge.errors import ConfigError, StudyExistsError, StudyNotFoundError
from nasforge.results import COMPLETE, FAILED, INTERRUPTED, RUNNING
from nasforge.storage.base import Storage, StudyInfo
from nasforge.storage.memory import InMemoryStorage


def get_storage(url: "str | Storage | None", read_only: bool = False) -> Storage:
    """A storage from a URL (``memory:`` / ``None`` for in-memory) or an existing instance.

    ``read_only`` opens an existing SQL database without writing anything to it.
    """
    if isinstance(url, Storage):
        return url
    if url is None or url in ("memory", "memory:", ":memory:"):
        return InMemoryStorage()
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"storage {url!r} is not a URL; accepted: 'memory:', 'sqlite:///path.db', "
                          f"or another SQLAlchemy URL such as 'postgresql://user@host/db'")
    from nasforge.storage.sql import SQLStorage

    return SQLStorage(url, read_only=read_only)


def __getattr__(name: str) -> object:  # SQLStorage imports SQLAlchemy: only when asked for
    if name == "SQLStorage":
        from nasforge.storage.sql import SQLStorage

        return SQLStorage
    raise AttributeError(f"module 'nasforge.storage' has no attribute {name!r}")


__all__ = ["Storage", "InMemoryStorage", "SQLStorage", "StudyInfo", "StudyExistsError", "StudyNotFoundError",
           "get_storage", "COMPLETE", "FAILED", "INTERRUPTED", "RUNNING"]
