"""The pytest plugin (`pytest --dbisolint-leaks`), run on the fixture projects with pytester."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from dbisolint.pytest_plugin import CONTAINER_TYPES
from dbisolint.state import CONTAINER_TYPES as STATIC_CONTAINER_TYPES

from .conftest import FIXTURES, run_dbisolint

pytest_plugins = ["pytester"]

POLLUTED_LEAKS = {
    ("tests/test_first.py::test_users_start_empty", "app.state._users"),
    ("tests/test_first.py::test_users_start_empty", "app.state._audit"),
    ("tests/test_first.py::test_blocked_start_empty", "app.state._blocked"),
    ("tests/test_first.py::test_queues_start_empty", "app.state._queues"),
    ("tests/test_first.py::test_settings_follow_the_environment", "app.state.settings"),
    ("tests/test_first.py::test_rate_limit_allows_two", "app.state.limiter._windows"),
    ("tests/test_first.py::test_registry_keeps_import_time_handlers", "app.state._handlers"),
    ("tests/test_second.py::test_users_start_empty", "app.state._users"),
    ("tests/test_second.py::test_users_start_empty", "app.state._audit"),
    ("tests/test_second.py::test_blocked_start_empty", "app.state._blocked"),
    ("tests/test_second.py::test_queues_start_empty", "app.state._queues"),
    ("tests/test_second.py::test_rate_limit_allows_two", "app.state.limiter._windows"),
}
# fixtures/plugin/state_kinds: each test of test_leaks.py leaks what its name says.
KINDS_LEAKS = {
    (f"tests/test_leaks.py::test_leaks_{test}", variable)
    for test, variable in [
        ("users", "app.store._users"),
        ("events", "app.store._events"),
        ("seen", "app.store._seen"),
        ("queues", "app.store._queues"),
        ("queues_nested_deque", "app.store._queues"),
        ("ordered", "app.store._ordered"),
        ("counts", "app.store._counts"),
        ("recent", "app.store._recent"),
        ("rebound", "app.store._rebound"),
        ("registry_extension", "app.store._registry"),
        ("registry_removal", "app.store._registry"),
        ("lookup_cache", "app.store.lookup"),
        ("settings_cache", "app.store.settings"),
        ("limiter_windows", "app.store.limiter._windows"),
        ("hidden", "app.unseen._hidden"),
        ("reset_elsewhere", "app.unseen._reset_elsewhere"),
    ]
}


def copy_project(pytester: pytest.Pytester, relative: str) -> Path:
    """Copy a fixture project into pytester's folder, importable as `python -m pytest` there makes it."""
    shutil.copytree(FIXTURES / relative, pytester.path, dirs_exist_ok=True)
    pytester.syspathinsert()
    return pytester.path


def run_with_report(pytester: pytest.Pytester, *args: str) -> Tuple[pytest.RunResult, List[Dict]]:
    result = pytester.runpytest_inprocess("--dbisolint-leaks-report=leaks.json", *args)
    return result, json.loads((pytester.path / "leaks.json").read_text())


def leaked(report: List[Dict]) -> Set[Tuple[str, str]]:
    """(test, variable) pairs, the variable as `module.name` or `module.name.attribute`."""
    names = {item["test"]: item for item in report}
    assert names, "the report is empty"
    return {
        (item["test"], ".".join(part for part in (item["module"], item["name"], item["attribute"]) if part))
        for item in report
    }


def test_inactive_unless_asked_and_cheap_to_import(pytester: pytest.Pytester) -> None:
    # A fresh process: this one has libcst loaded already.
    pytester.makepyfile(
        test_imports="""
        import sys

        def test_nothing_heavy_is_imported(request):
            heavy = {"libcst", "sqlalchemy", "dbisolint.checker"} & set(sys.modules)
            assert not heavy
            print("LEAK-WATCH-REGISTERED", request.config.pluginmanager.has_plugin("dbisolint-leaks"))
        """
    )
    off = pytester.runpytest_subprocess("-s")
    off.assert_outcomes(passed=1)
    off.stdout.fnmatch_lines(["*LEAK-WATCH-REGISTERED False"])
    assert "module state" not in off.stdout.str()
    # Asked for, it imports nothing heavy during the run either: with no leak, no static check.
    on = pytester.runpytest_subprocess("-s", "--dbisolint-leaks")
    on.assert_outcomes(passed=1)
    on.stdout.fnmatch_lines(
        ["*LEAK-WATCH-REGISTERED True", "*dbisolint: module state leaked*", "No test leaked module state*"]
    )


def test_names_exactly_the_leaking_tests_and_variables_of_the_polluted_suite(pytester: pytest.Pytester) -> None:
    copy_project(pytester, "projects/polluted_suite")
    result, report = run_with_report(pytester)
    result.assert_outcomes(failed=6, passed=8)  # the suite fails in file order, as it should
    assert leaked(report) == POLLUTED_LEAKS
    assert {item["static"] for item in report} == {"DBI101", "DBI102", "DBI103"}
    kinds = {item["name"]: item["kind"] for item in report}
    assert kinds == {
        "_users": "container", "_audit": "container", "_blocked": "container", "_queues": "container",
        "_handlers": "container", "settings": "cache", "limiter": "instance",
    }  # fmt: skip
    by_test = {(item["test"], item["name"]): item for item in report}
    nested = by_test["tests/test_second.py::test_queues_start_empty", "_queues"]
    assert (nested["size_before"], nested["size_after"], nested["changed"]) == (1, 1, ["'mail'"])
    handlers = by_test["tests/test_first.py::test_registry_keeps_import_time_handlers", "_handlers"]
    assert (handlers["size_before"], handlers["added"]) == (1, ["'extra'"])  # not 'default': import time
    assert handlers["next_test"] == "tests/test_first.py::test_pure_function"
    result.stdout.fnmatch_lines(
        [
            "*= dbisolint: module state leaked from test to test =*",
            "7 variables leaked by 10 tests; all agree with dbisolint's static verdicts.",
            "",
            "app.state._audit (list)  static: flagged by DBI101",
            "    tests/test_first.py::test_users_start_empty: size 0 -> 1, added 'added alice'",
            "    tests/test_second.py::test_users_start_empty: size 1 -> 2, added 'added bob'",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "app.state.settings (cache)  static: flagged by DBI102",
            "    *::test_settings_follow_the_environment: size 0 -> 1, 1 new cached result",
        ]
    )


def test_reports_every_kind_and_no_reset_or_import_time_state(pytester: pytest.Pytester) -> None:
    copy_project(pytester, "plugin/state_kinds")
    result, report = run_with_report(pytester)
    result.assert_outcomes(passed=24, skipped=1)
    assert leaked(report) == KINDS_LEAKS  # nothing of app.resets, app.reloaded, app.late
    statics = {item["name"]: item["static"] for item in report}
    assert statics["_hidden"] is None and statics["_reset_elsewhere"] == "reset"
    assert {code for name, code in statics.items() if name not in ("_hidden", "_reset_elsewhere")} == {
        "DBI101", "DBI102", "DBI103",
    }  # fmt: skip
    assert [item["name"] for item in report[:2]] == ["_hidden", "_reset_elsewhere"]  # disagreements first
    by_test = {item["test"].rsplit("_leaks_", 1)[1]: item for item in report}
    assert by_test["rebound"]["rebound"] and by_test["rebound"]["added"] == ["'fresh'"]
    assert by_test["registry_removal"]["removed"] == ["'legacy'"]
    assert by_test["counts"]["changed"] == ["'visits'"]
    assert by_test["lookup_cache"]["cached"] == 1
    assert by_test["limiter_windows"]["type"] == "dict in a RateLimiter"
    assert (by_test["users"]["module"], by_test["users"]["name"]) == ("app.store", "_users")  # not app.api
    result.stdout.fnmatch_lines(
        [
            "14 variables leaked by 16 tests; 2 disagree with dbisolint's static verdicts (listed first).",
            "",
            "app.unseen._hidden (dict)  static: not flagged  <- disagrees",
            "    tests/test_leaks.py::test_leaks_hidden: size 0 -> 1, added 'key'",
            "",
            "app.unseen._reset_elsewhere (list)  static: reset by the suite  <- disagrees",
        ]
    )
    result.stdout.fnmatch_lines(
        ["app.store.lookup (also app.api.cached_lookup) (cache)  static: flagged by DBI102"]
    )


def test_fail_mode_gives_each_leaking_test_an_error_in_its_teardown(pytester: pytest.Pytester) -> None:
    copy_project(pytester, "plugin/state_kinds")
    result = pytester.runpytest_inprocess("--dbisolint-leaks=fail")
    result.assert_outcomes(passed=24, skipped=1, errors=16)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    errors = {line.split()[1] for line in result.outlines if line.startswith("ERROR ")}
    assert errors == {test for test, _ in KINDS_LEAKS}
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_users*",
            "dbisolint: this test left module state that tests/test_leaks.py::test_leaks_events started with:",
            "  app.store._users (also app.api.users): size 0 -> 1, added 'alice'",
        ]
    )


def test_a_leak_is_what_the_next_test_that_runs_starts_with(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[project]\nname = 'p'\nversion = '0'\n")
    pytester.makepyfile(
        store="""
        _items = {}
        _cleared_by_the_next_setup = []
        _filled_at_import_cleared_in_setups = {"a": 1}
        """,
        test_order="""
        import pytest

        import store


        @pytest.fixture(autouse=True)
        def clear_before_each_test():
            store._filled_at_import_cleared_in_setups.clear()


        @pytest.fixture
        def clear():
            store._cleared_by_the_next_setup.clear()


        def test_leaks():
            store._items["a"] = 1
            store._cleared_by_the_next_setup.append(1)
            store._filled_at_import_cleared_in_setups["b"] = 2


        @pytest.mark.skip
        def test_skipped():
            pass


        def test_next(clear):
            pass


        def test_last_leaks_into_no_test():
            store._items["z"] = 26
        """,
    )
    result, report = run_with_report(pytester)
    assert [(item["test"], item["name"], item["next_test"]) for item in report] == [
        ("test_order.py::test_leaks", "_items", "test_order.py::test_next")
    ]


def test_objects_that_fail_when_looked_at_are_not_watched(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[project]\nname = 'p'\nversion = '0'\n")
    pytester.makepyfile(
        store="""
        class Proxy:  # as werkzeug's LocalProxy outside an application context
            def __getattr__(self, name):
                raise RuntimeError("outside of context")

            @property
            def __class__(self):
                raise RuntimeError("outside of context")


        current_user = Proxy()
        _items = []
        """,
        test_store="import store\n\ndef test_leaks():\n    store._items.append(1)\n\ndef test_next():\n    pass\n",
    )
    result, report = run_with_report(pytester)
    result.assert_outcomes(passed=2)
    assert [item["name"] for item in report] == ["_items"]


def test_fixtures_of_wider_scope_belong_to_no_test(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[project]\nname = 'p'\nversion = '0'\n")
    pytester.makepyfile(
        store="_registered = set()\n",
        test_wide="""
        import pytest

        import store


        @pytest.fixture(scope="class")
        def registered():
            store._registered.add("plugin")
            yield
            store._registered.discard("plugin")


        def test_before_the_class():
            assert not store._registered


        @pytest.mark.usefixtures("registered")
        class TestWithThePlugin:
            def test_one(self):
                assert store._registered == {"plugin"}

            def test_two(self):
                assert store._registered == {"plugin"}


        def test_after_the_class():
            assert not store._registered


        def test_last():
            pass
        """,
    )
    result, report = run_with_report(pytester)
    result.assert_outcomes(passed=5)
    assert report == []


def test_without_static_verdicts_the_leaks_are_still_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[project]\nname = 'p'\nversion = '0'\n")
    pytester.makepyfile(store="_items = {}\n")
    pytester.mkdir("tests")
    # Not collected; unparsable, and it may reset the state that leaks: the static rules give up.
    (pytester.path / "tests" / "helpers.py").write_text("import store\nstore._items.clear()\nprint 'python 2'\n")
    (pytester.path / "tests" / "test_store.py").write_text(
        "import store\n\ndef test_leaks():\n    store._items[1] = 1\n\ndef test_next():\n    pass\n"
    )
    pytester.syspathinsert()
    result, report = run_with_report(pytester)
    assert [(item["name"], item["static"]) for item in report] == [("_items", None)]
    result.stdout.fnmatch_lines(
        [
            "1 variable leaked by 1 test; dbisolint's static verdicts are unavailable: "
            "tests/helpers.py: this test file cannot be parsed*",
            "",
            "store._items (dict)  static: unknown",
        ]
    )


def test_after_fix_the_polluted_suite_leaks_nothing(pytester: pytest.Pytester) -> None:
    project = copy_project(pytester, "projects/polluted_suite")
    fixed = run_dbisolint(["--fix", "."], cwd=project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    result, report = run_with_report(pytester, "--dbisolint-leaks=fail")
    result.assert_outcomes(passed=14)
    assert report == []
    result.stdout.fnmatch_lines(["No test leaked module state (7 variables watched)."])


def test_after_fix_only_what_the_static_rules_miss_still_leaks(pytester: pytest.Pytester) -> None:
    project = copy_project(pytester, "plugin/state_kinds")
    assert run_dbisolint(["--fix", "."], cwd=project).returncode == 0
    _result, report = run_with_report(pytester)
    assert leaked(report) == {
        ("tests/test_leaks.py::test_leaks_hidden", "app.unseen._hidden"),
        ("tests/test_leaks.py::test_leaks_reset_elsewhere", "app.unseen._reset_elsewhere"),
    }


def test_watches_the_container_types_the_static_rules_know() -> None:
    for qualified in STATIC_CONTAINER_TYPES:
        module, name = qualified.rsplit(".", 1)
        assert issubclass(getattr(importlib.import_module(module), name), CONTAINER_TYPES), qualified


def test_a_bad_configuration_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.dbisolint]\nsrc = "app"\n')
    result = pytester.runpytest_inprocess("--dbisolint-leaks")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dbisolint-leaks:*`src` must be a list of strings*"])
