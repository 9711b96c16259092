"""A small transformer for sequences, written as plain PyTorch: searched on MNIST-1D.

MNIST-1D inputs have shape (1, 1, 40): one channel, 40 positions. ``transformer_space`` reads the
positions as a sequence, cuts it into patches of ``patch`` positions (2, 4 or 8: 20, 10 or 5
tokens), embeds each patch with a linear layer of width ``dim`` (16, 32 or 64), adds a learned
position embedding, and runs ``layers`` (1 to 3) pre-norm transformer encoder layers with
``heads`` attention heads (1, 2 or 4) and a feed-forward width of ``ff_ratio`` x ``dim`` (1, 2 or
4). ``pool`` chooses how the tokens become one vector for the classifier: their mean, or a learned
``cls`` token prepended to the sequence. Any input whose positions (the product of the dimensions
after the channel) divide by the patch works: (C, L), (C, 1, L) or (C, H, W). Search it (about 25 s on
one core), retrain the best for longer and export it::

    nasforge search --task mnist1d --space examples/transformer_space.py:transformer_space --trials 12 \\
        --epochs 5 --optimizer adamw --lr 0.003 --threads 1 --storage sqlite:///examples.db --study tf-mnist1d
    nasforge train --study tf-mnist1d --storage sqlite:///examples.db --epochs 20 --threads 1 --out runs/tf
    nasforge export runs/tf

AdamW with a small learning rate suits transformers better than nasforge's default (SGD, 0.05).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class PatchTransformer(nn.Module):
    """Patches of a sequence -> linear embedding + positions -> encoder layers -> pooled -> classes."""

    def __init__(self, channels: int, length: int, num_classes: int, patch: int, dim: int, heads: int, layers: int,
                 ff_ratio: int, pool: str) -> None:
        super().__init__()
        if length % patch:
            raise ValueError(f"a sequence of {length} positions does not cut into patches of {patch}")
        self.patch, self.pool = patch, pool
        tokens = length // patch + (pool == "cls")
        self.embed = nn.Linear(channels * patch, dim)
        self.position = nn.Parameter(torch.zeros(1, tokens, dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        layer = nn.TransformerEncoderLayer(dim, heads, dim * ff_ratio, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.normal_(self.position, std=0.02)
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        seq = x.reshape(b, c, -1).transpose(1, 2)                  # (batch, positions, channels)
        tokens = self.embed(seq.reshape(b, -1, self.patch * c))    # (batch, positions / patch, dim)
        if self.cls is not None:
            tokens = torch.cat([self.cls.expand(b, -1, -1), tokens], dim=1)
        h = self.norm(self.encoder(tokens + self.position))
        return self.head(h[:, 0] if self.cls is not None else h.mean(dim=1))


def transformer_space(c, task) -> nn.Module:
    """Patch size, embedding width, heads, depth, feed-forward ratio and pooling of a small transformer."""
    patch = c.choice("patch", [2, 4, 8])
    dim = c.choice("dim", [16, 32, 64])
    heads = c.choice("heads", [1, 2, 4])        # every width divides by every head count
    layers = c.integer("layers", 1, 3)
    ff_ratio = c.choice("ff_ratio", [1, 2, 4])
    pool = c.choice("pool", ["mean", "cls"])
    channels, length = task.input_shape[0], math.prod(task.input_shape[1:])
    return PatchTransformer(channels, length, task.num_classes, patch, dim, heads, layers, ff_ratio, pool)
