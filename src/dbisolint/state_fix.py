"""The fix behind DBI101-DBI103: one managed autouse fixture in the tests' root conftest.py that
snapshots the flagged module state before each test and restores it after.

Re-running `--fix` rewrites the same fixture in place (entries merged, sorted, never duplicated);
every byte of the conftest outside it stays as it was.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from .state import MANAGED_TABLE, read_managed_table

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


def _imports_pytest(module: cst.Module) -> bool:
    for statement in module.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.Import) and any(
                    isinstance(alias.name, cst.Name) and alias.name.value == "pytest" and alias.asname is None
                    for alias in small.names
                ):
                    return True
    return False


def with_managed_fixture(source: Optional[bytes], entries: Sequence[Entry]) -> bytes:
    """`source` (a conftest.py, or None for a new one) with the managed fixture covering the
    entries already in it and `entries`."""
    module = cst.parse_module(source if source is not None else b"")
    merged: Set[Entry] = set(managed_entries(module)) | set(entries)
    block = cst.parse_module(
        _CODE.format(table=MANAGED_TABLE, fixture=FIXTURE, entries=render_entries(merged)).lstrip("\n"),
        config=module.config_for_parsing,
    ).body
    body = list(module.body)
    position = next((index for index, statement in enumerate(body) if _is_managed(statement)), len(body))
    body = [statement for statement in body if not _is_managed(statement)]
    header = [cst.EmptyLine(comment=cst.Comment(line)) for line in _HEADER]
    spacing = [cst.EmptyLine(), cst.EmptyLine()] if position > 0 else []
    first = block[0].with_changes(leading_lines=[*spacing, *header])
    body[position:position] = [first, *block[1:]]
    module = module.with_changes(body=body, has_trailing_newline=True)
    if not _imports_pytest(module):
        context = CodemodContext()
        AddImportsVisitor.add_needed_import(context, "pytest")
        module = AddImportsVisitor(context).transform_module(module)
    return module.bytes
