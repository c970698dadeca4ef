"""Reading SQLAlchemy engine calls with libcst: factory, URL, pool class, `connect_args`, sizing
arguments, resolved statically into an `EngineCall` (engine_call.py) once for all engine rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

import libcst as cst

from .engine_call import (
    ABSENT,
    CHECK_SAME_THREAD,
    POOL_CLASSES,
    POOL_MODULES,
    SIZING_ARGUMENTS,
    EngineCall,
    SqliteUrl,
    classify_url,
    classify_url_object,
)
from .names import UNKNOWN, Scope, ScopedVisitor, constant_value
from .state import FIXTURE_DECORATORS

_MAKE_URL = frozenset({"sqlalchemy.make_url", "sqlalchemy.engine.make_url", "sqlalchemy.engine.url.make_url"})
_URL_CREATE = frozenset({"sqlalchemy.URL.create", "sqlalchemy.engine.URL.create", "sqlalchemy.engine.url.URL.create"})
_URL_CREATE_FIELDS = ("drivername", "username", "password", "host", "port", "database")


# -- URLs ---------------------------------------------------------------------------------
def resolve_url(expr: cst.BaseExpression, scope: Scope, names: ScopedVisitor, depth: int = 0) -> Optional[SqliteUrl]:
    """The SQLite URL `expr` denotes, or None when it is not one or cannot be known statically."""
    if depth > 10:
        return None
    if isinstance(expr, cst.Call):
        qualified = names.qualified_names(expr.func, scope)
        if qualified and qualified <= _MAKE_URL and len(expr.args) == 1 and not expr.args[0].star:
            return resolve_url(expr.args[0].value, scope, names, depth + 1)
        if qualified and qualified <= _URL_CREATE:
            return _url_create(expr, scope, names)
        return None
    if isinstance(expr, cst.Name):
        value, value_scope = names.single_value(expr, scope)
        if isinstance(value, cst.Call) and value_scope is not None:
            return resolve_url(value, value_scope, names, depth + 1)
    text = constant_value(expr, scope, names)
    return classify_url(text) if isinstance(text, str) else None


def _url_create(call: cst.Call, scope: Scope, names: ScopedVisitor) -> Optional[SqliteUrl]:
    from sqlalchemy.engine import URL

    fields: Dict[str, object] = {}
    for position, arg in enumerate(call.args):
        if arg.star:
            return None
        key = arg.keyword.value if arg.keyword is not None else (
            _URL_CREATE_FIELDS[position] if position < len(_URL_CREATE_FIELDS) else None
        )
        if key not in _URL_CREATE_FIELDS:
            return None  # `query=` and anything else we cannot fold
        value = constant_value(arg.value, scope, names)
        if value is UNKNOWN:
            return None
        fields[key] = value
    try:
        url = URL.create(**fields)  # type: ignore[arg-type]
    except Exception:
        return None
    return classify_url_object(url)


# -- where a test suite builds an engine -----------------------------------------------------
# pytest's hooks that run once per test process (each pytest-xdist worker runs its own).
PROCESS_HOOKS = frozenset({"pytest_configure", "pytest_sessionstart", "pytest_load_initial_conftests"})
WIDE_FIXTURE_SCOPES = frozenset({"session", "package", "module", "class"})


def outlives_a_test(scope: Scope, names: ScopedVisitor) -> bool:
    """Whether code of a test file in `scope` runs once for many tests: at import (module or class
    level), in one of pytest's start-up hooks, or in a fixture whose scope is wider than a test."""
    function: Optional[Scope] = scope
    while function is not None and function.kind != "function":
        function = function.parent
    if function is None:
        return True
    node = function.node
    if not isinstance(node, cst.FunctionDef):
        return False  # a lambda
    if node.name.value in PROCESS_HOOKS:
        return True
    for decorator in node.decorators:
        call = decorator.decorator
        if isinstance(call, cst.Call) and names.qualified_name(call.func, function.parent or function) in FIXTURE_DECORATORS:
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value == "scope":
                    return constant_value(arg.value, function.parent or function, names) in WIDE_FIXTURE_SCOPES
    return False


# -- engine calls --------------------------------------------------------------------------
@dataclass
class EngineArguments:
    """An engine factory's call, its arguments sorted out (literal `**{...}` read as keywords)."""

    factory: str
    url_value: cst.BaseExpression
    keywords: Dict[str, Tuple[cst.CSTNode, cst.BaseExpression]]
    spread: List[cst.BaseExpression]  # `**mapping` arguments that cannot be read as literals
    opaque: bool  # `*args` or an unreadable `**mapping`: they may carry any argument


def engine_arguments(
    call: cst.Call, scope: Scope, names: ScopedVisitor, factories: FrozenSet[str]
) -> Optional[EngineArguments]:
    """The arguments of a call of an engine factory, or None if it is not one (or has no URL)."""
    qualified = names.qualified_names(call.func, scope)
    if not qualified or not qualified <= factories:
        return None
    url_value: Optional[cst.BaseExpression] = None
    keywords: Dict[str, Tuple[cst.CSTNode, cst.BaseExpression]] = {}
    spread: List[cst.BaseExpression] = []
    opaque = False
    positional = 0
    for arg in call.args:
        if arg.star == "*":
            opaque = True
        elif arg.star == "**":
            literal = _literal_keywords(arg.value, scope, names)
            if literal is None:
                opaque = True
                spread.append(arg.value)
            else:
                keywords.update(literal)
        elif arg.keyword is not None:
            keywords[arg.keyword.value] = (arg, arg.value)
        else:
            if positional == 0:
                url_value = arg.value
            positional += 1
    if url_value is None and "url" in keywords:
        url_value = keywords["url"][1]
    if url_value is None:
        return None
    return EngineArguments(next(iter(qualified)), url_value, keywords, spread, opaque)


def read_engine_call(
    call: cst.Call, scope: Scope, names: ScopedVisitor, factories: FrozenSet[str]
) -> Optional[EngineCall]:
    """Read a call if it is an engine factory on a SQLite URL we can resolve; None otherwise."""
    arguments = engine_arguments(call, scope, names, factories)
    if arguments is None:
        return None
    keywords, url_value, opaque = arguments.keywords, arguments.url_value, arguments.opaque
    url = resolve_url(url_value, scope, names)
    if url is None:
        return None

    pool: Optional[str] = ABSENT
    pool_value: Optional[cst.BaseExpression] = None
    if "poolclass" in keywords:
        pool_value = keywords["poolclass"][1]
        pool = _pool_name(pool_value, scope, names)

    connect_args, connect_args_value = ABSENT, None
    if "connect_args" in keywords:
        connect_args_value = keywords["connect_args"][1]
        connect_args = _check_same_thread_state(connect_args_value, scope, names)

    sizing = tuple(name for name in SIZING_ARGUMENTS if name in keywords)
    return EngineCall(
        node=call,
        factory=arguments.factory,
        url=url,
        pool=pool,
        pool_value=pool_value,
        connect_args=connect_args,
        connect_args_value=connect_args_value,
        sizing=sizing,
        opaque_kwargs=opaque,
        scope=scope,
    )


def _literal_keywords(
    expr: cst.BaseExpression, scope: Scope, names: ScopedVisitor
) -> Optional[Dict[str, Tuple[cst.CSTNode, cst.BaseExpression]]]:
    """The keywords a `**{...}` or `**dict(...)` literal passes, or None if it cannot be read."""
    keywords: Dict[str, Tuple[cst.CSTNode, cst.BaseExpression]] = {}
    if isinstance(expr, cst.Dict):
        for element in expr.elements:
            if not isinstance(element, cst.DictElement):
                return None
            key = constant_value(element.key, scope, names)
            if not isinstance(key, str):
                return None
            keywords[key] = (element, element.value)
        return keywords
    if _is_dict_call(expr, scope, names):
        assert isinstance(expr, cst.Call)
        for arg in expr.args:
            if arg.keyword is None:
                return None
            keywords[arg.keyword.value] = (arg, arg.value)
        return keywords
    return None


def _is_dict_call(expr: cst.BaseExpression, scope: Scope, names: ScopedVisitor) -> bool:
    return isinstance(expr, cst.Call) and names.qualified_names(expr.func, scope) == {"builtins.dict"}


def _pool_name(expr: cst.BaseExpression, scope: Scope, names: ScopedVisitor) -> Optional[str]:
    if isinstance(expr, cst.Name) and expr.value == "None":
        return ABSENT
    qualified = names.qualified_names(expr, scope)
    found = {
        name.rsplit(".", 1)[-1]
        for name in qualified
        if name.startswith(POOL_MODULES) and name.rsplit(".", 1)[-1] in POOL_CLASSES
    }
    if len(found) == 1 and len(qualified) == 1:
        return found.pop()
    return None


def _check_same_thread_state(expr: cst.BaseExpression, scope: Scope, names: ScopedVisitor, depth: int = 0) -> str:
    if isinstance(expr, cst.Name) and depth < 10:
        value, value_scope = names.single_value(expr, scope)
        if value is not None and value_scope is not None:
            return _check_same_thread_state(value, value_scope, names, depth + 1)
        return "unknown"
    entries: List[Tuple[object, cst.BaseExpression]] = []
    spread = False
    if isinstance(expr, cst.Dict):
        for element in expr.elements:
            if isinstance(element, cst.DictElement):
                entries.append((constant_value(element.key, scope, names), element.value))
            else:
                spread = True
    elif _is_dict_call(expr, scope, names):
        assert isinstance(expr, cst.Call)
        for arg in expr.args:
            if arg.keyword is not None:
                entries.append((arg.keyword.value, arg.value))
            else:
                spread = True
    else:
        return "unknown"
    for key, value in entries:
        if key is UNKNOWN:
            spread = True
        elif key == CHECK_SAME_THREAD:
            folded = constant_value(value, scope, names)
            if folded is UNKNOWN:
                return "unknown"
            return "ok" if folded is False or folded == 0 else "missing"
    return "unknown" if spread else "missing"
