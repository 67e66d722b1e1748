"""Sweeps survive faults: kill and resume, concurrent runs, damaged and foreign files (code
changes and failing jobs: tests/test_pipeline.py, for every experiment)."""

import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

import rsim
from rsim import results, status
from rsim.experiments import base
from rsim.experiments.cells import CellSpec

SWEEP = ("+sweep=corollary1", "samples=64", "width=8", "n_in=4", "progress=false")
DEPTHS = (5, 10, 20, 40, 80, 160)


def sweep_command(output):
    depths = "depth=" + ",".join(map(str, DEPTHS))
    return [sys.executable, "-m", "rsim", *SWEEP, depths, f"output={output}", "figures=false"]


def start(output):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        sweep_command(output),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def assert_complete(folder):
    frame = rsim.load(folder, strict=True)
    assert len(frame) == len(DEPTHS) * 64 * 3
    assert not frame.duplicated(["depth", "sample", "beta"]).any()
    assert base.status(folder).missing == []


def test_killed_sweep_resumes_without_duplicates_or_partial_files(tmp_path):
    proc = start(tmp_path)
    folder = tmp_path / "corollary1"
    deadline = time.time() + 300
    while not list(folder.glob("part-*.parquet")) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1]  # still running
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written = list(folder.glob("part-*.parquet"))
    assert 0 < len(written) < len(DEPTHS)
    for part in written:  # whatever is there under a final name is whole
        results.read_table(part)
    assert status.main([str(folder)]) == 1  # cells missing
    rerun = start(tmp_path)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert out.count("rsim: skip") == len(written)
    assert_complete(folder)
    assert status.main([str(folder)]) == 0


def test_two_processes_on_the_same_sweep(tmp_path):
    first, second = start(tmp_path), start(tmp_path)
    for proc in (first, second):
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert_complete(tmp_path / "corollary1")


def test_load_and_status_name_damaged_and_foreign_files(tmp_path):
    values = dict(width=4, depth=5, samples=4)
    base.run_job(CellSpec(**values), tmp_path)
    results.write_manifest(tmp_path, "cells", base.job_manifest([values, {**values, "depth": 6}]))
    (tmp_path / "part-broken.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "foreign.parquet")
    with pytest.warns(UserWarning, match="part-broken.parquet: unreadable Parquet file"):
        frame = rsim.load(tmp_path)
    assert len(frame) == 4 * 3
    with pytest.raises(results.ResultsError, match="foreign.parquet: not an rsim result"):
        rsim.load(tmp_path / "foreign.parquet", strict=True)
    report = base.status(tmp_path)
    assert (len(report.expected), len(report.done), len(report.missing)) == (2, 1, 1)
    assert len(report.unreadable) == 2
