"""dbisolint where users run it: through flake8, and as pre-commit hooks (tested for real)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT, lines, run_dbisolint


def test_flake8_reports_the_same_findings(copy_fixture):
    project = copy_fixture("demo")
    ours = run_dbisolint(["--output-format", "concise", "-q", "."], cwd=project)
    flake8 = subprocess.run(
        [sys.executable, "-m", "flake8", "--select", "DBI", "."], cwd=project, capture_output=True, text=True
    )
    assert flake8.returncode == 1, flake8.stderr
    normalise = lambda line: line.removeprefix("./").replace(" [*]", "")  # noqa: E731
    assert sorted(map(normalise, lines(flake8.stdout))) == sorted(map(normalise, lines(ours.stdout)))
    assert len(lines(flake8.stdout)) == 5


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)


def _try_repo(project: Path, hook: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("DBISOLINT_CACHE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--all-files"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


OFFLINE = ("Could not find a version", "Temporary failure in name resolution", "ConnectionError", "No matching distribution")


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_hooks(tmp_path: Path):
    project = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", project)
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "demo")
    home = tmp_path / "pre-commit-home"

    check = _try_repo(project, "dbisolint", home)
    if check.returncode != 0 and any(marker in check.stdout + check.stderr for marker in OFFLINE):
        pytest.skip("the hook environment cannot be built offline")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "DBI001" in check.stdout and "DBI101" in check.stdout

    fix = _try_repo(project, "dbisolint-fix", home)
    assert fix.returncode == 1, fix.stdout + fix.stderr  # pre-commit fails a hook that changed files
    assert "files were modified by this hook" in fix.stdout
    assert "poolclass=StaticPool" in (project / "src" / "shop" / "db.py").read_text()
    assert "_DBISOLINT_STATE" in (project / "tests" / "conftest.py").read_text()

    again = _try_repo(project, "dbisolint", home)
    assert again.returncode == 0, again.stdout + again.stderr
