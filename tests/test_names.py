"""The light name resolver: what a dotted name refers to, by Python's scoping rules."""

from __future__ import annotations

from typing import Dict, Set

import libcst as cst
import pytest

from dbisolint.names import ModuleName, ScopedVisitor, constant_value


class CallNames(ScopedVisitor):
    """Records, for each call, the names its function may refer to (resolved after the walk)."""

    def __init__(self, module: ModuleName) -> None:
        super().__init__(module)
        self.calls = []

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append((node, self.scope))


def resolve(source: str, module: str = "pkg.mod", is_package: bool = False) -> Dict[str, Set[str]]:
    visitor = CallNames(ModuleName(module, is_package))
    cst.parse_module(source).visit(visitor)
    return {
        cst.Module([]).code_for_node(node.func) + f"@{index}": visitor.qualified_names(node.func, scope)
        for index, (node, scope) in enumerate(visitor.calls)
    }


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import sqlalchemy as sa\nsa.create_engine()", {"sqlalchemy.create_engine"}),
        ("import sqlalchemy.engine\nsqlalchemy.engine.create_engine()", {"sqlalchemy.engine.create_engine"}),
        ("from sqlalchemy.ext import asyncio as aio\naio.create_async_engine()", {"sqlalchemy.ext.asyncio.create_async_engine"}),
        ("from sqlalchemy import create_engine as ce\nce()", {"sqlalchemy.create_engine"}),
        ("def create_engine(): pass\ncreate_engine()", {"pkg.mod.create_engine"}),
        ("from sqlalchemy import create_engine\ndef f(create_engine):\n    create_engine()", {"<local>.create_engine"}),
        ("from sqlalchemy import create_engine\ndef f():\n    create_engine = 1\n    create_engine()", {"<local>.create_engine"}),
        ("from sqlalchemy import create_engine\ndef f():\n    create_engine()\n    create_engine = 1", {"<local>.create_engine"}),
        ("from sqlalchemy import create_engine\ndef f():\n    global create_engine\n    create_engine()", {"sqlalchemy.create_engine"}),
        ("from a import x\nclass C:\n    x = 1\n    def m(self):\n        x()", {"a.x"}),  # class bodies are skipped
        ("from a import x\ndef outer():\n    x = 1\n    def inner():\n        x()", {"<local>.x"}),
        ("from a import x\n[x() for x in things]", {"<local>.x"}),
        ("len()", {"builtins.len"}),
        ("from sqlalchemy import *\ncreate_engine()", {"sqlalchemy.create_engine"}),
        ("from .sibling import f\nf()", {"pkg.sibling.f"}),
        ("import a\nimport b as a\na.f()", {"a.f", "b.f"}),
    ],
)
def test_qualified_names(source: str, expected: Set[str]):
    calls = resolve(source)
    assert list(calls.values())[-1] == expected


def test_relative_imports():
    assert resolve("from .db import engine\nengine()", "app", is_package=True) == {"engine@0": {"app.db.engine"}}
    assert resolve("from .. import f\nf()", "pkg.sub.mod") == {"f@0": {"pkg.f"}}
    assert resolve("from ..util import f\nf()", "pkg.sub", is_package=True) == {"f@0": {"pkg.util.f"}}


def test_decorators_run_in_the_enclosing_scope():
    calls = resolve("from a import deco\ndef f(deco):\n    pass\n@deco()\ndef g(deco):\n    pass")
    assert calls == {"deco@0": {"a.deco"}}


@pytest.mark.parametrize(
    "source, value",
    [
        ('URL = "sqlite" "://"\nf(URL)', "sqlite://"),
        ('A = "sqlite"\nB = A + "://"\nf(B)', "sqlite://"),
        ('X = "memory"\nf(f"sqlite:///:{X}:")', "sqlite:///:memory:"),
        ('U = "a"\nU = "b"\nf(U)', None),
        ("def g(u):\n    f(u)", None),
        ('def g():\n    u = "x"\n    f(u)', "x"),
        ("f(b'sqlite://')", None),
    ],
)
def test_constant_folding(source: str, value):
    visitor = CallNames(ModuleName("m"))
    cst.parse_module(source).visit(visitor)
    node, scope = visitor.calls[-1]
    folded = constant_value(node.args[0].value, scope, visitor)
    assert (folded if isinstance(folded, str) else None) == value
