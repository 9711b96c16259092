"""Fixtures for strategy tests: small spaces and fake evaluators."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from nasforge.registry import STRATEGIES
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.testing import fake_scorer


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


#: the fidelity range of hyperband and bohb in tests that drive them by hand
FIDELITY_RANGE = {"min_fidelity": 1, "max_fidelity": 27}


def scorer_options(name: str, space: SearchSpace) -> dict[str, Any]:
    """The options a registered strategy needs to run on ``space``: a fake scorer for those that need
    one (``needs_scorer``; prescreen also needs the proxy that ranks), a fidelity range for hyperband and
    bohb (no study calls their ``adapt``), nothing for the others."""
    if name in ("hyperband", "bohb"):  # driven by hand, without a study's adapt: an explicit fidelity range
        return dict(FIDELITY_RANGE)
    if not getattr(STRATEGIES.get(name), "needs_scorer", False):
        return {}
    options: dict[str, Any] = {"scorer": fake_scorer(space)}
    if name == "prescreen":
        options["proxy"] = "synflow"
    if name == "robot":  # a short, small BO (each step fits a Gaussian process): these tests are about
        options.update(n_candidates=100, bo_queries=4)  # ask/tell, not the BO's quality
    return options


@pytest.fixture(scope="session")
def needed_options() -> Callable[[str, SearchSpace], dict[str, Any]]:
    """``needed_options(name, space)``: the options a registered strategy needs (see :func:`scorer_options`)."""
    return scorer_options
