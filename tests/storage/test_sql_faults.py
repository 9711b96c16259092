"""Storage faults: read-only opening, damaged or deleted databases, missing drivers, hidden passwords."""

from __future__ import annotations

import hashlib
import os
import sqlite3

import pytest
from typer.testing import CliRunner

from nasforge import api
from nasforge.cli import app
from nasforge.errors import StorageError
from nasforge.evaluators.base import FunctionEvaluator
from nasforge.registry import create_strategy
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.storage import SQLStorage, get_storage
from nasforge.storage.sql import safe_url
from nasforge.study import Study

runner = CliRunner()


def line() -> SearchSpace:
    return SearchSpace([categorical("a", range(5)), categorical("b", range(5))], name="line")


def small_study(url: str, name: str = "s", n: int = 3, fn=None) -> Study:
    sp = line()
    st = Study(sp, create_strategy("random", sp, seed=0), FunctionEvaluator(fn or (lambda a: float(a["a"]))),
               name=name, storage=url)
    return st.optimize(n_trials=n)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_read_only_commands_never_write(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    small_study(url).close()
    before = digest(tmp_path / "a.db")
    api.summarise("s", url)
    api.list_studies(url)
    for args in (["show", "s", "--storage", url], ["studies", "--storage", url]):
        assert runner.invoke(app, args).exit_code == 0
    assert digest(tmp_path / "a.db") == before
    # SQLite may add its shared-memory index to read a WAL database, but no log of changes
    wal = tmp_path / "a.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_foreign_sqlite_file_is_not_touched(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.commit()
    con.close()
    before = digest(path)
    res = runner.invoke(app, ["studies", "--storage", f"sqlite:///{path}"])
    assert res.exit_code == 2 and "is not a nasforge database" in res.output
    assert digest(path) == before
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    con.close()


def test_not_a_database_is_one_error_line(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    for args in (["studies", "--storage", f"sqlite:///{path}"],
                 ["search", "--trials", "1", "--storage", f"sqlite:///{path}"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and res.output.startswith("error:") and "Traceback" not in res.output
        assert "DatabaseError" in res.output


def test_deleted_database_during_a_run_is_reported(tmp_path):
    path = tmp_path / "gone.db"
    url = f"sqlite:///{path}"
    calls = [0]

    def fn(arch):
        calls[0] += 1
        if calls[0] == 3:
            os.remove(path)
        return float(arch["a"])

    with pytest.raises(StorageError, match="was deleted while the study was running"):
        small_study(url, n=10, fn=fn)
    assert calls[0] == 3  # stopped at once, not after a run that lost everything


def test_read_only_database_is_a_storage_error(tmp_path):
    path = tmp_path / "ro.db"
    small_study(f"sqlite:///{path}").close()
    ro = f"sqlite:///file:{path}?mode=ro&uri=true"  # what a read-only file gives any user but root
    with pytest.raises(StorageError, match="readonly database"):
        small_study(ro, name="t")
    res = runner.invoke(app, ["search", "--trials", "1", "--storage", ro])
    assert res.exit_code == 2 and res.output.startswith("error:") and "readonly" in res.output


def test_missing_driver_and_password_hidden():
    url = "postgresql+nosuchdriver://me:hunter2@127.0.0.1:1/db"
    with pytest.raises(StorageError) as exc:
        get_storage(url)
    assert "hunter2" not in str(exc.value)
    assert safe_url("postgresql://me:hunter2@host/db") == "postgresql://me:***@host/db"


def test_server_refused_is_a_storage_error_without_password():
    try:
        import psycopg  # noqa: F401
        driver = "postgresql+psycopg"
    except ImportError:
        try:
            import psycopg2  # noqa: F401
            driver = "postgresql+psycopg2"
        except ImportError:
            pytest.skip("no PostgreSQL driver installed")
    with pytest.raises(StorageError) as exc:
        SQLStorage(f"{driver}://me:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(exc.value) and "***" in str(exc.value)


def test_cli_storage_error_hides_password():
    res = runner.invoke(app, ["studies", "--storage", "postgresql+nosuchdriver://me:hunter2@127.0.0.1:1/db"])
    assert res.exit_code == 2 and res.output.startswith("error:") and "hunter2" not in res.output


def test_locked_past_the_timeout_is_a_storage_error(tmp_path):
    path = tmp_path / "locked.db"
    url = f"sqlite:///{path}"
    small_study(url).close()
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        store = SQLStorage(url, lock_timeout=0.2)
        with pytest.raises(StorageError, match="database is locked"):
            small_study(store, name="t")
    finally:
        holder.rollback()
        holder.close()


def test_disk_full_is_a_storage_error_and_keeps_what_was_recorded(tmp_path):
    path = tmp_path / "full.db"
    url = f"sqlite:///{path}"
    store = SQLStorage(url)
    calls = [0]

    def fn(arch):  # small results first, then results that no longer fit
        calls[0] += 1
        return {"objective": float(arch["a"]), "blob": "x" * (10 if calls[0] <= 3 else 200_000)}

    sp = line()
    st = Study(sp, create_strategy("random", sp, seed=0), FunctionEvaluator(fn), name="s", storage=store)
    st.optimize(n_trials=3)
    pages = store._conn.exec_driver_sql("PRAGMA page_count").scalar()
    store._conn.exec_driver_sql(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own disk-full error
    store._conn.commit()
    with pytest.raises(StorageError, match="full"):
        st.optimize(n_trials=6)
    store.close()
    again = SQLStorage(url, read_only=True)
    assert [t.status for t in again.trials("s")][:3] == ["complete"] * 3  # nothing recorded is lost
    again.close()
