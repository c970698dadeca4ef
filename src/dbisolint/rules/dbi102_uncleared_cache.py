from __future__ import annotations

from typing import Iterator, Tuple

from ..rule import StateRule
from ..state_facts import Definition, ProjectState, describe_test_body_resets


class UnclearedFunctionCache(StateRule):
    """
    ## What it does
    Checks for module-level functions decorated with `functools.lru_cache` or
    `functools.cache` (under any import spelling) whose `cache_clear()` the test suite never
    calls around each test.

    ## Why is this bad?
    A cached function remembers what the first test computed: settings read from the
    environment, a client built for one URL, a result that depended on a patched dependency. A
    later test that changes the environment or the patch still gets the old value, so the
    outcome depends on which test ran first.

    ## Example
    ```python
    @functools.lru_cache
    def get_settings():
        return Settings()
    ```

    ## Use instead
    ```python
    @pytest.fixture(autouse=True)
    def _clear_settings_cache():
        config.get_settings.cache_clear()
        yield
        config.get_settings.cache_clear()
    ```

    ## Fix safety
    The fix is safe: the managed autouse fixture in the tests' root conftest.py (see DBI101)
    calls `cache_clear()` before and after every test.
    """

    code = "DBI102"
    name = "uncleared-function-cache"
    fix_availability = "safe"

    def check(self, project: ProjectState) -> Iterator[Tuple[Definition, str]]:
        for definition in project.state_definitions("cache"):
            if project.is_reset(definition):
                continue
            decorator = definition.detail.rsplit(".", 1)[-1]
            yield definition, (
                f"`{definition.name}` is cached by `functools.{decorator}` and the tests never "
                f"call `{definition.name}.cache_clear()`: a result cached in one test is seen by the next"
                + describe_test_body_resets(project, definition.target)
            )
