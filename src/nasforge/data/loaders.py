"""Turning arrays, files and built-in data sets into split, normalised :class:`Task` objects.

:func:`make_task` is the one place where samples are checked, labels encoded,
splits drawn and normalisation fitted; :func:`load_task` reads a source (a
built-in name, ``.npz``, ``.csv`` or an image folder) and calls it.
scikit-learn and Pillow are imported only when used.

Input layout rule (arrays given to :func:`make_task` and ``.npz`` files):
2-D ``(n, F)`` is tabular; 3-D ``(n, H, W)`` is one-channel images; 4-D is
channel-first ``(n, C, H, W)`` unless the last axis has size 1 or 3 and the
second does not, in which case it is channel-last ``(n, H, W, C)`` and is
transposed to channel-first.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nasforge.data.errors import DataError
from nasforge.data.readers import RawData, read_csv, read_image_folder, read_npz
from nasforge.data.task import Task
from nasforge.errors import ConfigError
from nasforge.options import check_int, check_number

_LISTED = 5  # offending classes / columns named in one message


# --------------------------------------------------------------------------- built-in data sets

def _digits() -> RawData:
    """scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes, pixels 0..16."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return RawData(d.images[:, None, :, :], d.target, classes=[str(int(c)) for c in d.target_names],
                   input_scale=1 / 16, info={"source": "sklearn.datasets.load_digits"})


#: MNIST-1D's generator defaults: 5,000 samples (500 per class), the seed of the published data set
MNIST1D_SAMPLES = 5000
MNIST1D_SEED = 42


def _mnist1d(num_samples: int = MNIST1D_SAMPLES, generator_seed: int = MNIST1D_SEED) -> RawData:
    """MNIST-1D (Greydanus 2020): 10 digit templates as 1-D signals of length 40, padded, scaled,
    translated, sheared and noised; ``num_samples`` of them (a multiple of 10, equal per class).

    Made here by the ``mnist1d`` package's generator (``mnist1d.data.make_dataset`` with its default
    arguments, ``num_samples`` and ``seed=generator_seed`` replaced), never by its download path. The
    generator seeds Python's and numpy's global random state; both are restored afterwards. Its own
    train/test split is not used: the samples are pooled and split like any task. Each signal becomes
    a one-row, one-channel image ``(1, 1, 40)`` so the image spaces train on it unchanged (their 3x3
    kernels act as 1-D kernels of width 3 on zero-padded rows).
    """
    num_samples = check_int("mnist1d option num_samples", num_samples, minimum=10)
    if num_samples % 10:
        raise ConfigError(f"mnist1d option num_samples must be a multiple of 10 (the generator makes as many "
                          f"samples of each of the 10 digits); got {num_samples}")
    generator_seed = check_int("mnist1d option generator_seed", generator_seed, 0, 2**32 - 1)
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError("the built-in task 'mnist1d' needs the mnist1d package: pip install 'nasforge[mnist1d]' "
                        "(or pip install mnist1d)") from None
    import random

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = generator_seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    X = np.concatenate([d["x"], d["x_test"]])[:, None, None, :]
    y = np.concatenate([d["y"], d["y_test"]])
    return RawData(X, y, classes=[str(i) for i in range(10)],
                   info={"source": "mnist1d.data.make_dataset", "num_samples": num_samples,
                         "generator_seed": generator_seed, "layout": "1-D signals of length 40 as (1, 1, 40) images"})


_BUILTINS: dict[str, Callable[..., RawData]] = {"digits": _digits, "mnist1d": _mnist1d}
#: options each built-in data set accepts (``load_task(name, options={...})``)
_BUILTIN_OPTIONS: dict[str, tuple[str, ...]] = {"digits": (), "mnist1d": ("num_samples", "generator_seed")}


def list_datasets() -> list[str]:
    """Names of the built-in data sets :func:`load_task` accepts."""
    return sorted(_BUILTINS)


# --------------------------------------------------------------------------- load_task

_ACCEPTED = ("a built-in name ({builtins}), a .npz file (arrays X and y), a .csv file (header row with a label "
             "column) or a folder with one sub-folder of images per class")


def load_task(source: str | os.PathLike[str], *, label_column: str = "label",
              image_size: int | Sequence[int] = 32, grayscale: bool = False, val_fraction: float = 0.15,
              test_fraction: float = 0.15, seed: int = 0, normalize: bool = True,
              options: Mapping[str, Any] | None = None) -> Task:
    """Load a classification task from a built-in name, an ``.npz`` file, a ``.csv`` file or an image folder.

    ``label_column`` applies to CSV files; ``image_size`` (int or ``(H, W)``)
    and ``grayscale`` to image folders (built-ins and ``.npz`` arrays keep
    their size). ``options`` are a built-in data set's own: for ``mnist1d``,
    ``num_samples`` (default 5000) and ``generator_seed`` (default 42, the
    published data set); ``seed`` is always the split's. A built-in name wins
    over a same-named path: write ``./digits`` for a folder called ``digits``.
    """
    accepted = _ACCEPTED.format(builtins=", ".join(list_datasets()))
    opts = dict(options or {})
    if isinstance(source, str) and source.lower() in _BUILTINS:
        name = source.lower()
        unknown = sorted(set(opts) - set(_BUILTIN_OPTIONS[name]))
        if unknown:
            known = ", ".join(_BUILTIN_OPTIONS[name]) or "none"
            raise ConfigError(f"built-in task {name!r} has no option {', '.join(map(repr, unknown))}; known: {known}")
        raw = _BUILTINS[name](**opts)
    else:
        if opts:
            raise ConfigError(f"options {sorted(opts)} are for built-in tasks ({', '.join(list_datasets())}); "
                              f"task source {str(source)!r} is a file or folder")
        try:
            path = Path(source)
        except TypeError:
            raise DataError(f"task source must be a name or a path; got {source!r} "
                            f"({type(source).__name__}); accepted: {accepted}") from None
        if path.is_dir():
            raw = read_image_folder(path, image_size=image_size, grayscale=grayscale)
        elif path.is_file():
            suffix = path.suffix.lower()
            if suffix == ".npz":
                raw = read_npz(path)
            elif suffix == ".csv":
                raw = read_csv(path, label_column=label_column)
            else:
                raise DataError(f"unsupported file type {path.suffix or '(none)'!r} for task source {str(source)!r}; "
                                f"accepted: {accepted}")
        else:
            hint = difflib.get_close_matches(str(source).lower(), list_datasets(), n=1)
            did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise DataError(f"unknown task source {str(source)!r}{did_you_mean}: not a built-in data set and no such "
                            f"file or folder; accepted: {accepted}")
        name = path.resolve().name if path.is_dir() else path.stem
    return make_task(raw.X, raw.y, name=name, classes=raw.classes, val_fraction=val_fraction,
                     test_fraction=test_fraction, seed=seed, normalize=normalize, input_scale=raw.input_scale,
                     feature_names=raw.feature_names, info=raw.info)


# --------------------------------------------------------------------------- make_task

def make_task(X: Any, y: Any, *, name: str, classes: Sequence[Any] | None = None, val_fraction: float = 0.15,
              test_fraction: float = 0.15, seed: int = 0, normalize: bool = True, input_scale: float = 1.0,
              feature_names: Sequence[str] | None = None, info: Mapping[str, Any] | None = None) -> Task:
    """Check, encode, split (stratified, seeded) and normalise one data set into a :class:`Task`.

    Labels of any orderable type become ``0..K-1`` in sorted order, with
    ``classes`` naming them; if ``classes`` is given, ``y`` must already hold
    indices into it. ``input_scale`` multiplies raw inputs first (e.g. 1/255
    for 8-bit pixels). With ``normalize``, inputs are standardised with the
    training split's per-feature (tabular) or per-channel (image) mean and
    std; ``info["normalization"]`` records how, for :func:`apply_normalization`.
    ``feature_names`` name tabular columns in messages and ``info``; ``info``
    adds entries (e.g. the source) to the task's ``info``.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"name must be a non-empty string; got {name!r}")
    _check_fractions(val_fraction, test_fraction)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    Xa, layout = _as_samples(X)
    n = len(Xa)
    image = Xa.ndim == 4
    if feature_names is not None and (image or len(feature_names) != Xa.shape[1]):
        raise DataError(f"feature_names has {len(feature_names)} names but X has "
                        f"{'images' if image else f'{Xa.shape[1]} features'}")
    yi, names = _encode_labels(y, n, classes)
    _check_finite(Xa, feature_names)
    counts = np.bincount(yi, minlength=len(names))
    _check_class_counts(counts, names, n, val_fraction, test_fraction)

    tr, va, te = _split(yi, val_fraction, test_fraction, int(seed))
    missing = [(names[k], split) for split, idx in (("train", tr), ("validation", va), ("test", te))
               for k in np.flatnonzero(np.bincount(yi[idx], minlength=len(names)) == 0)]
    if missing:  # _check_class_counts should make this impossible; never hand out a split without a class
        raise DataError(f"split left classes out: {', '.join(f'{c!r} from {s}' for c, s in missing[:_LISTED])}")

    Xa = Xa * float(input_scale)
    norm = _fit_normalization(Xa[tr], image, normalize, float(input_scale))
    mean, std = _broadcastable(norm)
    Xn = ((Xa - mean) / std).astype(np.float32)

    task_info: dict[str, Any] = {"source": "arrays", **(info or {})}
    if layout:
        task_info["layout"] = layout
    if feature_names is not None:
        task_info["features"] = list(feature_names)
    task_info.update({"seed": int(seed), "val_fraction": float(val_fraction), "test_fraction": float(test_fraction),
                      "n_samples": n, "class_counts": {c: int(k) for c, k in zip(names, counts)},
                      "normalization": norm})
    return Task(name=name, X_train=Xn[tr], y_train=yi[tr], X_val=Xn[va], y_val=yi[va], X_test=Xn[te], y_test=yi[te],
                num_classes=len(names), classes=names, info=task_info)


def apply_normalization(X: Any, normalization: Task | Mapping[str, Any]) -> np.ndarray:
    """Prepare new raw inputs the way a task's splits were: ``(x * scale - mean) / std`` as float32.

    ``normalization`` is a :class:`Task` or its ``info["normalization"]``.
    ``X`` is one sample or a batch, channel-first for images and already
    resized to the task's image size.
    """
    norm = normalization.info["normalization"] if isinstance(normalization, Task) else normalization
    x = np.asarray(X, dtype=np.float64) * float(norm["scale"])
    mean, std = _broadcastable(norm)
    width = len(norm["mean"])
    axis = -3 if norm["axis"] == "channel" else -1
    if x.ndim < -axis or x.shape[axis] != width:
        what = f"{width} channels on axis -3 (C, H, W)" if axis == -3 else f"{width} features on the last axis"
        raise DataError(f"inputs of shape {x.shape} do not match the normalisation: expected {what}")
    return ((x - mean) / std).astype(np.float32)


# --------------------------------------------------------------------------- checks and steps

def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    check_number("val_fraction", val_fraction, 0, 1, low_open=True, high_open=True)
    check_number("test_fraction", test_fraction, 0, 1, low_open=True, high_open=True)
    total = val_fraction + test_fraction
    if not total < 1:
        raise ConfigError(f"val_fraction + test_fraction must be in (0, 1) so that training data remains; got "
                        f"{val_fraction} + {test_fraction} = {total:g}")


def _as_samples(X: Any) -> tuple[np.ndarray, str | None]:
    """X as a float64 array ``(n, F)`` or ``(n, C, H, W)``, and a note when its layout was changed."""
    if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1):
        X = _stack_items(X)
    X = np.asarray(X)
    if X.dtype == object:
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise DataError(f"X must be numeric; its object array holds non-numbers ({e})") from None
    if X.dtype.kind not in "biuf":
        example = X.ravel()[0].item() if X.size else None
        raise DataError(f"X must be numeric; got dtype {X.dtype} (e.g. {example!r})")
    if X.ndim < 2 or X.ndim > 4:
        raise DataError(f"X must hold one sample per row: 2-D (n, features) for tabular data, 3-D (n, H, W) or 4-D "
                        f"(n, C, H, W) / (n, H, W, C) for images; got a {X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0 or 0 in X.shape[1:]:
        raise DataError(f"X is empty: shape {X.shape}")
    layout = None
    if X.ndim == 3:
        X, layout = X[:, None], "(n, H, W) read as one-channel images"
    elif X.ndim == 4 and X.shape[1] not in (1, 3) and X.shape[3] in (1, 3):
        X, layout = X.transpose(0, 3, 1, 2), "(n, H, W, C) channel-last, transposed to (n, C, H, W)"
    return X.astype(np.float64), layout


def _stack_items(items: Any) -> np.ndarray:
    """Stack per-sample arrays, naming the first two samples whose shapes differ."""
    arrays = [np.asarray(v) for v in items]
    if not arrays:
        raise DataError("X is empty: no samples")
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise DataError(f"samples in X have different shapes: X[0] has shape {first} but X[{i}] has shape "
                            f"{a.shape}; every sample needs the same shape (resize images to one size first)")
    return np.stack(arrays)


def _encode_labels(y: Any, n: int, classes: Sequence[Any] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as int64 indices ``0..K-1`` plus the class names in index order."""
    try:
        y = np.asarray(y)
    except ValueError as e:
        raise DataError(f"y must be one label per sample; cannot make it an array ({e})") from None
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"y must be 1-D, one label per sample; got shape {y.shape} "
                        f"(for one-hot labels pass y.argmax(axis=1))")
    if len(y) != n:
        raise DataError(f"X and y have different lengths: X has {n} samples but y has {len(y)} labels")
    if y.dtype == object:
        y = _object_labels(y)
    if y.dtype.kind == "c":
        raise DataError(f"labels must be class names or integers; got complex dtype {y.dtype}")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
        if bad.any():
            raise DataError(f"y has {int(bad.sum())} NaN or infinite labels (first at index {int(np.flatnonzero(bad)[0])})")
        frac = y != np.round(y)
        if frac.any():
            example = y[np.flatnonzero(frac)[0]].item()
            raise DataError(f"y holds non-integer values such as {example!r} ({int(frac.sum())} of {n} labels): "
                            f"looks like a regression target, but tasks are classification; bin it into classes")
        y = y.astype(np.int64)
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if len(set(names)) != len(names):
            raise DataError(f"classes has duplicate names: {list(names)}")
        if y.dtype.kind not in "biu":
            raise DataError(f"with classes given, y must hold class indices 0..{len(names) - 1}; got labels of dtype "
                            f"{y.dtype} (e.g. {y[0].item()!r}); leave classes=None to name classes by their labels")
        bad = (y < 0) | (y >= len(names))
        if bad.any():
            raise DataError(f"label {y[np.flatnonzero(bad)[0]].item()!r} is not a class index for the {len(names)} given "
                            f"classes (0..{len(names) - 1})")
        return y.astype(np.int64), names
    uniq, inv = np.unique(y, return_inverse=True)
    names = tuple(str(u) for u in uniq)
    if len(set(names)) != len(names):
        raise DataError(f"labels {list(uniq)} are distinct values with identical names; use one label type")
    return inv.reshape(-1).astype(np.int64), names


def _object_labels(y: np.ndarray) -> np.ndarray:
    """An object array of labels as a numeric or string array; mixed types are an error."""
    if all(isinstance(v, numbers.Real) for v in y):
        return y.astype(np.float64) if any(isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral)
                                           for v in y) else y.astype(np.int64)
    if all(isinstance(v, str) for v in y):
        return y.astype(str)
    kinds = sorted({type(v).__name__ for v in y})
    raise DataError(f"y mixes label types that cannot be ordered ({', '.join(kinds)}); use one type for all labels")


def _check_finite(X: np.ndarray, feature_names: Sequence[str] | None) -> None:
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    n_nan = int(np.isnan(X).sum())
    n_inf = int(bad.sum()) - n_nan
    rows = np.flatnonzero(bad.reshape(len(X), -1).any(axis=1))
    where = f"in {len(rows)} of {len(X)} samples (first at index {int(rows[0])}) before splitting"
    if X.ndim == 2:
        per_col = bad.sum(axis=0)
        cols = np.flatnonzero(per_col)
        label = (lambda j: repr(feature_names[j])) if feature_names is not None else (lambda j: f"feature {j}")
        listed = ", ".join(f"{label(j)} ({int(per_col[j])})" for j in cols[:_LISTED])
        more = f" and {len(cols) - _LISTED} more" if len(cols) > _LISTED else ""
        where += f"; columns: {listed}{more}"
    else:
        per_ch = bad.sum(axis=(0, 2, 3))
        where += "; channels: " + ", ".join(f"{c} ({int(k)})" for c, k in enumerate(per_ch) if k)
    raise DataError(f"X has {n_nan} NaN (missing) and {n_inf} infinite values {where}; fill or drop them first")


def _split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(n_test, n_val) exactly as the two train_test_split calls in :func:`_split` draw them."""
    n_test = math.ceil(test_fraction * n)
    n_val = math.ceil(val_fraction / (1 - test_fraction) * (n - n_test))
    return n_test, n_val


def _class_fits(c: int, n: int, n_test: int, n_val: int) -> bool:
    """Whether a class of ``c`` samples surely lands in all three splits.

    Mirrors scikit-learn's stratified allocation: a class gets the floor or
    the ceiling of its proportional share of the training side of each split.
    """
    n_rest = n - n_test
    n_train = n_rest - n_val
    share = c / n * n_rest
    for keep in {math.floor(share), math.ceil(share)}:
        share2 = keep / n_rest * n_train if n_rest else 0.0
        if c - keep < 1 or math.floor(share2) < 1 or keep - math.ceil(share2) < 1:
            return False
    return True


def _check_class_counts(counts: np.ndarray, names: tuple[str, ...], n: int, val_fraction: float,
                        test_fraction: float) -> None:
    if len(names) < 2:
        found = f"only class {names[0]!r}" if names else "no classes"
        raise DataError(f"a classification task needs at least 2 classes; found {found}")
    n_test, n_val = _split_sizes(n, val_fraction, test_fraction)
    small = [k for k, c in enumerate(counts) if not _class_fits(int(c), n, n_test, n_val)]
    if not small:
        return
    need = next((c for c in range(1, 10 * n + 100) if _class_fits(c, n, n_test, n_val)), None)
    need_text = f"at least {need}" if need is not None else "more data overall"
    listed = ", ".join(f"{names[k]!r} has {int(counts[k])}" for k in small[:_LISTED])
    more = f" and {len(small) - _LISTED} more" if len(small) > _LISTED else ""
    raise DataError(f"too few samples to split: class {listed}{more}; with val_fraction={val_fraction} and "
                    f"test_fraction={test_fraction} each class needs {need_text} so that train, validation and test "
                    f"each get one (collect more samples, merge or drop the class)")


def _split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train / validation / test index arrays: test first, then validation from the rest."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=test_fraction, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=y[rest],
                                  random_state=seed)
    return train, val, test


def _fit_normalization(X_train: np.ndarray, image: bool, normalize: bool, scale: float) -> dict[str, Any]:
    """Per-channel (images) or per-feature (tabular) mean and std of the training split, as JSON-ready lists."""
    axes = (0, 2, 3) if image else (0,)
    width = X_train.shape[1]
    if normalize:
        mean = X_train.mean(axis=axes)
        std = X_train.std(axis=axes)
        lo, hi = X_train.min(axis=axes), X_train.max(axis=axes)
        constant = (hi == lo) | (std <= 1e-12 * np.maximum(1.0, np.abs(mean)))
        # A constant feature would divide by zero: centre it (exactly 0 on train) and leave its scale alone.
        mean = np.where(hi == lo, lo, mean)
        std = np.where(constant, 1.0, std)
    else:
        mean, std, constant = np.zeros(width), np.ones(width), np.zeros(width, dtype=bool)
    axis = "channel" if image else "feature"
    return {"standardized": bool(normalize), "axis": axis, "scale": scale,
            "mean": [float(v) for v in mean], "std": [float(v) for v in std],
            "constant": [int(j) for j in np.flatnonzero(constant)],
            "formula": f"(x * scale - mean) / std per {axis}, fitted on the training split"}


def _broadcastable(norm: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(norm["mean"], dtype=np.float64)
    std = np.asarray(norm["std"], dtype=np.float64)
    if norm["axis"] == "channel":
        mean, std = mean[:, None, None], std[:, None, None]
    return mean, std
