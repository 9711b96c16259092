"""Shared fixtures: small fakes so most tests need no large data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from nasforge.benchmarks.nb201 import nb201_csv_path
from nasforge.benchmarks._files import DataNotFoundError
from nasforge.spaces.nb201 import NB201Space


def write_fake_nb201(directory: Path, seed: int = 0) -> Path:
    """A synthetic nb201.csv with all 15,625 cells (random but fixed accuracies) under directory/nb201/."""
    rng = np.random.default_rng(seed)
    space = NB201Space()
    cells = [space.to_string(a) for a in space.enumerate()]
    order = rng.permutation(len(cells))
    (directory / "nb201").mkdir(parents=True, exist_ok=True)
    path = directory / "nb201" / "nb201.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "arch", "cifar10_test_acc_200ep", "cifar100_test_acc_200ep",
                    "imagenet16_120_test_acc_200ep", "cifar10_valid_acc_12ep", "cifar10_train_seconds_12ep"])
        for i, j in enumerate(order):
            test = 80 + 15 * rng.random()
            w.writerow([i, cells[j], f"{test:.4f}", f"{test - 20:.4f}", f"{test - 45:.4f}",
                        f"{test - 10 + rng.normal():.4f}", f"{60 + 100 * rng.random():.3f}"])
    return path


@pytest.fixture(scope="session")
def fake_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fake-data")
    write_fake_nb201(d)
    return d


@pytest.fixture(scope="session")
def real_nb201() -> Path:
    try:
        return nb201_csv_path()
    except DataNotFoundError:
        pytest.skip("the real nb201.csv is not available")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny networks train faster on one thread, and a shared 2-core machine stays responsive."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def nbgraph_classes():
    """Brute force: group every (links, ops) of NAS-Bench-Graph's 24 x |ops|^4 space (minus all-skip) by
    canonical form. A function of the op tuple, cached."""
    import functools
    import itertools
    from collections import defaultdict

    from nasforge.spaces.nbgraph import canonical

    all_links = list(itertools.product(range(1), range(2), range(3), range(4)))

    @functools.lru_cache(maxsize=None)
    def classes(ops: tuple) -> dict:
        groups: dict = defaultdict(set)
        for links in all_links:
            for op in itertools.product(ops, repeat=4):
                if all(o == "skip" for o in op):
                    continue
                groups[canonical(links, op)].add((links, op))
        return groups

    return classes


@pytest.fixture(autouse=True, scope="session")
def _private_latency_cache(tmp_path_factory):
    """Latency measurements of the tests go to a cache file of their own, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NASFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("nasforge-cache")))
    yield
    mp.undo()


REQUIRE_SERVICES_ENV = "NASFORGE_REQUIRE_SERVICES"


def service_unavailable(message: str) -> None:
    """A test that needs a system service (PostgreSQL, Chromium) it cannot get: skipped with the message on
    a developer's machine, failed where ``$NASFORGE_REQUIRE_SERVICES`` is set (``.ci/run`` sets it, so CI
    never passes by skipping)."""
    import os

    if os.environ.get(REQUIRE_SERVICES_ENV, "").strip() not in ("", "0"):
        pytest.fail(f"{message} (and ${REQUIRE_SERVICES_ENV} is set: CI must run this test)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server on loopback for the whole test session (or the one named by
    ``$NASFORGE_TEST_POSTGRES_URL``); skipped with the reason where none can be started, failed in CI."""
    import os

    given = os.environ.get("NASFORGE_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    from nasforge.errors import StorageError
    from nasforge.storage.postgres import throwaway_cluster

    try:
        cluster = throwaway_cluster()
        url = cluster.__enter__()
    except StorageError as exc:
        service_unavailable(f"no PostgreSQL server: {exc}")
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture
def postgres_url(postgres_server):
    """A new, empty database on the test PostgreSQL server (one per test)."""
    import uuid

    from nasforge.storage.postgres import create_database

    return create_database(postgres_server, f"t_{uuid.uuid4().hex[:12]}")
