"""The NAS-Bench-201 cell space: 6 edges of a 4-node cell, 5 operations each (15,625 cells).

Architectures print as the standard NB201 string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` where ``op~j`` on the ``i``-th group is
the edge from node ``j`` into node ``i``. Conversions to the NB201 index (the
row order of ``nb201.csv``) and to the AnalogNAS-Bench 6-tuple are provided.
:meth:`NB201Space.build` makes the benchmark's network for a cell (sized by the
space options ``C`` and ``N``). Isomorphic cells are *not* merged: NAS-Bench-201 trains and reports each of the
15,625 cells separately, so the canonical form is the cell itself.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from nasforge.spaces.base import Architecture, InvalidArchitectureError, SearchSpace, categorical

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: edges in NB201 string order, as (to_node, from_node)
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_GROUP = re.compile(r"^\|(.*)\|$")


def edge_name(to_node: int, from_node: int) -> str:
    return f"{to_node}<-{from_node}"


class NB201Space(SearchSpace):
    """NAS-Bench-201 cells (the choices are fixed by the benchmark).

    ``C`` (initial channels) and ``N`` (cells per stage) size only the network
    that :meth:`build` makes; the defaults (16, 5) are the benchmark's network.
    """

    name = "nb201"

    def __init__(self, C: int = 16, N: int = 5) -> None:
        self.C = C
        self.N = N
        super().__init__([categorical(edge_name(t, f), NB201_OPS) for t, f in NB201_EDGES])

    def __len__(self) -> int:
        return len(NB201_OPS) ** len(NB201_EDGES)

    def ops(self, arch: Architecture) -> tuple[str, ...]:
        """The six operations in NB201 string order."""
        return tuple(str(v) for _, v in arch.choices)

    def from_ops(self, ops: tuple[str, ...] | list[str]) -> Architecture:
        if len(ops) != len(NB201_EDGES):
            raise InvalidArchitectureError(f"an NB201 cell has 6 edges, got {len(ops)} ops: {list(ops)}")
        return self.make({edge_name(t, f): op for (t, f), op in zip(NB201_EDGES, ops)})

    def to_string(self, arch: Architecture) -> str:
        ops = [str(v) for _, v in arch.choices]
        groups, k = [], 0
        for node in (1, 2, 3):
            groups.append("|" + "|".join(f"{ops[k + j]}~{j}" for j in range(node)) + "|")
            k += node
        return "+".join(groups)

    def from_string(self, text: str) -> Architecture:
        text = text.strip()
        groups = text.split("+")
        expected = "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with ops from " + ", ".join(NB201_OPS)
        if len(groups) != 3:
            raise InvalidArchitectureError(f"malformed NB201 cell {text!r}: expected {expected}")
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            m = _GROUP.match(group)
            parts = m.group(1).split("|") if m else []
            if len(parts) != node:
                raise InvalidArchitectureError(f"malformed NB201 cell {text!r}: expected {expected}")
            for j, part in enumerate(parts):
                op, sep, src = part.rpartition("~")
                if not sep or src != str(j) or op not in NB201_OPS:
                    raise InvalidArchitectureError(
                        f"malformed NB201 cell {text!r}: bad edge {part!r}; expected {expected}")
                ops.append(op)
        return self.from_ops(ops)

    # -- networks ---------------------------------------------------------------
    def build(self, arch: Architecture, task: Any) -> Any:
        """The NAS-Bench-201 network of ``arch`` for an image ``task`` (``torch.nn.Module``).

        Stem conv 3x3 + BN at ``C`` channels; three stages of ``N`` cells at
        ``C``, ``2C``, ``4C`` channels joined by stride-2 residual blocks; BN,
        ReLU, global average pool and a linear head to ``task.num_classes``.
        With C=16, N=5 it is the benchmark's network (1,531,546 parameters for
        10 classes and all-``nor_conv_3x3`` cells). Any image size works (odd
        sizes too); a tabular task raises ValueError.
        """
        from nasforge.spaces.ops import NB201Network, image_shape, positive_int

        channels, _, _ = image_shape(self.name, task)
        C, N = positive_int(self, "C"), positive_int(self, "N")
        self._check(arch)
        return NB201Network(self.ops(arch), C, N, channels, positive_int(task, "num_classes"))

    # -- conversions to the benchmarks' own identifiers -------------------------
    def to_index(self, arch: Architecture, data_dir: str | Path | None = None) -> int:
        """The NAS-Bench-201 index of a cell (row order of ``nb201.csv``)."""
        return _index_table(_csv_path(data_dir))[1][self.to_string(arch)]

    def from_index(self, index: int, data_dir: str | Path | None = None) -> Architecture:
        strings = _index_table(_csv_path(data_dir))[0]
        if not 0 <= int(index) < len(strings):
            raise InvalidArchitectureError(f"NB201 index {index} out of range; accepted: 0..{len(strings) - 1}")
        return self.from_string(strings[int(index)])

    def to_analog_tuple(self, arch: Architecture) -> tuple[int, ...]:
        """The AnalogNAS-Bench 6-tuple of a cell."""
        from nasforge.benchmarks.analog_data import nb201_to_tuple

        return nb201_to_tuple(self.to_string(arch))

    def from_analog_tuple(self, t: tuple[int, ...]) -> Architecture:
        from nasforge.benchmarks.analog_data import tuple_to_nb201

        return self.from_string(tuple_to_nb201(tuple(t)))


def _csv_path(data_dir: str | Path | None) -> Path:
    from nasforge.benchmarks.nb201 import nb201_csv_path

    return nb201_csv_path(data_dir)


@lru_cache(maxsize=4)
def _index_table(path: Path) -> tuple[list[str], dict[str, int]]:
    from nasforge.benchmarks.nb201 import load_nb201_table

    table = load_nb201_table(path)
    strings = list(table["arch"])
    return strings, {s: i for i, s in enumerate(strings)}
