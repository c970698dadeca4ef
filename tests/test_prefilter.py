"""The pre-filter only saves work: with and without it, the findings are the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbisolint import checker
from dbisolint.config import load_config

from .conftest import FIXTURES

PROJECTS = sorted(
    [path for path in (FIXTURES / "rules").iterdir() if path.is_dir()]
    + [path for path in (FIXTURES / "projects").iterdir() if path.is_dir()]
    + [FIXTURES / "demo"]
)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_prefilter_never_changes_findings(project: Path, monkeypatch):
    monkeypatch.chdir(project)
    config = load_config(None)
    with_filter = checker.check([Path(".")], config)
    without = checker.check([Path(".")], config, use_prefilter=False)
    assert with_filter.findings == without.findings
    assert with_filter.state_verdicts == without.state_verdicts
    assert with_filter.findings, "each fixture project has findings, so the comparison can fail"


def test_prefilter_skips_files_that_cannot_matter(tmp_path: Path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "constants.py").write_text("PLATFORMS = ['light', 'switch']\n\ndef platforms():\n    return PLATFORMS\n")
    (tmp_path / "broken.py").write_text("def f(:\n")  # never parsed: it cannot hold a finding
    monkeypatch.chdir(tmp_path)
    result = checker.check([Path(".")], load_config(None))
    assert result.problems == [] and result.findings == []
    unfiltered = checker.check([Path(".")], load_config(None), use_prefilter=False)
    assert [problem.kind for problem in unfiltered.problems] == ["SyntaxError"]


def test_the_names_of_import_statements_are_found_wherever_else_import_is_written():
    from dbisolint.prefilter import ProjectText

    source = (
        b'"""We import (the parts we need"""\nfrom app.store import _cache\nimport os, sys\n'
        b"x = 1  # and import y\nfrom . import (\n    signals,\n)\n    import json\nimportlib = 2\n"
    )
    text = ProjectText(lambda path: source)
    assert text.imported("m.py") == {b"_cache", b"os", b"sys", b"signals", b"json"}


def test_the_identifiers_of_a_text_are_the_words_occurrences_finds_there():
    """A name is asked about where it stands as a whole word (`occurrences`): the identifiers
    must hold each such word, and no piece of a number (`x80` of `0x80`) that stands nowhere."""
    from dbisolint.prefilter import identifiers, occurrences, spelled_text

    source = "größe = {0x80: 1_000, 1e5: ok}  # 0001_initial\nif_ = 'x.cache'\n_ = b'rb'\n".encode()
    words = identifiers(source)
    named = {word for word in words if not word[:1].isdigit()}
    assert named == {b"graaaae", b"ok", b"if_", b"x", b"cache", b"_", b"b", b"rb"}
    assert all(next(occurrences(spelled_text(source), word), None) is not None for word in words)
    assert b"x80" not in words and b"_initial" not in words


@pytest.mark.parametrize(
    ("source", "may_reset"),
    [
        (b"def test():\n    reset_all()\n", True),
        (b"def test():\n    helpers.reset_all (\n    )\n", True),
        (b"def test():\n    x = (reset_all  # later\n         ())\n", True),
        (b"@reset_all\ndef test():\n    pass\n", True),  # a decorator: applied at import
        (b"from helpers import reset_all as ra\n\n\ndef test():\n    ra()\n", True),
        (b"from helpers import reset_all\n\n\ndef test():\n    hooks.append(reset_all)\n", False),  # passed on: no call
    ],
)
def test_a_file_naming_a_function_that_resets_may_reset_only_where_it_calls_or_applies_it(source: bytes, may_reset: bool):
    from dbisolint.prefilter import ProjectText, Watch

    assert ProjectText(lambda path: source).may_reset("test_x.py", Watch(functions=frozenset({b"reset_all"}))) is may_reset


@pytest.mark.parametrize(
    ("kind", "watched", "source"),
    [
        ("targets", b"_cache", b"def test():\n    _cache.clear()\n"),
        ("modules", b"store", b"from app import store\n\n\ndef test():\n    store.clear()\n"),
        ("functions", b"reset_all", b"def test():\n    reset_all()\n"),
        ("methods", (b"restart", b"limiter"), b"def test():\n    limiter.restart()\n"),
        ("appliers", b"register", b"@register\ndef plugin():\n    pass\n"),
    ],
)
def test_a_file_may_reset_through_each_kind_of_name_a_watch_holds_and_no_other(kind: str, watched, source: bytes):
    from dbisolint.prefilter import ProjectText, Watch

    text = ProjectText(lambda path: source)
    assert text.may_reset("test_x.py", Watch(**{kind: frozenset({watched})}))
    assert not text.may_reset("test_x.py", Watch(targets=frozenset({b"_elsewhere"}), functions=frozenset({b"reset"})))


# `X.store = fake` replaces module `store` only where state.py can read X as other than a
# function's own (a parameter): bound at module level, imported, or under a star import; and
# only where an assignment can bind it (module_replaced, which slicing.py asks, reads the same).
REPLACED_THROUGH = {
    "a method's self": (b"class T:\n    def test(self):\n        self.store = fake\n", False),
    "a first parameter over lines": (b"class T:\n    def test(\n        self,\n    ):\n        self.a.store = fake\n", False),
    "a lambda's parameter": (b"f = lambda self: self.x\nclass T:\n    def test(self):\n        self . store = fake\n", False),
    "a name after import_module": (b"class T:\n    def test(self):\n        module = import_module(self.name)\n        self.store = fake\n", False),
    "a relative import's module": (b"from .self import x\nclass T:\n    def test(self):\n        self.store = fake\n", False),
    "assigned": (b"self = app\ndef test():\n    self.store = fake\n", True),
    "assigned in a block": (b"if x:\n    self, y = app, 1\ndef test():\n    self.store = fake\n", True),
    "assigned after a comment": (b"# def f(\nself = app\ndef test():\n    self.store = fake\n", True),
    "imported as": (b"import app as self\ndef test():\n    self.store = fake\n", True),
    "imported dotted": (b"import self.store\ndef test():\n    self.store = fake\n", True),
    "imported on a continued line": (b"import os, \\\n  self.store\ndef test():\n    self.store = fake\n", True),
    "imported later on a continued line": (b"import os, \\\n  sys, self.store\ndef test():\n    self.store = fake\n", True),
    "a star import": (b"from app import *\nclass T:\n    def test(self):\n        self.store = fake\n", True),
    "a function": (b"def self():\n    pass\ndef test():\n    self.store = fake\n", True),
    "a function named on a continued line": (b"def \\\n  self():\n    pass\ndef test():\n    self.store = fake\n", True),
    "a class": (b"class self(Base):\n    pass\ndef test():\n    self.store = fake\n", True),
    "a loop's target": (b"for self in x:\n    pass\ndef test():\n    self.store = fake\n", True),
    "a with's target": (b"with x as self:\n    pass\ndef test():\n    self.store = fake\n", True),
    "a walrus": (b"(self := app)\ndef test():\n    self.store = fake\n", True),
    "a match capture": (b"match x:\n    case self:\n        pass\ndef test():\n    self.store = fake\n", True),
    "global": (b"def test():\n    global self\n    self.store = fake\n", True),
    "a later parameter": (b"def test(x, self):\n    self.store = fake\n", True),  # not looked for: kept
    "a local": (b"def test(obj):\n    obj = app\n    obj.store = fake\n", True),
    "a chain over lines": (b"def test(self):\n    (app.\n      self.store) = fake\n", True),
    "a chain over a comment and a blank line": (b"def test(self):\n    (app.  # note\n\n      self.store) = fake\n", True),
    "a chain over a backslash": (b"def test(self):\n    x = app \\\n      .self.store = fake\n", True),
    "a subscript": (b"def test(self):\n    app[0].store = fake\n", True),
    "a call": (b"def test(self):\n    app().store = fake\n", True),
    "lone CRs": (b"def test(self):\r    self.store = fake\r", True),
    # What its own line shows: no target in a comment, a call's arguments, a subscript or braces;
    # a quote before it shows nothing (a bracket or `#` may be a string's).
    "imported, assigned": (b"import app\ndef test():\n    app.store = fake\n", True),
    "in a target list": (b"import app\ndef test():\n    app.store, b = fakes\n", True),
    "in a target list over lines": (b"import app\ndef test():\n    (app.store,\n     b) = fakes\n", True),
    "in a list of targets": (b"import app\ndef test():\n    [app.store, b] = fakes\n", True),
    "after a keyword's bracket": (b"import app\ndef test():\n    for (app.store) in fakes: y = 1\n", True),
    "after a quoted #": (b"import app\ndef test():\n    s = '#'; app.store = fake\n", True),
    "after a quoted bracket": (b"import app\ndef test():\n    s = 'f('; app.store, b = fakes\n", True),
    "in a call": (b"import app\ndef test():\n    check(app.store, other.store)\n    x = 1\n", False),
    "in a call's call": (b"import app\ndef test():\n    make(a)(app.store, b)\n    x = 1\n", False),
    "in a call in a tuple": (b"import app\ndef test():\n    (f(app.store), b) = 1, 2\n", False),
    "in a subscript's index": (b"import app\ndef test():\n    x[app.store] = fake\n", False),
    "in braces": (b"import app\ndef test():\n    d = {app.store: 1}\n", False),
    "in a comment": (b"import app\ndef test():\n    # app.store, then\n    x = 1\n", False),
    "after a comment a lone CR ends": (b"import app\rdef test():\r    x = 1  # note\r    app.store = fake\r", True),
}


@pytest.mark.parametrize(("source", "may_reset"), REPLACED_THROUGH.values(), ids=REPLACED_THROUGH.keys())
def test_a_module_is_replaced_only_through_a_name_bound_as_more_than_a_parameter(source: bytes, may_reset: bool):
    from dbisolint.prefilter import ProjectText, Watch

    assert ProjectText(lambda path: source).may_reset("test_x.py", Watch(modules=frozenset({b"store"}))) is may_reset


@pytest.mark.parametrize("bound", ["import app as self\n", ""])
def test_a_module_replaced_through_self_is_read_where_self_is_the_module(tmp_path: Path, monkeypatch, parsed, bound: str):
    files = {
        "pyproject.toml": "",
        "app/__init__.py": "",
        "app/store.py": "_cache = {}\n\n\ndef put(key):\n    _cache[key] = 1\n",
        "tests/test_store.py": (
            f"import pytest\n{bound}from app import store\n\n\n"
            "@pytest.fixture(autouse=True)\ndef _reset():\n    yield\n    self.store = store\n\n\n"
            "class TestStore:\n    def setup_method(self):\n        self.store = store\n\n    def test_put(self):\n        store.put('a')\n"
        ),
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.chdir(tmp_path)
    verdicts = checker.check([Path(".")], load_config(None)).state_verdicts
    assert verdicts["app.store._cache"] == ("reset" if bound else "DBI101")
    assert ("tests/test_store.py" in parsed) is bool(bound), "read only where `self` may be the package"
    assert verdicts == checker.check([Path(".")], load_config(None), use_prefilter=False).state_verdicts


@pytest.mark.parametrize("name", ["_cache", "_caché"])
def test_re_exports_are_followed_up_the_imports_of_the_files_read_and_no_further(tmp_path: Path, monkeypatch, parsed, name):
    files = {
        "pyproject.toml": "",
        "app/__init__.py": f"from app.api import {name}\n",
        "app/api.py": f"from .store import {name}\n",
        "app/store.py": f"{name} = {{}}\n\n\ndef put(key, value):\n    {name}[key] = value\n",
        "app/report.py": f"from .store import {name}\n\n\ndef size():\n    return len({name})\n",
        "tests/test_store.py": (
            "import pytest\n\nimport app\nfrom app.store import put\n\n\n"
            f"@pytest.fixture(autouse=True)\ndef _reset(monkeypatch):\n    monkeypatch.setattr(app, '{name}', {{}})\n\n\n"
            "def test_put():\n    put('a', 1)\n"
        ),
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = checker.check([Path(".")], load_config(None))
    assert result.state_verdicts[f"app.store.{name}"] == "reset", "the test's `app.<name>` is app.store's"
    assert {"app/__init__.py", "app/api.py"} <= set(parsed), "up the test's import, read for its reset"
    assert "app/report.py" not in parsed, "it imports the name, but no file read imports from it"
    assert result.state_verdicts == checker.check([Path(".")], load_config(None), use_prefilter=False).state_verdicts


@pytest.mark.parametrize("helpers", ["app/helpers.py", "app/helpers/__init__.py"])  # a module, a package
def test_a_test_resetting_through_a_chain_of_calls_is_read(tmp_path: Path, monkeypatch, helpers: str):
    files = {
        "pyproject.toml": "",
        "app/__init__.py": "",
        "app/store.py": "_cache = {}\n\n\ndef put(key, value):\n    _cache[key] = value\n",
        "app/limits.py": (
            "class Limiter:\n    def __init__(self):\n        self._windows = {}\n\n"
            "    def hit(self, key):\n        self._windows[key] = 1\n\n"
            "    def reset(self):\n        self._windows = {}\n\n"
            "    def restart(self):\n        self.reset()\n\n\nlimiter = Limiter()\n"
        ),
        # Each reset is two calls away from what the test calls.
        helpers: (
            "from app import store\nfrom app.limits import limiter\n\n\n"
            "def _wipe():\n    store._cache.clear()\n\n\ndef _forget():\n    _wipe()\n\n\ndef reset_all():\n    _forget()\n\n\n"
            "def reset_limits():\n    limiter.restart()\n"
        ),
        # Each in a file of its own: a test file read for one reset would show the other too.
        "tests/test_store.py": (
            "import pytest\n\nfrom app.helpers import reset_all\nfrom app.store import put\n\n\n"
            "@pytest.fixture(autouse=True)\ndef _reset():\n    yield\n    reset_all()\n\n\ndef test_put():\n    put('a', 1)\n"
        ),
        "tests/test_limits.py": (
            "import pytest\n\nfrom app.helpers import reset_limits\nfrom app.limits import limiter\n\n\n"
            "@pytest.fixture(autouse=True)\ndef _reset():\n    yield\n    reset_limits()\n\n\ndef test_hit():\n    limiter.hit('a')\n"
        ),
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.chdir(tmp_path)
    without = checker.check([Path(".")], load_config(None), use_prefilter=False).state_verdicts
    assert without["app.store._cache"] == "reset" and without["app.limits.limiter"] == "reset"
    assert checker.check([Path(".")], load_config(None)).state_verdicts == without


def test_the_files_of_modules_are_found_by_name_as_from_every_files_module_name(tmp_path: Path, monkeypatch):
    from dbisolint.checker import _Item, _Modules, _Run
    from dbisolint.project import Project

    # src/app is the package app too: of two files of one module, the last is kept (as a dict would).
    modules = ["app/__init__.py", "app/store.py", "app/helpers/__init__.py", "app/helpers/wipe.py", "scripts/run.py"]
    for name in [*modules, "src/app/__init__.py", "src/app/store.py"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    (tmp_path / "pyproject.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    items = [
        _Item(path, str(path), True, Project.of_folder(path.parent, config), False)
        for path in sorted(tmp_path.resolve().rglob("*.py"))
    ]
    every = {_Run._module(item).name: item for item in items}
    assert {"app", "app.store", "app.helpers", "app.helpers.wipe", "scripts.run"} <= set(every)
    assert every["app.store"].path == (tmp_path / "src" / "app" / "store.py").resolve() and len(every) < len(items)
    names = [*every, "app.missing", "app.store.put", "helpers", "wipe"]
    assert _Modules(items).named(names) == [every[name] for name in names if name in every]
