"""The pre-filter and the slicing only save work: on generated projects that define module state,
mutate it and reset it under every import spelling, the findings are those of a check that parses
every file whole.

The projects are drawn from the shapes the state rules read (containers, cached functions,
instances of classes keeping state, decorator registries; mutations; resets in autouse fixtures,
setUp methods, helpers and test bodies; re-exports; import aliases). Set DBISOLINT_PROJECT_EXAMPLES
to draw more of them than the suite's default.
"""

from __future__ import annotations

import os
from typing import Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbisolint import checker
from dbisolint.config import load_config

EXAMPLES = int(os.environ.get("DBISOLINT_PROJECT_EXAMPLES", "60"))

# app/store.py, from its parts: how the containers are written, how the cache is decorated, and
# where the class of the instance keeping state comes from.
DEFINITIONS = [
    "_cache = {}\n_items = []\n_registry = {}\n",
    "_cache: Dict[str, int] = {}\n_items: list = list()\n_registry = dict()\n",
    "_cache = collections.defaultdict(list)\n_items = collections.deque()\n_registry = collections.OrderedDict()\n",
    "if sys.version_info > (3,):\n    _cache = {}\nelse:\n    _cache = {}\n_items = []\ntry:\n    _registry = {}\nexcept Exception:\n    _registry = {}\n",
    "_cache: Dict[str, int] = (\n    collections.defaultdict(int)\n)\n_items = (\n    []\n)\n_registry = (\n    dict()\n)\n",
]
CACHES = [
    "@functools.lru_cache\ndef settings():\n    return {}\n",
    "@lru_cache(maxsize=None)\ndef settings():\n    return {}\n",
    "@memo\ndef settings():\n    return {}\n",
]
LIMITER = '''\
class RateLimiter(Base):
    """Counts hits per key."""

    limit = 10

    def hit(self, key):
        self._windows[key] = self._windows.get(key, 0) + 1

    if sys.version_info > (3,):

        def reset(self):
            self._windows = {}

    def restart(self):  # resets through a method of its own (ProjectState.effects follows `self.`)
        self.reset()
'''
BASE = "class Base:\n    def __init__(self):\n        self._windows = {}\n"
REGISTER = '''\
def register(function):
    _registry[function.__name__] = function
    return function
'''
REGISTER_AS = '''\
def register_as(name):
    def decorate(function):
        _registry[name] = function
        return function

    return decorate
'''
FUNCTIONS = '''\
def clear_state():
    _cache.clear()


def rebuild():
    global _items
    _items = []
'''


# An instance whose methods its module applies as decorators at import: a registry, filled at
# import, unless a function of the module also calls one of them.
LIBRARY_CLASS = '''\
class Library:
    def __init__(self):
        self.filters = {}

    def filter(self, function):
        self.filters[function.__name__] = function
        return function
'''
LIBRARY = '''\
library = Library()


@library.filter
def upper(text):
    return text.upper()
'''
LATE_FILTER = "\n\ndef late_filter():\n    library.filter(str)\n"
LATE_FILTER_LAMBDA = "\n\nLATE = [\n    str,\n    lambda: library.filter(str),\n]\n"  # called by a lambda: no registry either


def store_module(draw) -> Dict[str, str]:
    """app/store.py, and app/limits.py when the class keeping state lives apart."""
    header = "import collections\nimport functools\nimport sys\nfrom functools import cache as memo, lru_cache\nfrom typing import Dict\n"
    apart = draw(st.booleans())
    classes = draw(st.sampled_from(["from app.limits import RateLimiter\n", "from app.limits import RateLimiter as Limiter\n"])) if apart else f"\n\n{BASE}\n\n{LIMITER}"
    instance = "limiter = Limiter()\n" if "as Limiter" in classes else draw(st.sampled_from(["limiter = RateLimiter()\n", "limiter = (\n    RateLimiter()\n)\n"]))
    # One way of filling the registry, or both: filled only by decorators applied at import, it
    # is no state.
    registers = draw(st.sampled_from([REGISTER, REGISTER_AS, f"{REGISTER}\n\n{REGISTER_AS}"]))
    definitions = draw(st.sampled_from(DEFINITIONS))
    text = f"{header}{classes}\n\n{definitions}{instance}\n\n{draw(st.sampled_from(CACHES))}\n\n{registers}\n\n{FUNCTIONS}"
    if draw(st.booleans()):
        library = "from app.limits import Library\n\n\n" if apart else f"{LIBRARY_CLASS}\n\n"
        text += f"\n\n{library}{LIBRARY}" + draw(st.sampled_from(["", LATE_FILTER, LATE_FILTER_LAMBDA]))
    files = {"app/store.py": text}
    if apart:
        files["app/limits.py"] = f"import sys\n\nfrom app.base import Base\n\n\n{LIMITER}\n\n{LIBRARY_CLASS}"
        files["app/base.py"] = BASE
    return files


# How a module other than app/store.py reaches app.store: (import lines, expression of the module
# or None, {state name: expression of it}).
SPELLINGS = {
    "from-name": ("from app.store import _cache, _items, limiter, settings, register, register_as, clear_state, rebuild", None, {}),
    "from-alias": (
        "from app.store import _cache as c, _items as i, limiter as lim, settings as conf, register as reg, "
        "register_as as reg_as, clear_state as forget, rebuild as renew",
        None,
        {
            "_cache": "c", "_items": "i", "limiter": "lim", "settings": "conf", "register": "reg",
            "register_as": "reg_as", "clear_state": "forget", "rebuild": "renew",
        },  # fmt: skip
    ),
    "from-package": ("from app import store", "store", {}),
    "from-package-alias": ("from app import store as st", "st", {}),
    "import-dotted": ("import app.store", "app.store", {}),
    "import-alias": ("import app.store as s", "s", {}),
    "re-export": ("from app import _cache, _items, limiter, settings, register, register_as, clear_state, rebuild", None, {}),
    "re-export-package": ("import app", "app", {}),
}
NAMES = ("_cache", "_items", "limiter", "settings", "register", "register_as", "clear_state", "rebuild")
REEXPORTS = "from app.store import _cache, _items, limiter, settings, register, register_as, clear_state, rebuild\n"


def spelled(spelling: str, name: str) -> str:
    _imports, module, renamed = SPELLINGS[spelling]
    if module is not None:
        return f"{module}.{name}"
    return renamed.get(name, name)


def module_of(spelling: str) -> str:
    """An expression of the module that holds the state, for setattr and reload."""
    module = SPELLINGS[spelling][1]
    return module if module is not None else "app.store"


MUTATIONS = [
    "{_cache}[key] = 1",
    "{_cache}.setdefault(key, []).append(1)",
    "{_cache}.update(key=1)",
    "{_cache}[key].append(1)",
    "{_items}.append(key)\n    make().add_done_callback({_items}.remove)",
    "del {_cache}[key]",
    "{_items}.append(key)",
    "{_items} += [key]",
    "{module}._items += [key]",
    "{limiter}.hit(key)",
    "{settings}()",
]

LAMBDA_MUTATIONS = ["{_cache}.setdefault(key, []).append(1)", "{_items}.append(key)", "{_cache}[key].append(1)", "{limiter}.hit(key)"]

RESETS = [
    "{_cache}.clear()",
    "{_items}.clear()",
    "{settings}.cache_clear()",
    "{limiter}._windows.clear()",
    "{limiter}.reset()",
    "{limiter}.restart()",
    "{limiter}.__init__()",
    "{clear_state}()",
    'monkeypatch.setattr({module}, "_cache", {{}})',
    'monkeypatch.setattr("app.store._items", [])',
    "{module}._cache = {{}}",
    "{module}._items, unused = [], 1",
    "({module}._items,\n        unused) = [], 1",
    "{limiter}._windows = {{}}",
    "from importlib import reload as fresh; fresh({module})",
    "importlib.reload({module})",
    "{_registry_reset}",
    'mock.patch.dict("app.store._cache", clear=True).start()',
    'mock.patch.object({module}, "_items", []).start()',
    "{rebuild}()",
    "{store}.clear()",  # read by state.py as a reset of everything the module holds
    'monkeypatch.setattr(app, "store", {module})',
    "app.store = {module}",  # the module replaced (by itself): a reset of all it holds
]


def fill(template: str, spelling: str) -> str:
    values = {name: spelled(spelling, name) for name in NAMES}
    values["module"] = module_of(spelling)
    # The module itself under its own name (a package above it is not looked for: see slicing.py).
    values["store"] = "store" if spelling == "from-package" else "app.store"
    values["_registry_reset"] = f"{module_of(spelling)}._registry.clear()"
    return template.format(**values)


@st.composite
def projects(draw) -> Dict[str, str]:
    files = {"pyproject.toml": "", **store_module(draw)}
    files["app/__init__.py"] = REEXPORTS if draw(st.booleans()) else ""
    reexported = bool(files["app/__init__.py"])

    def spelling() -> str:
        choices = sorted(name for name in SPELLINGS if reexported or not name.startswith("re-export"))
        return draw(st.sampled_from(choices))

    # Code that mutates the state at runtime, and code that applies the registries at import.
    use = spelling()
    in_lambda = draw(st.booleans())  # a mutation in a lambda of a display assigned at module level (slicing.py)
    mutations = draw(st.lists(st.sampled_from(MUTATIONS), min_size=0 if in_lambda else 1, max_size=3))
    body = "\n".join(f"    {fill(line, use)}" for line in mutations) or "    pass"
    files["app/use.py"] = f"{SPELLINGS[use][0]}\n\n\ndef work(key):\n{body}\n"
    if in_lambda:
        mutation = fill(draw(st.sampled_from(LAMBDA_MUTATIONS)), use)
        # `_seen`, mutated there alone, is state only where the lambdas are read; `_made`, only
        # where its binding inside the display is.
        handlers = f"HANDLERS: tuple = (\n    print,\n    lambda key: _seen.append(key),\n    lambda key: {mutation},\n)\n"
        made = "MADE = [\n    (_made := {}),\n]\n\n\ndef keep(key):\n    _made[key] = 1\n"
        files["app/use.py"] += f"\n\n_seen: list = []\n{handlers}{made}"
    if draw(st.booleans()):
        handlers = spelling()
        decorator = fill(draw(st.sampled_from(["@{register}", '@{register_as}("name")'])), handlers)
        at_runtime = draw(st.booleans())
        if draw(st.booleans()):
            text = f"{SPELLINGS[handlers][0]}\n\n\n{decorator}\ndef handle():\n    return 1\n"
        else:  # applied in a class body, at import too
            text = f"{SPELLINGS[handlers][0]}\n\n\nclass Handlers:\n    {decorator}\n    def handle(self):\n        return 1\n\n\nhandle = 1\n"
        if at_runtime:  # a registry also filled by a call at runtime is state after all
            text += f"\n\ndef late():\n    {fill('{register}(handle)', handlers)}\n"
        files["app/handlers.py"] = text

    # Resets: in a helper of the tests, an autouse fixture, a setUp, or one test's body.
    helper_spelling = spelling()
    helper_resets = draw(st.lists(st.sampled_from(RESETS), max_size=2))
    if helper_resets:
        lines = "\n".join(f"    {fill(line, helper_spelling)}" for line in helper_resets)
        files["tests/helpers.py"] = (
            f"import importlib\nfrom unittest import mock\n{SPELLINGS[helper_spelling][0]}\n\n\ndef reset_all(monkeypatch=None):\n{lines}\n"
        )
    helper_import = draw(st.sampled_from(["from tests.helpers import reset_all", "from tests.helpers import reset_all as ra", "from tests import helpers"]))
    helper_call = {"from tests.helpers import reset_all": "reset_all(monkeypatch)", "from tests.helpers import reset_all as ra": "ra(monkeypatch)", "from tests import helpers": "helpers.reset_all(monkeypatch)"}[helper_import]

    conftest_spelling = spelling()
    reset_lines: List[str] = [fill(line, conftest_spelling) for line in draw(st.lists(st.sampled_from(RESETS), max_size=2))]
    # The module replaced through `self`: only where `self` is the package imported under that
    # name, not in a method (a parameter) nor where it is unbound (a builtin).
    package_as_self = draw(st.sampled_from(["", "import app as self\n"]))
    if draw(st.booleans()):
        reset_lines.append(fill("self.store = {module}", conftest_spelling))
    if helper_resets and draw(st.booleans()):
        reset_lines.append(helper_call)
    where = draw(st.sampled_from(["fixture", "module fixture", "setup_method", "setUp", "test body", "nowhere"]))
    imports = f"import importlib\nfrom unittest import mock\n\nimport pytest\n{package_as_self}{SPELLINGS[conftest_spelling][0]}\n{helper_import if helper_resets else ''}\n"
    resets = "\n".join(f"    {line}" for line in reset_lines) or "    pass"
    if where == "fixture":
        files["tests/conftest.py"] = f"{imports}\n\n@pytest.fixture(autouse=True)\ndef _reset(monkeypatch):\n    yield\n{resets}\n"
        tests = "from app.use import work\n\n\ndef test_work():\n    work('a')\n"
    elif where == "setup_method":
        indented = "\n".join(f"    {line}" for line in resets.splitlines())
        tests = (
            f"{imports}from app.use import work\n\n\nclass TestWork:\n    def setup_method(self):\n        monkeypatch = pytest.MonkeyPatch()\n"
            f"{indented}\n\n    def test_work(self):\n        work('a')\n"
        )
    elif where == "module fixture":
        tests = (
            f"{imports}from app.use import work\n\n\n@pytest.fixture(autouse=True)\ndef _reset(monkeypatch):\n{resets}\n\n\n"
            "def test_work():\n    work('a')\n"
        )
    elif where == "setUp":
        indented = "\n".join(f"    {line}" for line in resets.splitlines())
        tests = (
            f"import unittest\n{imports}from app.use import work\n\n\nclass WorkTests(unittest.TestCase):\n"
            f"    def setUp(self):\n        monkeypatch = pytest.MonkeyPatch()\n{indented}\n\n"
            "    def test_work(self):\n        work('a')\n"
        )
    elif where == "test body":
        tests = f"{imports}from app.use import work\n\n\ndef test_work(monkeypatch):\n    work('a')\n{resets}\n"
    else:
        tests = f"{imports}from app.use import work\n\n\ndef test_work():\n    work('a')\n"
    files["tests/test_work.py"] = tests
    return files


@pytest.fixture(scope="module")
def sliced_texts_parse():
    """Every text slicing.py leaves parses (the analysis would read the file whole otherwise, and
    hide the mistake)."""
    import ast

    from dbisolint import analysis

    slice_for = analysis.slice_for

    def checked(source, tree, watch, before=None, words=None):  # type: ignore[no-untyped-def]
        result = slice_for(source, tree, watch, before, words)
        if result.text is not None:
            ast.parse(result.text)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(analysis, "slice_for", checked)
        yield


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(projects())
def test_generated_projects_give_the_same_findings_with_and_without_the_prefilter(tmp_path_factory, sliced_texts_parse, files):
    folder = tmp_path_factory.mktemp("project")
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    config = load_config(None)
    with_filter = checker.check([folder], config)
    without = checker.check([folder], config, use_prefilter=False)
    assert [p for p in without.problems] == [], "the generated project parses"
    lacking = [f"{f.code} {f.message}" for f in without.findings if f not in with_filter.findings]
    added = [f"{f.code} {f.message}" for f in with_filter.findings if f not in without.findings]
    assert with_filter.findings == without.findings, {"lacking": lacking, "added": added}
