"""The fix behind DBI101-DBI103: one managed autouse fixture in the tests' root conftest.py that
snapshots the flagged module state before each test and restores it after.

Re-running `--fix` rewrites the same fixture in place (entries merged, sorted, never duplicated);
every byte of the conftest outside it stays as it was.
"""

from __future__ import annotations

import sys
from typing import FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

from .state import read_managed_table
from .state_facts import MANAGED_TABLE

_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) or frozenset(sys.builtin_module_names) | {
    "os", "re", "sys", "json", "typing", "pathlib", "functools", "collections", "itertools", "asyncio",
    "unittest", "importlib", "logging", "dataclasses", "datetime", "contextlib", "tempfile", "shutil",
}  # fmt: skip  (Python 3.9 has no sys.stdlib_module_names)
Entry = Tuple[str, str, str, Tuple[str, ...]]  # (module, name, kind, state attributes)
FIXTURE = "_dbisolint_reset_module_state"
_MANAGED_FUNCTIONS = frozenset({FIXTURE, "_dbisolint_snapshot", "_dbisolint_restore"})
_HEADER = (
    "# Managed by `dbisolint --fix`: resets the module-level state dbisolint found (DBI101-DBI103)",
    "# around every test. Re-running `--fix` rewrites this part; add entries by running it again.",
)

_CODE = '''
{table} = (
{entries}
)


@pytest.fixture(autouse=True)
def {fixture}():
    """Snapshot the module-level state listed above before each test, restore it after.

    Only modules the tests have already imported are touched: importing one from here could run
    its side effects before this conftest has set up the environment.
    """
    import sys

    slots = []
    caches = []
    for module_name, name, kind, attributes in {table}:
        module = sys.modules.get(module_name)
        if module is None or not hasattr(module, name):
            continue
        target = getattr(module, name)
        if kind == "cache":
            if hasattr(target, "cache_clear"):  # not a cache any more: nothing to clear
                target.cache_clear()
                caches.append(target)
        elif kind == "instance":
            slots.extend(
                (target, attribute, _dbisolint_snapshot(getattr(target, attribute)))
                for attribute in attributes
                if hasattr(target, attribute)
            )
        else:
            slots.append((module, name, _dbisolint_snapshot(target)))
    yield
    for owner, attribute, snapshot in slots:
        _dbisolint_restore(owner, attribute, snapshot)
    for cached in caches:
        cached.cache_clear()


def _dbisolint_snapshot(value):
    """The object itself and a copy of its contents (deep when possible: nested containers too)."""
    import copy

    try:
        return value, copy.deepcopy(value)
    except (TypeError, ValueError, AttributeError, RecursionError, copy.Error):
        # Contents that cannot be deep-copied (locks, tasks): a shallow copy then.
        return value, copy.copy(value)


def _dbisolint_restore(owner, attribute, snapshot):
    """Put the original object back (the test may have rebound it) and refill it in place, so
    that contents filled at import, such as registries, survive."""
    import collections

    original, contents = snapshot
    setattr(owner, attribute, original)
    if original is contents:
        return
    if isinstance(original, (list, bytearray)):
        original[:] = contents
    elif isinstance(original, collections.deque):
        original.clear()
        original.extend(contents)
    elif hasattr(original, "clear") and hasattr(original, "update"):
        original.clear()
        original.update(contents)
'''


def render_entries(entries: Iterable[Entry]) -> str:
    lines = []
    for module, name, kind, attributes in sorted(set(entries)):
        attrs = ", ".join(f'"{attr}"' for attr in attributes) + ("," if len(attributes) == 1 else "")
        lines.append(f'    ("{module}", "{name}", "{kind}", ({attrs})),')
    return "\n".join(lines)


def managed_entries(module: cst.Module) -> List[Entry]:
    for statement in module.body:
        assign = _table_assignment(statement)
        if assign is not None:
            return read_managed_table(assign.value)
    return []


def _table_assignment(statement: cst.CSTNode) -> Optional[cst.Assign]:
    if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
        small = statement.body[0]
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target = small.targets[0].target
            if isinstance(target, cst.Name) and target.value == MANAGED_TABLE:
                return small
    return None


def _is_managed(statement: cst.CSTNode) -> bool:
    if isinstance(statement, cst.FunctionDef):
        return statement.name.value in _MANAGED_FUNCTIONS
    return _table_assignment(statement) is not None


def _imported_modules(statement: cst.CSTNode) -> Optional[List[str]]:
    """The modules a top-level import statement names (`""` for a relative import), else None."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Import):
        return [cst.Module([]).code_for_node(alias.name) for alias in small.names]
    if isinstance(small, cst.ImportFrom):
        if small.relative:
            return [""]
        return [cst.Module([]).code_for_node(small.module)] if small.module is not None else [""]
    return None


def _section(statement: cst.CSTNode, first_party: FrozenSet[str]) -> str:
    """isort's section of an import: future, stdlib, third-party, first-party or local."""
    top = (_imported_modules(statement) or [""])[0].split(".")[0]
    if top == "__future__":
        return "0-future"
    if top in _STDLIB:
        return "1-stdlib"
    if top == "":
        return "4-local"
    return "3-first-party" if top in first_party else "2-third-party"


def _with_pytest_import(module: cst.Module, first_party: FrozenSet[str]) -> cst.Module:
    """Add `import pytest` where isort (ruff's I001) puts it: among the third-party imports,
    straight imports first, or as a new section between the standard library and the project."""
    body = list(module.body)
    if any(_binds_pytest(statement) for statement in body):
        return module
    start = 1 if body and _is_docstring(body[0]) else 0
    end = start
    while end < len(body) and _imported_modules(body[end]) is not None:
        end += 1
    new = cst.parse_statement("import pytest" + module.default_newline)
    blank = cst.EmptyLine()
    sections = [_section(statement, first_party) for statement in body[start:end]]
    third = [start + index for index, section in enumerate(sections) if section == "2-third-party"]
    if third:
        position = next(
            (
                index
                for index in third
                if isinstance(body[index].body[0], cst.ImportFrom)  # type: ignore[attr-defined]
                or (_imported_modules(body[index]) or [""])[0] > "pytest"
            ),
            third[-1] + 1,
        )
        if position == third[0]:  # the section's first line: take over its blank line
            new = new.with_changes(leading_lines=body[position].leading_lines)
            body[position] = body[position].with_changes(leading_lines=[])
    else:
        position = next(
            (start + index for index, section in enumerate(sections) if section > "2-third-party"), end
        )
        if position > start or (position == start and start > 0):
            new = new.with_changes(leading_lines=[blank])
        if position < len(body) and (start == end or position < end):
            # What follows a new import block, or a new section, needs isort's blank lines.
            body[position] = _with_blank_lines(body[position], 1 if position < end else _lines_after_imports(body[position]))
    body.insert(position, new)
    return module.with_changes(body=body)


def _lines_after_imports(statement: cst.BaseStatement) -> int:
    return 2 if isinstance(statement, (cst.FunctionDef, cst.ClassDef)) else 1


def _with_blank_lines(statement: cst.BaseStatement, count: int) -> cst.BaseStatement:
    """`statement` preceded by exactly `count` blank lines (its comment lines kept after them)."""
    comments = list(statement.leading_lines)
    while comments and comments[0].comment is None:
        comments.pop(0)
    return statement.with_changes(leading_lines=[cst.EmptyLine()] * count + comments)


def _binds_pytest(statement: cst.CSTNode) -> bool:
    """A top-level `import pytest` (the generated fixture's decorator needs that name)."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return False
    return any(
        isinstance(small, cst.Import)
        and any(isinstance(alias.name, cst.Name) and alias.name.value == "pytest" and alias.asname is None for alias in small.names)
        for small in statement.body
    )


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], cst.Expr)
        and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def with_managed_fixture(
    source: Optional[bytes], entries: Sequence[Entry], first_party: FrozenSet[str] = frozenset()
) -> bytes:
    """`source` (a conftest.py, or None for a new one) with the managed fixture covering the
    entries already in it and `entries`; `first_party` names the project's top-level packages
    (for where `import pytest` goes)."""
    module = cst.parse_module(source if source is not None else b"")
    merged: Set[Entry] = set(managed_entries(module)) | set(entries)
    code = _CODE.format(table=MANAGED_TABLE, fixture=FIXTURE, entries=render_entries(merged)).lstrip("\n")
    # The file's own newlines, inside the docstrings too.
    block = cst.parse_module(code.replace("\n", module.default_newline), config=module.config_for_parsing).body
    body = list(module.body)
    position = next((index for index, statement in enumerate(body) if _is_managed(statement)), len(body))
    body = [statement for statement in body if not _is_managed(statement)]
    header = [cst.EmptyLine(comment=cst.Comment(line)) for line in _HEADER]
    spacing = [cst.EmptyLine(), cst.EmptyLine()] if position > 0 else []
    first = block[0].with_changes(leading_lines=[*spacing, *header])
    body[position:position] = [first, *block[1:]]
    module = module.with_changes(body=body, has_trailing_newline=True)
    return _with_pytest_import(module, first_party).bytes
