"""One variant list per axis for the test suite, read from the registries: a law or a branch
registered in rsim runs every law- or branch-parametrised test without editing them.

Lists are taken when a test module is imported (collection), so a law registered inside a
test (tests/test_new_law.py) is not in them; that test runs its own checks.
"""

from __future__ import annotations

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
