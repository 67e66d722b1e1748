"""Datasets fetched on first use (rsim.data.fetch): from a local HTTP server on 127.0.0.1 that
serves tiny files in the real formats (gzipped IDX, a CIFAR-10 tar.gz of pickled batches),
checked against a registry of their SHA-256 sums that each test provides. Nothing here
touches the internet."""

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_data import write_cifar, write_idx

from rsim import data, schema
from rsim.checks import ConfigError
from rsim.experiments.training import TrainSpec

MNIST_FILES = tuple(data.SOURCES["mnist"].sha256)  # the four .gz names


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        super().do_GET()


@dataclass
class Mirror:
    root: Path  # the folder it serves
    url: str
    requests: list


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """An HTTP server on an ephemeral port of 127.0.0.1, counting the requests it answers."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    root = tmp_path / "mirror"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Mirror(root, f"http://127.0.0.1:{server.server_address[1]}/", server.requests)
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def publish_mnist(mirror: Mirror, tmp_path: Path) -> dict[str, np.ndarray]:
    """The four gzipped IDX files of a 6 + 4 example MNIST (5 x 3 images) on the mirror."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (6, 5, 3)),
        "train_labels": rng.integers(0, 10, 6),
        "test_images": rng.integers(0, 256, (4, 5, 3)),
        "test_labels": rng.integers(0, 10, 4),
    }
    for key, stem in data.IDX_FILES.items():
        write_idx(mirror.root / f"{stem}.gz", arrays[key])
    return arrays


def registry(monkeypatch, name: str, url: str, files: dict[str, bytes]) -> dict[str, str]:
    """Pin ``files``' SHA-256 sums as dataset ``name``'s, published at ``url``."""
    sums = {file: sha256(payload) for file, payload in files.items()}
    monkeypatch.setitem(data.SOURCES, name, data.Source(url, sums))
    return sums


def mnist_registry(monkeypatch, mirror: Mirror, url: str | None = None) -> dict[str, str]:
    files = {f: (mirror.root / f).read_bytes() for f in MNIST_FILES}
    return registry(monkeypatch, "mnist", url or mirror.url, files)


def all_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_first_use_downloads_verifies_and_loads(tmp_path, mirror, monkeypatch, capsys):
    arrays = publish_mnist(mirror, tmp_path)
    mnist_registry(monkeypatch, mirror)
    cache = tmp_path / "cache"  # created on first use
    loaded = data.load("mnist", cache)
    assert sorted(mirror.requests) == sorted(f"/{f}" for f in MNIST_FILES)
    assert all_files(cache) == ["mnist", *sorted(f"mnist/{f}" for f in MNIST_FILES)]
    for file in MNIST_FILES:
        assert (cache / "mnist" / file).read_bytes() == (mirror.root / file).read_bytes()
    np.testing.assert_allclose(
        loaded.x_train, arrays["train_images"].reshape(6, 15) / 255.0, rtol=1e-6
    )
    np.testing.assert_array_equal(loaded.y_test, arrays["test_labels"])
    out = capsys.readouterr().out  # rsim's log lines, as the CLI shows them (conftest)
    assert (
        f"rsim: fetched {', '.join(MNIST_FILES)} (checksums verified) into {cache / 'mnist'}" in out
    )


def test_a_progress_bar_names_each_file(tmp_path, mirror, monkeypatch, capsys):
    publish_mnist(mirror, tmp_path)
    mnist_registry(monkeypatch, mirror)
    data.fetch("mnist", tmp_path / "cache", progressbar=True)
    err = capsys.readouterr().err
    assert all(f"\r{file}:   0%" in err for file in MNIST_FILES)  # tqdm bars, named


def test_a_verified_cache_is_used_without_the_network(tmp_path, mirror, monkeypatch):
    publish_mnist(mirror, tmp_path)
    sums = mnist_registry(monkeypatch, mirror)
    cache = tmp_path / "cache"
    first = data.load("mnist", cache)
    assert len(mirror.requests) == 4
    monkeypatch.setattr(data, "_VERIFIED", {})  # a new process: hashes checked again
    monkeypatch.setitem(data.SOURCES, "mnist", data.Source(closed_port_url(), sums))
    again = data.load("mnist", cache)
    assert len(mirror.requests) == 4  # no request
    np.testing.assert_array_equal(again.x_train, first.x_train)
    assert data._VERIFIED  # the present files were hashed


def test_a_corrupted_cached_file_is_refused_and_removed(tmp_path, mirror, monkeypatch):
    publish_mnist(mirror, tmp_path)
    sums = mnist_registry(monkeypatch, mirror)
    cache = tmp_path / "cache"
    data.fetch("mnist", cache)
    bad = cache / "mnist" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-1])
    got = sha256(bad.read_bytes())
    expected = sums["t10k-labels-idx1-ubyte.gz"]
    message = (
        f"^{bad}: checksum mismatch, sha256 expected {expected}, got {got}; the file was removed$"
    )
    with pytest.raises(data.DataError, match=message):
        data.load("mnist", cache)
    assert not bad.exists()
    data.load("mnist", cache)  # the next use fetches it again
    assert mirror.requests.count("/t10k-labels-idx1-ubyte.gz") == 2


def test_a_corrupted_download_is_refused_and_nothing_is_kept(tmp_path, mirror, monkeypatch):
    publish_mnist(mirror, tmp_path)
    sums = mnist_registry(monkeypatch, mirror)
    served = mirror.root / MNIST_FILES[0]
    served.write_bytes(b"\x00" + served.read_bytes()[1:])  # the mirror's copy is damaged
    url = mirror.url + MNIST_FILES[0]
    message = (
        f"^{url}: checksum mismatch, sha256 expected {sums[MNIST_FILES[0]]}, "
        f"got {sha256(served.read_bytes())}; the download was removed$"
    )
    cache = tmp_path / "cache"
    with pytest.raises(data.DataError, match=message):
        data.fetch("mnist", cache)
    assert mirror.requests == [f"/{MNIST_FILES[0]}"]
    assert not cache.exists()  # neither the file nor the folders made for it


def test_data_url_points_at_a_mirror(tmp_path, mirror, monkeypatch):
    arrays = publish_mnist(mirror, tmp_path)
    mnist_registry(monkeypatch, mirror, url=closed_port_url())  # the publisher is down
    cache = tmp_path / "cache"
    base = mirror.url.rstrip("/")  # a base URL with or without its final slash
    spec = TrainSpec.from_config({"dataset": "mnist", "data_dir": str(cache), "data_url": base})
    assert len(mirror.requests) == 4  # fetched when the job was validated, before compute
    assert spec.digest() == TrainSpec(dataset="mnist", data_dir=str(cache)).digest()
    loaded = data.load("mnist", cache)  # no data_url needed any more
    np.testing.assert_array_equal(loaded.y_train, arrays["train_labels"])
    assert len(mirror.requests) == 4


def test_a_missing_file_on_the_mirror_names_the_http_status(tmp_path, mirror, monkeypatch):
    publish_mnist(mirror, tmp_path)
    mnist_registry(monkeypatch, mirror)
    (mirror.root / "t10k-images-idx3-ubyte.gz").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(data.DataError) as error:
        data.fetch("mnist", cache)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(
        f"dataset=mnist: cannot download {mirror.url}t10k-images-idx3-ubyte.gz (HTTP 404); "
        f"put t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz from {mirror.url} in "
        f"{cache / 'mnist'}"
    )
    # The two files before it were fetched and verified: a rerun asks only for the rest.
    assert all_files(cache / "mnist") == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]


def test_offline_with_an_empty_cache_is_one_line_and_writes_nothing(tmp_path):
    url = closed_port_url()
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(data.DataError) as error:
        data.fetch("mnist", cache, url)
    assert str(error.value) == (
        f"dataset=mnist: cannot download {url}train-images-idx3-ubyte.gz (Connection refused); "
        f"put {', '.join(MNIST_FILES)} from {url} in {cache / 'mnist'}, or give data_url= a mirror"
    )
    assert all_files(cache) == []


def test_offline_through_the_cli_exits_non_zero_in_one_line(tmp_path, run_cli):
    url = closed_port_url()
    cache = tmp_path / "cache"
    proc = run_cli(
        "+sweep=training",
        "dataset=mnist",
        f"data_dir={cache}",
        f"data_url={url}",
        f"output={tmp_path / 'results'}",
        check=False,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rsim: error: dataset=mnist: cannot download")
    assert f"{url}train-images-idx3-ubyte.gz" in lines[0] and str(cache / "mnist") in lines[0]
    assert not cache.exists()


def _cifar_archive(folder: Path, extra: dict[str, bytes]) -> tuple[bytes, dict]:
    """A cifar-10-python.tar.gz of tiny batches under cifar-10-batches-py/, plus ``extra``
    members (names outside that folder, which must never be extracted)."""
    batches_dir = folder / "batches"
    batches_dir.mkdir()
    batches = write_cifar(batches_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in (*data.CIFAR_TRAIN, data.CIFAR_TEST):
            tar.add(batches_dir / name, arcname=f"{data.CIFAR_FOLDER}/{name}")
        for name, payload in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue(), batches


def test_cifar10_archive_is_verified_and_its_batches_extracted(tmp_path, mirror, monkeypatch):
    outside = {"../evil": b"x", f"{data.CIFAR_FOLDER}/../evil2": b"x", "evil3": b"x"}
    archive, batches = _cifar_archive(tmp_path, outside)
    (mirror.root / data.CIFAR_ARCHIVE).write_bytes(archive)
    registry(monkeypatch, "cifar10", mirror.url, {data.CIFAR_ARCHIVE: archive})
    cache = tmp_path / "cache"
    loaded = data.load("cifar10", cache)
    assert mirror.requests == [f"/{data.CIFAR_ARCHIVE}"]
    names = [f"cifar10/{data.CIFAR_FOLDER}/{n}" for n in (*data.CIFAR_TRAIN, data.CIFAR_TEST)]
    expected = ["cifar10", f"cifar10/{data.CIFAR_ARCHIVE}", f"cifar10/{data.CIFAR_FOLDER}"]
    assert all_files(cache) == sorted(expected + names)
    assert not any(tmp_path.rglob("evil*"))
    assert loaded.x_train.shape == (15, 3072)
    np.testing.assert_allclose(loaded.x_test, batches["test_batch"][b"data"] / 255.0, rtol=1e-6)

    # Batches lost from the cache are extracted again from the verified archive, offline.
    (cache / "cifar10" / data.CIFAR_FOLDER / data.CIFAR_TEST).unlink()
    monkeypatch.setattr(data, "_VERIFIED", {})
    data.load("cifar10", cache)
    assert len(mirror.requests) == 1


def test_a_copy_placed_in_data_dir_by_hand_is_read_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setitem(data.SOURCES, "mnist", data.Source(closed_port_url(), {}))
    for key, stem in data.IDX_FILES.items():  # plain IDX files, as before caching existed
        shape = (3, 4, 4) if "images" in key else (3,)
        write_idx(tmp_path / stem, np.ones(shape, np.uint8))
    assert data.fetch("mnist", tmp_path) == tmp_path
    assert data.load("mnist", tmp_path).x_train.shape == (3, 16)


def test_bad_data_dir_and_data_url_are_refused_before_any_download(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="^data_dir='.*file' is not a folder$"):
        TrainSpec.from_config({"dataset": "mnist", "data_dir": str(tmp_path / "file")})
    with pytest.raises(ConfigError, match="^data_url='ftp://x/' is not allowed"):
        TrainSpec.from_config(
            {"dataset": "mnist", "data_dir": str(tmp_path), "data_url": "ftp://x/"}
        )
    assert all_files(tmp_path) == ["file"]


def test_digits_stays_offline_and_the_cache_has_one_default(monkeypatch):
    spec = TrainSpec(dataset="digits", data_dir="/nowhere", data_url="http://127.0.0.1:1/")
    assert spec.data_dir is None and spec.data_url is None
    assert spec.digest() == TrainSpec().digest()
    calls = []
    monkeypatch.setattr(data, "fetch", lambda *args: calls.append(args))
    assert TrainSpec(dataset="mnist").data_dir == schema.DATA_DIR == "~/.cache/rsim/data"
    assert TrainSpec(dataset="mnist", data_dir=None).data_dir == schema.DATA_DIR
    assert calls == [("mnist", schema.DATA_DIR, None)] * 2
