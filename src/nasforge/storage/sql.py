"""SQL storage through SQLAlchemy Core: SQLite by default, PostgreSQL or any SQLAlchemy database.

One table of studies and one of trials. A database written by an earlier
version (a trials table with an ``objective`` column and no ``feasible`` /
``source`` / order columns) is brought up to date when opened for writing, and
read as it is when opened ``read_only`` (which never writes: no tables are
created, no journal mode is changed).

Every database problem (not a database, read-only, disk full, locked past the
timeout, server refused, missing driver, a SQLite file deleted or replaced
while a study runs) becomes a :class:`~nasforge.errors.StorageError` whose
message names the storage with any password hidden.
"""

from __future__ import annotations

import functools
import json
import math
import os
import threading
import time
from typing import Any, Callable, Mapping, TypeVar

from nasforge.errors import StorageError, StudyExistsError, StudyNotFoundError
from nasforge.results import FAILED, RUNNING, TrialRecord
from nasforge.storage.base import FINAL, Storage, StudyInfo, not_found_message

F = TypeVar("F", bound=Callable[..., Any])


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: nothing recognisable to hide
        return url


def _wrap(fn: F) -> F:
    """Turn SQLAlchemy's errors into a StorageError naming the storage (password hidden)."""
    @functools.wraps(fn)
    def wrapper(self: "SQLStorage", *args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return fn(self, *args, **kwargs)
        except SQLAlchemyError as exc:
            if threading.get_ident() == getattr(self, "_owner", None):  # self._conn is this thread's
                try:
                    self._conn.rollback()
                except Exception:  # the connection itself may be gone
                    pass
            raise StorageError(f"storage {self.safe_url}: {_reason(exc)}") from None
    return wrapper  # type: ignore[return-value]


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()[0]
    return f"{type(orig if orig is not None else exc).__name__}: {text}"


class SQLStorage(Storage):
    """Studies and trials in a SQL database through SQLAlchemy Core.

    SQLite files use WAL journaling with ``synchronous=NORMAL``: a commit
    survives the process being killed (the case resume is for), and costs far
    less than a full fsync per trial. ``read_only=True`` opens an existing
    database for reading only (``nasforge show``, ``studies``). ``lock_timeout``:
    seconds a SQLite write waits for another process's lock before failing.
    """

    def __init__(self, url: str = "sqlite:///nasforge.db", read_only: bool = False,
                 lock_timeout: float = 30.0) -> None:
        import sqlalchemy as sa

        self.url = url
        self.safe_url = safe_url(url)
        self.read_only = bool(read_only)
        self._sa = sa
        self._file: str | None = None
        self._file_id: tuple[int, int] | None = None
        try:
            parsed = sa.engine.make_url(url)
        except Exception as exc:
            raise StorageError(f"storage {url!r} is not a valid SQLAlchemy URL: {exc}") from None
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite and parsed.database not in (None, "", ":memory:") and not str(parsed.database).startswith("file:"):
            self._file = os.path.abspath(parsed.database)
            if self.read_only and not os.path.isfile(self._file):
                raise StorageError(f"no study database at {self._file}")
        try:
            if sqlite and self.read_only and self._file is not None:
                self.engine = sa.create_engine(f"sqlite:///file:{self._file}?mode=ro&uri=true", future=True)
            else:
                self.engine = sa.create_engine(url, future=True)
        except ModuleNotFoundError as exc:
            raise StorageError(f"storage {self.safe_url} needs the database driver {exc.name!r}, which is not "
                               f"installed (for PostgreSQL: pip install 'nasforge[postgres]' and a "
                               f"postgresql+psycopg:// URL)") from None
        except Exception as exc:
            raise StorageError(f"storage {self.safe_url}: {_reason(exc)}") from None
        if sqlite:
            ro = self.read_only
            busy_ms = int(1000 * float(lock_timeout))

            @sa.event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                if not ro:
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute(f"PRAGMA busy_timeout={busy_ms}")
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
            sa.Column("heartbeat_at", sa.Float),
            sa.Column("retry_of", sa.Integer),
        )
        try:
            if self.read_only:
                tables = set(sa.inspect(self.engine).get_table_names())
                if not {"studies", "trials"} <= tables:
                    raise StorageError(f"{self.safe_url} is not a nasforge database (it has no studies and trials "
                                       f"tables)")
                self._columns = {c["name"] for c in sa.inspect(self.engine).get_columns("trials")}
            else:
                for attempt in range(5):
                    try:
                        meta.create_all(self.engine)
                        break
                    except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
                        # another process created the tables at the same moment (SQLite: locked; PostgreSQL:
                        # a duplicate type or table): the next attempt finds them
                        if attempt == 4:
                            raise
                        time.sleep(0.05 * (attempt + 1))
                self._upgrade()
                self._columns = {c.name for c in self.trials_t.columns}
            self._conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            self.engine.dispose()
            raise StorageError(f"storage {self.safe_url}: {_reason(exc)}") from None
        if self._file is not None:
            st = os.stat(self._file)
            self._file_id = (st.st_dev, st.st_ino)
        self._insert = self.trials_t.insert()
        self._new_trial_stmt: Any = None
        self._finish_stmt: Any = None
        self._owner = threading.get_ident()  # the thread that uses self._conn; others get their own
        self._in_memory = sqlite and self._file is None

    @property
    def shared(self) -> bool:
        return not self._in_memory

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
        for name in ("tells_before", "tell_order", "retry_of"):
            if name not in columns:
                steps.append(f"ALTER TABLE trials ADD COLUMN {name} INTEGER")
        if "heartbeat_at" not in columns:
            steps.append("ALTER TABLE trials ADD COLUMN heartbeat_at FLOAT")
        if steps:
            with self.engine.begin() as conn:
                for step in steps:
                    conn.execute(sa.text(step))

    def _check_file(self) -> None:
        """A SQLite file deleted or replaced under a running study: stop rather than write into the void."""
        if self._file is None or self._file_id is None:
            return
        try:
            st = os.stat(self._file)
        except FileNotFoundError:
            raise StorageError(f"the study database {self._file} was deleted while the study was running; "
                               f"trials finished after that could not be recorded") from None
        if (st.st_dev, st.st_ino) != self._file_id:
            raise StorageError(f"the study database {self._file} was replaced by another file while the study was "
                               f"running; trials finished after that could not be recorded")

    def _writable(self) -> None:
        if self.read_only:
            raise StorageError(f"storage {self.safe_url} was opened read-only")
        self._check_file()

    @_wrap
    def create_study(self, name: str, config: Mapping[str, Any]) -> StudyInfo:
        self._writable()
        if self.has_study(name):
            raise StudyExistsError(f"study {name!r} already exists in {self.safe_url}")
        info = StudyInfo(name, json.loads(json.dumps(dict(config))), time.time())
        try:
            with self._conn.begin():
                self._conn.execute(self.studies_t.insert().values(
                    name=name, config=json.dumps(info.config), created_at=info.created_at))
        except self._sa.exc.IntegrityError:  # another driver created it a moment ago
            self._conn.rollback()
            raise StudyExistsError(f"study {name!r} already exists in {self.safe_url}") from None
        return info

    @_wrap
    def get_study(self, name: str) -> StudyInfo:
        row = self._conn.execute(self._sa.select(self.studies_t).where(self.studies_t.c.name == name)).first()
        self._conn.rollback()
        if row is None:
            raise StudyNotFoundError(not_found_message(name, [s.name for s in self.list_studies()]))
        return StudyInfo(row.name, json.loads(row.config), row.created_at)

    @_wrap
    def list_studies(self) -> list[StudyInfo]:
        rows = self._conn.execute(self._sa.select(self.studies_t).order_by(self.studies_t.c.created_at)).all()
        self._conn.rollback()
        return [StudyInfo(r.name, json.loads(r.config), r.created_at) for r in rows]

    @staticmethod
    def _values(record: TrialRecord) -> dict[str, Any]:
        return {
            "study": record.study, "number": record.number, "arch": record.arch, "status": record.status,
            "metrics": json.dumps(dict(record.metrics)), "value": record.value, "cost": record.cost,
            "fidelity": record.fidelity, "error": record.error, "started_at": record.started_at,
            "finished_at": record.finished_at, "worker": record.worker, "duplicate_of": record.duplicate_of,
            "feasible": bool(record.feasible), "source": record.source,
            "tells_before": record.tells_before, "tell_order": record.tell_order,
            "heartbeat_at": record.heartbeat_at, "retry_of": record.retry_of,
        }

    @_wrap
    def write_trial(self, record: TrialRecord) -> None:
        self._writable()
        values = self._values(record)
        t = self.trials_t
        with self._conn.begin():
            if record.status == RUNNING:
                self._conn.execute(self._insert, values)
            else:
                res = self._conn.execute(
                    t.update().where(t.c.study == record.study, t.c.number == record.number), values)
                if res.rowcount == 0:
                    self._conn.execute(self._insert, values)

    @_wrap
    def new_trial(self, record: TrialRecord) -> TrialRecord:
        """One ``INSERT ... SELECT max(number) + 1``: SQLite runs it under its write lock; on a server two
        drivers may compute the same number, and the one whose insert then breaks the primary key tries
        again with the next."""
        self._writable()
        sa, t = self._sa, self.trials_t
        values = self._values(record)
        del values["number"]
        if self._new_trial_stmt is None:  # built once: its parameters are bound per call
            names = list(values)
            following = sa.select(sa.func.coalesce(sa.func.max(t.c.number), -1) + 1).where(
                t.c.study == sa.bindparam("study", type_=t.c.study.type))
            select = sa.select(*[sa.bindparam(n, type_=t.c[n].type) for n in names], following.scalar_subquery())
            self._new_trial_stmt = t.insert().from_select([*names, "number"], select).returning(t.c.number)
        stmt = self._new_trial_stmt
        for attempt in range(1000):
            try:
                with self._conn.begin():
                    number = self._conn.execute(stmt, values).scalar_one()
                return record.with_(number=int(number))
            except sa.exc.IntegrityError:
                self._conn.rollback()
                time.sleep(0.001 * (attempt % 10))
        raise StorageError(f"storage {self.safe_url}: could not allocate a trial number for study "
                           f"{record.study!r} after 1000 attempts")

    @_wrap
    def finish_trial(self, record: TrialRecord) -> bool:
        self._writable()
        sa, t = self._sa, self.trials_t
        if self._finish_stmt is None:  # built once (a statement per call costs more than the write itself)
            self._finish_stmt = t.update().where(
                t.c.study == sa.bindparam("key_study"), t.c.number == sa.bindparam("key_number"),
                *(t.c.status != s for s in FINAL))
        values = self._values(record)
        with self._conn.begin():
            res = self._conn.execute(self._finish_stmt,
                                     {**values, "key_study": record.study, "key_number": record.number})
            if res.rowcount:
                return True
            held = self._conn.execute(sa.select(t.c.status).where(
                t.c.study == record.study, t.c.number == record.number)).first()
            if held is not None:
                return False
            self._conn.execute(self._insert, values)
            return True

    @_wrap
    def heartbeat(self, study: str, numbers: list[int], at: float) -> None:
        if not numbers:
            return
        t = self.trials_t
        stmt = t.update().where(t.c.study == study, t.c.number.in_(list(numbers)),
                                t.c.status == RUNNING).values(heartbeat_at=at)
        if threading.get_ident() == self._owner:
            with self._conn.begin():
                self._conn.execute(stmt)
        elif not self._in_memory:  # another thread (the study's heartbeat thread): a connection of its own
            with self.engine.begin() as conn:
                conn.execute(stmt)
        # (an in-memory database seen from another thread is another database: no one else reads this one)

    @_wrap
    def fail_stale_trials(self, study: str, before: float, reason: str) -> list[TrialRecord]:
        self._writable()
        sa, t = self._sa, self.trials_t
        stale = (t.c.study == study, t.c.status == RUNNING, t.c.heartbeat_at.is_not(None), t.c.heartbeat_at < before)
        numbers = [r[0] for r in self._conn.execute(sa.select(t.c.number).where(*stale)).all()]
        self._conn.rollback()
        failed = []
        for n in numbers:  # one conditional update each: a trial another driver failed first is not ours
            with self._conn.begin():
                res = self._conn.execute(t.update().where(t.c.number == n, *stale).values(
                    status=FAILED, error=reason, finished_at=time.time()))
            if res.rowcount:
                failed.append(n)
        if not failed:
            return []
        ours = set(failed)
        return [r for r in self.trials(study, min(failed)) if r.number in ours]

    @_wrap
    def trials(self, study: str, first: int = 0) -> list[TrialRecord]:
        self.get_study(study)
        sa = self._sa
        if self.read_only:  # the columns this database has (an older one is read as it is)
            t = sa.Table("trials", sa.MetaData(), autoload_with=self._conn)
        else:
            t = self.trials_t
        where = (t.c.study == study, *((t.c.number >= int(first),) if first else ()))
        rows = self._conn.execute(sa.select(t).where(*where).order_by(t.c.number)).all()
        self._conn.rollback()
        out = []
        for row in rows:
            r = row._mapping
            value = r["value"] if "value" in r else r.get("objective")
            out.append(TrialRecord(
                study=r["study"], number=r["number"], arch=r["arch"], status=r["status"],
                metrics=json.loads(r["metrics"]), value=_num(value), cost=r["cost"], fidelity=r["fidelity"],
                error=r["error"], started_at=r["started_at"], finished_at=r["finished_at"], worker=r["worker"],
                duplicate_of=r["duplicate_of"], feasible=bool(r.get("feasible", True)),
                source=r.get("source") or "ask", tells_before=r.get("tells_before"), tell_order=r.get("tell_order"),
                heartbeat_at=r.get("heartbeat_at"), retry_of=r.get("retry_of"),
            ))
        return out

    def close(self) -> None:
        try:
            self._conn.close()
        finally:
            self.engine.dispose()


__all__ = ["SQLStorage", "safe_url"]
