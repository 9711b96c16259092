"""In-memory storage: dictionaries in this process, gone when it exits. The cheapest storage.

Safe to share between threads of one process (several studies driving one
study name, or a study and its heartbeat thread): every method holds one lock.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Mapping

from nasforge.errors import StudyExistsError, StudyNotFoundError
from nasforge.results import FAILED, RUNNING, TrialRecord
from nasforge.storage.base import FINAL, Storage, StudyInfo, not_found_message


class InMemoryStorage(Storage):
    """Dictionaries in this process; gone when it exits. The cheapest storage."""

    def __init__(self) -> None:
        self._studies: dict[str, StudyInfo] = {}
        self._trials: dict[str, dict[int, TrialRecord]] = {}
        self._next: dict[str, int] = {}  # per study: one more than the highest trial number held
        self._lock = threading.RLock()

    def create_study(self, name: str, config: Mapping[str, Any]) -> StudyInfo:
        with self._lock:
            if name in self._studies:
                raise StudyExistsError(f"study {name!r} already exists")
            info = StudyInfo(name, json.loads(json.dumps(dict(config))), time.time())
            self._studies[name] = info
            self._trials[name] = {}
            self._next[name] = 0
            return info

    def get_study(self, name: str) -> StudyInfo:
        with self._lock:
            try:
                return self._studies[name]
            except KeyError:
                raise StudyNotFoundError(not_found_message(name, list(self._studies))) from None

    def list_studies(self) -> list[StudyInfo]:
        with self._lock:
            return list(self._studies.values())

    def write_trial(self, record: TrialRecord) -> None:
        with self._lock:
            self.get_study(record.study)
            self._trials[record.study][record.number] = record
            self._next[record.study] = max(self._next[record.study], record.number + 1)

    def trials(self, study: str, first: int = 0) -> list[TrialRecord]:
        with self._lock:
            self.get_study(study)
            return [self._trials[study][n] for n in sorted(self._trials[study]) if n >= first]

    def new_trial(self, record: TrialRecord) -> TrialRecord:
        with self._lock:
            self.get_study(record.study)
            rec = record.with_(number=self._next[record.study])
            self._trials[record.study][rec.number] = rec
            self._next[record.study] = rec.number + 1
            return rec

    def finish_trial(self, record: TrialRecord) -> bool:
        with self._lock:
            self.get_study(record.study)
            old = self._trials[record.study].get(record.number)
            if old is not None and old.status in FINAL:
                return False
            self._trials[record.study][record.number] = record
            return True

    def heartbeat(self, study: str, numbers: list[int], at: float) -> None:
        with self._lock:
            held = self._trials.get(study, {})
            for n in numbers:
                old = held.get(n)
                if old is not None and old.status == RUNNING:
                    held[n] = old.with_(heartbeat_at=at)

    def fail_stale_trials(self, study: str, before: float, reason: str) -> list[TrialRecord]:
        with self._lock:
            self.get_study(study)
            held, out, now = self._trials[study], [], time.time()
            for n, old in sorted(held.items()):
                if old.status == RUNNING and old.heartbeat_at is not None and old.heartbeat_at < before:
                    held[n] = old.with_(status=FAILED, error=reason, finished_at=now)
                    out.append(held[n])
            return out


__all__ = ["InMemoryStorage"]
