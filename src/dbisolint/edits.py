"""Text edits: derived from a codemod's output for reporting, applied to text for writing."""

from __future__ import annotations

import difflib
import re
from typing import List, Tuple

from .model import Edit, Position


def split_lines(text: str) -> List[str]:
    """Lines as Python counts them (str.splitlines would also break at form feeds and U+2028)."""
    return _LINE.findall(text)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def text_edits(path: str, before: str, after: str) -> Tuple[Edit, ...]:
    """The line-granular edits that turn `before` into `after`."""
    old = split_lines(before)
    new = split_lines(after)
    edits: List[Edit] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(path, "".join(new[j1:j2]), Position(i1 + 1, 1), Position(i2 + 1, 1)))
    return tuple(edits)


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            split_lines(before),
            split_lines(after),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
