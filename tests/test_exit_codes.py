"""Exit codes and one-line errors (issue 21): ``python -m rsim`` stops on any error of its
callbacks (which Hydra would turn into warnings) and on a failed write in a job (the sweep
stops at the first); ``rsim.status`` and ``rsim.report`` answer 0 / 1 / 2 (complete / not /
error), an error in one line on stderr."""

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.utils import JobReturn, JobStatus

import rsim.report
from rsim import cli, results, status
from rsim.experiments import base

ROOT = Path(__file__).resolve().parent.parent
SMALL = (
    "samples=8",
    "width=8",
    "n_in=4",
    "progress=false",
    "figures=false",
    "compilation_cache=null",
)
# Two cells the report judges AGREES or TOO FEW SAMPLES, never VIOLATES (as the run
# `python -m rsim samples=4 depth=3 width=3 seed=0|1`: tests/test_report.py).
TWO_CELLS = [dict(experiment="cells", samples=4, depth=3, width=3, seed=seed) for seed in (0, 1)]


def rsim_cli(*args: str, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    """``python -m rsim *args`` from the repository root; ``file_size_limit``: no file of the
    process may grow past that many bytes (a write past it fails with EFBIG: a full disk)."""

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not death by signal

    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1")
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "rsim", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit_file_size if file_size_limit else None,
    )


def error_line(stderr: str, prefix: str = "rsim: error: ") -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), stderr
    assert "Traceback" not in stderr and "Warning" not in stderr, stderr
    return lines[0]


def unwritable(tmp_path: Path) -> Path:
    """An output folder that cannot be created or written: read-only permission bits, or for
    root (whom they do not stop) a path below a regular file."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    return blocker / "out"


@pytest.mark.parametrize("case", ["unwritable output", "unresolved interpolation"])
def test_an_error_before_the_run_stops_it_in_one_line(case, tmp_path):
    """Hydra turned these into a warning: the read-only output then gave three tracebacks,
    the interpolation ran the job anyway."""
    if case == "unwritable output":
        output = unwritable(tmp_path)
        proc = rsim_cli(*SMALL, "depth=5", f"output={output}")
    else:
        output = tmp_path / "out"
        proc = rsim_cli(*SMALL, "depth=5", "seed=${oc.env:RSIM_NOPE_UNSET}", f"output={output}")
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc.stderr)
    if case == "unwritable output":
        assert str(output) in line
    else:
        assert "seed" in line and "RSIM_NOPE_UNSET" in line
        assert not output.exists()  # nothing computed, nothing written
    assert "rsim: wrote" not in proc.stdout


def test_a_full_disk_stops_the_sweep_at_the_first_failed_write(tmp_path):
    """No file may pass 12 kB: the manifest (3 kB for 3 jobs) and Hydra's logs (< 5 kB) fit,
    the first Parquet part (18 kB at samples=8) does not. Before: every job computed, every
    write failed, no failure record."""
    proc = rsim_cli(
        *SMALL, "depth=5,10,20", f"output={tmp_path}", "--multirun", file_size_limit=12_000
    )
    folder = tmp_path / "single"
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = error_line(proc.stderr)
    assert "cannot write" in line and "part-" in line
    assert "#0 :" in proc.stdout and "#1 :" not in proc.stdout  # one job attempted
    assert len(results.read_manifest(folder)["jobs"]) == 3
    assert not results.folder_files(folder) and not list(folder.glob(".*.tmp"))
    (record,) = folder.glob("_failed-*.json")
    assert "StorageError" in results.read_failure(folder, record.stem[len("_failed-") :])["error"]
    assert status.main([str(folder)]) == 1  # one failed, two missing


@pytest.fixture
def sweep_config(monkeypatch, tmp_path):
    """The composed config of a tiny run writing to ``tmp_path``, as the callbacks get it."""
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # configure_jax sets it
    overrides = [*SMALL, "depth=5", f"output={tmp_path}"]
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_errors_in_the_callbacks_stop_the_run_in_one_line(sweep_config, tmp_path, capsys):
    """In process: a damaged sweep.json at the start, a finish that fails at the end (no rows
    yet); a failed job's run skips the finish (Hydra reports the job's own error)."""
    callbacks = cli.SweepSummary()
    folder = tmp_path / "single"
    folder.mkdir()
    (folder / results.MANIFEST).write_text('{"runs": [')
    with pytest.raises(SystemExit) as stop:
        callbacks.on_multirun_start(sweep_config)
    assert stop.value.code == 2
    assert "sweep.json is damaged" in error_line(capsys.readouterr().err)
    assert (folder / results.MANIFEST).read_text() == '{"runs": ['  # refused, not overwritten

    (folder / results.MANIFEST).unlink()
    callbacks.on_multirun_start(sweep_config)
    assert len(results.read_manifest(folder)["jobs"]) == 1
    with pytest.raises(SystemExit) as stop:
        callbacks.on_multirun_end(sweep_config)
    assert stop.value.code == 2
    assert "FileNotFoundError: no rsim Parquet files" in error_line(capsys.readouterr().err)
    failed = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("device lost"))
    callbacks.on_run_end(sweep_config, job_return=failed)  # no finish, no exit


def test_status_and_report_answer_a_damaged_file_with_exit_2(tmp_path, capsys):
    jobs = base.job_manifest(TWO_CELLS)
    results.write_manifest(tmp_path, "cells", jobs)
    record = results.failure_path(tmp_path, jobs[0]["digest"])
    record.write_text('{"error": "RuntimeError: dev')  # a record cut short
    assert status.main([str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert not out and str(record) in error_line(err, "rsim.status: error: ")

    (tmp_path / results.MANIFEST).write_text("{not json")
    assert status.main([str(tmp_path)]) == 2
    assert "sweep.json is damaged" in error_line(capsys.readouterr().err, "rsim.status: error: ")
    assert rsim.report.main([str(tmp_path), "--no-figures"]) == 2
    assert "sweep.json is damaged" in error_line(capsys.readouterr().err, "rsim.report: error: ")


def test_report_on_a_half_finished_sweep_says_so_and_exits_1(tmp_path, capsys):
    """Before: AGREES and exit 0, not a word about the missing job."""
    specs = [base.spec_from_config(values) for values in TWO_CELLS]
    results.write_manifest(tmp_path, "cells", base.job_manifest(TWO_CELLS))
    base.run_job(specs[0], tmp_path)
    capsys.readouterr()
    assert rsim.report.main([str(tmp_path), "--no-figures"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("rsim: report") and out.strip().endswith("— 1 of 2 jobs missing"), out
    assert "VIOLATES" not in out
    assert "— 1 of 2 jobs missing.**" in (tmp_path / results.REPORT).read_text()

    base.run_job(specs[1], tmp_path)
    capsys.readouterr()
    assert rsim.report.main([str(tmp_path), "--no-figures"]) == 0
    assert capsys.readouterr().out.strip().endswith("— all 2 jobs done")
    assert "— all 2 jobs done.**" in (tmp_path / results.REPORT).read_text()

    # A report that cannot be written (here report.csv is a folder; a read-only or full
    # folder alike): exit 2, not the 1 of a violation.
    (results.tables_folder(tmp_path) / "report.csv").unlink()
    (results.tables_folder(tmp_path) / "report.csv").mkdir()
    assert rsim.report.main([str(tmp_path), "--no-figures"]) == 2
    line = error_line(capsys.readouterr().err, "rsim.report: error: ")
    assert "cannot write" in line and "report.csv" in line
