"""A learning task: deterministic train / validation / test splits plus what a network needs to know.

A :class:`Task` is what a trainable space builds for (``space.build(arch,
task)`` sizes the stem from ``input_shape`` and the head from
``num_classes``) and what the training evaluator trains on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Task:
    """Arrays of one classification task, already split.

    ``X_*`` are float32 arrays of shape ``(n, *input_shape)``: ``(C, H, W)`` for
    images, ``(F,)`` for tabular data. ``y_*`` are int64 class indices in
    ``0..num_classes-1``. ``classes`` names the classes in index order.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    classes: tuple[str, ...] = ()
    metric: str = "accuracy"
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def shape_only(cls, name: str, input_shape: Any, num_classes: int, classes: tuple[str, ...] = ()) -> "Task":
        """A task without examples that only says the input shape and class count: what building a
        network needs (export, hardware measurements, latency tables)."""
        shape = tuple(int(d) for d in input_shape)
        x = np.zeros((0, *shape), dtype=np.float32)
        y = np.zeros(0, dtype=np.int64)
        return cls(name, x, y, x, y, x, y, int(num_classes), tuple(classes))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X_train.shape[1:])

    @property
    def kind(self) -> str:
        """``image`` for (C, H, W) inputs, ``tabular`` for (F,) inputs."""
        return "image" if len(self.input_shape) == 3 else "tabular"

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test),
                "metric": self.metric, **self.info}
