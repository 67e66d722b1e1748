"""A results folder as pandas and pyarrow read it, rsim.load's selections, and what a run
shows: logging into the job's log, a summary that fits 100 columns, no print( in the library."""

import ast
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from conftest import ROOT

import rsim
from rsim import results
from rsim.analysis import summary
from rsim.experiments import base, cells
from rsim.experiments.cells import CellSpec
from rsim.schema import RATIOS

CELL = dict(width=4, depth=6, betas=(0.5, 1.0), samples=4, init="smooth")

# The print( calls rsim may make: the command-line tools' own final lines, per module. Every
# other line the library shows is logged (a logger per module; the CLI configures logging).
ALLOWED_PRINTS = {
    "rsim/cli.py": 1,  # rsim: error: ... (one line, then exit code 2)
    "rsim/status.py": 3,  # python -m rsim.status: its error lines and the status lines
    "rsim/report.py": 2,  # python -m rsim.report: its error line and the verdict
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A cells folder as a sweep leaves it: two cells (one with its weight paths), the
    manifest, the summary, the figures, the report, a lock and Hydra's folder."""
    folder = tmp_path_factory.mktemp("sweep")
    specs = [CellSpec(**CELL, weight_paths=2), CellSpec(**{**CELL, "depth": 8})]
    results.write_manifest(folder, "cells", base.job_manifest([s.identity() for s in specs]))
    for spec in specs:
        base.run_job(spec, folder)
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "rsim.log").write_text("a log\n")
    cells.finish(folder, figures=True)
    return folder


def test_pandas_and_pyarrow_read_the_folder_as_rsim_load_less_its_ratios(sweep):
    names = {p.name for p in sweep.iterdir()}
    assert {"_figures", "_tables", "_sweep.json", "_report.md"} <= names
    assert (sweep / "_tables" / "summary.csv").is_file()
    assert list((sweep / "_tables" / "paths").glob("part-*.parquet"))
    assert list((sweep / "_figures").glob("*.png"))
    loaded = rsim.load(sweep, strict=True)
    read = pd.read_parquet(sweep)
    assert list(read.columns) == [c for c in loaded if c not in RATIOS]
    assert set(loaded.columns) - set(read.columns) == {c for c in RATIOS if c in loaded}
    pd.testing.assert_frame_equal(read, loaded[read.columns])
    assert ds.dataset(sweep).count_rows() == len(loaded) == 2 * 2 * 4
    paths = pd.read_parquet(results.table_folder(sweep, "paths"))
    pd.testing.assert_frame_equal(paths, rsim.load(sweep / "_tables" / "paths")[paths.columns])


def test_load_of_several_folders_names_each_rows_folder(sweep, tmp_path):
    other = tmp_path / "other"
    base.run_job(CellSpec(**CELL), other)  # the same draws as a cell of ``sweep``
    both = rsim.load([sweep, other], strict=True)  # repeated draws: not across folders
    assert both["folder"].value_counts().to_dict() == {str(sweep): 16, str(other): 8}
    alone = rsim.load(other).sort_values(["beta", "sample"], ignore_index=True)
    mine = both[both["folder"] == str(other)].drop(columns="folder")
    pd.testing.assert_frame_equal(mine.sort_values(["beta", "sample"], ignore_index=True), alone)
    assert "folder" not in rsim.load(sweep) and "folder" not in rsim.load([sweep])


def test_columns_and_filters_are_applied_while_reading(sweep):
    loaded = rsim.load(sweep)
    picked = rsim.load(sweep, columns=["beta", "hidden_diff", "log_hidden_diff"])
    assert list(picked.columns) == ["beta", "hidden_diff", "log_hidden_diff"]
    pd.testing.assert_frame_equal(picked, loaded[picked.columns])
    half = rsim.load(sweep, filters=[("beta", "=", 0.5), ("depth", ">", 6)])
    expected = loaded[(loaded["beta"] == 0.5) & (loaded["depth"] > 6)].reset_index(drop=True)
    assert len(half) == 4
    pd.testing.assert_frame_equal(half, expected)
    expression = rsim.load(sweep, columns=["sample"], filters=pc.field("beta") == 1.0)
    assert len(expression) == 8 and list(expression.columns) == ["sample"]
    with pytest.raises(ValueError, match=r"^rsim.load: no column 'r_h' in .*log_ columns$"):
        rsim.load(sweep, columns=["beta", "r_h"])
    with pytest.raises(ValueError, match=r"^rsim.load: bad filters for .*") as error:
        rsim.load(sweep, filters=[("hidden_diff", ">", 1.0)])  # a ratio: filter on its log
    assert "\n" not in str(error.value)


def test_simulate_gives_the_columns_of_load(tmp_path):
    spec = CellSpec(**CELL)
    base.run_job(spec, tmp_path)
    simulated = rsim.simulate(**{k: list(v) if k == "betas" else v for k, v in CELL.items()})
    pd.testing.assert_frame_equal(simulated, rsim.load(tmp_path))
    for name in ("hidden_diff", "hidden_ratio", "jvp_diff"):
        np.testing.assert_array_equal(simulated[name], np.exp(simulated[f"log_{name}"]))


def test_a_run_logs_into_its_job_log_and_prints_a_summary_of_100_columns(tmp_path):
    """Through the command line, stderr a pipe: no progress bar although progress=true."""
    proc = subprocess.run(
        [sys.executable, "-m", "rsim", "width=4", "depth=8", "samples=8", "betas=[0.25,0.5,1.0]",
         "init=fbm", "hurst=0.3", "gradients=both", f"output={tmp_path}", "progress=true"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "it/s" not in proc.stderr, proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rsim: summary of"))
    table = lines[start + 1 : start + 5]  # the header and one line per beta
    assert table[0].split()[:6] == ["model", "init", "hurst", "width", "depth", "beta"], lines
    assert all(len(line) <= summary.TERMINAL_COLUMNS for line in table), table
    full = pd.read_csv(tmp_path / "single" / "_tables" / "summary.csv")
    assert len(full) == 3 and len(full.columns) > len(table[0].split())
    (log,) = (tmp_path / "single" / ".hydra").glob("*/job.log")
    text = log.read_text()
    for line in ("wrote 24 rows to", "summary of the 1 jobs", "figure ", "report "):
        assert f"[INFO] {line}" in text, text


def test_the_library_prints_only_the_command_lines_final_lines():
    prints = {}
    for path in sorted((ROOT / "rsim").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
        ]
        if calls:
            prints[path.relative_to(ROOT).as_posix()] = len(calls)
    assert prints == ALLOWED_PRINTS
    for path in (ROOT / "rsim").rglob("*.py"):  # a library chooses no matplotlib backend
        assert "matplotlib.use(" not in path.read_text(encoding="utf-8"), path


def test_every_module_logs_under_its_own_name():
    from rsim import data, device, slurm
    from rsim.core import memory
    from rsim.views import cells as views

    for module in (base, cells, data, device, memory, slurm, views):
        assert module.log is logging.getLogger(module.__name__)
