"""Drawings of architectures: each space's picture shows that architecture's operations; nothing raises."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from nasforge.api import make_space
from nasforge.report.data import arch_values, load_study, rebuild_space
from nasforge.report.drawings import draw_architecture, op_label
from nasforge.report.html import drawings
from nasforge.spaces.darts import DARTS_V2

NB201 = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def draw(name, arch, params=None):
    space = make_space(name, params or {})
    svg = draw_architecture(name, arch_values(space, arch), arch, space)
    ET.fromstring(f"<div>{svg}</div>")  # well-formed markup
    return svg


def edge_titles(svg):
    return re.findall(r"<path [^>]*><title>([^<]*)</title>", svg)


def test_nb201_cell_shows_each_edge_with_its_operation():
    svg = draw("nb201", NB201)
    assert svg.startswith("<svg") and sorted(edge_titles(svg)) == sorted(
        ["nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"])
    for op in ("conv 3×3", "skip", "avg pool 3×3", "conv 1×1", "none"):
        assert f">{op}</text>" in svg
    assert svg.count("stroke-dasharray") == 1  # the none edge is dashed


def test_darts_draws_the_normal_and_the_reduction_cell():
    svg = draw("darts", DARTS_V2)
    assert ">normal cell</text>" in svg and ">reduction cell</text>" in svg
    ops = [t for t in edge_titles(svg) if "->" not in t]
    assert len(ops) == 16 and ops.count("max_pool_3x3") == 5 and ops.count("sep_conv_3x3") == 5
    distinct = make_space("darts", {"distinct_cells": True, "layers": 3})
    arch = distinct.to_string(distinct.sample(np.random.default_rng(0)))
    assert draw("darts", arch, {"distinct_cells": True, "layers": 3}).count("<svg") == 3


def test_mobilenet_block_diagram():
    space = make_space("mobilenet", {"width_mult": 0.5, "max_depth": 3})
    arch = space.to_string(space.sample(np.random.default_rng(3)))
    svg = draw("mobilenet", arch, {"width_mult": 0.5, "max_depth": 3})
    blocks = [b for stage in space.blocks(space.parse(arch)) for b in stage]
    assert svg.count(">MBConv") == len(blocks)
    for k, e, _ in blocks:
        assert f">MBConv{e} {k}×{k}</text>" in svg
    assert svg.count(">+ SE</text>") == sum(se for _, _, se in blocks)
    assert f"{space.channels()[0]} ch" in svg  # the stem's channels after width_mult


def test_nbgraph_dag_and_mlp_layers():
    svg = draw("nasbench-graph", "0,0,1,2|gcn,gin,cheb,skip")
    for op in ("gcn", "gin", "cheb", "skip"):
        assert f">{op}</text>" in svg
    assert len(edge_titles(svg)) == 4 + 2  # four links, two leaves into the output
    svg = draw("mlp", "depth=3,l0.width=256,l1.width=64,l2.width=32,act=gelu,dropout=0.1,norm=layernorm")
    for w in (256, 64, 32):
        assert f">Linear → {w} · layernorm · gelu · dropout 0.1</text>" in svg


def test_other_spaces_get_their_choices_and_unreadable_ones_their_string():
    html = draw_architecture("my_space", {"width": "32", "act": "<relu>"}, "width=32,act=<relu>")
    assert "<th>width</th><td>32</td>" in html and "&lt;relu&gt;" in html and "<relu>" not in html
    # a user space named like a built-in one, whose choices are not that space's: its choices, not an error
    assert "<table" in draw_architecture("nb201", {"width": "32"}, "width=32")
    assert draw_architecture("nb201", None, "??<x>") == "<code class='arch-string'>??&lt;x&gt;</code>"


def test_rebuild_space_never_raises():
    assert rebuild_space({"space": "nb201", "space_params": {"C": 8, "N": 1}}).C == 8
    assert rebuild_space({"space": "no-such-space"}) is None
    assert rebuild_space({"space": "mlp", "space_params": {"widths": "bad"}}) is None
    assert rebuild_space({"space": "x", "space_params": {"source": "/gone/x.py:f"}}) is None


@pytest.mark.parametrize("kind,needle", [("space-darts", ">normal cell</text>"), ("space-mobilenet", ">MBConv"),
                                         ("space-nasbench-graph", ">node 1</text>"), ("space-mlp", ">Linear → "),
                                         ("space-generic", "<th>stem</th>"), ("space-user", "<th>stem</th>"),
                                         ("single", "<svg")])
def test_report_draws_the_best_architectures_of_each_space(report_store, kind, needle):
    url, names = report_store
    data = load_study(names[kind], url)
    out = drawings(data, 3)
    assert out.count("<figure>") == 3 and needle in out
    best = data.summary["top"][0]["arch"]
    assert best.replace("<", "&lt;") in out


def test_op_labels():
    assert op_label("nor_conv_3x3") == "conv 3×3" and op_label("skip_connect") == "skip"
    assert op_label("dil_conv_5x5") == "dil 5×5" and op_label("max_pool_3x3") == "max pool 3×3"
