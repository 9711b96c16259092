"""Locating benchmark data files and loading benchmark pickles safely.

Benchmark data comes from two places: the shared data directory (``nb201.csv``),
and data files shipped inside PyPI packages (AnalogNAS-Bench, NAS-Bench-Graph).
nasforge never imports those packages' own loaders (they need ``pkg_resources``
and pandas); it finds their files with :func:`importlib.util.find_spec`, which
locates a package without executing it, and reads the pickles through
:class:`RestrictedUnpickler`, which admits only the globals a file needs. That
unpickler is the only one in nasforge: user data (object arrays in ``.npz``
files, :mod:`nasforge.data.readers`) is read through it too.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from nasforge.errors import DataNotFoundError, NasforgeError

DATA_DIR_ENV = "NASFORGE_DATA_DIR"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding shared benchmark data.

    Order: the ``explicit`` argument, then ``$NASFORGE_DATA_DIR``, then
    ``../shared/data`` relative to the checkout (the layout on development
    machines), then ``./shared/data`` and ``../shared/data`` relative to the
    working directory.
    """
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[3]  # src/nasforge/benchmarks -> repo root
    candidates = [checkout.parent / "shared" / "data", Path.cwd() / "shared" / "data",
                  Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand.is_dir():
            return cand
    return candidates[0]


def package_file(package: str, relpath: str, *, extra: str = "benchmarks") -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        dist = package.replace("_", "-")
        raise DataNotFoundError(
            f"the Python package '{package}' is not installed; install it with "
            f"`pip install {dist}` or `pip install 'nasforge[{extra}]'`"
        )
    for base in spec.submodule_search_locations:
        path = Path(base) / relpath
        if path.is_file():
            return path
    raise DataNotFoundError(
        f"'{relpath}' not found inside the installed package '{package}' "
        f"({list(spec.submodule_search_locations)}); reinstall it"
    )


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
