"""Theory in the loop: every statement of the theory checked against a results folder.

    python -m rsim.report results/<sweep>      # writes report.md, report.csv and figures

The verdicts and the markdown are :mod:`rsim.analysis.report` (its docstring and
rsim/THEORY.md section 8 give the Monte Carlo rules); the figures are
:mod:`rsim.views.report`. This module reads the folder and writes the files. report.md names,
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


@dataclass(frozen=True)
class Report:
    path: Path  # report.md
    verdict: str  # the sweep's one-line verdict
    checks: pd.DataFrame  # one row per check, as in report.csv


def write_report(folder: str | Path, figures: bool = True) -> Report:
    """Check a results folder against the theory; write report.md, report.csv and figures."""
    folder = Path(folder)
    frame = results.load(folder)
    checks = analysis.check_table(frame)
    drawn = []
    if figures:
        from rsim.views.report import report_figures

        drawn = report_figures(frame, checks, folder)
    path = folder / "report.md"
    path.write_text(analysis.render_markdown(checks, folder, drawn), encoding="utf-8")
    checks.to_csv(folder / "report.csv", index=False)
    return Report(path, analysis.sweep_verdict(checks), checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rsim.report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("folder", help="a results folder, e.g. results/corollary1")
    parser.add_argument("--no-figures", action="store_true", help="write report.md only")
    args = parser.parse_args(argv)
    try:
        report = write_report(args.folder, figures=not args.no_figures)
    except FileNotFoundError as error:
        print(f"rsim.report: error: {error}", file=sys.stderr)
        return 2
    print(f"rsim: report {report.path}: {report.verdict}")
    return 1 if report.verdict.startswith("VIOLATES") else 0


if __name__ == "__main__":
    sys.exit(main())
