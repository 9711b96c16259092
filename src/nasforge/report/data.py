"""A study as the report and the dashboard see it: one consistent snapshot read through the storage.

:func:`load_study` reads a study's configuration and trials once (read-only) and
summarises that snapshot with :func:`nasforge.api.summarise`, so the figures, the
tables and the summary describe the same trials even while a search is still
writing to the store. It also rebuilds the study's space from its configuration
when it can, to read architecture strings as choices for the drawings and the
operation frequencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from nasforge.results import COMPLETE, FAILED, Objective, TrialRecord, parse_constraints, parse_objectives


@dataclass
class StudyData:
    """One snapshot of a study: its records, configuration, objectives, summary and (when it can be rebuilt)
    its space. ``storage`` is the storage's display name (any password hidden)."""

    name: str
    config: dict[str, Any]
    records: list[TrialRecord]
    objectives: tuple[Objective, ...]
    summary: dict[str, Any]
    created_at: float = 0.0
    storage: str | None = None
    space: Any = None
    _values: dict[str, dict[str, str] | None] = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> list[TrialRecord]:
        return [r for r in self.records if r.finished]

    @property
    def report_metric(self) -> str:
        return str(self.summary.get("report") or self.objectives[0].name)

    def objective_value(self, r: TrialRecord, o: Objective | None = None) -> float | None:
        """The measured value of objective ``o`` (default: the first) of a complete trial, else None."""
        o = o or self.objectives[0]
        if r.status != COMPLETE:
            return None
        v = r.metrics.get(o.name, r.value if o is self.objectives[0] else None)
        return _float(v)

    def arch_values(self, arch: str) -> dict[str, str] | None:
        """The choices of an architecture string as ``{choice: option}`` text (None when it cannot be read)."""
        if arch not in self._values:
            self._values[arch] = arch_values(self.space, arch)
        return self._values[arch]


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def study_objectives(config: Mapping[str, Any]) -> tuple[Objective, ...]:
    """A stored study's objectives (its evaluator's objective, maximised, when none were recorded)."""
    objs = parse_objectives(config.get("objectives") or None)
    return objs or (Objective(str((config.get("evaluator") or {}).get("objective", "objective"))),)


def rebuild_space(config: Mapping[str, Any]) -> Any:
    """The study's space rebuilt from its recorded name and parameters, or None.

    A user space (recorded with its ``source``) is not rebuilt: that would run the user's function,
    which may need the task's data and is code a read-only viewer should not execute; its
    architectures are read from their generic ``name=value,...`` form instead (:func:`arch_values`).
    Any failure (a space renamed, parameters that no longer validate) gives None, never an error.
    """
    name = config.get("space")
    params = dict(config.get("space_params") or {})
    if not isinstance(name, str) or params.get("source"):
        return None
    try:
        from nasforge.api import make_space

        return make_space(name, params)
    except Exception:  # a report is still useful without drawings: the canonical strings remain
        return None


def arch_values(space: Any, arch: str) -> dict[str, str] | None:
    """``{choice: option}`` (as text) of an architecture string: parsed by ``space`` when there is one, else
    read from the generic ``name=value,...`` form; None when neither works."""
    if space is not None:
        try:
            return {k: str(v) for k, v in space.parse(arch).as_dict().items()}
        except Exception:  # a string the rebuilt space refuses: fall back to the generic form
            pass
    parts = [p for p in (q.strip() for q in arch.split(",")) if p]
    if parts and all("=" in p and not p.startswith("=") for p in parts):
        return dict(p.split("=", 1) for p in parts)  # type: ignore[misc]
    return None


def snapshot_summary(name: str, config: Mapping[str, Any], records: Sequence[TrialRecord], top: int) -> dict[str, Any]:
    """:func:`nasforge.api.summarise` of exactly these records (copied into an in-memory store)."""
    from nasforge.api import summarise
    from nasforge.storage import InMemoryStorage

    mem = InMemoryStorage()
    mem.create_study(name, dict(config))
    for r in records:
        mem.write_trial(r)
    try:
        return summarise(name, mem, top=top)
    except Exception as exc:  # e.g. a recorded objective no longer parses: show the trials anyway
        return {"study": name, "best": None, "top": [], "objectives": [str(o) for o in study_objectives(config)],
                "constraints": list(config.get("constraints") or []), "trials": sum(r.finished for r in records),
                "failed": sum(r.status == FAILED for r in records), "infeasible": 0, "duplicates": 0,
                "cost_seconds": sum(r.cost for r in records if r.finished), "cost_kind": "measured",
                "counts": {}, "config": dict(config), "error": f"{type(exc).__name__}: {exc}"}


def load_study(study: Any, storage: Any = None, *, top: int = 10, space: Any = None) -> StudyData:
    """A :class:`StudyData` snapshot of ``study``: a :class:`~nasforge.study.Study`, or a study name in
    ``storage`` (a URL, opened read-only, or a Storage). An unknown name raises
    :class:`~nasforge.errors.StudyNotFoundError` naming the known studies."""
    from nasforge.options import check_int
    from nasforge.storage.sql import safe_url

    check_int("top", top, 1)
    if hasattr(study, "storage") and hasattr(study, "objectives") and hasattr(study, "config"):
        name, config = study.name, dict(study.config)
        records = list(study.storage.trials(study.name))
        created = study.storage.get_study(study.name).created_at
        url = getattr(study.storage, "url", None)
        where = safe_url(url) if isinstance(url, str) else None
        space = space if space is not None else study.space
    else:
        from nasforge.api import open_storage

        own = isinstance(storage, str) or storage is None
        store = open_storage(storage if storage is not None else "memory:", read_only=True)
        try:
            info = store.get_study(str(study))
            records = list(store.trials(info.name))
        finally:
            if own:
                store.close()
        name, config, created = info.name, dict(info.config), info.created_at
        where = safe_url(storage) if isinstance(storage, str) else (
            safe_url(store.url) if isinstance(getattr(store, "url", None), str) else None)
    summary = snapshot_summary(name, config, records, top)
    if space is None:
        space = rebuild_space(config)
    return StudyData(name=name, config=config, records=records, objectives=study_objectives(config),
                     summary=summary, created_at=created, storage=where, space=space)


def constraints_of(data: StudyData) -> list[Any]:
    """The study's constraints as :class:`~nasforge.results.Constraint` (none when they no longer parse)."""
    try:
        return list(parse_constraints(data.config.get("constraints") or None))
    except Exception:
        return []


__all__ = ["StudyData", "arch_values", "constraints_of", "load_study", "rebuild_space", "snapshot_summary",
           "study_objectives"]
