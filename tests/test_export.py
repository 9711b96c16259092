"""Checkpoints, the loader that rebuilds a module from its genotype, TorchScript and ONNX."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nasforge.evaluators.training import TrainingEvaluator, train_final
from nasforge.export import ExportError, export_checkpoint, load_model, read_genotype, save_checkpoint
from nasforge.registry import SPACES
from nasforge.testing import TinyTrainableSpace, tiny_task


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setitem(SPACES._entries, "tiny-trainable", TinyTrainableSpace)
    task = tiny_task(image=True)
    sp = TinyTrainableSpace()
    a = sp.make({"width": 32, "act": "tanh"})
    model, metrics = train_final(TrainingEvaluator(task, sp, epochs=2), a)
    save_checkpoint(tmp_path / "ck", sp, a, task, model, metrics)
    return tmp_path / "ck", model


def test_loader_rebuilds_the_same_module(checkpoint):
    import torch

    path, model = checkpoint
    g = read_genotype(path)
    assert g["space"] == "tiny-trainable" and g["arch_string"] == "width=32,act=tanh"
    assert g["task"]["input_shape"] == [1, 4, 4] and g["metrics"]["test_acc"] >= 0
    loaded = load_model(path)
    x = torch.randn(3, 1, 4, 4)
    model.eval()
    assert torch.equal(loaded(x), model(x))


def test_torchscript_and_onnx_match_pytorch(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    import torch

    path, model = checkpoint
    out = tmp_path / "exported"
    manifest = export_checkpoint(path, out)
    assert manifest["torchscript_max_abs_diff"] <= 1e-4 and manifest["onnx_max_abs_diff"] <= 1e-4
    assert json.loads((out / "export.json").read_text()) == manifest
    ts = torch.jit.load(str(out / "model.ts"))
    x = torch.randn(5, 1, 4, 4)  # another batch size than the one traced
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = model.eval()(x).numpy()
    assert np.max(np.abs(ts(x).detach().numpy() - ref)) <= 1e-4 and np.max(np.abs(onnx_out - ref)) <= 1e-4
    assert load_model(out) is not None  # the export directory is itself a checkpoint


def test_mismatch_is_an_error(checkpoint):
    pytest.importorskip("onnxruntime")
    path, _ = checkpoint
    with pytest.raises(ExportError, match="differs from PyTorch"):
        export_checkpoint(path, tolerance=-1.0)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a nasforge checkpoint"):
        load_model(tmp_path)


def test_damaged_checkpoint_is_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from nasforge.cli import app

    runner = CliRunner()
    ck = tmp_path / "ck"
    res = runner.invoke(app, ["train", "--task", "digits", "--space", "nb201", "-P", "C=4", "-P", "N=1", "--arch",
                              "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
                              "--epochs", "1", "--out", str(ck)])
    assert res.exit_code == 0, res.output
    (ck / "model.pt").write_bytes(b"not a torch file")
    res = runner.invoke(app, ["export", str(ck)])
    assert res.exit_code == 2 and res.output.startswith("error: cannot load") and "Traceback" not in res.output
    (ck / "genotype.json").write_text("{broken")
    res = runner.invoke(app, ["export", str(ck)])
    assert res.exit_code == 2 and "is damaged or not written by nasforge" in res.output


# ----------------------------------------------------------------------------- int8 quantisation
FAST = {"warmup": 1, "repeats": 5, "attempts": 1}  # latency figures are not what these tests check


@pytest.fixture(scope="module")
def digits_checkpoint(tmp_path_factory):
    """A checkpoint written by `nasforge train --out` (it records its task: digits, split seed 0)."""
    from typer.testing import CliRunner

    from nasforge.cli import app

    ck = tmp_path_factory.mktemp("q8") / "ck"
    res = CliRunner().invoke(app, ["train", "--task", "digits", "--space", "nb201", "-P", "C=4", "-P", "N=1",
                                   "--arch", "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|"
                                   "avg_pool_3x3~1|skip_connect~2|", "--epochs", "2", "--out", str(ck)])
    assert res.exit_code == 0, res.output
    return ck


def _ops(path):
    import onnx

    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_quantize_checkpoint_writes_a_working_int8_model(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from nasforge.export import quantize_checkpoint

    path, _ = checkpoint
    task = tiny_task(image=True)
    assert not (path / "model.onnx").exists()
    rep = quantize_checkpoint(path, task=task, calibration=40, calibration_batch=16, **FAST)
    assert (path / "model.onnx").is_file() and (path / "export.json").is_file()  # exported first
    int8 = path / "model.int8.onnx"
    assert int8.is_file() and {"QuantizeLinear", "DequantizeLinear"} <= _ops(int8)
    assert "QuantizeLinear" not in _ops(path / "model.onnx")
    sess = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": task.X_test})[0]
    assert logits.shape == (len(task.y_test), 3) and np.isfinite(logits).all()
    float_sess = ort.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"])
    agree = np.mean(logits.argmax(1) == float_sess.run(None, {"input": task.X_test})[0].argmax(1))
    assert agree >= 0.8 and rep["agreement"] == pytest.approx(100 * agree)

    assert json.loads((path / "quantization.json").read_text()) == rep
    assert rep["task"] == "tiny" and rep["arch"] == "width=32,act=tanh" and rep["test_examples"] == len(task.y_test)
    for side, name in (("float", "model.onnx"), ("int8", "model.int8.onnx")):
        r = rep[side]
        assert r["file"] == name and r["size_bytes"] == (path / name).stat().st_size
        assert 0 <= r["test_acc"] <= 100 and r["latency_ms"] > 0 and r["latency_iqr_ms"] >= 0
    # the float ONNX model is the trained model: same test accuracy as PyTorch's at training
    assert rep["float"]["test_acc"] == pytest.approx(rep["checkpoint_test_acc"])
    assert rep["accuracy_drop"] == pytest.approx(rep["float"]["test_acc"] - rep["int8"]["test_acc"])
    assert rep["speedup"] == pytest.approx(rep["float"]["latency_ms"] / rep["int8"]["latency_ms"])
    assert rep["size_ratio"] == pytest.approx(rep["float"]["size_bytes"] / rep["int8"]["size_bytes"])
    assert rep["calibration"]["examples"] == 40 and rep["calibration"]["split"] == "train"
    assert rep["latency"]["batch_size"] == 1 and rep["latency"]["threads"] == 1


def test_quantize_checkpoint_into_another_directory_and_after_retraining(checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    import os

    from nasforge.export import quantize_checkpoint

    path, _ = checkpoint
    out = tmp_path / "q"
    quantize_checkpoint(path, task=tiny_task(image=True), out_dir=out, **FAST)
    assert {"genotype.json", "model.pt", "model.onnx", "model.int8.onnx", "quantization.json"} <= \
        {p.name for p in out.iterdir()}
    assert not (path / "model.int8.onnx").exists()
    # an ONNX file older than the weights (the checkpoint was retrained) is exported again
    onnx_file = out / "model.onnx"
    os.utime(onnx_file, (1, 1))
    quantize_checkpoint(path, task=tiny_task(image=True), out_dir=out, **FAST)
    assert onnx_file.stat().st_mtime > 1


def test_calibration_sample_is_seeded_and_from_the_training_split():
    from nasforge.export import calibration_batches

    task = tiny_task(image=True)  # 72 training examples
    a = calibration_batches(task, examples=50, batch_size=16, seed=3)
    assert [len(b) for b in a] == [16, 16, 16, 2] and all(b.dtype == np.float32 for b in a)
    rows = np.concatenate(a)
    assert len({r.tobytes() for r in rows}) == 50  # drawn without replacement
    train = {r.tobytes() for r in task.X_train}
    assert all(r.tobytes() in train for r in rows)
    assert all(np.array_equal(x, y) for x, y in zip(a, calibration_batches(task, 50, 16, seed=3)))
    assert not np.array_equal(rows, np.concatenate(calibration_batches(task, 50, 16, seed=4)))
    assert sum(len(b) for b in calibration_batches(task, examples=1000)) == 72  # all when fewer


def test_recorded_task_is_recreated_and_its_normalisation_checked(digits_checkpoint):
    pytest.importorskip("onnxruntime")
    from nasforge.data import load_task
    from nasforge.export import ExportError, checkpoint_task, quantize_checkpoint

    g = read_genotype(digits_checkpoint)
    assert g["training"]["task"]["source"] == "digits"
    rep = quantize_checkpoint(digits_checkpoint, **FAST)  # no task given: the recorded one
    assert rep["task"] == "digits" and rep["test_examples"] == 270
    assert rep["float"]["test_acc"] == pytest.approx(g["metrics"]["test_acc"], abs=100 / 270 + 1e-9)
    assert rep["agreement"] >= 90 and 0 <= rep["int8"]["test_acc"] <= 100
    # another split seed: the training split's statistics differ, so the model would be fed wrongly
    with pytest.raises(ExportError, match="normalises inputs differently"):
        checkpoint_task(digits_checkpoint, task="digits", task_options={"seed": 1})
    raw = load_task("digits", normalize=False)
    with pytest.raises(ExportError, match="normalises inputs differently"):
        checkpoint_task(digits_checkpoint, task=raw)
    from nasforge.data.task import Task

    bare = Task("digits", raw.X_train, raw.y_train, raw.X_val, raw.y_val, raw.X_test, raw.y_test, 10)
    with pytest.raises(ExportError, match="does not say how its arrays were normalised"):
        checkpoint_task(digits_checkpoint, task=bare)


def test_export_int8_on_the_command_line(digits_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from nasforge.cli import app

    runner = CliRunner()
    out = tmp_path / "exp"
    res = runner.invoke(app, ["export", str(digits_checkpoint), "--out", str(out), "--int8", "--calibration", "64"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()  # not a terminal: plain lines, one per model
    assert any(line.startswith("float ") and "model.onnx" in line and "test acc" in line for line in lines)
    assert any(line.startswith("int8 ") and "model.int8.onnx" in line and "latency" in line for line in lines)
    assert "int8 against float: accuracy drop" in res.output and "calibrated on 64 training examples" in res.output
    rep = json.loads((out / "quantization.json").read_text())
    assert rep["calibration"]["examples"] == 64 and (out / "model.int8.onnx").is_file()
    res = runner.invoke(app, ["export", str(digits_checkpoint), "--out", str(out), "--int8", "--json"])
    man = json.loads(res.stdout)
    assert man["onnx_max_abs_diff"] <= 1e-4 and man["quantization"]["int8"]["file"] == "model.int8.onnx"
    res = runner.invoke(app, ["export", str(digits_checkpoint), "--task", "digits"])
    assert res.exit_code == 2 and "--task and --calibration are options of --int8" in res.output


def test_quantisation_errors(checkpoint, monkeypatch):
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from nasforge.cli import app
    from nasforge.errors import ConfigError
    from nasforge.export import quantize_checkpoint, quantize_onnx

    path, _ = checkpoint
    with pytest.raises(ExportError, match="does not record how to load its task 'tiny'"):
        quantize_checkpoint(path)
    res = CliRunner().invoke(app, ["export", str(path), "--int8"])
    assert res.exit_code == 2 and "does not record how to load its task" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(ExportError, match=r"has inputs of shape \[6\] and 3 classes; .* takes \[1, 4, 4\]"):
        quantize_checkpoint(path, task=tiny_task())
    with pytest.raises(ExportError, match="activation type 'int4' for int8 quantisation; accepted: uint8, int8"):
        quantize_checkpoint(path, task=tiny_task(image=True), activations="int4")
    with pytest.raises(ExportError, match="unknown activation type 'int4'"):
        quantize_onnx(b"", [], activations="int4")
    with pytest.raises(ExportError, match="latency batch_size 100 exceeds the 24 test examples"):
        quantize_checkpoint(path, task=tiny_task(image=True), batch_size=100)
    with pytest.raises(ConfigError, match="calibration must be an integer >= 1, got 0"):
        quantize_checkpoint(path, task=tiny_task(image=True), calibration=0)
    with pytest.raises(ExportError, match="task_options"):
        quantize_checkpoint(path, task=tiny_task(image=True), task_options={"seed": 1})
    assert not (path / "model.int8.onnx").exists()  # refused before any work
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"pip install 'nasforge\[export\]'"):
        quantize_checkpoint(path, task=tiny_task(image=True))
    res = CliRunner().invoke(app, ["export", str(path), "--int8"])
    assert res.exit_code == 2 and "nasforge[export]" in res.output
