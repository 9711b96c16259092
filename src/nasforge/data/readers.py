"""Readers for user data files: ``.npz`` arrays, CSV tables and folders of images.

Each reader turns a file into :class:`RawData` (unsplit, unnormalised arrays
plus what it learned about them); :func:`nasforge.data.load_task` hands that
to :func:`nasforge.data.make_task`. Pillow is imported only when a folder is
read.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np

from nasforge.safe_pickle import ForbiddenGlobalError, RestrictedUnpickler, numpy_globals
from nasforge.data.errors import DataError
from nasforge.errors import ConfigError
from nasforge.options import check_int

#: File extensions read as images in an image folder; other files are ignored (and reported).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
_MAX_LISTED = 20  # ignored files listed by name in Task.info; the rest are only counted


@dataclass
class RawData:
    """One data set as read from disk, before splitting and normalisation."""

    X: Any
    y: Any
    classes: Sequence[str] | None = None
    feature_names: Sequence[str] | None = None
    input_scale: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- npz

def read_npz(path: str | os.PathLike[str]) -> RawData:
    """Read arrays ``X`` and ``y`` (and optional ``classes``, names for integer labels) from an ``.npz`` file.

    Object arrays (e.g. images of different sizes) are read with an unpickler
    that admits only numpy arrays, numbers and strings, never arbitrary code.
    """
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as e:  # bad zip, not an npz, unreadable
        raise DataError(f"cannot read {path} as an .npz file: {e}") from e
    if not hasattr(npz, "files"):
        raise DataError(f"{path} holds a single array, not an .npz archive; save it with "
                        f"np.savez(path, X=X, y=y)")
    with npz:
        keys = list(npz.files)
        missing = [k for k in ("X", "y") if k not in keys]
        if missing:
            raise DataError(f"{path} has no array named {' or '.join(repr(k) for k in missing)}; arrays found: "
                            f"{', '.join(repr(k) for k in keys) or 'none'}; expected X (samples) and y (labels), "
                            f"e.g. np.savez(path, X=X, y=y)")
        arrays = {k: _npz_member(npz, path, k) for k in ("X", "y", "classes") if k in keys}
    classes = None
    if "classes" in arrays:
        classes = [str(c) for c in np.asarray(arrays["classes"]).ravel()]
    return RawData(arrays["X"], arrays["y"], classes=classes, info={"source": str(path), "format": "npz"})


def _npz_member(npz: Any, path: Path, key: str) -> np.ndarray:
    try:
        return np.asarray(npz[key])
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise DataError(f"cannot read array {key!r} from {path}: {e}") from e
    with npz.zip.open(f"{key}.npy") as fh:
        return _read_object_npy(fh, f"{path}[{key!r}]")


def _read_object_npy(fh: IO[bytes], where: str) -> np.ndarray:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        fmt.read_array_header_2_0(fh)
    else:
        raise DataError(f"{where}: unsupported .npy format version {version} for an object array")
    try:
        obj = RestrictedUnpickler(fh, numpy_globals(), where).load()
    except ForbiddenGlobalError as e:
        raise DataError(f"{where} holds pickled objects of type {e.module}.{e.name}; only numpy arrays, "
                        f"numbers and strings are accepted") from None
    except Exception as e:
        raise DataError(f"cannot read object array {where}: {e}") from e
    if not isinstance(obj, np.ndarray):
        raise DataError(f"{where} does not hold an array (found {type(obj).__name__})")
    return obj


# --------------------------------------------------------------------------- csv

_INT_RE = re.compile(r"[+-]?\d+\Z")


def read_csv(path: str | os.PathLike[str], label_column: str = "label") -> RawData:
    """Read a CSV table with a header row: the column ``label_column`` holds labels, all others numeric features.

    Empty feature cells become NaN (and are then reported as missing values).
    Labels that all look like integers are read as integers, otherwise as
    numbers if they all parse, otherwise as strings.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(fh), start=1)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path} as a CSV file: {e}") from e
    rows = [(i, row) for i, row in rows if any(row)]  # blank lines carry nothing
    if not rows:
        raise DataError(f"{path} is empty; expected a header row and one row per sample")
    header = rows[0][1]
    body = rows[1:]
    if label_column not in header:
        if _all_numeric(header):
            raise DataError(f"{path} has no header row (its first line {', '.join(header[:5])} looks like data); "
                            f"add a header naming the columns, one of them {label_column!r}")
        raise DataError(f"{path} has no column named {label_column!r}; columns found: {', '.join(header)}; "
                        f"choose the label column (--label-column on the command line, label_column= in Python)")
    if header.count(label_column) > 1:
        raise DataError(f"{path} has {header.count(label_column)} columns named {label_column!r}")
    if len(header) < 2:
        raise DataError(f"{path} has only the label column {label_column!r}; at least one feature column is needed")
    if not body:
        raise DataError(f"{path} has a header but no data rows")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(f"{path} line {line} has {len(row)} fields but the header has {len(header)}")
    lines = [line for line, _ in body]
    li = header.index(label_column)
    feature_names = [h for j, h in enumerate(header) if j != li]
    columns = [[row[j] for _, row in body] for j in range(len(header)) if j != li]
    X = np.stack([_numeric_column(col, name, path, lines) for col, name in zip(columns, feature_names)], axis=1)
    _check_csv_finite(X, feature_names, path, lines)
    labels = [row[li] for _, row in body]
    for line, lab in zip(lines, labels):
        if lab == "":
            raise DataError(f"{path} line {line} has no label (column {label_column!r} is empty)")
    return RawData(X, _typed_labels(labels), feature_names=feature_names,
                   info={"source": str(path), "format": "csv", "label_column": label_column})


def _all_numeric(cells: Sequence[str]) -> bool:
    try:
        [float(c) for c in cells]
    except ValueError:
        return False
    return True


def _numeric_column(col: list[str], name: str, path: Path, lines: list[int]) -> np.ndarray:
    try:
        return np.asarray(col).astype(np.float64)
    except ValueError:
        pass
    out = np.empty(len(col))
    for k, cell in enumerate(col):
        if cell == "":
            out[k] = np.nan
            continue
        try:
            out[k] = float(cell)
        except ValueError:
            raise DataError(f"{path}: column {name!r} is not numeric (value {cell!r} on line {lines[k]}); "
                            f"feature columns must hold numbers: encode or drop it") from None
    return out


def _check_csv_finite(X: np.ndarray, names: list[str], path: Path, lines: list[int]) -> None:
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    n_nan = int(np.isnan(X).sum())
    cols = np.flatnonzero(bad.any(axis=0))
    listed = ", ".join(f"{names[j]!r} ({int(bad[:, j].sum())}, first on line {lines[int(np.argmax(bad[:, j]))]})"
                       for j in cols[:5])
    more = f" and {len(cols) - 5} more" if len(cols) > 5 else ""
    raise DataError(f"{path} has {n_nan} missing or NaN and {int(bad.sum()) - n_nan} infinite feature values in "
                    f"columns {listed}{more}; fill or drop them first")


def _typed_labels(labels: list[str]) -> np.ndarray:
    if all(_INT_RE.match(s) for s in labels):
        return np.asarray([int(s) for s in labels], dtype=np.int64)
    if _all_numeric(labels):
        return np.asarray([float(s) for s in labels], dtype=np.float64)
    return np.asarray(labels, dtype=str)


# --------------------------------------------------------------------------- image folder

def image_size_hw(image_size: int | Sequence[int]) -> tuple[int, int]:
    """``image_size`` as ``(H, W)``: an int means a square (checked with :func:`nasforge.options.check_int`)."""
    pair = isinstance(image_size, (tuple, list))
    try:
        if pair and len(image_size) != 2:  # type: ignore[arg-type]
            raise ConfigError("not a pair")
        h, w = (image_size if pair else (image_size, image_size))  # type: ignore[misc]
        return check_int("image_size", h, minimum=1), check_int("image_size", w, minimum=1)
    except ConfigError:
        raise ConfigError(f"image_size must be an integer >= 1 or a (height, width) pair of them, "
                          f"got {image_size!r}") from None


def read_image_folder(path: str | os.PathLike[str], image_size: int | Sequence[int] = 32,
                      grayscale: bool = False) -> RawData:
    """Read a folder with one sub-folder per class (its name is the class name) of images.

    Images (found recursively in each class folder, by extension) are converted
    to RGB or grayscale and resized to ``image_size`` with bilinear filtering.
    Other files and hidden entries are skipped and listed in ``info``; an image
    Pillow cannot read is an error naming the file.
    """
    from PIL import Image

    root = Path(path)
    h, w = image_size_hw(image_size)
    mode = "L" if grayscale else "RGB"
    ignored: list[str] = []
    class_dirs = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            class_dirs.append(entry)
        else:
            ignored.append(entry.name)
    if not class_dirs:
        raise DataError(f"folder {root} has no class sub-folders (found {len(ignored)} other entries); expected "
                        f"one sub-folder per class, each holding images ({', '.join(IMAGE_EXTENSIONS)})")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for k, cdir in enumerate(class_dirs):
        n_before = len(images)
        for p in sorted(q for q in cdir.rglob("*") if q.is_file()):
            rel = p.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(rel.as_posix())
                continue
            try:
                with Image.open(p) as im:
                    im = im.convert(mode).resize((w, h), Image.Resampling.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8))
            except Exception as e:  # Pillow raises several types for broken files
                raise DataError(f"cannot read image {p}: {e}") from e
            labels.append(k)
        if len(images) == n_before:
            raise DataError(f"class folder {cdir} has no images; expected files ending in "
                            f"{', '.join(IMAGE_EXTENSIONS)}")
    X = np.stack(images)
    X = X[:, None] if grayscale else X.transpose(0, 3, 1, 2)
    info: dict[str, Any] = {"source": str(root), "format": "image_folder", "image_size": [h, w],
                            "color": "grayscale" if grayscale else "rgb", "resample": "bilinear",
                            "n_ignored_files": len(ignored), "ignored_files": ignored[:_MAX_LISTED]}
    return RawData(X, np.asarray(labels, dtype=np.int64), classes=[d.name for d in class_dirs],
                   input_scale=1 / 255, info=info)
