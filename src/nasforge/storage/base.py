"""The storage interface: where a study's configuration and trials are kept.

Storage hands out frozen :class:`~nasforge.results.TrialRecord` objects; callers
own the records they receive and the storage owns what it holds. A trial is
written when it starts (status ``running``) and again when it finishes, each
in its own committed transaction, so a process killed at any point loses no
finished trial.

Several drivers (threads, processes, machines) may run one study through one
store: trial numbers come from :meth:`Storage.new_trial`, atomic among all
handles on the store; a driver's running trials carry a heartbeat
(:meth:`Storage.heartbeat`), and a trial whose heartbeat stopped is failed by
whichever driver notices first (:meth:`Storage.fail_stale_trials`); a finished
result is never overwritten (:meth:`Storage.finish_trial`).

Implementations: :class:`~nasforge.storage.memory.InMemoryStorage` (this
process only) and :class:`~nasforge.storage.sql.SQLStorage` (SQLite,
PostgreSQL or another SQLAlchemy database). :func:`nasforge.storage.get_storage`
makes one from a URL. :func:`nasforge.testing.check_storage` is the executable
contract every storage passes (a third-party one too).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

from nasforge.errors import StudyNotFoundError
from nasforge.results import COMPLETE, FAILED, TrialRecord

#: statuses that are final: a trial in one of them is never written again
FINAL = (COMPLETE, FAILED)


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
        """Insert or replace the record with the same (study, number), unconditionally (imports, upgrades);
        the study loop writes through :meth:`new_trial` and :meth:`finish_trial`."""

    @abstractmethod
    def trials(self, study: str, first: int = 0) -> list[TrialRecord]:
        """The trials of a study numbered ``first`` or more, in number order (all of them by default)."""

    @abstractmethod
    def new_trial(self, record: TrialRecord) -> TrialRecord:
        """Insert ``record`` under the next free number of its study and return it with that number.

        Atomic among all handles on the store: drivers allocating at the same moment get distinct
        numbers (``record.number`` is ignored)."""

    @abstractmethod
    def finish_trial(self, record: TrialRecord) -> bool:
        """Write the end of a trial (complete, failed or interrupted) unless the stored trial is already
        complete or failed; False when it was (nothing is written: finished results are never overwritten,
        e.g. a result arriving after another driver failed the trial because its heartbeat had stopped)."""

    @abstractmethod
    def heartbeat(self, study: str, numbers: list[int], at: float) -> None:
        """Record that the running trials ``numbers`` of ``study`` were alive at time ``at`` (seconds since
        the epoch). Called from a driver's heartbeat thread: it must be safe to call from another thread
        than the one writing trials."""

    @abstractmethod
    def fail_stale_trials(self, study: str, before: float, reason: str) -> list[TrialRecord]:
        """Mark as failed (with ``reason``) every running trial of ``study`` whose last heartbeat is older
        than ``before``; return the records as written. Each stale trial is failed by exactly one caller,
        however many drivers call at once. Trials without heartbeats are never stale here."""

    @property
    def shared(self) -> bool:
        """Whether other processes can open this store (a database file or server): a study in it may have
        several drivers, so its running trials send heartbeats."""
        return False

    def has_study(self, name: str) -> bool:
        try:
            self.get_study(name)
        except StudyNotFoundError:
            return False
        return True

    def close(self) -> None:
        """Release connections (no-op by default)."""


def not_found_message(name: str, known: list[str]) -> str:
    return f"no study named {name!r}; known: {', '.join(known) if known else '(none)'}"


__all__ = ["FINAL", "Storage", "StudyInfo", "not_found_message"]
