"""Every label rsim prints or draws, each written once, in one format.

A label function takes a *key*: a mapping from column or option names to values, such as a
row of a results table, a dict, or ``vars(spec)`` of an experiment's spec. A name the key
lacks, or holds as None or NaN, counts as absent (a table's NaN ``hurst`` of an i.i.d. law).
Analysis, views and specs import their labels from here, never from one another.

The parts:

* :func:`law_label`: the weight law with its parameter, ``fbm H=0.7``, ``smooth l=0.1``,
  ``uniform``.
* :func:`branch_label`: the branch with its hidden layers, ``res3``, ``mlp m=2``, ``conv m=1``.
* :func:`size_label`: the width, ``d=40``; for conv ``C=4 N=8 k=3 d=256`` (channels, image
  side, kernel side, and d = C N^2).
* :func:`architecture_label` (branch and size), :func:`series_label` (a cell series of the
  theory report), :func:`limit_series_label` (a series of the ode / sde experiments),
  :func:`epoch_label` and :func:`statement_label`, built from them.
* The ratios of a table in math text: :func:`ratio_label` (``$r_h = \\|h_L - h_0\\| / ...$``),
  :func:`ratio_symbol` (``$r_p$``), :func:`quantity_heading` (a figure's column heading:
  hidden states, gradients) and :func:`definitions` (what h, q, z and p mean, for captions).

The law and the branch are named by their records' ``label`` (:data:`rsim.core.laws.LAWS`,
:data:`rsim.core.branches.BRANCHES`), so a new law or branch is labelled by its own record; a
name no record holds (a table from a law registered in another session) is shown as it is.
No pandas or jax.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from rsim import schema
from rsim.core import branches, laws


def _get(key: Mapping[str, Any], name: str) -> Any:
    """``key[name]``, or None where it is missing, None or NaN."""
    value = key[name] if name in key else None
    if isinstance(value, numbers.Real) and math.isnan(value):
        return None
    return value


def _law_name(name: str) -> str:
    """The record's label of the law ``name`` (the name itself where no record holds it)."""
    return laws.LAWS[name].label if name in laws.LAWS else str(name)


def _branch(name: str) -> branches.Branch | None:
    return branches.BRANCHES.get(name)


def law_label(key: Mapping[str, Any]) -> str:
    """The weight law and its parameter in a few characters.

    Args:
        key: holds ``init`` and, where the law has them, ``hurst`` or ``lengthscale``.

    Returns:
        ``<init> H=<hurst>``, ``<init> l=<lengthscale>`` or ``<init>``.

    >>> law_label({"init": "fbm", "hurst": 0.7})
    'fbm H=0.7'
    >>> law_label({"init": "smooth", "lengthscale": 0.1, "hurst": float("nan")})
    'smooth l=0.1'
    >>> law_label({"init": "uniform"})
    'uniform'
    """
    hurst, lengthscale = _get(key, "hurst"), _get(key, "lengthscale")
    name = _law_name(key["init"])
    if hurst is not None:
        return f"{name} H={hurst:g}"
    if lengthscale is not None:
        return f"{name} l={lengthscale:g}"
    return name


def branch_label(key: Mapping[str, Any]) -> str:
    """The branch with its number of hidden layers where it has one.

    Args:
        key: holds ``model`` and, for mlp and conv, ``branch_depth``.

    Returns:
        ``<model>`` or ``<model> m=<branch_depth>``.

    >>> branch_label({"model": "mlp", "branch_depth": 2.0})
    'mlp m=2'
    >>> branch_label({"model": "res3", "branch_depth": None})
    'res3'
    """
    depth, record = _get(key, "branch_depth"), _branch(key["model"])
    name = str(key["model"]) if record is None else record.label
    return name if depth is None else f"{name} m={int(depth)}"


def size_label(key: Mapping[str, Any]) -> str:
    """The width of the hidden state.

    Args:
        key: holds ``model`` and ``width``; for conv ``image_size`` and ``kernel_size``.

    Returns:
        ``d=<width>``; for conv ``C=<channels> N=<side> k=<kernel> d=<C N^2>``.

    >>> size_label({"model": "res3", "width": 40})
    'd=40'
    >>> size_label({"model": "conv", "width": 4, "image_size": 8, "kernel_size": 3})
    'C=4 N=8 k=3 d=256'
    """
    width, side, record = int(key["width"]), _get(key, "image_size"), _branch(key["model"])
    if record is None or not record.images or side is None:
        return f"d={width}"
    kernel = _get(key, "kernel_size")
    parts = [f"C={width}", f"N={int(side)}"]
    parts += [] if kernel is None else [f"k={int(kernel)}"]
    return " ".join([*parts, f"d={width * int(side) ** 2}"])


def architecture_label(key: Mapping[str, Any]) -> str:
    """The branch and its size: :func:`branch_label` then :func:`size_label`.

    Args:
        key: as for :func:`branch_label` and :func:`size_label`.

    Returns:
        E.g. ``res3 d=40``, ``mlp m=4 d=64``, ``conv m=1 C=4 N=4 k=3 d=64``.

    >>> architecture_label({"model": "conv", "branch_depth": 1, "width": 4, "image_size": 4,
    ...                     "kernel_size": 3})
    'conv m=1 C=4 N=4 k=3 d=64'
    """
    return f"{branch_label(key)} {size_label(key)}"


def series_label(key: Mapping[str, Any]) -> str:
    """A cell series of the theory report (everything but depth and beta).

    Args:
        key: a row of a cells table (architecture, law, ``activation``, ``gain``).

    Returns:
        Architecture, law, the activation (not for res3, which is always ReLU) and the gain.

    >>> series_label({"model": "res1", "width": 4, "init": "fbm", "hurst": 0.5,
    ...               "activation": "identity", "gain": 1.0})
    'res1 d=4, fbm H=0.5, identity, gain=1'
    """
    parts = [architecture_label(key), law_label(key)]
    record = _branch(key["model"])
    if record is None or record.fixed_activation is None:
        parts.append(str(key["activation"]))
    parts.append(f"gain={key['gain']:g}")
    return ", ".join(parts)


def limit_series_label(key: Mapping[str, Any]) -> str:
    """A series of the ode / sde experiments: the branch and its activation.

    Args:
        key: holds ``model`` and ``activation``.

    Returns:
        ``<model> <activation>``.

    >>> limit_series_label({"model": "res1", "activation": "relu"})
    'res1 relu'
    """
    return f"{key['model']} {key['activation']}"


# Which epoch a training run is scored after (rsim.analysis.training.best_accuracy), in words.
EPOCH_LABELS = {"last": "after the last epoch", "best": "after the best epoch of each lr"}


def epoch_label(epoch: str = "last") -> str:
    """Which epoch a run's test accuracy is read after, in words (figure titles).

    Args:
        epoch: ``last`` or ``best`` (:data:`EPOCH_LABELS`).

    Returns:
        E.g. ``after the last epoch``.

    Raises:
        ValueError: another ``epoch``, in one line.

    >>> epoch_label("best")
    'after the best epoch of each lr'
    """
    if epoch not in EPOCH_LABELS:
        raise ValueError(f"epoch={epoch!r}: choose one of {', '.join(EPOCH_LABELS)}")
    return EPOCH_LABELS[epoch]


def statement_label(quantity: str, statement: str, column: str) -> str:
    """A statement's name in the theory report: Proposition 5 on the jvp tangent holds
    through Markov's inequality only, and says so.

    Args:
        quantity: ``hidden`` or ``gradient``.
        statement: the statement's name (``Prop 5``, ``Lemma 1``, ...).
        column: the table column it is checked on.

    Returns:
        The name to print.

    >>> statement_label("gradient", "Prop 5", "log_jvp_diff")
    'Prop 5 on r_q (Markov only)'
    """
    if quantity == "gradient" and statement == "Prop 5" and column in schema.JVP_METRICS:
        return "Prop 5 on r_q (Markov only)"
    return statement


# --------------------------------------------------------------------------------------------
# The ratios of a results table in math text (figures), with the quantity each one measures.

# Every ratio column (rsim/THEORY.md section 1): its symbol where the theory names it.
RATIO_SYMBOLS = {"hidden_diff": "r_h", "jvp_diff": "r_q", "grad_diff": "r_p"}
RATIO_LABELS = {
    "hidden_diff": r"$r_h = \|h_L - h_0\| \,/\, \|h_0\|$",
    "hidden_ratio": r"$\|h_L\| \,/\, \|h_0\|$",
    "hidden_maxdiff": r"$\max_k \|h_k - h_0\| \,/\, \|h_0\|$",
    "jvp_diff": r"$r_q = \|q_L - z\| \,/\, \|z\|$",
    "jvp_ratio": r"$\|q_L\| \,/\, \|z\|$",
    "grad_diff": r"$r_p = \|p_0 - p_L\| \,/\, \|p_L\|$",
    "grad_ratio": r"$\|p_0\| \,/\, \|p_L\|$",
}
# The quantity behind each family of columns: a column heading, and what its letters mean.
QUANTITY_HEADINGS = {
    "hidden": "hidden states",
    "jvp": "gradients (forward mode)",
    "grad": "gradients (backprop)",
}
DEFINITIONS = {
    "hidden": r"$h_k$: hidden state after $k$ layers",
    "jvp": r"$q_L = (\partial h_L / \partial h_0)\, z$, $z$: a random unit direction (jvp)",
    "grad": r"$p_k = \partial\, \mathrm{Loss} / \partial h_k$ (backprop)",
}


def _ratio(column: str) -> str:
    """``column`` without the ``log_`` of a stored log column."""
    return column.removeprefix("log_")


def _quantity(column: str) -> str:
    """``hidden``, ``jvp`` or ``grad``: the family of a ratio column."""
    family = _ratio(column).split("_")[0]
    if family not in QUANTITY_HEADINGS:
        raise ValueError(f"{column!r} is not a ratio column ({', '.join(RATIO_LABELS)})")
    return family


def ratio_label(column: str) -> str:
    """A ratio column in math text (axis labels).

    Args:
        column: a plain ratio (``hidden_diff``) or its stored log (``log_hidden_diff``).

    Returns:
        The ratio with its symbol, e.g. ``$r_p = ...$``; the column itself if not a ratio.

    >>> ratio_label("log_grad_ratio")
    '$\\\\|p_0\\\\| \\\\,/\\\\, \\\\|p_L\\\\|$'
    """
    return RATIO_LABELS.get(_ratio(column), column)


def ratio_symbol(column: str) -> str:
    """The short name of a ratio in math text: ``$r_h$`` for hidden_diff, else its label.

    Args:
        column: a plain ratio or its stored log.

    Returns:
        E.g. ``$r_q$``.

    >>> ratio_symbol("jvp_diff")
    '$r_q$'
    """
    symbol = RATIO_SYMBOLS.get(_ratio(column))
    return f"${symbol}$" if symbol else ratio_label(column)


def quantity_heading(column: str) -> str:
    """The column heading of a figure's panels of ``column``: what the ratio measures.

    Args:
        column: a ratio column (plain or log).

    Returns:
        ``hidden states``, ``gradients (forward mode)`` or ``gradients (backprop)``.

    Raises:
        ValueError: a column that is not a ratio.

    >>> quantity_heading("log_jvp_diff")
    'gradients (forward mode)'
    """
    return QUANTITY_HEADINGS[_quantity(column)]


def definitions(columns: list[str] | tuple[str, ...]) -> str:
    """What the letters of the drawn ratios mean (h, q and z, p), for a figure's caption.

    Args:
        columns: the ratio columns drawn (plain or log).

    Returns:
        Their definitions, joined by ``; `` in the order hidden, jvp, grad.

    >>> definitions(["grad_diff", "hidden_diff"]).count(";")
    1
    """
    drawn = {_quantity(column) for column in columns}
    return "; ".join(text for name, text in DEFINITIONS.items() if name in drawn)


# The exact root mean square of a ratio drawn over Monte Carlo values (rsim/THEORY.md section 4).
EXACT_RMS = r"exact $\sqrt{E[r^2]}$"
