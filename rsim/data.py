"""Classification data for the training experiments, from disk only (nothing is downloaded).

* ``digits``         scikit-learn's bundled 8x8 handwritten digits (1797 images, 64 inputs,
                     10 classes), shipped inside the package: works offline on a fresh machine.
                     A fixed stratified-free random split (seed 0): 1347 train, 450 test.
* ``mnist``          the four IDX files of MNIST in a folder given by the user
* ``fashion_mnist``  Fashion-MNIST, same file names and format as MNIST
* ``cifar10``        the CIFAR-10 "python version" batches (``data_batch_1..5``, ``test_batch``)

Inputs are flattened and scaled to [0, 1] (pixel / max pixel value); labels are int32. Every
dataset is made of images, channel-major: :attr:`Dataset.image_shape` is (channels, rows,
cols) and the flat vector of an example is its image in C order, so :meth:`Dataset.as_images`
is a reshape (digits 1 x 8 x 8, MNIST and Fashion-MNIST 1 x 28 x 28, CIFAR-10 3 x 32 x 32,
whose batches store each image as its R, G, B planes of 1024 pixels). Dense models read the
flat vectors, the conv model the images.
A missing or malformed file raises :class:`DataError` (a :class:`rsim.ConfigError`) whose one
line names the file.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsim.checks import ConfigError
from rsim.schema import DATASETS

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
# IDX type byte -> big-endian numpy dtype (the format stores multi-byte values big-endian).
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# (channels, rows, cols) of each dataset's images as published (read from the files for IDX).
IMAGE_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


class DataError(ConfigError):
    """A data file is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays: inputs ``(n, n_in)`` float32 in [0, 1] (flat vectors) or
    ``(n, *image_shape)`` (images, :meth:`as_images`), labels ``(n,)`` int32."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    # (channels, rows, cols) of the image that each flat vector is, in C order; None if the
    # inputs are not images.
    image_shape: tuple[int, int, int] | None = None

    @property
    def n_in(self) -> int:
        """Inputs per example: the length of a flat vector, or the channels of an image."""
        return self.x_train.shape[1]

    @property
    def is_images(self) -> bool:
        return self.x_train.ndim == 4

    def as_images(self) -> Dataset:
        """The same examples as images ``(n, channels, rows, cols)`` (a reshape, no copy)."""
        if self.is_images:
            return self
        if self.image_shape is None:
            raise DataError(f"dataset={self.name!r} does not hold images")
        return dataclasses.replace(
            self,
            x_train=self.x_train.reshape(len(self.x_train), *self.image_shape),
            x_test=self.x_test.reshape(len(self.x_test), *self.image_shape),
        )


def load(name: str, folder: str | Path | None = None, train_limit: int | None = None) -> Dataset:
    """The dataset ``name`` (``folder`` holds its files unless it is ``digits``); the first
    ``train_limit`` training examples if given."""
    if name == "digits":
        data = digits()
    elif name in ("mnist", "fashion_mnist"):
        data = idx_dataset(name, _folder(folder))
    elif name == "cifar10":
        data = cifar10(_folder(folder))
    else:
        raise ConfigError(f"dataset={name!r} is not allowed; choose one of {', '.join(DATASETS)}")
    if train_limit is not None:
        data = dataclasses.replace(
            data, x_train=data.x_train[:train_limit], y_train=data.y_train[:train_limit]
        )
    return data


def required_files(name: str, folder: str | Path) -> list[Path]:
    """The files ``name`` needs in ``folder`` (an IDX file may also be gzipped: ``.gz``)."""
    folder = _folder(folder)
    if name in ("mnist", "fashion_mnist"):
        return [_idx_file(folder, stem) for stem in IDX_FILES.values()]
    if name == "cifar10":
        root = _cifar_root(folder)
        return [root / f for f in (*CIFAR_TRAIN, CIFAR_TEST)]
    return []


def digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (pixel values 0..16, scaled by 1/16), split at random; a flat
    vector is its 8 x 8 image row by row (``bunch.data`` is ``bunch.images`` flattened)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", x[train], y[train], x[test], y[test], 10, IMAGE_SHAPES["digits"])


# --- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX array: magic (0, 0, type, ndim), ndim big-endian uint32 sizes, then the data.

    ``.gz`` files are decompressed. Raises :class:`DataError` naming the file when it is missing,
    has a bad magic number or type, or holds a number of bytes other than the sizes announce.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise DataError(f"{path}: not a valid gzip file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header truncated ({len(raw)} bytes, {ndim} sizes announced)")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path}: IDX size mismatch: shape {shape} needs {expected} bytes, "
            f"the file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def idx_dataset(name: str, folder: Path) -> Dataset:
    """MNIST or Fashion-MNIST from the four IDX files of ``folder`` (28x28 -> 784 inputs); the
    images are one channel of the rows x cols stored in the files (train and test alike)."""
    arrays = {key: read_idx(_idx_file(folder, stem)) for key, stem in IDX_FILES.items()}
    x_train = _images(arrays["train_images"], _idx_file(folder, IDX_FILES["train_images"]))
    x_test = _images(arrays["test_images"], _idx_file(folder, IDX_FILES["test_images"]))
    y_train = _labels(
        arrays["train_labels"], len(x_train), _idx_file(folder, IDX_FILES["train_labels"]), 10
    )
    y_test = _labels(
        arrays["test_labels"], len(x_test), _idx_file(folder, IDX_FILES["test_labels"]), 10
    )
    train_shape = arrays["train_images"].shape[1:]
    test_shape = arrays["test_images"].shape[1:]
    if train_shape != test_shape:
        raise DataError(
            f"{_idx_file(folder, IDX_FILES['test_images'])}: test images of shape {test_shape}, "
            f"the training images are {train_shape}"
        )
    image_shape = (1, *train_shape) if len(train_shape) == 2 else None
    return Dataset(name, x_train, y_train, x_test, y_test, 10, image_shape)


def _idx_file(folder: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``folder`` (the plain name if neither exists)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return folder / stem


def _images(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim < 2:
        raise DataError(f"{path}: expected images (n, rows, cols), got shape {array.shape}")
    flat = array.reshape(len(array), -1).astype(np.float32)
    return flat / 255.0


def _labels(array: np.ndarray, n: int, path: Path, n_classes: int) -> np.ndarray:
    if array.shape != (n,):
        raise DataError(f"{path}: expected {n} labels, got shape {array.shape}")
    if array.size and not (0 <= array.min() and array.max() < n_classes):
        raise DataError(f"{path}: labels must lie in 0..{n_classes - 1}")
    return array.astype(np.int32)


# --- CIFAR-10 python batches ------------------------------------------------------------------


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds (dicts, lists, bytes, NumPy arrays): a
    pickle can run arbitrary code, and these files come from wherever the user got them."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }  # protocol 2 pickles bytes as _codecs.encode(str)

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: ``data`` (n, 3072) uint8 (R, G, B planes of 32x32) and ``labels``."""
    path = Path(path)
    raw = _read_bytes(path)
    try:
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise DataError(f"{path}: not a CIFAR-10 python batch ({error})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: not a CIFAR-10 python batch (a {type(batch).__name__})")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: a CIFAR-10 batch needs the keys 'data' and 'labels'")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: 'data' must have shape (n, 3072), got {data.shape}")
    return data, _labels(labels, len(data), path, 10)


def cifar10(folder: Path) -> Dataset:
    """CIFAR-10 from ``folder`` (or its ``cifar-10-batches-py`` sub-folder): 3072 inputs, the
    image's R, G and B planes of 32 x 32 pixels one after the other (channel-major)."""
    root = _cifar_root(folder)
    train = [read_cifar_batch(root / name) for name in CIFAR_TRAIN]
    x_test, y_test = read_cifar_batch(root / CIFAR_TEST)
    x_train = np.concatenate([x for x, _ in train]).astype(np.float32) / 255.0
    y_train = np.concatenate([y for _, y in train])
    x_test = x_test.astype(np.float32) / 255.0
    return Dataset("cifar10", x_train, y_train, x_test, y_test, 10, IMAGE_SHAPES["cifar10"])


def _cifar_root(folder: Path) -> Path:
    nested = folder / "cifar-10-batches-py"
    return nested if nested.is_dir() else folder


# --- files ------------------------------------------------------------------------------------


def _folder(folder: str | Path | None) -> Path:
    if folder is None or not str(folder):
        raise ConfigError("data_dir is not set; give the folder that holds the dataset's files")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ConfigError(f"data_dir={str(folder)!r} is not a folder")
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing data file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
