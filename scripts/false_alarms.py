"""Measure the theory report's false-alarm rate on correct simulations (issue 14).

    python scripts/false_alarms.py                       # about 2 minutes on 2 cores
    python scripts/false_alarms.py --replicates 200 --out false_alarms.md
    python scripts/false_alarms.py --no-floor            # the rules before the sample floors
    python scripts/false_alarms.py --sharp --widths 4 64 --replicates 20
                                         # the cells of +sweep=theory_sharp, n in {4, 16, 64, 256}

Runs the whole report (check_table + sweep_verdict) on ``--replicates`` independent
replicates of the cells of rsim.analysis.false_alarms.CELLS at each n in {4, 8, 16, 64, 256}
(more replicates at small n: disjoint blocks of one pool) and prints, per n, the fraction of
replicates whose sweep verdict is VIOLATES and the per-check false-alarm rate with binomial
standard errors. ``--sharp`` runs the cells of conf/sweep/theory_sharp.yaml instead
(rsim.analysis.false_alarms.SHARP_CELLS, where the high-probability bounds are informative) and
adds, per statement, the violations over the informative checks; ``--widths`` keeps the cells
of those widths (the d = 1024 cell costs most: run it with fewer replicates on its own).
Checks of one replicate share samples (the exact value and the Lemma 1 band
of one cell use the same r^2), so the per-check standard error is a lower bound. Exit code 1
if a per-check rate is above the nominal FALSE_ALARM by more than 3 of its standard errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rsim.analysis import false_alarms, report
from rsim.analysis.stats import FALSE_ALARM


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=40, help="replicates at the largest n")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="judge every mean at every n (MIN_MEAN_SAMPLES = MIN_DEFICIT_EFFECTIVE = 0)",
    )
    parser.add_argument(
        "--sharp",
        action="store_true",
        help="the cells of +sweep=theory_sharp (bounds informative), n in {4, 16, 64, 256}",
    )
    parser.add_argument("--widths", type=int, nargs="+", help="only the cells of these widths")
    args = parser.parse_args(argv)
    if args.no_floor:
        report.MIN_MEAN_SAMPLES = report.MIN_DEFICIT_EFFECTIVE = 0
    cells, betas, ns = (
        (false_alarms.SHARP_CELLS, false_alarms.SHARP_BETAS, false_alarms.SHARP_SAMPLE_COUNTS)
        if args.sharp
        else (false_alarms.CELLS, false_alarms.BETAS, false_alarms.SAMPLE_COUNTS)
    )
    if args.widths:
        cells = tuple(c for c in cells if c["width"] in args.widths)
        if not cells:
            parser.error(f"no cell has a width in {args.widths}")
    start = time.perf_counter()
    pool = false_alarms.simulate_pools(args.replicates, ns, args.seed, cells, betas)
    table = false_alarms.measure(pool, ns)
    widths = ", ".join(str(c["width"]) for c in cells)
    text = (
        f"False alarms of the theory report on correct simulations (nominal {FALSE_ALARM:.2e} "
        f"per check; MIN_MEAN_SAMPLES = {report.MIN_MEAN_SAMPLES}, MIN_DEFICIT_EFFECTIVE = "
        f"{report.MIN_DEFICIT_EFFECTIVE}; {'theory_sharp ' if args.sharp else ''}cells of "
        f"width {widths}; seed {args.seed}; {time.perf_counter() - start:.0f} s)\n\n"
        f"{false_alarms.format_table(table)}\n\n{false_alarms.format_statement_table(table)}\n"
    )
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    bad = [r["n"] for _, r in table.iterrows() if false_alarms.exceeds_nominal(r["check_all"])]
    if bad:
        print(f"per-check rate above nominal + 3 SE at n = {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
