"""The Hydra application behind ``rsim`` and ``python -m rsim`` (the same command): the only
module that imports Hydra. ``rsim --help`` is :mod:`rsim.usage`'s text, Hydra's own help
``--hydra-help``; the configs are the package's ``rsim/conf/`` in a wheel, the checkout's
``conf/`` otherwise (:func:`conf_dir`).

config -> experiment spec -> the shared runner (:mod:`rsim.experiments.base`). A Hydra job is
one job of an experiment (by default one simulation cell). The config group ``experiment``
(cells, ode, sde, training) is generated from the experiments' spec dataclasses, so each
option's default is written once, on its spec. ``SweepSummary`` validates the whole run
before any job starts (bad input, including a key the experiment does not use: one line on
stderr, exit code 2, nothing written), writes the manifest of expected jobs and, once the run
or sweep has finished, calls the experiment's finish (summary, figures, report).

Errors stop the run: any exception in those callbacks (which Hydra would turn into a
warning), and in a job bad input, a failed write to the results folder (full disk,
read-only: the sweep stops at the first, the job's failure record left if it could be) or a
damaged results file, end it with one line on stderr (``rsim: error: ...``) and exit code 2.
Any other error of a job is Hydra's: a traceback, and the basic launcher runs the next job.

Logging: the library logs (a logger per module, under ``rsim``); conf/config.yaml configures
it for the driver and each job: rsim's lines go to the terminal through
:class:`TerminalHandler` (``rsim: ...``), and with every other logger's warnings to the job's
log, ``<output>/<name>/.hydra/<time>/job.log``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rsim import device, results, slurm, usage
from rsim.checks import ConfigError
from rsim.experiments import EXPERIMENTS, base


def conf_dir() -> str:
    """Hydra's config folder: the package's copy (``rsim/conf/``, which a wheel carries: the
    build maps the top-level ``conf/`` to the package data ``rsim.conf``) where it exists, else
    the checkout's ``conf/`` beside the package (a checkout, an editable install).

    Returns:
        The absolute path of the folder that holds ``config.yaml``.

    >>> (Path(conf_dir()) / "config.yaml").is_file()
    True
    """
    package = Path(__file__).resolve().parent
    inside = package / "conf"
    return str(inside if inside.is_dir() else package.parent / "conf")


CONF_DIR = conf_dir()


class TerminalHandler(logging.Handler):
    """rsim's log lines as the terminal shows them: ``rsim: <message>`` on stdout (INFO),
    ``rsim: warning: ...`` and ``rsim: error: ...`` on stderr, written to the streams of the
    moment (conf/config.yaml puts it on the ``rsim`` logger).

    Example:
        >>> import contextlib, io
        >>> logger = logging.getLogger("rsim.example")
        >>> logger.addHandler(TerminalHandler())
        >>> logger.setLevel(logging.INFO)
        >>> logger.propagate = False
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     logger.info("wrote %d rows", 4)
        ...     logger.warning("a note")
        rsim: wrote 4 rows
        >>> err.getvalue()
        'rsim: warning: a note\\n'
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` as one line (more for a message of several) to stdout or stderr.

        Args:
            record: the log record.
        """
        try:
            level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
            stream = sys.stdout if record.levelno < logging.WARNING else sys.stderr
            stream.write(f"rsim: {level}{self.format(record)}\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def register_experiments() -> None:
    """One option of the config group ``experiment`` per registered experiment
    (:data:`rsim.experiments.EXPERIMENTS`): its spec's options at their defaults, in the
    global package (``depth=100``, not ``experiment.depth=100``)."""
    store = ConfigStore.instance()
    for name, record in EXPERIMENTS.items():
        node = {"experiment": name, **record.spec.options()}
        store.store(group="experiment", name=name, node=node, package="_global_")


def job_record(cfg: DictConfig) -> dict[str, Any]:
    """The spec and results folder of one composed job config (a SLURM failure record's)."""
    return {"spec": base.spec_from_config(_user_values(cfg)), "folder": results_folder(cfg)}


def help_template(experiment: str) -> str:
    """``rsim --help``'s text (:func:`rsim.usage.help_text`) as Hydra's help template (whose
    ``$`` would start a substitution): conf/config.yaml sets ``hydra.help.template`` to
    ``${rsim_help:${experiment}}``, so the chosen experiment's options are listed.

    Args:
        experiment: the composed config's ``experiment``.

    Returns:
        The template.
    """
    return usage.help_text(str(experiment), Path(CONF_DIR)).replace("$", "$$")


register_experiments()
OmegaConf.register_new_resolver("rsim_help", help_template, replace=True)
slurm.install(job_record)  # launcher=slurm: rsim waits for the array without sacct (rsim/slurm.py)


def results_folder(cfg: DictConfig) -> Path:
    """``<output>/<name>``: ``output`` the path of a folder (created if missing; not null, not
    empty, not a file), ``name`` one plain folder name inside it (not empty, ``.`` or ``..``;
    no ``/``, ``\\`` or NUL, so it cannot leave ``output``; no leading dot: dot-names in a
    results folder are private or temporary). Anything else: :class:`ConfigError`."""
    output = cfg.output
    if output is None or isinstance(output, bool) or not str(output).strip() or "\0" in str(output):
        raise ConfigError(
            f"output={'null' if output is None else repr(output)} is not allowed; give the path "
            "of a folder (created if missing)"
        )
    root = Path(str(output))
    if root.exists() and not root.is_dir():
        raise ConfigError(f"output={str(root)!r} is a file; give a folder (created if missing)")
    name = cfg.name
    text = "" if name is None or isinstance(name, bool) else str(name)
    if not text.strip() or text.startswith(".") or any(c in text for c in "/\\\0"):
        raise ConfigError(
            f"name={'null' if name is None else repr(name)} is not allowed; give one plain "
            "folder name (not empty, no '/', '\\' or NUL, not starting with '.')"
        )
    return root / text


def _user_values(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without Hydra's own node (whose run-mode values are unresolvable)."""
    keys = [k for k in cfg.keys() if k != "hydra"]
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)


def job_values(cfg: DictConfig) -> list[dict[str, Any]]:
    """The values of every job, composed as Hydra's basic sweeper composes them: the sweeper's
    params, then the command line (a later value of a key replaces an earlier one), split into
    one override list per job, each composed from conf/config.yaml, so that config groups
    selected per job (``+branch=res3,conv``), interpolations and precedence are the jobs' own."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra

    params = dict(OmegaConf.select(cfg, "hydra.sweeper.params", default={}) or {})
    overrides = [f"{k}={v}" for k, v in params.items()]
    overrides += list(OmegaConf.select(cfg, "hydra.overrides.task", default=[]) or [])
    jobs = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(overrides), None)
    name = str(OmegaConf.select(cfg, "hydra.job.config_name", default="config") or "config")
    inside_hydra = GlobalHydra.instance().is_initialized()
    context = (
        contextlib.nullcontext()
        if inside_hydra
        else initialize_config_dir(config_dir=CONF_DIR, version_base="1.3")
    )
    with context:
        return [_user_values(compose(name, overrides=list(job))) for job in jobs[0]]


def validate(cfg: DictConfig, on_this_machine: bool = False) -> list[dict[str, Any]]:
    """Check the base config and every job of the sweep; return the manifest's jobs.

    ``on_this_machine``: the jobs run in this process (a run, or the basic launcher), so
    after the checks of the input the banner is printed and every job's memory preflight
    is checked against this device (other launchers' jobs check their own device)."""
    folder = results_folder(cfg)
    base.spec_from_config(_user_values(cfg))  # the base config alone names a bad key first
    jobs = base.job_manifest(job_values(cfg))
    for job in jobs[:1]:  # one code version per folder: refused before any job runs
        base.check_folder(folder, base.spec_from_config(job["values"]))
    if on_this_machine:
        configure_jax(cfg)
        device.announce()
        for job in jobs:
            base.spec_from_config(job["values"]).preflight()
    return jobs


def _message(error: BaseException) -> str:
    """``error`` in one line: bad input (ConfigError), a damaged file (ResultsError) and a
    failed write (StorageError) as they say it, anything else after its type's name (an
    OmegaConf error names its key first)."""
    text = str(getattr(error, "strerror", None) or error)  # StorageError: no "[Errno 28]"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if isinstance(error, (ConfigError, results.ResultsError, results.StorageError)):
        return " ".join(lines)
    key = getattr(error, "full_key", None)  # OmegaConf: "<msg>\n    full_key: ...\n ..."
    text = f"{key}: {lines[0]}" if key and lines else " ".join(lines)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _fail(error: BaseException) -> NoReturn:
    """One line on stderr and exit code 2 (a SystemExit: Hydra lets it through, where it
    turns an exception in a callback into a warning and one in a job into the next job).
    ``HYDRA_FULL_ERROR=1`` prints the traceback first."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        traceback.print_exception(error)
    print(f"rsim: error: {_message(error)}", file=sys.stderr)
    sys.exit(2)


@contextlib.contextmanager
def _errors_stop_the_run() -> Iterator[None]:
    """Any exception in a callback (bad input, an interpolation that does not resolve, a
    folder that cannot be written, a damaged _sweep.json, the experiment's finish) stops the
    run through :func:`_fail`."""
    try:
        yield
    except Exception as error:
        _fail(error)


def run_job(cfg: DictConfig) -> Path:
    """Run one job through the shared runner."""
    spec = base.spec_from_config(_user_values(cfg))
    return base.run_job(spec, results_folder(cfg), bool(cfg.progress))


def finish(cfg: DictConfig) -> None:
    """Run the selected experiment's finish over the results folder.

    Args:
        cfg: the composed config (``experiment``, ``output``, ``name``, ``figures``).
    """
    base.get(str(cfg.experiment)).finish(results_folder(cfg), bool(cfg.figures))


class SweepSummary(Callback):
    """Validate before anything runs; summarise and draw when everything has run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        with _errors_stop_the_run():
            self._validate(config, on_this_machine=True)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        with _errors_stop_the_run():
            launcher = str(OmegaConf.select(config, "hydra.launcher._target_", default=""))
            self._validate(config, on_this_machine=launcher.endswith(".BasicLauncher"))

    def on_run_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if getattr(job_return, "status", None) == JobStatus.FAILED:
            return  # Hydra reports the job's own error next: no finish of a failed run
        with _errors_stop_the_run():
            finish(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        with _errors_stop_the_run():  # reached only when every job returned
            finish(config)

    @staticmethod
    def _validate(config: DictConfig, on_this_machine: bool) -> None:
        jobs = validate(config, on_this_machine)
        results.write_manifest(results_folder(config), str(config.experiment), jobs)


def configure_jax(cfg: DictConfig) -> None:
    """Per-job JAX settings, before any backend starts: GPU memory preallocation (off by
    default, so jobs can share a GPU) and the persistent compilation cache (on by default in
    a per-user folder, so array tasks and reruns of a sweep skip compilation)."""
    import jax

    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", str(cfg.xla_preallocate).lower())
    if cfg.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", str(cfg.compilation_cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    configure_jax(cfg)
    device.announce()  # once per process: a SLURM task's log starts with it too
    try:
        run_job(cfg)
    except (ConfigError, results.StorageError, results.ResultsError) as error:
        # A SystemExit stops the whole sweep (the basic launcher runs the next job after any
        # Exception): bad input, a write that failed (full disk, read-only folder: every
        # later job would fail too; run_job left a failure record if it could), a damaged
        # results file.
        _fail(error)
