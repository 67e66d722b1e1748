"""The regression recording that the installed jaxlib must reproduce bit for bit.

XLA's code generation changes between jaxlib releases (fusions, outlined loops, dot kernels),
so float results move in their last bits from one jaxlib to the next (0.10.2 to 0.12.0.1:
every regression cell, float64 ode/sde series and training grid). Bit-for-bit claims hold
within one jaxlib, so each tested jaxlib has its own recording:
tests/data/regression.json for 0.10.2 (recorded from the code before the pipeline refactor),
tests/data/regression-jaxlib-<version>.json for the others (scripts/record_regression.py,
same options and layout). A jaxlib without a recording skips these tests, saying so.
"""

import json
from pathlib import Path

import jaxlib
import pytest

DATA = Path(__file__).resolve().parent / "data"
BASE = DATA / "regression.json"
BASE_JAXLIB = "0.10.2"


def path_for(version: str) -> Path:
    return BASE if version == BASE_JAXLIB else DATA / f"regression-jaxlib-{version}.json"


def recorded() -> dict:
    """The installed jaxlib's recording (a pytest skip if there is none)."""
    path = path_for(jaxlib.__version__)
    if not path.exists():
        have = sorted(p.name for p in DATA.glob("regression*.json"))
        pytest.skip(f"no regression recording for jaxlib {jaxlib.__version__} (have: {have})")
    return json.loads(path.read_text())
