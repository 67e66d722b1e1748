"""One-line checks of user input, shared by every experiment's spec.

Each raises :class:`rsim.ConfigError` with a message naming the key, the value and what is
allowed, so that bad input stops a run before anything is computed or written.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from rsim.core import branches, laws

# The largest values the numerics can index without wrapping (an input beyond them would
# silently mean another, or end in an OverflowError), checked by every experiment's spec:
# a seed is a PRNGKey, whose 32 bits a float32 run keeps (seed=2^32 would be seed=0);
MAX_SEED = 2**32 - 1
# a depth is an int32 layer index (jnp.arange(1, depth + 1), fold_in(key, k));
MAX_DEPTH = 2**31 - 1
# samples are numbered 0 .. samples - 1 by uint32 ids (fold_in(root, i)).
MAX_SAMPLES = 2**32


class ConfigError(ValueError):
    """Bad user input; the message is one line that names the key."""


def choice(key: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of {', '.join(allowed)}")


def integer(key: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    """An integer (not a bool) >= ``minimum`` and, if given, <= ``maximum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        allowed = f">= {minimum}" + ("" if maximum is None else f" and <= {_bound(maximum)}")
        raise ConfigError(f"{key}={value!r} is not allowed; it must be an integer {allowed}")


def _bound(n: int) -> str:
    """``4294967295 (2^32 - 1)``: a bound next to a power of two says which."""
    for offset, text in ((0, ""), (1, " - 1")):
        k = (n + offset).bit_length() - 1
        if n >= 2**16 and n + offset == 2**k:
            return f"{n} (2^{k}{text})"
    return str(n)


def real(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{key}={value!r} is not allowed; it must be a finite number")


def positive(key: str, value: Any) -> None:
    real(key, value)
    if value <= 0:
        raise ConfigError(f"{key}={value!r} is not allowed; it must be a finite number > 0")


def law_parameters(init: str, lengthscale: Any, hurst: Any) -> None:
    """The parameters the law ``init`` reads (:attr:`rsim.core.laws.Law.parameters`: the
    smooth law's lengthscale >= 0.01, the Hurst index in (0, 1) of fbm and fbm_official),
    each a finite number its law allows; other laws ignore both.

    Args:
        init: a registered law.
        lengthscale: the lengthscale option.
        hurst: the hurst option.

    >>> law_parameters("fbm", None, 1.0)
    Traceback (most recent call last):
    ...
    rsim.checks.ConfigError: hurst=1.0 is not allowed; it must be in (0, 1)
    """
    values = {"lengthscale": lengthscale, "hurst": hurst}
    for parameter in laws.law(init).parameters:
        value = values[parameter.name]
        real(parameter.name, value)
        failure = parameter.failure(value)
        if failure is not None:
            raise ConfigError(failure)


def architecture(model: str, activation: str, models: Sequence[str] | None = None) -> None:
    """A known residual branch among ``models`` and an activation; res-3 is defined with ReLU
    only. The default is the paper's branches (the continuous-time limits know no others);
    the discrete ResNet's experiments pass every registered branch, mlp and conv included.

    Args:
        model: the model option.
        activation: the activation option.
        models: the allowed models (default: the records with ``in_paper``).
    """
    if models is None:
        models = tuple(name for name, record in branches.BRANCHES.items() if record.in_paper)
    choice("model", model, models)
    choice("activation", activation, tuple(branches.ACTIVATIONS))
    applied = branches.BRANCHES[model].activation_of(activation)
    if applied != activation:
        raise ConfigError(f"activation={activation!r}: {model} is defined with {applied} only")


def betas(values: Sequence[Any]) -> None:
    """A non-empty list of finite betas (alpha = L^-beta)."""
    if not values:
        raise ConfigError("betas=[] is not allowed; give at least one finite number")
    for beta in values:
        real("betas", beta)


def branch_shape(model: str, branch_depth: Any, image_size: Any, kernel_size: Any) -> None:
    """The branch's shape options (after defaults are filled in): ``branch_depth`` (m >= 1)
    for mlp and conv only; ``image_size`` and an odd ``kernel_size`` <= ``image_size`` for
    conv only (circular padding centres the kernel on each pixel)."""
    record = branches.branch_record(model)
    if record.fixed:
        if branch_depth is not None:
            deep = " or ".join(n for n, r in branches.BRANCHES.items() if not r.fixed)
            raise ConfigError(
                f"branch_depth={branch_depth!r} is not allowed with model={model!r}; its branch "
                f"is fixed (use model={deep} for {branch_depth} hidden layers)"
            )
    else:
        integer("branch_depth", branch_depth, minimum=1)
    if not record.images:
        for key, value in (("image_size", image_size), ("kernel_size", kernel_size)):
            if value is not None:
                images = " or ".join(n for n, r in branches.BRANCHES.items() if r.images)
                raise ConfigError(
                    f"{key}={value!r} is not allowed with model={model!r}; "
                    f"only model={images} has images"
                )
        return
    integer("image_size", image_size, minimum=1)
    integer("kernel_size", kernel_size, minimum=1)
    if kernel_size % 2 == 0:
        raise ConfigError(
            f"kernel_size={kernel_size} is not allowed; it must be odd "
            "(circular padding centres the kernel on each pixel)"
        )
    if kernel_size > image_size:
        raise ConfigError(
            f"kernel_size={kernel_size} is not allowed; it must be <= image_size={image_size} "
            "(a wider kernel would wrap around the image onto itself)"
        )
