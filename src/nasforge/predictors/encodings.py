"""Architecture encodings for surrogate models: one-hot for every space, path encodings where they exist.

Every space has the fixed-length one-hot :meth:`SearchSpace.encode`. Cell
spaces can also be described by their *paths*: the sequences of operations
along the routes from the cell's input to its output (BANANAS, White et al.,
AAAI 2021). Two cells with the same paths compute the same function up to
the order of summation, so a predictor on paths does not have to learn that
equivalence.

A space offers a path encoding either through a method ``path_encode(arch)``
or through an entry in :data:`PATH_ENCODINGS` keyed by the space's name (so
spaces get one without being edited). :func:`encoder` picks the path encoding
when one exists and falls back to one-hot otherwise.
"""

from __future__ import annotations

from itertools import product
from typing import Callable

import numpy as np

from nasforge.spaces.base import Architecture, SearchSpace
from nasforge.spaces.nb201 import NB201_EDGES, NB201_OPS, edge_name

Encoder = Callable[[Architecture], np.ndarray]

# -- NAS-Bench-201 -------------------------------------------------------------------

#: the NB201 operations a path can pass through ('none' cuts the edge)
_NB201_PATH_OPS = tuple(op for op in NB201_OPS if op != "none")


def _routes() -> tuple[tuple[str, ...], ...]:
    """The routes from the input node to the output node of an NB201 cell, as choice names of their
    edges, shortest first: ('3<-0',), ('1<-0', '3<-1'), ('2<-0', '3<-2'), ('1<-0', '2<-1', '3<-2')."""
    out_node = max(t for t, _ in NB201_EDGES)

    def walk(node: int) -> list[list[int]]:
        if node == out_node:
            return [[node]]
        return [[node, *rest] for to, frm in NB201_EDGES if frm == node for rest in walk(to)]

    paths = sorted(walk(0), key=lambda p: (len(p), p))
    return tuple(tuple(edge_name(b, a) for a, b in zip(p, p[1:])) for p in paths)


#: the routes from node 0 to node 3 of an NB201 cell, as choice names of their edges
_NB201_ROUTES = _routes()
_NB201_INDEX: dict[tuple[str, ...], int] = {}
for _length in (1, 2, 3):
    for _seq in product(_NB201_PATH_OPS, repeat=_length):
        _NB201_INDEX[_seq] = len(_NB201_INDEX)
#: length of :func:`nb201_paths` (4 + 16 + 64 operation sequences)
NB201_PATH_SIZE = len(_NB201_INDEX)


def nb201_paths(arch: Architecture) -> np.ndarray:
    """Path encoding of an NB201 cell: how many input-to-output routes carry each op sequence.

    A route exists when none of its edges is ``none``; the two 2-edge routes
    (through node 1 or node 2) are not told apart, as in BANANAS, so a
    sequence can count 2. Length :data:`NB201_PATH_SIZE` (84).
    """
    ops = arch.as_dict()
    vec = np.zeros(NB201_PATH_SIZE, dtype=np.float32)
    for route in _NB201_ROUTES:
        seq = tuple(str(ops[edge]) for edge in route)
        index = _NB201_INDEX.get(seq)  # None when the route contains 'none'
        if index is not None:
            vec[index] += 1.0
    return vec


#: space name -> path encoding of that space's architectures
PATH_ENCODINGS: dict[str, Encoder] = {"nb201": nb201_paths}

ENCODINGS = ("onehot", "path")


def has_path_encoding(space: SearchSpace) -> bool:
    """Whether ``space`` offers a path encoding (its own ``path_encode`` or a registered one)."""
    return callable(getattr(space, "path_encode", None)) or space.name in PATH_ENCODINGS


def encoder(space: SearchSpace, kind: str = "onehot") -> Encoder:
    """The function that encodes ``space``'s architectures as ``kind``.

    ``'onehot'`` is :meth:`SearchSpace.encode`; ``'path'`` is the space's path
    encoding when it has one (see :func:`has_path_encoding`), else one-hot.
    """
    if kind not in ENCODINGS:
        raise ValueError(f"unknown encoding {kind!r}; accepted: {', '.join(ENCODINGS)}")
    if kind == "path":
        own = getattr(space, "path_encode", None)
        if callable(own):
            return lambda arch: np.asarray(own(arch), dtype=np.float32)
        if space.name in PATH_ENCODINGS:
            return PATH_ENCODINGS[space.name]
    return lambda arch: np.asarray(space.encode(arch), dtype=np.float32)


__all__ = ["ENCODINGS", "NB201_PATH_SIZE", "PATH_ENCODINGS", "encoder", "has_path_encoding", "nb201_paths"]
