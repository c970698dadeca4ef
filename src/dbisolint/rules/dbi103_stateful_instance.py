from __future__ import annotations

from typing import Iterator, Tuple

from ..rule import StateRule
from ..state_facts import (
    Definition,
    ProjectState,
    describe_test_body_resets,
    join_lines,
)


class UnresetModuleInstance(StateRule):
    """
    ## What it does
    Checks for module-level instances of the project's own classes that keep mutable state in
    their attributes (a container assigned to `self.<name>` and mutated by the methods, like a
    rate limiter's `self._windows = {}`), when the test suite never resets them.

    ## Why is this bad?
    The instance lives as long as the process: requests counted, items queued or sessions
    remembered by one test are still there in the next. A rate limiter that allowed five calls
    in the first test refuses the sixth call made by a later one.

    Not reported: a registry, an instance whose own module applies its methods as decorators at
    import (`register = Library()` then `@register.filter`) and calls none of them from a function.

    A reset counts as for DBI101, on the instance or on one of its attributes
    (`limiter._windows.clear()`, `monkeypatch.setattr(limits, "limiter", RateLimiter())`), or a
    method of it that resets its attributes (`limiter.reset()` whose body clears `self._windows`).

    ## Example
    ```python
    class RateLimiter:
        def __init__(self):
            self._windows = {}

        def hit(self, key):
            self._windows[key] = self._windows.get(key, 0) + 1


    limiter = RateLimiter()
    ```

    ## Use instead
    Reset its state around every test:
    ```python
    @pytest.fixture(autouse=True)
    def _reset_limiter():
        yield
        limits.limiter._windows.clear()
    ```

    ## Fix safety
    The fix is safe: the managed autouse fixture in the tests' root conftest.py (see DBI101)
    snapshots the instance's state attributes before every test and restores them after.
    """

    code = "DBI103"
    name = "unreset-module-instance"
    fix_availability = "safe"

    def check(self, project: ProjectState) -> Iterator[Tuple[Definition, str]]:
        for definition in project.state_definitions("instance"):
            attributes = project.state_attributes(definition)
            if not attributes or project.is_reset(definition) or project.is_registry(definition):
                continue
            cls = definition.detail.rsplit(".", 1)[-1]
            yield definition, (
                f"Module-level `{definition.name}` ({cls}) keeps state in {join_lines(attributes)} "
                "from one test to the next, and the tests never reset it"
                + describe_test_body_resets(project, definition.target)
            )
