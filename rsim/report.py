"""Theory in the loop: every statement of the theory checked against a results folder.

    python -m rsim.report results/<sweep>  # writes _report.md, _tables/report.csv, _figures/

It checks the rows of the jobs of the latest command that wrote to the folder (its manifest
``_sweep.json``; a folder without one: every file in it), and the verdict line says how many
of those jobs are stored, e.g. ``AGREES: ... — 5 of 10 jobs missing``. Exit code: 0 when the
report agrees and every job is done, 1 when a statement is violated or jobs are missing, 2 on
an error (no result files, a damaged manifest, a folder that cannot be read or written), said
in one line on stderr.

The verdicts and the markdown are :mod:`rsim.analysis.report` (its docstring and
rsim/THEORY.md section 8 give the Monte Carlo rules); the figures are
:mod:`rsim.views.report`. This module reads the folder and writes the files. The report names,
per series, the hypotheses that fail and the statements that apply: for mlp and conv branches
(rsim/THEORY.md section 11) H2 fails with ReLU and m >= 2, and H1 fails for conv, whose mean
statements (Lemma 1, Props 2, 5, 6) still apply through H1'.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rsim import results
from rsim.analysis import report as analysis
from rsim.checks import ConfigError
from rsim.experiments import base


@dataclass(frozen=True)
class Report:
    """What :func:`write_report` wrote and found."""

    path: Path  # _report.md
    verdict: str  # the sweep's one-line verdict, with the run's coverage when it has a manifest
    checks: pd.DataFrame  # one row per check, as in report.csv
    missing: int = 0  # jobs of the latest command not stored (failed ones included)


def write_report(folder: str | Path, figures: bool = True) -> Report:
    """Check the latest command's rows in a results folder (:func:`base.load_run`) against the
    theory; write ``_report.md``, ``_tables/report.csv`` and figures in ``_figures/``
    (atomically). With a manifest the verdict
    ends with the coverage: ``— all 4 jobs done`` or ``— 5 of 10 jobs missing``.

    Args:
        folder: a results folder of cells.
        figures: draw the figures (:func:`rsim.views.report.report_figures`).

    Returns:
        The :class:`Report`.

    Raises:
        FileNotFoundError: no result files; :class:`rsim.results.ResultsError` for a damaged
            manifest; :class:`rsim.results.StorageError` for a folder that cannot be written.
    """
    folder = Path(folder)
    frame = base.load_run(folder)
    checks = analysis.check_table(frame)
    verdict, missing = analysis.sweep_verdict(checks), 0
    if (folder / results.MANIFEST).exists():
        state = base.status(folder)
        missing = len(state.expected) - len(state.done)
        verdict = f"{verdict} — {state.coverage()}"
    drawn = []
    if figures:
        from rsim.views.report import report_figures

        drawn = report_figures(frame, checks, results.figures_folder(folder))
    path = results.write_text(
        folder / results.REPORT, analysis.render_markdown(checks, folder, drawn, verdict)
    )
    results.write_csv(checks, results.tables_folder(folder) / "report.csv")
    return Report(path, verdict, checks, missing)


def main(argv: list[str] | None = None) -> int:
    """``python -m rsim.report FOLDER [--no-figures]``.

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 agrees and complete, 1 violates or jobs missing, 2 an error.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:  # no result files: an error
        ...     main([tmp, "--no-figures"])
        2
    """
    parser = argparse.ArgumentParser(
        prog="python -m rsim.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("folder", help="a results folder, e.g. results/corollary1")
    parser.add_argument(
        "--no-figures", action="store_true", help="write the report without figures"
    )
    args = parser.parse_args(argv)
    try:
        report = write_report(args.folder, figures=not args.no_figures)
    except (OSError, results.ResultsError, ConfigError) as error:
        # OSError: no result files (FileNotFoundError), a folder that cannot be read or
        # written (StorageError); ResultsError: a damaged manifest; ConfigError: a manifest
        # whose jobs this code refuses.
        print(f"rsim.report: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(f"rsim: report {report.path}: {report.verdict}")
    return 1 if report.verdict.startswith("VIOLATES") or report.missing else 0


if __name__ == "__main__":
    sys.exit(main())
