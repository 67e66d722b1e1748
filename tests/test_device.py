"""The banner every run prints first, the warning for a CPU-only jax beside a GPU, and the
memory limit a device offers (rsim/device.py)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import pytest
from conftest import ROOT

from rsim import device
from rsim.checks import ConfigError

TINY = ("width=4", "depth=8", "samples=2", "n_in=3", "figures=false", "progress=false")
BANNER = re.compile(r"rsim: jax \S+, backend (\w+), (\d+) devices?: .+")


def _path_without_nvidia_smi() -> list[str]:
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return [f for f in folders if f and not Path(f, "nvidia-smi").exists()]


def _rsim(tmp_path, path: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=os.pathsep.join(path))
    env.pop("JAX_PLATFORMS", None)
    return subprocess.run(
        [sys.executable, "-m", "rsim", *TINY, f"output={tmp_path / 'out'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def _fake_nvidia_smi(folder: Path) -> Path:
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3'\n")
    script.chmod(0o755)
    return folder


def test_banner_is_the_first_line_and_no_warning_without_a_gpu(tmp_path):
    proc = _rsim(tmp_path, _path_without_nvidia_smi())
    first = proc.stdout.splitlines()[0]
    match = BANNER.fullmatch(first)
    assert match, proc.stdout
    assert first.startswith(f"rsim: jax {jax.__version__}, backend {jax.default_backend()}")
    assert int(match.group(2)) == jax.local_device_count()
    assert "rsim: warning" not in proc.stderr, proc.stderr
    assert proc.stdout.count("rsim: jax ") == 1  # once per process: driver and job share it


def test_warning_when_nvidia_smi_lists_a_gpu_and_jax_runs_on_cpu(tmp_path):
    if jax.default_backend() != "cpu":
        pytest.skip("JAX has a GPU here: nothing to warn about")
    fake = _fake_nvidia_smi(tmp_path / "bin")
    proc = _rsim(tmp_path, [str(fake), *_path_without_nvidia_smi()])
    assert BANNER.fullmatch(proc.stdout.splitlines()[0]), proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("rsim: warning")]
    assert len(warnings) == 1, proc.stderr
    assert "NVIDIA H100 80GB HBM3" in warnings[0] and device.CUDA_INSTALL in warnings[0]


def test_cuda_warning_needs_a_gpu_listed(tmp_path, monkeypatch):
    if jax.default_backend() != "cpu":
        pytest.skip("JAX has a GPU here: nothing to warn about")
    monkeypatch.delenv("JAX_PLATFORMS", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join(_path_without_nvidia_smi()))
    assert device.visible_gpus() == [] and device.cuda_warning() is None
    fake = _fake_nvidia_smi(tmp_path / "bin")
    monkeypatch.setenv("PATH", os.pathsep.join([str(fake), *_path_without_nvidia_smi()]))
    assert device.visible_gpus() == ["NVIDIA H100 80GB HBM3"]
    assert "1 GPU (NVIDIA H100 80GB HBM3)" in device.cuda_warning()
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")  # the CPU on purpose
    assert device.cuda_warning() is None
    failing = fake / "nvidia-smi"  # no driver: nvidia-smi fails
    failing.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert device.visible_gpus() == []


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1000000", 1_000_000),
        ("512M", 512 * 2**20),
        ("24G", 24 * 2**30),
        ("24GiB", 24 * 2**30),
        ("1.5g", int(1.5 * 2**30)),
        ("64k", 64 * 1024),
    ],
)
def test_memory_sizes_parse(text, expected):
    assert device.parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "24 GHz", "-1G"])
def test_bad_memory_sizes_are_refused(text):
    with pytest.raises(ConfigError, match=device.MEMORY_LIMIT_ENV):
        device.parse_size(text)


def test_memory_limit_comes_from_the_environment_or_the_device(monkeypatch):
    monkeypatch.setenv(device.MEMORY_LIMIT_ENV, "3G")
    assert device.memory_limit() == device.MemoryLimit(3 * 2**30, device.MEMORY_LIMIT_ENV)
    monkeypatch.delenv(device.MEMORY_LIMIT_ENV)
    limit = device.memory_limit()
    if jax.default_backend() == "cpu":
        assert limit.source == "available RAM"
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        assert 0 < limit.bytes <= total
    else:
        assert limit.bytes > 0 and limit.source.startswith("allocator limit of")


def test_sizes_read_in_powers_of_1024():
    assert device.size_text(512) == "512 B"
    assert device.size_text(28.8e9) == "26.8 GiB"
    assert device.size_text(3 * 2**20) == "3 MiB"
