"""init=fbm_official, the law of the paper authors' fGn generator (scaling-resnets, utils.py,
``generate_fbm``), defects included: rsim's sampler against a loop over the generator's
formula fed the same normals, the covariance of the construction against rsim's paths (drawn
by laws.path and by the engine), its closed form (rsim/THEORY.md), the i.i.d. law at H = 1/2,
and the law's wiring (one compilation per H sweep, clear errors)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import rsim
from rsim.checks import ConfigError
from rsim.core import engine, laws, spectra
from rsim.experiments.cells import CellSpec, compute

EPS32 = float(np.finfo(np.float32).eps)


def generator_eigenvalues(hurst: float, n: int) -> np.ndarray:
    """The generator's step 1 written out: gamma(0..n-1), 0, gamma(n-1..1) times the twist
    exp(2 pi i (2n-1) j / 2n), FFT, read backwards. It uses the generator's own float64
    operations (NumPy scalar powers, the twist, np.fft.fft) because their rounding decides the
    sign of the imaginary part of the negative eigenvalues, hence of their square roots."""
    two_h = 2 * hurst
    g = [
        0.5 * (np.abs(k - 1) ** two_h - 2 * np.abs(k) ** two_h + np.abs(k + 1) ** two_h)
        for k in range(n)
    ]
    row = np.array(g + [0.0] + g[::-1][: n - 1])
    return np.fft.fft(
        row * np.exp(2 * np.pi * 1j * (2 * n - 1) * np.arange(2 * n) * (1 / (2 * n)))
    )[::-1]


def generator_sequences(eigenvalues: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Steps 2 and 3 as a loop over the formula, float64, a direct DFT: ``(n, count)`` from
    normals ``(count, 2, n)`` (row 0: V_0, a_1..a_{n-1}; row 1: V_n, b_1..b_{n-1})."""
    count, _, n = normals.shape
    w = np.zeros((count, 2 * n), complex)
    w[:, 0] = np.sqrt(eigenvalues[0] / (2 * n)) * normals[:, 0, 0]
    w[:, n] = np.sqrt(eigenvalues[0] / (2 * n)) * normals[:, 1, 0]  # lambda_0 at frequency n
    for j in range(1, n):
        a, b = normals[:, 0, j], normals[:, 1, j]
        w[:, j] = np.sqrt(eigenvalues[j] / (4 * n)) * (a + 1j * b)
        w[:, 2 * n - j] = np.sqrt(eigenvalues[2 * n - j] / (4 * n)) * (a - 1j * b)
    m, k = np.arange(n)[:, None], np.arange(2 * n)[None, :]
    dft = np.exp(-2j * np.pi * ((m * k) % (2 * n)) / (2 * n))
    return (dft @ w.T).real


def construction_covariance(hurst: float, n: int) -> np.ndarray:
    """The exact ``(n, n)`` covariance of the construction: M M^T, M the linear map of the
    2n normals (the loop applied to each unit vector)."""
    basis = np.eye(2 * n).reshape(2 * n, 2, n)
    m = generator_sequences(generator_eigenvalues(hurst, n), basis)
    return m @ m.T


def rsim_sequences(normals: np.ndarray, hurst: float, precision: str) -> np.ndarray:
    dtype = jnp.float64 if precision == "float64" else jnp.float32
    n = normals.shape[-1]
    with engine.numerics(precision):
        scale = jnp.asarray(spectra.fgn_official_scale(hurst, n), dtype)
        return np.asarray(laws.fgn_official_from_normals(jnp.asarray(normals, dtype), scale))


@pytest.mark.parametrize("hurst,n", [(0.3, 64), (0.8, 64), (0.9, 64), (0.97, 64), (0.97, 1000)])
def test_from_normals_is_the_generators_formula(hurst, n):
    normals = np.random.default_rng(5).standard_normal((3, 2, n))
    normals = normals.astype(np.float32).astype(np.float64)  # exact in float32 too
    eigenvalues = generator_eigenvalues(hurst, n)
    want = generator_sequences(eigenvalues, normals)
    if hurst >= 0.9:  # the rounding-determined square roots are exercised
        assert (eigenvalues.real < 0).sum() > n // 2
    np.testing.assert_allclose(rsim_sequences(normals, hurst, "float64"), want, rtol=0, atol=1e-12)
    # float32: the FFT of size 2n rounds ~log2(2n) times at the scale of the largest entry
    atol = 4 * EPS32 * np.log2(2 * n) * np.abs(want).max()
    np.testing.assert_allclose(rsim_sequences(normals, hurst, "float32"), want, rtol=0, atol=atol)


@pytest.mark.parametrize("hurst", [0.3, 0.5, 0.8, 0.9, 0.97])
def test_construction_covariance_has_the_closed_form_of_the_theory(hurst):
    """Cov(d) = gamma(d) + (lambda_0 - lambda_n)(-1)^d / 2n
    + (1/n) sum over negative lambda_j (0 < j < n) of |lambda_j| (1 + s_j) cos(pi j d / n),
    s_j = 1 when the roots of lambda_j and lambda_{2n-j} have opposite imaginary signs."""
    n = 64
    cov = construction_covariance(hurst, n)
    d = np.arange(n)
    np.testing.assert_allclose(cov, cov[0, np.abs(d[:, None] - d[None, :])], atol=1e-12)
    lam = generator_eigenvalues(hurst, n)
    lambda_0 = n ** (2 * hurst) - (n - 1) ** (2 * hurst)  # the sum of the first row
    np.testing.assert_allclose(lam[0].real, lambda_0, rtol=1e-12)
    want = spectra.fgn_autocovariance(hurst, d) + (lambda_0 - lam[n].real) * (-1.0) ** d / (2 * n)
    j = np.arange(1, n)
    negative = lam[j].real < 0
    opposite = np.signbit(np.sqrt(lam[j]).imag) != np.signbit(np.sqrt(lam[2 * n - j]).imag)
    excess = np.abs(lam[j].real) * (1 + opposite) * negative
    want = want + np.cos(np.pi * np.outer(d, j) / n) @ excess / n
    np.testing.assert_allclose(cov[0], want, atol=1e-12)


def _moments(paths: np.ndarray, lags=(0, 1, 2)):
    """Pooled E[x_k x_{k+l}] over positions of independent paths ``(n, count)``, each with its
    standard error (from the spread of the per-path means), and the lag-l correlations with
    their delta-method standard errors."""
    per_path = np.array([np.mean(paths[: len(paths) - lag] * paths[lag:], axis=0) for lag in lags])
    count = per_path.shape[1]
    mean = per_path.mean(axis=1)
    se = per_path.std(axis=1, ddof=1) / np.sqrt(count)
    rho = mean / mean[0]
    rho_se = (per_path - rho[:, None] * per_path[0]).std(axis=1, ddof=1) / np.sqrt(count) / mean[0]
    return mean, se, rho, rho_se


def _exact(cov: np.ndarray, lags=(0, 1, 2)):
    mean = np.array([np.mean(np.diagonal(cov, lag)) for lag in lags])
    return mean, mean / mean[0]


@pytest.mark.parametrize("hurst", [0.5, 0.8, 0.97])
def test_paths_have_the_covariance_of_the_construction(hurst):
    n, count = 64, 20000
    with engine.numerics("float32"):
        paths = laws.path(
            "fbm_official",
            jax.random.PRNGKey(3),
            n,
            (count,),
            9,
            1.5,
            jnp.float32,
            fgn_scale=spectra.fgn_official_scale(hurst, n),
        )
    paths = np.asarray(paths, np.float64) * 3 / 1.5  # sqrt(fan_in) / gain: the unit sequence
    mean, se, rho, rho_se = _moments(paths)
    want, want_rho = _exact(construction_covariance(hurst, n))
    assert np.all(np.abs(mean - want) < 4 * se), (mean, want, se)
    assert np.all(np.abs(rho - want_rho)[1:] < 4 * rho_se[1:]), (rho, want_rho, rho_se)
    if hurst != 0.5:  # and the test tells the law from exact fGn
        fgn_rho = spectra.fgn_autocovariance(hurst, 1)
        assert abs(want[0] - 1) > 10 * se[0] or abs(want_rho[1] - fgn_rho) > 10 * rho_se[1]


def test_engine_weight_paths_have_the_covariance_of_the_construction():
    """Through rsim's cells experiment: hurst reaches the engine's law state."""
    hurst, n, samples = 0.97, 64, 1500
    spec = CellSpec(
        init="fbm_official", hurst=hurst, width=4, depth=n, samples=samples, weight_paths=samples
    )
    table = compute(spec)["paths"]
    paths = table.pivot(index="layer", columns="sample", values="weight").to_numpy() * 2
    mean, se, rho, rho_se = _moments(paths)
    want, want_rho = _exact(construction_covariance(hurst, n))
    assert np.all(np.abs(mean - want) < 4 * se), (mean, want, se)
    assert np.all(np.abs(rho - want_rho)[1:] < 4 * rho_se[1:]), (rho, want_rho, rho_se)
    assert abs(want[0] - 1) > 10 * se[0]  # variance 2.01: not fGn


def test_one_half_is_iid_gaussian():
    """At H = 1/2 every eigenvalue is 1 (gamma(k) = 0 for k >= 1), so lambda_0 = lambda_n and
    using lambda_0 at frequency n changes nothing: the construction is exactly i.i.d. N(0, 1);
    the defect needs H != 1/2."""
    n = 64
    np.testing.assert_allclose(construction_covariance(0.5, n), np.eye(n), atol=1e-12)
    scale = spectra.fgn_official_scale(0.5, n)
    np.testing.assert_array_equal(scale[1], 0)
    with engine.numerics("float32"):
        paths = laws.fgn_official(jax.random.PRNGKey(4), n, 4000, scale, jnp.float32)
    paths = np.asarray(paths, np.float64)
    mean, se, rho, rho_se = _moments(paths)
    assert np.all(np.abs(mean - [1, 0, 0]) < 4 * se), (mean, se)
    assert stats.kstest(paths[17], "norm").pvalue > 0.01


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(hurst=1.0), "hurst=1.0 is not allowed"),
        (dict(hurst=None), "hurst=None is not allowed"),
        (dict(hurst=0.7, sampler="projection"), "sampler='projection' is not allowed"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        rsim.simulate(init="fbm_official", width=4, depth=8, samples=2, **options)
