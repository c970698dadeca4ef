"""Properties over generated input (a bounded number of examples, so the suite stays quick):
no input crashes the checker, every fix parses and holds, the pre-filter changes nothing."""

from __future__ import annotations


import hypothesmith
import libcst as cst
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbisolint import checker
from dbisolint.analysis import analyse_source
from dbisolint.config import load_config
from dbisolint.engine_call import ENGINE_FACTORIES
from dbisolint.model import FileTask, ModuleName, StateSettings
from dbisolint.rules import RULES_BY_CODE

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
TASK = FileTask("generated.py", ModuleName("generated"), frozenset(RULES_BY_CODE), ENGINE_FACTORIES, state=StateSettings())


@SETTINGS
@given(hypothesmith.from_grammar())
def test_no_program_crashes_the_checker(program: str):
    report = analyse_source(TASK, program.encode("utf-8", "surrogatepass"))
    assert all(problem.kind != "InternalError" for problem in report.problems), report.problems


@SETTINGS
@given(st.binary(max_size=400))
def test_no_bytes_crash_the_checker(data: bytes):
    report = analyse_source(TASK, b"create_engine\n" + data)
    assert all(problem.kind in ("SyntaxError", "DecodeError") for problem in report.problems)


IMPORTS = {
    "create_engine": "from sqlalchemy import create_engine",
    "sa.create_engine": "import sqlalchemy as sa",
    "cae": "from sqlalchemy.ext.asyncio import create_async_engine as cae",
    "sqlmodel.create_engine": "import sqlmodel",
}
URLS = ['"sqlite://"', '"sqlite:///:memory:"', '"sqlite+pysqlite://"', 'URL', '"sqlite:///app.db"', '"postgresql://h/db"']
ASYNC_URLS = ['"sqlite+aiosqlite://"', '"sqlite+aiosqlite:///:memory:"', '"sqlite+aiosqlite:///app.db"']
POOLS = ["", "poolclass=NullPool", "poolclass=StaticPool", "poolclass=pool.QueuePool", "poolclass=None"]
CONNECT = ["", 'connect_args={"timeout": 5}', 'connect_args={"check_same_thread": True}', "connect_args=ARGS", "connect_args=dict(timeout=1)"]
SIZING = ["", "pool_size=5", "max_overflow=2, pool_timeout=3"]


@st.composite
def engine_modules(draw) -> str:
    calls, imports = [], set()
    for index in range(draw(st.integers(1, 3))):
        factory = draw(st.sampled_from(sorted(IMPORTS)))
        imports.add(IMPORTS[factory])
        url = draw(st.sampled_from(ASYNC_URLS if factory == "cae" else URLS))
        arguments = [url] + [draw(st.sampled_from(options)) for options in (POOLS, CONNECT, SIZING)]
        arguments = [argument for argument in arguments if argument]
        if draw(st.booleans()):  # one argument per line, with a trailing comma and a comment
            body = "".join(f"    {argument},  # note\n" for argument in arguments)
            calls.append(f"engine{index} = {factory}(\n{body})")
        else:
            calls.append(f"engine{index} = {factory}({', '.join(arguments)})")
    header = "\n".join(sorted(imports) + ["from sqlalchemy import pool", "from sqlalchemy.pool import NullPool, StaticPool"])
    return f'{header}\n\nURL = "sqlite://"\nARGS = {{"timeout": 5}}\n\n' + "\n".join(calls) + "\n"


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(engine_modules(), st.booleans())
def test_every_fix_parses_holds_and_is_stable(tmp_path_factory, source: str, unsafe: bool):
    folder = tmp_path_factory.mktemp("fix")
    (folder / "db.py").write_text(source)
    config = load_config(None, {"select": ["DBI0"]})
    before = checker.check([folder / "db.py"], config)
    fixable = {f.code for f in before.findings if f.fix and (f.fix.applicability == "safe" or unsafe)}
    checker.fix([folder / "db.py"], config, unsafe=unsafe)
    fixed = (folder / "db.py").read_text()
    compile(fixed, "db.py", "exec")
    cst.parse_module(fixed)
    left = checker.check([folder / "db.py"], config)
    assert not [f for f in left.findings if f.code in fixable and f.fix and (f.fix.applicability == "safe" or unsafe)]
    again = checker.fix([folder / "db.py"], config, unsafe=unsafe)
    assert again.changes == {} and (folder / "db.py").read_text() == fixed


STATE_LINES = st.sampled_from(
    [
        "_cache = {}",
        "_items = []",
        "REGISTRY = dict()",
        "def put(key, value):\n    _cache[key] = value",
        "def add(item):\n    _items.append(item)",
        "def register(name):\n    REGISTRY[name] = True",
        "@functools.lru_cache\ndef settings():\n    return {}",
        "class Limiter:\n    def __init__(self):\n        self._w = {}\n    def hit(self, k):\n        self._w[k] = 1",
        "limiter = Limiter()",
        "import functools",
    ]
)
TEST_LINES = st.sampled_from(
    [
        "import app",
        "from app import _cache",
        "@pytest.fixture(autouse=True)\ndef _reset():\n    yield\n    app._items.clear()",
        "def test_a():\n    app.put(1, 2)\n    _cache.clear()",
        "def setup_method(self):\n    app.settings.cache_clear()",
        "import pytest",
    ]
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(STATE_LINES, min_size=1, max_size=8), st.lists(TEST_LINES, max_size=6))
def test_the_prefilter_never_changes_findings(tmp_path_factory, app_lines, test_lines):
    folder = tmp_path_factory.mktemp("project")
    (folder / "pyproject.toml").write_text("")
    (folder / "app.py").write_text("\n\n".join(app_lines) + "\n")
    (folder / "tests").mkdir()
    (folder / "tests" / "test_app.py").write_text("\n\n".join(test_lines) + "\n")
    config = load_config(None)
    with_filter = checker.check([folder], config)
    without = checker.check([folder], config, use_prefilter=False)
    assert with_filter.findings == without.findings
    assert [p.kind for p in with_filter.problems] == [p.kind for p in without.problems if p.kind != "SyntaxError"]
