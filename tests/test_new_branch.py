"""A branch added by one record (issue 23): a throwaway dense branch with two fixed hidden
layers, V sigma(W_2 sigma(W_1 h)), is registered inside the test (and removed after); nothing
else is edited. It simulates through both samplers, E r_h^2 is its own exact
(1 + c alpha^2)^L - 1 with c = (gain^2 kappa)^2 gain^2 from its record, and the theory report
judges its hypotheses from the record (ReLU with m = 2 fails H2's lower bound, kappa^2 = 1/4).
"""

from __future__ import annotations

import pytest
from variants import assert_exact_mean_squares

import rsim
from rsim import schema
from rsim.analysis import theory
from rsim.core import branches
from rsim.core.branches import Branch

# m = 2 fixed: the dense residual of the registered mlp branch, built for two hidden layers.
DENSE2 = Branch("dense2", "dense2", branches.BRANCHES["mlp"].build, hidden_layers=2)
CELL = dict(model="dense2", width=8, depth=20, betas=[0.5], gradients="jvp", precision="float64")


@pytest.fixture
def dense2():
    """The branch, registered for one test and removed after it."""
    branches.register_branch(DENSE2)
    try:
        yield
    finally:
        branches.BRANCHES.pop(DENSE2.name, None)


def test_the_new_branch_is_a_choice_everywhere(dense2):
    assert "dense2" in schema.MODELS and "dense2" in schema.PROJECTION_MODELS
    with pytest.raises(ValueError, match="dense2"):
        branches.branch_record("res4")


@pytest.mark.parametrize("activation, c", [("identity", 1.0), ("relu", 0.25)])
@pytest.mark.parametrize("sampler", ["explicit", "projection"])
def test_it_simulates_with_its_exact_second_moment(dense2, activation, c, sampler):
    """d = 8, L = 20, beta = 1/2, 2000 Gaussian samples (seed 3), float64: E r_h^2 and E r_q^2
    = (1 + c alpha^2)^L - 1 within 4 standard errors, c = kappa^2 (identity 1, ReLU 1/4)."""
    frame = rsim.simulate(
        init="gaussian", activation=activation, sampler=sampler, samples=2000, seed=3, **CELL
    )
    assert_exact_mean_squares(frame, c, 20**-0.5, 20)


def test_the_report_judges_it_from_its_record(dense2):
    def net(activation: str) -> theory.Network:
        return theory.Network.from_mapping(
            dict(model="dense2", activation=activation, negative_slope=0.01, init="gaussian")
            | dict(gain=1.0, width=8)
        )

    assert theory.h2_failure(net("identity")) is None
    failed = theory.h2_failure(net("relu"))
    assert isinstance(failed, theory.NotApplicable) and "m = 2" in failed.condition
    # The eighth-moment constant of two independent dense layers: C(d)^2 (identity: C(8)).
    one_layer = theory.eighth_moment_constant(
        theory.Network.from_mapping(
            dict(model="res2", activation="identity", negative_slope=0.01, init="gaussian")
            | dict(gain=1.0, width=8)
        )
    )
    assert theory.eighth_moment_constant(net("identity")) == pytest.approx(one_layer**2)
