"""Correlated weight laws: the covariance they actually produce, against the exact one."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from tracing import ENGINE_BLOCK, count_traces
from variants import HURST_LAWS

import rsim
from rsim.core import engine, laws, spectra


@pytest.mark.parametrize("lengthscale", [0.02, 0.1, 0.5, 2.0])
def test_fourier_series_produces_the_rbf_kernel(lengthscale):
    tau = np.linspace(-1, 1, 4001)
    produced = spectra.rbf_kernel_produced(lengthscale, tau)
    np.testing.assert_allclose(produced, np.exp(-(tau**2) / (2 * lengthscale**2)), atol=1e-12)


def _autocovariance(paths, lags):
    """Empirical covariance at each lag, pooled over paths ``(n, count)`` and positions."""
    return np.array([np.mean(paths[: len(paths) - k] * paths[k:]) for k in lags])


def test_smooth_paths_have_the_kernel_and_variance():
    depth, lengthscale, gain, fan_in = 50, 0.1, 1.5, 9
    with engine.numerics("float64"):
        w = laws.path(
            "smooth",
            jax.random.PRNGKey(0),
            depth,
            (4000,),
            fan_in,
            gain,
            jnp.float64,
            lengthscale=lengthscale,
        )
    w = np.asarray(w) * np.sqrt(fan_in) / gain
    lags = np.arange(0, 15)
    want = np.exp(-((lags / depth) ** 2) / (2 * lengthscale**2))
    np.testing.assert_allclose(_autocovariance(w, lags), want, atol=0.03)
    assert stats.kstest(w[7], "norm").pvalue > 0.01  # Gaussian marginal


def test_smooth_realisation_is_a_function_of_t():
    """The depth-L path is the realisation sampled at k/L: depths 10 and 20 agree at k/10."""
    with engine.numerics("float64"):
        key = jax.random.PRNGKey(3)
        coarse = laws.path("smooth", key, 10, (3, 3), 3, 1.0, jnp.float64, lengthscale=0.1)
        fine = laws.path("smooth", key, 20, (3, 3), 3, 1.0, jnp.float64, lengthscale=0.1)
    np.testing.assert_allclose(coarse, fine[1::2], atol=1e-12)


@pytest.mark.parametrize("hurst", [0.2, 0.5, 0.7, 0.9])
def test_fgn_has_the_exact_autocovariance(hurst):
    n, count = 64, 6000
    with engine.numerics("float64"):
        paths = np.asarray(
            laws.fgn(jax.random.PRNGKey(1), n, count, spectra.fgn_scale(hurst, n), jnp.float64)
        )
    lags = np.arange(8)
    want = np.asarray(spectra.fgn_autocovariance(hurst, lags))
    # pooled estimate over count * (n - k) correlated products: 0.02 is ~5 standard errors
    np.testing.assert_allclose(_autocovariance(paths, lags), want, atol=0.02)
    # partial sums are fBm: Var(sum of n steps) = n^{2H}
    sums = paths.sum(axis=0)
    assert abs(sums.var() / n ** (2 * hurst) - 1) < 0.1


@pytest.mark.parametrize("hurst", [0.05, 0.3, 0.5, 0.8, 0.97])
def test_circulant_embedding_is_nonnegative(hurst):
    n = 1000
    lags = np.concatenate([np.arange(n + 1), np.arange(n - 1, 0, -1)])
    eigenvalues = np.fft.fft(spectra.fgn_autocovariance(hurst, lags)).real
    assert eigenvalues.min() > -1e-10
    np.testing.assert_allclose(spectra.fgn_scale(hurst, n) ** 2 * 2 * n, np.maximum(eigenvalues, 0))


def test_fbm_at_one_half_is_iid_gaussian_in_law():
    common = dict(model="res3", width=10, depth=50, betas=[0.5], samples=2000, gradients="jvp")
    fbm = rsim.simulate(init="fbm", hurst=0.5, seed=1, **common)
    iid = rsim.simulate(init="gaussian", seed=2, **common)
    for column in ("log_hidden_ratio", "log_hidden_diff", "log_jvp_diff"):
        assert stats.ks_2samp(fbm[column], iid[column]).pvalue > 0.01, column
    rough = rsim.simulate(init="fbm", hurst=0.8, seed=1, **common)  # and the test has power
    assert stats.ks_2samp(rough["log_hidden_diff"], iid["log_hidden_diff"]).pvalue < 1e-6


def test_all_betas_share_one_weight_path():
    """Correlated laws: a beta's result is the same alone or beside others (one path)."""
    common = dict(init="fbm", hurst=0.7, width=6, depth=30, samples=4, precision="float64")
    alone = rsim.simulate(betas=[0.8], **common)
    beside = rsim.simulate(betas=[0.2, 0.8], **common)
    np.testing.assert_allclose(
        alone["log_hidden_diff"], beside[beside["beta"] == 0.8]["log_hidden_diff"], rtol=1e-12
    )


@pytest.mark.parametrize("init", HURST_LAWS)
def test_hurst_is_traced_and_columns_are_carried(init):
    """A sweep over H compiles once, for every law with a Hurst index."""
    rsim.simulate(init=init, hurst=0.3, width=6, depth=12, samples=2)
    with count_traces() as traces:
        frame = rsim.simulate(init=init, hurst=0.9, width=6, depth=12, samples=2)
    assert traces[ENGINE_BLOCK] == 0
    assert (frame["hurst"] == 0.9).all() and frame["lengthscale"].isna().all()
    assert (frame["init"] == init).all()
    smooth = rsim.simulate(init="smooth", lengthscale=0.2, width=6, depth=12, samples=2)
    assert (smooth["lengthscale"] == 0.2).all() and smooth["hurst"].isna().all()


def _peak_mib(samples: int) -> float:
    """Peak resident memory of a fresh process running one cell. VmHWM belongs to the
    process's own address space; ru_maxrss would not do: Linux carries it across exec, so
    a child forked from a large pytest process reports the parent's size (seen in CI: 2.5 GB
    for a 0.6 GB run)."""
    script = (
        "import rsim\n"
        "rsim.simulate(init='fbm', hurst=0.7, width=40, depth=1000, betas=[0.5, 1.0],"
        f" samples={samples}, gradients='both')\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "print(int(status))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600
    )
    return int(out.stdout.split()[-1]) / 1024


def test_memory_stays_bounded_at_d40_l1000():
    """A whole fbm weight path is 12.8 MB per sample at d = 40, L = 1000: blocks of samples
    keep the working set fixed, so 6x more samples cost no more memory (the block is 4)."""
    small, large = _peak_mib(8), _peak_mib(48)
    assert large < small + 100, (small, large)
    assert large < 2500, large
