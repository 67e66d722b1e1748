"""A weight law added by one record (issue 23): two throwaway i.i.d. laws are registered inside
the test (and removed after) and nothing else is edited. Each simulates through the engine,
its entries have its law, E r_h^2 is its own exact (1 + c alpha^2)^L - 1, and the theory
report judges it with its own constants:

* ``two_point_v2``: +-sqrt(2) gain / sqrt(fan_in), a symmetric two-point law of variance 2
  (in units of gain^2 / fan_in): sub-Gaussian (s = 1) with even moments 1, so H1 fails by its
  variance only (c = 2 (2 kappa)^m at gain 1), and holds at gain 1/sqrt(2);
* ``student8``: Student-t with 8 degrees of freedom scaled to unit variance: not
  sub-Gaussian (H1 fails), E X^4 = 4.5 > 3 and E X^8 infinite (no certified eighth-moment
  constant), yet i.i.d. and symmetric, so the exact second moment holds.
"""

from __future__ import annotations

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from variants import assert_exact_mean_squares

import rsim
from rsim import schema
from rsim.analysis import report, theory
from rsim.core import laws
from rsim.core.laws import IID, Law

STUDENT_DF = 8.0
STUDENT_SCALE = math.sqrt((STUDENT_DF - 2) / STUDENT_DF)  # t_8 has variance 8/6


def student8_unit(key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """Student-t entries with 8 degrees of freedom, scaled to variance 1."""
    return jax.random.t(key, STUDENT_DF, shape, dtype) * STUDENT_SCALE


TWO_POINT = Law(
    "two_point_v2",
    "two-point, variance 2",
    IID,
    laws.rademacher_unit,
    subgaussian=1.0,
    even_moments=(1.0, 1.0, 1.0, 1.0),
    variance=2.0,
    draw_copies=2,
)
STUDENT = Law(
    "student8",
    "Student-t, 8 degrees of freedom",
    IID,
    student8_unit,
    subgaussian=None,
    # E T^2k / Var(T)^k for t_8: 1, 3 + 6/(8 - 4), 15 (8 - 2)^2 / ((8 - 4)(8 - 6)), infinite.
    even_moments=(1.0, 4.5, 67.5, math.inf),
)
NEW_LAWS = (TWO_POINT, STUDENT)
CELL = dict(model="res3", width=8, depth=20, betas=[0.5], gradients="jvp", precision="float64")


@pytest.fixture
def new_laws():
    """The two laws, registered for one test and removed after it."""
    for record in NEW_LAWS:
        laws.register_law(record)
    try:
        yield
    finally:
        for record in NEW_LAWS:
            laws.LAWS.pop(record.name, None)


def _draw(name: str, n: int, fan_in: int, gain: float) -> np.ndarray:
    """``n`` entries of ``name`` as the engine draws them (float64)."""
    with jax.enable_x64(True):
        key = jax.random.PRNGKey(5)
        return np.asarray(laws.draw(name, key, (n,), fan_in, gain, jnp.float64))


def test_the_registry_refuses_duplicates_and_names_the_choices(new_laws):
    with pytest.raises(ValueError, match="registered already"):
        laws.register_law(TWO_POINT)
    with pytest.raises(ValueError, match="student8"):
        laws.law("cauchy")
    assert "student8" in schema.IID_LAWS  # the schema's names are read live


def test_entries_have_their_law(new_laws):
    """20 000 entries at fan_in 4, gain 1.5: two-point on +-sqrt(2) 1.5 / 2 with P(+) = 1/2
    within 4 binomial standard deviations; Student-t by KS against t_8 scaled to variance
    1.5^2 / 4."""
    n, fan_in, gain = 20_000, 4, 1.5
    two = _draw("two_point_v2", n, fan_in, gain)
    atom = math.sqrt(2) * gain / math.sqrt(fan_in)
    np.testing.assert_allclose(np.abs(two), atom, rtol=1e-12)
    assert abs((two > 0).sum() - n / 2) < 4 * math.sqrt(n / 4)
    t = _draw("student8", n, fan_in, gain)
    scale = STUDENT_SCALE * gain / math.sqrt(fan_in)
    assert stats.kstest(t, stats.t(STUDENT_DF, scale=scale).cdf).pvalue > 0.01
    assert np.var(t) == pytest.approx(gain**2 / fan_in, rel=0.1)


@pytest.mark.parametrize("record, c", [(TWO_POINT, 2.0), (STUDENT, 0.5)])
def test_it_simulates_with_its_exact_second_moment(new_laws, record, c):
    """res-3, d = 8, L = 20, beta = 1/2, 3000 samples (seed 2), float64, explicit sampler:
    E r_h^2 and E r_q^2 = (1 + c alpha^2)^L - 1 within 4 standard errors, with c = v (v/2)
    from the law's variance v (2 for the two-point law: 5.73, not the unit law's 0.64)."""
    frame = rsim.simulate(init=record.name, samples=3000, seed=2, **CELL)
    assert_exact_mean_squares(frame, c, 20**-0.5, 20)
    with pytest.raises(rsim.ConfigError, match="init=gaussian only"):
        rsim.simulate(init=record.name, samples=2, sampler="projection", **CELL)


def _statements(frame):
    """The report's check table, by statement: the verdicts and notes of hidden states."""
    checks = report.check_table(frame)
    hidden = checks[checks["quantity"] == checks["quantity"].iloc[0]]
    return {row["statement"]: row for _, row in hidden.iterrows()}


def test_the_report_uses_the_laws_own_constants(new_laws, tmp_path):
    """Two-point at gain 1 fails H1 and H2 by its variance 2 and at gain 1/sqrt(2) satisfies
    them (s = 1, Gaussian-certified C); Student-t fails H1 (not sub-Gaussian) and has no C,
    so every statement but the exact moment is not applicable, and that one agrees."""
    two = theory.Network("res3", "relu", 0.0, "two_point_v2", 1.0, 64, None, None, None)
    failed = theory.h1_failure(two)
    assert "variance 2" in failed.condition and failed.condition.startswith("H1:")
    assert "variance" in theory.h2_failure(two).condition
    unit = theory.Network("res3", "relu", 0.0, "two_point_v2", 2**-0.5, 64, None, None, None)
    assert theory.h1_failure(unit) is None and theory.subgaussian_parameter(unit.init) == 1.0
    gaussian_c = theory.eighth_moment_constant(replace(unit, init="gaussian", gain=1.0))
    assert theory.eighth_moment_constant(unit) == gaussian_c
    assert isinstance(theory.lemma1_bounds(unit, 0.1, 100), theory.Band)

    student = theory.Network("res3", "relu", 0.0, "student8", 1.0, 64, None, None, None)
    assert "not sub-Gaussian" in theory.h1_failure(student).condition
    assert "E X^2k" in theory.eighth_moment_constant(student).condition
    assert theory.hypotheses_text(student).startswith("no: H1: sub-Gaussian")

    frame = rsim.simulate(init="student8", samples=400, seed=3, **CELL)
    rows = _statements(frame)
    assert rows["exact E[r^2]"]["verdict"] == report.AGREES
    for name, row in rows.items():
        if name != "exact E[r^2]":
            assert row["verdict"] == report.NOT_APPLICABLE, name
            assert "sub-Gaussian" in row["note"], (name, row["note"])
    markdown = report.render_markdown(report.check_table(frame), tmp_path, [])
    assert "not sub-Gaussian" in markdown
