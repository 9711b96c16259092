"""The one restricted unpickler (nasforge.benchmarks._files): each caller admits its own globals, nothing else runs."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from nasforge.safe_pickle import ForbiddenGlobalError, RestrictedUnpickler, load_pickle, numpy_globals
from nasforge.data import DataError, load_task
from nasforge.errors import NasforgeError


class _RunsCommand:
    """Unpickling this calls os.system(command), as a malicious benchmark file would."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_forbidden_global_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bench"
    path.write_bytes(pickle.dumps({"rec": _RunsCommand(f"touch {marker}")}))
    with pytest.raises(ForbiddenGlobalError) as info:
        load_pickle(path, numpy_globals())
    assert not marker.exists()
    err = info.value
    assert isinstance(err, pickle.UnpicklingError) and isinstance(err, NasforgeError)
    assert (err.module, err.name) == (os.system.__module__, "system")
    msg = str(err)
    assert f"global '{os.system.__module__}.system' is not allowed" in msg and str(path) in msg
    assert "allowed: numpy." in msg  # says what the caller admits


def test_each_caller_admits_its_own_globals() -> None:
    data = pickle.dumps({"a": np.arange(3), "b": np.float32(2.5)})
    out = load_pickle(io.BytesIO(data), numpy_globals())
    assert list(out["a"]) == [0, 1, 2] and out["b"] == 2.5
    with pytest.raises(ForbiddenGlobalError, match="allowed: none"):
        RestrictedUnpickler(io.BytesIO(data), {}).load()
    # a stand-in replaces a class the reader does not import
    standin = {("collections", "OrderedDict"): dict}
    from collections import OrderedDict

    assert load_pickle(io.BytesIO(pickle.dumps(OrderedDict(x=1))), standin) == {"x": 1}


def test_user_data_goes_through_the_same_unpickler(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    X = np.empty(2, dtype=object)
    X[0] = X[1] = _RunsCommand(f"touch {marker}")
    np.savez(tmp_path / "evil.npz", X=X, y=np.arange(2))
    with pytest.raises(DataError, match=f"holds pickled objects of type {os.system.__module__}.system"):
        load_task(tmp_path / "evil.npz")
    assert not marker.exists()
