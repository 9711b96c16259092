"""An MLP for tables, written as plain PyTorch, with choices that exist only for some values of others.

``mlp_space`` searches the number of hidden layers (1 to 3), each layer's width (16 to 128; the
width of layer ``i`` exists only when there are more than ``i`` layers), the activation (a module
class: ReLU, GELU or Tanh), whether a layer normalisation follows each linear layer, and the
dropout rate (0, 0.1 or 0.3). It works on any task: the input is flattened.

The example table is scikit-learn's bundled wine data set (178 wines, 13 measurements, 3
cultivars; no download): write it as a CSV with this file, then search it::

    python examples/mlp_space.py --make-csv examples/wine.csv
    nasforge search --task examples/wine.csv --label-column target --space examples/mlp_space.py:mlp_space \\
        --trials 30 --epochs 20 --batch-size 16 --threads 1 --storage sqlite:///examples.db --study mlp-wine
    nasforge train --study mlp-wine --storage sqlite:///examples.db --threads 1

The CSV is generated, not part of the repository.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import torch.nn as nn


def mlp_space(c, task) -> nn.Module:
    """1-3 hidden layers, a width per layer, one activation, optional layer norm, one dropout rate."""
    depth = c.integer("depth", 1, 3)
    act = c.choice("act", {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh})
    norm = c.boolean("norm")
    dropout = c.choice("dropout", [0.0, 0.1, 0.3])
    size = math.prod(task.input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(depth):  # layer{i}.width exists only when depth > i
        width = c.choice(f"layer{i}.width", [16, 32, 64, 128])
        layers += [nn.Linear(size, width), *([nn.LayerNorm(width)] if norm else []), act()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        size = width
    return nn.Sequential(*layers, nn.Linear(size, task.num_classes))


def write_wine_csv(path: str | Path) -> Path:
    """Write scikit-learn's bundled wine data set to ``path`` as a CSV: 13 feature columns and ``target``."""
    from sklearn.datasets import load_wine

    data = load_wine()  # 178 x 13 measurements; target 0, 1, 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([*data.feature_names, "target"])
        for x, y in zip(data.data, data.target):
            out.writerow([*(repr(float(v)) for v in x), int(y)])
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write the example table for mlp_space.")
    p.add_argument("--make-csv", metavar="PATH", required=True,
                   help="write scikit-learn's wine data set here (label column: target)")
    a = p.parse_args(argv)
    out = write_wine_csv(a.make_csv)
    print(f"wrote {out}: 178 rows, 13 features, label column 'target' (3 classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
