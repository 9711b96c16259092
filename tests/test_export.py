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
