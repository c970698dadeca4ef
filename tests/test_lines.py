"""The locator's positions: CPython's where it can, else measured on libcst's code as
PositionProvider measures them, for a fraction of its cost (lines.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from dbisolint.lines import Locator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

TRICKY = {
    "crlf": b"import os\r\n\r\nx = {\r\n    'a': 1,\r\n}\r\ndef f():\r\n    return x\r\n",
    "no final newline": b"@decorator\n@other(1)\ndef f(a,\n      b): return a; b\nclass C: pass",
    "nested": b"if a:\n    for b in c:\n        try:\n            d = 1\n        except E:\n            pass\n    else:\n        x = y = (\n            1)\n",
    "comments and blank lines": b"# a comment\n\n\n   \n# more\nx = 1  # trailing\n\n",
    "empty": b"",
    "strings over lines": b'x = """\nline\n"""; y = f"{x!r:>{w}}"\nz = (1 +\n     2)\n',
    "newer syntax": b"type Url = str\nclass Box[T]:\n    def get[U](self) -> T: ...\nengine = create_engine('sqlite://')\n",
}


def _texts():
    for path in sorted(FIXTURES.rglob("*.py")):
        yield str(path.relative_to(FIXTURES)), path.read_bytes()
    yield from TRICKY.items()


@pytest.mark.parametrize("name, source", list(_texts()), ids=[name for name, _ in _texts()])
def test_every_nodes_span_is_position_providers(name: str, source: bytes):
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    locator = Locator(module, source, None)
    assert expected, "some nodes are measured"
    for node, code_range in expected.items():
        start, end = locator.span(node)
        assert (start.row, start.column, end.row, end.column) == (
            code_range.start.line,
            code_range.start.column + 1,
            code_range.end.line,
            code_range.end.column + 1,
        ), f"{type(node).__name__} in {name}"


def test_statements_start_where_cpython_says_with_its_tree_or_without():
    source = TRICKY["nested"] + TRICKY["no final newline"]
    module = cst.parse_module(source)
    with_tree, without = Locator(module, source, ast.parse(source)), Locator(module, source, None)
    statements = []

    class Statements(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement, cst.SimpleStatementLine)):
                statements.append(node)
            return True

    module.visit(Statements())
    assert len(statements) > 10
    assert [with_tree.start(node) for node in statements] == [without.start(node) for node in statements]
