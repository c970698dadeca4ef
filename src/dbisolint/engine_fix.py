"""The codemod behind DBI001-DBI004: give an engine call StaticPool, check_same_thread=False, or
drop the sizing arguments StaticPool rejects, and keep the imports right.

Only the arguments concerned change; every other byte of the module stays as it was.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, TypeVar

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from .engine_call import ABSENT, CHECK_SAME_THREAD, SIZING_ARGUMENTS, STATIC_POOL, CallFix, EngineCall
from .names import Binding, ScopedVisitor

_STATIC_POOL_TARGETS = frozenset(
    {"sqlalchemy.pool.StaticPool", "sqlalchemy.StaticPool", "sqlalchemy.pool.impl.StaticPool"}
)


def fix_engine_calls(module: cst.Module, fixes: Mapping[EngineCall, CallFix], names: ScopedVisitor) -> cst.Module:
    """Return `module` with every call in `fixes` rewritten and the imports it needs added or dropped."""
    context = CodemodContext()
    pool_name = _static_pool_name(names)
    replacements: Dict[cst.CSTNode, cst.CSTNode] = {}
    for call, fix in fixes.items():
        replacements[call.node] = _rewrite_call(call, fix, pool_name or STATIC_POOL)
        if fix.static_pool and call.pool_value is not None:
            _schedule_unused_import_removal(context, call, names)
    fixed = module.visit(ReplaceNodes(replacements))
    if pool_name is None and any(fix.static_pool for fix in fixes.values()):
        AddImportsVisitor.add_needed_import(context, "sqlalchemy.pool", STATIC_POOL)
        fixed = AddImportsVisitor(context).transform_module(fixed)
    if RemoveImportsVisitor.CONTEXT_KEY in context.scratch:
        fixed = RemoveImportsVisitor(context).transform_module(fixed)
    return fixed


def _static_pool_name(names: ScopedVisitor) -> Optional[str]:
    """The module's existing name for sqlalchemy's StaticPool, if it imports it at module level."""
    for name, bindings in names.module_scope.bindings.items():
        if len(bindings) == 1 and bindings[0].kind == "import" and bindings[0].target in _STATIC_POOL_TARGETS:
            return name
    return None


def _schedule_unused_import_removal(context: CodemodContext, call: EngineCall, names: ScopedVisitor) -> None:
    """Drop the import of the pool class the fix replaced, if nothing else uses it."""
    value = call.pool_value
    head = value
    while isinstance(head, cst.Attribute):
        head = head.value
    if not isinstance(head, cst.Name) or call.scope is None:
        return
    owner, bindings = call.scope.lookup(head.value)
    if owner is not names.module_scope or len(bindings) != 1:
        return
    binding: Binding = bindings[0]
    if binding.kind != "import" or binding.target is None:
        return
    if isinstance(binding.node, cst.ImportFrom):
        module, _, obj = binding.target.rpartition(".")
        asname = head.value if head.value != obj else None
        RemoveImportsVisitor.remove_unused_import(context, module, obj, asname)
    elif isinstance(binding.node, cst.Import):
        asname = head.value if head.value != binding.target.split(".")[0] else None
        RemoveImportsVisitor.remove_unused_import(context, binding.target, None, asname)


class ReplaceNodes(cst.CSTTransformer):
    def __init__(self, replacements: Mapping[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        return self.replacements.get(original_node, updated_node)


def _rewrite_call(call: EngineCall, fix: CallFix, pool_name: str) -> cst.Call:
    # Values are replaced in one pass over the original call (nodes are found by identity, which
    # a rebuilt call no longer has); sizing arguments are then dropped by their names.
    replacements: Dict[cst.CSTNode, cst.CSTNode] = {}
    new_args: List[cst.Arg] = []
    if fix.static_pool and call.pool_value is not None:
        replacements[call.pool_value] = cst.Name(pool_name)
    elif fix.static_pool:
        new_args.append(keyword_arg("poolclass", cst.Name(pool_name)))
    if fix.check_same_thread:
        if call.connect_args == ABSENT:
            new_args.append(
                keyword_arg("connect_args", cst.parse_expression(f'{{"{CHECK_SAME_THREAD}": False}}'))
            )
        else:
            assert call.connect_args_value is not None
            replacements[call.connect_args_value] = _with_check_same_thread(call.connect_args_value)
    node = call.node.visit(ReplaceNodes(replacements)) if replacements else call.node
    assert isinstance(node, cst.Call)
    if fix.drop_sizing:
        node = _drop_sizing(node)
    for arg in new_args:
        node = append_call_arg(node, arg)
    return node


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(
        value=value,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )


def _with_check_same_thread(value: cst.BaseExpression) -> cst.BaseExpression:
    """`connect_args` with check_same_thread=False: in the literal when it is one, else merged over it."""
    false = cst.Name("False")
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if isinstance(element, cst.DictElement) and _is_check_same_thread_key(element.key):
                return value.deep_replace(element.value, false)  # type: ignore[return-value]
        new = cst.DictElement(key=cst.SimpleString(f'"{CHECK_SAME_THREAD}"'), value=false)
        elements, rbrace = list(value.elements), value.rbrace
        closing = rbrace.whitespace_before
        last_comma = elements[-1].comma if elements else None
        if isinstance(closing, cst.ParenthesizedWhitespace) and isinstance(last_comma, cst.Comma):
            # A dict keeps its closing line (and the last element's comment) on the brace; move it
            # onto the last comma, where a call keeps it, so that _append can treat both alike.
            spaces = last_comma.whitespace_after
            first_line = closing.first_line.with_changes(
                whitespace=cst.SimpleWhitespace(getattr(spaces, "value", "") + closing.first_line.whitespace.value)
            )
            elements[-1] = elements[-1].with_changes(
                comma=last_comma.with_changes(whitespace_after=closing.with_changes(first_line=first_line))
            )
            rbrace = rbrace.with_changes(whitespace_before=cst.SimpleWhitespace(""))
        return value.with_changes(elements=_append(elements, new, value.lbrace.whitespace_after), rbrace=rbrace)
    if isinstance(value, cst.Call):  # dict(...)
        for arg in value.args:
            if arg.keyword is not None and arg.keyword.value == CHECK_SAME_THREAD:
                return value.deep_replace(arg.value, false)  # type: ignore[return-value]
        return append_call_arg(value, keyword_arg(CHECK_SAME_THREAD, false))
    return cst.Dict(
        [
            cst.StarredDictElement(value=value),
            cst.DictElement(key=cst.SimpleString(f'"{CHECK_SAME_THREAD}"'), value=false),
        ]
    )


def _is_check_same_thread_key(key: cst.BaseExpression) -> bool:
    return isinstance(key, cst.SimpleString) and key.evaluated_value == CHECK_SAME_THREAD


Element = TypeVar("Element", cst.Arg, cst.BaseDictElement)


def _append(elements: Sequence[Element], new: Element, opening: cst.BaseParenthesizableWhitespace) -> List[Element]:
    """Append `new` to a comma-separated sequence, following its layout (one per line, trailing comma)."""
    if not elements:
        return [new]
    last = elements[-1]
    layout = opening
    if isinstance(last.comma, cst.Comma) and len(elements) > 1 and isinstance(elements[-2].comma, cst.Comma):
        layout = elements[-2].comma.whitespace_after  # the layout between existing elements
    if isinstance(layout, cst.ParenthesizedWhitespace):
        # One element per line: the same newline and indent, without the line's own comment.
        separator = cst.Comma(whitespace_after=layout.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]))
    else:
        separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    if isinstance(last.comma, cst.Comma):  # trailing comma: the new element gets one too
        after_last = last.comma.whitespace_after
        if isinstance(after_last, cst.ParenthesizedWhitespace) and isinstance(layout, cst.ParenthesizedWhitespace):
            # The last element keeps its comment; the new one ends the same way, before the bracket.
            kept = last.comma.with_changes(
                whitespace_after=after_last.with_changes(indent=layout.indent, last_line=layout.last_line)
            )
            closing = last.comma.with_changes(
                whitespace_after=after_last.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
            )
            return [*elements[:-1], last.with_changes(comma=kept), new.with_changes(comma=closing)]
        return [*elements[:-1], last.with_changes(comma=separator), new.with_changes(comma=last.comma)]
    return [*elements[:-1], last.with_changes(comma=separator), new]


def append_call_arg(call: cst.Call, arg: cst.Arg) -> cst.Call:
    args = list(call.args)
    if args:
        # The space before `)` belongs to the last argument: hand it to the new last one.
        arg = arg.with_changes(whitespace_after_arg=args[-1].whitespace_after_arg)
        args[-1] = args[-1].with_changes(whitespace_after_arg=cst.SimpleWhitespace(""))
    return call.with_changes(args=_append(args, arg, call.whitespace_before_args))


def _drop_sizing(call: cst.Call) -> cst.Call:
    def doomed(element: cst.CSTNode) -> bool:
        if isinstance(element, cst.Arg):
            return element.keyword is not None and element.keyword.value in SIZING_ARGUMENTS
        key = getattr(element, "key", None)
        return isinstance(key, cst.SimpleString) and key.evaluated_value in SIZING_ARGUMENTS

    def without(elements: Sequence[Element]) -> List[Element]:
        kept = [element for element in elements if not doomed(element)]
        if kept and elements and doomed(elements[-1]):
            kept[-1] = kept[-1].with_changes(comma=elements[-1].comma)
            if isinstance(elements[-1], cst.Arg):
                kept[-1] = kept[-1].with_changes(whitespace_after_arg=elements[-1].whitespace_after_arg)
        return kept

    args = []
    for arg in without(call.args):
        if arg.star == "**" and isinstance(arg.value, cst.Dict):
            arg = arg.with_changes(value=arg.value.with_changes(elements=without(arg.value.elements)))
        args.append(arg)
    return call.with_changes(args=args)
