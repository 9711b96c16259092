"""Tasks from arrays, built-ins, .npz, CSV and image folders: splits, normalisation, and errors on bad data."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import numpy as np
import pytest

from nasforge.data import DataError, Task, apply_normalization, list_datasets, load_task, make_task
from nasforge.errors import ConfigError


def _blobs(n_per_class: int = 20, k: int = 3, f: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_per_class * k, f)) * np.arange(1, f + 1) + 5
    y = np.repeat(np.arange(k), n_per_class)
    return X, y


def _splits(task: Task) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": (task.X_train, task.y_train), "val": (task.X_val, task.y_val), "test": (task.X_test, task.y_test)}


@pytest.fixture(scope="module")
def digits() -> Task:
    return load_task("digits")


# --------------------------------------------------------------------------- built-in digits

def test_list_datasets_has_digits() -> None:
    assert "digits" in list_datasets()


def test_digits_shapes_and_types(digits: Task) -> None:
    assert digits.input_shape == (1, 8, 8) and digits.kind == "image"
    assert digits.num_classes == 10 and digits.classes == tuple(str(i) for i in range(10))
    assert len(digits.y_train) + len(digits.y_val) + len(digits.y_test) == 1797
    for X, y in _splits(digits).values():
        assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == (len(y), 1, 8, 8)
    assert digits.info["source"] == "sklearn.datasets.load_digits"
    assert digits.info["seed"] == 0 and digits.info["val_fraction"] == 0.15 and digits.info["test_fraction"] == 0.15


def test_digits_split_is_stratified(digits: Task) -> None:
    overall = np.bincount(np.concatenate([digits.y_train, digits.y_val, digits.y_test])) / 1797
    for part, (_, y) in _splits(digits).items():
        share = np.bincount(y, minlength=10) / len(y)
        assert share.min() > 0, part
        np.testing.assert_allclose(share, overall, atol=0.01, err_msg=part)
    assert abs(len(digits.y_test) / 1797 - 0.15) < 0.01 and abs(len(digits.y_val) / 1797 - 0.15) < 0.01


def test_digits_pixels_scaled_by_16_before_normalisation() -> None:
    raw = load_task("digits", normalize=False)
    assert raw.X_train.min() == 0.0 and raw.X_train.max() == 1.0
    assert raw.info["normalization"]["scale"] == 1 / 16


# --------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_arrays() -> None:
    X, y = _blobs()
    a, b = make_task(X, y, name="t", seed=3), make_task(X, y, name="t", seed=3)
    for (xa, ya), (xb, yb) in zip(_splits(a).values(), _splits(b).values()):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert a.info == b.info


def test_different_seed_gives_different_split(digits: Task) -> None:
    other = load_task("digits", seed=1)
    assert not np.array_equal(digits.X_test, other.X_test)
    assert load_task("digits", seed=0).info["normalization"] == digits.info["normalization"]


# --------------------------------------------------------------------------- normalisation

def test_image_normalisation_uses_training_statistics(digits: Task) -> None:
    raw = load_task("digits", normalize=False)  # same seed: same split, same order
    norm = digits.info["normalization"]
    assert norm["axis"] == "channel" and norm["standardized"]
    assert norm["mean"][0] == pytest.approx(raw.X_train.mean(), rel=1e-5)
    assert norm["std"][0] == pytest.approx(raw.X_train.std(), rel=1e-5)
    assert abs(digits.X_train.mean()) < 1e-4 and digits.X_train.std() == pytest.approx(1.0, abs=1e-4)
    # validation and test use the training statistics, not their own
    np.testing.assert_allclose(digits.X_val, (raw.X_val - norm["mean"][0]) / norm["std"][0], atol=1e-5)
    assert digits.X_test.mean() != pytest.approx(0.0, abs=1e-6)


def test_tabular_normalisation_per_feature_and_constant_features() -> None:
    X, y = _blobs(f=4)
    X[:, 2] = 7.0  # constant feature
    task = make_task(X, y, name="tab")
    norm = task.info["normalization"]
    assert norm["axis"] == "feature" and norm["constant"] == [2]
    np.testing.assert_allclose(task.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(task.X_train.std(axis=0), [1, 1, 0, 1], atol=1e-5)
    assert norm["mean"][2] == 7.0 and norm["std"][2] == 1.0
    raw = make_task(X, y, name="tab", normalize=False)
    np.testing.assert_allclose(norm["mean"], raw.X_train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(apply_normalization(raw.X_test, task), task.X_test, atol=1e-5)
    np.testing.assert_allclose(apply_normalization(raw.X_test[0], norm), task.X_test[0], atol=1e-5)


def test_apply_normalization_rejects_wrong_width(digits: Task) -> None:
    with pytest.raises(DataError, match="expected 1 channels"):
        apply_normalization(np.zeros((2, 3, 8, 8)), digits)


# --------------------------------------------------------------------------- labels

def test_string_labels_map_to_sorted_indices() -> None:
    X, y = _blobs(k=3)
    names = np.array(["zebra", "ant", "moth"])[y]
    task = make_task(X, names, name="s")
    assert task.classes == ("ant", "moth", "zebra") and task.num_classes == 3
    assert task.info["class_counts"] == {"ant": 20, "moth": 20, "zebra": 20}


def test_integral_float_labels_are_classes() -> None:
    X, y = _blobs(k=2)
    task = make_task(X, y.astype(float) * 3 + 1, name="f")
    assert task.classes == ("1", "4")


def test_classes_name_integer_labels() -> None:
    X, y = _blobs(k=3)
    task = make_task(X, y, name="c", classes=["a", "b", "c"])
    assert task.classes == ("a", "b", "c")


# --------------------------------------------------------------------------- npz

@pytest.mark.parametrize("shape, expected", [
    ((48, 5), (5,)),
    ((48, 6, 7), (1, 6, 7)),
    ((48, 3, 6, 7), (3, 6, 7)),
    ((48, 6, 7, 3), (3, 6, 7)),
    ((48, 6, 7, 1), (1, 6, 7)),
])
def test_npz_layouts(tmp_path: Path, shape: tuple[int, ...], expected: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "arrays.npz"
    np.savez(path, X=rng.random(shape), y=np.arange(48) % 3)
    task = load_task(path)
    assert task.input_shape == expected and task.name == "arrays" and task.num_classes == 3
    assert task.info["source"] == str(path)


def test_npz_channel_last_is_transposed_not_reshaped(tmp_path: Path) -> None:
    i, h, w, c = np.meshgrid(np.arange(24), np.arange(4), np.arange(5), np.arange(3), indexing="ij")
    np.savez(tmp_path / "cl.npz", X=i * 1000 + c * 100 + h * 10 + w, y=np.arange(24) % 2)
    task = load_task(tmp_path / "cl.npz", val_fraction=0.25, test_fraction=0.25, normalize=False)
    x = task.X_train[0]
    assert x.shape == (3, 4, 5)
    np.testing.assert_array_equal(x - x[0, 0, 0], (c * 100 + h * 10 + w)[0].transpose(2, 0, 1))
    assert "channel-last" in task.info["layout"]


def test_npz_object_array_of_equal_images_and_class_names(tmp_path: Path) -> None:
    X = np.empty(24, dtype=object)
    for k in range(24):
        X[k] = np.full((4, 4), k, dtype=np.uint8)
    np.savez(tmp_path / "obj.npz", X=X, y=np.arange(24) % 2, classes=np.array(["cat", "dog"]))
    task = load_task(tmp_path / "obj.npz", val_fraction=0.25, test_fraction=0.25)
    assert task.input_shape == (1, 4, 4) and task.classes == ("cat", "dog")


# --------------------------------------------------------------------------- CSV

def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join(",".join(str(v) for v in r) for r in [header, *rows]) + "\n")
    return path


def test_csv_string_labels_and_label_column(tmp_path: Path) -> None:
    X, y = _blobs(k=3, f=2)
    species = np.array(["setosa", "virginica", "versicolor"])[y]
    path = _write_csv(tmp_path / "iris.csv", ["width", "species", "length"],
                      [[a, s, b] for (a, b), s in zip(X, species)])
    task = load_task(path, label_column="species")
    assert task.input_shape == (2,) and task.kind == "tabular"
    assert task.classes == ("setosa", "versicolor", "virginica")
    assert task.info["features"] == ["width", "length"] and task.info["label_column"] == "species"
    assert task.name == "iris"


def test_csv_default_label_column_with_integer_labels(tmp_path: Path) -> None:
    X, y = _blobs(k=2, f=3)
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "c", "label"], [[*row, lab] for row, lab in zip(X, y)])
    task = load_task(str(path))
    assert task.classes == ("0", "1") and task.input_shape == (3,)


# --------------------------------------------------------------------------- image folders

def _write_image_folder(root: Path, per_class: int = 8) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    sizes = [(10, 12), (16, 16), (7, 20)]
    for k, cls in enumerate(["cat", "dog", "owl"]):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            h, w = sizes[(i + k) % 3]
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("top-level file")
    return root


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_image_folder(tmp_path_factory.mktemp("imgs") / "pets")


def test_image_folder_rgb_resized(image_folder: Path) -> None:
    task = load_task(image_folder, image_size=16)
    assert task.input_shape == (3, 16, 16) and task.classes == ("cat", "dog", "owl") and task.name == "pets"
    assert len(task.y_train) + len(task.y_val) + len(task.y_test) == 24
    assert task.info["normalization"]["scale"] == 1 / 255
    assert task.info["n_ignored_files"] == 2
    assert set(task.info["ignored_files"]) == {"README.md", "cat/notes.txt"}


def test_image_folder_grayscale_and_rectangular_size(image_folder: Path) -> None:
    task = load_task(image_folder, image_size=(6, 10), grayscale=True)
    assert task.input_shape == (1, 6, 10) and task.info["color"] == "grayscale"


# --------------------------------------------------------------------------- bad data

def test_error_is_a_value_error() -> None:
    assert issubclass(DataError, ValueError)


def test_bad_x_one_dimensional() -> None:
    with pytest.raises(DataError, match=r"1-D array of shape \(10,\)"):
        make_task(np.arange(10.0), np.arange(10) % 2, name="t")


def test_bad_x_and_y_lengths() -> None:
    X, y = _blobs()
    with pytest.raises(DataError, match="X has 60 samples but y has 59 labels"):
        make_task(X, y[:-1], name="t")


def test_bad_npz_images_of_different_sizes(tmp_path: Path) -> None:
    X = np.empty(24, dtype=object)
    for k in range(24):
        X[k] = np.zeros((8, 8) if k != 5 else (10, 8))
    np.savez(tmp_path / "ragged.npz", X=X, y=np.arange(24) % 2)
    with pytest.raises(DataError, match=r"X\[0\] has shape \(8, 8\) but X\[5\] has shape \(10, 8\)"):
        load_task(tmp_path / "ragged.npz")


def test_bad_npz_pickled_foreign_objects_are_refused(tmp_path: Path) -> None:
    X = np.empty(2, dtype=object)
    X[0], X[1] = datetime.date(2020, 1, 1), datetime.date(2021, 1, 1)
    np.savez(tmp_path / "evil.npz", X=X, y=np.arange(2))
    with pytest.raises(DataError, match="datetime.date"):
        load_task(tmp_path / "evil.npz")


def test_bad_npz_missing_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "noy.npz", X=np.zeros((4, 2)), labels=np.arange(4))
    with pytest.raises(DataError, match=r"no array named 'y'; arrays found: 'X', 'labels'"):
        load_task(tmp_path / "noy.npz")


def test_bad_csv_missing_label_column_lists_columns(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "target"], [[1, 2, 0], [3, 4, 1]])
    with pytest.raises(DataError, match="no column named 'label'; columns found: a, b, target"):
        load_task(path)


def test_bad_csv_without_header(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", ["1.0", "2.0", "0"], [[3, 4, 1]])
    with pytest.raises(DataError, match="no header row"):
        load_task(path)


def test_bad_csv_non_numeric_feature_names_column(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", ["size", "color", "label"], [[1, "red", "a"], [2, "blue", "b"]])
    with pytest.raises(DataError, match=r"column 'color' is not numeric \(value 'red' on line 2\)"):
        load_task(path)


def test_bad_csv_missing_value_names_column(tmp_path: Path) -> None:
    X, y = _blobs(k=2, f=2)
    rows = [[a, b, lab] for (a, b), lab in zip(X, y)]
    rows[3][1] = ""
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "label"], rows)
    with pytest.raises(DataError, match=r"1 missing or NaN and 0 infinite .*'b' \(1, first on line 5\)"):
        load_task(path)


def test_bad_regression_target() -> None:
    X, _ = _blobs()
    with pytest.raises(DataError, match=r"non-integer values such as 0\.5.*looks like a regression target"):
        make_task(X, np.r_[0.5, np.ones(len(X) - 1)], name="t")


def test_bad_nan_and_inf_counted_per_column() -> None:
    X, y = _blobs(f=4)
    X[[1, 4], 2] = np.nan
    X[7, 0] = np.inf
    with pytest.raises(DataError, match=r"2 NaN .* and 1 infinite values in 3 of 60 samples.*feature 0 \(1\), feature 2 \(2\)"):
        make_task(X, y, name="t")


def test_bad_nan_in_images_names_channel() -> None:
    X = np.zeros((30, 3, 4, 4))
    X[2, 1, 0, 0] = np.nan
    with pytest.raises(DataError, match=r"1 NaN .*channels: 1 \(1\)"):
        make_task(X, np.arange(30) % 2, name="t")


def test_bad_class_too_small_names_class_count_and_minimum() -> None:
    X, y = _blobs(k=3)
    labels = np.array(["a", "b", "c"])[y]
    labels[:17] = "b"  # class 'a' keeps 3 samples
    with pytest.raises(DataError, match=r"class 'a' has 3; .* needs at least 8"):
        make_task(X, labels, name="t")


def test_bad_class_too_small_minimum_depends_on_fractions() -> None:
    X, y = _blobs(k=2, n_per_class=30)
    y[:25] = 1  # class 0 keeps 5
    make_task(X, y, name="t", val_fraction=0.3, test_fraction=0.3)  # 5 suffice for 0.3 / 0.3
    with pytest.raises(DataError, match=r"class '0' has 5; .* at least 10"):
        make_task(X, y, name="t", val_fraction=0.1, test_fraction=0.2)


@pytest.mark.parametrize("val, test, expected", [
    (0.0, 0.15, "val_fraction must be a number > 0 and < 1, got 0.0"),
    (0.15, 0.0, "test_fraction must be a number > 0 and < 1, got 0.0"),
    (-0.1, 0.2, "val_fraction must be a number > 0 and < 1, got -0.1"),
    (0.15, 1.0, "test_fraction must be a number > 0 and < 1, got 1.0"),
    (True, 0.2, "val_fraction must be a number > 0 and < 1, got True"),
    (0.7, 0.5, "val_fraction + test_fraction must be in (0, 1) so that training data remains; got 0.7 + 0.5 = 1.2"),
])
def test_bad_fractions(val: float, test: float, expected: str) -> None:
    X, y = _blobs()
    with pytest.raises(ConfigError, match=re.escape(expected)):
        make_task(X, y, name="t", val_fraction=val, test_fraction=test)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0"])
def test_bad_seed(seed: object) -> None:
    X, y = _blobs()
    with pytest.raises(ConfigError, match=re.escape(f"seed must be an integer in [0, 4294967295], got {seed!r}")):
        make_task(X, y, name="t", seed=seed)


@pytest.mark.parametrize("size", [0, -3, (6,), (6, 0), (6, 10, 3), 2.5, "32", True])
def test_bad_image_size(image_folder: Path, size: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"image_size must be an integer >= 1 or a (height, width) "
                                                    f"pair of them, got {size!r}")):
        load_task(image_folder, image_size=size)


def test_bad_fraction_sum_message() -> None:
    X, y = _blobs()
    with pytest.raises(ConfigError, match=r"val_fraction \+ test_fraction must be in \(0, 1\).*0\.6 \+ 0\.4 = 1"):
        make_task(X, y, name="t", val_fraction=0.6, test_fraction=0.4)


def test_bad_single_class() -> None:
    X, _ = _blobs()
    with pytest.raises(DataError, match="at least 2 classes; found only class 'x'"):
        make_task(X, ["x"] * len(X), name="t")


def test_bad_class_index_out_of_range() -> None:
    X, y = _blobs(k=3)
    with pytest.raises(DataError, match=r"label 2 is not a class index for the 2 given classes"):
        make_task(X, y, name="t", classes=["a", "b"])


def test_bad_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no class sub-folders"):
        load_task(tmp_path / "empty")


def test_bad_class_folder_without_images(tmp_path: Path) -> None:
    root = _write_image_folder(tmp_path / "imgs", per_class=1)
    (root / "fox").mkdir()
    (root / "fox" / "list.txt").write_text("x")
    with pytest.raises(DataError, match=r"class folder .*fox has no images"):
        load_task(root)


def test_bad_unreadable_image_names_file(tmp_path: Path) -> None:
    root = _write_image_folder(tmp_path / "imgs", per_class=1)
    (root / "dog" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"cannot read image .*dog.broken\.png"):
        load_task(root)


def test_bad_unknown_source_names_it_and_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"unknown task source 'digitz' \(did you mean 'digits'\?\).*accepted: .*\.npz"):
        load_task("digitz")


def test_bad_unsupported_file_type(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(DataError, match=r"unsupported file type '\.json'.*accepted"):
        load_task(tmp_path / "data.json")
