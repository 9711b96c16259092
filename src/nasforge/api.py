"""The Python API: search, one-shot search, retrain, compare and summarise.

These functions are what the ``nasforge`` command line, notebooks and the
dashboard call; the CLI only parses arguments, calls them and prints. Each
takes plain values (names, option dicts, URLs) or ready objects, checks
everything it can before the first trial (so bad input never leaves an empty
study behind), and returns plain results.

>>> from nasforge import api
>>> study = api.search(benchmark="nb201", strategy="rea", n_trials=50, seed=0)   # doctest: +SKIP
>>> api.summarise(study)["best"]["arch"]                                         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.registry import BENCHMARKS, DEFAULT_STRATEGY, EVALUATORS, SPACES, STRATEGIES, accepted_options
from nasforge.results import Constraint, Objective, TrialRecord, parse_constraints, parse_objectives

#: the budget of a search given none
DEFAULT_TRIALS = 100


# ----------------------------------------------------------------------------- building blocks
def make_space(name: str, options: Mapping[str, Any] | None = None, task: Any = None) -> Any:
    """A registered space with its options checked (``unknown space``/``has no option`` errors), or a
    user space (:class:`~nasforge.spaces.user.UserSpace`) from its source ``FILE.py:NAME`` or
    ``MODULE:NAME``, discovered with ``task`` (or a study's recorded name with ``source=`` in ``options``)."""
    from nasforge.registry import create_space
    from nasforge.spaces.user import is_source

    opts = dict(options or {})
    if (is_source(name) or opts.get("source")) and task is not None:
        opts.setdefault("task", task)
    return create_space(name, **opts)


def task_config(source: str, label_column: str = "label", image_size: int = 32, grayscale: bool = False,
                seed: int = 0) -> dict[str, Any]:
    """The plain description of a task a study records (a path is made absolute, so a study can be
    retrained from another folder)."""
    p = Path(source)
    if p.suffix or p.exists():
        source = str(p.resolve())
    return {"source": source, "label_column": label_column, "image_size": image_size, "grayscale": grayscale,
            "seed": seed}


def load_task(cfg: Mapping[str, Any]) -> Any:
    """The task a :func:`task_config` describes."""
    from nasforge.data import load_task as load

    return load(cfg["source"], label_column=cfg.get("label_column", "label"), image_size=cfg.get("image_size", 32),
                grayscale=cfg.get("grayscale", False), seed=cfg.get("seed", 0))


def resolve_task(task: str | Any, task_options: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any], str]:
    """``(task, its recorded description, its label for study names)`` for a source (built-in name, file,
    folder) or a ready Task object (recorded by name only)."""
    if isinstance(task, str):
        tcfg = task_config(task, **dict(task_options or {}))
        return load_task(tcfg), tcfg, Path(task).stem if Path(task).suffix else Path(task).name
    label = getattr(task, "name", "task")
    return task, {"name": label}, label


def default_space_name(task: Any) -> str:
    """The space a task search uses when given none: ``mlp`` for tabular data, ``nb201`` for images."""
    return "mlp" if task.kind == "tabular" else "nb201"


def make_scorer(strategy: str, options: dict[str, Any], space: Any, *, task: Any = None, benchmark: Any = None,
                proxies: str | None = None, data: str | None = None, batch_size: int = 64,
                table: str | None = None, seed: int = 0) -> Any:
    """The zero-cost proxy scorer a training-free strategy calls: computed on the fly, or read from a table.

    ``options`` are the strategy's options; the proxies default to those it reads (``proxy`` or
    ``proxies``). A table missing cells is refused here, before a study is created.
    """
    names = proxies
    if names is None:
        if strategy == "naswot":
            names = options.get("proxy", "naswot")
        elif strategy == "prescreen":
            names = options.setdefault("proxy", "naswot")
        else:
            if isinstance(options.get("proxies"), str):  # proxies=synflow,naswot
                options["proxies"] = [n.strip() for n in options["proxies"].split(",") if n.strip()]
            names = options.get("proxies") and ",".join(options["proxies"])
    if table is not None:
        from nasforge.evaluators.proxy_study import ProxyTable

        scorer = ProxyTable(space, table, proxies=names)
        check_table_covers(scorer, space, strategy, options.get("candidates"))
        return scorer
    from nasforge.evaluators.zero_cost import ProxyScorer

    if task is not None:
        return ProxyScorer(space, proxies=names, task=task, data=data or "task", batch_size=batch_size, seed=seed)
    if data == "task":
        raise ConfigError("proxy data 'task' needs a task; a benchmark has no training data: use patches or noise")
    from nasforge.evaluators.proxy_study import benchmark_network_input

    shape, classes = benchmark_network_input(benchmark)
    return ProxyScorer(space, proxies=names, input_shape=shape, num_classes=classes, data=data or "patches",
                       batch_size=batch_size, seed=seed)


def check_table_covers(table: Any, space: Any, strategy: str, candidates: Any = None) -> None:
    """Refuse, before any study exists, a proxy table that lacks architectures the strategy may propose:
    every architecture of the space, or the given ``candidates``."""
    if candidates is not None:
        names = [c if isinstance(c, str) else space.to_string(c) for c in candidates]
        missing = [c for c in names if c not in table.values]
        if missing:
            raise ConfigError(f"proxy table {table.path} lacks {len(missing)} of the {len(names)} candidates, "
                              f"e.g. {missing[0]}")
        return
    size = space.size()
    if size is None or len(table) < size:
        total = "an unknown number of" if size is None else f"{size:,}"
        raise ConfigError(f"proxy table {table.path} holds {len(table):,} of the {total} architectures of space "
                          f"{space.name!r}, and {strategy!r} may propose any of them: score them all "
                          f"(nasforge proxies --sample {size or 'N'} --out FILE), give robot a candidate list "
                          f"(-p candidates=...), or leave out --proxy-table to compute proxies as needed")


def default_study_name(label: str, strategy: str, seed: int, space: str | None = None) -> str:
    """``<benchmark>-<dataset>-<strategy>-s<seed>``, or ``<task>-<space>-<strategy>-s<seed>`` for a task
    search (whose space is a choice), so searches of different spaces never share a default name."""
    return "-".join(filter(None, [label, space, strategy, f"s{seed}"]))


# ----------------------------------------------------------------------------- search
#: strategy options a search fills in itself (never taken from a study's record)
_FILLED_OPTIONS = ("seed", "scorer", "objectives")


def recorded_strategy(storage: str | Any, study: str | None, strategy: str | None = None,
                      strategy_options: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The strategy to resume study ``study`` with, and the recorded options to use.

    ``strategy`` None: the study's recorded strategy (``DEFAULT_STRATEGY`` when there is no such
    study, or no name). The options: when the strategy is the one the study recorded, each option
    the study recorded that is not in ``strategy_options`` (nor filled in by the search itself:
    ``seed``, ``scorer``, ``objectives``) with a plain value, so a study resumes with the options it
    ran with even after a default changed; an option added since the study was recorded takes the
    value that reproduces how the strategy ran before it existed (``Strategy.legacy_defaults``),
    when the strategy declares one. Otherwise none.
    """
    from nasforge.storage import Storage, get_storage

    stored: dict[str, Any] = {}
    if study is not None and storage is not None:
        store = storage if isinstance(storage, Storage) else get_storage(storage)
        try:
            if store.has_study(study):
                stored = dict(store.get_study(study).config or {})
        finally:
            if store is not storage:
                store.close()
    name = strategy if strategy is not None else stored.get("strategy") or DEFAULT_STRATEGY
    if not isinstance(name, str):
        name = DEFAULT_STRATEGY
    params = stored.get("strategy_params")
    if stored.get("strategy") != name or not isinstance(params, dict):
        return name, {}
    factory = STRATEGIES.get(name)
    accepted = accepted_options(factory)
    given = set(strategy_options or {})
    complete = getattr(factory, "recorded_params", None)  # options added since: how the study ran without them
    if callable(complete):
        params = complete(params)

    def is_plain(v: Any) -> bool:  # a recorded stand-in for an object ({"type": ...}) is not a value
        if isinstance(v, dict):
            return "type" not in v and all(is_plain(x) for x in v.values())
        if isinstance(v, list):
            return all(is_plain(x) for x in v)
        return v is None or isinstance(v, (bool, int, float, str))

    return name, {k: v for k, v in params.items()
                  if k in accepted and k not in given and k not in _FILLED_OPTIONS and is_plain(v)}


def search(*, benchmark: str | Any | None = None, task: str | Any | None = None, space: str | Any | None = None,
           strategy: str | Any | None = None, evaluator: Any = None,
           objectives: str | Sequence[str | Objective] | None = None,
           constraints: str | Sequence[str | Constraint] | None = None,
           n_trials: int | None = None, budget_seconds: float | None = None, wall_seconds: float | None = None,
           seed: int = 0, study: str | None = None, storage: str | Any = None, resume: bool = False,
           load_if_exists: bool = False, takeover: bool = False, workers: int = 1, charge_duplicates: bool = True,
           space_options: Mapping[str, Any] | None = None, strategy_options: Mapping[str, Any] | None = None,
           benchmark_options: Mapping[str, Any] | None = None, training_options: Mapping[str, Any] | None = None,
           task_options: Mapping[str, Any] | None = None, proxy_options: Mapping[str, Any] | None = None,
           callbacks: Iterable[Callable[[Any, TrialRecord], None]] = (), run: bool = True,
           supernet: str | os.PathLike[str] | None = None, derived: str | Sequence[Any] | None = None,
           executor: str | Any | None = None, ray_address: str | None = None, cpus_per_trial: float = 1,
           gpus_per_trial: float = 0, join: bool = False, heartbeat: float | None = 10.0, stale_after: float = 60.0,
           on_stale: str = "fail", retries: int = 0, retry_on: str = "crash") -> Any:
    """Search a tabular benchmark, or train candidates on a task, and return the :class:`~nasforge.study.Study`.

    Exactly one of ``benchmark`` (a registered name or a benchmark object), ``task`` (``digits``,
    ``mnist1d``, a ``.npz``/``.csv``/image folder, or a Task), ``evaluator`` (any Evaluator, with
    ``space`` an object) or ``supernet`` (a trained supernet's ``supernet.pt``, from ``nasforge oneshot
    --method spos|fewshot|bignas``: candidates are scored with inherited weights, on the supernet's own
    task and space; ``training_options`` may then hold ``threads``, ``device``, and ``hardware`` with
    ``hardware_options`` for a ``latency_ms`` metric) says how candidates are scored. ``space`` defaults to the benchmark's own,
    or with a task to ``nb201`` for images and ``mlp`` for tabular data. ``strategy`` is a registered
    name (options in ``strategy_options``) or a Strategy built for ``space``; None means
    :data:`~nasforge.registry.DEFAULT_STRATEGY`, or, when an existing named study is resumed
    (``resume``, ``load_if_exists`` or ``join``), the strategy it was created with. Resuming a study with
    the strategy it recorded, an option not given in ``strategy_options`` takes the value the study
    recorded, not today's default (:func:`recorded_strategy`): a changed default never stops an
    older study from resuming as it ran. Objectives default to
    the evaluator's objective, maximised; with several objectives and a strategy that takes
    ``objectives`` (nsga2) they are passed on unless given in ``strategy_options``. Budgets count the
    whole study (a resumed study stops where an uninterrupted one would); without any,
    ``DEFAULT_TRIALS`` trials. ``workers > 1`` trains trials in parallel processes.
    ``resume`` continues an existing study (an error if there is none); ``load_if_exists`` continues it
    when it exists and creates it otherwise; ``takeover`` resumes a study whose running trials belong to
    a process on another machine that is gone. ``run=False`` builds and records the study without
    running it. ``derived`` adds derived metrics computed from each trial's metrics and usable as
    objectives and constraints by name, e.g. ``"mnasnet(val_acc, latency_ms, target=5, w=-0.07)"`` (the
    MnasNet reward ``mnasnet_reward``; see :mod:`nasforge.results`).

    Scaling out (see docs/scaling.md): ``executor`` is ``serial``, ``process`` (the default when
    ``workers > 1``) or ``ray`` (trials as Ray tasks on a local Ray, or on the cluster at ``ray_address``,
    e.g. ``"auto"``, with ``cpus_per_trial`` / ``gpus_per_trial``), or an Executor object; ``workers`` is the
    number of trials in flight. ``join`` runs this process as one of several drivers of one study in a
    shared store; ``heartbeat``, ``stale_after``, ``on_stale``, ``retries`` and ``retry_on`` are the
    :class:`~nasforge.study.Study`'s options of the same names.
    """
    from nasforge.study import Study, check_budgets

    given = [n for n, v in (("benchmark", benchmark), ("task", None if supernet is not None else task),
                            ("evaluator", evaluator), ("supernet", supernet)) if v is not None]
    if len(given) > 1:
        raise ConfigError(f"give one of benchmark, task, evaluator or supernet, not {' and '.join(given)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")
    config: dict[str, Any] = {"seed": seed}
    tk = None
    if supernet is not None:
        from nasforge.evaluators.supernet import SupernetEvaluator

        extra = sorted(set(training_options or {}) - {"threads", "device", "hardware", "hardware_options"})
        if space is not None or space_options or task_options or extra:
            raise ConfigError("a trained supernet brings its own task and space; do not give space, space_options, "
                              f"task_options or training options {extra or ''} with it (only threads, device, "
                              f"hardware and hardware_options)")
        if task is not None and isinstance(task, str):
            raise ConfigError("a trained supernet records its task; give a task only as the Task object it was "
                              "trained on (when it was trained on an in-memory task)")
        ev = SupernetEvaluator(supernet, task=task, **dict(training_options or {}))
        sp, tk = ev.space, ev.task
        config["task"] = ev.trained.task_config or {"name": tk.name}
        config["supernet"] = str(supernet)
        label = f"{tk.name}-{ev.trained.method}"
        evaluator = ev  # named like an evaluator search: <task>-<space>-<strategy>-s<seed>
    elif evaluator is not None:
        if space is None or isinstance(space, str):
            raise ConfigError("with an evaluator object, give the space object it evaluates")
        sp, ev, label = space, evaluator, type(evaluator).__name__.lower()
    elif task is not None:
        tk, config["task"], label = resolve_task(task, task_options)
        sp = space if space is not None and not isinstance(space, str) else \
            make_space(space or default_space_name(tk), space_options, task=tk)
        topts = {"seed": config["task"].get("seed", 0), **dict(training_options or {})}
        ev = EVALUATORS.create("training", tk, sp, **topts)
    else:
        benchmark = benchmark if benchmark is not None else "nb201"
        bopts = dict(benchmark_options or {})
        if space is not None and not isinstance(space, str):
            bopts["space"] = space  # the benchmark checks that it is the right kind of space
        if isinstance(benchmark, str):
            ev = BENCHMARKS.create(benchmark, **bopts)
            config["benchmark"] = benchmark
        else:
            if "space" in bopts:
                raise ConfigError("give the space to the benchmark object when you build it, not to search")
            ev = benchmark
            config["benchmark"] = type(benchmark).__name__
        if isinstance(space, str) and space != ev.space_name:
            SPACES.get(space)
            raise ConfigError(f"benchmark {config['benchmark']!r} covers space {ev.space_name!r}, not {space!r}")
        if space_options:
            raise ConfigError("space options are for task searches; a benchmark's space is fixed")
        sp = ev.space
        label = "-".join(filter(None, [config["benchmark"], getattr(ev, "dataset", None)]))
    objs = parse_objectives(objectives)
    cons = parse_constraints(constraints)
    if strategy is None or isinstance(strategy, str):
        if resume or load_if_exists or join:
            strategy, recorded = recorded_strategy(storage, study, strategy, strategy_options)
        else:
            strategy, recorded = strategy or DEFAULT_STRATEGY, {}
        strat_name = strategy
        cls = STRATEGIES.get(strategy)
        sopts = {"seed": seed, **recorded, **dict(strategy_options or {})}
        accepted = accepted_options(cls)
        if len(objs) > 1 and "objectives" in accepted and "objectives" not in sopts:
            sopts["objectives"] = [str(o) for o in objs]
        if "scorer" in accepted and "scorer" not in sopts:
            sopts["scorer"] = make_scorer(strategy, sopts, sp, task=tk, benchmark=None if tk is not None else ev,
                                          **dict(proxy_options or {}))
        elif proxy_options and any(v is not None for v in proxy_options.values()):
            raise ConfigError(f"proxy options are for the training-free strategies (naswot, prescreen, robot), "
                              f"not {strategy!r}")
        strat = STRATEGIES.create(strategy, sp, **sopts)
    else:
        strat, strat_name = strategy, strategy.name
    if n_trials is None and budget_seconds is None and wall_seconds is None:
        n_trials = DEFAULT_TRIALS
    check_budgets(ev, n_trials, budget_seconds, wall_seconds)
    name = study or default_study_name(label, strat_name, seed, sp.name if tk is not None or evaluator else None)
    if load_if_exists and not resume:
        from nasforge.storage import Storage, get_storage

        if not isinstance(storage, Storage):
            storage = get_storage(storage)
        resume = storage.has_study(name)
    st = Study(sp, strat, ev, name=name, storage=storage, resume=resume and not join,
               charge_duplicates=charge_duplicates, config=config, objectives=objs or None,
               constraints=cons or None, takeover=takeover, derived=derived, join=join, heartbeat=heartbeat,
               stale_after=stale_after, on_stale=on_stale, retries=retries, retry_on=retry_on)
    if not run:
        return st
    ex = study_executor(st, executor, workers=workers, ray_address=ray_address, cpus_per_trial=cpus_per_trial,
                        gpus_per_trial=gpus_per_trial)
    try:
        st.optimize(n_trials=n_trials, budget_seconds=budget_seconds, wall_seconds=wall_seconds,
                    callbacks=callbacks, executor=ex)
    finally:
        if ex is not None and ex is not executor:
            ex.shutdown()
    return st


def study_executor(st: Any, executor: str | Any | None = None, *, workers: int = 1, threads: int | None = None,
                   ray_address: str | None = None, cpus_per_trial: float = 1, gpus_per_trial: float = 0) -> Any:
    """The executor a search runs its trials with: ``executor`` as given when it is an Executor object;
    else by name (``serial``, ``process``, ``ray``; default ``process`` when ``workers > 1``, else in this
    process: None). ``threads`` defaults to the evaluator's own setting."""
    from nasforge.executors import Executor

    if executor is not None and not isinstance(executor, str):
        if not isinstance(executor, Executor):
            raise ConfigError(f"executor must be 'serial', 'process', 'ray' or an Executor, got "
                              f"{type(executor).__name__}")
        return executor
    kind = executor or ("ray" if ray_address is not None else "process" if workers > 1 else None)
    if kind is None:
        return None
    from nasforge.executors import make_executor

    return make_executor(kind, st.evaluator, workers=workers,
                         threads=threads if threads is not None else getattr(st.evaluator, "threads", None),
                         ray_address=ray_address, cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial)


# ----------------------------------------------------------------------------- one-shot
def oneshot(method: str = "darts", *, task: str | Any = "mnist1d", space: str | Any | None = None, seed: int = 0,
            study: str | None = None, storage: str | Any = None, resume: bool = False,
            checkpoint_dir: str | os.PathLike[str] | None = None, space_options: Mapping[str, Any] | None = None,
            task_options: Mapping[str, Any] | None = None, method_options: Mapping[str, Any] | None = None,
            training_options: Mapping[str, Any] | None = None,
            objectives: str | Sequence[str | Objective] | None = None,
            constraints: str | Sequence[str | Constraint] | None = None,
            progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run a weight-sharing search and record what it finds in a study.

    The supernet of ``space`` (``nb201``, ``darts``, ``mobilenet``, ``mlp``; default ``nb201`` for images,
    ``mlp`` for tabular data) is trained on ``task``'s training split. Two kinds of method:

    * **derive** (``darts``, ``darts2``, ``gdas``, ``proxyless``, ``single-path``): architecture parameters are
      trained on the validation split, an architecture is derived, scored by its validation accuracy with
      inherited weights (BatchNorm recalibrated unless ``recalibrate_bn=False`` in ``method_options``)
      and recorded with ``Study.add_trial(source=<method>)``, with the search cost;
    * **search** (``spos``, ``fewshot``, ``bignas``): the trained supernet is saved (``supernet.pt`` in the
      checkpoint directory) and searched by an ordinary study whose evaluator is the supernet
      (``search_strategy``, default ``rea``, for ``search_trials`` trials, with ``objectives`` and
      ``constraints``); the best sub-network is then trained stand-alone for ``retrain_epochs``
      (spos, fewshot; 0 to skip) and that result recorded with ``source="retrain"``.

    ``training_options`` are what ``nasforge train`` later retrains with (as for a search). With
    ``checkpoint_dir`` (``{study}`` in it is replaced by the study's name) every epoch is checkpointed;
    ``resume=True`` continues the study and, when there is one, the
    checkpoint (a run killed before its first checkpoint starts again). Returns the recorded trial's
    summary (study, number, arch, val_acc, metrics, history).
    """
    from nasforge.oneshot.methods import CHECKPOINT
    from nasforge.oneshot.record import OneShotRecord, record_outcome
    from nasforge.registry import ONESHOT, SUPERNETS
    from nasforge.spaces.user import UserSpace
    from nasforge.study import Study, plain_metrics

    tk, tcfg, label = resolve_task(task, task_options)
    sp = space if space is not None and not isinstance(space, str) else \
        make_space(space or default_space_name(tk), space_options, task=tk)
    if sp.name not in SUPERNETS and not isinstance(sp, UserSpace):
        raise ConfigError(f"space {sp.name!r} has no supernet for weight sharing; spaces with one: "
                          f"{', '.join(SUPERNETS.list())}")
    mopts = {"seed": seed, **dict(method_options or {})}
    searcher = ONESHOT.create(method, sp, tk, **mopts)
    topts = {"seed": tcfg.get("seed", 0), **dict(training_options or {})}
    params = searcher.params()
    name = study or default_study_name(label, method, seed, sp.name)
    if checkpoint_dir is not None:
        checkpoint_dir = str(checkpoint_dir).replace("{study}", name)
    saved = checkpoint_dir is not None and (Path(checkpoint_dir) / CHECKPOINT).exists()
    if saved and not resume:  # refused before a study exists
        raise ConfigError(f"checkpoint {Path(checkpoint_dir) / CHECKPOINT} exists from an earlier run: resume it "
                          f"(--resume) or choose another checkpoint directory")
    if getattr(searcher, "searches", False):
        return _oneshot_search(searcher, method, sp, tk, tcfg, topts, params, name, storage, resume, checkpoint_dir,
                               saved, objectives, constraints, progress)
    if objectives is not None or constraints is not None:
        raise ConfigError(f"method {method!r} derives one architecture; objectives and constraints are for the "
                          f"methods that search a trained supernet (spos, fewshot, bignas)")
    ev = EVALUATORS.create("training", tk, sp, **topts)
    strat = OneShotRecord(sp, method=method, options=params, seed=seed)
    st = Study(sp, strat, ev, name=name, storage=storage, resume=resume,
               config={"seed": seed, "task": tcfg, "oneshot": params})
    try:
        outcome = searcher.run(checkpoint_dir=checkpoint_dir, resume=resume and saved, progress=progress)
        rec = record_outcome(st, outcome, source=method)
    finally:
        st.close()
    return {"study": name, "number": rec.number, "arch": rec.arch, "val_acc": rec.value,
            "metrics": plain_metrics(rec.metrics), "history": outcome.history, "space": sp.name, "task": tk.name}


def _oneshot_search(searcher: Any, method: str, sp: Any, tk: Any, tcfg: dict[str, Any], topts: dict[str, Any],
                    params: dict[str, Any], name: str, storage: Any, resume: bool, checkpoint_dir: str | None,
                    saved: bool, objectives: Any, constraints: Any,
                    progress: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """Train a supernet, search it with an ordinary study, retrain the winner (see :func:`oneshot`)."""
    from nasforge.evaluators.training import TrainingEvaluator
    from nasforge.oneshot.spos import SUPERNET_FILE
    from nasforge.results import Result
    from nasforge.storage import Storage, get_storage
    from nasforge.study import Study, best_trial, plain_metrics

    report = progress or (lambda info: None)
    objs, cons = parse_objectives(objectives), parse_constraints(constraints)
    sopts = {"seed": params["seed"], **dict(params["search_options"])}
    cls = STRATEGIES.get(searcher.search_strategy)
    if len(objs) > 1 and "objectives" in accepted_options(cls) and "objectives" not in sopts:
        sopts["objectives"] = [str(o) for o in objs]
    strat = STRATEGIES.create(searcher.search_strategy, sp, **sopts)
    file = str(Path(checkpoint_dir) / SUPERNET_FILE) if checkpoint_dir is not None else None
    config = {"seed": params["seed"], "task": tcfg, "oneshot": params, "supernet": file}
    # the storage is opened first, so a bad URL fails before any training; the study is made after training (its
    # evaluator is the trained supernet), so a run stopped during training has none yet and resuming creates it
    own_storage = not isinstance(storage, Storage)
    if own_storage:
        storage = get_storage(storage)
    if not resume and storage.has_study(name):
        if own_storage:
            storage.close()
        raise ConfigError(f"study {name!r} already exists in the storage; resume it (--resume) or choose another "
                          f"study name")
    trained = None
    st = None
    try:
        if file is not None and Path(file).exists() and resume:
            from nasforge.oneshot.spos import load_supernet

            trained = load_supernet(file, task=tk)
            report({"phase": "loaded", "supernet": file})
        else:
            trained = searcher.train(checkpoint_dir=checkpoint_dir, resume=resume and saved, progress=report)
            if file is not None:
                trained.save(file, tcfg)
        ev = searcher.search_evaluator(trained)
        st = Study(sp, strat, ev, name=name, storage=storage, resume=resume and storage.has_study(name),
                   config=config, objectives=objs or None, constraints=cons or None)
        done_before = sum(1 for r in st.trials if r.source == "ask")

        def on_trial(study: Any, rec: TrialRecord) -> None:
            report({"phase": "search", "trial": rec.number, "arch": rec.arch, "value": rec.value,
                    "status": rec.status, "done": sum(1 for r in study.trials if r.source == "ask"),
                    "total": searcher.search_trials})

        remaining = searcher.search_trials - done_before
        if remaining > 0:
            st.optimize(n_trials=len(st.trials) + remaining, callbacks=[on_trial])
        # the best sub-network by inherited weights (a retrained trial of an earlier run is not a candidate)
        best = best_trial([r for r in st.trials if r.source == "ask"], st.objectives[0])
        if best is None:
            raise ConfigError(f"the search of the trained supernet found no complete feasible sub-network in "
                              f"{searcher.search_trials} trials (study {name!r})")
        retrain_epochs = int(params.get("retrain_epochs", 0))
        chosen = best
        if retrain_epochs > 0:
            done = [r for r in st.trials if r.source == "retrain" and r.arch == best.arch]
            if done:
                chosen = done[0]
            else:
                report({"phase": "retrain", "arch": best.arch, "epochs": retrain_epochs})
                tev = TrainingEvaluator(tk, sp, **{"threads": searcher.threads, **topts, "epochs": retrain_epochs})
                res = tev.evaluate(sp.parse(best.arch))
                metrics = {**res.metrics, "inherited_val_acc": best.value, "search_trial": best.number}
                metrics.pop("train_loss_curve", None)
                chosen = st.add_trial(best.arch, Result(metrics=metrics, value=res.value, cost=res.cost,
                                                        status=res.status, error=res.error), source="retrain")
                report({"phase": "retrained", "arch": best.arch, "val_acc": chosen.value})
        metrics = plain_metrics(chosen.metrics)
        metrics.update(train_seconds=trained.train_seconds, members=len(trained),
                       supernet=file, inherited_val_acc=best.value)
        return {"study": name, "number": chosen.number, "arch": chosen.arch, "val_acc": chosen.value,
                "metrics": metrics, "history": list(trained.history), "space": sp.name,
                "task": tk.name, "supernet": file, "best_search_trial": best.number}
    finally:
        if st is not None:
            st.close()
        elif own_storage:  # stopped before the study existed: the storage opened here is closed here
            storage.close()


# ----------------------------------------------------------------------------- summaries
def open_storage(url: str | Any, read_only: bool = True) -> Any:
    """An existing storage opened for reading (nothing is written, not even tables); a ``sqlite:///``
    file that does not exist is an error."""
    from nasforge.storage import get_storage

    if isinstance(url, str) and url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if not path.is_file():
            raise ConfigError(f"no study database at {path}; pass --storage sqlite:///path/to/file.db")
    return get_storage(url, read_only=read_only)


def _study_objectives(config: Mapping[str, Any]) -> tuple[Objective, ...]:
    objs = parse_objectives(config.get("objectives") or None)
    return objs or (Objective(config.get("evaluator", {}).get("objective", "objective")),)


def summarise(study: Any, storage: str | Any = None, *, top: int = 10, evaluator: Any = None,
              reference_point: Any = None) -> dict[str, Any]:
    """A study's summary: best trial (feasible, highest fidelity), top-k distinct architectures, the Pareto
    set and its hypervolume with several objectives, counts, cost spent, and, when the evaluator is a
    tabular benchmark, the relative improvement of the best over the average random architecture.

    ``study`` is a :class:`~nasforge.study.Study` or a study name in ``storage``. The hypervolume is
    measured from ``reference_point`` (one value per objective, a sequence or ``"0.7,0.005"``), by
    default from the worst value of each objective among the study's feasible trials; the summary's
    ``reference_point`` and ``reference_kind`` (``given`` or ``worst``) say which.
    """
    from nasforge.options import check_int
    from nasforge.study import best_candidates, summarise_trials

    check_int("top", top, 1)
    if hasattr(study, "trials") and hasattr(study, "objectives"):
        name, records, config = study.name, study.storage.trials(study.name), study.config
        objectives, constraints = study.objectives, study.constraints
        evaluator = evaluator or study.evaluator
    else:
        store = open_storage(storage if storage is not None else "memory:")
        try:
            info = store.get_study(study)
            name, records, config = info.name, store.trials(info.name), dict(info.config)
        finally:
            if isinstance(storage, str):  # opened here: closed here
                store.close()
        objectives = _study_objectives(config)
        constraints = parse_constraints(config.get("constraints") or None)
    ev_cfg = config.get("evaluator", {})
    out = summarise_trials(name, records, objectives, constraints, evaluator, report=ev_cfg.get("report"),
                           simulated_cost=None if evaluator is not None else "benchmark" in config,
                           reference_point=reference_point)
    first = objectives[0]
    ranked = sorted(best_candidates(records),
                    key=lambda r: (-first.sign * float(r.metrics.get(first.name, r.value)), r.number))
    seen: set[str] = set()
    top_k = []
    for r in ranked:
        if r.arch not in seen:
            seen.add(r.arch)
            top_k.append({"trial": r.number, "arch": r.arch, "value": r.value, "fidelity": r.fidelity,
                          "source": r.source, "metrics": dict(r.metrics)})
        if len(top_k) == top:
            break
    out["top"] = top_k
    out["counts"] = {s: sum(r.status == s for r in records) for s in ("complete", "failed", "interrupted", "running")}
    out["config"] = config
    if evaluator is not None and hasattr(evaluator, "random_average") and out["best"] is not None:
        avg = evaluator.random_average()
        got = out["best"]["metrics"].get(evaluator.report)
        out["reference"] = {"random_average": avg, "best_in_table": evaluator.best_possible(),
                            "relative_improvement_pct": None if got is None or not avg
                            else 100.0 * (float(got) - avg) / abs(avg)}
    return out


def list_studies(storage: str | Any) -> list[dict[str, Any]]:
    """One row per study in a storage: names, size and best value (feasible, highest fidelity)."""
    from nasforge.study import best_trial

    store = open_storage(storage)
    rows = []
    for info in store.list_studies():
        trials = store.trials(info.name)
        objectives = _study_objectives(info.config)
        best = best_trial(trials, objectives[0])
        rows.append({"study": info.name, "space": info.config.get("space"), "strategy": info.config.get("strategy"),
                     "benchmark": info.config.get("benchmark"), "task": (info.config.get("task") or {}).get("source"),
                     "objectives": [str(o) for o in objectives], "trials": sum(t.finished for t in trials),
                     "best_value": None if best is None else best.value, "created_at": info.created_at})
    store.close()
    return rows


# ----------------------------------------------------------------------------- retrain
def retrain(study: str | None = None, storage: str | Any = None, *, arch: str | None = None,
            task: str | None = None, space: str | None = None, space_options: Mapping[str, Any] | None = None,
            task_options: Mapping[str, Any] | None = None, epochs: int | None = None, batch_size: int | None = None,
            lr: float | None = None, device: str = "auto", threads: int | None = None, baseline_random: int = 0,
            seed: int = 0, repeats: int = 1, workers: int = 1,
            out: str | None = None, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Retrain a study's best architecture (or ``arch``) on train+validation with a longer schedule and
    report its test accuracy; optionally train ``baseline_random`` random architectures of the same
    space the same way (mean and spread of their test accuracy), and save a checkpoint to ``out``.
    ``repeats`` > 1 trains the chosen architecture that many times with different training seeds
    (the first one is the saved model) and reports the mean and spread of its test accuracy too;
    with a random baseline, ``margin_sem`` is how many standard errors of the random mean the
    chosen architecture's (mean) test accuracy lies above it.

    ``workers`` > 1 trains the repeats and the random baseline in that many worker processes of
    ``threads`` (default 1) torch threads each, after the first training (the saved model) in this
    process; the results are the same as serially with ``threads=1`` (same architectures, same
    training seeds), in the same order, only sooner.

    ``progress(what, done, total)`` is called before and after each model (with workers, after each).
    """
    from nasforge.evaluators.training import TrainingEvaluator, train_final
    from nasforge.options import check_int

    if epochs is not None:
        check_int("epochs", epochs, 1)
    check_int("baseline_random", baseline_random, 0)
    check_int("repeats", repeats, 1)
    check_int("workers", workers, 1)
    train_cfg: dict[str, Any] = {}
    if study is not None:
        store = open_storage(storage)
        info = store.get_study(study)
        cfg = dict(info.config)
        if "task" not in cfg or "source" not in cfg["task"]:
            store.close()
            if "task" in cfg:
                raise ConfigError(f"study {study!r} ran on an in-memory task ({cfg['task'].get('name')}) that cannot "
                                  f"be loaded again; retrain from a task file, or give task, space and arch")
            raise ConfigError(f"study {study!r} searched a tabular benchmark ({cfg.get('benchmark')}); "
                              f"only task studies (--task) can be retrained")
        if task is not None:
            store.close()
            raise ConfigError(f"study {study!r} records its task ({cfg['task']['source']}); do not give a task too")
        task_cfg, space_name, space_kwargs = cfg["task"], cfg["space"], cfg.get("space_params", {})
        train_cfg = {k: cfg["evaluator"][k] for k in ("epochs", "batch_size", "optimizer", "lr", "weight_decay",
                                                      "label_smoothing", "schedule") if k in cfg["evaluator"]}
        if arch is None:
            # a search of a trained supernet (spos, fewshot) names its answer: the sub-network it retrained
            retrained = [t for t in store.trials(study) if t.source == "retrain" and t.status == "complete"]
            best = ({"arch": max(retrained, key=lambda t: (t.value, -t.number)).arch} if retrained
                    else summarise(study, store)["best"])
            if best is None:
                store.close()
                raise ConfigError(f"study {study!r} has no complete feasible trial to retrain")
            arch = best["arch"]
        store.close()
    else:
        if task is None or space is None or arch is None:
            raise ConfigError("give a study, or all of task, space and arch")
        task_cfg = task_config(task, **dict(task_options or {}))
        space_name, space_kwargs = space, dict(space_options or {})
    tk = load_task(task_cfg)
    sp = make_space(space_name, space_kwargs, task=tk)
    chosen = sp.parse(arch)
    search_epochs = train_cfg.pop("epochs", None)
    final_epochs = epochs or (3 * search_epochs if search_epochs else 30)
    if batch_size is not None:
        train_cfg["batch_size"] = batch_size
    if lr is not None:
        train_cfg["lr"] = lr
    ev = TrainingEvaluator(tk, sp, epochs=final_epochs, seed=task_cfg.get("seed", 0), device=device, threads=threads,
                           **train_cfg)
    total = repeats + baseline_random
    report = progress or (lambda what, done, tot: None)
    report(f"training {chosen}", 0, total)
    model, metrics = train_final(ev, chosen)
    report(f"trained {chosen}: test accuracy {metrics['test_acc']:.2f}%", 1, total)
    winner = [metrics["test_acc"]]
    rng = np.random.default_rng(seed)
    randoms = [sp.sample(rng) for _ in range(baseline_random)]
    # the other trainings: the winner again with training seeds +1.., then the random baseline
    others = [(chosen, r) for r in range(1, repeats)] + [(ra, 0) for ra in randoms]

    def serially() -> Iterator[tuple[int, float]]:
        local = (tk, sp, task_cfg.get("seed", 0), final_epochs, device, threads, train_cfg)
        evaluators = {0: ev}
        for i, (a, r) in enumerate(others):
            if i >= repeats - 1:
                report(f"random baseline {i - repeats + 2}/{baseline_random}: {a}", i + 1, total)
            yield i, _retrain_test_acc(local, evaluators, a, r)

    other_accs = [math.nan] * len(others)
    pool = None
    if workers > 1 and others:
        from nasforge.executors.process import WorkerPool

        setup = (task_cfg, space_name, space_kwargs, final_epochs, device, threads or 1, train_cfg)
        pool = WorkerPool(workers, threads or 1, initializer=_retrain_worker_init, initargs=(setup,))
    with pool if pool is not None else contextlib.nullcontext():
        results = (serially() if pool is None else
                   pool.map_unordered(_retrain_job, [(i, sp.to_string(a), r) for i, (a, r) in enumerate(others)]))
        for done, (i, acc) in enumerate(results, start=2):
            other_accs[i] = acc
            if i < repeats - 1:
                report(f"trained {chosen} again (training seed +{i + 1}): test accuracy {acc:.2f}%", done, total)
            else:
                k = i - (repeats - 1)
                report(f"random baseline {k + 1}/{baseline_random}: test accuracy {acc:.2f}%"
                       + (f" ({randoms[k]})" if pool is not None else ""), done, total)
    winner += other_accs[:repeats - 1]
    baseline = [{"arch": str(ra), "test_acc": acc} for ra, acc in zip(randoms, other_accs[repeats - 1:])]
    result: dict[str, Any] = {"arch": str(chosen), "space": sp.name, "task": tk.name, "epochs": final_epochs,
                              **{k: v for k, v in metrics.items() if k != "train_loss_curve"},
                              "train_loss_curve": metrics["train_loss_curve"]}
    if repeats > 1:
        w = np.array(winner)
        result["repeats"] = {"n": repeats, "test_acc": winner, "mean_test_acc": float(w.mean()),
                             "std_test_acc": float(w.std(ddof=1))}
    if baseline:
        accs = np.array([b["test_acc"] for b in baseline])
        sem = float(accs.std(ddof=1) / np.sqrt(len(accs))) if len(accs) > 1 else None
        result["random_baseline"] = {"n": len(baseline), "mean_test_acc": float(accs.mean()),
                                     "std_test_acc": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
                                     "sem_test_acc": sem, "archs": baseline}
        mine = float(np.mean(winner))
        result["margin_sem"] = (mine - float(accs.mean())) / sem if sem else None
    if out is not None:
        from nasforge.export import save_checkpoint

        save_checkpoint(out, sp, chosen, tk, model, metrics, {"epochs": final_epochs, **train_cfg, "task": task_cfg})
        result["checkpoint"] = str(out)
    return result


_RETRAIN_SETUP: tuple[Any, ...] | None = None
_RETRAIN_EVALUATORS: dict[int, Any] = {}


def _retrain_worker_init(setup: tuple[Any, ...]) -> None:
    """In a worker of :func:`retrain`: load the task and build the space once."""
    global _RETRAIN_SETUP
    task_cfg, space_name, space_kwargs, epochs, device, threads, train_cfg = setup
    tk = load_task(task_cfg)
    _RETRAIN_SETUP = (tk, make_space(space_name, space_kwargs, task=tk), task_cfg.get("seed", 0), epochs, device,
                      threads, train_cfg)


def _retrain_job(job: tuple[int, str, int]) -> tuple[int, float]:
    """In a worker of :func:`retrain`: job ``(index, architecture string, r)``; ``(index, test accuracy)``."""
    index, arch, r = job
    assert _RETRAIN_SETUP is not None, "retrain worker without its set-up"
    return index, _retrain_test_acc(_RETRAIN_SETUP, _RETRAIN_EVALUATORS, _RETRAIN_SETUP[1].parse(arch), r)


def _retrain_test_acc(setup: tuple[Any, ...], evaluators: dict[int, Any], arch: Any, r: int) -> float:
    """Test accuracy of ``arch`` trained on train+validation with the training seed offset ``r``, as
    :func:`retrain` does in its process and in its workers; ``evaluators`` keeps one evaluator per offset
    (``setup``: task, space, seed, epochs, device, threads, training options)."""
    from nasforge.evaluators.training import TrainingEvaluator, train_final

    tk, sp, seed, epochs, device, threads, train_cfg = setup
    if r not in evaluators:
        evaluators[r] = TrainingEvaluator(tk, sp, epochs=epochs, seed=seed + r, device=device, threads=threads,
                                          **train_cfg)
    return float(train_final(evaluators[r], arch)[1]["test_acc"])


# ----------------------------------------------------------------------------- compare
def compare(strategies: Sequence[str] = ("random", "rea", "local"), *, peers: Sequence[str] = (),
            benchmark: str = "nb201", benchmark_options: Mapping[str, Any] | None = None, seeds: int = 10,
            seed_start: int = 0, n_trials: int | None = None, budget_seconds: float | None = None,
            checkpoints: Sequence[float] = (), strategy_options: Mapping[str, Mapping[str, Any]] | None = None,
            workers: int = 2, out: str | None = None, reuse: str | None = None,
            progress: Callable[[int, int], None] | None = None, executor: str = "process",
            ray_address: str | None = None) -> dict[str, Any]:
    """Compare strategies (and peer frameworks) over many seeds on a tabular benchmark: a table at budget
    checkpoints, a regret plot and every run (see :func:`nasforge.bench.run_bench`). ``executor``:
    ``process`` or ``ray`` (on a local Ray instance, or the cluster at ``ray_address``)."""
    from nasforge.bench import BenchConfig, run_bench
    from nasforge.options import check_int

    check_int("seeds", seeds, 1)
    if reuse is not None and not Path(reuse).is_file():
        raise ConfigError(f"reuse {reuse!r}: no such file; give the bench.json of an earlier run")
    bopts = dict(benchmark_options or {})
    BENCHMARKS.create(benchmark, **bopts)  # validates the name and options before any run
    if n_trials is None and budget_seconds is None:
        n_trials = DEFAULT_TRIALS
    cfg = BenchConfig(strategies=list(strategies), peers=list(peers), benchmark=benchmark, benchmark_kwargs=bopts,
                      seeds=list(range(seed_start, seed_start + seeds)), n_trials=n_trials,
                      budget_seconds=budget_seconds, checkpoints=[float(c) for c in checkpoints],
                      strategy_params={k: dict(v) for k, v in (strategy_options or {}).items()}, workers=workers)
    return run_bench(cfg, out, progress=progress, reuse=reuse, executor=executor, ray_address=ray_address)


__all__ = ["search", "oneshot", "summarise", "list_studies", "retrain", "compare", "make_space", "make_scorer",
           "task_config", "load_task", "resolve_task", "default_space_name", "open_storage", "default_study_name",
           "check_table_covers", "DEFAULT_TRIALS"]


# ----------------------------------------------------------------------------- reports (issue 17)
def report(study: Any, storage: str | Any = None, path: str | os.PathLike[str] | None = None, *, top: int = 10,
           drawings: int = 3) -> Path:
    """Write a study's self-contained HTML report and return its path (see :func:`nasforge.report.write_report`)."""
    from nasforge.report import write_report

    return write_report(study, storage, path, top=top, drawings=drawings)


def bench_report(results: Any, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the HTML report of a comparison (:func:`compare`'s result, its ``bench.json`` or its directory) and
    return its path (see :func:`nasforge.report.write_bench_report`)."""
    from nasforge.report import write_bench_report

    return write_bench_report(results, path)


__all__ += ["report", "bench_report"]
