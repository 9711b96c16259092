"""Hardware measurements of a network: parameters, FLOPs and latency, measured on this machine.

The functions work on any built ``torch.nn.Module`` (``space.build(arch, task)``
or a model of your own) and are what every other part of nasforge calls: the
training evaluator reports them beside accuracy, the ``params`` and ``flops``
zero-cost proxies are these counts, and the hardware models of
:mod:`nasforge.evaluators.hardware.models` build on :func:`measure_latency`.

- :func:`count_params`: trainable and frozen parameters.
- :func:`count_flops`: FLOPs of one forward pass on one input, counted by torch's
  own ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs).
- :func:`measure_latency`: forward passes after warm-up, timed one by one, through
  one of :data:`BACKENDS`: ``torch`` (eager PyTorch, eval mode, no gradients),
  ``onnxruntime`` (the network exported to ONNX with :func:`nasforge.export.to_onnx`
  and run by an ONNX Runtime CPU session with all graph optimisations) or
  ``onnxruntime-int8`` (the same after post-training int8 quantisation, calibrated on
  random inputs: the weights do not change latency). The result
  (:class:`LatencyMeasurement`) holds the median and interquartile range in
  milliseconds. A **stability check** re-measures when the spread is too wide
  (``iqr / median > max_spread``, at most ``attempts`` times) and keeps the tightest
  measurement, saying whether it ever was stable.
- :class:`LatencyCache`: measurements stored per (architecture key, input shape,
  batch size, backend, threads, device) and this machine, in an SQLite file that
  survives runs (``$NASFORGE_CACHE_DIR/latency.sqlite``, by default
  ``~/.cache/nasforge/latency.sqlite``), so each network is measured once per machine.

Wall-clock latency depends on this machine and its load: compare figures measured
on the same machine with the same backend and ``threads``.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from nasforge.errors import ConfigError
from nasforge.options import check_int


def resolve_device(device: Any) -> Any:
    """``auto`` picks CUDA when available, else the CPU; otherwise a torch device (or its name).
    An unknown name, or CUDA where there is none, raises :class:`~nasforge.errors.ConfigError`."""
    import torch

    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(f"unknown device {device!r}; accepted: auto, cpu, cuda, cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available here; use auto or cpu")
    return dev


def _model_device(model: Any) -> Any:
    import torch

    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch limited to ``threads`` threads (None: unchanged), then restore the count."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(check_int("threads", threads, minimum=1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def count_params(model: Any) -> int:
    """Number of parameters of ``model`` (trainable or not)."""
    return int(sum(p.numel() for p in model.parameters()))


def count_flops(model: Any, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass on a single input of ``input_shape`` (without the batch dimension),
    in eval mode, counted by torch's ``FlopCounterMode`` (multiply-add = 2 FLOPs). PyTorch's fused
    fast path of transformer layers (which the counter cannot see into) is turned off while counting."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    dev = _model_device(model)
    was = model.training
    mha = getattr(torch.backends, "mha", None)
    fast = mha.get_fastpath_enabled() if mha is not None else None
    model.eval()
    try:
        if mha is not None:
            mha.set_fastpath_enabled(False)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros((1, *input_shape), device=dev))
    finally:
        model.train(was)
        if mha is not None:
            mha.set_fastpath_enabled(fast)
    return int(counter.get_total_flops())


#: the latency backends of :func:`measure_latency`
BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
#: how the ``onnxruntime-int8`` backend quantises (:func:`nasforge.export.quantize_onnx`'s defaults), part of
#: its cache key
INT8_SCHEME = "static-qdq-u8s8-per-channel-minmax"


def check_backend(backend: Any) -> str:
    """``backend`` if it is one of :data:`BACKENDS`; otherwise a :class:`~nasforge.errors.ConfigError`."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown latency backend {backend!r}; accepted: {', '.join(BACKENDS)}")
    return str(backend)


@dataclass(frozen=True)
class LatencyMeasurement:
    """One latency measurement: median and interquartile range (75th - 25th percentile) of
    ``repeats`` timed forward passes of a batch of ``batch_size``, in milliseconds, on
    ``device`` with ``threads`` threads through ``backend``, after ``warmup`` untimed passes.
    ``attempts`` is how many times it was measured (the stability check re-measures a wide
    spread); ``stable`` whether the kept one met the spread limit."""

    median_ms: float
    iqr_ms: float
    repeats: int
    warmup: int
    batch_size: int
    threads: int
    device: str
    backend: str = "torch"
    attempts: int = 1
    stable: bool = True

    def metrics(self) -> dict[str, float]:
        """``latency_ms`` and ``latency_iqr_ms``, as evaluators report them."""
        return {"latency_ms": self.median_ms, "latency_iqr_ms": self.iqr_ms}

    @property
    def spread(self) -> float:
        """``iqr / median``: the relative spread the stability check looks at."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else 0.0


def _time_calls(run: Any, warmup: int, repeats: int, sync: Any = None) -> np.ndarray:
    times = []
    for i in range(warmup + repeats):
        if sync is not None:
            sync()
        t0 = time.perf_counter()
        run()
        if sync is not None:
            sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return np.asarray(times) * 1e3


def onnx_session(model_bytes: bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of ``model_bytes`` with ``threads`` intra-op threads, sequential
    execution and all graph optimisations (what a deployment would use)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError("latency through ONNX Runtime needs it: pip install 'nasforge[export]'") from exc
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _onnx_runner(model: Any, input_shape: Sequence[int], batch_size: int, threads: int, int8: bool,
                 seed: int = 0) -> Any:
    from nasforge.export import quantize_onnx, to_onnx

    shape = (batch_size, *input_shape)
    data = to_onnx(model, input_shape, batch_size)
    if int8:
        rng = np.random.default_rng(seed)
        data = quantize_onnx(data, [rng.standard_normal(shape).astype(np.float32) for _ in range(4)])
    sess = onnx_session(data, threads)
    feed = {sess.get_inputs()[0].name: np.zeros(shape, dtype=np.float32)}
    return lambda: sess.run(None, feed)


def measure_latency(model: Any, input_shape: Sequence[int], batch_size: int = 1, warmup: int = 5,
                    repeats: int = 20, threads: int | None = None, device: Any = "cpu", backend: str = "torch",
                    max_spread: float = 0.25, attempts: int = 3) -> LatencyMeasurement:
    """Time forward passes of ``model`` in eval mode (see :class:`LatencyMeasurement`).

    ``backend`` is one of :data:`BACKENDS` (ONNX Runtime runs on the CPU: ``device`` must be the CPU
    for it). ``threads`` sets the thread count of the measurement (torch's, restored afterwards, or
    the ONNX Runtime session's; None keeps torch's current count). When the spread
    ``iqr / median`` exceeds ``max_spread`` the measurement is repeated, at most ``attempts`` times
    in all, and the tightest one is kept (``stable`` says whether it met the limit). The model is
    moved to ``device`` for the measurement and back afterwards, and its train/eval mode is restored.
    """
    import torch

    batch_size = check_int("batch_size", batch_size, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    attempts = check_int("attempts", attempts, minimum=1)
    backend = check_backend(backend)
    if isinstance(max_spread, bool) or not isinstance(max_spread, (int, float)) or not max_spread > 0:
        raise ConfigError(f"max_spread must be a number > 0 (a relative spread iqr/median), got {max_spread!r}")
    dev = resolve_device(device)
    if backend != "torch" and dev.type != "cpu":
        raise ConfigError(f"latency backend {backend!r} measures on the CPU; got device {str(dev)!r}")
    home = _model_device(model)
    was = model.training
    best: np.ndarray | None = None
    tries = 0
    with torch_threads(threads):
        used_threads = torch.get_num_threads()
        model.to(dev)
        model.eval()
        try:
            if backend == "torch":
                x = torch.zeros((batch_size, *input_shape), device=dev)

                def run() -> None:
                    model(x)
                sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else None
            else:
                run = _onnx_runner(model, input_shape, batch_size, used_threads, backend == "onnxruntime-int8")
                sync = None
            for tries in range(1, attempts + 1):
                with torch.no_grad():
                    ms = _time_calls(run, warmup, repeats, sync)
                q25, q50, q75 = np.percentile(ms, [25, 50, 75])
                spread = (q75 - q25) / q50 if q50 > 0 else 0.0
                if best is None or spread < best[3]:
                    best = np.array([q25, q50, q75, spread])
                if spread <= max_spread:
                    break
        finally:
            model.train(was)
            if dev != home:
                model.to(home)
    assert best is not None
    return LatencyMeasurement(float(best[1]), float(best[2] - best[0]), repeats, warmup, batch_size, used_threads,
                              str(dev), backend, tries, bool(best[3] <= max_spread))


def built(model: Any) -> Any:
    """``model`` itself when it is a module, else the module its zero-argument builder returns (what the
    measuring functions accept, so that a cached network is never built)."""
    return model() if callable(model) and not hasattr(model, "parameters") else model


def default_cache_dir() -> Path:
    """``$NASFORGE_CACHE_DIR`` if set, else ``~/.cache/nasforge``."""
    env = os.environ.get("NASFORGE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nasforge"


def machine_id() -> str:
    """What identifies this machine for cached latencies: host name, processor, CPU count and the
    versions of torch and ONNX Runtime (a new version may change the kernels)."""
    import platform

    import torch

    try:
        import onnxruntime
        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = "none"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{platform.node()}|{cpu}|{os.cpu_count()}|torch {torch.__version__}|ort {ort_version}"


class LatencyCache:
    """Latency measurements that survive runs: an SQLite file of (key, settings, machine) -> median, IQR.

    ``path`` is the file (default ``default_cache_dir() / "latency.sqlite"``); ``machine`` the
    machine identifier stored with each entry (default :func:`machine_id`), so a cache file copied to
    another machine is not read there. Several processes may share the file. :meth:`measure` returns
    the stored measurement when there is one and otherwise measures and stores it.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, machine: str | None = None) -> None:
        import sqlite3

        self.path = Path(path) if path is not None else default_cache_dir() / "latency.sqlite"
        self.machine = machine if machine is not None else machine_id()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS latency (machine TEXT, key TEXT, settings TEXT, "
                         "median_ms REAL, iqr_ms REAL, measurement TEXT, PRIMARY KEY (machine, key, settings))")
        self.hits = self.misses = 0

    @staticmethod
    def settings(input_shape: Sequence[int], batch_size: int, backend: str, threads: int, device: str) -> str:
        """The settings part of a cache key."""
        shape = "x".join(str(int(d)) for d in input_shape)
        # int8 latency depends on how the model was quantised: a change there must not read older entries
        quant = f";quantization={INT8_SCHEME}" if backend == "onnxruntime-int8" else ""
        return (f"shape={shape};batch={int(batch_size)};backend={backend}{quant};threads={int(threads)};"
                f"device={device}")

    def get(self, key: str, settings: str) -> LatencyMeasurement | None:
        """The stored measurement of ``key`` under ``settings``, or None."""
        row = self._db.execute("SELECT measurement FROM latency WHERE machine=? AND key=? AND settings=?",
                               (self.machine, key, settings)).fetchone()
        return None if row is None else LatencyMeasurement(**json.loads(row[0]))

    def put(self, key: str, settings: str, m: LatencyMeasurement) -> None:
        """Store ``m`` (replacing an entry of the same key and settings)."""
        self._db.execute("INSERT OR REPLACE INTO latency VALUES (?, ?, ?, ?, ?, ?)",
                         (self.machine, key, settings, m.median_ms, m.iqr_ms, json.dumps(asdict(m))))

    def measure(self, key: str, model: Any, input_shape: Sequence[int], *, batch_size: int = 1,
                backend: str = "torch", threads: int = 1, device: str = "cpu", **options: Any) -> LatencyMeasurement:
        """The measurement of ``model`` (known as ``key``) from the cache, or measured now and stored.
        ``model`` may be a zero-argument function building the module (only called on a miss)."""
        settings = self.settings(input_shape, batch_size, backend, threads, device)
        hit = self.get(key, settings)
        if hit is not None:
            self.hits += 1
            return hit
        self.misses += 1
        m = measure_latency(built(model), input_shape, batch_size=batch_size, threads=threads, device=device,
                            backend=backend, **options)
        self.put(key, settings, m)
        return m

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM latency WHERE machine=?", (self.machine,)).fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __getstate__(self) -> dict[str, Any]:  # workers reopen the file
        return {"path": str(self.path), "machine": self.machine}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["machine"])  # type: ignore[misc]


__all__ = ["BACKENDS", "LatencyCache", "LatencyMeasurement", "built", "check_backend", "count_flops", "count_params",
           "default_cache_dir", "machine_id", "measure_latency", "onnx_session", "resolve_device", "torch_threads"]
