"""Sweeps on a real SLURM cluster: submitted, cancelled, timed out, requeued, resumed.

The cluster is the single-node one of ``scripts/slurm_local.sh up`` (accounting off, as on
many small clusters); .ci/run starts it and runs these tests with ``pytest -m slurm``, then
runs the bit-identity and cancellation tests again with accounting on (``up accounting``:
slurmdbd). Without a cluster they skip with one line, except under CI, where that fails.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

import rsim
from rsim import results, status

pytestmark = pytest.mark.slurm

LAUNCH = (
    "launcher=slurm",
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
    "progress=false",
    "figures=false",
)
SWEEP = ("+sweep=corollary1", "width=8", "n_in=4")
# A cell that runs about 10 s on 2 cores, beside a quick one.
LONG = (*SWEEP, "samples=256", "depth=10,40000")
LONG_ROWS = 2 * 256 * 3


@pytest.fixture(scope="module", autouse=True)
def cluster():
    status_command = ["bash", str(ROOT / "scripts" / "slurm_local.sh"), "status"]
    up = False
    for _ in range(20):  # a node still cleaning up after a test is back within seconds
        up = (
            shutil.which("sbatch") is not None
            and subprocess.run(status_command, capture_output=True).returncode == 0
        )
        if up or shutil.which("sbatch") is None:
            break
        time.sleep(1)
    if not up:
        message = "no SLURM cluster is up (start one with: sudo scripts/slurm_local.sh up)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def driver(output, *overrides):
    """Start ``python -m rsim`` with the SLURM launcher, in its own process group."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "rsim", *overrides, *LAUNCH, f"output={output}"]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def queue():
    out = subprocess.run(
        ["squeue", "--noheader", "--array", "--format", "%i %T %r"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}


def running_task(index, seconds=4.0, timeout=120):
    """The id of array task ``index`` once it has run for ``seconds``."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for task, (state, _) in queue().items():
            if task.endswith(f"_{index}") and state == "RUNNING":
                time.sleep(seconds)
                return task
        time.sleep(0.5)
    raise AssertionError(f"task {index} never ran: {queue()}")


def written_by(folder, out):
    """How many jobs the array of a driver's stdout computed (not skipped)."""
    array = re.search(r"rsim: slurm array (\d+):", out).group(1)
    logs = Path(folder, ".submitit").glob(f"{array}_*/{array}_*_log.out")
    return sum(log.read_text().count("rsim: wrote") for log in logs)


def assert_complete(folder, rows):
    frame = rsim.load(folder, strict=True)
    assert len(frame) == rows
    assert not frame.duplicated(["depth", "sample", "beta"]).any()
    assert status.main([str(folder)]) == 0
    assert not [p for p in Path(folder).glob("*.parquet") if not p.name.startswith("part-")]


def test_slurm_sweep_equals_the_basic_launcher_bit_for_bit(tmp_path):
    """More jobs (3) than array_parallelism (1); no sacct warning on a cluster without it."""
    small = (*SWEEP, "samples=16", "depth=5,10,20")
    code, out, err = finish(
        driver(tmp_path / "slurm", *small, "hydra.launcher.array_parallelism=1")
    )
    assert code == 0, err
    assert "sacct" not in out + err
    assert re.search(r"3 done, 0 running, 0 pending, 0 failed", out)
    assert "rsim: per-task logs: " in out
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "rsim",
            *small,
            "progress=false",
            "figures=false",
            f"output={tmp_path / 'basic'}",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    order = ["depth", "sample", "beta"]
    on_slurm = rsim.load(tmp_path / "slurm" / "corollary1").sort_values(order)
    basic = rsim.load(tmp_path / "basic" / "corollary1").sort_values(order)
    logs = [c for c in basic if c.startswith("log_")]
    assert len(basic) == 3 * 16 * 3
    assert np.array_equal(on_slurm[logs].to_numpy(), basic[logs].to_numpy())


def test_a_cancelled_task_fails_its_job_and_a_rerun_computes_only_it(tmp_path, capsys):
    folder = tmp_path / "corollary1"
    proc = driver(tmp_path, *LONG)
    subprocess.run(["scancel", running_task(1)], check=True)
    cancelled = time.time()
    code, out, err = finish(proc)
    assert time.time() - cancelled < 60, "the driver noticed the cancelled task too late"
    assert code == 1
    long_cell = rsim.CellSpec(width=8, n_in=4, samples=256, depth=40000, gradients="both")
    assert f"job {long_cell.digest()} ({long_cell.label()})" in err and "cancelled" in err
    assert status.main([str(folder)]) == 1
    assert f"failed: job {long_cell.digest()}" in capsys.readouterr().out
    quick = {p: p.stat().st_mtime_ns for p in folder.glob("part-*.parquet")}
    assert len(quick) == 1

    code, out, err = finish(driver(tmp_path, *LONG))
    assert code == 0, err
    assert written_by(folder, out) == 1  # the cancelled job only
    assert all(p.stat().st_mtime_ns == t for p, t in quick.items())  # not computed again
    assert not results.failure_path(folder, long_cell.digest()).exists()
    assert_complete(folder, LONG_ROWS)


def test_a_requeued_task_leaves_no_partial_file_and_no_duplicate(tmp_path):
    folder = tmp_path / "corollary1"
    proc = driver(tmp_path, *LONG)
    task = running_task(1)
    subprocess.run(["scontrol", "requeue", task], check=True)
    # A requeued job waits about two minutes (BeginTime); let it start now.
    deadline = time.time() + 60
    while queue().get(task, [None])[0] != "PENDING" and time.time() < deadline:
        time.sleep(0.5)
    assert queue()[task][0] == "PENDING"  # back in the queue, to run again from the start
    subprocess.run(["scontrol", "update", f"JobId={task}", "StartTime=now"], check=True)
    code, out, err = finish(proc)
    assert code == 0, err
    submission = next(Path(folder, ".submitit").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --requeue" in submission
    assert_complete(folder, LONG_ROWS)


def test_a_timed_out_task_is_failed_and_a_longer_limit_completes(tmp_path, capsys):
    folder = tmp_path / "histogram"
    # One cell of about 3 minutes on a 2-core machine against a limit of 1 minute, warned 30 s
    # before it (submitit's signal): the task stops at the warning, as it would at any limit
    # shorter than its run. slurmctld checks limits on a timer of about 30 s, so the warning
    # comes 30-60 s after the start: the cell must outlast a minute on the fastest CI machine
    # (a 45 s cell once finished first there).
    slow = (
        "+sweep=histogram",
        "width=8",
        "n_in=4",
        "depth=400000",
        "samples=1024",
        "gradients=none",
        "hydra.launcher.signal_delay_s=30",
    )
    code, out, err = finish(driver(tmp_path, *slow, "hydra.launcher.timeout_min=1"))
    assert code == 1
    assert "timed out" in err
    assert status.main([str(folder)]) == 1
    assert "SLURM: timed out" in capsys.readouterr().out
    code, out, err = finish(driver(tmp_path, *slow, "hydra.launcher.timeout_min=10"))
    assert code == 0, err
    assert status.main([str(folder)]) == 0


def test_a_second_driver_after_the_first_was_killed_ends_with_the_exact_rows(tmp_path):
    folder = tmp_path / "corollary1"
    cells = (*SWEEP, "samples=256", "depth=10,20,40000")
    first = driver(tmp_path, *cells)
    deadline = time.time() + 120
    while len(list(folder.glob("part-*.parquet"))) < 2 and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = {p: p.stat().st_mtime_ns for p in folder.glob("part-*.parquet")}
    assert len(finished) >= 2
    code, out, err = finish(driver(tmp_path, *cells))
    assert code == 0, err
    assert all(p.stat().st_mtime_ns == t for p, t in finished.items())  # not computed again
    assert_complete(folder, 3 * 256 * 3)


def test_the_readme_laptop_commands_run_as_written(tmp_path):
    """The docs' (once the README's) "Try it on your laptop" sweep and status, with results
    under tmp_path."""
    readme = (ROOT / "docs" / "pages" / "guide" / "slurm.md").read_text()
    block = readme.split("**Try it on your laptop.**")[1].split("`tests/test_slurm.py`")[0]
    lines = block.replace("\\\n", " ").splitlines()
    sweep = next(line.split() for line in lines if "python -m rsim +sweep" in line)
    assert "launcher=slurm" in sweep and sweep[:3] == ["python", "-m", "rsim"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, *sweep[1:], f"output={tmp_path}", "progress=false"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rsim: per-task logs" in proc.stdout
    assert status.main([str(tmp_path / "corollary1")]) == 0
