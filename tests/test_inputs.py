"""Inputs that used to escape the checks (issue 21, findings 4-6): a results folder outside the
output root, seeds, depths and sample counts beyond what the numerics index, and a result table
larger than the host's memory. Each is refused in one line naming the key, before anything is
computed or written."""

import os
import re
import subprocess
import sys

import jax
import pytest
from conftest import ROOT
from omegaconf import OmegaConf
from tracing import count_traces

import rsim
from rsim import checks, cli, device
from rsim.checks import ConfigError
from rsim.core import memory
from rsim.experiments.cells import CellSpec
from rsim.experiments.limits import OdeSpec, SdeSpec
from rsim.experiments.training import TrainSpec

R = ("samples=8", "depth=10", "width=8", "progress=false", "figures=false")

# --- finding 4: the results folder -------------------------------------------------------------


BAD_FOLDERS = [
    ("results", "..", "name"),
    ("results", ".", "name"),
    ("results", "a/b", "name"),
    ("results", "a\\b", "name"),
    ("results", "a\0b", "name"),
    ("results", ".hidden", "name"),
    ("results", "", "name"),
    ("results", None, "name"),
    (None, "single", "output"),
    ("", "single", "output"),
]


def test_the_results_folder_is_one_plain_name_inside_a_given_output(tmp_path):
    for output, name, key in BAD_FOLDERS:
        with pytest.raises(ConfigError) as error:
            cli.results_folder(OmegaConf.create({"output": output, "name": name}))
        message = str(error.value)
        assert "\n" not in message and message.startswith(f"{key}="), message
    with pytest.raises(ConfigError, match="^output=null is not allowed"):
        cli.results_folder(OmegaConf.create({"output": None, "name": "single"}))
    cfg = OmegaConf.create({"output": str(tmp_path), "name": "single"})
    assert cli.results_folder(cfg) == tmp_path / "single"
    assert cli.results_folder(OmegaConf.create({"output": "r", "name": 2024})).name == "2024"


def _tree(root):
    return sorted(
        (str(path.relative_to(root)), path.read_bytes() if path.is_file() else None)
        for path in root.rglob("*")
    )


@pytest.mark.parametrize(
    "overrides,start",
    [
        (("output=proj/results", "name=.."), "rsim: error: name='..' is not allowed"),
        (("output=null",), "rsim: error: output=null is not allowed"),
    ],
)
def test_the_command_line_refuses_them_before_writing_anything(tmp_path, overrides, start):
    """From the report: name=.. overwrote proj/report.md; output=null wrote ./None/single."""
    (tmp_path / "proj" / "results").mkdir(parents=True)
    (tmp_path / "proj" / "_report.md").write_text("keep me")
    before = _tree(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "rsim", *R, *overrides],
        cwd=tmp_path,  # relative outputs land here, not in the repository
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), proc.stderr
    assert _tree(tmp_path) == before


# --- finding 5: seeds, depths and samples the numerics can index -------------------------------

BIG = [
    (CellSpec, {"seed": 2**63}, "seed"),
    (CellSpec, {"depth": 10**11}, "depth"),
    (CellSpec, {"depth": 2**31}, "depth"),
    (CellSpec, {"samples": 2**32 + 1}, "samples"),
    (CellSpec, {"init": "fbm", "depth": 10, "coupled_depth": 2**31}, "coupled_depth"),
    (OdeSpec, {"samples": 2**32 + 1}, "samples"),
    (OdeSpec, {"depths": (16, 2**31)}, "depths"),
    (SdeSpec, {"seed": 2**63}, "seed"),
    (SdeSpec, {"samples": 2**32 + 1}, "samples"),
    (SdeSpec, {"depths": (4, 10**11)}, "depths"),
    (SdeSpec, {"reference_depth": 2**31}, "reference_depth"),
    (TrainSpec, {"depth": 10**11}, "depth"),
    (TrainSpec, {"seed": 2**32 - 2, "replicates": 3}, "seed"),  # runs seed .. seed + 2
]


@pytest.mark.parametrize("spec,values,key", BIG, ids=[f"{s.__name__}-{v}" for s, v, _ in BIG])
def test_values_beyond_the_numerics_are_refused_naming_the_key(spec, values, key):
    with pytest.raises(ConfigError) as error:
        spec(**values)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{key}="), message
    if key in ("seed", "samples", "depth", "depths") and "replicates" not in values:
        bounds = {"seed": checks.MAX_SEED, "samples": checks.MAX_SAMPLES}
        assert f"<= {bounds.get(key, checks.MAX_DEPTH)}" in message, message


def test_the_largest_seed_is_accepted_and_one_more_is_refused():
    for spec in (CellSpec, OdeSpec, SdeSpec, TrainSpec):
        assert spec(seed=2**32 - 1).seed == 2**32 - 1
        with pytest.raises(ConfigError, match=r"^seed=4294967296 is not allowed.*<= 4294967295"):
            spec(seed=2**32)
    assert TrainSpec(seed=2**32 - 3, replicates=3).runs()["seed"].max() == 2**32 - 1
    assert CellSpec(samples=2**32, depth=2**31 - 1).samples == 2**32
    # float32 keeps a seed's 32 bits: 2^32 - 1 draws its own numbers, not seed 0's.
    options = dict(width=8, depth=10, samples=4, betas=[0.5], gradients="none")
    last, zero = rsim.simulate(seed=2**32 - 1, **options), rsim.simulate(seed=0, **options)
    assert (last["seed"] == 2**32 - 1).all()
    assert not (last["log_hidden_ratio"].to_numpy() == zero["log_hidden_ratio"].to_numpy()).all()


# --- finding 6: the result table in the host's memory ------------------------------------------


def _preflight(spec: CellSpec, monkeypatch) -> None:
    """The preflight under RSIM_MEMORY_LIMIT=200M: on the CPU that is the host's memory too;
    on an accelerator (where it limits the device) the host's limit is passed explicitly."""
    monkeypatch.setenv(device.MEMORY_LIMIT_ENV, "200M")
    if jax.default_backend() == "cpu":
        spec.preflight()
    else:
        spec.preflight(host_limit=device.MemoryLimit(200 * 2**20, device.MEMORY_LIMIT_ENV))


def test_a_result_table_larger_than_the_host_is_refused_before_computing(monkeypatch):
    with count_traces() as traces, pytest.raises(ConfigError) as error:
        _preflight(CellSpec(samples=10**7, width=8, depth=10), monkeypatch)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("this cell's result table needs ~"), message
    assert "10000000 samples x 3 betas = 30000000 rows" in message
    assert f"offers 200 MiB ({device.MEMORY_LIMIT_ENV})" in message
    fit = int(re.search(r"use samples=(\d+) or fewer, or split the run", message).group(1))
    assert not traces  # nothing traced: nothing compiled, nothing run
    # The advice is exact: the samples it names fit, one more does not; a small cell fits.
    _preflight(CellSpec(samples=fit, width=8, depth=10), monkeypatch)
    with pytest.raises(ConfigError, match="result table"):
        _preflight(CellSpec(samples=fit + 1, width=8, depth=10), monkeypatch)
    _preflight(CellSpec(samples=1000, width=8, depth=10), monkeypatch)


def test_weight_paths_count_in_the_table():
    limit = device.MemoryLimit(100 * 2**20, "available RAM")
    rows = 100 * 2**20 // memory.TABLE_BYTES_PER_ROW
    assert memory.check_table(1, 1, path_rows=rows - 1, limit=limit) > 0
    with pytest.raises(ConfigError, match=f"and {rows} of weight paths.*use fewer weight_paths"):
        memory.check_table(1, 1, path_rows=rows, limit=limit)


def test_the_host_limit_respects_ulimit_v(monkeypatch):
    """``ulimit -v`` (RLIMIT_AS) bounds the address space: what it leaves beyond what the
    process maps now and the reserve for the compiler is the host's limit when smaller."""
    monkeypatch.setenv(device.MEMORY_LIMIT_ENV, "1T")
    with open("/proc/self/status") as status:
        mapped = int(status.read().split("VmSize:")[1].split()[0]) * 1024
    soft = mapped + device.ADDRESS_SPACE_RESERVE + 300 * 2**20
    monkeypatch.setattr(device.resource, "getrlimit", lambda _: (soft, soft))
    limit = device.host_memory_limit()
    assert "ulimit -v" in limit.source
    assert 200 * 2**20 < limit.bytes <= 300 * 2**20
