"""The critical beta recovered from small depth sweeps of each weight law (fixed seeds)."""

import numpy as np
import pandas as pd
import pytest

import rsim
from rsim.analysis.critical import critical_beta, critical_betas

BETAS = np.round(np.arange(0.3, 1.61, 0.1), 2).tolist()
DEPTHS = (100, 300, 1000, 3000)


def depth_sweep(**law):
    return pd.concat(
        [
            rsim.simulate(
                model="res3",
                width=10,
                depth=depth,
                betas=BETAS,
                samples=128,
                gradients="none",
                seed=1,
                **law,
            )
            for depth in DEPTHS
        ]
    )


# Two laws in the default suite (the critical_* sweeps' smoke tests and the extrapolation tests
# cover the rest); all six with -m slow.
@pytest.mark.parametrize(
    "law,expected",
    [
        (dict(init="gaussian"), 0.5),
        # each beta its own weights: the bootstrap keeps a sample's rows together all the same
        (dict(init="gaussian", sampler="reduced"), 0.5),
        pytest.param(dict(init="uniform"), 0.5, marks=pytest.mark.slow),
        pytest.param(dict(init="smooth", lengthscale=0.1), 1.0, marks=pytest.mark.slow),
        pytest.param(dict(init="fbm", hurst=0.3), 0.5, marks=pytest.mark.slow),
        pytest.param(dict(init="fbm", hurst=0.7), 0.7, marks=pytest.mark.slow),
        (dict(init="fbm", hurst=0.9), 0.9),
    ],
)
def test_critical_beta_is_max_of_hurst_and_one_half(law, expected):
    result = critical_beta(depth_sweep(**law), n_boot=100)
    assert abs(result.estimate - expected) < 0.05, result
    assert result.low <= result.estimate <= result.high
    assert result.high - result.low < 0.15, result  # the interval is informative


def test_critical_betas_splits_series_and_refuses_mixtures():
    a = depth_sweep(init="fbm", hurst=0.3)
    b = depth_sweep(init="fbm", hurst=0.9)
    both = pd.concat([a, b])
    table = critical_betas(both, n_boot=20)
    assert list(table["hurst"]) == [0.3, 0.9]
    with pytest.raises(ValueError, match="hurst vary"):
        critical_beta(both)
    with pytest.raises(ValueError, match="at least 2 depths"):
        critical_beta(a[a["depth"] == 100])


def test_heatmap_critical_curve_and_figure(tmp_path):
    """An H sweep at one depth: the crossing of mean log10 r_h through 0 rises with H above
    1/2, and the sweep figure is the heatmap."""
    from rsim.analysis.critical import zero_crossings
    from rsim.views import cells as views

    hursts = [0.2, 0.4, 0.5, 0.6, 0.8, 0.95]
    betas = np.linspace(0, 1.3, 27).tolist()
    frame = pd.concat(
        [
            rsim.simulate(
                init="fbm", hurst=h, width=10, depth=1000, betas=betas, samples=32, seed=3
            )
            for h in hursts
        ]
    )
    crossings = zero_crossings(frame).set_index("hurst")["beta_zero"]
    assert crossings.notna().all()
    assert abs(crossings[0.5] - 0.5) < 0.1
    assert crossings[0.95] > crossings[0.8] > crossings[0.6] > crossings[0.4] - 0.05
    res1 = pd.concat(
        [
            rsim.simulate(
                model="res1", init="fbm", hurst=h, width=10, depth=1000, betas=betas, samples=32
            )
            for h in (0.2, 0.8)
        ]
    )
    curve = rsim.critical.critical_curve(pd.concat([frame, res1])).set_index(["model", "hurst"])
    assert set(curve["method"]) == {"zero_crossing"} and curve["low"].isna().all()
    # res-1's r_h ~ 1 contour at L = 1000 sits near H below 1/2, res-3's at 1/2 (beta* is 1/2
    # for both at fixed d: rsim/THEORY.md section 12).
    assert abs(curve.loc[("res1", 0.2), "beta_star"] - 0.2) < 0.08
    assert curve.loc[("res3", 0.2), "beta_star"] - curve.loc[("res1", 0.2), "beta_star"] > 0.15
    written = views.sweep_figures(
        pd.concat([frame, res1]), tmp_path, ["heatmap", "critical_curves"]
    )
    assert [p.name for p in written] == ["heatmap.png", "critical_curves.png"]
    assert all(p.stat().st_size > 0 for p in written)


def branch_sweep(**options):
    return pd.concat(
        [
            rsim.simulate(
                init="gaussian",
                depth=depth,
                betas=BETAS,
                samples=128,
                gradients="none",
                seed=2,
                **options,
            )
            for depth in DEPTHS[:3]
        ]
    )


def test_critical_beta_is_one_half_for_every_iid_branch():
    """mlp with m = 2 (d = 10) and conv (C = 2, N = 4, d = 32): beta* = 1/2 as for res-3
    (rsim/THEORY.md section 11); each branch is its own series."""
    both = pd.concat(
        [
            branch_sweep(model="mlp", branch_depth=2, width=10),
            branch_sweep(model="conv", width=2, image_size=4),
        ]
    )
    table = critical_betas(both, n_boot=50)
    assert list(table["model"]) == ["conv", "mlp"]
    assert list(table["branch_depth"]) == [1, 2]
    for _, row in table.iterrows():
        assert abs(row["beta_star"] - 0.5) < 0.05, row
    with pytest.raises(ValueError, match="model"):
        critical_beta(both)


# --- the regime linear in alpha, coupled depths and the extrapolated beta* -------------------


@pytest.mark.parametrize(
    "model,init,hurst",
    [("res3", "fbm", 0.8), ("res3", "fbm", 0.3), ("res1", "fbm", 0.3), ("res3", "gaussian", None)],
)
def test_linear_second_moment_is_exact(model, init, hurst):
    """At beta = 3 (alpha = 64^-3: the alpha^2 terms are 1e-4 relative), E r_h^2 / alpha^2
    is y(L) = sum rho K(rho) (rsim/THEORY.md section 12), within 4 standard errors."""
    from rsim.analysis.theory import linear_second_moment

    depth, beta = 64, 3.0
    frame = rsim.simulate(
        model=model,
        init=init,
        hurst=hurst if hurst is not None else 0.5,
        width=8,
        depth=depth,
        betas=[beta],
        samples=1024,
        gradients="none",
        precision="float64",
        seed=5,
    )
    scaled = np.exp(2 * frame["log_hidden_diff"].to_numpy()) * depth ** (2 * beta)
    exact = linear_second_moment(model, "relu", init, hurst, depth)
    se = scaled.std(ddof=1) / np.sqrt(len(scaled))
    assert abs(scaled.mean() - exact) < 4 * se, (scaled.mean(), exact, se)


def test_linear_second_moment_growth_exponents():
    """y(L) = L^2H exactly for res-1, L / 2 for i.i.d. res-3; res-3 with fbm approaches
    L^2H only slowly at H = 0.9 (the finite-depth bias the extrapolation removes)."""
    from rsim.analysis.theory import correction_exponent, linear_second_moment

    assert linear_second_moment("res1", "identity", "fbm", 0.3, 1000) == pytest.approx(1000**0.6)
    assert linear_second_moment("res3", "relu", "gaussian", None, 1000) == pytest.approx(500)
    y = [linear_second_moment("res3", "relu", "fbm", 0.9, n) for n in (1000, 3000)]
    local = np.log(y[1] / y[0]) / np.log(3) / 2
    assert 0.86 < local < 0.88  # still 0.03 below H = 0.9 at L ~ 1700
    assert correction_exponent("res3", "relu", "fbm", 0.9) == pytest.approx(0.2)
    assert correction_exponent("res3", "relu", "fbm", 0.3) == pytest.approx(0.4)
    assert correction_exponent("res1", "relu", "fbm", 0.3) == np.inf
    assert correction_exponent("mlp", "relu", "fbm", 0.8) is None


def test_coupled_depths_share_one_realisation():
    """coupled_depth = D: the depth-L cell's weights are the first L layers of the depth-D
    cell's (fbm: one fGn path); coupled_depth = depth changes nothing; bad values refused."""
    from rsim.experiments.cells import CellSpec, compute

    options = dict(
        init="fbm", hurst=0.8, width=4, betas=[0.5], samples=3, gradients="none", weight_paths=3
    )

    def weights(**extra):
        paths = compute(CellSpec.from_config({**options, **extra}))["paths"]
        return paths.pivot(index="sample", columns="layer", values="weight").to_numpy()

    short, long = weights(depth=20, coupled_depth=60), weights(depth=60, coupled_depth=60)
    assert np.array_equal(short, long[:, :20])
    assert not np.array_equal(weights(depth=20), short)
    same = rsim.simulate(**{**options, "weight_paths": 0}, depth=60, coupled_depth=60)
    plain = rsim.simulate(**{**options, "weight_paths": 0}, depth=60)
    assert same["log_hidden_diff"].equals(plain["log_hidden_diff"])
    with pytest.raises(rsim.ConfigError, match="coupled_depth=10 is not allowed"):
        rsim.simulate(**options, depth=20, coupled_depth=10)
    with pytest.raises(rsim.ConfigError, match="smooth"):
        rsim.simulate(init="smooth", depth=20, coupled_depth=40, samples=2)
    with pytest.raises(rsim.ConfigError, match="'fbm_official': the official generator's law"):
        rsim.simulate(init="fbm_official", hurst=0.7, depth=20, coupled_depth=40, samples=2)


def linear_regime_sweep(hurst, seed=0, samples=400):
    """Synthetic log ratios whose depth dependence is res-3's exact linear-regime second moment:
    r^2 = y(L) L^(-2 beta) Z with Z lognormal per sample (shared across depths and betas, like
    coupled depths) and a little noise; the local exponents approach H only like L^-0.2 at
    H = 0.9 (rsim/THEORY.md section 12)."""
    from rsim.analysis.theory import linear_second_moment

    rng = np.random.default_rng(seed)
    z = rng.lognormal(0, 0.3, samples)
    rows = []
    for depth in DEPTHS:
        y = linear_second_moment("res3", "relu", "fbm", hurst, depth)
        for beta in BETAS:
            noise = rng.normal(0, 0.005, samples)
            log_r = 0.5 * np.log(y * depth ** (-2 * beta) * z) + noise
            rows.append(
                pd.DataFrame(
                    {
                        "model": "res3",
                        "init": "fbm",
                        "activation": "relu",
                        "hurst": hurst,
                        "width": 20,
                        "depth": depth,
                        "beta": beta,
                        "sample": np.arange(samples),
                        "log_hidden_diff": log_r,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_extrapolation_removes_the_finite_depth_bias():
    frame = linear_regime_sweep(0.9)
    finite = critical_beta(frame, n_boot=50)
    extrapolated = critical_beta(frame, n_boot=50, extrapolate=True)
    assert finite.estimate < 0.875  # biased low, as res-3 is at H = 0.9
    assert abs(extrapolated.estimate - 0.9) < 0.015, extrapolated
    assert extrapolated.low <= 0.9 <= extrapolated.high
    assert extrapolated.omega == pytest.approx(0.2) and extrapolated.omega_source == "theory"
    assert list(extrapolated.local["depth_high"]) == list(DEPTHS[1:])
    from rsim.analysis.summary import critical_text

    line = critical_text(frame)  # summaries print both estimates
    assert f"{finite.estimate:.3f}" in line and f"extrapolated {extrapolated.estimate:.3f}" in line
    fitted = critical_beta(frame.assign(model="mlp"), n_boot=20, extrapolate=True)
    assert fitted.omega_source == "fitted" and abs(fitted.estimate - 0.9) < 0.03, fitted
    with pytest.raises(ValueError, match="at least 4 depths"):
        critical_beta(frame[frame["depth"] < 3000].assign(model="mlp"), extrapolate=True)
