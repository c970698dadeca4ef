from __future__ import annotations

from typing import Optional

from ..engine_call import ABSENT, STATIC_POOL, EngineCall
from ..rule import ASYNC_IN_MEMORY, EngineRule, EngineVerdict, pool_fix

_WHAT_GOES_WRONG = {
    "NullPool": "every connection opens its own empty database",
    "QueuePool": "each pooled connection holds its own empty database",
    "AsyncAdaptedQueuePool": "each pooled connection holds its own empty database",
    "FallbackAsyncAdaptedQueuePool": "each pooled connection holds its own empty database",
    "SingletonThreadPool": "each thread gets its own empty database",
    "AssertionPool": "a second connection checked out at once raises",
}


class InMemorySqliteWithWrongPoolClass(EngineRule):
    """
    ## What it does
    Checks for SQLAlchemy engines on an in-memory SQLite database whose `poolclass` is not
    `StaticPool` (`NullPool`, `QueuePool`, `AsyncAdaptedQueuePool`, `SingletonThreadPool`, ...).

    ## Why is this bad?
    Each DBAPI connection to `sqlite://` opens a new, empty database. With `NullPool` every
    checkout connects anew, so the tables created by one session are gone in the next ("no such
    table"); a queue pool hands out several connections, each with its own database;
    `SingletonThreadPool` gives one per thread. Only `StaticPool`, one connection for everyone,
    keeps a single in-memory database.

    ## Example
    ```python
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine("sqlite+aiosqlite://", poolclass=NullPool)
    ```

    ## Use instead
    ```python
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import StaticPool

    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    ```

    ## Fix safety
    The fix is safe: it replaces the pool class by `StaticPool` (adding
    `check_same_thread=False` for sync drivers) and removes the old pool's import when nothing
    else uses it. With `pool_size`, `max_overflow` or `pool_timeout` present it is unsafe (see
    DBI004).

    An async engine the test suite builds once for many tests is DBI006's: a temporary file
    database cures it, where StaticPool loses the database when the engine is disposed.

    ## References
    - [SQLAlchemy: Threading/Pooling Behavior of SQLite](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#threading-pooling-behavior)
    """

    code = "DBI002"
    name = "in-memory-sqlite-with-wrong-pool-class"
    fix_availability = "safe"

    def check(self, call: EngineCall) -> Optional[EngineVerdict]:
        if not call.url.in_memory or call.pool in (None, ABSENT, STATIC_POOL) or call.shared_async_test_database:
            return None
        assert call.pool is not None
        why = _WHAT_GOES_WRONG.get(call.pool, "it does not share one connection")
        if call.url.async_driver:
            why += ASYNC_IN_MEMORY
        return EngineVerdict(
            f"In-memory SQLite engine with `{call.pool}`: {why}; use `poolclass=StaticPool`",
            pool_fix(call),
        )
