"""The guarantees of the one runner, checked for every experiment (cells, ode, sde, training):
status, refusal of files from another code version, failure records, one provenance."""

import dataclasses
import os

import pytest

from rsim import results, status
from rsim.checks import ConfigError
from rsim.experiments import base

TINY = {
    "cells": dict(experiment="cells", width=4, depth=5, samples=4, n_in=3),
    "ode": dict(
        experiment="ode",
        model="res1",
        activation="identity",
        width=3,
        n_in=4,
        depths=[4, 8],
        betas=[1.0],
        samples=2,
        tolerance=1e-8,
    ),
    "sde": dict(
        experiment="sde",
        activation="identity",
        width=3,
        n_in=4,
        depths=[4, 8],
        reference_depth=16,
        samples=2,
    ),
    "training": dict(
        experiment="training",
        model="res1",
        init="gaussian",
        width=4,
        depth=4,
        betas=[0.5],
        lrs=[0.01],
        epochs=1,
        batch_size=32,
        train_limit=64,
    ),
}
EXPERIMENTS = sorted(TINY)
PROVENANCE = {
    "created",
    "command",
    "experiment",
    "spec",
    "versions",
    "prng",
    "x64",
    "block",
    "device",
    "git_revision",
    "code_version",
    "row_key",
}


def two_jobs(experiment):
    """Two jobs of an experiment (seeds 0 and 1) and their manifest."""
    values = [{**TINY[experiment], "seed": seed} for seed in (0, 1)]
    return [base.spec_from_config(v) for v in values], base.job_manifest(values)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_status_names_missing_jobs_until_the_sweep_is_complete(experiment, tmp_path, capsys):
    specs, jobs = two_jobs(experiment)
    results.write_manifest(tmp_path, experiment, jobs)
    assert status.main([str(tmp_path)]) == 1  # only the manifest: nothing done
    assert capsys.readouterr().out.count("missing: job ") == 2
    for spec in specs:
        base.run_job(spec, tmp_path)
    assert status.main([str(tmp_path)]) == 0
    assert "2 jobs expected, 2 done, 0 missing" in capsys.readouterr().out
    base.table_path(tmp_path, specs[1]).unlink()
    assert status.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"missing: job {specs[1].digest()} ({specs[1].label()})" in out
    assert specs[0].digest() not in out


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_a_file_written_by_another_code_version_is_refused(experiment, tmp_path):
    spec = base.spec_from_config(TINY[experiment])
    path = base.run_job(spec, tmp_path)
    assert set(results.read_metadata(path)) == PROVENANCE
    assert results.read_metadata(path)["prng"] == spec.prng  # the stream the core ran under
    for table in spec.tables():  # sub-tables carry the same provenance, their own row key
        sub = results.read_metadata(base.table_path(tmp_path, spec, table))
        assert {**sub, "row_key": None} == {**results.read_metadata(path), "row_key": None}
    frame = results.read_table(path)
    metadata = results.read_metadata(path)
    assert base.run_job(spec, tmp_path) == path  # same code: skipped
    metadata["git_revision"] = "0123abc+dirty"  # provenance only: an edit elsewhere
    results.write(frame, path, metadata)
    assert base.run_job(spec, tmp_path) == path
    metadata["code_version"] = "0" * 16  # rsim's source, jax or jaxlib changed
    results.write(frame, path, metadata)
    with pytest.raises(ConfigError, match="cannot add to .* another code version .*part-"):
        base.run_job(spec, tmp_path)
    assert results.read_metadata(path)["code_version"] == "0" * 16  # left as it was
    # ... and so is any other job's run into that folder, and loading it
    other = base.spec_from_config({**TINY[experiment], "seed": 1})
    with pytest.raises(ConfigError, match="another code version"):
        base.run_job(other, tmp_path)
    base.run_job(other, tmp_path / "fresh")
    os.replace(base.table_path(tmp_path / "fresh", other), base.table_path(tmp_path, other))
    with pytest.raises(results.ResultsError, match="another code version"):
        results.load(tmp_path)
    assert len(results.load(tmp_path, mixed_versions=True)) == 2 * len(frame)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_a_failing_job_leaves_its_record_and_a_retry_clears_it(experiment, tmp_path, monkeypatch):
    specs, jobs = two_jobs(experiment)
    results.write_manifest(tmp_path, experiment, jobs)
    base.run_job(specs[0], tmp_path)
    real_get = base.get

    def boom(spec, progress):
        raise RuntimeError("device lost")

    monkeypatch.setattr(base, "get", lambda name: dataclasses.replace(real_get(name), compute=boom))
    with pytest.raises(RuntimeError, match="device lost"):
        base.run_job(specs[1], tmp_path)
    record = results.failure_path(tmp_path, specs[1].digest())
    assert "RuntimeError: device lost" in record.read_text()
    report = base.status(tmp_path)
    assert (len(report.done), len(report.failed), len(report.missing)) == (1, 1, 0)
    monkeypatch.undo()
    base.run_job(specs[1], tmp_path)
    assert base.status(tmp_path).complete and not record.exists()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_a_key_the_experiment_does_not_use_is_refused(experiment):
    foreign = {"cells": "lrs", "ode": "reference_depth", "sde": "tolerance", "training": "depths"}[
        experiment
    ]
    with pytest.raises(
        ConfigError, match=f"^{foreign} is not an option of experiment={experiment}"
    ):
        base.spec_from_config({**TINY[experiment], foreign: 1})


def test_every_option_has_its_default_in_one_place():
    """The Hydra group of each experiment is its spec's fields, and the spec's defaults
    build (a valid spec needs no option at all)."""
    from hydra.core.config_store import ConfigStore

    from rsim import cli  # noqa: F401  (registers the groups)

    store = ConfigStore.instance()
    for name in EXPERIMENTS:
        node = store.load(f"experiment/{name}.yaml").node
        spec = base.get(name).spec
        assert {k: v for k, v in node.items() if k != "experiment"} == spec.options()
        assert spec().digest()  # the defaults alone make a valid spec
