"""The fixes of the URL rules, at the places the join found.

DBI005: a pool class chosen by the URL at the engine call, so that in-memory SQLite gets StaticPool
and every other URL keeps SQLAlchemy's default pool and its arguments. DBI006: the test suite's
in-memory URL pointed at a file database in a folder made once per test process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple, Union

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import MetadataWrapper, PositionProvider

from .engine_call import STATIC_POOL
from .engine_fix import ReplaceNodes, append_call_arg, keyword_arg
from .model import Position

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

DATABASE_DIR = "_DBISOLINT_DATABASE_DIR"
_DATABASE_DIR_COMMENT = (
    "# A file database for the tests, one folder per test process (each xdist worker has its",
    "# own): an in-memory one is lost whenever its engine is disposed (dbisolint DBI006).",
)
# The line length of ruff's and black's defaults: a longer assignment of a file database is
# wrapped in parentheses, as they would.
LINE_LENGTH = 88
_DATABASE_DIR_CODE = f"""{DATABASE_DIR} = tempfile.mkdtemp(prefix="dbisolint-")
atexit.register(shutil.rmtree, {DATABASE_DIR}, ignore_errors=True)
"""


@dataclass(frozen=True)
class InMemoryGuard:
    """DBI005: StaticPool for the engine call starting at `start` when its URL is in-memory SQLite
    (and `check_same_thread=False` for a sync driver)."""

    start: Position
    sync: bool
    title = "Use StaticPool when the URL is in-memory SQLite"


@dataclass(frozen=True)
class FileDatabase:
    """DBI006: the URL expression spanning `span` replaced by a file database of driver
    `drivername`, named after `name`, in the folder made once per test process."""

    span: Tuple[Position, Position]
    drivername: str
    name: str
    title = "Use a temporary file database, made once per test process"


UrlChange = Union[InMemoryGuard, FileDatabase]


def with_url_fixes(source: bytes, changes: Sequence[UrlChange]) -> bytes:
    """`source` with every change applied, and the helpers and imports they need."""
    module = cst.parse_module(source)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    guards = {(change.start.row, change.start.column): change.sync for change in changes if isinstance(change, InMemoryGuard)}
    files = {change.span: change for change in changes if isinstance(change, FileDatabase)}
    assigned = {
        id(node.value)
        for node in positions
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None
    }
    lines = module.code.splitlines()
    replacements: Dict[cst.CSTNode, cst.CSTNode] = {}
    for node, code_range in positions.items():
        start = Position(code_range.start.line, code_range.start.column + 1)
        span = (start, Position(code_range.end.line, code_range.end.column + 1))
        if isinstance(node, cst.Call) and (start.row, start.column) in guards:
            replacements[node] = _guarded(node, guards.pop((start.row, start.column)))
        elif isinstance(node, cst.BaseExpression) and span in files:
            url = _file_database(files.pop(span))
            if id(node) in assigned and start.row == span[1].row:
                line = lines[start.row - 1]
                width = len(line) - (span[1].column - start.column) + len(module.code_for_node(url))
                url = _wrapped(url) if width > LINE_LENGTH else url
            replacements[node] = url
    fixed = module.visit(ReplaceNodes(replacements))
    context = CodemodContext()
    if any(isinstance(change, InMemoryGuard) for change in changes):
        fixed = _with_statements(fixed, HELPER, _HELPER_CODE, blank_lines=2)
        AddImportsVisitor.add_needed_import(context, "sqlalchemy.pool", STATIC_POOL)
    if any(isinstance(change, FileDatabase) for change in changes):
        fixed = _with_statements(fixed, DATABASE_DIR, _DATABASE_DIR_CODE, blank_lines=1, comment=_DATABASE_DIR_COMMENT)
        fixed = with_stdlib_imports(fixed, ("atexit", "shutil", "tempfile"))
    if AddImportsVisitor.CONTEXT_KEY in context.scratch:
        fixed = AddImportsVisitor(context).transform_module(fixed)
    return fixed.bytes


def _file_database(change: FileDatabase) -> cst.BaseExpression:
    """`f"sqlite+aiosqlite:///{DIR}/name.db"` (Windows takes `/` in a path as well)."""
    file_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in change.name.lower()) + ".db"
    return cst.parse_expression(f'f"{change.drivername}:///{{{DATABASE_DIR}}}/{file_name}"')


def _wrapped(expression: cst.BaseExpression) -> cst.BaseExpression:
    """The expression alone on an indented line between parentheses, as ruff format wraps it."""
    opening = cst.LeftParen(
        whitespace_after=cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace("    "))
    )
    closing = cst.RightParen(whitespace_before=cst.ParenthesizedWhitespace(indent=True))
    return expression.with_changes(lpar=[opening], rpar=[closing])


def with_stdlib_imports(module: cst.Module, names: Sequence[str]) -> cst.Module:
    """`module` importing each of the standard library's modules `names`, as isort and ruff's `I`
    rules place them: among the `import` statements of the leading standard-library block, in
    order, or as a block of their own before the other imports."""
    body = list(module.body)
    start = 1 if body and _is_docstring(body[0]) else 0
    end = _after_imports(module)
    imported = {
        alias.evaluated_name
        for statement in body[start:end]
        for small in statement.body  # type: ignore[attr-defined]
        if isinstance(small, cst.Import)
        for alias in small.names
        if alias.asname is None
    }
    for name in sorted(set(names) - imported, reverse=True):
        statement = cst.parse_statement(f"import {name}{module.default_newline}", config=module.config_for_parsing)
        stdlib = [index for index in range(start, end) if _stdlib_import(body[index])]
        later = [index for index in stdlib if _import_key(body[index]) > (0, name)]
        index = later[0] if later else stdlib[-1] + 1 if stdlib else start
        if index < end and index == (stdlib[0] if stdlib else start):
            # the new first line of the imports takes over their leading lines (comments, blanks)
            statement = statement.with_changes(leading_lines=body[index].leading_lines)  # type: ignore[attr-defined]
            body[index] = body[index].with_changes(leading_lines=[] if stdlib else [cst.EmptyLine()])
        body.insert(index, statement)
        end += 1
    return module.with_changes(body=body)


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


# The standard library's top-level modules (Python 3.10+ lists them; before, the common ones).
_STDLIB = getattr(sys, "stdlib_module_names", None) or frozenset(
    {
        "abc", "argparse", "asyncio", "atexit", "collections", "contextlib", "dataclasses", "datetime",
        "functools", "importlib", "io", "itertools", "json", "logging", "os", "pathlib", "re", "shutil",
        "subprocess", "sys", "tempfile", "threading", "time", "typing", "unittest", "uuid", "warnings",
    }
)  # fmt: skip


def _stdlib_import(statement: cst.CSTNode) -> bool:
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    small = statement.body[0]
    if isinstance(small, cst.Import):
        return all(alias.evaluated_name.split(".")[0] in _STDLIB for alias in small.names)
    if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative:
        return cst.Module([]).code_for_node(small.module).split(".")[0] in _STDLIB
    return False


def _import_key(statement: cst.CSTNode) -> Tuple[int, str]:
    """isort's order within a section: `import x` lines first, then `from x import`, by name."""
    small = statement.body[0]  # type: ignore[attr-defined]
    if isinstance(small, cst.Import):
        return 0, small.names[0].evaluated_name
    return 1, cst.Module([]).code_for_node(small.module)


def _with_statements(
    module: cst.Module, name: str, code: str, blank_lines: int, comment: Sequence[str] = ()
) -> cst.Module:
    """`module` with `code` after its leading docstring and imports, unless it binds `name` already."""
    for statement in module.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == name:
            return module
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets)
            for small in statement.body
        ):
            return module
    added = list(cst.parse_module(code.replace("\n", module.default_newline)).body)
    comments = [cst.EmptyLine(comment=cst.Comment(line)) for line in comment]
    added[0] = added[0].with_changes(leading_lines=[cst.EmptyLine()] * blank_lines + comments)
    index = _after_imports(module)
    return module.with_changes(body=[*module.body[:index], *added, *module.body[index:]])


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

