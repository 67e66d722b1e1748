"""What every figure of rsim shares: its colours, the style of an exact value drawn over a
Monte Carlo estimate, new figures or the caller's axes, and the formats a figure is written in.

* Red means a violation (:data:`VIOLATION`), nothing else: series take :func:`series_color`,
  the default colour cycle without its red.
* An exact value (a theory line) is drawn black and dashed above the Monte Carlo lines
  (:data:`EXACT`), so it stays visible where the two agree.
* A view draws on the caller's ``ax=`` / ``axes=`` or on a new figure (:func:`figure_axes`)
  and returns the Figure; a file writer saves it in the format of its path's suffix
  (:data:`FORMATS`, :func:`save`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rsim import results

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

VIOLATION = "red"
# The default cycle (tab10) without C3, its red.
SERIES_COLORS = tuple(f"C{i}" for i in range(10) if i != 3)
EXACT = {"color": "k", "ls": "--", "lw": 1.3, "zorder": 4}
MONTE_CARLO_ZORDER = 2
# The suffixes a figure can be written with (matplotlib's backends for them).
FORMATS = ("png", "svg", "pdf")
DPI = 120


def series_color(i: int) -> str:
    """The colour of the ``i``-th series of a figure (never red).

    Args:
        i: the series' index.

    Returns:
        A matplotlib colour name.

    >>> series_color(3)
    'C4'
    """
    return SERIES_COLORS[i % len(SERIES_COLORS)]


def new_figure(**options: Any) -> Figure:
    """A matplotlib figure without pyplot's state, matplotlib imported on first use.

    Args:
        **options: passed to ``matplotlib.figure.Figure`` (``figsize``...).

    Returns:
        The figure.
    """
    from matplotlib.figure import Figure

    return Figure(**options)


def figure_axes(
    axes: Axes | np.ndarray | None, shape: tuple[int, int], figsize: tuple[float, float]
) -> tuple[Figure, np.ndarray]:
    """The caller's axes, or a new figure's grid of ``shape``.

    Args:
        axes: one Axes (``shape`` (1, 1)) or an array of them of ``shape`` from the caller,
            or None for a new figure.
        shape: (rows, columns) the view draws.
        figsize: the new figure's size in inches.

    Returns:
        The figure and the axes as a 2-d array of ``shape``.

    Raises:
        ValueError: caller's axes of another number, in one line.
    """
    if axes is None:
        fig = new_figure(figsize=figsize)
        return fig, fig.subplots(*shape, squeeze=False)
    grid = np.asarray(axes, dtype=object)
    if grid.size != shape[0] * shape[1]:
        raise ValueError(f"this figure draws {shape[0]} x {shape[1]} axes; got {grid.size}")
    grid = grid.reshape(shape)
    return grid.flat[0].get_figure(), grid


def check_format(path: str | Path) -> Path:
    """``path`` if its suffix is a format a figure can be written in.

    Args:
        path: the file to write.

    Returns:
        ``path`` as a Path.

    Raises:
        ValueError: another suffix, in one line (before anything is drawn).

    >>> check_format("a/b.svg").name
    'b.svg'
    """
    path = Path(path)
    if path.suffix.lstrip(".").lower() not in FORMATS:
        raise ValueError(f"{path}: write a figure as {', '.join('.' + f for f in FORMATS)}")
    return path


def save(fig: Figure, path: str | Path) -> Path:
    """Lay ``fig`` out and write it in the format of ``path``'s suffix (PNG, SVG or PDF),
    cropped to what it draws so that no title is cut.

    Args:
        fig: the figure.
        path: the file (its folder is created).

    Returns:
        ``path``.

    Raises:
        ValueError: a suffix outside :data:`FORMATS`.
    """
    path = check_format(path)
    if not fig.get_constrained_layout():
        fig.tight_layout()
    return results.save_figure(fig, path, dpi=DPI, bbox_inches="tight")


def legend(ax: Axes, last: str, **options: Any) -> None:
    """``ax.legend`` with the entry ``last`` (an exact line drawn once per series) at the end.

    Args:
        ax: the axes.
        last: the label to move to the end, if present.
        **options: passed to ``ax.legend`` (``fontsize``...).
    """
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == last)
    ax.legend([handles[i] for i in order], [labels[i] for i in order], **options)
