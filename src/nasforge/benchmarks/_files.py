"""Locating benchmark data files and loading benchmark pickles safely.

Benchmark data comes from two places: the shared data directory (``nb201.csv``),
and data files shipped inside PyPI packages (AnalogNAS-Bench, NAS-Bench-Graph).
nasforge never imports those packages' own loaders (they need ``pkg_resources``
and pandas); it finds their files with :func:`importlib.util.find_spec`, which
locates a package without executing it, and reads the pickles through
:class:`nasforge.safe_pickle.RestrictedUnpickler`, which admits only the
globals a file needs.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from nasforge.errors import DataNotFoundError

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
