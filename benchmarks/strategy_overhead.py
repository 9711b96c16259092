"""Overhead of one ask+tell for every registered strategy once it has been told 1,000 trials,
beside Optuna's samplers measured in the same run.

Each strategy is told ``--told`` trials of its own search on the NB201 table
(NB201 protocol, CIFAR-10), then ``--measure`` further ask+tell pairs are timed
one by one (the benchmark lookup is outside the timed region); the figure is
the median milliseconds per pair. Optuna: ``--told`` trials through
``study.ask`` / ``study.tell`` with an in-memory storage and a categorical
suggestion per NB201 edge, then the same timing. Target: at most 1 ms for
random and REA.

    .venv/bin/python benchmarks/strategy_overhead.py            # all strategies, 1,000 told
    .venv/bin/python benchmarks/strategy_overhead.py --told 200 --strategies random,rea
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

from nasforge.registry import STRATEGIES, create_benchmark, create_strategy, list_strategies
from nasforge.study import Study

TARGET_MS = 1.0


def strategy_overhead(name: str, bench, told: int, measure: int, seed: int) -> float:
    space = bench.space
    strategy = create_strategy(name, space, seed=seed)
    # tell `told` trials of the strategy's own search (in-memory study: ask, lookup, tell)
    st = Study(space, strategy, bench, name=name)
    try:
        st.optimize(n_trials=told)
    except StopIteration:
        pass
    times = []
    for _ in range(measure):
        t0 = time.perf_counter()
        arch = strategy.ask()
        t1 = time.perf_counter()
        result = bench.evaluate(space.canonical(arch))
        t2 = time.perf_counter()
        strategy.tell(space.canonical(arch), result)
        t3 = time.perf_counter()
        times.append((t1 - t0) + (t3 - t2))
    return 1e3 * statistics.median(times)


def optuna_overhead(sampler_name: str, bench, told: int, measure: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = bench.space
    samplers = {"optuna-tpe": optuna.samplers.TPESampler, "optuna-random": optuna.samplers.RandomSampler,
                "optuna-nsga2": optuna.samplers.NSGAIISampler}
    study = optuna.create_study(direction="maximize", sampler=samplers[sampler_name](seed=seed))
    dists = {c.name: optuna.distributions.CategoricalDistribution(list(c.options)) for c in space.choices}

    def one(timed: bool) -> float:
        t0 = time.perf_counter()
        trial = study.ask(dists)
        t1 = time.perf_counter()
        result = bench.evaluate(space.make(trial.params))
        t2 = time.perf_counter()
        study.tell(trial, result.value)
        t3 = time.perf_counter()
        return (t1 - t0) + (t3 - t2)

    for _ in range(told):
        one(False)
    return 1e3 * statistics.median(one(True) for _ in range(measure))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strategies", default=",".join(  # training-free ones need a proxy scorer: not here
        s for s in list_strategies() if not STRATEGIES.get(s).needs_scorer))
    ap.add_argument("--peers", default="optuna-random,optuna-tpe,optuna-nsga2")
    ap.add_argument("--told", type=int, default=1000)
    ap.add_argument("--measure", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    bench = create_benchmark("nb201", data_dir=args.data_dir)
    bench.prepare()
    rows = []
    for name in [s for s in args.strategies.split(",") if s]:
        t0 = time.perf_counter()
        ms = strategy_overhead(name, bench, args.told, args.measure, args.seed)
        rows.append({"method": name, "ms_per_ask_tell": ms, "setup_seconds": time.perf_counter() - t0})
    for name in [p for p in args.peers.split(",") if p]:
        try:
            t0 = time.perf_counter()
            ms = optuna_overhead(name, bench, args.told, args.measure, args.seed)
            rows.append({"method": name, "ms_per_ask_tell": ms, "setup_seconds": time.perf_counter() - t0})
        except ImportError:
            rows.append({"method": name, "ms_per_ask_tell": None, "error": "optuna not installed"})
    ok = all(r["ms_per_ask_tell"] is not None and r["ms_per_ask_tell"] <= TARGET_MS
             for r in rows if r["method"] in ("random", "rea"))
    info = {"told": args.told, "measure": args.measure, "machine": platform.machine(), "python": sys.version.split()[0],
            "target_ms_random_rea": TARGET_MS, "pass": ok, "rows": rows}
    if args.json:
        print(json.dumps(info))
    else:
        print(f"median ms per ask+tell after {args.told} told trials ({args.measure} timed pairs)")
        for r in rows:
            v = "n/a" if r["ms_per_ask_tell"] is None else f"{r['ms_per_ask_tell']:.3f}"
            print(f"  {r['method']:<16} {v:>10} ms")
        print(f"random and REA at most {TARGET_MS} ms: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
