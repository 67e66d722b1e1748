"""Record the regression values (tests/data/regression.json's cells, ode, sde and training
entries) as this installed jaxlib computes them, into tests/data/regression-jaxlib-<version>.json.

XLA's code generation changes between jaxlib releases, so float results move in their last
bits from one jaxlib to the next; the bit-for-bit regression tests compare against the recording
of the installed jaxlib (tests/regression_record.py). tests/data/regression.json is jaxlib
0.10.2's (recorded from the code before the pipeline refactor; on 0.10.2 this script reproduces
it exactly: ``python scripts/record_regression.py --check``). Record a new jaxlib only after
the test suite passes on it with the recorded jaxlibs' values unchanged.

    python scripts/record_regression.py            # write the installed jaxlib's recording
    python scripts/record_regression.py --check    # compare with the existing one, write nothing
    python scripts/record_regression.py --rebase   # on 0.10.2: rewrite regression.json too

A deliberate change of the arithmetic (a new summation order, say) moves the recorded bits on
every jaxlib: rewrite each recording with its own jaxlib, ``--rebase`` for the base one, and
say in the commit which entries moved and why.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from regression_record import BASE, cpu_model, path_for  # noqa: E402


def _hexes(values) -> list[str]:
    return [float(v).hex() for v in values]


def record_cells(base: dict) -> list[dict]:
    import rsim

    cells = []
    for cell in base["cells"]:
        frame = rsim.simulate(**cell["options"])
        metrics = {column: _hexes(frame[column]) for column in cell["metrics"]}
        cells.append({"options": cell["options"], "digest": cell["digest"], "metrics": metrics})
    return cells


def record_limit(base: dict, experiment: str) -> dict:
    """The per-sample arrays of the ode/sde entry, flattened (the old spec's keys that are no
    longer options are the experiment's constants, as in tests/test_limits.py)."""
    from rsim.experiments import base as experiments
    from rsim.experiments import limits as lx

    recorded = base[experiment]
    spec_type = experiments.get(experiment).spec
    options = {k: v for k, v in recorded["options"].items() if k in spec_type.options()}
    arrays = lx.sample_arrays(spec_type.from_config(options))
    values = {name: _hexes(arrays[name].reshape(-1)) for name in recorded["values"]}
    return {"options": recorded["options"], "values": values}


def record_training(base: dict) -> dict:
    import jax

    from rsim.core.training import PRNG_SETTINGS
    from rsim.experiments.training import TrainSpec, compute

    recorded = base["training"]
    options = {k: v for k, v in recorded["options"].items() if k != "precision"}
    # Training pins its own Threefry mode: flip the process's, as the test does.
    with jax.threefry_partitionable(not PRNG_SETTINGS["threefry_partitionable"]):
        frame = compute(TrainSpec.from_config(options), lambda _: None)[""]
    return {
        "options": recorded["options"],
        "test_accuracy": _hexes(frame["test_accuracy"]),
        "final_train_loss": _hexes(frame["final_train_loss"]),
    }


def record() -> dict:
    import jax
    import jaxlib

    base = json.loads(BASE.read_text())
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "cpu": cpu_model(),
        "cells": record_cells(base),
        "ode": record_limit(base, "ode"),
        "sde": record_limit(base, "sde"),
        "training": record_training(base),
    }


def _differences(old: dict, new: dict) -> list[str]:
    found = []
    for cell_old, cell_new in zip(old["cells"], new["cells"], strict=True):
        for column, values in cell_old["metrics"].items():
            if cell_new["metrics"][column] != values:
                found.append(f"cell {cell_old['digest']} {column}")
    for experiment in ("ode", "sde"):
        for name, values in old[experiment]["values"].items():
            if new[experiment]["values"][name] != values:
                found.append(f"{experiment} {name}")
    for name in ("test_accuracy", "final_train_loss"):
        if new["training"][name] != old["training"][name]:
            found.append(f"training {name}")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    parser.add_argument(
        "--rebase",
        action="store_true",
        help="also rewrite the base recording (after a deliberate change of the arithmetic)",
    )
    args = parser.parse_args()
    import jaxlib

    new = record()
    path = path_for(jaxlib.__version__)
    if args.check:
        if not path.exists():
            print(f"no recording for jaxlib {jaxlib.__version__} ({path.name})")
            return 1
        found = _differences(json.loads(path.read_text()), new)
        print(f"{path.name}: " + ("reproduced bit for bit" if not found else ", ".join(found)))
        return 1 if found else 0
    if path == BASE:
        if not args.rebase:
            print(f"{path.name} is the base recording: not overwritten (use --check or --rebase)")
            return 1
        found = _differences(json.loads(path.read_text()), new)
        print(f"{path.name}: rewriting " + (", ".join(found) or "nothing"))
        new = {key: new[key] for key in ("cells", "ode", "sde", "training")}
    path.write_text(json.dumps(new, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
