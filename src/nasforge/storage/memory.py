"""In-memory storage: dictionaries in this process, gone when it exits. The cheapest storage."""

from __future__ import annotations

import json
import time
from typing import Any, Mapping

from nasforge.errors import StudyExistsError, StudyNotFoundError
from nasforge.results import TrialRecord
from nasforge.storage.base import Storage, StudyInfo, not_found_message


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
            raise StudyNotFoundError(not_found_message(name, list(self._studies))) from None

    def list_studies(self) -> list[StudyInfo]:
        return list(self._studies.values())

    def write_trial(self, record: TrialRecord) -> None:
        self.get_study(record.study)
        self._trials[record.study][record.number] = record

    def trials(self, study: str) -> list[TrialRecord]:
        self.get_study(study)
        return [self._trials[study][n] for n in sorted(self._trials[study])]


__all__ = ["InMemoryStorage"]
