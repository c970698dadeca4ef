from __future__ import annotations

from typing import Iterator, Set, Tuple

from ..rule import UrlRule
from ..url_facts import TestDatabase, UrlJoin


class AsyncSuiteOnInMemorySqlite(UrlRule):
    """
    ## What it does
    Checks for test suites that give an async SQLAlchemy engine an in-memory SQLite database
    shared by many tests. It looks where code runs once for many tests (conftest.py and test
    modules at import, session-, package-, module- and class-scoped fixtures, pytest's start-up
    hooks, pytest-env's `env`) for an environment variable or settings field set to an aiosqlite
    in-memory URL, and for such an engine built there.

    ## Why is this bad?
    An aiosqlite in-memory database lives inside its one connection; the dialect already gives it
    `StaticPool`. Whenever that connection goes, the next one opens a new, empty database, and every
    later test fails with "no such table": when the application's lifespan shutdown calls
    `await engine.dispose()` (each `TestClient` or `LifespanManager` block runs it), when a
    connection is invalidated after an error or a cancelled task, or when a test disposes the
    engine. StaticPool cannot prevent it: it is the pool that already holds that one connection.
    One aiosqlite connection shared by several event loops (pytest-asyncio's loop per test) can
    also hang. On a real 5,373-test async suite, an explicit StaticPool left its 75 failures in
    file order as they were; a temporary file database removed every "no such table".

    An engine built inside a test or a function-scoped fixture is not reported: each test then
    gets a fresh database, as intended. Nor is a variable read only by such engines.

    ## Example
    ```python
    # tests/conftest.py
    os.environ["DATABASE_URL"] = "sqlite+aiosqlite://"

    # app/db.py
    engine = create_async_engine(os.environ["DATABASE_URL"])
    ```

    ## Use instead
    ```python
    # tests/conftest.py
    _DBISOLINT_DATABASE_DIR = tempfile.mkdtemp(prefix="dbisolint-")  # one per test process
    atexit.register(shutil.rmtree, _DBISOLINT_DATABASE_DIR, ignore_errors=True)

    os.environ["DATABASE_URL"] = "sqlite+aiosqlite:///" + os.path.join(
        _DBISOLINT_DATABASE_DIR, "database_url.db"
    )
    ```
    The file database outlives every connection, so disposing the engine loses nothing. It is
    created when conftest.py is imported, once per test process (each pytest-xdist worker gets
    its own), and removed when the process exits.

    For sync engines StaticPool with `check_same_thread=False` does cure the threads (DBI001), but
    the same file database is the better cure when the application disposes its engine during
    the tests.

    ## Fix safety
    The fix is unsafe, applied only with `--unsafe-fixes`: it points the URL at a temporary file
    database (keeping the driver), creates the folder once per test process and removes it at
    exit, with the imports it needs. It changes what the engine's connections share: with the
    application's own pool, each connection sees only committed data, and two connections writing
    at once can meet "database is locked", where the in-memory database had one connection for
    everything. It is offered when the URL is a plain string or constant with nothing but the
    in-memory database in it; a value from pytest-env's `env` is reported without a fix.

    ## References
    - [SQLAlchemy: Using a Memory Database in Multiple Threads](https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#using-a-memory-database-in-multiple-threads)
    - [SQLAlchemy: `Engine.dispose()`](https://docs.sqlalchemy.org/en/20/core/connections.html#engine-disposal)
    """

    code = "DBI006"
    name = "async-suite-on-in-memory-sqlite"
    fix_availability = "unsafe"

    def check(self, join: UrlJoin) -> Iterator[Tuple[TestDatabase, str]]:
        seen: Set[Tuple[str, int, int]] = set()
        for database in join.test_databases():
            key = (database.path, database.start.row, database.start.column)
            if database.suppressed or key in seen:
                continue
            seen.add(key)
            readers = join.readers(database)
            if readers and all(reader.per_test for reader in readers):
                continue  # each test builds its own engine, and so its own database
            if database.kind == "engine":
                what = f"Async engine on the in-memory SQLite database `{database.url}`, shared by many tests"
            else:
                what = f"`{database.name}` gives an async engine the in-memory SQLite database `{database.url}` for many tests"
            bound = {reader.bound_to for reader in readers} | {database.bound_to}
            disposal = join.disposal({name for name in bound if name})
            disposed = f" (`{disposal}` disposes it)" if disposal else ""
            yield database, (
                f"{what}: it lives in one connection and is lost, with its tables, whenever the engine "
                f"is disposed{disposed} or its connection invalidated; use a temporary file database"
            )
