from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULE_FIXTURES = FIXTURES / "rules"
# Set DBISOLINT_UPDATE_FIXTURES=1 to rewrite the expected files from the current output (then review the diff).
UPDATE = os.environ.get("DBISOLINT_UPDATE_FIXTURES") == "1"


def run_dbisolint(args: Sequence[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """The real command, in a fresh process, as users run it."""
    return subprocess.run(
        [sys.executable, "-m", "dbisolint", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        **kwargs,
    )


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a fixture project's own test suite in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(autouse=True, scope="session")
def _cache_outside_the_fixtures(tmp_path_factory):
    """The command's result cache goes to a temporary folder, never into fixtures/."""
    os.environ["DBISOLINT_CACHE_DIR"] = str(tmp_path_factory.mktemp("dbisolint_cache"))
    yield
    del os.environ["DBISOLINT_CACHE_DIR"]


@pytest.fixture
def copy_fixture(tmp_path: Path):
    """Copy a folder of fixtures/ into a temporary folder and return the copy."""

    def copy(relative: str) -> Path:
        target = tmp_path / Path(relative).name
        shutil.copytree(FIXTURES / relative, target)
        return target

    return copy


def lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.strip()]
