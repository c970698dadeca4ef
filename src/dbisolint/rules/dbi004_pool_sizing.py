from __future__ import annotations

from typing import Optional

from ..engine_call import CallFix, EngineCall
from ..rule import EngineFix, EngineRule, EngineVerdict


class InMemorySqliteWithPoolSizing(EngineRule):
    """
    ## What it does
    Checks for `pool_size`, `max_overflow` or `pool_timeout` passed to an engine on an
    in-memory SQLite database.

    ## Why is this bad?
    These arguments belong to queue pools. `StaticPool`, the only pool that shares one
    in-memory database (and the default of aiosqlite), rejects them: `TypeError: Invalid
    argument(s) 'pool_size' sent to create_engine()` at engine creation. `NullPool` and
    `SingletonThreadPool` reject `max_overflow` and `pool_timeout` as well. Such arguments usually
    come from production settings applied to a test URL.

    ## Example
    ```python
    engine = create_async_engine("sqlite+aiosqlite://", pool_size=10, max_overflow=5)
    ```

    ## Use instead
    ```python
    engine = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    ```
    or pass the sizing arguments only when the URL is not in-memory.

    An async engine the test suite builds once for many tests is DBI006's: a file database takes
    these arguments.

    ## Fix safety
    The fix, which removes the sizing arguments, is unsafe: it changes what the call asks for,
    and the same code may serve other URLs. It is applied only with `--unsafe-fixes`.
    """

    code = "DBI004"
    name = "in-memory-sqlite-with-pool-sizing"
    fix_availability = "unsafe"

    def check(self, call: EngineCall) -> Optional[EngineVerdict]:
        if not call.url.in_memory or not call.sizing or call.shared_async_test_database:
            return None
        names = ", ".join(f"`{name}`" for name in call.sizing)
        noun, pronoun = ("arguments", "them") if len(call.sizing) > 1 else ("argument", "it")
        return EngineVerdict(
            f"Pool sizing {noun} {names} on an in-memory SQLite engine: StaticPool, which "
            f"this engine needs, rejects {pronoun} with TypeError",
            EngineFix(CallFix(drop_sizing=True), "unsafe", f"Remove {names}"),
        )
