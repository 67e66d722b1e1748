"""The text of ``rsim --help``, generated so that it cannot drift from the code: the
experiments (:data:`rsim.experiments.EXPERIMENTS`), the sweeps (``conf/sweep/*.yaml``, the first
sentence of each file's leading comment), every option of the chosen experiment with its
default and meaning (the spec's fields: :func:`rsim.experiments.base.option`) and the runner's
options (``conf/config.yaml``, each with its comment). :mod:`rsim.cli` hands it to Hydra as the
help template; Hydra's own help stays at ``--hydra-help``.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path
from typing import Any

import rsim
from rsim import schema
from rsim.experiments import EXPERIMENTS, base

WIDTH = 100  # columns of the help text
NAME_COLUMN = 28  # where the meanings start
# A string that Hydra's override grammar takes unquoted (anything else is quoted).
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(])")


def override_value(value: Any) -> str:
    """``value`` as it is written on the command line (Hydra's override grammar).

    Args:
        value: a default (None, bool, number, string, tuple or list of those).

    Returns:
        The text after ``key=``.

    >>> override_value((0.25, 0.5)), override_value(None), override_value("~/.cache")
    ('[0.25,0.5]', 'null', "'~/.cache'")
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value not in ("null", "true", "false"):
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def _entry(name: str, text: str) -> list[str]:
    """One ``name  text`` entry, the text wrapped at :data:`WIDTH` in its column (on the next
    line where the name is too long for the column)."""
    indent = " " * NAME_COLUMN
    head = f"  {name}"
    wrapped = textwrap.wrap(text, WIDTH - NAME_COLUMN) or [""]
    if len(head) > NAME_COLUMN - 2:
        return [head, *(indent + line for line in wrapped)]
    return [head.ljust(NAME_COLUMN) + wrapped[0], *(indent + line for line in wrapped[1:])]


def first_sentence(text: str, width: int) -> str:
    """The first sentence of ``text``, cut to ``width`` characters (``...`` where cut).

    Args:
        text: prose.
        width: the most characters returned.

    Returns:
        One line.

    >>> first_sentence("Figure 2: histograms. Then more.", 80)
    'Figure 2: histograms.'
    >>> first_sentence("one two three four", 12)
    'one two...'
    """
    sentence = _SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]
    if len(sentence) <= width:
        return sentence
    return sentence[: width - 3].rsplit(" ", 1)[0] + "..."


def _leading_comment(path: Path) -> str:
    """The comment block that opens a YAML file, without Hydra's ``# @package`` line."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line.lstrip("#").strip())
    return " ".join(lines)


def sweeps(conf: Path) -> dict[str, str]:
    """Each sweep's name with the first sentence of its file's leading comment.

    Args:
        conf: Hydra's config folder (its ``sweep/*.yaml``).

    Returns:
        name -> one line.
    """
    return {
        path.stem: _leading_comment(path) for path in sorted(Path(conf, "sweep").glob("*.yaml"))
    }


def run_options(conf: Path) -> dict[str, tuple[str, str]]:
    """The runner's options (:data:`rsim.schema.RUN_OPTIONS`, ``experiment`` apart) with their
    defaults and meanings as ``conf/config.yaml`` writes them (``key: value  # meaning``, or a
    comment on the lines just above).

    Args:
        conf: Hydra's config folder.

    Returns:
        key -> (default as written, meaning).
    """
    found, above = {}, []
    for line in Path(conf, "config.yaml").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(\w+):\s*(.*?)\s*(?:#\s*(.*))?", line)
        if line.startswith("# "):
            above.append(line[2:].strip())
            continue
        if match and match[1] in schema.RUN_OPTIONS and match[1] != "experiment":
            found[match[1]] = (match[2], match[3] or " ".join(above))
        above = []
    return found


def experiment_options(name: str) -> list[tuple[str, str, str]]:
    """Every option of experiment ``name``: (key, default on the command line, meaning).

    Args:
        name: a key of :data:`rsim.experiments.EXPERIMENTS`.

    Returns:
        The options in the spec's field order.

    >>> experiment_options("sde")[-1][:2]
    ('reference_depth', '8192')
    """
    spec = base.get(name).spec
    defaults = spec.options()
    return [
        (f.name, override_value(defaults[f.name]), base.meaning(spec, f.name))
        for f in dataclasses.fields(spec)
        if f.name in defaults
    ]


def help_text(experiment: str, conf: Path) -> str:
    """The whole of ``rsim --help`` for the chosen experiment.

    Args:
        experiment: the ``experiment`` option's value (``rsim experiment=ode --help``).
        conf: Hydra's config folder.

    Returns:
        The text, lines of at most :data:`WIDTH` columns where the words allow.
    """
    base.get(experiment)  # an unknown name: one line listing the experiments
    lines = [
        f"rsim {rsim.__version__}",
        "Monte Carlo simulation of deep residual networks at initialisation.",
        "",
        "Usage (`python -m rsim` is the same command):",
        "  rsim [key=value ...]                   one job of the chosen experiment",
        "  rsim +sweep=<name> [key=value ...]     a sweep; key=a,b on the command line: a grid",
        "  rsim experiment=<name> --help          that experiment's options",
        "  rsim --cfg job                         the composed config, without running it",
        "  rsim --hydra-help                      Hydra's own flags and help",
        "",
        "Experiments (experiment=<name>):",
    ]
    for name, other in EXPERIMENTS.items():
        lines += _entry(name, other.label)
    lines += ["", "Sweeps (+sweep=<name>; conf/sweep/<name>.yaml):"]
    for name, comment in sweeps(conf).items():
        lines += _entry(name, first_sentence(comment, WIDTH - NAME_COLUMN))
    lines += ["", f"Options of experiment={experiment}, key=default:"]
    for key, default, text in experiment_options(experiment):
        lines += _entry(f"{key}={default}", text)
    lines += ["", "Run options, key=default:"]
    for key, (default, text) in run_options(conf).items():
        lines += _entry(f"{key}={default}", text)
    return "\n".join(lines) + "\n"
