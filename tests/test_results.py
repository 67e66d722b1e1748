from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import rsim
from rsim import results
from rsim.analysis import summary, theory
from rsim.experiments import base
from rsim.experiments.cells import CellSpec

# The default cell's network (res-3, uniform, d = 8).
RES3 = theory.Network("res3", "relu", 0.01, "uniform", 1.0, 8, None, None, None)


def test_write_is_atomic_and_load_derives_ratios(tmp_path):
    spec = CellSpec(width=6, depth=8, samples=5, gradients="both")
    frame = rsim.simulate(width=6, depth=8, samples=5, gradients="both")
    path = base.table_path(tmp_path, spec)
    results.write(frame, path, base.provenance(spec))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    (tmp_path / ".part-stale.parquet.123.tmp").write_bytes(b"half a file")
    loaded = rsim.load(tmp_path)
    pd.testing.assert_frame_equal(loaded[frame.columns], frame)
    for name in ("hidden_ratio", "hidden_diff", "jvp_ratio", "grad_ratio", "grad_diff"):
        np.testing.assert_allclose(loaded[name], np.exp(loaded[f"log_{name}"]))
    assert results.read_metadata(path)["spec"] == spec.store_identity()


def test_load_of_an_empty_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no rsim Parquet files"):
        rsim.load(tmp_path)


def test_summary_checks_the_exact_moment():
    frame = rsim.simulate(width=8, depth=40, betas=[0.5, 1.0], samples=2000, precision="float64")
    table = summary.summarize(frame)
    assert list(table["beta"]) == [0.5, 1.0] and (table["n"] == 2000).all()
    np.testing.assert_allclose(
        table["exact"],
        theory.exact_mean_squared_diff(RES3, 40.0 ** -table["beta"], 40),
    )
    assert (table["z"].abs() < 4).all()
    assert (table["hidden_diff_q10"] < table["hidden_diff_median"]).all()
    text = summary.format_summary(table)
    assert "E[hidden_diff^2]" in text and "exact" in text


def test_exact_moment_is_nan_without_a_closed_form():
    res1 = replace(RES3, model="res1")
    assert np.isnan(theory.exact_mean_squared_diff(res1, 0.1, 10))
    identity = replace(res1, activation="identity", gain=2.0)
    assert theory.exact_mean_squared_diff(identity, 0.5, 1) == pytest.approx(1.0)
