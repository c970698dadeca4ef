"""The command as users run it: exit codes, output, selection, noqa, --fix/--diff, bad input."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from .conftest import lines, run_dbisolint

BUGGY = 'from sqlalchemy import create_engine\n\nengine = create_engine("sqlite://")\n'
CLEAN = 'from sqlalchemy import create_engine\n\nengine = create_engine("sqlite:///app.db")\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    return tmp_path


def test_exit_codes_and_summary(project: Path):
    (project / "clean.py").write_text(CLEAN)
    clean = run_dbisolint(["clean.py"], cwd=project)
    assert clean.returncode == 0 and clean.stdout.strip() == "All checks passed!"

    (project / "buggy.py").write_text(BUGGY)
    found = run_dbisolint(["."], cwd=project)
    assert found.returncode == 1
    assert lines(found.stdout) == [
        "buggy.py:3:10: DBI001 [*] In-memory SQLite engine without `poolclass`: SingletonThreadPool "
        "gives each thread its own empty database; use `poolclass=StaticPool`",
        "Found 1 error (1 fixable with --fix).",
    ]
    assert run_dbisolint([".", "--exit-zero"], cwd=project).returncode == 0
    assert run_dbisolint(["check", "."], cwd=project).returncode == 1


def test_usage_errors_exit_2_with_a_clear_message(project: Path):
    missing = run_dbisolint(["nowhere.py"], cwd=project)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    unknown_code = run_dbisolint(["--select", "DBI999", "."], cwd=project)
    assert unknown_code.returncode == 2 and "DBI999" in unknown_code.stderr
    (project / "pyproject.toml").write_text("[tool.dbisolint]\nselct = ['DBI']\n")
    bad_key = run_dbisolint(["."], cwd=project)
    assert bad_key.returncode == 2 and "`selct`" in bad_key.stderr and "Traceback" not in bad_key.stderr
    (project / "pyproject.toml").write_text("[tool.dbisolint]\nselect = 'DBI'\n")
    bad_type = run_dbisolint(["."], cwd=project)
    assert bad_type.returncode == 2 and "`select` must be a list of strings" in bad_type.stderr
    (project / "pyproject.toml").write_text("[tool.dbisolint\n")
    bad_toml = run_dbisolint(["."], cwd=project)
    assert bad_toml.returncode == 2 and "invalid TOML" in bad_toml.stderr


def test_version_and_help():
    version = run_dbisolint(["--version"], cwd=Path.cwd())
    assert version.returncode == 0 and version.stdout.startswith("dbisolint ")
    assert "--fix" in run_dbisolint(["check", "--help"], cwd=Path.cwd()).stdout


@pytest.mark.parametrize(
    "args, config, expected",
    [
        ([], "", {"DBI001", "DBI004"}),
        (["--select", "DBI004"], "", {"DBI004"}),
        (["--ignore", "DBI00"], "", set()),
        (["--select", "DBI", "--ignore", "DBI0"], "", set()),
        (["--select", "DBI001", "--ignore", "DBI"], "", {"DBI001"}),  # the more specific prefix wins
        ([], "select = ['DBI004']", {"DBI004"}),
        (["--select", "DBI001"], "select = ['DBI004']", {"DBI001"}),  # the command line wins
        (["--extend-select", "DBI001"], "select = ['DBI004']", {"DBI001", "DBI004"}),
        (["--ignore", "DBI"], "select = ['DBI001']", set()),  # a later layer's ignore applies
        ([], "per-file-ignores = {'engines.py' = ['DBI001']}", {"DBI004"}),
    ],
)
def test_rule_selection(project: Path, args, config, expected):
    (project / "engines.py").write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        'engine = create_async_engine("sqlite+aiosqlite://", pool_size=5)\n'
    )
    (project / "pyproject.toml").write_text(f"[tool.dbisolint]\n{config}\n")
    result = run_dbisolint([*args, "--output-format", "json", "engines.py"], cwd=project)
    assert {item["code"] for item in json.loads(result.stdout)} == expected


def test_noqa(project: Path):
    (project / "a.py").write_text(
        "from sqlalchemy import create_engine\n"
        'a = create_engine("sqlite://")  # noqa\n'
        'b = create_engine("sqlite://")  # noqa: DBI001\n'
        'c = create_engine("sqlite://")  # noqa: DBI002\n'
        'd = create_engine("sqlite://")  # NOQA:DBI001,DBI002\n'
        'e = create_engine(\n    "sqlite://",  # noqa: DBI001 (not the line where it starts)\n)\n'
        'f = create_engine("sqlite:// # noqa")\n'
    )
    result = run_dbisolint(["a.py"], cwd=project)
    assert [line.split(":")[1] for line in lines(result.stdout)[:-1]] == ["4", "6", "9"]
    (project / "b.py").write_text("# dbisolint: noqa\n" + BUGGY)
    (project / "c.py").write_text("# dbisolint: noqa: DBI002\n" + BUGGY)
    assert lines(run_dbisolint(["b.py", "c.py"], cwd=project).stdout)[0].startswith("c.py:4:10: DBI001")


def test_fix_writes_atomically_keeps_mode_and_is_stable(project: Path, monkeypatch):
    monkeypatch.delenv("DBISOLINT_CACHE_DIR")  # the default: a cache beside the configuration
    target = project / "db.py"
    target.write_text(BUGGY)
    target.chmod(0o640)
    fixed = run_dbisolint(["--fix", "."], cwd=project)
    assert fixed.returncode == 0, fixed.stdout
    assert fixed.stdout.strip() == "Found 1 error (1 fixed, 0 remaining)."
    assert target.read_text() == (
        "from sqlalchemy import create_engine\nfrom sqlalchemy.pool import StaticPool\n\n"
        'engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})\n'
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(os.listdir(project)) == [".dbisolint_cache", "db.py", "pyproject.toml"]  # no temporary file
    assert (project / ".dbisolint_cache" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (project / ".dbisolint_cache" / ".gitignore").read_text() == "*\n"
    again = run_dbisolint(["--fix", "."], cwd=project)
    assert again.returncode == 0 and again.stdout.strip() == "All checks passed!"


def test_diff_shows_and_writes_nothing(project: Path):
    (project / "db.py").write_text(BUGGY)
    diff = run_dbisolint(["--diff", "db.py"], cwd=project)
    assert diff.returncode == 1
    assert "+from sqlalchemy.pool import StaticPool" in diff.stdout
    assert diff.stdout.startswith("--- a/db.py\n+++ b/db.py\n")
    assert "Would fix 1 error." in diff.stderr
    assert (project / "db.py").read_text() == BUGGY
    (project / "db.py").write_text(CLEAN)
    nothing = run_dbisolint(["--diff", "db.py"], cwd=project)
    assert nothing.returncode == 0 and nothing.stdout == ""


def test_unsafe_fixes_only_on_request(project: Path):
    (project / "db.py").write_text(
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        'engine = create_async_engine("sqlite+aiosqlite://", pool_size=5)\n'
    )
    safe = run_dbisolint(["--fix", "db.py"], cwd=project)
    assert safe.returncode == 1 and "pool_size=5" in (project / "db.py").read_text()
    assert " [*] " not in safe.stdout
    unsafe = run_dbisolint(["--fix", "--unsafe-fixes", "db.py"], cwd=project)
    assert unsafe.returncode == 0, unsafe.stdout
    assert 'create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)' in (project / "db.py").read_text()


def test_json_has_ruffs_shape(project: Path):
    (project / "db.py").write_text(BUGGY)
    (item,) = json.loads(run_dbisolint(["--output-format", "json", "db.py"], cwd=project).stdout)
    assert set(item) == {"cell", "code", "message", "filename", "location", "end_location", "fix", "url", "noqa_row"}
    assert item["location"] == {"row": 3, "column": 10} and item["end_location"] == {"row": 3, "column": 36}  # exclusive, as ruff
    assert item["filename"] == str((project / "db.py").resolve())
    assert item["fix"]["applicability"] == "safe" and item["noqa_row"] == 3
    assert {"content", "location", "end_location", "filename"} == set(item["fix"]["edits"][0])


def test_bad_files_get_one_line_each_and_the_run_goes_on(project: Path):
    # Files the pre-filter lets through (they name an engine factory) are parsed and reported;
    # a file that cannot hold a finding is not parsed, so its syntax is not checked.
    (project / "broken.py").write_text("create_engine\ndef f(:\n    pass\n")
    (project / "latin.py").write_bytes(b'x = "caf\xe9" # create_engine\n')
    (project / "declared.py").write_bytes(b'# -*- coding: latin-1 -*-\nx = "caf\xe9"\n' + BUGGY.encode())
    (project / "empty.py").write_text("")
    (project / "folder.py").mkdir()
    (project / "folder.py" / "inner.py").write_text(BUGGY)
    (project / "buggy.py").write_text(BUGGY)
    result = run_dbisolint(["."], cwd=project)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    out = lines(result.stdout)
    assert any(line.startswith("broken.py:") and "SyntaxError" in line for line in out)
    assert any(line.startswith("latin.py: DecodeError") for line in out)
    assert any(line.startswith("declared.py:5:") and "DBI001" in line for line in out)
    assert any(line.startswith("buggy.py:3:10: DBI001") for line in out)
    assert any(line.startswith("folder.py/inner.py:3:10: DBI001") for line in out)
    assert not any(line.startswith("empty.py") for line in out)
    named = run_dbisolint(["notes.txt"], cwd=project) if (project / "notes.txt").write_text("create_engine(") else None
    assert named is not None and named.returncode == 1 and "SyntaxError" in named.stdout


def test_discovery_marks_nested_projects_and_reads_gitignores_of_subfolders(tmp_path: Path):
    from dbisolint.model import Config
    from dbisolint.project import FileFinder

    for path in ("app/a.py", "app/gen/b.py", "app/keep/c.py", "inner/d.py", "env/e.py", "app/gen.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    (tmp_path / "app" / ".gitignore").write_text("gen/\n/keep/c.py\n")
    (tmp_path / "inner" / "setup.cfg").write_text("")
    (tmp_path / "env" / "pyvenv.cfg").write_text("")
    finder = FileFinder(Config(root=str(tmp_path)))
    everything = {path.relative_to(tmp_path).as_posix() for path in finder.files([tmp_path])}
    assert everything == {"app/a.py", "app/gen.py", "inner/d.py"}, "a folder pattern spares the file of that name"
    own = {path.relative_to(tmp_path).as_posix() for path in finder.files([tmp_path], within_project=True)}
    assert own == {"app/a.py", "app/gen.py"}


def test_discovery_skips_ignored_and_environment_folders(project: Path):
    for folder in ("venv2", ".tox", "build", "generated", "src"):
        (project / folder).mkdir()
        (project / folder / "db.py").write_text(BUGGY)
    (project / "venv2" / "pyvenv.cfg").write_text("home = /usr\n")
    (project / ".gitignore").write_text("generated/\n")
    result = run_dbisolint(["."], cwd=project)
    assert [line.split(":")[0] for line in lines(result.stdout)[:-1]] == ["src/db.py"]
    explicit = run_dbisolint(["generated/db.py"], cwd=project)
    assert explicit.returncode == 1, "a file named explicitly is checked"
    (project / "pyproject.toml").write_text("[tool.dbisolint]\nextend-exclude = ['generated']\n")
    forced = run_dbisolint(["--force-exclude", "generated/db.py"], cwd=project)
    assert forced.returncode == 0
