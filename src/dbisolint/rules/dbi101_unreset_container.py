from __future__ import annotations

from typing import Iterator, Tuple

from ..rule import StateRule
from ..state_facts import Definition, ProjectState, describe_test_body_resets


class UnresetModuleContainer(StateRule):
    """
    ## What it does
    Checks for module-level mutable containers (dicts, lists, sets, `defaultdict`, `deque`,
    `Counter`, `OrderedDict`, and constructors named in `container-constructors`) that code
    mutates at runtime, inside a function or method of their module or of a module that imports
    them, and that the test suite never resets.

    ## Why is this bad?
    Every test in a pytest process shares every module-level object. A cache, a store or a rate
    limiter's window filled by one test is what the next test reads, so tests pass or fail
    depending on their order (pytest-randomly, pytest-xdist and `-k` expose it).

    A reset counts when it runs around every test: in an autouse fixture (a conftest.py covering
    the tests, or the test module), or in `setup_method`/`teardown_method`/`setUp`/`tearDown`:
    `.clear()`, `monkeypatch.setattr`, `mock.patch.dict`, reassignment, `importlib.reload`, or a
    call of a project function that does one of these. A reset inside one test body protects no
    other test.

    Not reported: containers only filled at import (lookup tables, `__all__`, registries filled
    by a module-level loop), a set of asyncio tasks drained by
    `task.add_done_callback(tasks.discard)`, weak-reference containers (unless
    `include-weak-containers`), containers in test files (unless `include-test-state`), and a
    line with `# noqa: DBI101`.

    ## Example
    ```python
    # app/store.py
    _store: dict[str, str] = {}


    def remember(key, value):
        _store[key] = value
    ```

    ## Use instead
    Reset it around every test, in the tests' conftest.py:
    ```python
    @pytest.fixture(autouse=True)
    def _reset_store():
        saved = dict(store._store)
        yield
        store._store.clear()
        store._store.update(saved)
    ```

    ## Fix safety
    The fix is safe: it writes one managed autouse fixture into the conftest.py at the root of
    the tests (creating it if needed, leaving the rest of the file as it was) that snapshots each
    flagged container before every test and restores it after, in place, so contents filled at
    import survive. It touches only modules the tests have already imported.
    """

    code = "DBI101"
    name = "unreset-module-container"
    fix_availability = "safe"

    def check(self, project: ProjectState) -> Iterator[Tuple[Definition, str]]:
        for definition in project.state_definitions("container"):
            if definition.weak and not project.include_weak:
                continue
            target = definition.target
            mutation = project.mutations.get(target)
            if mutation is None or target in project.drained or project.is_reset(definition):
                continue
            where = mutation.function.rsplit(".", 1)[-1]
            yield definition, (
                f"Module-level {definition.detail} `{definition.name}` is mutated at runtime "
                f"(in `{where}`, {mutation.site}) and the tests never reset it"
                + describe_test_body_resets(project, target)
            )
