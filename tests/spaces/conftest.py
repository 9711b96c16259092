"""Fixtures for space tests."""

from __future__ import annotations

import pytest

from nasforge.spaces.base import SearchSpace
from nasforge.testing import toy_space as make_toy_space


@pytest.fixture(scope="session")
def toy_space() -> SearchSpace:
    """The toy MobileNet-like space of :mod:`nasforge.testing` (conditional and repeated choices)."""
    return make_toy_space()
