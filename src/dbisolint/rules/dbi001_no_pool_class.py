from __future__ import annotations

from typing import Optional

from ..engine_call import ABSENT, EngineCall
from ..rule import ASYNC_IN_MEMORY, EngineRule, EngineVerdict, pool_fix


class InMemorySqliteWithoutPoolClass(EngineRule):
    """
    ## What it does
    Checks for SQLAlchemy engines on an in-memory SQLite database that do not pass `poolclass`.

    ## Why is this bad?
    An in-memory SQLite database lives inside one DBAPI connection. Without a `poolclass`,
    a sync engine (`sqlite://`, `sqlite:///:memory:`, `+pysqlite`) uses `SingletonThreadPool`:
    one connection, so one separate empty database, per thread. A table created by the test's
    thread is "no such table" in the thread that serves the request (FastAPI's `TestClient`,
    thread pools, gRPC servers). An aiosqlite engine shares one database only because its dialect
    happens to default to `StaticPool`; any pool option given later silently changes that, and
    SQLAlchemy 2.1 deprecates choosing the pool from `mode=memory` URLs.

    `StaticPool` keeps exactly one connection for every thread and every session. A sync driver
    also needs `connect_args={"check_same_thread": False}`, or sqlite3 refuses that connection
    in any thread but the one that opened it.

    The URL is read statically (literals, constants, `make_url(...)`, `URL.create(...)`) and
    classified by SQLAlchemy's `make_url`; engines whose URL cannot be resolved are not checked.
    An unreadable `**kwargs` may carry a pool class, so such a call is not reported.

    ## Example
    ```python
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    ```

    ## Use instead
    ```python
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    ```

    ## Fix safety
    The fix is safe: it adds `poolclass=StaticPool`, the `StaticPool` import, and for sync
    drivers `check_same_thread=False` (merged into an existing `connect_args`). When the call
    also passes `pool_size`, `max_overflow` or `pool_timeout`, which `StaticPool` rejects, the
    fix is unsafe and applies only with `--unsafe-fixes`, together with DBI004's removal of them.

    An async engine the test suite builds once for many tests is DBI006's: there StaticPool is
    already the default and cannot keep the database when the engine is disposed; a temporary
    file database can.

    ## References
    - [SQLAlchemy: Using a Memory Database in Multiple Threads](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#using-a-memory-database-in-multiple-threads)
    """

    code = "DBI001"
    name = "in-memory-sqlite-without-pool-class"
    fix_availability = "safe"

    def check(self, call: EngineCall) -> Optional[EngineVerdict]:
        if not call.url.in_memory or call.pool != ABSENT or call.opaque_kwargs or call.shared_async_test_database:
            return None
        if call.url.sync_driver:
            why = "SingletonThreadPool gives each thread its own empty database"
        else:
            why = "it shares one database only through the dialect's default pool" + ASYNC_IN_MEMORY
        return EngineVerdict(
            f"In-memory SQLite engine without `poolclass`: {why}; use `poolclass=StaticPool`",
            pool_fix(call),
        )
