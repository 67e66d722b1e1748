"""One variant list per axis for the test suite, read from the registries: a law or a branch
registered in rsim runs every law- or branch-parametrised test without editing them.

Lists are taken when a test module is imported (collection), so a law registered inside a
test (tests/test_new_law.py) is not in them; that test runs its own checks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rsim.analysis import theory
from rsim.core.branches import BRANCHES
from rsim.core.laws import LAWS

LAWS_ALL = list(LAWS)
IID_LAWS = [name for name, law in LAWS.items() if law.family == "iid"]
CORRELATED_LAWS = [name for name, law in LAWS.items() if law.family == "correlated"]
HURST_LAWS = [name for name, law in LAWS.items() if law.has_hurst]
# i.i.d. laws the Gaussian-certified constants of rsim.analysis.theory apply to.
GAUSSIAN_BOUNDED_LAWS = [
    name for name in IID_LAWS if LAWS[name].moments_at_most_gaussian and LAWS[name].subgaussian
]
MODELS = list(BRANCHES)
FIXED_MODELS = [name for name, branch in BRANCHES.items() if branch.fixed]
DEEP_MODELS = [name for name, branch in BRANCHES.items() if not branch.fixed]
DENSE_MODELS = [name for name, branch in BRANCHES.items() if branch.dense]


def assert_exact_mean_squares(frame: pd.DataFrame, c: float, alpha: float, depth: int) -> None:
    """A simulated cell's E r_h^2 and E r_q^2 equal (1 + c alpha^2)^L - 1 within 4 standard
    errors, and the theory module's constant for the cell is ``c`` (a new law or branch checked
    against its own record)."""
    net = theory.Network.from_mapping(frame.iloc[0])
    assert theory.second_moment_factor(net) == c
    exact = theory.exact_second_moment(net, alpha, depth)
    assert exact == pytest.approx((1 + c * alpha**2) ** depth - 1)
    for column in ("log_hidden_diff", "log_jvp_diff"):
        squares = np.exp(2 * frame[column].to_numpy())
        se = squares.std(ddof=1) / math.sqrt(squares.size)
        assert abs(squares.mean() - exact) < 4 * se, (column, squares.mean(), se, exact)
