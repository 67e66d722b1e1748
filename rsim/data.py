"""Classification data for the training experiments, fetched and verified on first use.

* ``digits``         scikit-learn's bundled 8x8 handwritten digits (1797 images, 64 inputs,
                     10 classes), shipped inside the package: works offline on a fresh machine.
                     A fixed stratified-free random split (seed 0): 1348 train, 449 test.
* ``mnist``          MNIST: the four gzipped IDX files as published
* ``fashion_mnist``  Fashion-MNIST, same file names and format as MNIST
* ``cifar10``        CIFAR-10, the "python version" archive ``cifar-10-python.tar.gz``, whose
                     batches (``data_batch_1..5``, ``test_batch``) are extracted beside it

**Fetching** (:func:`fetch`; :func:`load` calls it). ``data_dir`` (default
:data:`rsim.schema.DATA_DIR`) is a cache: dataset ``name`` lives in ``<data_dir>/<name>/``.
Missing files are downloaded (by pooch, a progress bar when stderr is a terminal) from the
publisher's mirror in :data:`SOURCES`, or from the base URL ``data_url`` (a mirror, e.g. a
cluster's shared copy: ``<data_url>/<file name>``), by ``pooch.retrieve``, which checks the
download against the SHA-256 pinned in :data:`SOURCES` before it takes its name. Files
already there are checked once per process and used without touching the network. A checksum
mismatch is refused naming the file, the expected and the actual hash, and the bad file is
removed; a download that fails (offline, a dead mirror) is refused in one line that names the
files, the URL and the folder to put them in, and leaves nothing behind. A folder ``data_dir`` that
itself holds a complete copy (the files placed there by hand: IDX files plain or ``.gz``,
the CIFAR batches in it or in its ``cifar-10-batches-py/``) is read as it is, unchecked.

**Content hash** (:func:`data_sha256`). Whatever their origin (downloaded, or placed or
edited by hand), the files a dataset is read from (:func:`required_files`) are hashed: one
SHA-256 over each file's name and SHA-256, which a training job's identity includes, so that
new files make a new job. A file is hashed once per process while its size and modification
time are unchanged.

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
import hashlib
import io
import logging
import pickle
import re
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsim import schema
from rsim.checks import ConfigError
from rsim.schema import DATASETS

log = logging.getLogger(__name__)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"  # the archive's one folder, holding the batches
# IDX type byte -> big-endian numpy dtype (the format stores multi-byte values big-endian).
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# (channels, rows, cols) of each dataset's images as published (read from the files for IDX).
IMAGE_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


@dataclass(frozen=True)
class Source:
    """Where a dataset's files are published (``url`` + file name) and the SHA-256 of each."""

    url: str
    sha256: dict[str, str]


# The files as their publishers distribute them, with their SHA-256 sums as published by
# torchvision, tensorflow-datasets and keras (MNIST: 9912422, 28881, 1648877 and 4542 bytes;
# Fashion-MNIST: 26421880, 29515, 4422102 and 5148; CIFAR-10: 170498071). MNIST's own site
# (yann.lecun.com) no longer serves it reliably: PyTorch's mirror of the same files.
SOURCES = {
    "mnist": Source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        },
    ),
    "fashion_mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
            ),
            "train-labels-idx1-ubyte.gz": (
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
            ),
        },
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/",
        {CIFAR_ARCHIVE: "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"},
    ),
}
_DOWNLOAD_CHUNK = 1 << 20  # bytes read from the network at a time


class DataError(ConfigError):
    """A data file is missing, malformed or not the published one, or cannot be fetched; the
    message names the file."""


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays: inputs ``(n, n_in)`` float32 in [0, 1] (flat vectors) or
    ``(n, *image_shape)`` (images, :meth:`as_images`), labels ``(n,)`` int32.

    Example:
        >>> data = digits()
        >>> data.x_train.shape, data.x_test.shape, data.n_classes, data.n_in
        ((1348, 64), (449, 64), 10, 64)
        >>> data.as_images().x_train.shape, data.as_images().n_in
        ((1348, 1, 8, 8), 1)
    """

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
        """Inputs per example: the length of a flat vector, or the channels of an image.

        Returns:
            ``x_train.shape[1]``.
        """
        return self.x_train.shape[1]

    @property
    def is_images(self) -> bool:
        """Whether the inputs are images ``(n, channels, rows, cols)``.

        Returns:
            True after :meth:`as_images`.
        """
        return self.x_train.ndim == 4

    def as_images(self) -> Dataset:
        """The same examples as images ``(n, channels, rows, cols)`` (a reshape, no copy).

        Returns:
            The dataset with image inputs.

        Raises:
            DataError: the inputs are not images (no ``image_shape``).
        """
        if self.is_images:
            return self
        if self.image_shape is None:
            raise DataError(f"dataset={self.name!r} does not hold images")
        return dataclasses.replace(
            self,
            x_train=self.x_train.reshape(len(self.x_train), *self.image_shape),
            x_test=self.x_test.reshape(len(self.x_test), *self.image_shape),
        )


def load(
    name: str,
    data_dir: str | Path | None = schema.DATA_DIR,
    train_limit: int | None = None,
    data_url: str | None = None,
) -> Dataset:
    """The dataset ``name``, fetched into the cache ``data_dir`` first if it is not there
    (:func:`fetch`; ``digits`` is bundled); the first ``train_limit`` training examples if
    given.

    Args:
        name: ``digits``, ``mnist``, ``fashion_mnist`` or ``cifar10``.
        data_dir: the cache folder (None: the default).
        train_limit: keep the first this many training examples (None: all).
        data_url: a mirror's base URL (None: the publisher's).

    Returns:
        The :class:`Dataset`.

    Raises:
        ConfigError: an unknown name; :class:`DataError` for a file that cannot be fetched
            or read.

    Example:
        >>> data = load("digits", train_limit=100)
        >>> data.name, len(data.x_train), len(data.x_test)
        ('digits', 100, 449)
    """
    if name == "digits":
        data = digits()
    elif name in ("mnist", "fashion_mnist"):
        data = _idx_dataset(name, fetch(name, data_dir, data_url))
    elif name == "cifar10":
        data = cifar10(fetch(name, data_dir, data_url))
    else:
        raise ConfigError(f"dataset={name!r} is not allowed; choose one of {', '.join(DATASETS)}")
    if train_limit is not None:
        data = dataclasses.replace(
            data, x_train=data.x_train[:train_limit], y_train=data.y_train[:train_limit]
        )
    return data


def required_files(name: str, folder: str | Path) -> list[Path]:
    """The files ``name`` reads in ``folder`` (an IDX file may also be gzipped: ``.gz``; the
    CIFAR batches may lie in ``cifar-10-batches-py/``).

    Args:
        name: the dataset.
        folder: the folder it is read from.

    Returns:
        The paths (none for ``digits``, which is bundled).

    Example:
        >>> [p.name for p in required_files("mnist", "data")][:2]
        ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte']
        >>> required_files("digits", "data")
        []
    """
    folder = Path(folder)
    if name in ("mnist", "fashion_mnist"):
        return [_idx_file(folder, stem) for stem in IDX_FILES.values()]
    if name == "cifar10":
        root = _cifar_root(folder)
        return [root / f for f in (*CIFAR_TRAIN, CIFAR_TEST)]
    return []


def digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (pixel values 0..16, scaled by 1/16), split at random; a flat
    vector is its 8 x 8 image row by row (``bunch.data`` is ``bunch.images`` flattened).

    Args:
        test_fraction: the share of the examples kept for the test set.
        seed: the seed of the split.

    Returns:
        The :class:`Dataset` (64 inputs, 10 classes).

    Example:
        >>> data = digits(test_fraction=0.5)
        >>> len(data.x_train), len(data.x_test), float(data.x_train.max())
        (899, 898, 1.0)
    """
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

    Args:
        path: an IDX file, plain or ``.gz``.

    Returns:
        The array, of the shape and type the header gives.

    Raises:
        DataError: a missing or malformed file.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp) / "labels-idx1-ubyte"
        ...     _ = path.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 4]))
        ...     print(read_idx(path))
        [7 1 4]
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


def _idx_dataset(name: str, folder: Path) -> Dataset:
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

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: ``data`` (n, 3072) uint8 (R, G, B planes of 32x32) and ``labels``.

    Only dicts, lists, bytes and NumPy arrays are unpickled (a pickle can run code).

    Args:
        path: a batch file (``data_batch_1`` ... ``test_batch``).

    Returns:
        ``(data, labels)``, labels int32.

    Raises:
        DataError: a missing or malformed batch.
    """
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
    image's R, G and B planes of 32 x 32 pixels one after the other (channel-major).

    Args:
        folder: the folder holding the six batches.

    Returns:
        The :class:`Dataset` (50000 training and 10000 test images, 10 classes).

    Raises:
        DataError: a missing or malformed batch.
    """
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


# --- fetching ---------------------------------------------------------------------------------

# The SHA-256 of the files hashed (or downloaded and verified) in this process:
# (path, size, mtime in ns) -> the hash.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _cache_root(data_dir: str | Path | None = schema.DATA_DIR) -> Path:
    """``data_dir`` as a path (``~`` expanded; None: the default); refused if it is a file."""
    root = Path(str(schema.DATA_DIR if data_dir is None else data_dir)).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"data_dir={str(data_dir)!r} is not a folder")
    return root


def dataset_folder(name: str, data_dir: str | Path | None = schema.DATA_DIR) -> Path:
    """The folder ``name`` is read from: ``data_dir`` itself when it holds a complete copy (files
    placed there by hand), else the cache's ``<data_dir>/<name>/``.

    Args:
        name: the dataset.
        data_dir: the cache folder (None: the default).

    Returns:
        The folder.

    Raises:
        ConfigError: ``data_dir`` is a file.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     print(dataset_folder("mnist", tmp).relative_to(tmp))
        mnist
    """
    root = _cache_root(data_dir)
    return root if _complete(name, root) else root / name


def fetch(
    name: str,
    data_dir: str | Path | None = schema.DATA_DIR,
    data_url: str | None = None,
    progressbar: bool | None = None,
) -> Path:
    """The folder holding dataset ``name``'s files, downloading the missing ones first.

    Present files of the cache are checked against :data:`SOURCES`; missing ones are
    downloaded from ``data_url`` (a base URL; None: the publisher's) by ``pooch.retrieve``
    (checked against the pinned hash before the file takes its name); the CIFAR-10
    archive's batches are extracted beside it. A progress bar is drawn when ``progressbar``
    (None: when stderr is a terminal).

    Args:
        name: a dataset of :data:`SOURCES`.
        data_dir: the cache folder (None: the default).
        data_url: a mirror's base URL (None: the publisher's).
        progressbar: draw a progress bar (None: when stderr is a terminal).

    Returns:
        The folder the dataset is read from.

    Raises:
        ConfigError: a dataset without files or a bad ``data_url``.
        DataError: a checksum mismatch (the bad file is removed) or a failed download
            (nothing is left behind).
    """
    if name not in SOURCES:
        raise ConfigError(
            f"dataset={name!r} has no files to fetch; choose one of {', '.join(SOURCES)}"
        )
    source = SOURCES[name]
    base = _source_url(name, data_url)
    folder = dataset_folder(name, data_dir)
    if folder == _cache_root(data_dir):
        return folder  # a copy placed there by hand, read as it is
    present = [f for f in source.sha256 if (folder / f).is_file()]
    for file in present:
        verify(folder / file, source.sha256[file])
    if _complete(name, folder):
        return folder
    import requests

    missing = [f for f in source.sha256 if f not in present]
    if progressbar is None:
        progressbar = sys.stderr.isatty()
    created = _make_folder(folder)
    try:
        for i, file in enumerate(missing):
            try:
                _download(base + file, folder / file, source.sha256[file], progressbar)
            except (OSError, requests.RequestException) as error:  # offline, refused, HTTP 404
                raise DataError(
                    f"dataset={name}: cannot download {base + file} ({_reason(error)}); put "
                    f"{', '.join(missing[i:])} from {base} in {folder}, or give data_url= a mirror"
                ) from None
        if name == "cifar10":
            _extract_cifar(folder / CIFAR_ARCHIVE)
    except BaseException:
        for path in reversed(created):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise
    if missing:
        log.info("fetched %s (checksums verified) into %s", ", ".join(missing), folder)
    return folder


def _source_url(name: str, data_url: str | None = None) -> str:
    """The base URL of ``name``'s files, ending in ``/``: ``data_url``, else the publisher's."""
    base = SOURCES[name].url if data_url is None else str(data_url)
    if not re.match(r"https?://[^/]", base):
        raise ConfigError(
            f"data_url={base!r} is not allowed; give an http:// or https:// base URL (files "
            "already on disk: put them in data_dir)"
        )
    return base if base.endswith("/") else base + "/"


def verify(path: Path, sha256: str) -> None:
    """Check ``path`` against its pinned SHA-256 (hashed once per process while it is
    unchanged, :func:`file_sha256`); on a mismatch remove it and raise :class:`DataError`
    naming both hashes.

    Args:
        path: the file.
        sha256: its expected SHA-256 (hex).

    Raises:
        DataError: a mismatch (the file is removed) or a missing file.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp) / "a.bin"
        ...     _ = path.write_bytes(b"")
        ...     verify(path, hashlib.sha256(b"").hexdigest())  # passes
        ...     try:
        ...         verify(path, "0" * 64)
        ...     except DataError:
        ...         print("refused; removed:", not path.exists())
        refused; removed: True
    """
    actual = file_sha256(path)
    if actual != sha256:
        path.unlink(missing_ok=True)
        raise DataError(
            f"{path}: checksum mismatch, sha256 expected {sha256}, got {actual}; the file was "
            "removed"
        )


def file_sha256(path: Path) -> str:
    """The SHA-256 of ``path``'s content, hashed once per process while its size and
    modification time (ns) are unchanged. A missing or unreadable file raises
    :class:`DataError` naming it.

    Args:
        path: the file.

    Returns:
        The hex digest.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = Path(tmp) / "a.txt"
        ...     _ = path.write_bytes(b"abc")
        ...     print(file_sha256(path)[:16])
        ba7816bf8f01cfea
    """
    path = Path(path)
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _VERIFIED:
            with path.open("rb") as stream:
                _VERIFIED[key] = hashlib.file_digest(stream, "sha256").hexdigest()
    except FileNotFoundError:
        raise DataError(f"{path}: missing data file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    return _VERIFIED[key]


def data_sha256(name: str, data_dir: str | Path | None = schema.DATA_DIR) -> str | None:
    """The SHA-256 of the files dataset ``name`` is read from (:func:`dataset_folder`,
    :func:`required_files`), None for ``digits`` (bundled): the hash of the lines
    ``<file sha256>  <file name>``, sorted by name (``sha256sum``'s format).

    Args:
        name: the dataset.
        data_dir: the cache folder (None: the default).

    Returns:
        The hex digest, or None for ``digits``.

    Raises:
        DataError: a missing file (named).

    Example:
        >>> data_sha256("digits") is None
        True
    """
    if name not in SOURCES:
        return None
    files = required_files(name, dataset_folder(name, data_dir))
    lines = sorted((path.name, f"{file_sha256(path)}  {path.name}\n") for path in files)
    return hashlib.sha256("".join(line for _, line in lines).encode()).hexdigest()


def _download(url: str, path: Path, sha256: str, progressbar: bool) -> None:
    """``url`` into ``path`` by ``pooch.retrieve``, which downloads into a temporary file
    beside it and renames it only when its SHA-256 is ``sha256``; a mismatch raises
    :class:`DataError` naming both hashes (pooch has removed the download)."""
    import pooch

    bar = None
    if progressbar:
        from tqdm import tqdm

        # total=1 until pooch sets the file's size (a bar of total 0 counts as no bar)
        bar = tqdm(total=1, desc=path.name, unit="B", unit_scale=True, leave=False)
    notes = pooch.get_logger()  # pooch's own logger: its "Downloading ..." note, ours says it
    level = notes.level
    notes.setLevel(logging.WARNING)
    try:
        pooch.retrieve(
            url,
            known_hash=f"sha256:{sha256}",
            fname=path.name,
            path=path.parent,
            downloader=pooch.HTTPDownloader(progressbar=bar or False, chunk_size=_DOWNLOAD_CHUNK),
        )
    except ValueError as error:  # pooch: "... expected <known> but got <actual>. Deleted ..."
        actual = re.search(r"got ([0-9a-f]{64})", str(error))
        raise DataError(
            f"{url}: checksum mismatch, sha256 expected {sha256}, got "
            f"{actual.group(1) if actual else 'another hash'}; the download was removed"
        ) from None
    finally:
        notes.setLevel(level)
        if bar is not None:
            bar.close()
    _VERIFIED[(str(path), path.stat().st_size, path.stat().st_mtime_ns)] = sha256


def _extract_cifar(archive: Path) -> None:
    """The regular files of the archive's ``cifar-10-batches-py/`` into that folder beside
    it, each written atomically (:func:`rsim.results.atomic_write`; nothing else is
    extracted)."""
    from rsim.results import atomic_write

    target = archive.parent / CIFAR_FOLDER
    created = _make_folder(target)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                folder, _, file = member.name.partition("/")
                if member.isfile() and folder == CIFAR_FOLDER and _plain_name(file):
                    payload = tar.extractfile(member).read()
                    atomic_write(target / file, lambda tmp, data=payload: tmp.write_bytes(data))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        if created and not any(target.iterdir()):
            target.rmdir()
        raise DataError(f"{archive}: cannot extract ({error})") from None
    missing = [p.name for p in required_files("cifar10", archive.parent) if not p.is_file()]
    if missing:
        raise DataError(f"{archive}: {CIFAR_FOLDER}/ lacks {', '.join(missing)}")


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".")


def _complete(name: str, folder: Path) -> bool:
    files = required_files(name, folder)
    return bool(files) and all(path.is_file() for path in files)


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the folders created, outermost first."""
    created = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{folder}: cannot create the data folder ({error.strerror})") from None
    return created


def _reason(error: Exception) -> str:
    """A few words for a failed download: the HTTP status or the system's message."""
    response = getattr(error, "response", None)
    if response is not None:
        return f"HTTP {response.status_code}"
    messages = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
    return messages[-1].strip() if messages else type(error).__name__


# --- files ------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: missing data file") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
