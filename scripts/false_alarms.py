"""Measure the theory report's false-alarm rate on correct simulations (issue 14).

    python scripts/false_alarms.py                       # about 2 minutes on 2 cores
    python scripts/false_alarms.py --replicates 200 --out false_alarms.md
    python scripts/false_alarms.py --no-floor            # the rules before the sample floors

Runs the whole report (check_table + sweep_verdict) on ``--replicates`` independent
replicates of the cells of rsim.analysis.false_alarms.CELLS at each n in {4, 8, 16, 64, 256}
(more replicates at small n: disjoint blocks of one pool) and prints, per n, the fraction of
replicates whose sweep verdict is VIOLATES and the per-check false-alarm rate with binomial
standard errors. Checks of one replicate share samples (the exact value and the Lemma 1 band
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
    parser.add_argument("--replicates", type=int, default=40, help="replicates at n = 256")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="judge every mean at every n (MIN_MEAN_SAMPLES = MIN_DEFICIT_EFFECTIVE = 0)",
    )
    args = parser.parse_args(argv)
    if args.no_floor:
        report.MIN_MEAN_SAMPLES = report.MIN_DEFICIT_EFFECTIVE = 0
    start = time.perf_counter()
    pool = false_alarms.simulate_pools(args.replicates, seed=args.seed)
    table = false_alarms.measure(pool)
    text = (
        f"False alarms of the theory report on correct simulations (nominal {FALSE_ALARM:.2e} "
        f"per check; MIN_MEAN_SAMPLES = {report.MIN_MEAN_SAMPLES}, MIN_DEFICIT_EFFECTIVE = "
        f"{report.MIN_DEFICIT_EFFECTIVE}; seed {args.seed}; "
        f"{time.perf_counter() - start:.0f} s)\n\n{false_alarms.format_table(table)}\n"
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
