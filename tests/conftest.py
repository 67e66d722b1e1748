import dataclasses
import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def rsim_lines_on_the_terminal():
    """rsim's log lines shown as the CLI shows them (rsim.cli.TerminalHandler: ``rsim: ...`` on
    stdout, warnings on stderr), so that capsys reads what a run prints; the ``rsim`` logger's
    state (which an in-process Hydra run reconfigures) is restored after each test."""
    from rsim.cli import TerminalHandler

    logger = logging.getLogger("rsim")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [TerminalHandler()]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python -m rsim`` in a subprocess from the repository root."""
    import subprocess

    def run(*overrides, check=True):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run(
            [sys.executable, "-m", "rsim", *overrides, "progress=false"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"rsim failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


def make_kernel(block: int | None = None, **options):
    """The engine kernel of the cell with these options (defaults: the cell's), with its
    block of samples overridden when given."""
    from rsim.experiments.cells import CellSpec

    kernel = CellSpec(**options).kernel()
    return kernel if block is None else dataclasses.replace(kernel, block=block)
