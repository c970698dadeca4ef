"""The fix behind DBI005: a pool class chosen by the URL at the engine call, so that in-memory
SQLite gets StaticPool and every other URL keeps SQLAlchemy's default pool and its arguments."""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from .engine_call import STATIC_POOL
from .engine_fix import ReplaceNodes, append_call_arg, keyword_arg

HELPER = "_is_in_memory_sqlite"
_HELPER_CODE = f'''

def {HELPER}(url) -> bool:
    """Whether `url` is an in-memory SQLite database, which one connection (StaticPool) must hold."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    return parsed.get_backend_name() == "sqlite" and (in_memory or parsed.query.get("mode") == "memory")
'''


def with_in_memory_guard(source: bytes, calls: Sequence[Tuple[int, int, bool]]) -> bytes:
    """`source` with each engine call starting at (row, column) given StaticPool when its URL is
    in-memory SQLite (and `check_same_thread=False` for a sync driver, when asked)."""
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    wanted = {(row, column): sync for row, column, sync in calls}
    replacements: Dict[cst.CSTNode, cst.CSTNode] = {}
    for node, code_range in positions.items():
        key = (code_range.start.line, code_range.start.column + 1)
        if isinstance(node, cst.Call) and key in wanted:
            replacements[node] = _guarded(node, wanted.pop(key))
    fixed = module.visit(ReplaceNodes(replacements))
    if not any(isinstance(s, cst.FunctionDef) and s.name.value == HELPER for s in fixed.body):
        helper = list(cst.parse_module(_HELPER_CODE.replace("\n", module.default_newline)).body)
        helper[0] = helper[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        fixed = fixed.with_changes(body=[*fixed.body[: _after_imports(fixed)], *helper, *fixed.body[_after_imports(fixed) :]])
    context = CodemodContext()
    AddImportsVisitor.add_needed_import(context, "sqlalchemy.pool", STATIC_POOL)
    return AddImportsVisitor(context).transform_module(fixed).bytes


def _guarded(call: cst.Call, sync: bool) -> cst.Call:
    url = next(arg.value for arg in call.args if (arg.keyword is None and not arg.star) or (arg.keyword and arg.keyword.value == "url"))
    test = cst.Call(cst.Name(HELPER), [cst.Arg(url)])
    pool = cst.IfExp(test=test, body=cst.Name(STATIC_POOL), orelse=cst.Name("None"))
    call = append_call_arg(call, keyword_arg("poolclass", pool))
    spread = any(arg.star == "**" for arg in call.args)
    if sync and not spread and not any(arg.keyword and arg.keyword.value == "connect_args" for arg in call.args):
        arguments = cst.IfExp(test=test, body=cst.parse_expression('{"check_same_thread": False}'), orelse=cst.Dict([]))
        call = append_call_arg(call, keyword_arg("connect_args", arguments))
    return call


def _after_imports(module: cst.Module) -> int:
    """The index after the module's leading docstring and imports."""
    index = 0
    for index, statement in enumerate(module.body):
        if not (isinstance(statement, cst.SimpleStatementLine) and all(
            isinstance(small, (cst.Import, cst.ImportFrom)) or (isinstance(small, cst.Expr) and index == 0)
            for small in statement.body
        )):
            return index
    return len(module.body)

