"""``rsim --help`` (rsim/usage.py): every experiment, every sweep, and every option of each
experiment with its default, which reads back through Hydra's override grammar as the spec's
default, and a meaning; the runner's options with theirs."""

import dataclasses
import re
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from rsim import cli, schema, usage
from rsim.experiments import EXPERIMENTS, base

CONF = Path(cli.CONF_DIR)
PARSER = OverridesParser.create()


def _listed(text: str) -> dict[str, tuple[str, str]]:
    """``key=default`` entries of a help text -> (default, the meaning's first line)."""
    entries = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.fullmatch(r"  (\w+)=(\S+)\s*(.*)", line)
        if match:
            after = match[3] or (lines[i + 1].strip() if i + 1 < len(lines) else "")
            entries[match[1]] = (match[2], after)
    return entries


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_every_option_is_listed_with_its_default_and_a_meaning(experiment):
    text = usage.help_text(experiment, CONF)
    listed = _listed(text.split(f"Options of experiment={experiment}")[1].split("Run options")[0])
    spec = EXPERIMENTS[experiment].spec
    options = spec.options()
    assert set(listed) == set(options)
    for key, default in options.items():
        shown, meaning = listed[key]
        assert PARSER.parse_override(f"{key}={shown}").value() == default, key
        assert meaning and base.meaning(spec, key), key
    # Fields that are not options (set by the runner) are not listed.
    internal = {f.name for f in dataclasses.fields(spec)} - set(options)
    assert not internal & set(listed)


def test_experiments_sweeps_and_run_options_are_listed():
    text = usage.help_text("cells", CONF)
    for name, record in EXPERIMENTS.items():
        assert f"  {name}" in text and record.label in text
    sweeps = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))
    assert sweeps and all(re.search(rf"^  {s}\s+\S", text, re.M) for s in sweeps)
    assert "Figures 1 and 3: res-3, uniform weights" in text  # corollary1's comment
    run = _listed(text.split("Run options")[1])
    assert set(run) == set(schema.RUN_OPTIONS) - {"experiment"}
    assert all(meaning for _, meaning in run.values()), run
    assert run["output"][0] == "results"
    assert max(len(line) for line in text.splitlines()) <= usage.WIDTH + 10


def test_an_unknown_experiment_is_one_line_listing_them():
    with pytest.raises(Exception, match="cells, ode, sde, training"):
        usage.help_text("nope", CONF)
