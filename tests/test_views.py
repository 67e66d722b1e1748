"""Figures that explain themselves (issue 26), read from the figures' data, never from pixels:
titles and column headings, axis labels and scales, legend texts, artists' colours and
z-orders. Each test names the defect it guards against."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

import rsim
from rsim import labels
from rsim.analysis import report, theory
from rsim.analysis.report import VIOLATES
from rsim.views import _style
from rsim.views import cells as views
from rsim.views import limits as limit_views
from rsim.views import report as report_views

RED = {to_rgb("red"), to_rgb("C3")}


def cell_frame(values, *, model="res3", activation="relu", init="gaussian", width=4, beta=0.5,
               depth=8, column="hidden_ratio", **columns) -> pd.DataFrame:  # fmt: skip
    """A table of one cell: ``values`` of ``column`` (one sample each), plus ``columns``."""
    n = len(values)
    return pd.DataFrame(
        dict(
            model=model,
            activation=activation,
            negative_slope=0.0,
            init=init,
            gain=1.0,
            width=width,
            depth=depth,
            beta=beta,
            sample=np.arange(n),
            **{column: np.asarray(values, float)},
            **columns,
        )
    )


def texts(fig: Figure) -> list[str]:
    """Every string a figure shows: suptitle, titles, axis labels, legend entries."""
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        out += [t.get_text() for t in legend.get_texts()] if legend else []
    return [t for t in out if t]


def outside_math(text: str) -> str:
    return re.sub(r"\$[^$]*\$", "", text)


def artist_colors(fig: Figure) -> list[tuple]:
    """(rgb, label) of every line and patch-like artist of the figure."""
    out = []
    for ax in fig.axes:
        for line in ax.lines:
            out += [(to_rgb(line.get_color()), line.get_label())]
            out += [(to_rgb(line.get_markeredgecolor()), line.get_label())]
        for patch in ax.patches:
            out += [(to_rgb(patch.get_facecolor()[:3]), patch.get_label())]
        for collection in ax.collections:
            out += [(tuple(c[:3]), collection.get_label()) for c in collection.get_facecolor()]
            out += [(tuple(c[:3]), collection.get_label()) for c in collection.get_edgecolor()]
    return out


def by_label(ax, label: str) -> list:
    return [line for line in ax.lines if line.get_label() == label]


# ---------------------------------------------------------------------------- histograms


def test_histograms_are_headed_by_their_quantity_and_define_their_letters():
    rng = np.random.default_rng(0)
    frame = cell_frame(1 + 0.1 * rng.random(40), grad_ratio=1 + 0.1 * rng.random(40))
    fig = views.histograms_figure(frame, ["hidden_ratio", "grad_ratio"])
    top = fig.axes[:2]
    assert top[0].get_title().startswith("hidden states\n")
    assert top[1].get_title().startswith("gradients (backprop)\n")
    assert labels.DEFINITIONS["grad"] in fig._suptitle.get_text()
    assert top[1].get_xlabel() == labels.ratio_label("grad_ratio") == r"$\|p_0\| \,/\, \|p_L\|$"


def test_histograms_overlay_the_exact_root_mean_square_above_the_monte_carlo_one():
    """res-3, gaussian, beta = 1/2, L = 8: E||h_L||^2/||h_0||^2 = (1 + 1/16)^8."""
    frame = cell_frame(np.linspace(1.0, 1.5, 30))
    ax = views.histograms_figure(frame, ["hidden_ratio"]).axes[0]
    (exact,) = by_label(ax, labels.EXACT_RMS)
    (monte_carlo,) = [line for line in ax.lines if "Monte Carlo" in line.get_label()]
    assert exact.get_xdata()[0] == pytest.approx(math.sqrt((1 + 1 / 16) ** 8), rel=1e-12)
    assert exact.get_zorder() > monte_carlo.get_zorder()
    assert to_rgb(exact.get_color()) == (0, 0, 0) and exact.get_linestyle() == "--"
    assert monte_carlo.get_xdata()[0] == pytest.approx(np.sqrt(np.mean(frame["hidden_ratio"] ** 2)))
    # no closed form (fbm weights): no exact line, and the legend does not claim one
    fbm = cell_frame(np.linspace(1.0, 1.5, 30), init="fbm", hurst=0.7)
    ax = views.histograms_figure(fbm, ["hidden_ratio"]).axes[0]
    assert not by_label(ax, labels.EXACT_RMS)


def test_histograms_overlay_the_limit_law_only_where_the_theory_gives_it():
    """res-1 with the identity, Gaussian weights, beta = 1/2: log r^2 -> N(1 - 2/d, 4/d)."""
    rng = np.random.default_rng(1)
    values = np.exp(rng.normal(0.25, 0.5, 400))  # d = 4: log r ~ N(1/4, 1/4)
    frame = cell_frame(values, model="res1", activation="identity", depth=64)
    ax = views.histograms_figure(frame, ["hidden_ratio"]).axes[0]
    (limit,) = [line for line in ax.lines if line.get_label().startswith(r"$L \to \infty$")]
    assert "N(0.5, 1)" in limit.get_label()
    # expected counts per bin: they add up to the mass of the data's range, about n
    assert limit.get_ydata().sum() == pytest.approx(400, rel=0.02)
    for other in (
        cell_frame(values, model="res1", activation="identity", beta=0.25),
        cell_frame(values, activation="relu"),  # res-3
        cell_frame(values, model="res1", activation="identity", init="uniform"),
    ):
        ax = views.histograms_figure(other, ["hidden_ratio"]).axes[0]
        assert not [line for line in ax.lines if "infty" in line.get_label()]


def test_histograms_use_a_log_axis_where_the_values_span_decades():
    wide = cell_frame(np.geomspace(1, 1e3, 50))
    narrow = cell_frame(np.linspace(1, 2, 50))
    assert views.histograms_figure(wide, ["hidden_ratio"]).axes[0].get_xscale() == "log"
    assert views.histograms_figure(narrow, ["hidden_ratio"]).axes[0].get_xscale() == "linear"


# ---------------------------------------------------------------------------- bounds figures


@pytest.fixture(scope="module")
def simulated():
    """res-3, uniform weights, d = 16, L in {8, 16}, four betas: log-normal r^2 whose mean is
    the exact E[r^2] (a spread of 0.2 in log r^2), so that every check agrees."""
    rng = np.random.default_rng(3)
    net = theory.Network("res3", "relu", 0.0, "uniform", 1.0, 16, None, None, None)
    parts = []
    for depth in (8, 16):
        for beta in (0.25, 0.5, 1.0, 1.5):
            mean = float(theory.exact_mean_squared_diff(net, depth**-beta, depth))
            log_sq = math.log(mean) - 0.02 + 0.2 * rng.standard_normal((2, 64))
            parts.append(
                cell_frame(
                    log_sq[0] / 2,
                    model="res3",
                    init="uniform",
                    width=16,
                    depth=depth,
                    beta=beta,
                    column="log_hidden_diff",
                    log_grad_diff=log_sq[1] / 2,
                    alpha=depth**-beta,
                )  # fmt: skip
            )
    frame = pd.concat(parts, ignore_index=True)
    return frame, report.check_table(frame)


def test_bounds_figures_draw_red_only_on_a_violation(simulated):
    frame, checks = simulated
    assert not (checks["verdict"] == VIOLATES).any()
    columns = [("hidden", "log_hidden_diff"), ("gradient", "log_grad_diff")]
    figures = [
        report_views.bounds_vs_depth_figure(frame, checks, "hidden", "log_hidden_diff"),
        report_views.bounds_histograms_figure(frame, checks, columns),
    ]
    for fig in figures:  # four betas: the fourth series is not the cycle's red C3
        assert not [label for rgb, label in artist_colors(fig) if rgb in RED]
    # plant a violation of Prop 3 (ii) and of the exact mean at the deepest depth
    planted = checks.copy()
    deepest = planted["depth"] == planted["depth"].max()
    wrong = deepest & planted["statement"].isin(["Prop 3 (ii)", "exact E[r^2]"])
    wrong &= planted["verdict"] != report.NOT_APPLICABLE
    assert wrong.any()
    planted.loc[wrong, "verdict"] = VIOLATES
    fig = report_views.bounds_vs_depth_figure(frame, planted, "hidden", "log_hidden_diff")
    red = [line for line in fig.axes[0].lines if to_rgb(line.get_markeredgecolor()) in RED]
    violated = planted[wrong & (planted["quantity"] == "hidden")]["beta"].nunique()
    assert len(red) == violated and red[0].get_label() == "violated check"
    assert not [label for rgb, label in artist_colors(fig) if rgb in RED and "check" not in label
                and label != "_nolegend_"]  # fmt: skip
    assert "red circle: a violated check" in fig.axes[0].get_title()
    fig = report_views.bounds_histograms_figure(frame, planted, columns)
    red = {label for rgb, label in artist_colors(fig) if rgb in RED}
    assert red and red <= {r"exact $E[r^2]$", "Prop 3 (ii), δ = 0.1", "Prop 3 (ii), δ = 0.05"}


def test_bounds_figures_keep_the_exact_line_above_the_monte_carlo_mean(simulated):
    frame, checks = simulated
    columns = [("hidden", "log_hidden_diff"), ("gradient", "log_grad_diff")]
    ax = report_views.bounds_histograms_figure(frame, checks, columns).axes[0]
    (exact,) = by_label(ax, r"exact $E[r^2]$")
    (mean,) = by_label(ax, report_views.MC_MEAN)
    assert exact.get_zorder() > mean.get_zorder() and exact.get_linestyle() == "--"
    assert to_rgb(exact.get_color()) == (0, 0, 0) != to_rgb(mean.get_color())
    ax = report_views.bounds_vs_depth_figure(frame, checks, "gradient", "log_grad_diff").axes[0]
    exact = by_label(ax, labels.EXACT_RMS) + by_label(ax, "_nolegend_")
    exact = [line for line in exact if line.get_linestyle() == "--"]
    medians = [line for line in ax.lines if line.get_label().startswith(r"$\beta$")]
    assert len(exact) == len(medians) == 4
    assert min(e.get_zorder() for e in exact) > max(m.get_zorder() for m in medians)


def test_bounds_figures_label_their_ratios_in_math_text_with_column_headings(simulated):
    frame, checks = simulated
    fig = report_views.bounds_vs_depth_figure(frame, checks, "gradient", "log_grad_diff")
    assert fig.axes[0].get_ylabel() == labels.ratio_label("grad_diff")
    assert fig.axes[0].get_title().startswith("gradients (backprop): ")
    columns = [("hidden", "log_hidden_diff"), ("gradient", "log_grad_diff")]
    fig = report_views.bounds_histograms_figure(frame, checks, columns)
    assert fig.axes[0].get_title().startswith("hidden states\n")
    assert fig.axes[1].get_xlabel() == r"$\log_{10}$ $r_p$$^2$"
    for text in texts(fig):
        assert not re.search(r"_diff|_ratio|[hpq]_[L0k]", outside_math(text)), text


# ---------------------------------------------------------------------------- cells figures


def depth_frame(model="res3", depths=(4, 8, 16), betas=(0.25, 0.5, 1.0, 1.5)) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    parts = [
        cell_frame(rng.random(20) + 0.5, model=model, depth=depth, beta=beta, column="hidden_diff")
        for depth in depths
        for beta in betas
    ]
    return pd.concat(parts, ignore_index=True)


def test_ratio_vs_depth_draws_the_exact_line_above_the_medians_and_no_red():
    fig = views.ratio_vs_depth_figure(depth_frame(), "hidden_diff")
    ax = fig.axes[0]
    medians = [line for line in ax.lines if line.get_label().startswith(r"$\beta$")]
    exact = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(medians) == len(exact) == 4
    assert min(e.get_zorder() for e in exact) > max(m.get_zorder() for m in medians)
    assert {to_rgb(e.get_color()) for e in exact} == {(0, 0, 0)}
    assert not [label for rgb, label in artist_colors(fig) if rgb in RED]
    assert ax.get_legend().get_texts()[-1].get_text() == labels.EXACT_RMS
    assert ax.get_ylabel() == labels.ratio_label("hidden_diff")


def test_architectures_caption_fits_the_figure_with_one_beta():
    frame = pd.concat([depth_frame(betas=(0.5,)), depth_frame("mlp", betas=(0.5,))])
    frame["branch_depth"] = np.where(frame["model"] == "mlp", 2.0, np.nan)
    fig = views.architectures_figure(frame, "hidden_diff")
    renderer = FigureCanvasAgg(fig).get_renderer()
    box = fig._suptitle.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1
    assert "black dashed" in fig._suptitle.get_text()
    exact = [line for line in fig.axes[0].lines if line.get_linestyle() == "--"]
    assert len(exact) == 2 and all(line.get_zorder() == _style.EXACT["zorder"] for line in exact)


def test_heatmap_defines_q_and_z_and_heads_its_columns():
    rows = []
    for hurst in (0.3, 0.7):
        for beta in (0.2, 0.5, 0.8):
            frame = cell_frame([1.0, 2.0], init="fbm", hurst=hurst, beta=beta, depth=16,
                               column="log_hidden_diff", log_jvp_diff=[0.5, -0.5])  # fmt: skip
            rows.append(frame.assign(log_hidden_diff=(0.5 - beta) * np.array([2.0, 3.0])))
    fig = views.heatmap_figure(pd.concat(rows, ignore_index=True), ["hidden_diff", "jvp_diff"])
    top = [ax for ax in fig.axes if ax.get_title()][:2]
    assert top[0].get_title().startswith("hidden states\n")
    assert top[1].get_title().startswith("gradients (forward mode)\n")
    assert labels.DEFINITIONS["jvp"] in fig._suptitle.get_text()
    for text in texts(fig):
        assert not re.search(r"_diff|[hpq]_[L0k]", outside_math(text)), text


# ---------------------------------------------------------------------------- axes and formats


def test_views_draw_on_the_callers_axes_and_return_its_figure():
    fig = Figure()
    ax = fig.subplots()
    assert views.ratio_vs_depth_figure(depth_frame(), "hidden_diff", ax=ax) is fig
    assert ax.lines
    fig = Figure()
    grid = fig.subplots(1, 2)
    frame = cell_frame(np.linspace(1, 2, 20), grad_ratio=np.linspace(1, 2, 20))
    assert views.histograms_figure(frame, ["hidden_ratio", "grad_ratio"], axes=grid) is fig
    assert all(ax.patches for ax in grid)
    with pytest.raises(ValueError, match="draws 1 x 2 axes; got 1"):
        views.histograms_figure(frame, ["hidden_ratio", "grad_ratio"], axes=grid[:1])
    fig = Figure()
    table = pd.DataFrame(
        dict(gain=1.0, width=3, what=["resnet", "resnet", "limit"], depth=[4, 8, 64],
             mean=[2.0, 2.2, 2.6], se=0.1, exact=[2.44, 2.57, math.e])
    )  # fmt: skip
    assert limit_views.weak_figure(table, ax=fig.subplots()) is fig


@pytest.mark.parametrize(
    ("suffix", "magic"), [("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG")]
)
def test_writers_write_the_format_of_the_suffix(tmp_path, suffix, magic):
    path = views.ratio_vs_depth(depth_frame(), "hidden_diff", tmp_path / f"r.{suffix}")
    assert path.read_bytes().startswith(magic)


def test_an_unknown_suffix_is_refused_in_one_line_before_drawing(tmp_path):
    with pytest.raises(ValueError, match=r"r\.jpg: write a figure as \.png, \.svg, \.pdf"):
        views.ratio_vs_depth(pd.DataFrame(), "hidden_diff", tmp_path / "r.jpg")


# ---------------------------------------------------------------------------- labels and theory


def test_labels_put_every_ratio_in_math_text_with_its_quantity():
    for column in views.DIFFS + views.RATIOS:
        label = labels.ratio_label(f"log_{column}")
        assert label.startswith("$") and label.endswith("$") and label == labels.ratio_label(column)
        assert labels.quantity_heading(column) in labels.QUANTITY_HEADINGS.values()
    with pytest.raises(ValueError, match="is not a ratio column"):
        labels.quantity_heading("accuracy")


def test_limit_law_needs_res1_identity_gaussian_weights_at_beta_one_half():
    net = theory.Network("res1", "identity", 0.0, "gaussian", 2.0**0.5, 8, None, None, None)
    assert theory.limit_log_sq_ratio(net, 0.5) == pytest.approx((2 * 0.75, 4 * 2 / 8))
    for other, beta in (
        (net, 0.25),
        (theory.Network("res3", "relu", 0.0, "gaussian", 1.0, 8, None, None, None), 0.5),
        (theory.Network("res1", "relu", 0.0, "gaussian", 1.0, 8, None, None, None), 0.5),
        (theory.Network("res1", "identity", 0.0, "uniform", 1.0, 8, None, None, None), 0.5),
    ):
        assert isinstance(theory.limit_log_sq_ratio(other, beta), theory.NotApplicable)


@pytest.mark.slow
def test_the_limit_law_overlay_matches_the_simulated_ratios():
    """res-1, identity, Gaussian weights, beta = 1/2, d = 4, L = 512: log r^2 of the three plain
    ratios against N(1 - 2/d, 4/d) = N(1/2, 1) by KS (the O(1/L) bias is far below its
    resolution at 2000 samples); the same law for the gradients (rsim/THEORY.md section 5)."""
    from scipy import stats

    frame = rsim.simulate(model="res1", activation="identity", init="gaussian", width=4,
                          depth=512, betas=[0.5], samples=2000, n_in=4, seed=11,
                          gradients="both")  # fmt: skip
    net = theory.Network.from_mapping(frame.iloc[0])
    mean, variance = theory.limit_log_sq_ratio(net, 0.5)
    assert (mean, variance) == (0.5, 1.0)
    for column in ("log_hidden_ratio", "log_jvp_ratio", "log_grad_ratio"):
        log_sq = 2 * frame[column].to_numpy()
        assert stats.kstest(log_sq, "norm", args=(mean, math.sqrt(variance))).pvalue > 1e-3, column
    # a planted wrong width (d = 8: N(3/4, 1/2)) is rejected
    log_sq = 2 * frame["log_hidden_ratio"].to_numpy()
    assert stats.kstest(log_sq, "norm", args=(0.75, math.sqrt(0.5))).pvalue < 1e-6
