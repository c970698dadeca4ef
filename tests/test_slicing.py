"""A file read only for its resets is parsed without the functions that cannot reset anything
watched; the verdicts stay those of the whole file."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Optional

import libcst as cst

from dbisolint import checker
from dbisolint.config import load_config
from dbisolint.model import Position
from dbisolint.prefilter import Watch
from dbisolint.slicing import Sliced, slice_for

WATCH = Watch(targets=frozenset({b"_cache"}))

SUITE = '''\
import unittest

from app import store


class StoreTests(unittest.TestCase):
    def setUp(self):
        _forget()

    def test_reads(self):
        self.assertEqual(store.get("a"), None)

    @unittest.skip("later")
    def test_skipped(self):
        @decorated
        def inner():
            return 1
        return inner()


def _forget():
    """Through a local helper."""
    store._cache.clear()


def unrelated(x): return x
'''


def sliced(source: str, watch: Watch = WATCH) -> Dict[int, str]:
    """The lines given to libcst, by their row in the file: each is the file's line, or the `pass`
    of a body emptied; it parses."""
    result = slice_for(source.encode(), ast.parse(source), watch)
    assert result.needed and result.text is not None
    text = result.text.decode()
    cst.parse_module(text)
    lines, file_lines = text.splitlines(), source.splitlines()
    assert len(lines) == len(result.rows) and list(result.rows) == sorted(set(result.rows))
    assert all(line == file_lines[row - 1] or line.strip() == "pass" for row, line in zip(result.rows, lines))
    return dict(zip(result.rows, lines))


def test_functions_naming_nothing_watched_lose_their_body_and_keep_their_rows():
    lines = sliced(SUITE, WATCH | Watch(module_level=True))  # read for its definitions too
    text = "\n".join(lines.values())
    assert "store.get" not in text and "inner" not in text  # emptied: they reset nothing
    assert 10 not in lines and 11 not in lines, "a method without decorators is left out"
    assert lines[15] == "        pass" and lines[14] == "    def test_skipped(self):", "decorated: its header stays"
    assert 16 not in lines and 17 not in lines and 18 not in lines  # the rest of its body is left out
    assert lines[23] == "    store._cache.clear()"  # names the watched target
    assert lines[8] == "        _forget()"  # calls a kept function of the file
    assert lines[26] == "def unrelated(x): return x"  # a body on the header's line is left alone


def test_a_file_read_for_its_resets_alone_loses_the_rest_of_its_class_bodies():
    lines = sliced(SUITE)
    text = "\n".join(lines.values())
    assert "test_reads" not in text and "test_skipped" not in text and 10 not in lines
    assert lines[7] == "    def setUp(self):" and "_forget()" in text
    source = 'class Empty:\n    """Docs."""\n    x = 1\n\n    def f(self):\n        return 1\n\n\ndef reset():\n    _cache.clear()\n'
    lines = sliced(source)
    assert lines[2] == "    pass" and 3 not in lines and "def f" not in "\n".join(lines.values())


def test_the_tree_given_is_emptied_alike():
    tree = ast.parse(SUITE)
    text = slice_for(SUITE.encode(), tree, WATCH).text
    assert text is not None

    def starts(node: ast.AST) -> list:
        return [(type(n).__name__, getattr(n, "lineno", 0), getattr(n, "col_offset", 0)) for n in ast.walk(node)]

    rows = slice_for(SUITE.encode(), ast.parse(SUITE), WATCH).rows
    reparsed = [(kind, rows[line - 1] if line else 0, column) for kind, line, column in starts(ast.parse(text))]
    assert starts(tree) == reparsed


def test_line_endings_stay_and_a_lone_carriage_return_stops_slicing():
    crlf = SUITE.replace("\n", "\r\n")
    result = slice_for(crlf.encode(), ast.parse(crlf), WATCH)
    text = result.text
    assert text is not None and text.count(b"\r\n") == len(result.rows) and b"\n" not in text.replace(b"\r\n", b"")
    lone = SUITE.replace("def unrelated", "x = 1\rdef unrelated")
    assert slice_for(lone.encode(), ast.parse(lone), WATCH) == Sliced(None, needed=True)


def test_nothing_to_empty_gives_none():
    everything = Watch(functions=frozenset({b"get", b"inner", b"clear"}))
    assert slice_for(SUITE.encode(), ast.parse(SUITE), everything) == Sliced(None, needed=True)


DISPLAYS = """\
SENSORS: tuple[str, ...] = (  # opened
    describe(key="a", value_fn=lambda data: data.get("a").upper()),
    describe(key="b"),
)
LIMITS = {
    "a": 1,
}
CALLED = [
    lambda key: _seen.append(key),
]
BOUND = [
    (_made := {}),
]
MADE = [
    [item for item in range(3)],
]
DRAINED = (
    task.add_done_callback(_tasks.discard),
)
ONE_LINE = ("a",
    "b")
_DBISOLINT_STATE = (
    ("app.store", "_cache", "dict", ()),
)
CLOSED_WITH = [
    names[
        0
    ]]
OPENED_WITH = (f(
    1),
    2,
)
PAIRED = (
    1
), (
    2
)
TRAILING = [
    1
    ,]
SEEN = {
    "a",
}


def reset():
    _cache.clear()
"""


def test_displays_at_module_level_lose_their_elements_where_state_py_reads_nothing_of_them():
    lines = sliced(DISPLAYS, WATCH | Watch(module_level=True))
    assert lines[1] == "SENSORS: tuple[str, ...] = (  # opened" and lines[4] == ")" and 2 not in lines and 3 not in lines
    assert lines[5] == "LIMITS = {" and 6 not in lines and lines[7] == "}"  # a dict stays a dict
    # A lambda calling a method, :=, a comprehension, a drain, the managed table, elements on a
    # bracket's line (twice), a comma before the closing bracket, a set (emptied: a dict).
    kept = [9, 12, 15, 18, 23, 26, 27, 30, 31, 39, 42]
    assert all(row in lines for row in kept)
    assert lines[33] == "PAIRED = (" and lines[37] == ")" and 35 not in lines  # a tuple still: `()`
    tree = ast.parse(DISPLAYS)
    slice_for(DISPLAYS.encode(), tree, WATCH | Watch(module_level=True))
    assert ast.literal_eval(tree.body[1].value) == {} and tree.body[0].value.elts == []  # type: ignore[attr-defined]


def _project(tmp_path: Path, monkeypatch, store: str, suite: str, more: Optional[Dict[str, str]] = None) -> None:
    """A project with `app/store.py` and `tests/test_store.py` (and `more` files), made current."""
    files = {"pyproject.toml": "", "app/__init__.py": "", "app/store.py": store, "tests/test_store.py": suite, **(more or {})}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)


def test_a_part_read_file_is_read_again_when_the_watch_learns_a_name_it_holds(tmp_path: Path, monkeypatch):
    """The test file is read in part at first (it patches the cache inside one test, and its
    setUp calls a helper not yet known to reset anything); once the helper module is read, its
    `reset_all` joins the watch and the file is read again with its setUp."""
    store = (
        "_cache = {}\n\n\ndef put(key, value):\n    _cache[key] = value\n\n\ndef clear_state():\n    _cache.clear()\n"
    )
    suite = (
        "import unittest\nfrom unittest import mock\n\nfrom app import store\nfrom tests.helpers import reset_all\n\n\n"
        "class StoreTests(unittest.TestCase):\n"
        "    def setUp(self):\n        reset_all()\n\n"
        "    def test_put(self):\n        with mock.patch.dict(store._cache, {'a': 1}):\n            store.put('b', 2)\n"
    )
    _project(tmp_path, monkeypatch, store, suite, {"tests/helpers.py": "from app import store\n\n\ndef reset_all():\n    store.clear_state()\n"})
    config = load_config(None)
    with_filter = checker.check([Path(".")], config)
    without = checker.check([Path(".")], config, use_prefilter=False)
    assert with_filter.state_verdicts == without.state_verdicts
    assert with_filter.state_verdicts["app.store._cache"] == "reset"
    assert with_filter.findings == without.findings == []

    # Without reading it again, its setUp would stay empty and the cache would be flagged.
    monkeypatch.setattr(Watch, "__sub__", lambda self, other: Watch())
    assert checker.check([Path(".")], config).state_verdicts["app.store._cache"] == "DBI101"


def test_after_a_change_only_the_changed_file_is_parsed_again(tmp_path: Path, monkeypatch, parsed):
    """Reports cached for files read in part serve the next run, even when that run's watch
    differs from the one they were read under, unless the file may reset what it newly holds."""
    store = (
        "_cache = {}\n\n\ndef put(key, value):\n    _cache[key] = value\n\n\n"
        "def clear_state():\n    _cache.clear()\n\n\ndef reset_everything():\n    clear_state()\n"
    )
    suite = (
        "import unittest\n\nfrom app import store\n\n\nclass StoreTests(unittest.TestCase):\n"
        "    def setUp(self):\n        store.reset_everything()\n\n"
        "    def test_put(self):\n        store.put('a', 1)\n"
    )
    _project(tmp_path, monkeypatch, store, suite)
    config, cache = load_config(None), tmp_path / "cache"
    cold = checker.check([Path(".")], config, cache_dir=cache)
    assert cold.state_verdicts["app.store._cache"] == "reset"
    assert "tests/test_store.py" in parsed
    with (tmp_path / "app" / "store.py").open("a") as store:
        store.write("# changed\n")
    parsed.clear()
    again = checker.check([Path(".")], config, cache_dir=cache)
    # Its own change: read in part, then again for the caller of a reset that its watch learnt.
    assert set(parsed) == {"app/store.py"}, parsed
    assert again.state_verdicts == cold.state_verdicts


def test_a_check_after_a_fix_with_the_cache_agrees_with_one_without(tmp_path: Path, monkeypatch):
    """A fix reads the files it reports on whole; the files it read are remembered for the next
    run as read whole, not under the watch they were chosen with (found on Django: the next run
    read a test module in part and lost the reset of a signal)."""
    store = (
        "_cache = {}\n_other = []\n\n\ndef put(key, value):\n    _cache[key] = value\n    _other.append(key)\n\n\n"
        "def clear_state():\n    _cache.clear()\n"
    )
    suite = (
        "import unittest\nfrom unittest import mock\n\nfrom app import store\n\n\n"
        "class StoreTests(unittest.TestCase):\n"
        "    def setUp(self):\n        store.clear_state()\n\n"
        "    def test_put(self):\n        with mock.patch.dict(store._cache, {'a': 1}):\n            store.put('b', 2)\n"
    )
    _project(tmp_path, monkeypatch, store, suite)
    config, cache = load_config(None), tmp_path / "cache"
    checker.fix([Path(".")], config, cache_dir=cache)
    assert checker.check([Path(".")], config, cache_dir=cache).state_verdicts == checker.check([Path(".")], config).state_verdicts


def test_fixes_and_their_edits_read_whole_only_the_files_that_can_hold_an_engine_call(tmp_path: Path, monkeypatch, parsed):
    """An engine call is fixed in its own file, so that file is read whole; the state rules'
    fixes go to conftest.py from the facts, so the files read for those stay read in part."""
    store = "_cache = {}\n\n\ndef put(key, value):\n    _cache[key] = value\n\n\ndef describe():\n    return 'store body'\n"
    suite = "from app import store\n\n\ndef test_put():\n    store.put('a', 1)\n"
    engine = "from sqlalchemy import create_engine\n\nengine = create_engine('sqlite://')\n\n\ndef describe():\n    return 'db body'\n"
    _project(tmp_path, monkeypatch, store, suite, {"app/db.py": engine})
    texts = parsed.texts
    config = load_config(None)
    checked = checker.check([Path(".")], config, edits=True)
    assert sorted(finding.code for finding in checked.findings if finding.fix and finding.fix.edits) == ["DBI001", "DBI101"]
    assert "db body" in texts["app/db.py"], "an engine file is read whole"
    assert "store body" not in texts["app/store.py"], "a state file is read in part"
    parsed.clear()
    checker.fix([Path(".")], config)
    assert "db body" in texts["app/db.py"] and "store body" not in texts["app/store.py"]
    assert "StaticPool" in (tmp_path / "app" / "db.py").read_text()
    assert "_cache" in (tmp_path / "tests" / "conftest.py").read_text()


def test_a_function_naming_a_kept_function_is_kept_even_when_an_emptied_one_shares_its_name():
    source = (
        "class A:\n    def reset(self):\n        _cache.clear()\n\n"
        "class B:\n    def reset(self):\n        return 1\n\n"
        "def setup_function():\n    A().reset()\n\n"
        "def unrelated():\n    return 2\n"
    )
    text = "\n".join(sliced(source).values())
    assert "A().reset()" in text and "_cache.clear()" in text and "return 2" not in text


RESETS = Watch(targets=frozenset({b"_cache", b"limiter"}), modules=frozenset({b"store"}), functions=frozenset({b"reset_all"}))


def kept(source: str, watch: Watch = RESETS) -> Optional[str]:
    """The text libcst would be given, or None when the file is not parsed at all."""
    result = slice_for(source.encode(), ast.parse(source), watch)
    return None if not result.needed else (result.text or source.encode()).decode()


def test_a_file_naming_a_target_without_resetting_it_is_not_parsed_for_its_resets():
    source = "from app.store import _cache\n\n\ndef test_reads():\n    assert _cache.get('a') is None\n"
    assert kept(source) is None
    assert kept(source, RESETS | Watch(module_level=True)) is not None, "read for its definitions, it is parsed"


def test_resets_and_calls_through_import_aliases_are_kept():
    source = (
        "from app.store import _cache as c, limiter as lim\nfrom tests.helpers import reset_all as ra\nfrom app import store as st\n\n\n"
        "def a():\n    c.clear()\n\n\ndef b():\n    ra()\n\n\ndef c_():\n    setattr(st, 'other', {})\n\n\n"
        "def d():\n    lim._windows.clear()\n\n\ndef e():\n    st.unrelated()\n"
    )
    text = kept(source, RESETS | Watch(methods=frozenset({(b"reset", b"limiter")})))
    assert text is not None
    for line in ("c.clear()", "ra()", "setattr(st, 'other', {})", "lim._windows.clear()"):
        assert line in text, line
    assert "st.unrelated()" not in text


def test_a_watched_method_counts_only_on_an_instance_it_is_watched_on():
    watch = Watch(methods=frozenset({(b"reset", b"limiter")}))
    source = "from app.store import limiter as lim\n\n\ndef a(self):\n    lim.reset()\n\n\ndef b(self):\n    self.other.reset()\n"
    text = kept(source, watch)
    assert text is not None and "lim.reset()" in text and "self.other.reset()" not in text


def test_what_a_parameter_holds_is_never_module_state():
    source = "def test_clears(_cache):\n    _cache.clear()\n\n\ndef test_uses(self):\n    self._cache = {}\n"
    assert kept(source) is None


def test_a_decorator_applied_at_import_naming_a_function_that_fills_state_is_read():
    watch = Watch(targets=frozenset({b"_registry"}), appliers=frozenset({b"register"}))
    source = "from app.store import register as reg\n\n\n@reg\ndef handle():\n    return 1\n"
    assert kept(source, watch) is not None


def test_a_class_keeping_state_keeps_its_methods():
    source = (
        "class Limiter:\n    def hit(self, key):\n        self._windows[key] = 1\n\n\n"
        "class Other:\n    def hit(self, key):\n        self._seen[key] = 1\n\n    def other(self):\n        self.hit(1)\n"
    )
    text = kept(source, Watch(classes=frozenset({b"Limiter"}), module_level=True))
    assert text is not None and "self._windows[key] = 1" in text and "self._seen" not in text, "its name alone is no call"
    assert "self.hit(1)" in text, "a call of a kept function by its name is kept"


def test_of_a_class_keeping_state_only_the_methods_touching_their_instance_are_kept():
    methods = {
        "store": "self._windows = {}",
        "augment": "self.count += 1",
        "mutate": "self._windows['a'].append(1)",
        "delete": "del self._windows['a']",
        "call": "self.store()",
        "unpack": "(self.a, b) = 1, 2",
        "setattr": "setattr(self, '_windows', {})",
        "patch": "mock.patch.object(self, '_windows', {}).start()",
        "read": "return len(self._windows)",
        "other": "other.x = {}\n        helper(other)",
        "nested": "def inner(self):\n            self.x = {}\n        return inner",
    }
    source = "class Limiter:\n" + "".join(f"    def {name}(self):\n        {body}\n\n" for name, body in methods.items())
    text = kept(source, Watch(classes=frozenset({b"Limiter"}), module_level=True))
    assert text is not None
    emptied = {name for name, body in methods.items() if body.splitlines()[0] not in text}
    assert emptied == {"read", "other"}, "a nested function's `self` is its own, but it is kept with its method"


def test_a_file_read_again_under_a_wider_watch_that_reads_the_same_is_not_parsed_again():
    source = "from app import store\n\n\ndef a():\n    store._cache.clear()\n\n\ndef b():\n    store.limiter.reset()\n"
    narrow = Watch(targets=frozenset({b"_cache"}))
    wider = narrow | Watch(targets=frozenset({b"_other"}))
    assert slice_for(source.encode(), ast.parse(source), wider, before=narrow).same
    widest = narrow | Watch(methods=frozenset({(b"reset", b"limiter")}), targets=frozenset({b"limiter"}))
    assert not slice_for(source.encode(), ast.parse(source), widest, before=narrow).same


def test_findings_in_a_file_read_in_part_keep_the_files_rows_and_its_noqa(tmp_path: Path, monkeypatch, parsed):
    """The lines of an emptied body are left out of what libcst parses: a definition after it is
    still reported on its own row and column, a mutation's site too, and `# noqa` is read on the
    file's rows."""
    store = (
        "def helper():\n    x = 1\n    y = 2\n    return x + y\n\n\n"
        "if True:\n    _cache = {}\n_other = {}  # noqa: DBI101\n\n\n"
        "def put(key, value):\n    _cache[key] = value\n    _other[key] = value\n"
    )
    _project(tmp_path, monkeypatch, store, "from app import store\n\n\ndef test_put():\n    store.put('a', 1)\n")
    config = load_config(None, {"select": ["DBI101"]})
    findings = checker.check([Path(".")], config).findings
    assert "x = 1" not in parsed.texts["app/store.py"], "the helper's body is left out"
    assert [(f.path, f.start, f.end) for f in findings] == [("app/store.py", Position(8, 5), Position(8, 11))]
    assert "app/store.py:13" in findings[0].message
    assert findings == checker.check([Path(".")], config, use_prefilter=False).findings
