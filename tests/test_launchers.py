"""Cluster launchers: submitit_local gives the basic launcher's numbers bit for bit, and the
SLURM config renders the sbatch settings users expect."""

import numpy as np
from hydra import compose, initialize_config_dir
from submitit.slurm.slurm import _make_sbatch_string

import rsim
from rsim import cli

SMALL = ("+sweep=corollary1", "samples=16", "width=8", "n_in=4", "depth=5,10", "figures=false")


def test_local_launcher_matches_the_basic_launcher(run_cli, tmp_path):
    run_cli(*SMALL, f"output={tmp_path / 'basic'}")
    run_cli(*SMALL, "launcher=local", f"output={tmp_path / 'local'}")
    basic = rsim.load(tmp_path / "basic" / "corollary1").sort_values(["depth", "sample", "beta"])
    local = rsim.load(tmp_path / "local" / "corollary1").sort_values(["depth", "sample", "beta"])
    logs = [c for c in basic if c.startswith("log_")]
    assert len(basic) == 2 * 16 * 3
    assert np.array_equal(basic[logs].to_numpy(), local[logs].to_numpy())


def test_slurm_config_renders_the_expected_sbatch_script(tmp_path):
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        cfg = compose(
            "config",
            return_hydra_config=True,
            overrides=[
                "+sweep=heatmap",
                "launcher=slurm",
                "hydra.launcher.partition=gpu",
                "hydra.launcher.timeout_min=600",
            ],
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    cli.validate(cfg)
    script = _make_sbatch_string(
        command="python -m rsim",
        folder=tmp_path,
        partition=launcher.partition,
        time=launcher.timeout_min,
        nodes=launcher.nodes,
        ntasks_per_node=launcher.tasks_per_node,
        cpus_per_task=launcher.cpus_per_task,
        gpus_per_node=launcher.gpus_per_node,
        mem=f"{launcher.mem_gb}GB",
        array_parallelism=launcher.array_parallelism,
        setup=list(launcher.setup),
        map_count=100,
    )
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --time=600",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --array=0-99%64",
        "export XLA_PYTHON_CLIENT_PREALLOCATE=false",
    ):
        assert line in script, line
