"""Parse only the functions that can matter: the rest of a large test module costs libcst's parse
and walk and adds nothing the join can use.

A file read only because it may reset flagged state (checker.complete_state_facts) needs its
module-level statements, its classes and the functions whose text names something the join
watches, or a function of the same file that does. Every other function keeps its header and
gets `pass` for a body, on the lines its body held, so that every line keeps its number and
findings their positions. Over-approximated like the pre-filter: a word anywhere in a function's
text (a string, a comment) keeps it.
"""

from __future__ import annotations

import ast
from typing import FrozenSet, Iterator, List, Optional, Set

from .prefilter import MANAGED_WORD, Watch, identifiers, spelled

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def keep_needed(source: bytes, tree: ast.Module, watch: Watch) -> Optional[bytes]:
    """`source` with the bodies of the functions that cannot reset what `watch` describes (they
    name nothing of it, nor a kept function of the file) emptied, or None when nothing can be
    emptied. `tree` is CPython's tree of `source`; its functions are emptied the same way, so
    that its statements stay paired with the returned text's, where they start (lines.py; where
    they end is left as it was)."""
    if b"\r" in source.replace(b"\r\n", b""):
        return None  # a lone CR ends a line for CPython but not for the line numbers used here
    lines = source.splitlines(keepends=True)
    functions = [_Function(function, lines) for function in _definitions(tree.body)]
    emptied = [function for function in functions if function.indent is not None and not _needed(function.words, watch)]
    kept = fresh = _names_kept(functions, emptied)
    while fresh:  # a function naming a kept function of the file is kept too
        emptied = [function for function in emptied if not function.words & fresh]
        fresh = _names_kept(functions, emptied) - kept
        kept = kept | fresh
    if not emptied:
        return None
    for function in emptied:
        lines[function.body_line - 1] = function.indent + b"pass" + _ending(lines[function.body_line - 1])  # type: ignore[operator]
        for number in range(function.body_line, function.last_line):
            lines[number] = _ending(lines[number])
        column = len(function.indent)  # type: ignore[arg-type]
        function.node.body = [ast.Pass(lineno=function.body_line, col_offset=column, end_lineno=function.body_line, end_col_offset=column + 4)]
    return b"".join(lines)


def _names_kept(functions: List["_Function"], emptied: List["_Function"]) -> Set[bytes]:
    gone = {id(function) for function in emptied}
    return {function.name for function in functions if id(function) not in gone}


class _Function:
    def __init__(self, node: ast.FunctionDef, lines: List[bytes]) -> None:
        self.node = node
        self.name = spelled(node.name)
        self.words = identifiers(b"".join(lines[_first_line(node) - 1 : node.end_lineno]))
        self.body_line = _first_line(node.body[0])
        self.last_line: int = node.end_lineno  # type: ignore[assignment]
        indent = lines[self.body_line - 1][: node.body[0].col_offset]
        # None: a body on the header's line, nothing worth emptying
        self.indent = indent if self.body_line > node.lineno and not indent.strip() else None


def _needed(words: FrozenSet[bytes], watch: Watch) -> bool:
    return watch.named_by(words) or MANAGED_WORD in words


def _definitions(body: List[ast.stmt]) -> Iterator[ast.FunctionDef]:
    """The functions of a module or class body, and those of its classes (not nested functions:
    a kept function is kept whole)."""
    for statement in body:
        if isinstance(statement, _FUNCTIONS):
            yield statement  # type: ignore[misc]
        elif isinstance(statement, ast.ClassDef):
            yield from _definitions(statement.body)


def _first_line(statement: ast.stmt) -> int:
    """The line a statement starts on: its first decorator's, if any."""
    decorators = getattr(statement, "decorator_list", None)
    return decorators[0].lineno if decorators else statement.lineno


def _ending(line: bytes) -> bytes:
    for ending in (b"\r\n", b"\n"):
        if line.endswith(ending):
            return ending
    return b""
