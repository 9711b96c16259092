"""Every storage passes the public storage contract (nasforge.testing.check_storage): memory, SQLite and
PostgreSQL alike (PostgreSQL: a throwaway server on loopback, see tests/conftest.py)."""

from __future__ import annotations

import pytest

from nasforge.storage import InMemoryStorage, get_storage
from nasforge.testing import check_storage


def test_memory_storage_passes_the_contract():
    store = InMemoryStorage()
    check_storage(lambda: store)


def test_sqlite_storage_passes_the_contract(tmp_path):
    url = f"sqlite:///{tmp_path / 'contract.db'}"
    check_storage(lambda: get_storage(url))


def test_postgresql_storage_passes_the_contract(postgres_url):
    check_storage(lambda: get_storage(postgres_url))


class ForgetfulStorage(InMemoryStorage):
    """A broken storage: it lets a failed result replace a finished one."""

    def finish_trial(self, record):
        self.write_trial(record)
        return True


class RacyStorage(InMemoryStorage):
    """A broken storage: two handles allocating at once may get the same number."""

    def new_trial(self, record):
        import time

        n = max((r.number for r in self.trials(record.study)), default=-1) + 1
        time.sleep(0.001)
        rec = record.with_(number=n)
        self.write_trial(rec)
        return rec


@pytest.mark.parametrize("broken, what", [(ForgetfulStorage, "never overwritten"), (RacyStorage, "atomic")])
def test_the_contract_catches_broken_storages(broken, what):
    store = broken()
    with pytest.raises(AssertionError, match=what):
        check_storage(lambda: store)
