"""Data loaders: the bundled digits, IDX (MNIST / Fashion-MNIST) and CIFAR-10 python batches,
on tiny files written in those formats; missing and malformed files are named in the error."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from rsim import data
from rsim.checks import ConfigError
from rsim.experiments.training import TrainSpec


def write_idx(path, array: np.ndarray, type_byte: int = 0x08) -> None:
    """IDX: 0, 0, type, ndim, the sizes as big-endian uint32, then the values big-endian."""
    header = bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(data.IDX_TYPES[type_byte]).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def write_mnist(folder, n_train=6, n_test=4, gz_labels=True):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 5, 3)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 5, 3)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    for key, stem in data.IDX_FILES.items():
        name = stem + (".gz" if gz_labels and "labels" in key else "")
        write_idx(folder / name, arrays[key])
    return arrays


def write_cifar(folder, n=3):
    rng = np.random.default_rng(1)
    batches = {}
    for name in (*data.CIFAR_TRAIN, data.CIFAR_TEST):
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    return batches


def test_digits_is_bundled_split_and_scaled():
    digits = data.load("digits")
    assert digits.x_train.shape == (1348, 64) and digits.x_test.shape == (449, 64)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int32
    assert 0 <= digits.x_train.min() and digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_train)) == set(range(10)) and digits.n_classes == 10
    assert digits.n_in == 64 and digits.image_shape == (1, 8, 8)
    again = data.load("digits", train_limit=200)
    np.testing.assert_array_equal(again.x_train, digits.x_train[:200])
    np.testing.assert_array_equal(again.y_test, digits.y_test)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_loader_reads_plain_and_gzipped_files(tmp_path, name):
    arrays = write_mnist(tmp_path)
    loaded = data.load(name, tmp_path)
    assert loaded.name == name and loaded.n_in == 15
    np.testing.assert_allclose(
        loaded.x_train, arrays["train_images"].reshape(6, 15) / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(loaded.y_test, arrays["test_labels"])
    assert loaded.x_test.shape == (4, 15)


def test_idx_reads_other_types_big_endian(tmp_path):
    values = np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
    write_idx(tmp_path / "a.idx", values, 0x0C)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.idx"), values)


def test_missing_and_malformed_idx_files_are_named(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.unlink()
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte.*missing"):
        data.load("mnist", tmp_path)

    images = tmp_path / "train-images-idx3-ubyte"
    raw = images.read_bytes()
    images.write_bytes(raw[:-1])  # one byte short
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte: IDX size mismatch"):
        data.read_idx(images)
    images.write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte: not an IDX file"):
        data.read_idx(images)
    bad_gzip = tmp_path / "x.gz"
    bad_gzip.write_bytes(b"not gzip")
    with pytest.raises(data.DataError, match="x.gz: not a valid gzip"):
        data.read_idx(bad_gzip)


def test_labels_must_match_the_images(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5))  # 6 images
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte.gz: expected 6 labels"):
        data.load("mnist", tmp_path)


def test_cifar_loader_reads_python_batches(tmp_path):
    nested = tmp_path / "cifar-10-batches-py"
    nested.mkdir()
    batches = write_cifar(nested)
    loaded = data.load("cifar10", tmp_path)  # the sub-folder is found
    assert loaded.x_train.shape == (15, 3072) and loaded.x_test.shape == (3, 3072)
    np.testing.assert_allclose(loaded.x_test, batches["test_batch"][b"data"] / 255.0, rtol=1e-6)
    assert loaded.y_train.tolist() == sum((batches[n][b"labels"] for n in data.CIFAR_TRAIN), [])


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malformed_cifar_batches_are_named_and_code_is_never_run(tmp_path, capsys):
    write_cifar(tmp_path)
    target = tmp_path / "data_batch_3"
    target.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(data.DataError, match=r"data_batch_3: 'data' must have shape \(n, 3072\)"):
        data.load("cifar10", tmp_path)
    target.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(data.DataError, match="data_batch_3: not a CIFAR-10 python batch"):
        data.read_cifar_batch(target)
    assert "pwned" not in capsys.readouterr().out
    target.write_bytes(b"garbage")
    with pytest.raises(data.DataError, match="data_batch_3"):
        data.read_cifar_batch(target)


# --- images: each dataset read as (channels, rows, cols) ----------------------------------------


def test_digits_as_images_are_sklearns_8x8_images():
    from sklearn.datasets import load_digits

    digits = data.load("digits")
    images = digits.as_images()
    assert digits.image_shape == (1, 8, 8) and images.x_train.shape == (1348, 1, 8, 8)
    assert images.n_in == 1 and images.x_test.shape == (449, 1, 8, 8)
    order = np.random.default_rng(0).permutation(1797)  # data.digits's split: 449 test first
    bunch = load_digits()
    np.testing.assert_array_equal(images.x_train[:, 0], (bunch.images[order[449:]] / 16.0))
    np.testing.assert_array_equal(images.x_test[:, 0], (bunch.images[order[:449]] / 16.0))
    # A known pixel: row 2, column 5 of the first training image is entry 2 * 8 + 5.
    assert (
        images.x_train[0, 0, 2, 5] == digits.x_train[0, 21] == bunch.images[order[449], 2, 5] / 16
    )


def test_idx_images_keep_rows_and_columns(tmp_path):
    arrays = write_mnist(tmp_path)  # 5 x 3 images
    arrays["train_images"][:] = 0
    arrays["train_images"][2, 4, 1] = 255
    write_idx(tmp_path / data.IDX_FILES["train_images"], arrays["train_images"])
    loaded = data.load("mnist", tmp_path)
    images = loaded.as_images()
    assert loaded.image_shape == (1, 5, 3) and images.x_train.shape == (6, 1, 5, 3)
    assert images.x_train[2, 0, 4, 1] == 1.0 and images.x_train.sum() == 1.0
    assert images.x_test.shape == (4, 1, 5, 3)
    assert data.IMAGE_SHAPES["mnist"] == data.IMAGE_SHAPES["fashion_mnist"] == (1, 28, 28)


def test_cifar_images_are_channel_major(tmp_path):
    batches = write_cifar(tmp_path)
    pixel = np.zeros(3072, np.uint8)
    pixel[1 * 1024 + 5 * 32 + 7] = 255  # green plane, row 5, column 7
    batches["test_batch"][b"data"][0] = pixel
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batches["test_batch"], protocol=2))
    images = data.load("cifar10", tmp_path).as_images()
    assert images.image_shape == (3, 32, 32) and images.x_train.shape == (15, 3, 32, 32)
    assert images.n_in == 3
    assert images.x_test[0, 1, 5, 7] == 1.0 and images.x_test[0].sum() == 1.0
    red = batches["data_batch_2"][b"data"][1, :1024].reshape(32, 32) / 255.0
    np.testing.assert_allclose(images.x_train[4, 0], red, rtol=1e-6)  # batch 2, image 1


def test_flat_vectors_are_not_images():
    flat = data.Dataset("x", np.zeros((2, 6), np.float32), np.zeros(2), np.zeros((1, 6)), [0], 2)
    with pytest.raises(data.DataError, match="dataset='x' does not hold images"):
        flat.as_images()


def test_idx_test_images_must_have_the_training_images_shape(tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / data.IDX_FILES["test_images"], np.zeros((4, 3, 5), np.uint8))
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte: test images of shape"):
        data.load("mnist", tmp_path)


def test_conv_refuses_images_of_another_side(tmp_path):
    from rsim.experiments.training import train_grid

    write_mnist(tmp_path)  # 5 x 3 images
    options = dict(model="conv", width=2, depth=2, betas=[0.5], lrs=[0.1], batch_size=2)
    job = TrainSpec.from_config(
        {**options, "dataset": "mnist", "data_dir": str(tmp_path), "image_size": 28}
    )
    with pytest.raises(ConfigError, match="^image_size=28 .*the 5 x 3 images of dataset=mnist$"):
        train_grid(job, data.load("mnist", tmp_path))


def test_an_incomplete_copy_in_data_dir_is_fetched_into_the_cache(tmp_path, monkeypatch):
    write_cifar(tmp_path)
    (tmp_path / "test_batch").unlink()
    assert data.dataset_folder("cifar10", tmp_path) == tmp_path / "cifar10"
    url = "http://127.0.0.1:9/"  # the discard port: nothing answers
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    message = (
        f"^dataset=cifar10: cannot download {url}cifar-10-python.tar.gz .*in {tmp_path}/cifar10"
    )
    with pytest.raises(ConfigError, match=message):
        TrainSpec.from_config({"dataset": "cifar10", "data_dir": str(tmp_path), "data_url": url})
    assert not (tmp_path / "cifar10").exists()
