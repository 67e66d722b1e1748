"""The simulator's numbers did not move when the code moved: metric values of fixed cells and
their file names (digests), recorded from the code before the one-runner refactor, bit for
bit on the recording's CPU (tests/data/regression.json, and for other jaxlibs their own
recording; on another CPU within 16 epsilons: see tests/regression_record.py; the ode/sde
and training values are checked in test_limits.py and test_train.py)."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT
from regression_record import BASE, assert_reproduced, recorded

import rsim

# Every recording has these cells (options and digests), in this order.
CELLS = json.loads(BASE.read_text())["cells"]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c["digest"])
def test_cell_metrics_and_file_names_are_unchanged(cell):
    recording = recorded()
    metrics = {c["digest"]: c["metrics"] for c in recording["cells"]}[cell["digest"]]
    spec = rsim.CellSpec.from_config(cell["options"])
    assert spec.digest() == cell["digest"]
    frame = rsim.simulate(**cell["options"])
    for column, values in metrics.items():
        assert_reproduced(frame[column], values, column, spec.precision, recording)


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
