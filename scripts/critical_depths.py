"""How the critical beta's error shrinks as the largest depth grows (issue 14).

    python scripts/critical_depths.py                      # the README's table, ~30 min on 2 cores
    python scripts/critical_depths.py --laws fbm:0.9 --depths 100,300,1000,3000

Simulates res-3 (d = 20 by default) on depths 100 .. 10^4 with common random numbers across
depths (coupled_depth = the largest depth), betas 0.3..1.6, for each law, then prints the
finite-depth and the extrapolated beta* (rsim.critical_beta, rsim/THEORY.md section 12) from
the depths up to each largest depth, with their 90% intervals and errors against the truth:
1/2 for i.i.d. laws, 1 for smooth, max(H, 1/2) for fbm. ``--out`` writes the table (markdown).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import rsim


def law_options(law: str) -> tuple[dict, float]:
    """``gaussian``, ``smooth`` or ``fbm:H`` -> (simulate options, the true beta*)."""
    name, _, hurst = law.partition(":")
    if name == "fbm":
        return {"init": "fbm", "hurst": float(hurst)}, max(float(hurst), 0.5)
    return {"init": name}, 1.0 if name == "smooth" else 0.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--laws", default="gaussian,smooth,fbm:0.8,fbm:0.9")
    parser.add_argument("--depths", default="100,300,1000,3000,10000")
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    depths = [int(d) for d in args.depths.split(",")]
    betas = np.round(np.arange(0.3, 1.61, 0.1), 2).tolist()
    rows = []
    for law in args.laws.split(","):
        options, truth = law_options(law)
        coupled = {} if options["init"] == "smooth" else {"coupled_depth": max(depths)}
        start = time.perf_counter()
        frame = pd.concat(
            rsim.simulate(
                model="res3",
                width=args.width,
                depth=depth,
                betas=betas,
                samples=args.samples,
                gradients="none",
                seed=args.seed,
                **options,
                **coupled,
            )
            for depth in depths
        )
        seconds = time.perf_counter() - start
        for largest in depths[2:]:
            part = frame[frame["depth"] <= largest]
            finite = rsim.critical_beta(part)
            extrapolated = rsim.critical_beta(part, extrapolate=True)
            rows.append(
                {
                    "law": law,
                    "truth": truth,
                    "largest depth": largest,
                    "finite": f"{finite.estimate:.3f} [{finite.low:.3f}, {finite.high:.3f}]",
                    "finite error": round(finite.estimate - truth, 3),
                    "extrapolated": f"{extrapolated.estimate:.3f} "
                    f"[{extrapolated.low:.3f}, {extrapolated.high:.3f}]",
                    "extrapolated error": round(extrapolated.estimate - truth, 3),
                    "omega": f"{extrapolated.omega:g}",
                    "simulation s": round(seconds),
                }
            )
        print(pd.DataFrame(rows[-(len(depths) - 2) :]).to_string(index=False), flush=True)
    text = markdown(pd.DataFrame(rows))
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


def markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += [
        "| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
