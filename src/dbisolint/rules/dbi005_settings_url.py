from __future__ import annotations

from typing import Iterator, Tuple

from ..rule import UrlRule
from ..url_facts import UrlCandidate, UrlJoin, pool_consequence


class SettingsUrlInMemoryWithoutStaticPool(UrlRule):
    """
    ## What it does
    Checks for SQLAlchemy engines whose URL is not a literal but comes from an environment
    variable or a settings field that the test suite points at in-memory SQLite (or whose own
    default is in-memory), when nothing on the engine's code path sets `poolclass=StaticPool`.

    ## Why is this bad?
    The tests set `DATABASE_URL=sqlite+aiosqlite://` (in conftest.py, with `monkeypatch.setenv`,
    or pytest-env's `env`) and the application builds its engine as
    `create_async_engine(settings.database_url, **engine_kwargs(url))`. No in-memory literal stands
    near the engine, so DBI001-DBI004 cannot see it, yet every test runs on an in-memory database
    with whatever pool the production path picks: `NullPool` (a new empty database per
    connection), a queue pool (one per pooled connection, or a `TypeError` for its sizing
    arguments), or the default (one database per thread for sync drivers).

    The URL is followed through the module: names, parameter defaults, `self.<attr>` assigned by
    the class, the returns of the module's own helpers, `str()`, f-strings around one value,
    conditional expressions, `os.getenv`/`os.environ.get`/`os.environ[...]`, and pydantic
    `BaseSettings` fields (matched to environment variables by name, case-insensitively, with
    `env_prefix` and `alias`/`validation_alias`). StaticPool counts as set when the call or the
    `**kwargs` helper sets it, also conditionally (`if is_in_memory(url): kwargs["poolclass"] =
    StaticPool`, `poolclass=StaticPool if ... else None`). A path that cannot be read is not
    reported.

    ## Example
    ```python
    # tests/conftest.py
    os.environ["DATABASE_URL"] = "sqlite+aiosqlite://"

    # app/db.py
    engine = create_async_engine(settings.database_url, **engine_kwargs(settings.database_url))
    ```

    ## Use instead
    ```python
    engine = create_async_engine(
        settings.database_url,
        **engine_kwargs(settings.database_url),
        poolclass=StaticPool if _is_in_memory_sqlite(settings.database_url) else None,
    )
    ```
    or point the tests at a temporary file database instead: one aiosqlite connection shared by
    several event loops (pytest-asyncio's loop per test) can hang.

    ## Fix safety
    The fix is safe where it applies: it adds `poolclass=StaticPool if
    _is_in_memory_sqlite(url) else None` (`None` keeps SQLAlchemy's default pool for every other
    URL, so production keeps its pool arguments), a small module-level `_is_in_memory_sqlite`
    that decides with `sqlalchemy.engine.make_url`, and the StaticPool import; for sync drivers
    without `connect_args` on the path, also `check_same_thread=False` for in-memory URLs. It is
    offered only when the URL is a plain name or attribute (evaluated twice) and no pool argument
    stands in the way.
    """

    code = "DBI005"
    name = "settings-url-in-memory-without-static-pool"
    fix_availability = "safe"

    def check(self, join: UrlJoin) -> Iterator[Tuple[UrlCandidate, str]]:
        for candidate in join.candidates():
            if candidate.pool in ("static", "unknown") or candidate.suppressed or join.async_test_origin(candidate):
                continue  # StaticPool is set, cannot be known, or cannot help (DBI006)
            origin = join.in_memory_origin(candidate)
            if origin is None:
                continue
            url, where = origin
            yield candidate, (
                f"Engine URL can be in-memory SQLite `{url}` ({where}), and nothing on this path "
                f"sets `poolclass=StaticPool`: {pool_consequence(candidate.pool, url)}"
            )
