"""``check_space`` passes on every registered space and catches spaces that break the contract."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nasforge.registry import SPACES
from nasforge.spaces.base import Architecture, SearchSpace, categorical
from nasforge.spaces.nbgraph import NASBenchGraphSpace
from nasforge.testing import check_space


@pytest.mark.parametrize("name", SPACES.list())
def test_registered_space_meets_contract(name: str) -> None:
    check_space(SPACES.create(name), n=30)


def test_toy_space_meets_contract(toy_space: SearchSpace) -> None:
    check_space(toy_space, n=30)


def test_proteins_graph_space_meets_contract() -> None:
    check_space(NASBenchGraphSpace(op_set="proteins"), n=30)


def test_single_architecture_space_passes() -> None:
    check_space(SearchSpace([categorical("only", ["x"])], name="single"), n=3)


# -- spaces that break one property each -------------------------------------------

def _choices() -> list:
    return [categorical(f"c{i}", ["a", "b", "c"]) for i in range(3)]


class _Base(SearchSpace):
    def __init__(self) -> None:
        super().__init__(_choices(), name=type(self).__name__)


class LazyMutate(_Base):
    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        return arch


class SelfNeighbor(_Base):
    def neighbors(self, arch: Architecture) -> list[Architecture]:
        return [arch, *super().neighbors(arch)]


class EscapingCrossover(_Base):
    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        return Architecture(self.name, (("c0", "z"),))


class UnseededSample(_Base):
    _counter = itertools.count()

    def sample(self, rng: np.random.Generator) -> Architecture:
        return super().sample(np.random.default_rng(next(self._counter)))


class RaggedEncoding(_Base):
    def encode(self, arch: Architecture) -> np.ndarray:
        return np.zeros(self.encoding_size + 1, dtype=np.float32)


class ReversedColumns(_Base):
    """One-hot of the same length as the layout's, but each block reversed: not the layout's columns."""

    def encode(self, arch: Architecture) -> np.ndarray:
        vec = super().encode(arch)
        for name in self.layout.names:
            block = self.layout.columns(name)
            vec[block] = vec[block][::-1].copy()
        return vec


class StaleLayout(_Base):
    """A layout built from other choices than the space's."""

    def __init__(self) -> None:
        super().__init__()
        self.layout = SearchSpace(_choices()[:1]).layout


class LossyJSON(_Base):
    def to_json(self, arch: Architecture) -> str:
        return super().to_json(self.make({**arch.as_dict(), "c0": "a"}))


class LossyString(_Base):
    def from_string(self, text: str) -> Architecture:
        arch = super().from_string(text)
        return self.make({**arch.as_dict(), "c2": "a"})


class CyclingCanonical(_Base):
    def canonical(self, arch: Architecture) -> Architecture:
        nxt = {"a": "b", "b": "c", "c": "a"}
        return self.make({**arch.as_dict(), "c1": nxt[str(arch["c1"])]})


@pytest.mark.parametrize(("space_cls", "message"), [
    (LazyMutate, "mutate changes the architecture"),
    (SelfNeighbor, "neighbors differ from the architecture"),
    (EscapingCrossover, "stays in the space"),
    (UnseededSample, "sample is seeded"),
    (RaggedEncoding, "encode has fixed length"),
    (ReversedColumns, "encode uses the layout's columns"),
    (StaleLayout, "space.layout must be the Layout of space.choices"),
    (LossyJSON, "JSON round trip"),
    (LossyString, "string round trip"),
    (CyclingCanonical, "canonical is idempotent"),
])
def test_check_space_names_space_and_property(space_cls: type[SearchSpace], message: str) -> None:
    with pytest.raises(AssertionError, match=message) as info:
        check_space(space_cls(), n=10)
    assert space_cls.__name__ in str(info.value)
