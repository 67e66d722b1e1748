"""Griffe extension for rsim's docstrings, as the API pages render them (not as Python reads them).

* A run of doctest lines (``>>>`` or ``...`` and the output lines after them, up to a blank line)
  becomes a fenced ``pycon`` block, so an example outside an ``Examples:`` section renders as
  code, not as a Markdown quote with link-like ``[...]`` outputs.
* Sphinx roles (``:func:`x```, ``:mod:`~x```, ...) become plain code spans.
* An argument line naming several arguments (``key, depth: as draw``) becomes one line per
  argument, as Google style (griffe) reads them.
"""

import ast
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|mod|class|data|meth|attr|obj|exc):`~?([^`]+)`")
SEVERAL = re.compile(r"^(\s+)(\w+(?:, \w+)+): (.*)$")
SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")


def split_arguments(text: str) -> str:
    """Give each argument of a line ``a, b: text`` of an ``Args:`` section its own line.

    Args:
        text: a docstring.

    Returns:
        The docstring, each such line repeated per argument.
    """
    out: list[str] = []
    section = None  # the indentation of the Args: header we are in
    for line in text.split("\n"):
        header = SECTION.match(line)
        if header:
            section = len(header.group(1))
        elif line.strip() and section is not None and len(line) - len(line.lstrip()) <= section:
            section = None
        several = SEVERAL.match(line) if section is not None else None
        if several:
            indent, names, rest = several.groups()
            out += [f"{indent}{name}: {rest}" for name in names.split(", ")]
        else:
            out.append(line)
    return "\n".join(out)


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
            text = split_arguments(ROLE.sub(r"`\1`", obj.docstring.value))
            obj.docstring.value = fence_doctests(text)
