"""pytest plugin: `pytest --dbisolint-leaks` names the tests that leak module state (see issue 8).

Registered for every pytest run where dbisolint is installed, so importing it must stay cheap:
nothing is imported or done unless the option is given.

What is watched: the project's own modules (under the project root or a source root, as dbisolint
finds them from pytest's rootdir; not the standard library, site-packages or the test suite), and
in them the module-level containers, `functools` caches, and container attributes of instances of
project classes. Each is fingerprinted (identity, size, a shallow tuple of its items), never copied.

When a change is a leak. Three fingerprints per test: `before`, when its first own (function-scoped)
fixture is about to be set up, after those of wider scope; `start`, when its body is about to run
(its setup passed); `after`, when its own fixtures are torn down, before those of wider scope (a
finalizer registered ahead of its fixtures'). What the test added (in `after`, not in `before`) or
removed (in `before` and `start`, not in `after`) is a leak when the next test's body still starts
with it. So a reset in the test's teardown leaves no change, a reset in the next test's
setup leaves nothing behind, state filled at import (also by a module first imported during a
test) is in no `before`, and fixtures of wider scope belong to no single test.
"""

from __future__ import annotations

import operator
import os
import reprlib
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import AbstractSet, Any, Dict, Iterable, List, NamedTuple, Optional, Set, Tuple, Union

import pytest

# The container types DBI101 knows (state.CONTAINER_TYPES); defaultdict, OrderedDict and Counter
# are dicts. Not imported from there: state.py imports libcst.
CONTAINER_TYPES = (dict, list, set, bytearray, deque)
MISSING = object()  # a watched name or attribute that is gone
SHOWN_ITEMS = 3  # added or removed items shown per change in the terminal
SHOWN_TESTS = 5  # leaking tests shown per variable in the terminal (the JSON report has them all)
# (identity, size, keys, values): for a mapping, tuples of its keys and values; for a set, None and
# a frozenset of it; for a list or deque, None and a tuple of its items; for a cache, None and its
# misses since it was last cleared; for anything else, None and (a stand-in for it,). Unhashable
# values and items are replaced by stand-ins.
Fingerprint = Tuple[int, Optional[int], Optional[Tuple[Any, ...]], Any]
Snapshot = Dict["Watched", Fingerprint]


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    group = parser.getgroup("dbisolint")
    group.addoption(
        "--dbisolint-leaks",
        nargs="?",
        const="report",
        default=None,
        choices=("report", "fail"),
        help="Report the tests that leave module state behind (fail: make them fail).",
    )
    group.addoption(
        "--dbisolint-leaks-report",
        metavar="PATH",
        default=None,
        help="Write the leaks as JSON to PATH (implies --dbisolint-leaks).",
    )


def pytest_configure(config: pytest.Config) -> None:
    mode = config.getoption("dbisolint_leaks")
    report_path = config.getoption("dbisolint_leaks_report")
    if mode is None and report_path is None:
        return
    if report_path is not None:
        report_path = os.path.join(config.invocation_params.dir, report_path)
    config.pluginmanager.register(LeakWatch(config, mode == "fail", report_path), "dbisolint-leaks")


# -- fingerprints ---------------------------------------------------------------------------------
class Opaque(NamedTuple):
    """Stands for an unhashable item (a nested dict, a deque): its type, identity and size."""

    type: str
    identity: int
    size: Optional[int]

    def __repr__(self) -> str:
        return f"<{self.type} of {self.size}>" if self.size is not None else f"<{self.type}>"


def stand_in(item: Any) -> Any:
    if type(item).__hash__ is not None:  # no exception raised for the usual unhashables: it is slow
        try:
            hash(item)
            return item
        except Exception:  # a tuple holding a list, a broken __hash__
            pass
    try:
        size: Optional[int] = len(item)
    except Exception:
        size = None
    return Opaque(type(item).__name__, id(item), size)


def fingerprint(value: Any, kind: str) -> Fingerprint:
    if isinstance(value, dict):  # keys and values apart: no tuple per item, twice as fast
        if not value:  # the usual state of a dict between tests
            return id(value), 0, (), ()
        keys: Optional[Tuple[Any, ...]] = tuple(value)
        items = tuple(value.values())
    elif isinstance(value, set):
        return id(value), len(value), None, frozenset(value)
    elif isinstance(value, CONTAINER_TYPES):
        keys, items = None, tuple(value)
    elif kind == "cache" and hasattr(value, "cache_info"):
        info = value.cache_info()
        return id(value), info.currsize, None, info.misses  # cache_clear() zeroes the statistics
    else:  # rebound to something that is not a container
        return id(value), None, None, (stand_in(value),)
    try:
        hash(items)
    except Exception:  # nested containers: one level down, by identity and size
        items = _value_stand_ins(items) if keys is not None else tuple(map(stand_in, items))
    return id(value), len(items), keys, items


_type_name = operator.attrgetter("__name__")


def _value_stand_ins(values: Tuple[Any, ...]) -> Tuple[Any, ...]:
    """A mapping's values with stand-ins, at C speed when none is hashable (a dict of lists); they
    equal Opaque ones, but are never shown, so they need not be of that class."""
    if all(kind.__hash__ is None for kind in set(map(type, values))):
        try:
            return tuple(zip(map(_type_name, map(type, values)), map(id, values), map(len, values)))
        except TypeError:  # one without a size
            pass
    return tuple(map(stand_in, values))


def is_cache(value: Any) -> bool:
    """A `functools.lru_cache` or `cache` function (or anything that keeps the same statistics)."""
    if not (callable(value) and hasattr(value, "cache_clear") and callable(getattr(value, "cache_info", None))):
        return False
    try:
        info = value.cache_info()
    except Exception:  # an object that only looks like one
        return False
    return isinstance(getattr(info, "misses", None), int) and isinstance(getattr(info, "currsize", None), int)


# -- what is watched ------------------------------------------------------------------------------
@dataclass(eq=False)
class Watched:
    """A module-level container or cache, or a container attribute of a module-level instance."""

    module: ModuleType
    name: str
    attribute: Optional[str]
    kind: str  # "container", "cache", "instance"
    aliases: List[str] = field(default_factory=list)  # other `module.name` it was found under
    namespace: Dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.namespace = vars(self.module)

    @property
    def target(self) -> str:
        """`module.name`, as dbisolint's static verdicts name it."""
        return f"{self.module.__name__}.{self.name}"

    def read(self) -> Any:
        value = self.namespace.get(self.name, MISSING)
        return value if self.attribute is None else getattr(value, self.attribute, MISSING)

    def fingerprint(self) -> Fingerprint:
        return fingerprint(self.read(), self.kind)


class ProjectModules:
    """Which modules are the project's own: under the project's root or source roots as dbisolint
    finds them (dbisolint.project), not installed, not the test suite."""

    def __init__(self, config: pytest.Config) -> None:
        import sysconfig

        from .config import ConfigError, find_config_file, load_config
        from .project import Project

        rootpath = config.rootpath.resolve()
        self.config_file = find_config_file(rootpath)
        try:
            settings = load_config(self.config_file)
        except ConfigError as error:
            raise pytest.UsageError(f"--dbisolint-leaks: {error}") from None
        self.project = Project.of(rootpath, settings)
        self.roots = tuple(
            os.path.join(os.path.realpath(root), "") for root in {self.project.root, *self.project.src_roots}
        )
        paths = sysconfig.get_paths()
        installed = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
        self.installed = tuple(os.path.join(os.path.realpath(path), "") for path in installed)

    def __contains__(self, module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or module.__name__ == __name__:
            return False
        path = os.path.realpath(path)
        if path.startswith(self.installed) or not path.startswith(self.roots):
            return False
        parts = path.split(os.sep)
        return "site-packages" not in parts and "dist-packages" not in parts and not self.project.is_test(Path(path))


# -- changes ------------------------------------------------------------------------------------
@dataclass
class Change:
    """What one test did to one watched variable and left behind."""

    test: pytest.Item
    watched: Watched
    shape: str  # "dict", "deque", "cache", "dict in a RateLimiter", ...
    is_mapping: bool
    before: Fingerprint
    after: Fingerprint
    added: Union[AbstractSet[Any], Counter]  # items (for a mapping: key/value pairs)
    removed: Union[AbstractSet[Any], Counter]
    cached: int = 0  # for a cache: the results it added
    next_test: str = ""  # the test whose body started with it

    @classmethod
    def of(
        cls, test: pytest.Item, watched: Watched, before: Fingerprint, start: Fingerprint, after: Fingerprint
    ) -> Optional["Change"]:
        value = watched.read()
        shape = type(value).__name__
        if watched.attribute is not None:
            shape += f" in a {type(watched.namespace.get(watched.name)).__name__}"
        if isinstance(before[3], int) and isinstance(after[3], int):  # a cache: count its misses
            cached = after[3] - before[3] if after[3] >= before[3] else after[3]  # else: cleared, refilled
            if cached <= 0:
                return None  # only read, or cleared
            return cls(test, watched, "cache", False, before, after, frozenset(), frozenset(), cached)
        before_items, after_items = _items(before), _items(after)
        start_items = before_items if start is before else _items(start)
        items = (before_items, start_items, after_items)
        if len({isinstance(collection, Counter) for collection in items}) > 1:  # a set rebound to a list...
            before_items, start_items, after_items = map(Counter, items)
        added = after_items - before_items
        removed = (before_items & start_items) - after_items  # what the setup removed: a reset
        if not added and not removed:
            return None  # reordered, or rebound to an equal object (a reset by reassignment)
        return cls(test, watched, shape, isinstance(value, dict), before, after, added, removed)

    def survives(self, start: Fingerprint) -> bool:
        """Whether the next test's body starts with some of this change."""
        if start == self.after:
            return True
        if self.cached:  # not cleared since: the statistics only grow
            return start[0] == self.after[0] and isinstance(start[3], int) and start[3] >= self.after[3]
        present, left = _items(start), _items(self.after)
        if isinstance(present, Counter) and isinstance(left, Counter):  # all the copies it added, or not
            return any(present[item] >= left[item] for item in self.added) or any(
                present[item] <= left[item] for item in self.removed
            )
        return any(item in present for item in self.added) or any(item not in present for item in self.removed)

    def details(self) -> Dict[str, Any]:
        """Size before and after, and the added, removed and changed keys (or items), in order."""
        added = list(dict.fromkeys(item for item in _in_order(self.after) if item in self.added))
        removed = list(dict.fromkeys(item for item in _in_order(self.before) if item in self.removed))
        changed: List[Any] = []
        if self.is_mapping:
            added, removed = [_key(item) for item in added], [_key(item) for item in removed]
            changed = [key for key in added if key in removed]
            added = [key for key in added if key not in changed]
            removed = [key for key in removed if key not in changed]
        return {
            "size_before": self.before[1],
            "size_after": self.after[1],
            "rebound": self.before[0] != self.after[0],
            "cached": self.cached,
            "added": added,
            "removed": removed,
            "changed": changed,
        }

    def summary(self) -> str:
        """One line: `size 0 -> 1, added 'alice'`."""
        details = self.details()
        text = ["rebound to another object"] if details["rebound"] else []
        text.append(f"size {details['size_before']} -> {details['size_after']}")
        if self.cached:
            text.append(f"{self.cached} new cached result{'s' if self.cached > 1 else ''}")
        for name in ("added", "changed", "removed"):
            items = details[name]
            if items:
                more = f" (+{len(items) - SHOWN_ITEMS} more)" if len(items) > SHOWN_ITEMS else ""
                text.append(f"{name} {', '.join(map(reprlib.repr, items[:SHOWN_ITEMS]))}{more}")
        return ", ".join(text)


def _items(print_: Fingerprint) -> Union[AbstractSet[Any], Counter]:
    """The items of a fingerprint, to tell what was added or removed: a set (of key/value pairs for
    a mapping), or for a list or deque a multiset."""
    _identity, _size, keys, values = print_
    if keys is not None:
        return set(zip(keys, values))
    if isinstance(values, frozenset):
        return values
    return Counter(values) if isinstance(values, tuple) else frozenset()


def _in_order(print_: Fingerprint) -> Iterable[Any]:
    _identity, _size, keys, values = print_
    if keys is not None:
        return zip(keys, values)
    if isinstance(values, frozenset):
        return sorted(values, key=repr)
    return values if isinstance(values, tuple) else ()


def _key(item: Any) -> Any:
    """A mapping's items are (key, value) pairs (unless it was rebound from something else)."""
    return item[0] if isinstance(item, tuple) and len(item) == 2 else item


# -- the plugin ---------------------------------------------------------------------------------
class LeakWatch:
    """Registered when the option is given: fingerprints around every test, reports at the end."""

    def __init__(self, config: pytest.Config, fail: bool, report_path: Optional[str]) -> None:
        self.fail = fail
        self.report_path = report_path
        self.modules = ProjectModules(config)
        self.watched: List[Watched] = []
        self.by_identity: Dict[int, Watched] = {}  # id of the watched object -> its first name
        self.examined: Dict[str, ModuleType] = {}  # module name -> the module object scanned
        self.module_count = 0  # len(sys.modules) at the last scan
        self.test: Optional[pytest.Item] = None  # from `begin` to `end`
        self.before: Snapshot = {}
        self.start: Snapshot = {}  # only where it differs from `before`
        self.setup_fixtures = False  # whether the test has fixtures of its own, which may change state
        self.changing: Set[Watched] = set()  # those that changed at some point: `start` looks closer
        self.after: Optional[Snapshot] = None  # of the last test: the next `before`, if nothing ran since
        self.pending: List[Change] = []  # changes of the last test, until the next body starts
        self.leaks: List[Change] = []
        self.unfailed: List[Change] = []  # with fail: leaks whose tests have not failed yet
        self.verdicts: Optional[Dict[str, str]] = None  # dbisolint's, once checked
        self.static_error = ""  # why there are none

    # watching ---------------------------------------------------------------------------------
    def scan(self) -> None:
        """Watch the state of the project modules imported (or imported anew) since the last scan.

        sys.modules is in the order imports finished: a module comes after those it imports from,
        so an object imported elsewhere is named after the module that defines it first.
        """
        for name, module in list(sys.modules.items()):
            previous = self.examined.get(name)
            if previous is module:
                continue
            self.examined[name] = module
            if previous is not None:  # re-imported: its old objects are nobody's state any more
                self.watched = [watched for watched in self.watched if watched.module is not previous]
            if isinstance(module, ModuleType) and module in self.modules:
                self.watch(module)
        self.module_count = len(sys.modules)

    def watch(self, module: ModuleType) -> None:
        for name, value in list(vars(module).items()):
            if name.startswith("__") and name.endswith("__"):
                continue
            try:
                kind = "container" if isinstance(value, CONTAINER_TYPES) else "cache" if is_cache(value) else None
                instance = kind is None and self.is_project_instance(value)
            except Exception:  # a lazy proxy that fails when looked at (outside its context): not watched
                continue
            if kind is not None:
                self.add(Watched(module, name, None, kind), value)
            elif instance:
                for attribute, item in vars(value).items():
                    if isinstance(item, CONTAINER_TYPES):
                        self.add(Watched(module, name, attribute, "instance"), item)

    def is_project_instance(self, value: Any) -> bool:
        if isinstance(value, (type, ModuleType)) or not isinstance(getattr(value, "__dict__", None), dict):
            return False
        defined_in = sys.modules.get(type(value).__module__)
        return defined_in is not None and defined_in in self.modules

    def add(self, watched: Watched, value: Any) -> None:
        """Watch `value` once: an object imported into another module is an alias of the first."""
        known = self.by_identity.get(id(value))
        if known is not None and known.read() is value:
            known.aliases.append(watched.target)
        else:
            self.by_identity[id(value)] = watched
            self.watched.append(watched)

    def snapshot(self) -> Snapshot:
        if len(sys.modules) != self.module_count:
            self.scan()
        prints = {}
        for watched in self.watched:  # Watched.fingerprint, inlined: most of the plugin's time is here
            value = watched.namespace.get(watched.name, MISSING)
            if watched.attribute is not None:
                value = getattr(value, watched.attribute, MISSING)
            prints[watched] = fingerprint(value, watched.kind)
        return prints

    # around each test ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> None:
        if fixturedef.scope != "function":  # may change state between two tests
            self.after = None
        elif self.test is not request.node:  # its first own fixture: fixtures of wider scope are set up
            self.begin(request.node, setup_fixtures=True)

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef) -> None:
        if fixturedef.scope != "function":
            self.after = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        """The setup passed: the test's body starts now, with what the last test left, or not."""
        if len(sys.modules) != self.module_count:
            self.scan()
        for change in self.pending:
            if change.survives(change.watched.fingerprint()):
                change.next_test = item.nodeid
                self.leaks.append(change)
                if self.fail:
                    self.unfailed.append(change)
        self.pending = []
        if self.test is not item:  # no fixture of its own
            self.begin(item, setup_fixtures=False)
        if self.setup_fixtures:
            self.start = self.start_snapshot()

    def start_snapshot(self) -> Snapshot:
        """The fingerprints that may differ from `before` where the removal rule needs them: not for
        what was empty (nothing to remove), nor caches (judged by their misses); for what has changed
        before, or now has another identity or size. A setup that replaces import-time content at
        equal size is not seen."""
        start, changing = {}, self.changing
        for watched, before in self.before.items():
            if before[1] == 0 or watched.kind == "cache":
                continue
            value = watched.namespace.get(watched.name, MISSING)
            if watched.attribute is not None:
                value = getattr(value, watched.attribute, MISSING)
            size = len(value) if isinstance(value, CONTAINER_TYPES) else None
            if watched in changing or id(value) != before[0] or size != before[1]:
                changing.add(watched)
                start[watched] = fingerprint(value, watched.kind)
        return start

    def begin(self, test: pytest.Item, setup_fixtures: bool) -> None:
        """Before the test's own fixtures (if any); its teardown ends with `end`."""
        nothing_ran_since = self.after is not None and len(sys.modules) == self.module_count
        self.test, self.setup_fixtures, self.start = test, setup_fixtures, {}
        self.before = self.after if self.after is not None and nothing_ran_since else self.snapshot()
        test.addfinalizer(self.end)  # the first of its finalizers: run last, before those of wider scope

    def end(self) -> None:
        """After the test's own fixtures are torn down: what it changed waits for the next test."""
        test, before, self.test = self.test, self.before, None
        self.after = after = self.snapshot()
        if after == before:  # the usual case, told at C speed
            return
        for watched, print_ in after.items():
            old = before.get(watched)
            if old is not None and old != print_:  # None: imported during the test
                self.changing.add(watched)
                change = Change.of(test, watched, old, self.start.get(watched, old), print_)
                if change is not None:
                    self.pending.append(change)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logfinish(self) -> None:
        """With `fail`: each leaking test gets an error in its teardown, as soon as it is known."""
        by_test: Dict[pytest.Item, List[Change]] = {}
        for change in self.unfailed:
            by_test.setdefault(change.test, []).append(change)
        self.unfailed = []
        for test, changes in by_test.items():
            lines = [f"dbisolint: this test left module state that {changes[0].next_test} started with:"]
            lines += [f"  {label(change.watched)}: {change.summary()}" for change in changes]
            report = pytest.TestReport(
                test.nodeid, test.location, dict.fromkeys(test.keywords, 1), "failed", "\n".join(lines),
                "teardown", user_properties=test.user_properties,
            )  # fmt: skip
            test.ihook.pytest_runtest_logreport(report=report)

    # the end ------------------------------------------------------------------------------------
    def pytest_sessionfinish(self) -> None:
        if self.leaks:  # without leaks there is nothing to compare the static verdicts with
            from .checker import check
            from .config import load_config

            try:
                config = load_config(self.modules.config_file, {"select": ["DBI1"]})
                result = check([self.modules.project.root], config)
            except Exception as error:  # the runtime findings stand without the static ones
                self.static_error = f"{type(error).__name__}: {error}"
            else:
                skipped = [problem for problem in result.problems if problem.kind == "StateRulesSkipped"]
                if skipped:
                    self.static_error = f"{skipped[0].path}: {skipped[0].message}"
                else:
                    self.verdicts = result.state_verdicts
        if self.report_path is not None:
            import json

            with open(self.report_path, "w", encoding="utf-8") as stream:
                json.dump([self.json_item(change) for change in self.ordered_leaks()], stream, indent=2)
                stream.write("\n")

    def verdict(self, watched: Watched) -> Optional[str]:
        """dbisolint's static verdict: "DBI101"-"DBI103", "reset", or None (not state statically)."""
        return None if self.verdicts is None else self.verdicts.get(watched.target)

    def agrees(self, watched: Watched) -> bool:
        return self.verdicts is None or self.verdict(watched) not in (None, "reset")

    def ordered_leaks(self) -> List[Change]:
        """Disagreements with the static verdicts first, then by variable, in test order."""
        return sorted(self.leaks, key=lambda change: (self.agrees(change.watched), label(change.watched)))

    def json_item(self, change: Change) -> Dict[str, Any]:
        details = change.details()
        for name in ("added", "removed", "changed"):
            details[name] = [reprlib.repr(item) for item in details[name]]
        watched = change.watched
        return {
            "test": change.test.nodeid,
            "module": watched.module.__name__,
            "name": watched.name,
            "attribute": watched.attribute,
            "kind": watched.kind,
            "type": change.shape,
            "static": self.verdict(watched),
            "next_test": change.next_test,
            **details,
            "summary": change.summary(),
        }

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        terminalreporter.write_sep("=", "dbisolint: module state leaked from test to test")
        if not self.leaks:
            write(f"No test leaked module state ({plural(len(self.watched), 'variable')} watched).")
            return
        by_variable: Dict[Watched, List[Change]] = {}
        for change in self.ordered_leaks():
            by_variable.setdefault(change.watched, []).append(change)
        tests = {change.test for change in self.leaks}
        leaked = f"{plural(len(by_variable), 'variable')} leaked by {plural(len(tests), 'test')}"
        disagreements = sum(not self.agrees(watched) for watched in by_variable)
        if self.verdicts is None:
            write(f"{leaked}; dbisolint's static verdicts are unavailable: {self.static_error}")
        elif disagreements:
            agree = "1 disagrees" if disagreements == 1 else f"{disagreements} disagree"
            write(f"{leaked}; {agree} with dbisolint's static verdicts (listed first).")
        else:
            write(f"{leaked}; all agree with dbisolint's static verdicts.")
        for watched, changes in by_variable.items():
            agreed = self.agrees(watched)
            write("")
            write(
                f"{label(watched)} ({changes[0].shape})  static: {self.static_text(watched)}"
                + ("" if agreed else "  <- disagrees"),
                bold=True, red=not agreed,
            )  # fmt: skip
            for change in changes[:SHOWN_TESTS]:
                write(f"    {change.test.nodeid}: {change.summary()}")
            if len(changes) > SHOWN_TESTS:
                write(f"    ... and {plural(len(changes) - SHOWN_TESTS, 'more test')}")

    def static_text(self, watched: Watched) -> str:
        verdict = self.verdict(watched)
        if self.verdicts is None:
            return "unknown"
        return {None: "not flagged", "reset": "reset by the suite"}.get(verdict, f"flagged by {verdict}")


def label(watched: Watched) -> str:
    """`app.store._users`, `app.store.limiter._windows`, and the other names it is imported as."""
    suffix = "" if watched.attribute is None else f".{watched.attribute}"
    names = [f"{target}{suffix}" for target in (watched.target, *watched.aliases)]
    return names[0] + (f" (also {', '.join(names[1:])})" if names[1:] else "")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
