"""A read-only walk over a libcst tree, for a visitor that only reads.

`Module.visit(visitor)` serves transformers too: it rebuilds and revalidates every node on the
way back up, which costs as much as the parse. This walk calls the same hooks in the same order
(`visit_X`, `visit_X_field`, `leave_X_field`, `leave_X`; children skipped when `visit_X` returns
False) and rebuilds nothing. It does not descend into whitespace, comments and punctuation, so
it serves visitors without hooks for those (the order of each node's fields is libcst's own,
recorded once per node class).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

import libcst as cst

Hook = Optional[Callable[[cst.CSTVisitor, cst.CSTNode], object]]

_TRIVIAL = (
    cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline, cst.Comment,
    cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
    cst.RightCurlyBrace, cst.Comma, cst.Semicolon, cst.Dot, cst.Colon, cst.AssignEqual, cst.Asynchronous,
    cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp,
)  # fmt: skip

# node class -> the fields libcst visits, in its order, and the unset fields it did not visit then
_FIELDS: Dict[type, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {}  # noqa: DBI101 (derived from libcst's classes: the same in every test)
_VARIANTS: Dict[Tuple[type, Tuple[str, ...]], Tuple[str, ...]] = {}  # noqa: DBI101 (derived from libcst's classes: the same in every test)
# (visitor class, node class) -> visit, leave, and per field its visit and leave hooks
_HOOKS: Dict[Tuple[type, type], Tuple[Hook, Hook, Dict[str, Tuple[Hook, Hook]]]] = {}  # noqa: DBI101 (derived from libcst's classes: the same in every test)

_SEQUENCES = (tuple, list)
# By class: isinstance against libcst's abstract classes is slow.
_WALKED: Dict[type, bool] = {}  # noqa: DBI101 (derived from libcst's classes: the same in every test)


def walk(node: cst.CSTNode, visitor: cst.CSTVisitor) -> None:
    visit, leave, attribute_hooks = _hooks(type(visitor), type(node))
    if visit is None or visit(visitor, node) is not False:
        for field in _fields(node):
            before, after = attribute_hooks.get(field, (None, None))
            if before is not None:
                before(visitor, node)
            value = getattr(node, field)
            if type(value) in _SEQUENCES:
                for child in value:
                    if _walked(child):
                        walk(child, visitor)
            elif _walked(value):
                walk(value, visitor)
            if after is not None:
                after(visitor, node)
    if leave is not None:
        leave(visitor, node)


def _walked(value: object) -> bool:
    kind = type(value)
    if kind not in _WALKED:
        _WALKED[kind] = isinstance(value, cst.CSTNode) and not isinstance(value, _TRIVIAL)
    return _WALKED[kind]


def _hooks(visitor_class: type, node_class: type) -> Tuple[Hook, Hook, Dict[str, Tuple[Hook, Hook]]]:
    key = (visitor_class, node_class)
    if key not in _HOOKS:
        name = node_class.__name__

        def own(attribute: str) -> Hook:  # libcst's CSTVisitor has a no-op of every hook
            hook = getattr(visitor_class, attribute, None)
            return None if hook is getattr(cst.CSTVisitor, attribute, None) else hook

        fields = {
            attribute[len(name) + 7 :]  # after "visit_{name}_" or "leave_{name}_"
            for attribute in dir(visitor_class)
            if attribute.startswith((f"visit_{name}_", f"leave_{name}_")) and own(attribute) is not None
        }
        _HOOKS[key] = (
            own(f"visit_{name}"),
            own(f"leave_{name}"),
            {field: (own(f"visit_{name}_{field}"), own(f"leave_{name}_{field}")) for field in fields},
        )
    return _HOOKS[key]


def _fields(node: cst.CSTNode) -> Tuple[str, ...]:
    node_class = type(node)
    if node_class not in _FIELDS:
        order = _record(node)
        unset = tuple(f.name for f in dataclasses.fields(node_class) if f.name not in order and getattr(node, f.name) is None)
        _FIELDS[node_class] = order, unset
    order, unrecorded = _FIELDS[node_class]
    # A few classes visit a field only when it is set (FormattedStringExpression.format_spec):
    # their order is recorded again for each combination of such fields set.
    present = tuple(name for name in unrecorded if _holds_nodes(getattr(node, name)))
    if not present:
        return order
    key = (node_class, present)
    if key not in _VARIANTS:
        _VARIANTS[key] = _record(node)
    return _VARIANTS[key]


def _holds_nodes(value: object) -> bool:
    return type(value) in _SEQUENCES or _walked(value)


def _record(node: cst.CSTNode) -> Tuple[str, ...]:
    recorder = _FieldRecorder(node)
    node._visit_and_replace_children(recorder)  # one level: the recorder visits no child
    return tuple(dict.fromkeys(recorder.fields))


class _FieldRecorder(cst.CSTVisitor):
    def __init__(self, parent: cst.CSTNode) -> None:
        super().__init__()
        self.parent = parent
        self.fields: list = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        if node is self.parent:
            self.fields.append(attribute)
