"""The NAS-Bench-Graph canonical form (a fact of nasforge.spaces.nbgraph): isomorphic twins, idempotence,
class counts; checked against the benchmark's stored keys in tests/benchmarks/test_nbgraph_data.py."""

from __future__ import annotations

import itertools
import random

import pytest

from nasforge.errors import InvalidArchitectureError
from nasforge.spaces.nbgraph import (GNN_OPS, GNN_OPS_PROTEINS, LINK_PATTERNS, canonical, canonical_forms,
                                     is_canonical)

ALL_LINKS = list(itertools.product(range(1), range(2), range(3), range(4)))  # the 24 predecessor lists




# ----------------------------------------------------------------------------- canonical form

SAME = [
    # relabelling of the same tree: gcn -> {gin -> fc, cheb}
    (([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]), ([0, 1, 1, 2], ["gcn", "gin", "cheb", "fc"])),
    # three leaves on the input plus a chain, in different numbering
    (([0, 0, 1, 0], ["gcn", "gat", "fc", "sage"]), ([0, 0, 0, 1], ["gcn", "sage", "gat", "fc"])),
    # two swapped two-node branches
    (([0, 0, 2, 1], ["sage", "gcn", "gat", "fc"]), ([0, 0, 1, 2], ["gcn", "sage", "gat", "fc"])),
    # a skip with a successor is contracted wherever it sits on a chain
    (([0, 1, 2, 3], ["gcn", "skip", "gat", "fc"]), ([0, 1, 2, 3], ["skip", "gcn", "gat", "fc"])),
    # a lone skip leaf at the end of a chain duplicates its parent: dropped
    (([0, 1, 2, 3], ["gcn", "gat", "fc", "skip"]), ([0, 1, 2, 3], ["skip", "gcn", "gat", "fc"])),
    # skip leaves on the raw input do not reach the output
    (([0, 0, 0, 0], ["gcn", "skip", "gat", "skip"]), ([0, 1, 2, 2], ["skip", "skip", "gcn", "gat"])),
]

DIFFERENT = [
    # gcn -> {gin -> fc, cheb} is not gcn -> {cheb -> fc, gin}
    (([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]), ([0, 1, 1, 2], ["gcn", "cheb", "gin", "fc"])),
    # a skip leaf beside a sibling routes its parent to the output too
    (([0, 1, 2, 2], ["gcn", "gat", "fc", "skip"]), ([0, 1, 2, 3], ["skip", "gcn", "gat", "fc"])),
    # two skip leaves under one node are kept, unlike a single one
    (([0, 1, 1, 1], ["gcn", "gat", "skip", "skip"]), ([0, 1, 1, 2], ["gcn", "gat", "skip", "skip"])),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_isomorphic_pairs_share_a_canonical_form(a, b) -> None:
    assert canonical(*a) == canonical(*b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_architectures_stay_apart(a, b) -> None:
    assert canonical(*a) != canonical(*b)


def test_canonical_examples() -> None:
    assert canonical([0, 1, 2, 1], ["gcn", "gin", "fc", "cheb"]) == ((0, 1, 1, 2), ("gcn", "gin", "cheb", "fc"))
    assert canonical([0, 0, 0, 0], ["fc", "gcn", "gat", "gcn"]) == ((0, 0, 0, 0), ("gat", "gcn", "gcn", "fc"))
    assert canonical([0, 1, 2, 3], ["skip", "skip", "skip", "gcn"]) == ((0, 1, 2, 3), ("skip", "skip", "skip", "gcn"))
    assert canonical((0, 0, 1, 1), ("gcn", "gat", "skip", "fc")) == ((0, 0, 1, 1), ("gcn", "gat", "fc", "skip"))


def test_canonical_is_idempotent_and_lands_on_a_pattern() -> None:
    rng = random.Random(0)
    for _ in range(3000):
        links = [rng.randrange(i + 1) for i in range(4)]
        ops = [rng.choice(GNN_OPS) for _ in range(4)]
        if set(ops) == {"skip"}:
            continue
        rep = canonical(links, ops)
        assert rep[0] in LINK_PATTERNS
        assert canonical(*rep) == rep and is_canonical(*rep)
        assert sorted(o for o in rep[1] if o != "skip") == sorted(o for o in ops if o != "skip")


def test_proteins_classes_use_only_proteins_ops(nbgraph_classes) -> None:
    groups = nbgraph_classes(GNN_OPS_PROTEINS)
    assert len(groups) == 2021
    assert all(set(ops) <= set(GNN_OPS_PROTEINS) for _, ops in groups)


@pytest.mark.parametrize(("op_set", "ops", "size"), [("full", GNN_OPS, 26_206), ("proteins", GNN_OPS_PROTEINS, 2_021)])
def test_canonical_forms_are_the_classes(op_set: str, ops: tuple[str, ...], size: int, nbgraph_classes) -> None:
    forms = canonical_forms(op_set)
    assert len(forms) == size == len(set(forms))
    assert set(forms) == set(nbgraph_classes(ops))


def test_invalid_architectures_are_rejected() -> None:
    with pytest.raises(InvalidArchitectureError, match="links\\[1\\] = 2"):
        canonical([0, 2, 0, 0], ["gcn"] * 4)
    with pytest.raises(InvalidArchitectureError, match="'conv'"):
        canonical([0, 0, 0, 0], ["gcn", "conv", "gcn", "gcn"])
    with pytest.raises(InvalidArchitectureError, match="all-'skip'"):
        canonical([0, 1, 2, 3], ["skip"] * 4)
    with pytest.raises(InvalidArchitectureError, match="4 links"):
        canonical([0, 0, 0], ["gcn"] * 3)
    with pytest.raises(ValueError, match="unknown op_set 'tiny'; accepted: full, proteins"):
        canonical_forms("tiny")
