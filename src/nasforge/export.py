"""Saving, loading and exporting trained architectures.

A checkpoint directory holds ``genotype.json`` (the space, its options, the
architecture, the task's input shape, classes and input normalisation, and the
final metrics) and ``model.pt`` (the ``state_dict``). :func:`load_model`
rebuilds the module from the genotype and loads the weights, so a checkpoint
needs no pickled code. :func:`export_checkpoint` adds ``model.ts``
(TorchScript, traced) and ``model.onnx``; the ONNX file is checked by running
it with ONNX Runtime on the same input as PyTorch and comparing the outputs.

:func:`to_onnx` turns any module into ONNX bytes (what the export, latency
measurement through ONNX Runtime and quantisation share) and
:func:`quantize_onnx` makes a post-training int8 model of such bytes with ONNX
Runtime's static quantisation (QDQ format, per-channel weights, activation
ranges calibrated on inputs you give).

:func:`quantize_checkpoint` applies that to a checkpoint: it writes
``model.int8.onnx`` beside ``model.onnx`` (exported first when missing or older
than the weights), calibrated on a seeded sample of the task's training split,
and reports the test accuracy and the latency (ONNX Runtime, batch 1, one
thread) of both files in ``quantization.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from nasforge.errors import ExportError
from nasforge.spaces.base import Architecture, SearchSpace

GENOTYPE = "genotype.json"
WEIGHTS = "model.pt"
TORCHSCRIPT = "model.ts"
ONNX = "model.onnx"
MANIFEST = "export.json"
INT8_ONNX = "model.int8.onnx"
QUANT_REPORT = "quantization.json"


def save_checkpoint(out_dir: str | Path, space: SearchSpace, arch: Architecture, task: Any, model: Any,
                    metrics: dict[str, Any] | None = None, training: dict[str, Any] | None = None) -> Path:
    """Write ``genotype.json`` and ``model.pt`` into ``out_dir`` (created if needed)."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    genotype = {
        "format": "nasforge-checkpoint/1",
        "space": space.name,
        "space_params": space.get_params(),
        "arch": json.loads(space.to_json(arch))["choices"],
        "arch_string": space.to_string(arch),
        "task": {"name": task.name, "input_shape": list(task.input_shape), "num_classes": task.num_classes,
                 "classes": list(task.classes), "normalization": task.info.get("normalization")},
        "metrics": metrics or {},
        "training": training or {},
    }
    (out / GENOTYPE).write_text(json.dumps(genotype, indent=2, default=float))
    torch.save(model.state_dict(), out / WEIGHTS)
    return out


def read_genotype(ckpt_dir: str | Path) -> dict[str, Any]:
    path = Path(ckpt_dir) / GENOTYPE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {ckpt_dir} is not a nasforge checkpoint "
                                f"(made by `nasforge train --out DIR`)")
    try:
        g = json.loads(path.read_text())
        for key in ("space", "space_params", "arch", "task"):
            g[key]
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{path} is damaged or not written by nasforge ({type(exc).__name__}: {exc}); "
                          f"retrain with `nasforge train --out DIR`") from None
    return g


def load_model(ckpt_dir: str | Path, device: str = "cpu") -> Any:
    """Rebuild the module from ``genotype.json`` and load ``model.pt``; returned in eval mode."""
    import torch

    from nasforge.data.task import Task
    from nasforge.registry import create_space

    g = read_genotype(ckpt_dir)
    t = g["task"]
    task = Task.shape_only(t["name"], t["input_shape"], t["num_classes"], tuple(t["classes"]))
    # a user space (recorded with its source) is discovered again with the checkpoint's task shape
    space = create_space(g["space"], **g["space_params"], **({"task": task} if g["space_params"].get("source")
                                                               else {}))
    arch = space.from_json(json.dumps({"space": g["space"], "choices": g["arch"]}))
    model = space.build(arch, task)
    weights = Path(ckpt_dir) / WEIGHTS
    try:
        state = torch.load(weights, map_location=device, weights_only=True)
        model.load_state_dict(state)
    except FileNotFoundError:
        raise
    except Exception as exc:  # a truncated or foreign file, or weights of another architecture
        raise ExportError(f"cannot load {weights}: {type(exc).__name__}: {str(exc).splitlines()[0]}; the "
                          f"checkpoint is damaged or does not match {ckpt_dir}/{GENOTYPE}") from None
    return model.to(device).eval()


def to_onnx(model: Any, input_shape: Sequence[int], batch_size: int | None = 1) -> bytes:
    """``model`` (eval mode, no gradients) exported to ONNX bytes for inputs of ``(batch_size, *input_shape)``.

    ``batch_size=None`` makes the batch dimension dynamic (as in the exported files); a fixed batch
    lets ONNX Runtime plan memory for exactly that shape (what latency measurement wants). Uses the
    TorchScript-based exporter (no extra dependencies); the model's train/eval mode is restored.
    """
    import io
    import warnings

    import torch

    p = next(model.parameters(), None)
    x = torch.zeros((batch_size or 1, *input_shape), device=p.device if p is not None else "cpu")
    was = model.training
    model.eval()
    buf = io.BytesIO()
    dynamic = {"input": {0: "batch"}, "logits": {0: "batch"}} if batch_size is None else None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the exporter warns about in-place activations and traced shapes it handles correctly
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(model, (x,), buf, input_names=["input"], output_names=["logits"],
                              dynamic_axes=dynamic, dynamo=False)
    finally:
        model.train(was)
    return buf.getvalue()


#: activation types :func:`quantize_onnx` accepts (weights are always signed int8)
ACTIVATION_TYPES = ("uint8", "int8")


def quantize_onnx(model: bytes | str | Path, calibration: Iterable[np.ndarray], per_channel: bool = True,
                  activations: str = "uint8") -> bytes:
    """Post-training static int8 quantisation of an ONNX model (bytes or a file) with ONNX Runtime.

    ``calibration`` yields input batches (float32 arrays of the model's input shape) from which
    activation ranges are taken (min-max); weights are signed int8, per output channel when
    ``per_channel``. The result uses the QDQ format (quantise/dequantise pairs that ONNX Runtime's CPU
    provider fuses into int8 kernels) and is returned as bytes. Needs ``nasforge[export]``.

    ``activations`` is ``uint8`` (the default) or ``int8``. In benchmarks/quantization.py (ONNX Runtime
    1.32, an x86 CPU with VNNI) ONNX Runtime ran every convolution of six found NB201 and MobileNet
    networks as an int8 kernel with unsigned activations; with signed ones it left 1 to 13 of them per
    network as dequantise, float convolution, quantise, and the int8 model took 1.3 to 4.4 times as
    long, at equal accuracy. ONNX Runtime's documentation says uint8 x int8 products may saturate on
    x86 CPUs without VNNI: if the int8 model's accuracy drops there, try ``activations="int8"``.
    """
    import tempfile

    if activations not in ACTIVATION_TYPES:
        raise ExportError(f"unknown activation type {activations!r} for int8 quantisation; accepted: "
                          f"{', '.join(ACTIVATION_TYPES)}")
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise ImportError("int8 quantisation needs onnx and onnxruntime: pip install 'nasforge[export]'") from exc

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    name = proto.graph.input[0].name
    batches = [np.ascontiguousarray(b, dtype=np.float32) for b in calibration]
    if not batches:
        raise ExportError("int8 quantisation needs at least one calibration batch; got none")

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            b = next(self._it, None)
            return None if b is None else {name: b}

    with tempfile.TemporaryDirectory(prefix="nasforge-int8-") as tmp:
        out = Path(tmp) / "model.int8.onnx"
        import logging

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(max(quiet, logging.ERROR))  # ORT logs a pre-processing hint per call
        try:
            act = QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8
            quantize_static(proto, str(out), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=act, weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().setLevel(quiet)
        return out.read_bytes()


def export_checkpoint(ckpt_dir: str | Path, out_dir: str | Path | None = None, batch: int = 4,
                      tolerance: float = 1e-4, seed: int = 0) -> dict[str, Any]:
    """Write TorchScript and ONNX files for a checkpoint and check both against PyTorch.

    Returns the manifest (also written to ``export.json``): file names and the
    largest absolute output difference of each format on a seeded random batch.
    Raises :class:`ExportError` when a difference exceeds ``tolerance``.
    """
    import torch

    src = Path(ckpt_dir)
    out = Path(out_dir) if out_dir is not None else src
    out.mkdir(parents=True, exist_ok=True)
    g = read_genotype(src)
    model = load_model(src)
    shape = tuple(g["task"]["input_shape"])
    x = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = model(x).numpy()
    if out != src:
        (out / GENOTYPE).write_text((src / GENOTYPE).read_text())
        (out / WEIGHTS).write_bytes((src / WEIGHTS).read_bytes())

    with torch.no_grad():
        traced = torch.jit.trace(model, x)
    torch.jit.save(traced, str(out / TORCHSCRIPT))
    loaded = torch.jit.load(str(out / TORCHSCRIPT))
    with torch.no_grad():
        ts_diff = float(np.max(np.abs(loaded(x).numpy() - ref)))

    onnx_path = out / ONNX
    torch.onnx.export(model, (x,), str(onnx_path), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    onnx_diff = _onnx_diff(onnx_path, x.numpy(), ref)
    manifest = {"torchscript": TORCHSCRIPT, "onnx": ONNX, "weights": WEIGHTS, "genotype": GENOTYPE,
                "check_batch": batch, "check_seed": seed, "torchscript_max_abs_diff": ts_diff,
                "onnx_max_abs_diff": onnx_diff, "tolerance": tolerance}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    for fmt, diff in (("TorchScript", ts_diff), ("ONNX", onnx_diff)):
        if not diff <= tolerance:
            raise ExportError(f"the {fmt} export differs from PyTorch by {diff:.3g} (> {tolerance:g}); "
                              f"files kept in {out} for inspection")
    return manifest


def _onnx_diff(path: Path, x: np.ndarray, ref: np.ndarray) -> float:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError("checking the ONNX export needs onnxruntime: pip install 'nasforge[export]'") from exc
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    return float(np.max(np.abs(got - ref)))


# ----------------------------------------------------------------------------- int8 quantisation of a checkpoint
def _require_onnxruntime() -> Any:
    import importlib

    try:
        importlib.import_module("onnx")  # quantize_onnx reads and writes ONNX protos
        import onnxruntime
    except ImportError as exc:
        raise ImportError("int8 quantisation of a checkpoint needs onnx and onnxruntime: "
                          "pip install 'nasforge[export]'") from exc
    return onnxruntime


def checkpoint_task(ckpt_dir: str | Path, task: Any = None, task_options: Mapping[str, Any] | None = None) -> Any:
    """The task a checkpoint's model was trained on, with arrays ready to feed it.

    ``task`` is a :class:`~nasforge.data.Task` or a source as ``nasforge train --task`` takes it (a
    built-in name, ``.npz``, ``.csv`` or image folder; ``task_options`` as :func:`nasforge.api.task_config`
    takes them: ``label_column``, ``image_size``, ``grayscale``, ``seed``). Without it, the task the
    checkpoint records is loaded (``nasforge train --out`` records the source and the split seed), or,
    for a checkpoint that names a built-in data set only, that data set with the default split.

    The model was trained on inputs normalised with the training split's statistics, and a task's
    arrays are already normalised that way; the task's normalisation (scale, mean, std) must therefore
    equal the one in ``genotype.json``, which also catches another data set or another split seed.
    Raises :class:`ExportError` naming what differs, or when the task cannot be re-created.
    """
    from nasforge import api
    from nasforge.data import list_datasets
    from nasforge.errors import NasforgeError

    g = read_genotype(ckpt_dir)
    t = g["task"]
    recorded = (g.get("training") or {}).get("task")
    how = "give the task it was trained on: quantize_checkpoint(..., task=SOURCE) or `nasforge export --int8 --task`"
    if task is not None:
        if isinstance(task, (str, os.PathLike)):
            tk = api.resolve_task(str(task), task_options)[0]
        elif task_options:
            raise ExportError(f"task_options {sorted(task_options)} apply to a task source (a name or path), not "
                              f"to a ready {type(task).__name__}")
        else:
            tk = task
    elif isinstance(recorded, Mapping) and "source" in recorded:
        try:
            tk = api.load_task(recorded)
        except (NasforgeError, OSError) as exc:
            raise ExportError(f"checkpoint {ckpt_dir} was trained on {recorded['source']!r}, which cannot be loaded "
                              f"now ({exc}); {how}") from None
    elif str(t["name"]).lower() in list_datasets():
        tk = api.load_task(api.task_config(str(t["name"]).lower()))  # another split seed fails the check below
    else:
        raise ExportError(f"checkpoint {ckpt_dir} does not record how to load its task {t['name']!r} (trained on "
                          f"data in memory, not by `nasforge train --out`); {how}")
    if tuple(tk.input_shape) != tuple(t["input_shape"]) or int(tk.num_classes) != int(t["num_classes"]):
        raise ExportError(f"task {tk.name!r} has inputs of shape {list(tk.input_shape)} and {tk.num_classes} "
                          f"classes; the checkpoint's model takes {list(t['input_shape'])} and {t['num_classes']}")
    _check_normalization(t.get("normalization"), tk.info.get("normalization"), tk.name, ckpt_dir)
    for split, y in (("training", tk.y_train), ("test", tk.y_test)):
        if len(y) == 0:
            raise ExportError(f"task {tk.name!r} has no {split} examples; quantisation calibrates on the training "
                              f"split and evaluates on the test split")
    return tk


def _check_normalization(recorded: Mapping[str, Any] | None, given: Mapping[str, Any] | None, name: str,
                         ckpt_dir: str | Path) -> None:
    """Refuse a task whose arrays are not normalised as the checkpoint's training data were."""
    if recorded is None:  # trained on arrays given as they are (a Task made in memory): nothing to compare
        return
    if given is None:
        raise ExportError(f"the model of {ckpt_dir} was trained on inputs normalised as its {GENOTYPE} records "
                          f"({recorded.get('formula', 'mean and std per channel')}), but task {name!r} does not say "
                          f"how its arrays were normalised (no info['normalization']); give its source instead "
                          f"(a built-in name or a file) so that it is loaded and normalised the same way")
    same = recorded.get("axis") == given.get("axis") and len(recorded["mean"]) == len(given["mean"])
    diff = 0.0
    if same:
        pairs = [(float(recorded["scale"]), float(given["scale"]))]
        pairs += list(zip(map(float, recorded["mean"]), map(float, given["mean"])))
        pairs += list(zip(map(float, recorded["std"]), map(float, given["std"])))
        diff = max(abs(a - b) / max(1e-12, abs(a)) for a, b in pairs)
        same = diff <= 1e-6
    if not same:
        what = f"relative difference up to {diff:.2g}" if diff else f"axis {given.get('axis')!r} with " \
            f"{len(given['mean'])} values against {recorded.get('axis')!r} with {len(recorded['mean'])}"
        raise ExportError(f"task {name!r} normalises inputs differently from the data the model of {ckpt_dir} was "
                          f"trained on ({what} in scale, mean or std): another data set or another split seed; give "
                          f"the source and split seed it was trained with")


def calibration_batches(task: Any, examples: int = 256, batch_size: int = 32, seed: int = 0) -> list[np.ndarray]:
    """``examples`` training examples of ``task`` (all when it has fewer), drawn without replacement with
    ``seed``, as float32 batches of ``batch_size`` (the last may be smaller): what int8 calibration reads."""
    from nasforge.options import check_int

    examples = check_int("calibration examples", examples, minimum=1)
    batch_size = check_int("calibration batch size", batch_size, minimum=1)
    rng = np.random.default_rng(check_int("calibration seed", seed, minimum=0))
    n = len(task.y_train)
    idx = rng.choice(n, size=min(examples, n), replace=False)
    X = np.ascontiguousarray(task.X_train[idx], dtype=np.float32)
    return [X[i:i + batch_size] for i in range(0, len(X), batch_size)]


def _predict(session: Any, X: np.ndarray, batch_size: int) -> np.ndarray:
    name = session.get_inputs()[0].name
    X = np.ascontiguousarray(X, dtype=np.float32)
    return np.concatenate([np.argmax(session.run(None, {name: X[i:i + batch_size]})[0], axis=1)
                           for i in range(0, len(X), batch_size)])


def _check_timing(threads: Any, warmup: Any, repeats: Any, max_spread: Any, attempts: Any) -> None:
    from nasforge.errors import ConfigError
    from nasforge.options import check_int

    for name, value, low in (("threads", threads, 1), ("warmup", warmup, 0), ("repeats", repeats, 1),
                             ("attempts", attempts, 1)):
        check_int(name, value, minimum=low)
    if isinstance(max_spread, bool) or not isinstance(max_spread, (int, float)) or not max_spread > 0:
        raise ConfigError(f"max_spread must be a number > 0 (a relative spread iqr/median), got {max_spread!r}")


def onnx_latency(models: Mapping[str, bytes], x: np.ndarray, threads: int = 1, warmup: int = 10,
                 repeats: int = 100, max_spread: float = 0.25, attempts: int = 3,
                 backends: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Latency of ONNX models (name -> bytes) on input ``x`` through ONNX Runtime sessions with ``threads``
    intra-op threads (:func:`~nasforge.evaluators.hardware.measure.onnx_session`), as
    :class:`~nasforge.evaluators.hardware.measure.LatencyMeasurement` per name.

    The models are timed in alternation, one call each per round, so that load on a shared machine falls
    on all alike: ``warmup`` untimed then ``repeats`` timed rounds, median and interquartile range. When a
    spread ``iqr / median`` exceeds ``max_spread`` all are measured again, at most ``attempts`` times,
    each keeping its tightest measurement (the stability check of ``measure_latency``). ``backends`` names
    each model's backend in the result (default ``onnxruntime``).
    """
    import time

    from nasforge.errors import ConfigError
    from nasforge.evaluators.hardware.measure import LatencyMeasurement, onnx_session

    _check_timing(threads, warmup, repeats, max_spread, attempts)
    if not models:
        raise ConfigError("onnx_latency needs at least one model; got none")
    x = np.ascontiguousarray(x, dtype=np.float32)
    runs = {}
    for k, data in models.items():
        sess = onnx_session(data, threads)
        feed = {sess.get_inputs()[0].name: x}
        runs[k] = (lambda s=sess, f=feed: s.run(None, f))
    best: dict[str, tuple[float, float, float, float]] = {}
    tries = 0
    for tries in range(1, attempts + 1):
        times: dict[str, list[float]] = {k: [] for k in runs}
        for i in range(warmup + repeats):
            for k, run in runs.items():
                t0 = time.perf_counter()
                run()
                dt = time.perf_counter() - t0
                if i >= warmup:
                    times[k].append(dt * 1e3)
        for k, ms in times.items():
            q25, q50, q75 = (float(v) for v in np.percentile(ms, [25, 50, 75]))
            spread = (q75 - q25) / q50 if q50 > 0 else 0.0
            if k not in best or spread < best[k][3]:
                best[k] = (q25, q50, q75, spread)
        if all(b[3] <= max_spread for b in best.values()):
            break
    names = dict(backends or {})
    return {k: LatencyMeasurement(b[1], b[2] - b[0], repeats, warmup, len(x), threads, "cpu",
                                  names.get(k, "onnxruntime"), tries, b[3] <= max_spread) for k, b in best.items()}


def quantize_checkpoint(ckpt_dir: str | Path, task: Any = None, calibration: int = 256,
                        out_dir: str | Path | None = None, *, calibration_batch: int = 32, seed: int = 0,
                        per_channel: bool = True, activations: str = "uint8",
                        task_options: Mapping[str, Any] | None = None, batch_size: int = 1, threads: int = 1,
                        warmup: int = 10, repeats: int = 100, max_spread: float = 0.25,
                        attempts: int = 3) -> dict[str, Any]:
    """Post-training int8 quantisation of a checkpoint, with its test accuracy and latency beside the float model's.

    Writes ``model.int8.onnx`` and ``quantization.json`` into ``out_dir`` (default: the checkpoint) beside
    ``model.onnx``, which :func:`export_checkpoint` writes first when it is missing or older than the
    weights. The task is found by :func:`checkpoint_task` (``task``, ``task_options``; by default the one
    the checkpoint records), and its inputs are normalised as in training. Activation ranges are
    calibrated (min-max) on ``calibration`` training examples drawn with ``seed`` (all when the split is
    smaller), in batches of ``calibration_batch``; weights are int8 per output channel when
    ``per_channel``, activations ``uint8`` or ``int8`` (:func:`quantize_onnx`).

    Both ONNX files are then run by ONNX Runtime on the CPU: top-1 accuracy (%) on the task's test split,
    and latency (:func:`onnx_latency`: ``threads`` threads, the two models in alternation, median and
    interquartile range of ``repeats`` calls after ``warmup``, stability-checked) on the first
    ``batch_size`` test examples.

    Returns the report written to ``quantization.json``: under ``float`` and ``int8`` the file, its size,
    ``test_acc``, ``latency_ms``, ``latency_iqr_ms`` and whether the latency was stable; and
    ``accuracy_drop`` (float minus int8, percentage points), ``agreement`` (% of test examples where both
    predict the same class), ``speedup`` (float latency / int8 latency: below 1 the int8 model is
    slower), ``size_ratio`` (float size / int8 size), the calibration and timing settings, and
    ``checkpoint_test_acc`` (PyTorch's, recorded at training). Needs ``nasforge[export]``: an
    :class:`ImportError` says so.
    """
    from nasforge.evaluators.hardware.measure import onnx_session
    from nasforge.options import check_int

    ort = _require_onnxruntime()
    for name, value, low in (("calibration", calibration, 1), ("calibration_batch", calibration_batch, 1),
                             ("seed", seed, 0), ("batch_size", batch_size, 1)):
        check_int(name, value, minimum=low)
    _check_timing(threads, warmup, repeats, max_spread, attempts)
    if activations not in ACTIVATION_TYPES:
        raise ExportError(f"unknown activation type {activations!r} for int8 quantisation; accepted: "
                          f"{', '.join(ACTIVATION_TYPES)}")
    src = Path(ckpt_dir)
    out = Path(out_dir) if out_dir is not None else src
    g = read_genotype(src)
    tk = checkpoint_task(src, task, task_options)
    if batch_size > len(tk.y_test):
        raise ExportError(f"latency batch_size {batch_size} exceeds the {len(tk.y_test)} test examples of task "
                          f"{tk.name!r}; give at most {len(tk.y_test)}")

    float_path = out / ONNX
    weights = src / WEIGHTS
    if not float_path.is_file() or (weights.is_file() and float_path.stat().st_mtime < weights.stat().st_mtime):
        export_checkpoint(src, out)
    float_bytes = float_path.read_bytes()
    batches = calibration_batches(tk, calibration, calibration_batch, seed)
    int8_bytes = quantize_onnx(float_bytes, batches, per_channel=per_channel, activations=activations)
    int8_path = out / INT8_ONNX
    int8_path.write_bytes(int8_bytes)

    models = {"float": float_bytes, "int8": int8_bytes}
    preds = {k: _predict(onnx_session(b, threads), tk.X_test, 256) for k, b in models.items()}
    acc = {k: 100.0 * float(np.mean(p == tk.y_test)) for k, p in preds.items()}
    lat = onnx_latency(models, tk.X_test[:batch_size], threads=threads, warmup=warmup, repeats=repeats,
                       max_spread=max_spread, attempts=attempts,
                       backends={"float": "onnxruntime", "int8": "onnxruntime-int8"})
    files = {"float": float_path, "int8": int8_path}

    def side(k: str) -> dict[str, Any]:
        m = lat[k]
        return {"file": files[k].name, "size_bytes": files[k].stat().st_size, "test_acc": acc[k],
                "latency_ms": m.median_ms, "latency_iqr_ms": m.iqr_ms, "latency_stable": m.stable,
                "latency_attempts": m.attempts}

    report = {
        "format": "nasforge-quantization/1", "checkpoint": str(src), "directory": str(out),
        "space": g["space"], "arch": g.get("arch_string"), "task": tk.name, "test_examples": int(len(tk.y_test)),
        "float": side("float"), "int8": side("int8"),
        "accuracy_drop": acc["float"] - acc["int8"],
        "agreement": 100.0 * float(np.mean(preds["float"] == preds["int8"])),
        "speedup": lat["float"].median_ms / lat["int8"].median_ms,
        "size_ratio": files["float"].stat().st_size / files["int8"].stat().st_size,
        "checkpoint_test_acc": (g.get("metrics") or {}).get("test_acc"),
        "calibration": {"split": "train", "examples": int(sum(len(b) for b in batches)),
                        "batch_size": calibration_batch, "seed": seed, "ranges": "min-max", "format": "QDQ",
                        "activations": activations,
                        "weights": "int8 per channel" if per_channel else "int8 per tensor"},
        "latency": {"runtime": f"onnxruntime {ort.__version__} CPUExecutionProvider", "batch_size": batch_size,
                    "threads": threads, "warmup": warmup, "repeats": repeats, "max_spread": max_spread,
                    "order": "float and int8 alternating"},
    }
    (out / QUANT_REPORT).write_text(json.dumps(report, indent=2))
    return report
