"""A results folder is a set of rows that each mean one draw, once: adding samples, betas or
gradients to a cell computes only what is missing; load, summaries and reports never count a
draw twice; one code version per folder; every file whole; corrupted pages refused."""

import errno
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import rsim
from rsim import results
from rsim.analysis import summary
from rsim.experiments import base
from rsim.experiments.cells import CellSpec

CELL = dict(width=8, depth=10, n_in=4)
R = ("samples=8", "depth=10", "width=8", "n_in=4", "figures=false", "compilation_cache=null")
METRICS = ["log_hidden_ratio", "log_hidden_diff", "log_hidden_maxdiff"]


def test_more_samples_compute_only_the_new_ones_bit_for_bit_and_count_each_once(run_cli, tmp_path):
    """`R output=out; R output=out samples=16`: n = 16, the second run computed 8 samples."""
    run_cli(*R, f"output={tmp_path}")
    second = run_cli(*R, "samples=16", f"output={tmp_path}")
    assert "wrote 24 rows" in second.stdout  # 8 new samples x 3 betas
    assert "summary of the 1 jobs of the latest command (run 2 of" in second.stdout
    folder = tmp_path / "single"
    frame = rsim.load(folder, strict=True)
    assert len(frame) == 16 * 3 and not frame.duplicated(["beta", "sample"]).any()
    assert (pd.read_csv(folder / "_tables" / "summary.csv")["n"] == 16).all()
    assert len(results.read_manifest(folder)["runs"]) == 2  # the history of both commands
    run_cli(*R, "samples=16", f"output={tmp_path / 'fresh'}")
    fresh = rsim.load(tmp_path / "fresh" / "single", strict=True)
    pd.testing.assert_frame_equal(frame, fresh)  # bit for bit a fresh run's


def test_an_added_beta_or_gradient_reuses_the_stored_draws(tmp_path):
    base.run_job(CellSpec(samples=8, betas=[0.5], gradients="none", **CELL), tmp_path)
    base.run_job(CellSpec(samples=8, gradients="none", **CELL), tmp_path)  # adds 0.25, 1.0
    frame = rsim.load(tmp_path, strict=True)
    assert len(frame) == 24 and not frame.duplicated(["beta", "sample"]).any()
    base.run_job(CellSpec(samples=8, betas=[0.5], gradients="jvp", **CELL), tmp_path)
    frame = rsim.load(tmp_path, strict=True)
    assert len(frame) == 24 and not frame.duplicated(["beta", "sample"]).any()
    jvp = frame[frame["beta"] == 0.5]
    assert (jvp["gradients"] == "jvp").all() and jvp["log_jvp_ratio"].notna().all()
    assert frame.loc[frame["beta"] != 0.5, "log_jvp_ratio"].isna().all()
    # the job that asked for jvp is done; one asking jvp at every beta is not
    assert base.is_done(CellSpec(samples=8, betas=[0.5], gradients="jvp", **CELL), tmp_path)
    assert not base.is_done(CellSpec(samples=8, gradients="jvp", **CELL), tmp_path)
    assert not base.is_done(CellSpec(samples=9, betas=[0.5], **CELL), tmp_path)


def test_float64_runs_of_a_cell_are_told_apart_from_float32_ones(tmp_path):
    for precision in ("float32", "float64"):
        base.run_job(CellSpec(samples=8, precision=precision, **CELL), tmp_path)
    frame = rsim.load(tmp_path, strict=True)
    assert sorted(frame["precision"].unique()) == ["float32", "float64"]
    table = summary.summarize(frame)
    assert len(table) == 6 and (table["n"] == 8).all()  # 2 precisions x 3 betas, never pooled


def test_a_draw_stored_twice_is_loaded_once_and_strict_refuses(tmp_path):
    path = base.run_job(CellSpec(samples=8, **CELL), tmp_path)
    shutil.copy(path, tmp_path / "part-copy.parquet")  # two files sharing draws
    with pytest.warns(UserWarning, match="24 rows repeat draws already present"):
        frame = rsim.load(tmp_path)
    assert len(frame) == 24
    with pytest.raises(results.ResultsError, match="repeat draws"):
        rsim.load(tmp_path, strict=True)


def test_weight_paths_are_added_to_the_stored_draws(tmp_path):
    smooth = dict(CELL, init="smooth", samples=6)
    base.run_job(CellSpec(**smooth), tmp_path)
    base.run_job(CellSpec(weight_paths=2, **smooth), tmp_path)  # the paths of samples 0, 1
    base.run_job(CellSpec(weight_paths=3, **{**smooth, "samples": 8}), tmp_path)
    frame = rsim.load(tmp_path, strict=True)
    assert len(frame) == 8 * 3 and not frame.duplicated(["beta", "sample"]).any()
    paths = rsim.load(tmp_path / "_tables" / "paths", strict=True)
    assert sorted(paths["sample"].unique()) == [0, 1, 2] and len(paths) == 3 * CELL["depth"]
    assert len(list(tmp_path.glob("part-*.parquet"))) == 1  # one cell, one file


def test_the_summary_covers_the_latest_command_only(tmp_path):
    one, other = CellSpec(samples=8, **CELL), CellSpec(samples=4, seed=3, **CELL)
    for spec in (one, other):
        results.write_manifest(tmp_path, "cells", base.job_manifest([spec.identity()]))
        base.run_job(spec, tmp_path)
    frame = base.load_run(tmp_path)
    assert len(frame) == 12 and set(frame["seed"]) == {3}
    assert base.run_description(tmp_path).startswith("the 1 jobs of the latest command (run 2")
    assert len(rsim.load(tmp_path)) == 36  # the folder holds both


def test_the_code_version_follows_the_source_not_the_docs(tmp_path):
    package = tmp_path / "rsim"
    shutil.copytree(results.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert results.source_digest(package) == results.source_digest(results.PACKAGE)
    (package / "THEORY.md").write_text("an edited theory")
    (package / "notes.md").write_text("a new note")
    assert results.source_digest.__wrapped__(package) == results.source_digest(results.PACKAGE)
    (package / "schema.py").write_text((package / "schema.py").read_text() + "\nX = 1\n")
    assert results.source_digest.__wrapped__(package) != results.source_digest(results.PACKAGE)


def test_writes_are_atomic_and_leftovers_are_removed(tmp_path, monkeypatch):
    results.write_manifest(tmp_path, "cells", [], command=["first"])
    good = (tmp_path / results.MANIFEST).read_bytes()
    real = Path.write_text

    def disk_full(self, text, *args, **kwargs):
        real(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(results.StorageError, match="No space left"):
        results.write_manifest(tmp_path, "cells", [], command=["second"])
    monkeypatch.undo()
    assert (tmp_path / results.MANIFEST).read_bytes() == good  # the good history, whole
    assert [p.name for p in tmp_path.iterdir()] == [results.MANIFEST]  # no temporary left
    names = {results._temporary_name(tmp_path / "a").name for _ in range(2)}
    assert len(names) == 2  # a random part: two writers never share a temporary
    dead = tmp_path / f".part-x.parquet.{os.uname().nodename.split('.')[0]}.999999999.ab12.tmp"
    dead.write_bytes(b"half a file")
    base.run_job(CellSpec(samples=2, **CELL), tmp_path)
    assert not dead.exists()


def test_a_flipped_bit_in_a_data_page_is_refused(tmp_path):
    path = base.run_job(CellSpec(samples=64, **CELL), tmp_path)
    chunk = pq.ParquetFile(path).metadata.row_group(0)
    column = next(
        chunk.column(i)
        for i in range(chunk.num_columns)
        if chunk.column(i).path_in_schema == "log_hidden_ratio"
    )
    data = bytearray(path.read_bytes())
    end = column.data_page_offset + column.total_compressed_size
    data[end - 9] ^= 0x10  # inside the values of the column's data page
    path.write_bytes(bytes(data))
    with pytest.raises(results.ResultsError, match="unreadable Parquet file"):
        rsim.load(tmp_path, strict=True)
    jobs = base.job_manifest([CellSpec(samples=64, **CELL).identity()])
    results.write_manifest(tmp_path, "cells", jobs)
    report = base.status(tmp_path)
    assert report.unreadable and not report.done and not report.complete


@pytest.mark.parametrize(
    "options",
    [
        dict(model="conv", init="fbm", hurst=0.3, coupled_depth=20, precision="float64"),
        dict(model="mlp", init="gaussian", sampler="projection", branch_depth=3),
        dict(model="res1", init="smooth", lengthscale=0.2, activation="tanh", gain=2.0),
    ],
)
def test_the_row_key_names_every_option_that_changes_a_draw(options):
    """Every field of a cell's stored identity (the cell but for the run's samples, betas and
    gradients) is a column of its row key, so rows of two cells never share a key value."""
    spec = CellSpec(samples=4, **{**CELL, **options})
    assert set(spec.store_identity()) <= set(spec.row_key())
    assert {"beta", "sample"} <= set(spec.row_key())
