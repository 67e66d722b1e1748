"""Every entry point end to end, in a subprocess, at a tiny size: each sweep of conf/sweep
through ``python -m rsim``, and every command the README and the docs pages show (``rsim.report``,
``rsim.status``, ``scripts/bench.py``)."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

import rsim
from rsim import cli, results
from rsim.experiments import EXPERIMENTS, base, cells
from rsim.schema import RATIOS

SWEEPS = sorted(p.stem for p in Path(cli.CONF_DIR, "sweep").glob("*.yaml"))
CELL = ("samples=6", "width=4", "n_in=3")
DEPTHS = "depth=8,16"
BETAS = "betas=[0.3,0.7,1.2]"
TRAIN = ("width=4", "epochs=1", "batch_size=32", "train_limit=64", "lrs=[0.01,0.1]")
# Tiny overrides per sweep, and the files each must write besides its tables.
TINY = {
    # Two of the five branches (conf/branch/): architectures.png needs several.
    "branches": ((*CELL, DEPTHS, "+branch=mlp2,conv"), "_figures/architectures.png"),
    "corollary1": ((*CELL, DEPTHS), "_figures/grad_diff_vs_depth.png"),
    "critical_fbm": (
        (*CELL, DEPTHS, BETAS, "hurst=0.3,0.7"),
        ("_figures/hidden_diff_vs_depth_0.png", "_figures/critical_curves.png"),
    ),
    "critical_iid": ((*CELL, DEPTHS, BETAS, "init=gaussian"), "_figures/hidden_diff_vs_depth.png"),
    "critical_smooth": ((*CELL, DEPTHS, BETAS), "_figures/hidden_diff_vs_depth.png"),
    "fbm_paths": ((*CELL, "depth=16", "hurst=0.3,0.8", "weight_paths=2"), "_figures/fbm_paths.png"),
    "heatmap": (
        (*CELL, "depth=16", BETAS, "model=res1,res3", "hurst=0.1,0.3,0.5,0.6,0.7,0.9"),
        ("_figures/heatmap.png", "_figures/critical_curves.png"),
    ),
    "heatmap_conv": (
        (*CELL, "depth=16", BETAS, "hurst=0.1,0.3,0.5,0.6,0.7,0.9"),
        "_figures/heatmap.png",
    ),
    "heatmap_official": (
        (*CELL, "depth=16", BETAS, "hurst=0.1,0.3,0.5,0.7,0.9,0.97"),
        ("_figures/heatmap.png", "_figures/critical_curves.png"),
    ),
    "histogram": ((*CELL, "depth=8"), "_figures/histograms.png"),
    "lr_alpha": ((*TRAIN, "depth=4,8", "betas=[0.5,1.0]", "replicates=1"), "_figures/lr_alpha.png"),
    "ode": (
        (
            "samples=2",
            "width=3",
            "n_in=4",
            "depths=[4,8,16]",
            "tolerance=1e-8",
            "model=res1",
            "activation=identity",
        ),
        "_figures/error_vs_depth.png",
    ),
    "sde": (
        ("samples=4", "width=3", "n_in=4", "depths=[4,8,16]", "reference_depth=64"),
        "_figures/weak_check.png",
    ),
    "smooth": ((*CELL, DEPTHS), "_figures/hidden_diff_vs_depth.png"),
    # The accuracy figure overlays res-1's own critical curve, simulated at L = 4.
    "training": (
        (*TRAIN, "depth=4", "hurst=0.3,0.7", "betas=[0.5]"),
        ("_figures/training_accuracy.png", "_tables/critical_curve.csv"),
    ),
    "training_conv": ((*TRAIN, "depth=4", "betas=[0.5]"), "_figures/training_accuracy.png"),
    # Its bounds bite only at L ~ 10^4 (the full sweep, README "Theory report"); tiny here.
    "theory_sharp": (
        ("samples=6", "n_in=3", "width=4,64", DEPTHS),
        ("_figures/histograms_1.png", "_report.md"),
    ),
    "weights_after_training": ((*TRAIN, "depth=16"), "_figures/weights_after_training.png"),
    # The reduced sampler at a width no dense sampler reaches.
    "wide": (
        ("samples=6", "n_in=3", "width=100,100000", DEPTHS),
        ("_figures/jvp_diff_vs_depth_1.png",),
    ),
}


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{command} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_every_sweep_has_a_tiny_run():
    assert sorted(TINY) == SWEEPS


@pytest.mark.parametrize("sweep", SWEEPS)
def test_sweep_runs(sweep, tmp_path):
    overrides, figures = TINY[sweep]
    proc = run("-m", "rsim", f"+sweep={sweep}", *overrides, f"output={tmp_path}", "progress=false")
    folder = tmp_path / sweep
    for figure in [figures] if isinstance(figures, str) else figures:
        assert (folder / figure).stat().st_size > 0, proc.stdout
    report = base.status(folder)
    assert report.complete and report.expected, report.line(folder)
    if base.run_specs(folder)[0].experiment == "cells":  # the declared figures, no guess
        declared = cells.declared_plots(folder)
        figures = results.figures_folder(folder)
        assert (figures / "heatmap.png").exists() == ("heatmap" in declared), declared
        assert (figures / "architectures.png").exists() == ("architectures" in declared)
    # pandas reads the folder as it is: the rows of rsim.load, less its plain ratios
    loaded, read = rsim.load(folder, strict=True), pd.read_parquet(folder)
    assert len(loaded) > 0 and list(read.columns) == [c for c in loaded if c not in RATIOS]
    pd.testing.assert_frame_equal(read, loaded[read.columns])
    if sweep in ("ode", "sde"):
        # One order line per series (sde: relu and identity), the reference-free one; the
        # reference-based errors only as local slopes.
        series = 2 if sweep == "sde" else 1
        assert proc.stdout.count("strong order ") == series, proc.stdout
        assert proc.stdout.count("order ") == series and "reference-free" in proc.stdout
        assert proc.stdout.count("diagnostic, reference-based") == series
    if sweep == "theory_sharp":
        assert "agree (" in proc.stdout and "## Informative checks" in (
            folder / results.REPORT
        ).read_text(encoding="utf-8")
    rerun = run(
        "-m",
        "rsim",
        f"+sweep={sweep}",
        *overrides,
        f"output={tmp_path}",
        "progress=false",
        "figures=false",
    )
    assert rerun.stdout.count("rsim: skip") == len(report.expected)


def test_readme_report_status_and_bench_commands_run(tmp_path):
    run(
        "-m",
        "rsim",
        *CELL,
        "depth=8",
        "betas=[0.5]",
        f"output={tmp_path}",
        "progress=false",
        "figures=false",
    )
    folder = tmp_path / "single"
    proc = run("-m", "rsim.report", str(folder))
    assert "rsim: report" in proc.stdout and (folder / results.REPORT).stat().st_size > 0
    proc = run("-m", "rsim.status", str(folder))
    assert "1 jobs expected, 1 done, 0 missing" in proc.stdout
    proc = run(
        "scripts/bench.py",
        "--models",
        "res3",
        "--widths",
        "4",
        "--depth",
        "8",
        "--repeats",
        "1",
        "--numbers",
        "1e4",
        "--output",
        str(tmp_path / "bench"),
        "--sections",
        "samplers",
        "backprop",
        "training",
        "--backprop-widths",
        "4",
        "--training-depth",
        "4",
        "--training-epochs",
        "2",
    )
    assert "of_layer_matmul" in (tmp_path / "bench" / "training.md").read_text()
    assert "ratio_to_floor" in (tmp_path / "bench" / "bench.md").read_text()
    timed = pd.read_csv(tmp_path / "bench" / "bench.csv")
    assert sorted(timed["sampler"]) == ["explicit", "projection", "reduced"]
    backprop = pd.read_csv(tmp_path / "bench" / "backprop.csv")
    assert list(backprop["backprop"]) == ["vjp", "both"] and (backprop["us_backprop"] > 0).all()


def test_critical_depths_script_runs(tmp_path):
    """scripts/critical_depths.py (the README's error-vs-depth table), at a tiny size."""
    out = tmp_path / "table.md"
    run(
        "scripts/critical_depths.py",
        "--laws",
        "fbm:0.8",
        "--depths",
        "8,16,32",
        "--width",
        "4",
        "--samples",
        "8",
        "--out",
        str(out),
    )
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| law | truth | largest depth") and len(lines) == 3
    assert "| fbm:0.8 | 0.8 | 32 |" in lines[2]


def test_a_key_of_another_experiment_is_refused_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    for overrides in (["lrs=[1]"], ["+lrs=[1]"]):
        proc = run("-m", "rsim", *overrides, f"output={out}", check=False)
        assert proc.returncode != 0 and "lrs" in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("rsim: error: lrs is not an option")
    assert not out.exists()


def test_the_console_script_runs_a_job_and_help_lists_experiments_sweeps_and_options(tmp_path):
    """``rsim`` (the console script, pyproject's [project.scripts]) is ``python -m rsim``; its
    ``--help`` lists the experiments, the sweeps and the chosen experiment's options."""
    script = Path(sys.executable).with_name("rsim")  # installed by pip install -e .
    if script.exists():
        command = [str(script)]
    else:  # a venv with rsim on PYTHONPATH only: what the script runs
        command = [sys.executable, "-c", "import sys; from rsim.cli import main; sys.exit(main())"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    job = ("samples=4", "width=4", "n_in=3", "depth=8", "betas=[0.5]", "figures=false")
    proc = subprocess.run(
        [*command, *job, f"output={tmp_path}", "progress=false"],
        cwd=tmp_path,  # not the checkout: the config is found from the package
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert rsim.load(tmp_path / "single")["depth"].tolist() == [8] * 4
    # Provenance: rsim's version, when (UTC) and the command line, beside the git revision
    (part,) = (tmp_path / "single").rglob("part-*.parquet")
    meta = results.read_metadata(part)
    assert meta["command"].endswith(f"figures=false output={tmp_path} progress=false")
    assert datetime.datetime.fromisoformat(meta["created"]).utcoffset().total_seconds() == 0
    assert meta["versions"]["rsim"] == rsim.__version__ and meta["git_revision"]
    helps = [
        subprocess.run(
            [*command, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True
        ).stdout,
        run("-m", "rsim", "--help").stdout,
    ]
    assert helps[0] == helps[1]
    for name in (*EXPERIMENTS, *SWEEPS, "depth=1000", "samples=1000", "betas=[0.25,0.5,1.0]"):
        assert f"  {name}" in helps[0], name
    ode = run("-m", "rsim", "experiment=ode", "--help").stdout
    assert "  depths=[16,32,64,128,256,512,1024,2048,4096]" in ode and "  tolerance=" in ode
    assert "Hydra" in run("-m", "rsim", "--hydra-help").stdout
