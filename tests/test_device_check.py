"""scripts/device_check.sh, the one-shot check of a GPU box: its budgets fit 8 minutes, and
its dry run (every step at a tiny size, here on CPU) ends with every step done."""

import os
import re
import subprocess
import sys
import tarfile

import pytest
from conftest import ROOT

SCRIPT = ROOT / "scripts" / "device_check.sh"
STEPS = ("banner", "preflight", "bench", "corollary1", "heatmap", "training", "status", "tests")


def budgets() -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^step (\S+) (\d+) ", SCRIPT.read_text(), re.M)}


def dry_run(out, steps: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop("OUT", None)
    if steps:
        env["STEPS"] = steps
    return subprocess.run(
        ["bash", str(SCRIPT), "--dry-run", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )


def summary(out) -> dict[str, int]:
    lines = (out / "summary.txt").read_text().splitlines()
    return {line.split()[0]: int(line.split()[1].removeprefix("rc=")) for line in lines}


def test_the_steps_fit_eight_minutes_on_one_card():
    assert tuple(budgets()) == STEPS
    assert sum(budgets().values()) <= 8 * 60 - 20  # 20 s for the wheels and the packing
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_one_step_of_the_dry_run_logs_and_packs(tmp_path):
    dry_run(tmp_path, steps="banner")
    assert summary(tmp_path) == {"banner": 0}
    assert "rsim: jax " in (tmp_path / "device_check.log").read_text()
    with tarfile.open(tmp_path / "results.tar.gz") as packed:
        assert packed.getnames() == []  # no sweep ran


@pytest.mark.slow
def test_the_whole_dry_run_ends_with_every_step_done(tmp_path):
    proc = dry_run(tmp_path)
    assert summary(tmp_path) == dict.fromkeys(STEPS, 0), proc.stdout
    log = (tmp_path / "device_check.log").read_text()
    assert "rsim: error: this cell needs ~" in log  # the width 80000 cell, refused
    assert "offers 1 MiB (RSIM_MEMORY_LIMIT)" in log
    assert "rule_block" in (tmp_path / "bench.csv").read_text()
    with tarfile.open(tmp_path / "results.tar.gz") as packed:
        names = packed.getnames()
    for sweep in ("corollary1", "heatmap", "training"):
        assert f"results/{sweep}/_sweep.json" in names, names


@pytest.mark.slow
def test_bench_sweeps_blocks_around_the_rule(tmp_path):
    """The README's block sweep: each sampler at half and at its rule's block (eight
    compilations: slow; the default suite runs bench.py in tests/test_entry_points.py)."""
    subprocess.run(
        [sys.executable, "scripts/bench.py", "--models", "res1", "--widths", "4"]
        + ["--depth", "8", "--repeats", "1", "--numbers", "1e4", "--block-factors", "0.5", "1"]
        + ["--output", str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [line.split(",") for line in (tmp_path / "bench.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    table = [dict(zip(header, row)) for row in rows]
    for sampler in ("explicit", "projection"):
        mine = [row for row in table if row["sampler"] == sampler]
        rule = int(mine[0]["rule_block"])
        assert sorted(int(row["block"]) for row in mine) == [rule // 2, rule]
    explicit_at_rule = [
        r for r in table if r["sampler"] == "explicit" and r["block"] == r["rule_block"]
    ]
    assert float(explicit_at_rule[0]["speedup_vs_explicit"]) == 1.0
