"""A training job on files (MNIST, Fashion-MNIST, CIFAR-10) has the SHA-256 of the files it
reads in its identity: files changed by hand (a pixel fixed) make another job, computed anew
instead of skipped as done, and the hash is in the result file's metadata. Digits jobs (the
bundled data, no files) keep the digests of their released results."""

import hashlib
import os
import pickle

import pytest
from test_data import write_cifar, write_mnist

from rsim import data, results
from rsim.checks import ConfigError
from rsim.experiments import base
from rsim.experiments.training import TrainSpec, compute

# A job small enough for the 6 training examples of write_mnist (5 x 3 images), one epoch.
TINY = dict(model="res1", width=4, depth=2, betas=[0.5], lrs=[0.1], epochs=1, batch_size=2)


def place(dataset: str, data_dir, layout: str):
    """Tiny files of ``dataset`` put by hand in ``data_dir`` itself ("copy") or in its cache
    folder ``<data_dir>/<dataset>/`` ("cache", plain IDX files: nothing there to verify)."""
    folder = data_dir if layout == "copy" else data_dir / dataset
    folder.mkdir(parents=True, exist_ok=True)
    if dataset == "cifar10":
        write_cifar(folder)
    else:
        write_mnist(folder, gz_labels=layout == "copy")
    return folder


def change_one_pixel(dataset: str, folder) -> None:
    """One pixel of the test images changed in place (same size), its mtime moved on by a
    second, as an edit made a moment later would (a filesystem's clock may be coarser than the
    two writes of a test)."""
    if dataset == "cifar10":
        path = folder / data.CIFAR_TEST
        batch = pickle.loads(path.read_bytes())
        batch[b"data"][0, 0] ^= 1
        payload = pickle.dumps(batch, protocol=2)
    else:
        path = folder / data.IDX_FILES["test_images"]  # plain IDX: the last byte is a pixel
        payload = bytearray(path.read_bytes())
        payload[-1] ^= 1
    before = path.stat()
    assert len(payload) == before.st_size
    path.write_bytes(bytes(payload))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))


def sha256sum(folder, dataset: str) -> str:
    """The documented hash: SHA-256 of ``sha256sum``'s lines for the files, sorted by name."""
    files = sorted(data.required_files(dataset, folder), key=lambda path: path.name)
    lines = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


@pytest.mark.parametrize(
    "dataset,layout",
    [("mnist", "copy"), ("fashion_mnist", "cache"), ("cifar10", "copy")],
)
def test_the_files_content_is_part_of_the_identity(tmp_path, dataset, layout):
    folder = place(dataset, tmp_path, layout)
    options = {**TINY, "dataset": dataset, "data_dir": str(tmp_path)}
    first = TrainSpec.from_config(options)
    assert first.data_sha256 == sha256sum(folder, dataset)
    assert first.identity()["data_sha256"] == first.data_sha256

    change_one_pixel(dataset, folder)
    second = TrainSpec.from_config(options)
    assert second.data_sha256 == sha256sum(folder, dataset) != first.data_sha256
    assert second.digest() != first.digest()
    others = {k: v for k, v in first.identity().items() if k != "data_sha256"}
    assert {k: v for k, v in second.identity().items() if k != "data_sha256"} == others

    change_one_pixel(dataset, folder)  # the pixel back: the same content, the same job
    assert TrainSpec.from_config(options).digest() == first.digest()


def test_a_rerun_on_changed_files_computes_a_new_result(tmp_path, capsys):
    folder = place("mnist", tmp_path / "data", "cache")
    options = {**TINY, "dataset": "mnist", "data_dir": str(tmp_path / "data")}
    output = tmp_path / "results"
    first_spec = TrainSpec.from_config(options)
    first = base.run_job(first_spec, output)
    assert first.name == f"part-{first_spec.digest()}.parquet"
    first_sha256 = sha256sum(folder, "mnist")
    assert base.run_job(TrainSpec.from_config(options), output) == first
    assert "rsim: skip" in capsys.readouterr().out  # unchanged files: the job is done

    change_one_pixel("mnist", folder)
    second_spec = TrainSpec.from_config(options)
    second = base.run_job(second_spec, output)
    out = capsys.readouterr().out
    assert "skip" not in out and f"rsim: wrote 1 rows to {second}" in out
    assert second != first and first.is_file()
    assert second.name == f"part-{second_spec.digest()}.parquet"
    assert results.read_metadata(first)["spec"]["data_sha256"] == first_sha256
    metadata = results.read_metadata(second)
    assert metadata["spec"]["data_sha256"] == sha256sum(folder, "mnist") == second_spec.data_sha256
    assert second_spec.data_sha256 != first_sha256


def test_files_changed_after_the_spec_was_built_are_refused(tmp_path):
    folder = place("mnist", tmp_path, "copy")
    spec = TrainSpec.from_config({**TINY, "dataset": "mnist", "data_dir": str(tmp_path)})
    spec.digest()  # as run_job names the job's file before computing it
    change_one_pixel("mnist", folder)
    with pytest.raises(data.DataError, match="^dataset=mnist: the files in .* changed since"):
        compute(spec)


def test_data_sha256_is_computed_never_an_option():
    assert "data_sha256" not in TrainSpec.options()
    with pytest.raises(ConfigError, match="^data_sha256 is not an option of experiment=training"):
        TrainSpec.from_config({"data_sha256": "0" * 64})


def test_a_file_that_cannot_be_hashed_is_named_in_one_line(tmp_path):
    missing = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(data.DataError, match=f"^{missing}: missing data file$"):
        data.file_sha256(missing)
    with pytest.raises(data.DataError, match=f"^{tmp_path}: cannot read "):
        data.file_sha256(tmp_path)  # a folder


def test_digits_jobs_keep_the_digests_of_released_results():
    """Digits has no files: no data_sha256 in its identity. The digests below are pinned: the
    data's hash joining the identity left them as released; ``study`` leaving it (issue 23: a
    study only analyses, so another study re-reads the same runs) changed them once, from
    e3f845f87a631de7 and 5ae0cb728f5570c6 (older folders hold another code version, which
    rsim refuses to mix anyway)."""
    default = TrainSpec()
    assert default.digest() == "396f8d417b960e47"
    assert TrainSpec.from_config({"study": "weights"}).digest() == default.digest()
    # the options of the training regression recording (tests/data/regression.json)
    regression = TrainSpec.from_config(
        dict(
            dataset="digits",
            train_limit=128,
            model="res1",
            init="gaussian",
            width=8,
            depth=6,
            betas=[0.5, 1.0],
            lrs=[0.01],
            epochs=2,
            batch_size=32,
        )
    )
    assert regression.digest() == "ae5feb28c432c5d6"
    assert default.data_sha256 is regression.data_sha256 is None
    assert "data_sha256" not in default.identity()
