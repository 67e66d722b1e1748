"""The Hydra application behind ``python -m rsim``: the only module that imports Hydra.

A Hydra job is one job of an experiment (:mod:`rsim.experiments`; by default one simulation
cell). ``SweepSummary`` validates the whole run before any job starts
(bad input: one line on stderr, exit code 2, nothing written) and, once the run or sweep
has finished, prints the per-cell summary and writes the figures next to the data.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rsim import experiments
from rsim.config import ConfigError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def results_folder(cfg: DictConfig) -> Path:
    """``<output>/<name>``, refusing an output root that is not a folder."""
    output = Path(str(cfg.output))
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output={str(output)!r} is a file; give a folder (created if missing)")
    if not str(cfg.name) or "/" in str(cfg.name):
        raise ConfigError(f"name={cfg.name!r} is not allowed; give a plain folder name")
    return output / str(cfg.name)


def _user_values(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config without Hydra's own node (whose run-mode values are unresolvable)."""
    keys = [k for k in cfg.keys() if k != "hydra"]
    return OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)


def _sweep_values(cfg: DictConfig) -> dict[str, list[Any]]:
    """The values each swept key takes, from the sweeper's params and the command line."""
    params = dict(OmegaConf.select(cfg, "hydra.sweeper.params", default={}) or {})
    overrides = [f"{k}={v}" for k, v in params.items()]
    overrides += list(OmegaConf.select(cfg, "hydra.overrides.task", default=[]) or [])
    swept = {}
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            swept[override.key_or_group] = list(override.sweep_iterator())
    return swept


def validate(cfg: DictConfig) -> list[dict[str, Any]]:
    """Check the base config and every value of every swept key; return the jobs' values."""
    from rsim.status import job_values

    results_folder(cfg)
    base = _user_values(cfg)
    experiment = experiments.get(str(base.get("experiment", "cells")))
    experiment.validate(base)
    swept = _sweep_values(cfg)
    for key, values in swept.items():
        for value in values:
            experiment.validate({**base, key: value})
    return job_values(base, swept)


def _fail(error: ConfigError) -> None:
    print(f"rsim: error: {error}", file=sys.stderr)
    sys.exit(2)


def run_job(cfg: DictConfig) -> Path:
    """Run one job; an exception other than bad input is recorded as failed-<digest>.json
    (for ``python -m rsim.status``) before it propagates."""
    from rsim.status import failure_path, job_digest

    values = _user_values(cfg)
    name = str(values.get("experiment", "cells"))
    folder = results_folder(cfg)
    digest = job_digest(values) if name == "cells" else None
    try:
        path = experiments.get(name).run_job(values, folder, bool(cfg.progress))
    except ConfigError:
        raise
    except Exception as error:
        if digest:
            folder.mkdir(parents=True, exist_ok=True)
            failure_path(folder, digest).write_text(json.dumps(
                {"error": f"{type(error).__name__}: {error}", "job": values}, default=str))
        raise
    if digest:
        failure_path(folder, digest).unlink(missing_ok=True)
    return path


def finish(cfg: DictConfig) -> None:
    experiments.get(str(cfg.experiment)).finish(results_folder(cfg), bool(cfg.figures))


class SweepSummary(Callback):
    """Validate before anything runs; summarise and draw when everything has run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate(config)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish(config)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish(config)

    @staticmethod
    def _validate(config: DictConfig) -> None:
        from rsim.status import write_manifest

        try:
            jobs = validate(config)
        except ConfigError as error:
            _fail(error)
        write_manifest(results_folder(config), str(config.experiment), jobs)


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
    try:
        run_job(cfg)
    except ConfigError as error:
        _fail(error)
