"""Torch building blocks of the trainable spaces (imports torch; imports no space module).

Spaces import this package inside ``build`` only, so importing a space does not
import torch. :mod:`~nasforge.spaces.nn.blocks` holds the layers shared by
cells (convolutions, pooling, zero, drop path, the residual block);
:mod:`~nasforge.spaces.nn.cells` the NAS-Bench-201 and DARTS cells and
networks, with each operation defined by name.
"""

from __future__ import annotations

from nasforge.spaces.nn.blocks import (DilConv, FactorizedReduce, Pool, ReLUConvBN, ResNetBasicBlock, SepConv, Zero,
                                       drop_path, image_shape, positive_int)
from nasforge.spaces.nn.cells import (DARTS_OP_MODULES, NB201_OP_MODULES, DartsCell, DartsNetwork, NB201Cell,
                                      NB201Network, darts_op, darts_reduction_layers, nb201_op)

__all__ = ["DARTS_OP_MODULES", "DartsCell", "DartsNetwork", "DilConv", "FactorizedReduce", "NB201Cell",
           "NB201Network", "NB201_OP_MODULES", "Pool", "ReLUConvBN", "ResNetBasicBlock", "SepConv", "Zero",
           "darts_op", "darts_reduction_layers", "drop_path", "image_shape", "nb201_op", "positive_int"]
