"""The wheel: built from a copy of the sources (no build isolation, so no network; the build
backend comes with the test extra), it carries every module of rsim, every YAML of conf/
inside the package (rsim/conf/), THEORY.md, the license, and the console script ``rsim``.
CI installs it into a fresh venv outside the repository and runs a sweep (.ci/run)."""

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("setuptools_scm", reason="the build backend: pip install -e '.[test]'")

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "rsim", "conf")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built from a copy of the sources (the checkout is left as it is: no build/)."""
    tmp = tmp_path_factory.mktemp("wheel")
    (tmp / "src").mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, tmp / "src" / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, tmp / "src" / name)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(tmp / "src"),
            "-w",
            str(tmp / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = (tmp / "dist").glob("rsim-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_every_module_and_config(wheel):
    names = set(wheel.namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "rsim").rglob("*.py")}
    assert modules and modules <= names, sorted(modules - names)
    configs = {
        "rsim/conf/" + p.relative_to(ROOT / "conf").as_posix()
        for p in (ROOT / "conf").rglob("*.yaml")
    }
    assert "rsim/conf/sweep/corollary1.yaml" in configs
    assert configs <= names, sorted(configs - names)
    assert {"rsim/THEORY.md", "rsim/py.typed"} <= names
    assert not any(n.startswith(("conf/", "tests/")) for n in names)  # only inside the package
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_wheel_declares_the_console_script(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert dict(parser["console_scripts"]) == {"rsim": "rsim.cli:main"}
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    assert "License-Expression: Apache-2.0" in wheel.read(metadata).decode()


def test_an_installed_package_finds_its_own_conf_and_records_no_git_revision(tmp_path):
    # Laid out as the wheel installs it (rsim/conf/ inside the package), outside any checkout:
    # rsim.cli.conf_dir takes the package's copy, and provenance names no git revision.
    package = tmp_path / "site" / "rsim"
    shutil.copytree(ROOT / "rsim", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "conf", package / "conf")
    code = "from rsim import cli, results; print(cli.CONF_DIR); print(results.git_revision())"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    conf, revision = proc.stdout.split()
    assert Path(conf) == (package / "conf").resolve() and revision == "None"
    from rsim import cli, results

    assert Path(cli.CONF_DIR) == ROOT / "conf"  # the checkout's, where tests run
    assert results.git_revision() not in (None, "unknown")
