"""The one error type of :mod:`nasforge.data` (defined with the others in :mod:`nasforge.errors`)."""

from __future__ import annotations

from nasforge.errors import DataError

__all__ = ["DataError"]
