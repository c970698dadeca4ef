from __future__ import annotations

from typing import Optional

from ..engine_call import STATIC_POOL, CallFix, EngineCall
from ..rule import EngineFix, EngineRule, EngineVerdict


class StaticPoolWithoutCheckSameThread(EngineRule):
    """
    ## What it does
    Checks for sync in-memory SQLite engines with `poolclass=StaticPool` whose `connect_args`
    do not set `check_same_thread` to `False`.

    ## Why is this bad?
    `StaticPool` hands the one sqlite3 connection to every thread, and sqlite3 by default
    refuses a connection in any thread but its creator's: `sqlite3.ProgrammingError: SQLite
    objects created in a thread can only be used in that same thread`. That is exactly what a
    FastAPI `TestClient` or a thread pool does.

    Async drivers (aiosqlite) are not concerned. A `connect_args` or `**kwargs` whose content
    cannot be read statically is not reported.

    ## Example
    ```python
    engine = create_engine("sqlite://", poolclass=StaticPool)
    ```

    ## Use instead
    ```python
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    ```

    ## Fix safety
    The fix is safe: it adds `connect_args={"check_same_thread": False}`, or the key to an
    existing `connect_args` literal, or merges it over an existing mapping
    (`{**args, "check_same_thread": False}`).

    ## References
    - [SQLAlchemy: Using a Memory Database in Multiple Threads](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#using-a-memory-database-in-multiple-threads)
    """

    code = "DBI003"
    name = "static-pool-without-check-same-thread"
    fix_availability = "safe"

    def check(self, call: EngineCall) -> Optional[EngineVerdict]:
        if not call.url.in_memory or call.pool != STATIC_POOL or not call.needs_check_same_thread:
            return None
        return EngineVerdict(
            "In-memory SQLite engine with `StaticPool` but without "
            "`check_same_thread=False`: sqlite3 refuses the shared connection in other threads",
            EngineFix(
                CallFix(check_same_thread=True),
                "safe",
                'Add `connect_args={"check_same_thread": False}`',
            ),
        )
