"""Every kind of file a commit hook meets: each gets one clear line (or nothing), the run goes on,
the exit code stays right, and no fix ever leaves a file broken or half written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbisolint import checker
from dbisolint.config import load_config
from dbisolint.fixer import write_fixes

from .conftest import lines, run_dbisolint

ENGINE = 'from sqlalchemy import create_engine\nengine = create_engine("sqlite://")\n'
FIXED_LINE = 'engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\nversion = '0'\n")
    (tmp_path / "good.py").write_text(ENGINE)
    return tmp_path


def outcome(project: Path, *args: str):
    done = run_dbisolint([*args], cwd=project)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done, lines(done.stdout)


def assert_still_checks_the_others(out):
    assert any(line.startswith("good.py:2:10: DBI001") for line in out), out


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("syntax.py", b"create_engine\ndef f(:\n", "syntax.py:2:"),
        ("nul.py", b"create_engine\nx = 1\x00\n", "nul.py:"),
        ("latin.py", b'x = "caf\xe9"  # create_engine\n', "latin.py: DecodeError"),
        ("deep.py", b"create_engine\nx = " + b"(" * 3000 + b")" * 3000 + b"\n", "deep.py: SyntaxError: too deeply nested to parse"),
    ],
)
def test_broken_files_get_one_line(project: Path, name: str, content: bytes, expected: str):
    (project / name).write_bytes(content)
    done, out = outcome(project, ".")
    assert done.returncode == 1
    assert [line for line in out if line.startswith(name)][0].startswith(expected)
    assert len([line for line in out if line.startswith(name)]) == 1
    assert_still_checks_the_others(out)


@pytest.mark.parametrize(
    "name, content",
    [
        ("declared.py", b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + ENGINE.encode()),
        ("bom.py", b"\xef\xbb\xbf" + ENGINE.encode()),
        ("crlf.py", ENGINE.replace("\n", "\r\n").encode()),
        ("mixed.py", b"from sqlalchemy import create_engine\r\nengine = create_engine('sqlite://')\n"),
        ("tabs.py", b"from sqlalchemy import create_engine\nif True:\n\tengine = create_engine('sqlite://')\n"),
        ("newer.py", b"type Url = str\n" + ENGINE.encode()),  # 3.12 syntax: libcst reads it anyway
    ],
)
def test_unusual_but_valid_files_are_checked_and_fixed_in_their_own_bytes(project: Path, name: str, content: bytes):
    (project / name).write_bytes(content)
    done, out = outcome(project, name)
    assert done.returncode == 1 and len(out) == 2 and "DBI001" in out[0], out
    fixed, _ = outcome(project, "--fix", name)
    assert fixed.returncode == 0, fixed.stdout
    after = (project / name).read_bytes()
    if content.startswith(b"\xef\xbb\xbf"):
        assert after.startswith(b"\xef\xbb\xbf")
    if b"\r\n" in content and b"\n" not in content.replace(b"\r\n", b""):
        assert b"\n" not in after.replace(b"\r\n", b"")
    assert content.split(b"\n")[0] in after  # the untouched first line, in its own encoding
    compile(after, name, "exec") if not name.startswith("newer") else None
    assert outcome(project, "--fix", name)[0].stdout.strip() == "All checks passed!"


def test_valid_code_that_libcst_would_refuse_to_build_is_checked(project: Path):
    """libcst 1.9's check of the nodes its parser builds raises a TypeError on this valid line;
    the parse is read unchecked (analysis._unchecked_nodes)."""
    (project / "ifexp.py").write_text(ENGINE + "x = () if 0 else(lambda:())\n")
    done, out = outcome(project, "ifexp.py")
    assert done.returncode == 1 and len(out) == 2 and out[0].startswith("ifexp.py:2:10: DBI001"), out
    # A fix rebuilds the nodes it visits, checked: where libcst refuses, one line and exit 2; under
    # --fix the same line beside the finding, left as it was; never a traceback.
    failed = "ifexp.py: InternalError: DBI001 failed: TypeError"
    diffed, out = outcome(project, "--diff", "ifexp.py")
    assert diffed.returncode == 2 and failed in diffed.stderr, out
    fixed, _ = outcome(project, "--fix", "ifexp.py")
    assert fixed.returncode == 2 and "ifexp.py:2:10: DBI001" in fixed.stdout, fixed.stdout
    assert (fixed.stdout + fixed.stderr).count(failed) == 1 and "Traceback" not in fixed.stdout + fixed.stderr
    assert (project / "ifexp.py").read_text() == ENGINE + "x = () if 0 else(lambda:())\n"


def test_empty_file_and_folder_named_like_a_file(project: Path):
    (project / "empty.py").write_bytes(b"")
    (project / "pkg.py").mkdir()
    (project / "pkg.py" / "inner.py").write_text(ENGINE)
    done, out = outcome(project, ".")
    assert not any(line.startswith("empty.py") for line in out)
    assert any(line.startswith("pkg.py/inner.py:2:10: DBI001") for line in out)
    named, out = outcome(project, "pkg.py")
    assert named.returncode == 1 and out[0].startswith("pkg.py/inner.py:2:10")


def test_big_generated_module_is_skipped_with_a_line(project: Path):
    (project / "generated.py").write_bytes(ENGINE.encode() + b"x = 1\n" * 600_000)
    done, out = outcome(project, ".")
    assert "generated.py: Skipped: 3.6 MB is over max-file-size (2.1 MB)" in out
    assert_still_checks_the_others(out)
    (project / "pyproject.toml").write_text("[tool.dbisolint]\nmax-file-kb = 0\n")
    (project / "generated.py").write_bytes(ENGINE.encode() + b"x = 1\n" * 20_000)
    assert any(line.startswith("generated.py:2:10: DBI001") for line in outcome(project, ".")[1])


def test_symlinks_are_not_followed_and_a_loop_named_explicitly_is_a_usage_error(project: Path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "elsewhere.py").write_text(ENGINE)
    (project / "link.py").symlink_to(outside / "elsewhere.py")
    (project / "linked_folder").symlink_to(outside, target_is_directory=True)
    (project / "loop").symlink_to(project / "loop")
    done, out = outcome(project, ".")
    assert not any("elsewhere" in line or line.startswith(("link", "loop")) for line in out)
    assert_still_checks_the_others(out)
    loop, _ = outcome(project, "loop")
    assert loop.returncode == 2 and "loop" in loop.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_unreadable_file(project: Path):
    (project / "secret.py").write_text(ENGINE)
    (project / "secret.py").chmod(0)
    done, out = outcome(project, ".")
    assert "secret.py: ReadError: cannot read: Permission denied" in out
    assert_still_checks_the_others(out)


def test_non_python_file_named_explicitly(project: Path):
    (project / "notes.txt").write_text("create_engine is mentioned in prose here.\n")
    done, out = outcome(project, "notes.txt")
    assert done.returncode == 1 and len(out) == 2 and out[0].startswith("notes.txt:1:") and "SyntaxError" in out[0]


def test_a_conftest_that_does_not_parse_stops_the_state_rules_with_a_line(project: Path):
    (project / "app.py").write_text("_cache = {}\n\ndef put(k, v):\n    _cache[k] = v\n")
    (project / "tests").mkdir()
    (project / "tests" / "conftest.py").write_text("import app\n\ndef reset(:\n    app._cache.clear()\n")
    done, out = outcome(project, ".")
    assert any(line.startswith("tests/conftest.py") and "SyntaxError" in line for line in out)
    assert any("StateRulesSkipped" in line for line in out)
    assert not any(" DBI101 " in line for line in out), "no verdict without the resets"


def test_an_internal_error_names_file_and_rule_and_exits_2(project: Path, monkeypatch):
    from click.testing import CliRunner

    from dbisolint.cli import main
    from dbisolint.rules.dbi002_wrong_pool_class import InMemorySqliteWithWrongPoolClass

    def boom(self, call):
        raise ValueError("boom")

    monkeypatch.setattr(InMemorySqliteWithWrongPoolClass, "check", boom)
    monkeypatch.chdir(project)
    (project / "other.py").write_text("x = 1\n")
    result = CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "good.py", "other.py"])
    assert result.exit_code == 2
    assert "good.py: InternalError: DBI002 failed: ValueError: boom" in result.output
    assert "Traceback" not in result.output
    verbose = CliRunner().invoke(main, ["--jobs", "1", "--no-cache", "--verbose", "good.py"])
    assert "Traceback (most recent call last)" in verbose.output and "raise ValueError" in verbose.output


def test_fix_refuses_what_changed_since_it_was_read_and_read_only_files(project: Path, monkeypatch):
    monkeypatch.chdir(project)
    (project / "locked.py").write_text(ENGINE)
    (project / "locked.py").chmod(0o444)
    (project / "moved.py").write_text(ENGINE)
    planned = checker.check([Path(".")], load_config(None), fix="safe")
    (project / "moved.py").write_text(ENGINE + "# edited meanwhile\n")
    problems = {problem.path: problem.message for problem in write_fixes(planned.changes)}
    assert problems == {
        "locked.py": "the file is read-only; not fixed",
        "moved.py": "changed on disk since it was read; not overwritten",
    }
    assert FIXED_LINE in (project / "good.py").read_text(), "the other fixes still land"
    assert (project / "locked.py").read_text() == ENGINE
    assert sorted(path.name for path in project.iterdir() if path.name.startswith(".")) == []


def test_fix_in_a_read_only_folder(project: Path):
    (project / "frozen").mkdir()
    (project / "frozen" / "db.py").write_text(ENGINE)
    (project / "frozen").chmod(0o555)
    try:
        done, out = outcome(project, "--fix", ".")
    finally:
        (project / "frozen").chmod(0o755)
    assert "frozen/db.py: WriteError: its folder is read-only; not fixed" in out
    assert FIXED_LINE in (project / "good.py").read_text()
    assert (project / "frozen" / "db.py").read_text() == ENGINE


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_fix_leaves_each_file_whole(tmp_path: Path, sent):
    (tmp_path / "pyproject.toml").write_text("")
    originals = {}
    for index in range(300):
        path = tmp_path / f"db{index:03}.py"
        path.write_text(ENGINE)
        originals[path] = ENGINE
    fixer = subprocess.Popen(
        [sys.executable, "-m", "dbisolint", "--fix", "--no-cache", "--jobs", "1", "."],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and all(path.read_text() == ENGINE for path in originals):
        time.sleep(0.01)  # wait until the writing has begun
    fixer.send_signal(sent)
    fixer.wait(timeout=120)
    texts = [path.read_text() for path in originals]
    assert all(text == ENGINE or FIXED_LINE in text for text in texts)
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".db")], "no temporary file is left"
    for text in texts:
        compile(text, "fixed", "exec")
