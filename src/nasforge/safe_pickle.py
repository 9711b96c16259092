"""The one pickle reader of nasforge: a restricted unpickler that admits only the globals a file needs.

Benchmark files shipped in PyPI packages (:mod:`nasforge.benchmarks`) and user
data (object arrays in ``.npz`` files, :mod:`nasforge.data.readers`) are read
through it; each caller passes its own list of admitted globals.
"""

from __future__ import annotations

import os
import pickle
from typing import IO, Any, Callable, Mapping

from nasforge.errors import NasforgeError


class ForbiddenGlobalError(NasforgeError, pickle.UnpicklingError):
    """A pickle names a global that its reader does not admit (e.g. ``os.system``)."""

    def __init__(self, message: str, module: str, name: str) -> None:
        super().__init__(message)
        self.module, self.name = module, name


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in ``allowed``: the one pickle reader of nasforge.

    ``allowed`` maps ``(module, name)`` to the object to use in its place, so a
    class from a package we do not import can be replaced by a plain stand-in;
    each caller passes its own list (:func:`numpy_globals` for plain numpy data).
    Any other global raises :class:`ForbiddenGlobalError` (an
    ``UnpicklingError``) naming it, before anything it names is called.
    ``source`` names the file in the message.
    """

    def __init__(self, file: IO[bytes], allowed: Mapping[tuple[str, str], Any], source: str = "this file"):
        super().__init__(file)
        self._allowed = dict(allowed)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle hook
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(
                f"{self._source}: global '{module}.{name}' is not allowed in this pickle; "
                f"allowed: {', '.join(sorted(f'{m}.{n}' for m, n in self._allowed)) or 'none'}",
                module, name) from None


def load_pickle(source: str | os.PathLike[str] | IO[bytes], allowed: Mapping[tuple[str, str], Any]) -> Any:
    """Load one pickle from a path (or a binary file positioned at it) admitting only ``allowed`` globals."""
    if hasattr(source, "read"):
        return RestrictedUnpickler(source, allowed, str(getattr(source, "name", "pickle"))).load()  # type: ignore[arg-type]
    with open(source, "rb") as fh:  # type: ignore[arg-type]
        return RestrictedUnpickler(fh, allowed, str(source)).load()


def numpy_globals() -> dict[tuple[str, str], Callable[..., Any]]:
    """The numpy globals that plain numpy scalars and arrays need in a pickle."""
    import numpy as np

    try:
        from numpy._core import multiarray as ma
    except ImportError:  # numpy < 2
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    out: dict[tuple[str, str], Callable[..., Any]] = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "scalar")] = ma.scalar
        out[(mod, "_reconstruct")] = ma._reconstruct
    return out


__all__ = ["ForbiddenGlobalError", "RestrictedUnpickler", "load_pickle", "numpy_globals"]
