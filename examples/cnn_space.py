"""A small CNN for images, written as plain PyTorch: two search spaces over the same building blocks.

``cnn_space`` searches a whole network: the stem width (8, 16 or 32 channels), the number of
blocks (1 to 3), each block's operation (a 3x3 or 5x5 convolution, a depthwise-separable 3x3
convolution, or a skip), and an optional pooling (none, max or average) after the first block.
``block1`` and ``block2`` exist only when there are enough blocks: nasforge finds these conditions
by running the function. Search it with any strategy (about 11 s on one core), look at the best
trials, retrain the best for longer and export it::

    nasforge search --task digits --space examples/cnn_space.py:cnn_space --trials 30 --epochs 3 \\
        --threads 1 --storage sqlite:///examples.db --study cnn-digits
    nasforge show cnn-digits --storage sqlite:///examples.db
    nasforge train --study cnn-digits --storage sqlite:///examples.db --epochs 10 --threads 1 --out runs/cnn
    nasforge export runs/cnn

``cnn_cells`` fixes the width and the depth and chooses only between modules (three operations
and how to halve the image), so its networks share weights in one supernet: search it with a
weight-sharing method::

    nasforge oneshot --method spos --task digits --space examples/cnn_space.py:cnn_cells --epochs 20 \\
        --search-trials 30 --retrain-epochs 5 --threads 1 --storage sqlite:///examples.db --study cells-spos \\
        --checkpoint-dir runs/cells-spos

Both work on any image task (``digits``: 1x8x8; an image folder: 3xHxW). See examples/README.md.
"""

from __future__ import annotations

import torch.nn as nn


# -- the operations a block chooses between: factories taking the channel count ----------------------
def conv3(C: int) -> nn.Module:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())


def conv5(C: int) -> nn.Module:
    """5x5 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(C, C, 5, padding=2, bias=False), nn.BatchNorm2d(C), nn.ReLU())


def sep3(C: int) -> nn.Module:
    """Depthwise 3x3 then pointwise 1x1 convolution (a fraction of conv3's weights), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(C, C, 3, padding=1, groups=C, bias=False), nn.Conv2d(C, C, 1, bias=False),
                         nn.BatchNorm2d(C), nn.ReLU())


def skip(C: int) -> nn.Module:
    """No operation: the block is left out."""
    return nn.Identity()


#: a block's options, labelled: the architecture reads ``block0=sep3``
OPS = {"conv3": conv3, "conv5": conv5, "sep3": sep3, "skip": skip}


def stem(in_channels: int, C: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C), nn.ReLU())


def classifier(C: int, num_classes: int) -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, num_classes))


# -- the spaces ----------------------------------------------------------------------------------------
def cnn_space(c, task) -> nn.Module:
    """Stem width, 1-3 blocks each choosing an operation, optional pooling after the first block."""
    C = c.choice("width", [8, 16, 32])
    depth = c.integer("blocks", 1, 3)
    pool = c.choice("pool", {"none": None, "max": nn.MaxPool2d, "avg": nn.AvgPool2d})
    layers = [stem(task.input_shape[0], C)]
    for i in range(depth):  # block1 exists only when blocks >= 2, block2 only when blocks == 3
        layers.append(c.choice(f"block{i}", OPS)(C))
        if i == 0 and pool is not None:
            layers.append(pool(2, ceil_mode=True))  # ceil_mode: odd sizes down to 1x1 still work
    return nn.Sequential(*layers, classifier(C, task.num_classes))


def reduce_max(C: int) -> nn.Module:
    return nn.MaxPool2d(2, ceil_mode=True)


def reduce_avg(C: int) -> nn.Module:
    return nn.AvgPool2d(2, ceil_mode=True)


def reduce_conv(C: int) -> nn.Module:
    """A learned reduction: 3x3 convolution with stride 2 (the pools' output size, odd sizes too)."""
    return nn.Sequential(nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C))


def cnn_cells(c, task) -> nn.Module:
    """Width 16, three blocks each choosing an operation, and the reduction after the first one.

    Every choice is between modules and is asked in every network, so the space has a supernet
    (weight sharing). The reduction's candidates all halve the image, so mixed methods (DARTS,
    GDAS) can add their outputs too.
    """
    C = 16
    layers = [stem(task.input_shape[0], C), c.choice("block0", OPS)(C),
              c.choice("reduce", {"max": reduce_max, "avg": reduce_avg, "conv": reduce_conv})(C)]
    layers += [c.choice(f"block{i}", OPS)(C) for i in (1, 2)]
    return nn.Sequential(*layers, classifier(C, task.num_classes))
