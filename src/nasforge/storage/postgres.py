"""A throwaway PostgreSQL server on loopback, for tests, benchmarks and trying the PostgreSQL storage.

:func:`throwaway_cluster` runs ``initdb`` into a temporary directory, starts the
server on a free 127.0.0.1 port with trust authentication (nothing listens
beyond loopback; durability is off, it is thrown away), yields its URL, and
removes everything afterwards. It uses the server programs of Debian's
``postgresql`` package (``/usr/lib/postgresql/<version>/bin``) or any ``initdb``
on ``PATH``. PostgreSQL refuses to run as root, so under root the server runs
as the ``postgres`` user (through ``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nasforge.errors import StorageError


def server_programs() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (the newest Debian version first), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")])
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).resolve().parent if which else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` and return the URL that points at it."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return str(sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False))


@contextmanager
def throwaway_cluster(user: str = "nasforge", start_timeout: float = 60.0) -> Iterator[str]:
    """Start a PostgreSQL server in a temporary directory; yield its SQLAlchemy URL
    (``postgresql+psycopg://nasforge@127.0.0.1:PORT/postgres``); stop it and delete it afterwards.

    Raises :class:`~nasforge.errors.StorageError` saying why when no server can be started (no
    PostgreSQL installed, no ``postgres`` user under root, ``initdb`` or start failed).
    """
    bindir = server_programs()
    if bindir is None:
        raise StorageError("no PostgreSQL server programs found (initdb); on Debian: apt-get install postgresql")
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise StorageError("running as root, and there is no 'postgres' user to run the server as") from None
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="nasforge-pg-"))
    if as_user:
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, log = root / "data", root / "server.log"
    port = free_port()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], capture_output=True, text=True, cwd=root)

    started = False
    try:
        done = run(str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise StorageError(f"initdb failed: {(done.stderr or done.stdout).strip()[-400:]}")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off"
        done = run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", str(int(start_timeout)),
                   "-o", options, "start")
        if done.returncode != 0:
            tail = log.read_text()[-400:] if log.exists() else ""
            raise StorageError(f"the PostgreSQL server did not start: {(done.stderr or done.stdout).strip()} {tail}")
        started = True
        url = f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
        _wait_ready(url, start_timeout)
        yield url
    finally:
        if started:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(url: str, timeout: float) -> None:
    import sqlalchemy as sa

    deadline = time.monotonic() + timeout
    while True:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise StorageError(f"the PostgreSQL server at {url} did not accept connections: {exc}") from None
            time.sleep(0.2)
        finally:
            engine.dispose()


__all__ = ["create_database", "free_port", "server_programs", "throwaway_cluster"]
