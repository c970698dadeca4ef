"""Fixes proven by running what they fix: real SQLAlchemy, aiosqlite and pytest, in fresh
processes, on temporary copies of the projects in fixtures/projects/."""

from __future__ import annotations

import subprocess
import sys

from .conftest import lines, run_dbisolint, run_pytest


def test_engine_fix_makes_threads_and_connections_share_one_database(copy_fixture):
    project = copy_fixture("projects/engine_threads")

    before = run_pytest(project)
    assert before.returncode == 1, before.stdout
    assert "no such table: items" in before.stdout  # the worker thread got its own database
    assert "no such table: orders" in before.stdout  # the second connection got its own
    assert "2 failed" in before.stdout

    fixed = run_dbisolint(["--fix", "."], cwd=project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "2 fixed, 0 remaining" in fixed.stdout

    after = run_pytest(project)
    assert after.returncode == 0, after.stdout
    assert "2 passed" in after.stdout


def test_state_fix_makes_the_suite_pass_in_any_order(copy_fixture):
    project = copy_fixture("projects/polluted_suite")
    forward = ["tests/test_first.py", "tests/test_second.py"]
    backward = list(reversed(forward))
    for path in forward:
        assert run_pytest(project, path).returncode == 0, "each file passes on its own"
    # Together they fail, whichever file goes first (the registry test only fails forward).
    for order, outcome in ((forward, "6 failed, 8 passed"), (backward, "5 failed, 9 passed")):
        together = run_pytest(project, *order)
        assert together.returncode == 1, together.stdout
        assert outcome in together.stdout

    check = run_dbisolint(["."], cwd=project)
    assert check.returncode == 1
    flagged = {line.split()[1] for line in lines(check.stdout) if line.startswith("app/")}
    assert flagged == {"DBI101", "DBI102", "DBI103"}

    fixed = run_dbisolint(["--fix", "."], cwd=project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "7 fixed, 0 remaining" in fixed.stdout

    for order in (forward, backward):
        together = run_pytest(project, *order)
        assert together.returncode == 0, together.stdout
        assert "14 passed" in together.stdout

    # Given one source file, as pre-commit does, the conftest's resets are still seen.
    one_file = run_dbisolint(["app/state.py"], cwd=project)
    assert one_file.returncode == 0, one_file.stdout
    again = run_dbisolint(["--fix", "."], cwd=project)
    assert again.returncode == 0 and "fixed" not in again.stdout


def test_settings_url_fix_guards_in_memory_urls_and_keeps_production_pools(copy_fixture):
    import os

    project = copy_fixture("projects/settings_url")

    before = run_pytest(project)
    assert before.returncode == 1 and "no such table: users" in before.stdout, before.stdout

    check = run_dbisolint(["."], cwd=project)
    assert check.returncode == 1 and "DBI005" in check.stdout
    assert "tests/conftest.py:3 sets `DATABASE_URL`" in check.stdout

    fixed = run_dbisolint(["--fix", "."], cwd=project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = run_pytest(project)
    assert after.returncode == 0 and "2 passed" in after.stdout, after.stdout

    # A file database keeps the pool and pool arguments of the production path (QueuePool,
    # pre-ping), as the engine SQLAlchemy builds shows.
    file_database = f"sqlite:///{project / 'app.db'}"
    with_file = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PROOF_DATABASE_URL": file_database},
    )
    assert with_file.returncode == 0 and "2 passed" in with_file.stdout, with_file.stdout


def test_file_database_fix_keeps_the_tables_an_async_engine_disposes(copy_fixture):
    """DBI006: the application's shutdown disposes its engine; on an in-memory aiosqlite database
    that empties it for every later test, also under pytest-xdist. A file database keeps it."""
    project = copy_fixture("projects/async_dispose")
    xdist = ["-n", "2", "--dist", "loadfile"]
    for args in ((), xdist):
        before = run_pytest(project, *args)
        assert before.returncode == 1 and "no such table: items" in before.stdout, before.stdout
        assert "2 failed, 1 passed" in before.stdout

    check = run_dbisolint(["."], cwd=project)
    assert check.returncode == 1 and "tests/conftest.py:6:28: DBI006" in check.stdout, check.stdout
    assert "`app/db.py:22` disposes it" in check.stdout
    safe_only = run_dbisolint(["--fix", "."], cwd=project)
    assert safe_only.returncode == 1 and "1 hidden fix" in safe_only.stdout  # the fix is unsafe

    fixed = run_dbisolint(["--fix", "--unsafe-fixes", "."], cwd=project)
    assert fixed.returncode == 0 and "1 fixed, 0 remaining" in fixed.stdout, fixed.stdout + fixed.stderr
    for args in ((), xdist):
        after = run_pytest(project, *args)
        assert after.returncode == 0 and "3 passed" in after.stdout, after.stdout
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "tests/conftest.py"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout
    again = run_dbisolint(["--fix", "--unsafe-fixes", "."], cwd=project)
    assert again.returncode == 0 and "fixed" not in again.stdout
