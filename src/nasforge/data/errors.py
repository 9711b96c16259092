"""The one error type of :mod:`nasforge.data`."""

from __future__ import annotations


class DataError(ValueError):
    """Data that cannot become a :class:`~nasforge.data.task.Task`.

    Raised for bad shapes, labels, values, files and split settings; the
    message names the problem, the offending value and what would be accepted.
    """
