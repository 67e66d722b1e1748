"""The regression recording that the installed jaxlib must reproduce bit for bit.

XLA's code generation changes between jaxlib releases (fusions, outlined loops, dot kernels),
so float results move in their last bits from one jaxlib to the next (0.10.2 to 0.12.0.1:
every regression cell, float64 ode/sde series and training grid). Bit-for-bit claims hold
within one jaxlib, so each tested jaxlib has its own recording:
tests/data/regression.json for 0.10.2 (recorded from the code before the pipeline refactor),
tests/data/regression-jaxlib-<version>.json for the others (scripts/record_regression.py,
same options and layout). A jaxlib without a recording skips these tests, saying so.

The CPU matters too: XLA:CPU compiles for the host's instruction set and the same jaxlib
rounds differently on another CPU model (measured on an AVX-512 FP16 Xeon against the
recordings: 2-6 float32 ulp in log ratios, 1 float64 ulp in an ode eigenvalue). A recording
that names its CPU (``cpu``, :func:`cpu_model`) must be reproduced bit for bit on that CPU;
on another CPU, or for a recording that does not name one, :func:`assert_reproduced` accepts
differences below 16 machine epsilons (relative, at least absolute) with a warning saying so;
the ode/sde errors, differences of O(1) states from a reference solved to 1e-9, within 1e-11
(measured: 4.5e-13 with jaxlib 0.12.0.1 on that Xeon).
"""

import hashlib
import json
import warnings
from pathlib import Path

import jaxlib
import numpy as np
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


def cpu_model() -> str:
    """This machine's CPU: its model name and a digest of its instruction-set flags
    (/proc/cpuinfo; a generic name such as 'Intel(R) Xeon(R) Processor' says little), ''
    when unknown."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return ""
    flags = hashlib.sha256(fields.get("flags", "").encode()).hexdigest()[:8]
    return f"{fields.get('model name', '')} (flags {flags})" if fields else ""


def assert_reproduced(
    found, hexes, name: str, dtype, recording: dict, absolute: float = 0.0
) -> None:
    """``found`` equals the recorded values bit for bit on the recording's CPU; on another
    CPU within 16 epsilons of ``dtype`` (relative, or absolute below 1) or ``absolute``, with
    a warning."""
    found = np.asarray(found, dtype=np.float64).reshape(-1)
    expected = np.array([float.fromhex(h) for h in hexes])
    if np.array_equal(found, expected):
        return
    same_cpu = recording.get("cpu") and recording.get("cpu") == cpu_model()
    assert not same_cpu, f"{name}: not bit for bit on the recording's CPU"
    tolerance = np.maximum(16 * np.finfo(dtype).eps * np.maximum(1.0, np.abs(expected)), absolute)
    gap = np.abs(found - expected)
    assert (gap <= tolerance).all(), f"{name}: {gap.max():.3g} off the recording"
    warnings.warn(
        f"{name}: {int((gap > 0).sum())} values differ from the recording by up to "
        f"{gap.max():.3g} (recorded on {recording.get('cpu') or 'an unnamed CPU'}, this is "
        f"{cpu_model() or 'an unnamed CPU'})",
        stacklevel=2,
    )
