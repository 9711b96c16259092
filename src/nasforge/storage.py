"""Where studies and their trials are kept: in memory, or in SQL (SQLite by default).

Storage hands out frozen :class:`~nasforge.results.TrialRecord` objects; callers
own the records they receive and the storage owns what it holds. A trial is
written when it starts (status ``running``) and again when it finishes, each
in its own committed transaction, so a process killed at any point loses no
finished trial.

URLs: ``memory:`` (or ``None``) for :class:`InMemoryStorage`; any SQLAlchemy
URL (``sqlite:///nasforge.db``, ``postgresql://...``) for :class:`SQLStorage`.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

from nasforge.errors import StudyExistsError, StudyNotFoundError
from nasforge.results import COMPLETE, FAILED, INTERRUPTED, RUNNING, TrialRecord




@dataclass(frozen=True)
class StudyInfo:
    """A study's name, configuration (plain JSON-able dict) and creation time."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


class Storage(ABC):
    """The storage interface used by :class:`~nasforge.study.Study`."""

    @abstractmethod
    def create_study(self, name: str, config: Mapping[str, Any]) -> StudyInfo: ...

    @abstractmethod
    def get_study(self, name: str) -> StudyInfo: ...

    @abstractmethod
    def list_studies(self) -> list[StudyInfo]: ...

    @abstractmethod
    def write_trial(self, record: TrialRecord) -> None:
        """Insert or replace the record with the same (study, number)."""

    @abstractmethod
    def trials(self, study: str) -> list[TrialRecord]:
        """All trials of a study in number order."""

    def has_study(self, name: str) -> bool:
        try:
            self.get_study(name)
        except StudyNotFoundError:
            return False
        return True

    def close(self) -> None:
        """Release connections (no-op by default)."""


class InMemoryStorage(Storage):
    """Dictionaries in this process; gone when it exits. The cheapest storage."""

    def __init__(self) -> None:
        self._studies: dict[str, StudyInfo] = {}
        self._trials: dict[str, dict[int, TrialRecord]] = {}

    def create_study(self, name: str, config: Mapping[str, Any]) -> StudyInfo:
        if name in self._studies:
            raise StudyExistsError(f"study {name!r} already exists")
        info = StudyInfo(name, json.loads(json.dumps(dict(config))), time.time())
        self._studies[name] = info
        self._trials[name] = {}
        return info

    def get_study(self, name: str) -> StudyInfo:
        try:
            return self._studies[name]
        except KeyError:
            raise StudyNotFoundError(_not_found(name, list(self._studies))) from None

    def list_studies(self) -> list[StudyInfo]:
        return list(self._studies.values())

    def write_trial(self, record: TrialRecord) -> None:
        self.get_study(record.study)
        self._trials[record.study][record.number] = record

    def trials(self, study: str) -> list[TrialRecord]:
        self.get_study(study)
        return [self._trials[study][n] for n in sorted(self._trials[study])]


def _not_found(name: str, known: list[str]) -> str:
    return f"no study named {name!r}; known: {', '.join(known) if known else '(none)'}"


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


class SQLStorage(Storage):
    """Studies and trials in a SQL database through SQLAlchemy Core.

    SQLite files use WAL journaling with ``synchronous=NORMAL``: a commit
    survives the process being killed (the case resume is for), and costs far
    less than a full fsync per trial.
    """

    def __init__(self, url: str = "sqlite:///nasforge.db") -> None:
        import sqlalchemy as sa

        self.url = url
        self._sa = sa
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

        meta = sa.MetaData()
        self.studies_t = sa.Table(
            "studies", meta,
            sa.Column("name", sa.String(255), primary_key=True),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
        self.trials_t = sa.Table(
            "trials", meta,
            sa.Column("study", sa.String(255), sa.ForeignKey("studies.name"), primary_key=True),
            sa.Column("number", sa.Integer, primary_key=True),
            sa.Column("arch", sa.Text, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("metrics", sa.Text, nullable=False),
            sa.Column("value", sa.Float),
            sa.Column("cost", sa.Float, nullable=False),
            sa.Column("fidelity", sa.Float),
            sa.Column("error", sa.Text),
            sa.Column("started_at", sa.Float),
            sa.Column("finished_at", sa.Float),
            sa.Column("worker", sa.String(255)),
            sa.Column("duplicate_of", sa.Integer),
        )
        try:
            meta.create_all(self.engine)
        except sa.exc.OperationalError:  # another process created the tables at the same moment
            meta.create_all(self.engine)
        self._conn = self.engine.connect()
        self._insert = self.trials_t.insert()

    def create_study(self, name: str, config: Mapping[str, Any]) -> StudyInfo:
        if self.has_study(name):
            raise StudyExistsError(f"study {name!r} already exists in {self.url}")
        info = StudyInfo(name, json.loads(json.dumps(dict(config))), time.time())
        with self._conn.begin():
            self._conn.execute(self.studies_t.insert().values(
                name=name, config=json.dumps(info.config), created_at=info.created_at))
        return info

    def get_study(self, name: str) -> StudyInfo:
        row = self._conn.execute(self._sa.select(self.studies_t).where(self.studies_t.c.name == name)).first()
        self._conn.rollback()
        if row is None:
            raise StudyNotFoundError(_not_found(name, [s.name for s in self.list_studies()]))
        return StudyInfo(row.name, json.loads(row.config), row.created_at)

    def list_studies(self) -> list[StudyInfo]:
        rows = self._conn.execute(self._sa.select(self.studies_t).order_by(self.studies_t.c.created_at)).all()
        self._conn.rollback()
        return [StudyInfo(r.name, json.loads(r.config), r.created_at) for r in rows]

    def write_trial(self, record: TrialRecord) -> None:
        values = {
            "study": record.study, "number": record.number, "arch": record.arch, "status": record.status,
            "metrics": json.dumps(dict(record.metrics)), "value": record.value, "cost": record.cost,
            "fidelity": record.fidelity, "error": record.error, "started_at": record.started_at,
            "finished_at": record.finished_at, "worker": record.worker, "duplicate_of": record.duplicate_of,
        }
        t = self.trials_t
        with self._conn.begin():
            if record.status == RUNNING:
                self._conn.execute(self._insert, values)
            else:
                res = self._conn.execute(
                    t.update().where(t.c.study == record.study, t.c.number == record.number), values)
                if res.rowcount == 0:
                    self._conn.execute(self._insert, values)

    def trials(self, study: str) -> list[TrialRecord]:
        self.get_study(study)
        t = self.trials_t
        rows = self._conn.execute(self._sa.select(t).where(t.c.study == study).order_by(t.c.number)).all()
        self._conn.rollback()
        return [TrialRecord(
            study=r.study, number=r.number, arch=r.arch, status=r.status, metrics=json.loads(r.metrics),
            value=_num(r.value), cost=r.cost, fidelity=r.fidelity, error=r.error,
            started_at=r.started_at, finished_at=r.finished_at, worker=r.worker, duplicate_of=r.duplicate_of,
        ) for r in rows]

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()


def get_storage(url: str | Storage | None) -> Storage:
    """A storage from a URL (``memory:`` / ``None`` for in-memory) or an existing instance."""
    if isinstance(url, Storage):
        return url
    if url is None or url in ("memory", "memory:", ":memory:"):
        return InMemoryStorage()
    if "://" not in url:
        raise ValueError(f"storage {url!r} is not a URL; accepted: 'memory:', 'sqlite:///path.db', "
                         f"or another SQLAlchemy URL such as 'postgresql://user@host/db'")
    return SQLStorage(url)


__all__ = ["Storage", "InMemoryStorage", "SQLStorage", "StudyInfo", "StudyExistsError", "StudyNotFoundError",
           "get_storage", "COMPLETE", "FAILED", "INTERRUPTED", "RUNNING"]
