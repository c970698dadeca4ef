"""The read-only walk calls a visitor's hooks exactly as libcst's own visit does."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from dbisolint.walk import _TRIVIAL, walk

SAMPLE = '''
import os as system, sys
from .pkg import (a, b as c)

@decorator(arg=1)
async def handler(x: int, *rest, key=lambda y: y + 1, **options) -> "R":
    global counter
    counter += 1
    async with lock() as held, other():
        return [item async for item in source(x) if item]

class Store(Base, metaclass=Meta):
    """Doc."""
    table: dict[str, int] = {}

    def put(self, key, value):
        self.table[key] = value; del self.table["old"]
        match value:
            case {"k": [1, *others]} if others:
                pass
        return f"{key!r:>{width}}" or (yield from other)

try:
    pass
except* (ValueError, TypeError) as error:
    raise RuntimeError from error
'''


class Recorder(cst.CSTVisitor):
    """libcst's own visit, recorded through its generic hooks."""

    def __init__(self, skip: type) -> None:
        super().__init__()
        self.events: list = []
        self.skip = skip
        self.inside_trivial = 0  # the walk enters no whitespace or punctuation

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _TRIVIAL) or self.inside_trivial:
            self.inside_trivial += 1
            return True
        self.events.append(("visit", type(node).__name__))
        return not isinstance(node, self.skip)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self.inside_trivial:
            self.inside_trivial -= 1
            return
        self.events.append(("leave", type(original_node).__name__))

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if not self.inside_trivial and f"{type(node).__name__}_{attribute}" in ATTRIBUTES:
            self.events.append(("visit", f"{type(node).__name__}.{attribute}"))

    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None:
        if not self.inside_trivial and f"{type(original_node).__name__}_{attribute}" in ATTRIBUTES:
            self.events.append(("leave", f"{type(original_node).__name__}.{attribute}"))


class HookRecorder(cst.CSTVisitor):
    """The same through per-node hooks (what walk() calls), set below for every node class."""

    def __init__(self, skip: type) -> None:
        super().__init__()
        self.events: list = []
        self.skip = skip


def _hook(kind: str, name: str):  # type: ignore[no-untyped-def]
    def hook(self, node):  # type: ignore[no-untyped-def]
        self.events.append((kind, name))
        return False if kind == "visit" and isinstance(node, self.skip) else None

    return hook


ATTRIBUTES = ("FunctionDef_params", "FunctionDef_body", "ClassDef_body", "ClassDef_bases", "Call_args")
for _name in dir(cst):
    _class = getattr(cst, _name)
    if isinstance(_class, type) and issubclass(_class, cst.CSTNode):
        setattr(HookRecorder, f"visit_{_name}", _hook("visit", _name))
        setattr(HookRecorder, f"leave_{_name}", _hook("leave", _name))
for _attribute in ATTRIBUTES:
    setattr(HookRecorder, f"visit_{_attribute}", _hook("visit", _attribute.replace("_", ".", 1)))
    setattr(HookRecorder, f"leave_{_attribute}", _hook("leave", _attribute.replace("_", ".", 1)))


def _both(source: str, skip: type) -> tuple:
    module = cst.parse_module(source)
    expected, walked = Recorder(skip), HookRecorder(skip)
    module.visit(expected)
    walk(module, walked)
    return expected.events, walked.events


@pytest.mark.parametrize("skip", [type(None), cst.ClassDef, cst.Lambda], ids=["all", "no-class-body", "no-lambda"])
def test_the_walk_calls_the_same_hooks_in_the_same_order(skip: type):
    expected, walked = _both(SAMPLE, skip)
    assert walked == expected
    assert ("visit", "FunctionDef.params") in walked  # the attribute hooks are called
    assert (("visit", "ClassDef.body") in walked) == (skip is not cst.ClassDef)  # and skipping is honoured


def test_the_walk_serves_this_project_own_sources():
    for path in (Path(__file__).parents[1] / "src" / "dbisolint").rglob("*.py"):
        expected, walked = _both(path.read_text(), type(None))
        assert walked == expected, path


def test_a_field_visited_only_when_set_is_walked_whichever_instance_comes_first(monkeypatch):
    from dbisolint import walk as walk_module

    for source in ('f"{a}"\nf"{b:>{c}}"\n', 'f"{b:>{c}}"\nf"{a}"\n'):
        monkeypatch.setattr(walk_module, "_FIELDS", {})
        monkeypatch.setattr(walk_module, "_VARIANTS", {})
        expected, walked = _both(source, type(None))
        assert walked == expected and walked.count(("visit", "Name")) == 3
