"""Griffe extension for rsim's docstrings, as the API pages render them (not as Python reads them).

* A run of doctest lines (``>>>`` or ``...`` and the output lines after them, up to a blank line)
  becomes a fenced ``pycon`` block, so an example outside an ``Examples:`` section renders as
  code, not as a Markdown quote with link-like ``[...]`` outputs.
* Sphinx roles (``:func:`x```, ``:mod:`~x```, ...) become plain code spans.
"""

import ast
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|mod|class|data|meth|attr|obj|exc):`~?([^`]+)`")


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines of ``text`` in a ``pycon`` fence (already fenced ones kept).

    Args:
        text: a docstring.

    Returns:
        The docstring with its doctests fenced.
    """
    out: list[str] = []
    fenced = inside = False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
        if not fenced and not inside and stripped.startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            inside = True
        elif inside and not stripped:
            out.append(f"{indent}```")
            inside = False
        out.append(line)
    if inside:
        out.append(f"{indent}```")
    return "\n".join(out)


class RsimDocstrings(griffe.Extension):
    """Rewrite every docstring as the module docstring says, before griffe parses it."""

    def on_instance(
        self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object, **kwargs: Any
    ) -> None:
        """Rewrite ``obj``'s docstring in place.

        Args:
            node: the node griffe visited.
            obj: the object it made.
            **kwargs: griffe's other arguments.
        """
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(ROLE.sub(r"`\1`", obj.docstring.value))
