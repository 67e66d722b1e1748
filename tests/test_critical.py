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


@pytest.mark.parametrize(
    "law,expected",
    [
        (dict(init="gaussian"), 0.5),
        (dict(init="uniform"), 0.5),
        (dict(init="smooth", lengthscale=0.1), 1.0),
        (dict(init="fbm", hurst=0.3), 0.5),
        (dict(init="fbm", hurst=0.7), 0.7),
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
    written = views.sweep_figures(frame, tmp_path)
    assert [p.name for p in written] == ["heatmap.png"] and written[0].stat().st_size > 0


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
