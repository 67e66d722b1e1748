"""Every line drawn over an H sweep says what it is and at which depth (issue 22): the zero
crossing of mean log10 r_h is the contour r_h = 1 at one L; the extrapolated beta* appears
only where the sweep has the depths for it; max(H, 1/2) is a heuristic of res-2/res-3 only."""

import numpy as np
import pandas as pd
import pytest

from rsim.views import cells as views
from rsim.views import training as training_views

BETAS = np.round(np.arange(0, 1.31, 0.1), 2)
DEPTHS = (100, 300, 1000, 3000)
HURSTS = (0.6, 0.8)
OFFSET = -1.0  # log r_h at beta = p: the contour sits OFFSET / log L from p, below it


def power_law_sweep(depths=DEPTHS, models=("res1", "res3"), samples=16, seed=0):
    """A synthetic H sweep, log r_h = (p - beta) log L + OFFSET + noise with p = max(H, 1/2):
    every local exponent is p exactly (the extrapolation's truth, whatever omega), while the
    contour r_h = 1 at depth L sits at p + OFFSET / log L."""
    rng = np.random.default_rng(seed)
    parts = []
    for model in models:
        for hurst in HURSTS:
            p = max(hurst, 0.5)
            for depth in depths:
                sample, beta = np.meshgrid(np.arange(samples), BETAS, indexing="ij")
                noise = 0.05 * rng.standard_normal(sample.shape)
                log_r = (p - beta) * np.log(depth) + OFFSET + noise
                parts.append(
                    pd.DataFrame(
                        {
                            "model": model,
                            "init": "fbm",
                            "activation": "relu",
                            "hurst": hurst,
                            "width": 4,
                            "gain": 1.0,
                            "depth": depth,
                            "sample": sample.ravel(),
                            "beta": beta.ravel(),
                            "log_hidden_diff": log_r.ravel(),
                        }
                    )
                )
    return pd.concat(parts, ignore_index=True)


def lines(ax) -> dict[str, object]:
    handles, labels = ax.get_legend_handles_labels()
    return dict(zip(labels, handles))


def test_critical_curves_label_the_contour_depth_and_draw_the_extrapolation():
    ax = views.critical_curves_figure(power_law_sweep()).axes[0]
    assert ax.get_title().endswith("extrapolated $\\beta^*$ (dashed)")
    drawn = lines(ax)
    extrapolated = "extrapolated $\\beta^*$ from L = 100, 300, 1000, 3000 (90% interval)"
    for model in ("res1", "res3"):
        contour = drawn[f"{model} d=4, fbm: $r_h$ = 1 at L = 3000"]
        extrapolation = drawn[f"{model} d=4, fbm: {extrapolated}"]
        np.testing.assert_allclose(contour.get_xdata(), HURSTS)
        np.testing.assert_allclose(extrapolation.get_xdata(), HURSTS)
        # The contour at the deepest depth, biased low; the extrapolation at the truth.
        np.testing.assert_allclose(
            contour.get_ydata(), np.array(HURSTS) + OFFSET / np.log(3000), atol=0.02
        )
        np.testing.assert_allclose(extrapolation.get_ydata(), HURSTS, atol=0.02)
    # res-3 is in the sweep: the heuristic guide, named so; never a beta = H line.
    assert "heuristic max(H, 1/2) (res-2/res-3)" in drawn
    assert len(drawn) == 5 and not any("= H" in label for label in drawn)


def test_one_depth_draws_the_contour_only_and_no_guide_for_res1():
    frame = power_law_sweep(depths=(1000,), models=("res1",))
    ax = views.critical_curves_figure(frame).axes[0]
    assert "extrapolated" not in ax.get_title()
    drawn = lines(ax)
    assert list(drawn) == ["res1 d=4, fbm: $r_h$ = 1 at L = 1000"]
    np.testing.assert_allclose(
        drawn["res1 d=4, fbm: $r_h$ = 1 at L = 1000"].get_ydata(),
        np.array(HURSTS) + OFFSET / np.log(1000),
        atol=0.02,
    )


@pytest.mark.parametrize("depths", [DEPTHS, (1000,)])
def test_heatmap_rows_label_their_lines(depths):
    figure = views.heatmap_figure(power_law_sweep(depths=depths), ["hidden_diff"])
    res1, res3 = figure.axes[:2]  # then the colour bars
    deepest = max(depths)
    for ax, model in ((res1, "res1"), (res3, "res3")):
        drawn = lines(ax)
        assert f"$r_h$ = 1 at L = {deepest}" in drawn
        heading = "hidden states\n" if model == "res1" else ""  # the first row heads its column
        assert ax.get_title() == f"{heading}{model} d=4, fbm weights, L = {deepest}"
        assert ("heuristic max(H, 1/2)" in drawn) == (model == "res3")
        has_extrapolation = any(label.startswith("extrapolated") for label in drawn)
        assert has_extrapolation == (len(depths) >= 3)
        assert not any("= H" in label for label in drawn)


@pytest.mark.parametrize("value", [np.nan, -np.inf])
def test_undecided_extrapolations_are_left_out(monkeypatch, value):
    """The estimator may return NaN (cannot decide from the depths given), or -inf (a sample
    with r = 0 exactly, res-1 at small width): no point there."""
    real = views.extrapolated_curve

    def undecided_at(hursts):
        def curve(*args, **kwargs):
            table = real(*args, **kwargs)
            table.loc[table["hurst"].isin(hursts), ["beta_star", "low", "high"]] = value
            return table

        return curve

    frame = power_law_sweep(models=("res3",))
    monkeypatch.setattr(views, "extrapolated_curve", undecided_at([0.8]))
    drawn = lines(views.critical_curves_figure(frame).axes[0])
    (extrapolation,) = [line for label, line in drawn.items() if "extrapolated" in label]
    np.testing.assert_allclose(extrapolation.get_xdata(), [0.6])
    monkeypatch.setattr(views, "extrapolated_curve", undecided_at(HURSTS))
    drawn = lines(views.critical_curves_figure(frame).axes[0])
    assert not any("extrapolated" in label for label in drawn)


def test_training_figure_names_the_contour_and_its_depth():
    cell = dict(dataset="digits", model="res1", init="fbm", lengthscale=np.nan, width=8)
    cell.update(depth=1000, optimizer="adam", epochs=1, n_classes=10, seed=0, diverged=False)
    frame = pd.DataFrame(
        [
            dict(cell, study="accuracy", hurst=h, beta=b, lr=0.1, test_accuracy=0.5 + b / 4)
            for h in HURSTS
            for b in (0.5, 1.0)
        ]
    )
    critical = pd.DataFrame({"hurst": HURSTS, "beta_star": [0.55, 0.75], "depth": 1000})
    figure = training_views.accuracy_figure(frame, critical)
    assert list(lines(figure.axes[0])) == [
        "$r_h$ = 1 at L = 1000 at initialisation (res1 d=8, simulated)"
    ]


def test_a_sweep_draws_the_figures_it_declares_and_no_other(tmp_path, capsys):
    """The same H sweep gets a heatmap where it declares one and none where it does not (no
    guess from the number of H); a declared figure the table cannot give is said, not drawn."""
    frame = power_law_sweep(depths=(100, 1000), models=("res3",), samples=4)
    frame = frame.assign(hidden_diff=np.exp(frame["log_hidden_diff"]), negative_slope=0.01)
    declared = views.sweep_figures(frame, tmp_path / "a", ["heatmap", "critical_curves"])
    assert [p.name for p in declared] == ["heatmap.png", "critical_curves.png"]
    other = views.sweep_figures(frame, tmp_path / "b", ["ratio_vs_depth", "fbm_paths"])
    assert [p.name for p in other] == ["hidden_diff_vs_depth_0.png", "hidden_diff_vs_depth_1.png"]
    assert "rsim: no fbm_paths figure: it needs the stored weight paths" in capsys.readouterr().out
    assert not (tmp_path / "b" / "heatmap.png").exists()
    with pytest.raises(ValueError, match="unknown figure 'heat'; choose from fbm_paths, heatmap"):
        views.sweep_figures(frame, tmp_path, ["heat"])


def test_every_cells_sweep_declares_known_figures():
    from hydra import compose, initialize_config_dir

    from rsim import cli
    from rsim.experiments.cells import CellSpec

    declared = {}
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        for sweep in ("heatmap", "heatmap_official", "heatmap_conv", "critical_fbm", "corollary1"):
            cfg = compose("config", overrides=[f"+sweep={sweep}"])
            declared[sweep] = list(cfg.plots)
    assert all(set(names) <= set(views.FIGURES) for names in declared.values())
    assert all("heatmap" in declared[s] for s in ("heatmap", "heatmap_official", "heatmap_conv"))
    assert "heatmap" not in declared["critical_fbm"] + declared["corollary1"]
    assert CellSpec.plots == ("ratio_vs_depth", "histograms")  # a run that declares none
