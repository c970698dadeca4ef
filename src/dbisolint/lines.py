"""Where statements start, without libcst's PositionProvider.

PositionProvider regenerates the whole module's code to measure it, keeping the line and column
of every token as it goes: about one and a half times the cost of the parse. The state rules only
need the line of a few statements (and a name's columns on it), which CPython's own parser gives
for a tenth of libcst's parse: the statements of both trees are paired in order. Where CPython
cannot parse the file (syntax newer than this interpreter), and for the span of a node that is not
a statement, the locator regenerates the code once and notes only where each node's tokens start
and end; the few nodes asked about are then measured on the code (the same positions as
PositionProvider's, for a quarter of its cost). The text libcst parsed may leave lines of the
file out (slicing.py): its rows are then mapped to the file's.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import libcst as cst
from libcst._nodes.internal import CodegenState  # what PositionProvider's own state extends

from .model import Position


class Locator:
    def __init__(self, module: cst.Module, source: bytes, tree: Optional[ast.Module], rows: Sequence[int] = ()) -> None:
        """`source`: the file's text; `tree`: CPython's ast of it, or None where CPython cannot
        parse it; `rows`: the file's row of each line of `module`'s code, when it leaves some out."""
        self.module = module
        self.lines = source.splitlines()
        self.rows = rows
        self._ranges: Optional[_TokenRanges] = None
        self._statements: Optional[Dict[int, ast.AST]] = None
        if tree is None:
            return
        statements: Dict[int, ast.AST] = {}
        try:
            _pair(module.body, tree.body, statements)
        except (IndexError, AttributeError):
            return  # the trees disagree somewhere: measure with libcst instead
        self._statements = statements

    def start(self, node: cst.CSTNode) -> Position:
        """Where a statement (or, in the fallback, any node) starts."""
        if self._statements is not None and id(node) in self._statements:
            found = self._statements[id(node)]
            return Position(found.lineno, self._column(found.lineno, found.col_offset))  # type: ignore[attr-defined]
        return self.span(node)[0]

    def first_decorator_row(self, node: cst.FunctionDef) -> int:
        if self._statements is not None and id(node) in self._statements:
            found = self._statements[id(node)]
            decorators = getattr(found, "decorator_list", [])
            return decorators[0].lineno if decorators else found.lineno  # type: ignore[attr-defined]
        return self.span(node.decorators[0] if node.decorators else node)[0].row

    def name_span(self, statement: cst.CSTNode, name: str) -> Tuple[Position, Position]:
        """Where `name` stands on the first line of `statement` (an assignment's target, a def's name)."""
        start = self.start(statement)
        line = self._line(start.row)
        column = line.find(name, start.column - 1)
        column = column + 1 if column >= 0 else start.column
        return Position(start.row, column), Position(start.row, column + len(name))

    def _line(self, row: int) -> str:
        return self.lines[row - 1].decode("utf-8", errors="replace") if 0 < row <= len(self.lines) else ""

    def _column(self, row: int, byte_offset: int) -> int:
        if 0 < row <= len(self.lines):
            return len(self.lines[row - 1][:byte_offset].decode("utf-8", errors="replace")) + 1
        return byte_offset + 1

    def span(self, node: cst.CSTNode) -> Tuple[Position, Position]:
        """Where any node starts and ends, as PositionProvider measures it (columns 1-based)."""
        if self._ranges is None:
            self._ranges = _TokenRanges(self.module)
        (start_line, start_column), (end_line, end_column) = self._ranges.span(node)
        return Position(self._row(start_line), start_column + 1), Position(self._row(end_line), end_column + 1)

    def _row(self, line: int) -> int:
        if not self.rows or line < 1:
            return line
        return self.rows[line - 1] if line <= len(self.rows) else self.rows[-1] + line - len(self.rows)


def _pair(statements: Sequence[cst.CSTNode], nodes: List[ast.stmt], out: Dict[int, ast.AST]) -> None:
    """Record, for each libcst statement (and each small statement), the ast statement it is."""
    index = 0
    for statement in statements:
        if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            smalls = nodes[index : index + len(statement.body)]
            index += len(statement.body)
            out[id(statement)] = smalls[0]
            for small, node in zip(statement.body, smalls):
                out[id(small)] = node
            continue
        node = nodes[index]
        index += 1
        out[id(statement)] = node
        for inner, inner_nodes in _blocks(statement, node):
            _pair(inner, inner_nodes, out)


def _body(block: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    return [block] if isinstance(block, cst.SimpleStatementSuite) else block.body  # type: ignore[attr-defined]


def _blocks(statement: cst.CSTNode, node: ast.AST) -> Iterator[Tuple[Sequence[cst.CSTNode], List[ast.stmt]]]:
    """The nested statement lists of a compound statement, beside the ast's."""
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef, cst.With)):
        yield _body(statement.body), node.body  # type: ignore[attr-defined]
    elif isinstance(statement, cst.If):
        yield _body(statement.body), node.body  # type: ignore[attr-defined]
        if isinstance(statement.orelse, cst.If):  # elif: an If inside the ast's orelse
            yield [statement.orelse], node.orelse  # type: ignore[attr-defined]
        elif isinstance(statement.orelse, cst.Else):
            yield _body(statement.orelse.body), node.orelse  # type: ignore[attr-defined]
    elif isinstance(statement, (cst.For, cst.While)):
        yield _body(statement.body), node.body  # type: ignore[attr-defined]
        if statement.orelse is not None:
            yield _body(statement.orelse.body), node.orelse  # type: ignore[attr-defined]
    elif isinstance(statement, (cst.Try, cst.TryStar)):
        yield _body(statement.body), node.body  # type: ignore[attr-defined]
        for handler, ast_handler in zip(statement.handlers, node.handlers):  # type: ignore[attr-defined]
            yield _body(handler.body), ast_handler.body
        if statement.orelse is not None:
            yield _body(statement.orelse.body), node.orelse  # type: ignore[attr-defined]
        if statement.finalbody is not None:
            yield _body(statement.finalbody.body), node.finalbody  # type: ignore[attr-defined]
    elif isinstance(statement, cst.Match):
        for case, ast_case in zip(statement.cases, node.cases):  # type: ignore[attr-defined]
            yield _body(case.body), ast_case.body


_NEWLINE = re.compile(r"\r\n?|\n")  # a line break, as PositionProvider counts lines


class _TokenRanges(CodegenState):
    """The module's code regenerated once, noting for each node the tokens it spans: where
    PositionProvider's state would record a position (its syntactic range, else the range of all
    its tokens), this one records the number of tokens so far, and only the nodes asked about
    are turned into lines and columns."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.ranges: Dict[int, Tuple[int, int]] = {}  # id(node) -> (first token, token after its last)
        self._open: List[int] = []
        module._codegen(self)
        self.offsets = [0, *itertools.accumulate(map(len, self.tokens))]  # where each token starts
        code = "".join(self.tokens)
        self.line_starts = [0, *(match.end() for match in _NEWLINE.finditer(code))]

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._open.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        first = self._open.pop()
        self.ranges.setdefault(id(node), (first, len(self.tokens)))  # a syntactic range stays

    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None, end_node: Optional[cst.CSTNode] = None
    ) -> "_Syntactic":
        return _Syntactic(self, node, start_node, end_node)

    def pop_trailing_newline(self) -> None:
        """Kept: PositionProvider counted it before it went, and the code is not needed."""

    def span(self, node: cst.CSTNode) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """(line, 0-based column) where the node starts and where it ends."""
        first, after = self.ranges[id(node)]
        return self._position(self.offsets[first]), self._position(self.offsets[after])

    def _position(self, offset: int) -> Tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1]


class _Syntactic:
    """The context in which libcst generates a node's syntactic part (PositionProvider's
    record_syntactic_position, for the token numbers)."""

    __slots__ = ("state", "node", "start_node", "end_node", "first")

    def __init__(
        self, state: _TokenRanges, node: cst.CSTNode, start_node: Optional[cst.CSTNode], end_node: Optional[cst.CSTNode]
    ) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.first = len(self.state.tokens)

    def __exit__(self, *exc_info: object) -> None:
        ranges = self.state.ranges
        first = ranges[id(self.start_node)][0] if self.start_node is not None else self.first
        after = ranges[id(self.end_node)][1] if self.end_node is not None else len(self.state.tokens)
        ranges[id(self.node)] = (first, after)
