"""The driver's wait for a SLURM job array, without accounting (``launcher=slurm``).

hydra-submitit-launcher submits a sweep as one job array and then waits on every task with
submitit, which asks ``sacct`` for task states. Many small clusters run without accounting:
``sacct`` then fails at every poll (submitit logs "Bypassing sacct error" three times per
poll), and a task that left the queue without a result (cancelled, out of time, its node
lost) is never seen to end: the driver waits forever.

rsim replaces that wait (:func:`install` swaps the launcher's ``launch``; the submission is
the same array, with the same sbatch settings). Every ``_POLL_S`` seconds it asks ``squeue``
once for the array's tasks and looks for each task's result file:

* result written: the task is done (its result is read with submitit, no ``sacct``);
* still in the queue: pending or running; a progress line is printed when the counts change;
* neither, for ``_GRACE_S`` seconds: the task failed. Its log says why (SLURM writes
  "CANCELLED ... DUE TO TIME LIMIT" into it), its job gets ``_failed-<digest>.json`` (read by
  ``rsim.status``), and the other tasks go on.

When every task has ended it prints where the per-task logs are, and exits with status 1
naming each failed job, or returns the results. Running the same command again computes
only the jobs without a result: finished jobs are skipped by the runner.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_POLL_S = 3.0  # seconds between two looks at the queue
_GRACE_S = 10.0  # a task out of the queue without a result this long has failed
_TIMED_OUT = "timed out (hydra.launcher.timeout_min)"
# What SLURM writes into a killed task's log, and what it means.
_LOG_REASONS = (
    ("DUE TO TIME LIMIT", _TIMED_OUT),
    ("DUE TO PREEMPTION", "preempted"),
    ("CANCELLED", "cancelled"),
    ("DUE TO NODE FAILURE", "its node failed"),
)


_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"

# The spec and results folder of a job from its composed config (what its failure record
# needs), handed in by :func:`install`: rsim.cli owns the config, and slurm never imports it.
_job_record: Callable[[Any], dict[str, Any]] | None = None


def install(job_record: Callable[[Any], dict[str, Any]]) -> None:
    """Let hydra-submitit's SLURM launcher wait with :func:`_launch` (no-op without it);
    ``job_record(config)`` gives a job's ``{"spec", "folder"}`` from its composed config.

    Hydra loads its plugins into a registry of its own (a separate import of each plugin
    module), so the class is patched there, where Hydra will instantiate it from.

    Args:
        job_record: the spec and results folder of a job from its composed config (what
            its failure record needs; rsim.cli owns the config).
    """
    global _job_record
    from hydra.core.plugins import Plugins

    _job_record = job_record

    launcher = Plugins.instance().class_name_to_class.get(_LAUNCHER)
    if launcher is not None:
        launcher.launch = _launch


def _launch(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[Any]:
    """Submit the jobs as one array (hydra-submitit's settings) and wait with :func:`wait`."""
    import submitit
    from hydra.core.singleton import Singleton
    from hydra.core.utils import filter_overrides
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    params = dict(launcher.params)
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout", 0),
    )
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(
        **{key if key in shared else f"slurm_{key}": value for key, value in params.items()}
    )
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    arguments = []
    for number, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info("job #%d: %s", number, " ".join(filter_overrides(overrides)))
        arguments.append(
            (
                list(overrides),
                "hydra.sweep.dir",
                number,
                f"job_id_for_{number}",
                Singleton.get_state(),
            )
        )
    tasks = executor.map_array(launcher, *zip(*arguments))
    return wait(tasks, [_job(launcher, overrides) for overrides in job_overrides])


def _job(launcher: Any, overrides: Sequence[str]) -> dict[str, Any]:
    """The spec and results folder of one job of the sweep (what its failure record needs)."""
    config = launcher.hydra_context.config_loader.load_sweep_config(
        launcher.config, list(overrides)
    )
    return _job_record(config)


def queue(array_id: str) -> dict[str, str]:
    """SLURM state of every task of an array still in the queue: ``{"12_3": "RUNNING"}``.

    Args:
        array_id: the array's job id.

    Returns:
        Task id -> state, from one ``squeue`` call; {} when the array has left the queue.
    """
    proc = subprocess.run(
        ["squeue", "--noheader", "--array", "--jobs", array_id, "--format", "%i %T"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:  # the whole array has left the queue ("Invalid job id")
        return {}
    return dict(line.split() for line in proc.stdout.splitlines() if line.strip())


def _failure_reason(task: Any) -> str:
    """Why a task left the queue without a result, from what SLURM wrote into its log."""
    log = Path(task.paths.stderr)
    text = log.read_text(errors="replace") if log.exists() else ""
    for marker, reason in _LOG_REASONS:
        if marker in text:
            return reason
    return "left the queue without a result"


def _returned(task: Any) -> tuple[Any, str | None]:
    """A returned task's result (read once) and why it did not complete its job, or None.
    The job's exception comes back inside Hydra's JobReturn; submitit raises one in the task
    when SLURM warns that the time limit is near (``signal_delay_s`` before it) and no requeue
    is left."""
    from hydra.core.utils import JobStatus

    try:
        returned = task.results()[0]
    except Exception as error:  # submitit could not run the task function at all
        return None, str(error).strip().splitlines()[-1]
    if returned.status != JobStatus.FAILED:
        return returned, None
    error = returned._return_value
    text = f"{type(error).__name__}: {error}"
    return returned, _TIMED_OUT if "timed-out" in text else text


def wait(tasks: list[Any], jobs: list[dict[str, Any]]) -> list[Any]:
    """Poll until every task is done or failed (see the module doc); returns the results.

    Args:
        tasks: submitit's jobs of one array, in job order.
        jobs: per task, its ``{"spec", "folder"}`` (where a failure record goes).

    Returns:
        Per task, its result (Hydra's ``JobReturn``). A failed task gets a failure record
        and, after the others, the driver exits with status 1 naming each reason.
    """
    from rsim import results

    array_id = str(tasks[0].job_id).split("_")[0]
    done: dict[int, Any] = {}
    failed: dict[int, str] = {}
    missing_since: dict[int, float] = {}
    last = None
    while len(done) + len(failed) < len(tasks):
        states = queue(array_id)
        for i, task in enumerate(tasks):
            if i in done or i in failed:
                continue
            if task.paths.result_pickle.exists():
                result, reason = _returned(task)
                if reason is None:
                    done[i] = result
                else:  # the runner recorded the job's own exception; SLURM's timeout is clearer
                    failed[i] = reason
                    _record(results, jobs[i], task, reason, replace=reason == _TIMED_OUT)
            elif str(task.job_id) in states:
                missing_since.pop(i, None)
            elif time.monotonic() - missing_since.setdefault(i, time.monotonic()) > _GRACE_S:
                failed[i] = _failure_reason(task)
                _record(results, jobs[i], task, failed[i])
        running = sum(
            states.get(str(task.job_id)) == "RUNNING"
            for i, task in enumerate(tasks)
            if i not in done and i not in failed
        )
        counts = (len(done), running, len(tasks) - len(done) - len(failed) - running, len(failed))
        if counts != last:
            log.info(
                "slurm array %s: %d done, %d running, %d pending, %d failed", array_id, *counts
            )
            last = counts
        if len(done) + len(failed) < len(tasks):
            time.sleep(_POLL_S)
    logs = Path(tasks[0].paths.stderr).parent.parent
    log.info("per-task logs: %s/%s_<task>/%s_<task>_0_log.out, .err", logs, array_id, array_id)
    if failed:
        for i, reason in sorted(failed.items()):
            spec = jobs[i]["spec"]
            log.error(
                "job %s (%s), SLURM task %s: %s",
                spec.digest(),
                spec.label(),
                tasks[i].job_id,
                reason,
            )
        log.error(
            "%d of %d jobs failed; run the same command again to compute only the jobs without "
            "a result",
            len(failed),
            len(tasks),
        )
        sys.exit(1)
    return [done[i] for i in range(len(tasks))]


def _record(
    results: Any, job: dict[str, Any], task: Any, reason: str, replace: bool = True
) -> None:
    """``_failed-<digest>.json`` for a job whose task SLURM ended (an existing record is kept
    unless ``replace``)."""
    spec = job["spec"]
    path = results.failure_path(job["folder"], spec.digest())
    if path.exists() and not replace:
        return
    results.write_failure(
        job["folder"],
        spec.digest(),
        {
            "error": f"SLURM: {reason}",
            "job": spec.identity(),
            "slurm_task": str(task.job_id),
            "log": str(task.paths.stderr),
        },
    )
