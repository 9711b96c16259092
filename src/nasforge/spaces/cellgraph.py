"""How a cell of operations on the edges of a small DAG runs (torch-free).

Shared by the space that states what a cell computes (:func:`nasforge.spaces.nb201.cell_cost_features`) and the
network that computes it (:class:`nasforge.spaces.nn.NB201Cell`), so the two cannot disagree; the network
package imports no space module, so this rule lives here.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["running_inputs"]


def running_inputs(ops: Sequence[str], edges: Sequence[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Per node after the input (1, 2, ...) of a cell whose ``edges`` are ``(to_node, from_node)`` pairs with
    ``ops[k]`` on ``edges[k]``, the ``(edge index, from node)`` pairs whose operation the network computes: a
    ``none`` edge only adds zeros, so it is left out unless the node would have no input left (then the node is
    zeros from its first incoming edge). Raises ValueError for a count mismatch or a node without an edge in."""
    if len(ops) != len(edges):
        raise ValueError(f"a cell needs one op per edge: {len(ops)} ops for {len(edges)} edges")
    out: list[list[tuple[int, int]]] = []
    for node in range(1, max(t for t, _ in edges) + 1):
        incoming = [(k, f) for k, (t, f) in enumerate(edges) if t == node]
        if not incoming:
            raise ValueError(f"node {node} of the cell has no incoming edge: {list(edges)}")
        live = [(k, f) for k, f in incoming if ops[k] != "none"]
        out.append(live or incoming[:1])
    return out
