"""ruff-style fixture tests. For each rule, fixtures/rules/<CODE>/ holds:
- an `invalid.py` with the cases it must report, and `invalid.expected` (its concise output);
- a `valid.py` with the cases it must not report;
- `<file>.py.fixed` beside each file that `--fix` changes (with `--unsafe-fixes` for a rule
  whose fix is unsafe): `invalid.py.fixed` for the engine rules, `tests/conftest.py.fixed` for
  the state rules, whose folders are small projects with a test suite. (Not `.py`: a fixed
  conftest inside the project would itself reset the state.)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Dict

import libcst as cst
import pytest

from dbisolint import checker
from dbisolint.config import load_config
from dbisolint.output import concise
from dbisolint.rules import RULES_BY_CODE

from .conftest import RULE_FIXTURES, UPDATE

CODES = sorted(path.name for path in RULE_FIXTURES.iterdir() if path.is_dir())


def only(code: str):
    return load_config(None, {"select": [code]})


def case_file(folder: Path, name: str) -> Path:
    (found,) = folder.glob(f"**/{name}")
    return found.relative_to(folder)


@pytest.fixture(params=CODES)
def rule_dir(request, monkeypatch) -> Path:
    folder = RULE_FIXTURES / request.param
    monkeypatch.chdir(folder)
    return folder


def test_every_rule_has_fixtures():
    assert sorted(RULES_BY_CODE) == CODES
    for code in CODES:
        folder = RULE_FIXTURES / code
        assert case_file(folder, "invalid.py") and case_file(folder, "valid.py")
        assert list(folder.glob("**/*.py.fixed")), f"{code} has no fixed result"


def test_invalid_cases_are_reported(rule_dir: Path):
    code = rule_dir.name
    result = checker.check([case_file(rule_dir, "invalid.py")], only(code))
    assert not result.problems
    got = concise(result.findings, [], unsafe=False) + "\n"
    expected = rule_dir / "invalid.expected"
    if UPDATE:
        expected.write_text(got)
    assert got == expected.read_text()
    assert {finding.code for finding in result.findings} == {code}


def test_valid_cases_are_not_reported(rule_dir: Path):
    result = checker.check([case_file(rule_dir, "valid.py")], only(rule_dir.name))
    assert not result.problems
    assert result.findings == []


def snapshot(folder: Path) -> Dict[str, str]:
    return {str(path.relative_to(folder)): path.read_text() for path in sorted(folder.rglob("*.py*"))}


def test_fix_gives_the_fixed_files_and_is_stable(rule_dir: Path, tmp_path: Path, monkeypatch):
    code = rule_dir.name
    unsafe = RULES_BY_CODE[code].fix_availability == "unsafe"
    project = tmp_path / code
    shutil.copytree(rule_dir, project)
    monkeypatch.chdir(project)
    before = snapshot(project)
    result = checker.fix([case_file(rule_dir, "invalid.py")], only(code), unsafe=unsafe)
    after = snapshot(project)
    expected_changes = {name[: -len(".fixed")]: text for name, text in before.items() if name.endswith(".fixed")}
    changed = {name: text for name, text in after.items() if text != before.get(name)}
    if UPDATE:
        for name, text in changed.items():
            (rule_dir / f"{name}.fixed").write_text(text)
        expected_changes = changed
    assert changed == expected_changes
    for text in changed.values():
        cst.parse_module(text)
    assert all(f.fix is None for f in result.findings), "a fixed project has no fixable finding left"
    again = checker.fix([case_file(rule_dir, "invalid.py")], only(code), unsafe=unsafe)
    assert again.changes == {} and snapshot(project) == after


def test_each_fix_alone_parses_and_removes_its_finding(rule_dir: Path, tmp_path: Path, monkeypatch):
    """The edits reported for one finding (JSON's fix.edits) are a complete fix on their own."""
    code = rule_dir.name
    invalid = case_file(rule_dir, "invalid.py")
    findings = checker.check([invalid], only(code), edits=True).findings
    project = tmp_path / code
    fixable = [finding for finding in findings if finding.fix is not None]
    assert fixable
    for finding in fixable:
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(rule_dir, project)
        monkeypatch.chdir(project)
        for path in {edit.path for edit in finding.fix.edits}:
            target = project / path
            text = target.read_text() if target.exists() else ""
            patched = apply_edits(text, [edit for edit in finding.fix.edits if edit.path == path])
            cst.parse_module(patched)
            target.write_text(patched)
        remaining = checker.check([invalid], only(code)).findings
        assert len(remaining) == len(findings) - 1, finding


def apply_edits(text: str, edits) -> str:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(position) -> int:
        return len(text) if position.row > len(lines) else offsets[position.row - 1] + position.column - 1

    for edit in sorted(edits, key=lambda edit: edit.start, reverse=True):
        text = text[: offset(edit.start)] + edit.content + text[offset(edit.end) :]
    return text
