"""The simulator's numbers did not move when the code moved: metric values of fixed cells and
their file names (digests), recorded from the code before the one-runner refactor, bit for
bit (tests/data/regression.json; the ode/sde and training values are checked in
test_limits.py and test_train.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

import rsim

RECORDED = json.loads((Path(__file__).parent / "data" / "regression.json").read_text())


@pytest.mark.parametrize("cell", RECORDED["cells"], ids=lambda c: c["digest"])
def test_cell_metrics_and_file_names_are_unchanged(cell):
    assert rsim.CellSpec.from_config(cell["options"]).digest() == cell["digest"]
    frame = rsim.simulate(**cell["options"])
    for column, values in cell["metrics"].items():
        recorded = np.array([float.fromhex(v) for v in values])
        assert np.array_equal(frame[column].to_numpy(), recorded), column
