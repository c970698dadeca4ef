"""What an engine call asks for, as plain values: the URL classified by SQLAlchemy's `make_url`,
the pool class, `connect_args`, sizing arguments, and the change a fix makes to it.

Free of libcst, so that rules and output load without the parser (engines.py does the reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, FrozenSet, Optional, Tuple

if TYPE_CHECKING:
    import libcst as cst

    from .names import Scope

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
POOL_MODULES = ("sqlalchemy.", "sqlmodel.")
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


@dataclass(frozen=True)
class SqliteUrl:
    """What the rules need to know of a resolved URL."""

    text: str
    in_memory: bool
    sync_driver: bool  # pysqlite-based and not asyncio: needs check_same_thread=False
    driver: str
    async_driver: bool = False  # an asyncio dialect (aiosqlite): the database lives in one connection
    drivername: str = "sqlite"  # backend and driver as the URL spells them ("sqlite+aiosqlite")
    # Nothing in the URL but the in-memory database: it can be pointed at a file (DBI006's fix).
    plain: bool = False


@lru_cache(maxsize=256)  # noqa: DBI102 (pure: the same input always gives the same answer)
def classify_url(text: str) -> Optional[SqliteUrl]:
    """Classify a URL string with SQLAlchemy's own parser; None if it is not a SQLite URL."""
    from sqlalchemy.engine import make_url  # imported only when a URL needs classifying

    try:
        url = make_url(text)
    except Exception:  # a malformed URL is simply not ours to judge
        return None
    return classify_url_object(url)


def classify_url_object(url: object) -> Optional[SqliteUrl]:
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
    dialect = _dialect(url)
    return SqliteUrl(
        text=url.render_as_string(hide_password=True),  # type: ignore[attr-defined]
        in_memory=in_memory,
        sync_driver=_is_sync_pysqlite(dialect),
        driver=url.get_driver_name(),  # type: ignore[attr-defined]
        async_driver=bool(getattr(dialect, "is_async", False)),
        drivername=url.drivername,  # type: ignore[attr-defined]
        plain=not (url.username or url.password or url.host or url.port)  # type: ignore[attr-defined]
        and set(query) <= {"mode", "cache", "uri"},
    )


def _dialect(url: object) -> Optional[type]:
    try:
        return url.get_dialect()  # type: ignore[attr-defined, no-any-return]
    except Exception:  # a third-party driver that is not installed here
        return None


def _is_sync_pysqlite(dialect: Optional[type]) -> bool:
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

    if dialect is None:
        return False
    return issubclass(dialect, SQLiteDialect_pysqlite) and not getattr(dialect, "is_async", False)


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
    opaque_kwargs: bool = False  # a `**mapping` we cannot read: it may carry any argument
    scope: Optional[Scope] = None
    outlives_test: bool = False  # built by the test suite once for many tests (engines.outlives_a_test)

    @property
    def shared_async_test_database(self) -> bool:
        """An async engine on in-memory SQLite that the test suite builds once for many tests:
        DBI006 judges it (a file database cures it), not the pool rules (StaticPool cannot)."""
        return self.url.in_memory and self.url.async_driver and self.outlives_test

    @property
    def needs_check_same_thread(self) -> bool:
        if not self.url.sync_driver:
            return False
        if self.connect_args == ABSENT:
            return not self.opaque_kwargs
        return self.connect_args == "missing"


@dataclass(frozen=True)
class CallFix:
    """What to change in one engine call; the fixes of several findings on a call are merged."""

    static_pool: bool = False
    check_same_thread: bool = False
    drop_sizing: bool = False

    def __or__(self, other: "CallFix") -> "CallFix":
        return CallFix(
            self.static_pool or other.static_pool,
            self.check_same_thread or other.check_same_thread,
            self.drop_sizing or other.drop_sizing,
        )
