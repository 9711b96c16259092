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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from nasforge.errors import ExportError
from nasforge.spaces.base import Architecture, SearchSpace

GENOTYPE = "genotype.json"
WEIGHTS = "model.pt"
TORCHSCRIPT = "model.ts"
ONNX = "model.onnx"
MANIFEST = "export.json"


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
    space = create_space(g["space"], **g["space_params"])
    arch = space.from_json(json.dumps({"space": g["space"], "choices": g["arch"]}))
    t = g["task"]
    model = space.build(arch, Task.shape_only(t["name"], t["input_shape"], t["num_classes"], tuple(t["classes"])))
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

    import torch

    p = next(model.parameters(), None)
    x = torch.zeros((batch_size or 1, *input_shape), device=p.device if p is not None else "cpu")
    was = model.training
    model.eval()
    buf = io.BytesIO()
    dynamic = {"input": {0: "batch"}, "logits": {0: "batch"}} if batch_size is None else None
    try:
        with torch.no_grad():
            torch.onnx.export(model, (x,), buf, input_names=["input"], output_names=["logits"],
                              dynamic_axes=dynamic, dynamo=False)
    finally:
        model.train(was)
    return buf.getvalue()


def quantize_onnx(model: bytes | str | Path, calibration: Iterable[np.ndarray], per_channel: bool = True) -> bytes:
    """Post-training static int8 quantisation of an ONNX model (bytes or a file) with ONNX Runtime.

    ``calibration`` yields input batches (float32 arrays of the model's input shape) from which
    activation ranges are taken (min-max); weights are quantised per output channel when
    ``per_channel``. The result uses the QDQ format (quantise/dequantise pairs that ONNX Runtime's CPU
    provider fuses into int8 kernels) and is returned as bytes. Needs ``nasforge[export]``.
    """
    import tempfile

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
            quantize_static(proto, str(out), _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
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
