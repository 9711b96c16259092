"""Per-trial overhead of the study loop, nasforge versus Optuna, on tabular NAS-Bench-201.

Each configuration runs ``--trials`` trials of random search whose objective is
a lookup in the NB201 table, so the time measured is the framework's own:

* nasforge, in memory: ``Study(..., storage=None).optimize(n_trials=N)`` with
  ``create_strategy('random')`` and the ``nb201`` benchmark (protocol ``nb201``);
* nasforge, SQLite: the same with ``storage='sqlite:///<temp file>'`` (nasforge
  opens SQLite files with WAL journaling and ``synchronous=NORMAL``);
* Optuna, in memory: ``RandomSampler``, one ``suggest_categorical`` per NB201
  edge (6), objective = the same table lookup (12-epoch validation accuracy);
* Optuna, SQLite: the same with ``RDBStorage('sqlite:///<temp file>')`` and
  Optuna's defaults (SQLite's rollback journal, ``synchronous=FULL``: an fsync
  per commit);
* Optuna, SQLite WAL (``--no-optuna-wal`` to skip): the same with the pragmas
  nasforge uses, set on Optuna's engine, so the storage comparison is like for like.

Only the ``optimize`` call is timed (study creation, table loading and imports
are not). Each repeat uses a fresh study and a fresh database file; the
configurations run interleaved within each repeat, after one untimed warm-up
of each. Reported: median, min and max ms per trial over the repeats, and ratios
of medians. PASS when nasforge with SQLite takes at most ``--target-ms`` per
trial (median); exit status 1 on FAIL.

    .venv/bin/python benchmarks/overhead.py                             # 2,000 trials x 5 repeats
    .venv/bin/python benchmarks/overhead.py --trials 200 --repeats 2    # quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from nasforge.registry import create_benchmark, create_strategy
from nasforge.study import Study

from _common import command_line, machine  # benchmarks/_common.py (scripts run from benchmarks/)

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: NB201 cell string groups: node i takes edges from nodes 0..i-1
NB201_NODES = (1, 2, 3)



class Runner:
    """Builds and times one configuration; each call is one fresh study."""

    def __init__(self, data_dir: str | None, tmp: Path, seed: int) -> None:
        self.bench = create_benchmark("nb201", dataset="cifar10", protocol="nb201", data_dir=data_dir)
        self.table = self.bench.table()
        self.space = self.bench.space
        self.tmp, self.seed, self.count = tmp, seed, 0

    def _db(self, prefix: str) -> str:
        self.count += 1
        return f"sqlite:///{self.tmp / f'{prefix}-{self.count}.db'}"

    # -- nasforge -------------------------------------------------------------
    def nasforge(self, n: int, sqlite: bool) -> float:
        storage = self._db("nasforge") if sqlite else None
        study = Study(self.space, create_strategy("random", self.space, seed=self.seed), self.bench,
                      name="overhead", storage=storage)
        t0 = time.perf_counter()
        study.optimize(n_trials=n)
        dt = time.perf_counter() - t0
        if sqlite:  # sanity: every trial is in the file, finished
            stored = study.storage.trials("overhead")
            if len(stored) != n or any(not r.finished for r in stored):
                raise RuntimeError(f"SQLite store holds {len(stored)} trials, expected {n} finished")
            study.storage.close()
        return dt

    # -- optuna ---------------------------------------------------------------
    def _objective(self) -> Callable[[Any], float]:
        table = self.table

        def objective(trial: Any) -> float:
            groups = []
            for node in NB201_NODES:
                ops = [trial.suggest_categorical(f"{node}<-{j}", NB201_OPS) for j in range(node)]
                groups.append("|" + "|".join(f"{op}~{j}" for j, op in enumerate(ops)) + "|")
            return table["+".join(groups)]["valid_acc_12ep"]

        return objective

    def optuna(self, n: int, storage_kind: str) -> float:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage: Any = None
        if storage_kind != "memory":
            storage = optuna.storages.RDBStorage(self._db(f"optuna-{storage_kind}"))
            if storage_kind == "wal":
                import sqlalchemy as sa

                def pragmas(dbapi_conn: Any, _record: Any) -> None:
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.close()

                sa.event.listen(storage.engine, "connect", pragmas)
                storage.engine.dispose()  # later connections get the pragmas
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=self.seed),
                                    direction="maximize")
        objective = self._objective()
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=n)
        dt = time.perf_counter() - t0
        if len(study.trials) != n:
            raise RuntimeError(f"Optuna study holds {len(study.trials)} trials, expected {n}")
        if storage is not None:
            storage.engine.dispose()
        return dt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=2000, help="trials per measurement (default 2000)")
    p.add_argument("--repeats", type=int, default=5, help="repeats of each measurement (default 5)")
    p.add_argument("--target-ms", type=float, default=3.0, help="PASS when nasforge+SQLite median <= this (3.0)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    p.add_argument("--warmup", type=int, default=50, help="trials of the untimed warm-up run (default 50; 0 = none)")
    p.add_argument("--no-optuna", action="store_true", help="measure nasforge only")
    p.add_argument("--no-optuna-wal", action="store_true", help="skip Optuna with nasforge's SQLite pragmas")
    p.add_argument("--tmpdir", default=None, help="where the SQLite files go (default: the system temp dir)")
    p.add_argument("--data-dir", default=None, help="directory holding nb201/nb201.csv (default: nasforge's)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    a = p.parse_args(argv)
    if a.trials < 1 or a.repeats < 1:
        p.error("--trials and --repeats must be positive")

    configs: list[tuple[str, str, Callable[[Runner, int], float]]] = [
        ("nasforge_memory", "nasforge, in memory", lambda r, n: r.nasforge(n, False)),
        ("nasforge_sqlite", "nasforge, SQLite", lambda r, n: r.nasforge(n, True)),
    ]
    if not a.no_optuna:
        import optuna

        configs += [
            ("optuna_memory", f"Optuna {optuna.__version__}, in memory", lambda r, n: r.optuna(n, "memory")),
            ("optuna_sqlite", f"Optuna {optuna.__version__}, SQLite (defaults)", lambda r, n: r.optuna(n, "sqlite")),
        ]
        if not a.no_optuna_wal:
            configs.append(("optuna_sqlite_wal", f"Optuna {optuna.__version__}, SQLite WAL+NORMAL",
                            lambda r, n: r.optuna(n, "wal")))

    times: dict[str, list[float]] = {key: [] for key, _, _ in configs}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nasforge-overhead-", dir=a.tmpdir) as tmp:
        runner = Runner(a.data_dir, Path(tmp), a.seed)
        if a.warmup > 0:
            for _, _, fn in configs:
                fn(runner, a.warmup)
        for rep in range(a.repeats):
            for key, _, fn in configs:
                times[key].append(1000.0 * fn(runner, a.trials) / a.trials)
            if not a.json:
                print(f"repeat {rep + 1}/{a.repeats}: " + ", ".join(f"{k} {times[k][-1]:.3f}" for k in times),
                      "ms/trial", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t_start

    med = {k: statistics.median(v) for k, v in times.items()}
    ratios: dict[str, float] = {"nasforge_sqlite/nasforge_memory": med["nasforge_sqlite"] / med["nasforge_memory"]}
    if "optuna_sqlite" in med:
        ratios["optuna_sqlite/nasforge_sqlite"] = med["optuna_sqlite"] / med["nasforge_sqlite"]
        ratios["optuna_memory/nasforge_memory"] = med["optuna_memory"] / med["nasforge_memory"]
        ratios["optuna_sqlite/optuna_memory"] = med["optuna_sqlite"] / med["optuna_memory"]
    if "optuna_sqlite_wal" in med:
        ratios["optuna_sqlite_wal/nasforge_sqlite"] = med["optuna_sqlite_wal"] / med["nasforge_sqlite"]
    ok = med["nasforge_sqlite"] <= a.target_ms

    out = {
        "benchmark": "overhead", "trials": a.trials, "repeats": a.repeats, "warmup": a.warmup,
        "ms_per_trial": {k: {"median": med[k], "min": min(v), "max": max(v), "all": v} for k, v in times.items()},
        "ratios_of_medians": ratios, "target_ms": a.target_ms, "pass": ok,
        "elapsed_seconds": elapsed, "machine": machine(),
        "command": command_line(),
    }
    if a.json:
        print(json.dumps(out, indent=2))
        return 0 if ok else 1

    print(f"study-loop overhead: {a.trials} tabular NB201 trials (random search), {a.repeats} repeats, "
          f"medians of ms per trial")
    head = f"{'configuration':<36} {'median':>9} {'min':>9} {'max':>9}"
    print(head)
    print("-" * len(head))
    for key, label, _ in configs:
        v = times[key]
        print(f"{label:<36} {med[key]:9.3f} {min(v):9.3f} {max(v):9.3f}")
    for name, value in ratios.items():
        print(f"ratio {name:<36} {value:8.2f}")
    print(f"{'PASS' if ok else 'FAIL'}: nasforge with SQLite {med['nasforge_sqlite']:.3f} ms per trial "
          f"(target <= {a.target_ms:g} ms)   ({elapsed:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
