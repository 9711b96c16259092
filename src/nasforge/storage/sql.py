"""SQL storage through SQLAlchemy Core: SQLite by default, PostgreSQL or any SQLAlchemy database.

One table of studies and one of trials. A database written by an earlier
version (a trials table with an ``objective`` column and no ``feasible`` /
``source`` columns) is brought up to date when opened.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Mapping

from nasforge.errors import StudyExistsError, StudyNotFoundError
from nasforge.results import RUNNING, TrialRecord
from nasforge.storage.base import Storage, StudyInfo, not_found_message


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
            sa.Column("feasible", sa.Boolean, nullable=False, server_default=sa.true()),
            sa.Column("source", sa.String(64), nullable=False, server_default="ask"),
            sa.Column("tells_before", sa.Integer),
            sa.Column("tell_order", sa.Integer),
        )
        try:
            meta.create_all(self.engine)
        except sa.exc.OperationalError:  # another process created the tables at the same moment
            meta.create_all(self.engine)
        self._upgrade()
        self._conn = self.engine.connect()
        self._insert = self.trials_t.insert()

    def _upgrade(self) -> None:
        """Bring a trials table written by an earlier version up to date (columns renamed or added)."""
        sa = self._sa
        columns = {c["name"] for c in sa.inspect(self.engine).get_columns("trials")}
        steps = []
        if "objective" in columns and "value" not in columns:
            steps.append("ALTER TABLE trials RENAME COLUMN objective TO value")
        if "feasible" not in columns:
            steps.append("ALTER TABLE trials ADD COLUMN feasible BOOLEAN NOT NULL DEFAULT TRUE")
        if "source" not in columns:
            steps.append("ALTER TABLE trials ADD COLUMN source VARCHAR(64) NOT NULL DEFAULT 'ask'")
        for name in ("tells_before", "tell_order"):
            if name not in columns:
                steps.append(f"ALTER TABLE trials ADD COLUMN {name} INTEGER")
        if steps:
            with self.engine.begin() as conn:
                for step in steps:
                    conn.execute(sa.text(step))

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
            raise StudyNotFoundError(not_found_message(name, [s.name for s in self.list_studies()]))
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
            "feasible": bool(record.feasible), "source": record.source,
            "tells_before": record.tells_before, "tell_order": record.tell_order,
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
            feasible=bool(r.feasible), source=r.source, tells_before=r.tells_before, tell_order=r.tell_order,
        ) for r in rows]

    def close(self) -> None:
        self._conn.close()
        self.engine.dispose()


__all__ = ["SQLStorage"]
