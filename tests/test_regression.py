"""The simulator's numbers did not move when the code moved: metric values of fixed cells and
their file names (digests), recorded from the code before the one-runner refactor, bit for
bit (tests/data/regression.json, and for other jaxlibs their own recording: see
tests/regression_record.py; the ode/sde and training values are checked in test_limits.py
and test_train.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from regression_record import BASE, recorded

import rsim

# Every recording has these cells (options and digests), in this order.
CELLS = json.loads(BASE.read_text())["cells"]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c["digest"])
def test_cell_metrics_and_file_names_are_unchanged(cell):
    metrics = {c["digest"]: c["metrics"] for c in recorded()["cells"]}[cell["digest"]]
    assert rsim.CellSpec.from_config(cell["options"]).digest() == cell["digest"]
    frame = rsim.simulate(**cell["options"])
    for column, values in metrics.items():
        recorded_values = np.array([float.fromhex(v) for v in values])
        assert np.array_equal(frame[column].to_numpy(), recorded_values), column


@pytest.mark.slow
def test_the_recorder_reproduces_the_installed_jaxlibs_recording():
    """scripts/record_regression.py computes what these tests compare (45 s: every entry)."""
    recorded()  # skip without a recording
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "record_regression.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced bit for bit" in proc.stdout
