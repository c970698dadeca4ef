"""Text edits: derived from a codemod's output for reporting, applied to text for writing."""

from __future__ import annotations

import difflib
from typing import List, Tuple

from .model import Edit, Position


def text_edits(path: str, before: str, after: str) -> Tuple[Edit, ...]:
    """The line-granular edits that turn `before` into `after`."""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    edits: List[Edit] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(path, "".join(new[j1:j2]), Position(i1 + 1, 1), Position(i2 + 1, 1)))
    return tuple(edits)


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
