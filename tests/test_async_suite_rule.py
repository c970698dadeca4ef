"""DBI006 beyond its fixture files: pytest's configuration, a check given one file (pre-commit),
and the pool rules leaving to it the engines a file database cures."""

from __future__ import annotations

from pathlib import Path

from dbisolint import checker
from dbisolint.config import load_config

from .conftest import RULE_FIXTURES


def _findings(paths, code: str = "DBI006", **options):
    return checker.check([Path(path) for path in paths], load_config(None, {"select": [code]}), **options).findings


def test_pytest_env_is_reported_at_its_line_without_a_fix(monkeypatch):
    monkeypatch.chdir(RULE_FIXTURES / "DBI006")
    configured = [finding for finding in _findings(["."]) if finding.path == "pyproject.toml"]
    assert [(finding.start.row, finding.fix) for finding in configured] == [(6, None)]
    assert "`CONFIG_DB_URL`" in configured[0].message
    assert not [finding for finding in _findings(["tests"]) if finding.path == "pyproject.toml"], (
        "the configuration file is reported only when the check is given its folder"
    )


def test_one_conftest_given_alone_is_judged_with_the_whole_project(copy_fixture, monkeypatch):
    """pre-commit passes only the changed files: the engine that reads the variable and the
    shutdown that disposes it are still found."""
    project = copy_fixture("projects/async_dispose")
    monkeypatch.chdir(project)
    (finding,) = _findings(["tests/conftest.py"])
    assert "`app/db.py:22` disposes it" in finding.message


def test_a_variable_read_only_by_engines_built_for_each_test_is_not_reported(tmp_path: Path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text(
        "import os\n\nimport pytest\nfrom sqlalchemy.ext.asyncio import create_async_engine\n\n"
        'os.environ["TEST_URL"] = "sqlite+aiosqlite://"\n\n\n'
        "@pytest.fixture\ndef engine():\n    return create_async_engine(os.environ['TEST_URL'])\n"
    )
    monkeypatch.chdir(tmp_path)
    assert _findings(["."]) == []
    # The same engine in a session fixture is shared by every test.
    conftest = tmp_path / "tests" / "conftest.py"
    conftest.write_text(conftest.read_text().replace("@pytest.fixture\n", '@pytest.fixture(scope="session")\n'))
    assert [finding.start.row for finding in _findings(["."])] == [6]


def test_the_pool_rules_leave_shared_async_test_engines_to_dbi006(monkeypatch):
    monkeypatch.chdir(RULE_FIXTURES / "DBI006")
    for code in ("DBI001", "DBI002", "DBI004", "DBI005"):
        assert not [f for f in _findings(["tests/invalid.py", "app"], code) if f.path.startswith(("tests/invalid", "app/db"))], code
    per_test = _findings(["tests/valid.py"], "DBI001")
    assert per_test and all("DBI006" in finding.message for finding in per_test)
