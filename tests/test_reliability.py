"""Sweeps survive faults: kill and resume, concurrent runs, damaged files, code changes."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

import rsim
from rsim import experiments, results, status
from rsim.checks import ConfigError
from rsim.experiments.cells import CellSpec

SWEEP = ("+sweep=corollary1", "samples=64", "width=8", "n_in=4", "progress=false")
DEPTHS = (5, 10, 20, 40, 80, 160)


def sweep_command(output):
    depths = "depth=" + ",".join(map(str, DEPTHS))
    return [sys.executable, "-m", "rsim", *SWEEP, depths, f"output={output}", "figures=false"]


def start(output):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(sweep_command(output), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def assert_complete(folder):
    frame = rsim.load(folder, strict=True)
    assert len(frame) == len(DEPTHS) * 64 * 3
    assert not frame.duplicated(["depth", "sample", "beta"]).any()
    assert status.status(folder).missing == []


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
    spec = CellSpec(width=4, depth=5, samples=4)
    experiments.EXPERIMENT.run_job(spec.identity(), tmp_path, False)
    status.write_manifest(tmp_path, "cells", [spec.identity(), {**spec.identity(), "depth": 6}])
    (tmp_path / "part-broken.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "foreign.parquet")
    with pytest.warns(UserWarning, match="part-broken.parquet: unreadable Parquet file"):
        frame = rsim.load(tmp_path)
    assert len(frame) == 4 * 3
    with pytest.raises(results.ResultsError, match="foreign.parquet: not an rsim result"):
        rsim.load(tmp_path / "foreign.parquet", strict=True)
    report = status.status(tmp_path)
    assert (report.expected, len(report.done), len(report.missing)) == (2, 1, 1)
    assert len(report.unreadable) == 2


def test_resuming_with_another_code_version_is_refused(tmp_path):
    spec = CellSpec(width=4, depth=5, samples=4)
    path = experiments.EXPERIMENT.run_job(spec.identity(), tmp_path, False)
    table = pq.read_table(path)
    metadata = results.read_metadata(path)
    metadata["git_revision"] = "0123abcd"
    results.write(table.to_pandas(), path, metadata)
    with pytest.raises(ConfigError, match="cannot resume: .* git_revision='0123abcd'"):
        experiments.EXPERIMENT.run_job(spec.identity(), tmp_path, False)
    assert isinstance(pd.read_parquet(path), pd.DataFrame)  # left as it was


def test_a_failing_job_is_recorded_and_the_others_kept(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    from rsim import cli

    def compose_job(depth):
        with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
            return compose("config", overrides=[
                "width=4", "n_in=3", "samples=4", f"depth={depth}", f"output={tmp_path}",
                "progress=false"])

    good, bad = compose_job(5), compose_job(6)
    status.write_manifest(tmp_path / "single", "cells",
                          [cli._user_values(good), cli._user_values(bad)])
    cli.run_job(good)
    real_run = experiments.EXPERIMENT.run_job

    def flaky(values, folder, progress):
        if values["depth"] == 6:
            raise RuntimeError("device lost")
        return real_run(values, folder, progress)

    flaky_cells = dataclasses.replace(experiments.EXPERIMENT, run_job=flaky)
    monkeypatch.setattr(experiments, "get", lambda name: flaky_cells)
    with pytest.raises(RuntimeError, match="device lost"):
        cli.run_job(bad)
    report = status.status(tmp_path / "single")
    assert (len(report.done), len(report.failed), len(report.missing)) == (1, 1, 0)
    monkeypatch.undo()
    cli.run_job(bad)  # the retry succeeds and clears the failure record
    assert len(status.status(tmp_path / "single").done) == 2
    assert not list((tmp_path / "single").glob("failed-*.json"))
