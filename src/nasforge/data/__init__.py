"""Classification tasks: built-in and user data sets, split into train / validation / test and normalised.

``load_task("digits")``, ``load_task("mnist1d")`` (1-D signals of length 40
as ``(1, 1, 40)`` images, made locally by the ``mnist1d`` generator),
``load_task("data.npz")``, ``load_task("table.csv", label_column="species")``
or ``load_task("images/")`` give a :class:`Task`;
``make_task(X, y, name=...)`` does the same for arrays in memory.
"""

from __future__ import annotations

from nasforge.data.errors import DataError
from nasforge.data.loaders import apply_normalization, list_datasets, load_task, make_task
from nasforge.data.task import Task

__all__ = ["DataError", "Task", "apply_normalization", "list_datasets", "load_task", "make_task"]
