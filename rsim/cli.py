"""The Hydra application behind ``python -m rsim``: the only module that imports Hydra.

A Hydra job is one cell. ``SweepSummary`` validates the whole run before any job starts
(bad input: one line on stderr, exit code 2, nothing written) and, once the run or sweep
has finished, prints the per-cell summary and writes the figures next to the data.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rsim.config import CellSpec, ConfigError

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


def cell_spec(cfg: DictConfig) -> CellSpec:
    return CellSpec.from_mapping(_user_values(cfg))


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


def validate(cfg: DictConfig) -> None:
    """Check the base config and every value of every swept key."""
    results_folder(cfg)
    base = _user_values(cfg)
    CellSpec.from_mapping(base)
    for key, values in _sweep_values(cfg).items():
        for value in values:
            CellSpec.from_mapping({**base, key: value})


def _fail(error: ConfigError) -> None:
    print(f"rsim: error: {error}", file=sys.stderr)
    sys.exit(2)


def run_job(cfg: DictConfig) -> Path:
    """Simulate one cell and write it, unless its file already exists."""
    from rsim import results
    from rsim.simulate import run_cell

    spec = cell_spec(cfg)
    path = results.cell_path(results_folder(cfg), spec)
    if path.exists():
        print(f"rsim: skip depth={spec.depth} width={spec.width}: {path} exists")
        return path
    frame = run_cell(spec, progress=bool(cfg.progress))
    results.write(frame, path, results.provenance(spec))
    print(f"rsim: wrote {len(frame)} rows to {path}")
    return path


def finish(folder: Path, figures: bool) -> None:
    """Print the summary of a results folder, write its figures and its theory report."""
    from rsim import plots, report, results, summary

    frame = results.load(folder)
    table = summary.summarize(frame)
    table.to_csv(Path(folder) / "summary.csv", index=False)
    if len(table) <= 60:
        print(summary.format_summary(table))
    else:
        print(f"rsim: {len(table)} (cell, beta) rows summarised in {Path(folder) / 'summary.csv'}")
    critical = summary.critical_text(frame)
    if critical:
        print(critical)
    if figures:
        for path in plots.sweep_figures(frame, folder):
            print(f"rsim: figure {path}")
    written = report.write_report(folder, figures=figures)
    print(f"rsim: report {written.path}: {written.verdict}")


class SweepSummary(Callback):
    """Validate before anything runs; summarise and draw when everything has run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._validate(config)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish(results_folder(config), bool(config.figures))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish(results_folder(config), bool(config.figures))

    @staticmethod
    def _validate(config: DictConfig) -> None:
        try:
            validate(config)
        except ConfigError as error:
            _fail(error)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        run_job(cfg)
    except ConfigError as error:
        _fail(error)
