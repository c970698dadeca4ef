from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence

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


@pytest.fixture
def parsed(monkeypatch) -> "Parses":
    """The paths of the files that the checks of a test (run in this process) give to libcst's
    parser while analysing them, in order, and in `texts` the last text given for each."""
    from dbisolint import analysis

    paths = Parses()
    current: List[str] = []
    analyse_source, parse_module = analysis.analyse_source, analysis.cst.parse_module

    def analysing(task, source, words=None):  # type: ignore[no-untyped-def]
        current[:] = [task.path]
        try:
            return analyse_source(task, source, words)
        finally:
            current.clear()  # what fixes parse afterwards (conftest.py, the fixture) is no file's

    def parsing(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        for path in current:
            paths.append(path)
            paths.texts[path] = source.decode() if isinstance(source, bytes) else source
        return parse_module(source, *args, **kwargs)

    monkeypatch.setattr(analysis, "analyse_source", analysing)
    monkeypatch.setattr(analysis.cst, "parse_module", parsing)
    return paths


class Parses(List[str]):
    """The `parsed` fixture's paths, and in `texts` the last text parsed of each."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: Dict[str, str] = {}

    def clear(self) -> None:
        super().clear()
        self.texts.clear()


def lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.strip()]


# Managed by `dbisolint --fix`: resets the module-level state dbisolint found (DBI101-DBI103)
# around every test. Re-running `--fix` rewrites this part; add entries by running it again.
_DBISOLINT_STATE = (
    ("dbisolint.flake8_plugin", "_project_findings", "cache", ()),
    ("dbisolint.flake8_plugin", "_project_root", "cache", ()),
    ("dbisolint.project", "_marked_folder", "cache", ()),
    ("dbisolint.project", "_packages", "cache", ()),
    ("dbisolint.project", "_project", "cache", ()),
    ("dbisolint.project", "is_package", "cache", ()),
)


@pytest.fixture(autouse=True)
def _dbisolint_reset_module_state():
    """Snapshot the module-level state listed above before each test, restore it after.

    Only modules the tests have already imported are touched: importing one from here could run
    its side effects before this conftest has set up the environment.
    """
    import sys

    slots = []
    caches = []
    for module_name, name, kind, attributes in _DBISOLINT_STATE:
        module = sys.modules.get(module_name)
        if module is None or not hasattr(module, name):
            continue
        target = getattr(module, name)
        if kind == "cache":
            if hasattr(target, "cache_clear"):  # not a cache any more: nothing to clear
                target.cache_clear()
                caches.append(target)
        elif kind == "instance":
            slots.extend(
                (target, attribute, _dbisolint_snapshot(getattr(target, attribute)))
                for attribute in attributes
                if hasattr(target, attribute)
            )
        else:
            slots.append((module, name, _dbisolint_snapshot(target)))
    yield
    for owner, attribute, snapshot in slots:
        _dbisolint_restore(owner, attribute, snapshot)
    for cached in caches:
        cached.cache_clear()


def _dbisolint_snapshot(value):
    """The object itself and a copy of its contents (deep when possible: nested containers too)."""
    import copy

    try:
        return value, copy.deepcopy(value)
    except (TypeError, ValueError, AttributeError, RecursionError, copy.Error):
        # Contents that cannot be deep-copied (locks, tasks): a shallow copy then.
        return value, copy.copy(value)


def _dbisolint_restore(owner, attribute, snapshot):
    """Put the original object back (the test may have rebound it) and refill it in place, so
    that contents filled at import, such as registries, survive."""
    import collections

    original, contents = snapshot
    setattr(owner, attribute, original)
    if original is contents:
        return
    if isinstance(original, (list, bytearray)):
        original[:] = contents
    elif isinstance(original, collections.deque):
        original.clear()
        original.extend(contents)
    elif hasattr(original, "clear") and hasattr(original, "update"):
        original.clear()
        original.update(contents)
