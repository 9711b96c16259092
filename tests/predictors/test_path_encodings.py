"""Encodings for surrogates: NB201 path encoding, the registry by space name, one-hot fallback."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.predictors.encodings import (NB201_PATH_SIZE, PATH_ENCODINGS, encoder, has_path_encoding,
                                           nb201_paths)
from nasforge.spaces.base import SearchSpace, categorical
from nasforge.spaces.nb201 import NB201Space
from nasforge.testing import toy_space

NB201 = NB201Space()


def cell(text: str):
    return NB201.from_string(text)


def test_all_none_cell_has_no_paths() -> None:
    vec = nb201_paths(cell("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    assert vec.shape == (NB201_PATH_SIZE,) == (84,)
    assert not vec.any()


def test_counts_each_input_to_output_route() -> None:
    # every edge a 3x3 conv: routes of length 1, 2 (twice) and 3
    vec = nb201_paths(cell("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    assert sorted(vec[vec > 0].tolist()) == [1.0, 1.0, 2.0]
    assert vec.sum() == 4


def test_a_none_edge_cuts_its_routes() -> None:
    # 3<-0 is the only live route
    vec = nb201_paths(cell("|none~0|+|none~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|"))
    assert vec.sum() == 1


def test_cells_with_the_same_paths_share_the_encoding() -> None:
    # the two 2-edge routes swap their op sequences: different one-hot, same paths
    a = cell("|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|none~0|nor_conv_1x1~1|nor_conv_3x3~2|")
    b = cell("|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert not np.array_equal(NB201.encode(a), NB201.encode(b))
    assert np.array_equal(nb201_paths(a), nb201_paths(b))


def test_encoder_picks_the_path_encoding_where_registered() -> None:
    arch = NB201.sample(np.random.default_rng(0))
    assert "nb201" in PATH_ENCODINGS and has_path_encoding(NB201)
    assert np.array_equal(encoder(NB201, "path")(arch), nb201_paths(arch))
    assert np.array_equal(encoder(NB201, "onehot")(arch), NB201.encode(arch))


def test_encoder_falls_back_to_one_hot() -> None:
    space = toy_space()
    arch = space.sample(np.random.default_rng(0))
    assert not has_path_encoding(space)
    assert np.array_equal(encoder(space, "path")(arch), space.encode(arch))


def test_a_space_can_offer_its_own_path_encoding() -> None:
    class WithPaths(SearchSpace):
        def path_encode(self, arch):
            return np.array([float(arch["a"]), 1.0])

    space = WithPaths([categorical("a", [0, 1, 2])], name="with-paths")
    arch = space.make({"a": 2})
    assert has_path_encoding(space)
    assert encoder(space, "path")(arch).tolist() == [2.0, 1.0]


def test_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="unknown encoding 'adjacency'; accepted: onehot, path"):
        encoder(NB201, "adjacency")
