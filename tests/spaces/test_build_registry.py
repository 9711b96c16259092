"""Every registered trainable space builds networks of the right output shape (parametrized over the registry)."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.data.task import Task
from nasforge.registry import SPACES, create_space

# small options so the forward passes stay fast; a space not listed here is built with its defaults
SMALL = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 3}, "mobilenet": {"width_mult": 0.25}}
IMAGE_SHAPES = [(1, 8, 8), (3, 32, 32), (3, 17, 23)]


def shape_task(shape, classes):
    x = np.zeros((2, *shape), np.float32)
    y = np.zeros(2, np.int64)
    return Task("t", x, y, x, y, x, y, classes)


def trainable(name):
    sp = create_space(name, **SMALL.get(name, {}))
    try:
        sp.build(sp.sample(np.random.default_rng(0)), shape_task((1, 8, 8), 2))
    except ValueError as exc:
        if "cannot build networks" in str(exc):
            return None
        raise
    return sp


@pytest.mark.parametrize("name", SPACES.list())
def test_output_shapes(name):
    import torch

    sp = trainable(name)
    if sp is None:
        pytest.skip(f"{name} is a tabular benchmark space")
    rng = np.random.default_rng(1)
    for shape, classes in zip(IMAGE_SHAPES + [(7,)], (10, 3, 5, 4)):
        task = shape_task(shape, classes)
        arch = sp.sample(rng)
        if len(shape) == 1 and name != "mlp":
            with pytest.raises(ValueError, match="mlp"):
                sp.build(arch, task)
            continue
        torch.manual_seed(0)
        model = sp.build(arch, task).eval()
        with torch.no_grad():
            out = model(torch.randn(3, *shape))
        assert out.shape == (3, classes), (name, shape, str(arch))
        assert torch.isfinite(out).all()
