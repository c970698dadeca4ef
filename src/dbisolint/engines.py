"""SQLAlchemy engine calls: what each one asks for, resolved statically, and the codemod that fixes it.

The engine rules (DBI001-DBI004) are predicates over `EngineCall`; this module does the reading
(factory, URL, pool class, `connect_args`, sizing arguments) once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, FrozenSet, List, Optional, Tuple

import libcst as cst

from .names import UNKNOWN, Scope, ScopedVisitor, constant_value

ENGINE_FACTORIES: FrozenSet[str] = frozenset(
    {
        "sqlalchemy.create_engine",
        "sqlalchemy.engine.create_engine",
        "sqlalchemy.engine.create.create_engine",
        "sqlalchemy.future.create_engine",
        "sqlalchemy.future.engine.create_engine",
        "sqlmodel.create_engine",
        "sqlalchemy.ext.asyncio.create_async_engine",
        "sqlalchemy.ext.asyncio.engine.create_async_engine",
    }
)
_MAKE_URL = frozenset({"sqlalchemy.make_url", "sqlalchemy.engine.make_url", "sqlalchemy.engine.url.make_url"})
_URL_CREATE = frozenset({"sqlalchemy.URL.create", "sqlalchemy.engine.URL.create", "sqlalchemy.engine.url.URL.create"})
_URL_CREATE_FIELDS = ("drivername", "username", "password", "host", "port", "database")
_POOL_MODULES = ("sqlalchemy.", "sqlmodel.")
POOL_CLASSES = frozenset(
    {
        "StaticPool",
        "NullPool",
        "QueuePool",
        "AsyncAdaptedQueuePool",
        "FallbackAsyncAdaptedQueuePool",
        "SingletonThreadPool",
        "AssertionPool",
    }
)
STATIC_POOL = "StaticPool"
SIZING_ARGUMENTS = ("pool_size", "max_overflow", "pool_timeout")
CHECK_SAME_THREAD = "check_same_thread"

ABSENT = "absent"


# -- URLs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SqliteUrl:
    """What the rules need to know of a resolved URL."""

    text: str
    in_memory: bool
    sync_driver: bool  # pysqlite-based and not asyncio: needs check_same_thread=False
    driver: str


@lru_cache(maxsize=256)
def classify_url(text: str) -> Optional[SqliteUrl]:
    """Classify a URL string with SQLAlchemy's own parser; None if it is not a SQLite URL."""
    from sqlalchemy.engine import make_url  # imported only when a URL needs classifying

    try:
        url = make_url(text)
    except Exception:  # a malformed URL is simply not ours to judge
        return None
    return _classify(url)


def _classify(url: object) -> Optional[SqliteUrl]:
    try:
        backend = url.get_backend_name()  # type: ignore[attr-defined]
    except Exception:
        return None
    if backend != "sqlite":
        return None
    database = url.database or ""  # type: ignore[attr-defined]
    query = dict(url.query)  # type: ignore[attr-defined]
    in_memory = (
        database in ("", ":memory:")
        or database.startswith("file::memory:")
        or query.get("mode") == "memory"
    )
    return SqliteUrl(
        text=url.render_as_string(hide_password=True),  # type: ignore[attr-defined]
        in_memory=in_memory,
        sync_driver=_is_sync_pysqlite(url),
        driver=url.get_driver_name(),  # type: ignore[attr-defined]
    )


def _is_sync_pysqlite(url: object) -> bool:
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    try:
        dialect = url.get_dialect()  # type: ignore[attr-defined]
    except Exception:  # a third-party driver that is not installed here
        return False
    return issubclass(dialect, SQLiteDialect_pysqlite) and not getattr(dialect, "is_async", False)


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
    return _classify(url)


# -- engine calls --------------------------------------------------------------------------
@dataclass(eq=False)
class EngineCall:
    """One call of an engine factory, with each argument that matters resolved or marked unknown."""

    node: cst.Call
    factory: str
    url: SqliteUrl
    pool: Optional[str]  # a POOL_CLASSES name, ABSENT, or None when it cannot be known
    pool_value: Optional[cst.BaseExpression]  # the expression to replace (also for `poolclass=None`)
    connect_args: str  # "ok", "missing", ABSENT or "unknown" (check_same_thread=False or not)
    connect_args_value: Optional[cst.BaseExpression]
    sizing: Tuple[str, ...]  # sizing arguments given
    sizing_nodes: Tuple[cst.CSTNode, ...] = field(default=())
    opaque_kwargs: bool = False  # a `**mapping` we cannot read: it may carry any argument
    scope: Optional[Scope] = None

    @property
    def needs_check_same_thread(self) -> bool:
        if not self.url.sync_driver:
            return False
        if self.connect_args == ABSENT:
            return not self.opaque_kwargs
        return self.connect_args == "missing"


def read_engine_call(
    call: cst.Call, scope: Scope, names: ScopedVisitor, factories: FrozenSet[str]
) -> Optional[EngineCall]:
    """Read a call if it is an engine factory on a SQLite URL we can resolve; None otherwise."""
    qualified = names.qualified_names(call.func, scope)
    if not qualified or not qualified <= factories:
        return None
    url_value: Optional[cst.BaseExpression] = None
    keywords: Dict[str, Tuple[cst.CSTNode, cst.BaseExpression]] = {}
    opaque = False
    positional = 0
    for arg in call.args:
        if arg.star == "*":
            opaque = True
        elif arg.star == "**":
            literal = _literal_keywords(arg.value, scope, names)
            if literal is None:
                opaque = True
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
        factory=next(iter(qualified)),
        url=url,
        pool=pool,
        pool_value=pool_value,
        connect_args=connect_args,
        connect_args_value=connect_args_value,
        sizing=sizing,
        sizing_nodes=tuple(keywords[name][0] for name in sizing),
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
        if name.startswith(_POOL_MODULES) and name.rsplit(".", 1)[-1] in POOL_CLASSES
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
