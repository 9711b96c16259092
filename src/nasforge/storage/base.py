"""The storage interface: where a study's configuration and trials are kept.

Storage hands out frozen :class:`~nasforge.results.TrialRecord` objects; callers
own the records they receive and the storage owns what it holds. A trial is
written when it starts (status ``running``) and again when it finishes, each
in its own committed transaction, so a process killed at any point loses no
finished trial.

Implementations: :class:`~nasforge.storage.memory.InMemoryStorage` (this
process only) and :class:`~nasforge.storage.sql.SQLStorage` (SQLite,
PostgreSQL or another SQLAlchemy database). :func:`nasforge.storage.get_storage`
makes one from a URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

from nasforge.errors import StudyNotFoundError
from nasforge.results import TrialRecord


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


def not_found_message(name: str, known: list[str]) -> str:
    return f"no study named {name!r}; known: {', '.join(known) if known else '(none)'}"


__all__ = ["Storage", "StudyInfo", "not_found_message"]
