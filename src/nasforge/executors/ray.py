"""Ray: trials (and any pool calls) as Ray tasks, on a local Ray instance or on a cluster.

:class:`RayPool` has the interface of :class:`~nasforge.executors.process.WorkerPool`
(``submit``, ``map_unordered``, ``shutdown``, an initializer run once per worker
process, a thread limit), so bench comparisons and proxy studies run on Ray by
swapping the pool; :class:`RayExecutor` is the study executor on top of it, as
:class:`~nasforge.executors.process.ProcessExecutor` is on the process pool.

How a call runs: the initializer and its arguments (for the executor, the
evaluator) go into Ray's object store once; every task carries a reference to
them, and each Ray worker process deserialises them and runs the initializer
the first time it meets them (again only when it has served another pool in
between, since Ray shares worker processes between pools). Tasks ask Ray for
``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs, are never retried by Ray
(a trial that killed its worker would kill the next one too), and at most
``n_workers`` run at once: the rest wait here, not in Ray's queue, so a
cancelled call never reaches the cluster.

Failures: an exception of the called function reaches the caller as itself; a
worker process, raylet or node that dies (killed, out of memory) gives
:class:`~nasforge.executors.process.WorkerDied`; KeyboardInterrupt or SystemExit
inside the function is caught in the task (Ray would take it for a cancellation)
and raised here, so an evaluator that asks to stop stops the study, as with
the process pool.

Ray is imported only when a pool connects: ``import nasforge.executors`` does
not load it. A pool that finds Ray uninitialised starts a local instance (no
``address``) or connects to the cluster at ``address`` (``"auto"``,
``"host:port"``, ``"ray://host:port"``); it then owns that session and ends it
(``ray.shutdown()``, which for a cluster only disconnects) when it shuts down.
A session that was already initialised is used as it is and left running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, InvalidStateError, wait
from typing import Any, Callable, Iterable, Iterator

from nasforge.errors import ConfigError
from nasforge.evaluators.base import Evaluator
from nasforge.executors.base import WORKER_DIED, Executor
from nasforge.executors.process import (WorkerDied, set_worker_evaluator, evaluate_in_worker, evaluation_future, limit_threads,
                                        map_unordered)
from nasforge.options import check_int, check_number
from nasforge.results import Result
from nasforge.spaces.base import Architecture

INSTALL_HINT = "pip install 'nasforge[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"the Ray executor needs Ray, which is not installed ({exc}); "
                          f"install it with: {INSTALL_HINT}") from None
    return ray


def _gcs_address(address: str) -> tuple[str, int] | None:
    """The host and port a driver connecting to ``address`` talks to first (None when it cannot be told)."""
    text = address
    if text.startswith("ray://"):
        text = text[len("ray://"):]
    elif text == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die
        except ImportError:  # a Ray without this (private) helper: ray.init reports what it finds
            return None
        try:
            text = canonicalize_bootstrap_address_or_die("auto")
        except ConnectionError as exc:
            raise ConfigError(f"no running Ray cluster found for address 'auto' ({exc}); start one with "
                              f"`ray start --head` on this machine, or give the head's address") from None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r} is not 'auto', 'host:port' or 'ray://host:port'")
    return host.strip("[]"), int(port)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once when nothing listens at the cluster's address (``ray.init`` would retry for minutes)."""
    target = _gcs_address(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r} ({target[0]}:{target[1]}: {exc}); "
                          f"is it running (`ray start --head`) and is the address right?") from None


def connect(address: str | None = None) -> tuple[Any, bool]:
    """Ray, initialised, and whether this call initialised it (then the caller owns the session).

    An initialised session is used as it is. Otherwise ``address=None`` starts a local instance
    with this machine's cores (never another cluster, whatever ``RAY_ADDRESS`` says), and an
    address connects to that cluster.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    # Ray's INFO lines (dashboard URL, "started a local instance") would interleave with our progress bars
    quiet = {"logging_level": logging.WARNING, "include_dashboard": False}
    if address is not None:
        _check_reachable(address)
    with _keeping_sigterm_handler():
        if address is None:
            ray.init(address="local", num_cpus=os.cpu_count() or 1, **quiet)
            return ray, True
        try:
            if address.startswith("ray://"):  # Ray Client: the dashboard option belongs to the cluster
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as exc:
            hint = ""
            if address != "auto" and not os.environ.get("RAY_AUTH_MODE"):
                # `ray start` turns token authentication on, and Ray sends the token to an address given
                # explicitly only when told to: the connection then times out without saying why
                hint = ("; if the cluster uses token authentication (the default of `ray start`), set "
                        "RAY_AUTH_MODE=token and give the cluster's token (RAY_AUTH_TOKEN or ~/.ray/auth_token)")
            raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {exc}{hint}") from None
    return ray, True


@contextlib.contextmanager
def _keeping_sigterm_handler() -> Iterator[None]:
    """Keep a SIGTERM handler the application installed across ``ray.init``, which replaces it with
    ``sys.exit`` (and Ray's C++ core chains a stack dump in front): the command line turns SIGTERM into
    an interrupt so that running trials are recorded as interrupted. Without one, Ray's stays."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if main and callable(before):
            signal.signal(signal.SIGTERM, before)


# -- inside a Ray worker process ---------------------------------------------------------------------
#: deserialised (initializer, initargs) by object id. A process serves every pool of a job, so it may
#: alternate between two; it keeps no more (an evaluator may hold a data set), fetching again after that.
_SETUPS: OrderedDict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = OrderedDict()
_KEEP_SETUPS = 2
#: the setup whose initializer ran last in this process
_CURRENT: list[str | None] = [None]


class _Stop:
    """What a task returns when the called function raised KeyboardInterrupt or SystemExit."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _prepare(setup: list[Any] | None, threads: int) -> None:
    """Limit threads and, when this process last ran another pool's initializer (or none), run this one's."""
    limit_threads(threads)
    if setup is None:
        return
    ref = setup[0]
    key = ref.hex()
    if _CURRENT[0] == key:
        return
    if key not in _SETUPS:
        import ray

        _SETUPS[key] = ray.get(ref)
        while len(_SETUPS) > _KEEP_SETUPS:
            _SETUPS.popitem(last=False)
    _SETUPS.move_to_end(key)
    initializer, initargs = _SETUPS[key]
    _CURRENT[0] = None  # an initializer that fails half-way runs again next time
    initializer(*initargs)
    _CURRENT[0] = key
    limit_threads(threads)  # the initializer may have imported torch


def _ray_call(setup: list[Any] | None, threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    """The body of every Ray task. ``setup`` is a one-element list so that Ray passes the reference
    itself rather than fetching the object for every task."""
    try:
        _prepare(setup, threads)
        return fn(*args)
    except (KeyboardInterrupt, SystemExit) as exc:
        return _Stop(exc)


# -- in the driver -------------------------------------------------------------------------------
#: Ray errors that mean the process running the task is gone (rather than the task failing)
_DEATHS = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "LocalRayletDiedError", "ObjectLostError")


class _Call:
    __slots__ = ("fn", "args", "outer")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], outer: Future) -> None:
        self.fn, self.args, self.outer = fn, args, outer


class _Session:
    """One connection to Ray with the calls of one pool: a dispatcher thread starts queued calls as
    slots free up, relays finished tasks to the callers' futures and cancels tasks whose futures
    were cancelled. Every change of the queue and the running set happens on that thread."""

    def __init__(self, pool: "RayPool") -> None:
        self.ray, self.owned = connect(pool.address)
        try:
            if self.owned and pool.address is None:
                _check_resources(self.ray, pool.cpus_per_task, pool.gpus_per_task)
            self.setup = None if pool.initializer is None else [self.ray.put((pool.initializer, pool.initargs))]
            self.remote = self.ray.remote(_ray_call).options(
                num_cpus=pool.cpus_per_task, num_gpus=pool.gpus_per_task, max_retries=0, retry_exceptions=False,
                name="nasforge")
        except BaseException:
            if self.owned:
                self.ray.shutdown()
            raise
        self.n_workers, self.threads = pool.n_workers, pool.threads
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.outstanding: set[Future] = set()
        self.closed = False
        self._lock = threading.Lock()
        self._pending: deque[_Call] = deque()
        self._running: dict[_Call, Any] = {}
        self._thread = threading.Thread(target=self._dispatch, name="nasforge-ray", daemon=True)
        self._thread.start()

    # called from any thread
    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Future:
        outer: Future = Future()
        call = _Call(fn, args, outer)
        with self._lock:
            if self.closed:  # raced with shutdown(cancel=True)
                outer.cancel()
                outer.set_running_or_notify_cancel()
                return outer
            self.outstanding.add(outer)

        def on_done(f: Future) -> None:
            with self._lock:
                self.outstanding.discard(f)
            if f.cancelled():
                try:  # wake `wait` / `as_completed`, which a bare cancel() does not
                    f.set_running_or_notify_cancel()
                except RuntimeError:
                    pass
                self.events.put(("cancelled", call))

        outer.add_done_callback(on_done)
        self.events.put(("submit", call))
        return outer

    def stop(self, cancel: bool) -> None:
        """End the session: after the calls so far finish, or at once cancelling them."""
        if cancel:
            with self._lock:
                self.closed = True
                calls = list(self.outstanding)
            for outer in calls:
                outer.cancel()
        else:
            while True:
                with self._lock:
                    calls = list(self.outstanding)
                if not calls:
                    break
                wait(calls)
        self.events.put(("stop", None))
        self._thread.join(timeout=30)
        if self.owned:
            self.ray.shutdown()

    # the dispatcher thread
    def _dispatch(self) -> None:
        while True:
            kind, item = self.events.get()
            if kind == "submit":
                self._pending.append(item)
            elif kind == "done":
                call, fut = item
                if self._running.pop(call, None) is not None:
                    self._relay(call.outer, fut)
            elif kind == "cancelled":
                ref = self._running.pop(item, None)
                if ref is not None:  # a queued call is dropped when its turn comes
                    self._cancel(ref)
            elif kind == "stop":
                for ref in self._running.values():
                    self._cancel(ref)
                return
            self._start_queued()

    def _start_queued(self) -> None:
        while self._pending and len(self._running) < self.n_workers:
            call = self._pending.popleft()
            if call.outer.done():  # cancelled while queued
                continue
            try:
                ref = self.remote.remote(self.setup, self.threads, call.fn, *call.args)
            except Exception as exc:  # e.g. an argument Ray cannot serialise
                _settle(call.outer, exc=exc)
                continue
            self._running[call] = ref
            ref.future().add_done_callback(lambda f, call=call: self.events.put(("done", (call, f))))

    def _cancel(self, ref: Any) -> None:
        try:
            self.ray.cancel(ref, force=True)  # kills the worker process: the only way to stop a running call
        except Exception:  # finished meanwhile, or the session is going away
            pass

    def _relay(self, outer: Future, fut: Future) -> None:
        exc = fut.exception()
        if exc is None:
            value = fut.result()
            if isinstance(value, _Stop):
                _settle(outer, exc=value.exc)
            else:
                _settle(outer, value=value)
            return
        name = type(exc).__name__
        if any(cls.__name__ in _DEATHS for cls in type(exc).__mro__):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else name
            _settle(outer, exc=WorkerDied(f"{WORKER_DIED}: {name}: {first}"))
        elif name == "TaskCancelledError":  # cancelled by someone else (e.g. `ray job stop`)
            outer.cancel()
        else:
            cause = getattr(exc, "cause", None)  # RayTaskError: the function's own exception
            _settle(outer, exc=cause if isinstance(cause, BaseException) else exc)


def _settle(outer: Future, value: Any = None, exc: BaseException | None = None) -> None:
    try:
        if exc is not None:
            outer.set_exception(exc)
        else:
            outer.set_result(value)
    except InvalidStateError:  # the caller cancelled it meanwhile
        pass


def _check_resources(ray: Any, cpus: float, gpus: float) -> None:
    """A task asking for more than the local instance has would wait forever: say so instead."""
    have = ray.cluster_resources()
    for what, need in (("CPU", cpus), ("GPU", gpus)):
        if need > have.get(what, 0.0):
            raise ConfigError(f"each trial asks for {need:g} {what}s but the local Ray instance has "
                              f"{have.get(what, 0.0):g}; ask for at most that, or give the address of a cluster "
                              f"that has them")


class RayPool:
    """Up to ``n_workers`` calls at a time as Ray tasks, each with ``cpus_per_task`` CPUs,
    ``gpus_per_task`` GPUs and ``threads`` compute threads (default: its whole CPUs, at least one).

    ``initializer(*initargs)`` runs once in each Ray worker process before its first call of this
    pool; it and the functions given to :meth:`submit` must be importable by the workers (on a
    cluster: installed there). Ray connects at the first call (see the module docstring for
    ``address`` and who owns the session); after :meth:`shutdown` a later call connects again.
    """

    def __init__(self, n_workers: int = 2, threads: int | None = None,
                 initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = (), *,
                 address: str | None = None, cpus_per_task: float = 1, gpus_per_task: float = 0) -> None:
        self.n_workers = check_int("n_workers", n_workers, minimum=1)
        self.cpus_per_task = check_number("cpus_per_task", cpus_per_task, 0.0, low_open=True)
        self.gpus_per_task = check_number("gpus_per_task", gpus_per_task, 0.0)
        self.threads = (max(1, int(self.cpus_per_task)) if threads is None
                        else check_int("threads", threads, minimum=1))
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ConfigError(f"address must be 'auto', 'host:port' or 'ray://host:port', got {address!r}")
        self.address = address
        self.initializer, self.initargs = initializer, tuple(initargs)
        import_ray()  # fail now, not at the first call, when Ray is not installed
        self._lock = threading.Lock()
        self._session: _Session | None = None

    def start(self) -> "RayPool":
        """Connect now (otherwise the first call does): errors in the address or resources show here."""
        self._current()
        return self

    def _current(self) -> _Session:
        with self._lock:
            if self._session is None:
                self._session = _Session(self)
            return self._session

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` as a Ray task. The future holds its value, its exception, or
        :class:`WorkerDied` when the worker ended first; cancelling it stops the task."""
        return self._current().submit(fn, args)

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``fn(item)`` for every item, yielded as each finishes; the first exception is raised
        here and the calls not yet finished are cancelled."""
        return map_unordered(self.submit, fn, items)

    def shutdown(self, cancel: bool = False) -> None:
        """Stop: after the calls submitted so far, or with ``cancel`` at once (every unfinished call's
        future ends cancelled, running tasks are killed). Ends the Ray session when this pool started it."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.stop(cancel)

    def __enter__(self) -> "RayPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(cancel=exc[0] is not None)


class RayExecutor(Executor):
    """Trials as Ray tasks: ``n_workers`` trials in flight, each with ``cpus_per_trial`` CPUs and
    ``gpus_per_trial`` GPUs (fractions allowed) and ``threads_per_worker`` torch threads
    (default: ``cpus_per_trial``). ``address``: None for a local Ray instance, or a cluster's
    (``"auto"``, ``"host:port"``, ``"ray://host:port"``).

    Connects when made, so a wrong address or a missing Ray shows before the study starts. A worker
    process (or node) that dies fails only its trial, with the reason; later trials run normally.
    """

    isolated = True

    def __init__(self, evaluator: Evaluator, n_workers: int = 2, address: str | None = None,
                 cpus_per_trial: float = 1, gpus_per_trial: float = 0,
                 threads_per_worker: int | None = None) -> None:
        # checked here so that the messages name this class's options, not the pool's
        check_int("n_workers", n_workers, minimum=1)
        check_number("cpus_per_trial", cpus_per_trial, 0.0, low_open=True)
        check_number("gpus_per_trial", gpus_per_trial, 0.0)
        if threads_per_worker is not None:
            check_int("threads_per_worker", threads_per_worker, minimum=1)
        self.evaluator = evaluator
        self.address, self.cpus_per_trial, self.gpus_per_trial = address, cpus_per_trial, gpus_per_trial
        self._pool = RayPool(n_workers, threads_per_worker, initializer=set_worker_evaluator, initargs=(evaluator,),
                             address=address, cpus_per_task=cpus_per_trial, gpus_per_task=gpus_per_trial)
        self.n_workers = self._pool.n_workers
        self.threads_per_worker = self._pool.threads
        self._pool.start()

    def submit(self, arch: Architecture, fidelity: float | None = None) -> "Future[Result]":
        return evaluation_future(self._pool.submit(evaluate_in_worker, arch, fidelity))

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(cancel=cancel)


__all__ = ["RayExecutor", "RayPool", "connect", "import_ray"]
