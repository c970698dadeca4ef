"""The conftest fixture the state rules' fix writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from dbisolint.state_fix import managed_entries, with_managed_fixture

ENTRIES = [
    ("app.store", "_store", "container", ()),
    ("app.limits", "limiter", "instance", ("_windows", "_hits")),
    ("app.config", "get_settings", "cache", ()),
]
EXISTING = b'''"""Test setup."""
import os  # set before the app is imported

os.environ["DATABASE_URL"] = "sqlite://"


@__import__("pytest").fixture
def client():
    return object()
'''


def ruff(*args: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--isolated", str(path)], capture_output=True, text=True
    )


@pytest.mark.parametrize("existing", [None, EXISTING], ids=["new", "existing"])
def test_generated_code_passes_ruffs_defaults(existing, tmp_path: Path):
    conftest = tmp_path / "conftest.py"
    conftest.write_bytes(with_managed_fixture(existing, ENTRIES))
    checked = ruff("check", path=conftest)
    assert checked.returncode == 0, checked.stdout
    formatted = ruff("format", "--diff", path=conftest)
    if existing is None:  # the whole file is ours
        assert formatted.returncode == 0, formatted.stdout


def test_every_byte_outside_the_fixture_is_kept():
    fixed = with_managed_fixture(EXISTING, ENTRIES)
    assert fixed.startswith(b'"""Test setup."""\nimport os  # set before the app is imported\n')
    assert EXISTING.split(b"\n\n", 1)[1] in fixed
    assert fixed.count(b"import pytest") == 1


def test_rerunning_merges_sorted_entries_without_duplicates():
    once = with_managed_fixture(EXISTING, ENTRIES[:1])
    twice = with_managed_fixture(once, ENTRIES)
    thrice = with_managed_fixture(twice, ENTRIES[1:])
    assert thrice == twice
    assert managed_entries(cst.parse_module(twice)) == sorted(ENTRIES)
    assert twice.count(b"def _dbisolint_reset_module_state") == 1


def test_newline_style_and_encoding_are_kept():
    crlf = EXISTING.replace(b"\n", b"\r\n")
    fixed = with_managed_fixture(crlf, ENTRIES)
    assert b"\n" not in fixed.replace(b"\r\n", b"")
    latin = b"# -*- coding: latin-1 -*-\n# caf\xe9\n"
    assert with_managed_fixture(latin, ENTRIES).startswith(latin)


def test_the_fixture_restores_state_in_place(tmp_path: Path):
    """Run the generated fixture for real: a container refilled in place, a rebound one put back,
    an instance's attributes restored, a cache cleared, import-time contents kept."""
    package = tmp_path / "stateful"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "things.py").write_text(
        "import functools\nfrom collections import defaultdict, deque\n"
        "REGISTRY = {'builtin': 1}\nQUEUES = defaultdict(deque)\nREBOUND = [1]\n"
        "class Limiter:\n    def __init__(self):\n        self._windows = {}\n"
        "limiter = Limiter()\n"
        "@functools.lru_cache\ndef settings():\n    return object()\n"
    )
    entries = [
        ("stateful.things", "REGISTRY", "container", ()),
        ("stateful.things", "QUEUES", "container", ()),
        ("stateful.things", "REBOUND", "container", ()),
        ("stateful.things", "limiter", "instance", ("_windows",)),
        ("stateful.things", "settings", "cache", ()),
        ("stateful.never_imported", "X", "container", ()),
    ]
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_bytes(with_managed_fixture(None, entries))
    (tests / "test_order.py").write_text(
        "from stateful import things\n"
        "def test_a_pollutes():\n"
        "    things.REGISTRY['extra'] = 2\n"
        "    things.QUEUES['q'].append(1)\n"
        "    things.QUEUES['existing'] = things.QUEUES.get('existing', things.QUEUES['seed'])\n"
        "    things.REBOUND = [9]\n"
        "    things.limiter._windows['k'] = 5\n"
        "    test_a_pollutes.cached = things.settings()\n"
        "def test_b_sees_clean_state():\n"
        "    assert things.REGISTRY == {'builtin': 1}\n"
        "    assert list(things.QUEUES) == []\n"
        "    assert things.REBOUND == [1]\n"
        "    assert things.limiter._windows == {}\n"
        "    assert things.settings() is not test_a_pollutes.cached\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.mark.parametrize(
    "imports",
    [
        "",
        '"""Setup."""\n',
        "import os\n",
        "import os\n\nfrom app import models\n",
        "from app import models\n",
        "import os\n\nimport httpx\nimport sqlalchemy\nfrom starlette import testclient\n\nfrom app import models\n",
        "from __future__ import annotations\n\nimport os\n",
        '"""Setup."""\n\nimport os\n\nos.environ["X"] = "1"\n',
    ],
)
def test_import_pytest_goes_where_isort_wants_it(imports: str, tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    conftest = tmp_path / "conftest.py"
    source = imports + "\n\ndef helper():\n    return os, models\n" if "import" in imports else imports
    conftest.write_bytes(with_managed_fixture(source.encode(), ENTRIES, first_party=frozenset({"app"})))
    checked = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "I", "conftest.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, conftest.read_text()[:400] + checked.stdout
