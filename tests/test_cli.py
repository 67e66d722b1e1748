"""The command line end to end: Parquet written, read back, resumed, and bad input refused."""

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import rsim
from rsim import cli, results

SMALL = ("width=8", "depth=20", "samples=16", "n_in=4")
SWEEPS = sorted(p.stem for p in Path(cli.CONF_DIR, "sweep").glob("*.yaml"))


def test_cli_writes_parquet_that_load_reads_and_a_rerun_skips(run_cli, tmp_path):
    proc = run_cli(*SMALL, f"output={tmp_path}")
    folder = tmp_path / "single"
    files = sorted(folder.glob("part-*.parquet"))
    assert len(files) == 1
    frame = rsim.load(folder)
    assert len(frame) == 16 * 3
    for column in (
        "model",
        "init",
        "activation",
        "width",
        "depth",
        "beta",
        "alpha",
        "gain",
        "seed",
        "sample",
        "log_hidden_ratio",
        "log_jvp_diff",
        "hidden_ratio",
        "jvp_diff",
    ):
        assert column in frame, column
    np.testing.assert_allclose(frame["alpha"], frame["depth"] ** -frame["beta"])
    meta = results.read_metadata(files[0])
    assert meta["spec"]["depth"] == 20 and meta["prng"]["threefry_partitionable"] is False
    assert meta["x64"] is False and meta["git_revision"] and meta["versions"]["jax"]
    assert "E[hidden_diff^2]" in proc.stdout
    assert (folder / "_figures" / "histograms.png").stat().st_size > 0

    # The CLI and the Python API give the same numbers, bit for bit.
    api = rsim.simulate(width=8, depth=20, samples=16, n_in=4)
    logs = [c for c in api if c.startswith("log_")]
    assert np.array_equal(api[logs].to_numpy(), frame[logs].to_numpy())

    mtime = files[0].stat().st_mtime_ns
    proc = run_cli(*SMALL, f"output={tmp_path}")
    assert "skip" in proc.stdout
    assert files[0].stat().st_mtime_ns == mtime
    assert sorted(folder.glob("*.parquet")) == files


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_composes_and_validates(sweep):
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"+sweep={sweep}"], return_hydra_config=True)
    assert cfg.name == sweep
    cli.validate(cfg)


def test_corollary1_grid_is_the_papers():
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["+sweep=corollary1"], return_hydra_config=True)
    depths = [job["depth"] for job in cli.job_values(cfg)]
    assert depths == np.linspace(10, 1000, 10).astype(int).tolist()
    assert list(cfg.betas) == [0.25, 0.5, 1.0] and cfg.width == 40 and cfg.gradients == "both"


@pytest.mark.parametrize(
    "overrides,models", [([], ["res1", "res2", "res3"]), (["model=res3"], ["res3"])]
)
def test_heatmap_runs_every_residual_model_or_the_one_named(overrides, models):
    """+sweep=heatmap is one critical line per architecture; model=... on the command line
    replaces the sweep's list (one model per override)."""
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            overrides=["+sweep=heatmap", *overrides, "hydra.sweeper.params.hurst='0.1,0.9'"],
            return_hydra_config=True,
        )
    jobs = cli.job_values(cfg)
    assert sorted({job["model"] for job in jobs}) == models
    assert len(jobs) == 2 * len(models)


@pytest.mark.parametrize(
    "override,key",
    [
        ("model=res9", "model"),
        ("init=normal", "init"),
        ("activation=gelu", "activation"),
        ("width=0", "width"),
        ("depth=-1", "depth"),
        ("samples=0", "samples"),
        ("betas=[0.5,nan]", "betas"),
        ("betas=[inf]", "betas"),
        ("gain=-1", "gain"),
        ("+sweep=corollary1 depth=10,0", "depth"),
        ("plots=[heatmap,histogramz]", "plots"),
        ("+sweep=heatmap plots=[heatmapp]", "plots"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(run_cli, tmp_path, override, key):
    out = tmp_path / "out"
    proc = run_cli(*override.split(), f"output={out}", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rsim: error: "), proc.stderr
    assert key in lines[0]
    assert not out.exists()


def test_output_that_is_a_file_is_refused(run_cli, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    proc = run_cli(*SMALL, f"output={target}", check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [
        f"rsim: error: output={str(target)!r} is a file; give a folder (created if missing)"
    ]
    assert target.read_text() == "keep me"
