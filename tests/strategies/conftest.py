"""Fixtures for strategy tests: small spaces and fake evaluators."""

from __future__ import annotations

import pytest

from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space


def grid_space(n_choices: int, n_options: int, name: str = "grid") -> SearchSpace:
    """``n_choices`` unconditional choices of ``n_options`` integer options each."""
    return SearchSpace([categorical(f"c{i}", range(n_options)) for i in range(n_choices)],
                       name=f"{name}-{n_choices}x{n_options}")


@pytest.fixture(scope="session")
def nb201() -> NB201Space:
    return NB201Space()


@pytest.fixture(scope="session")
def tiny_space() -> SearchSpace:
    """2 choices x 3 options: 9 architectures."""
    return grid_space(2, 3, "tiny")
