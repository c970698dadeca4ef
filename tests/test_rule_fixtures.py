"""ruff-style fixture tests: for each rule, fixtures/rules/<CODE>/ holds
- invalid.py with the cases it must report, and invalid.expected beside it (concise output);
- valid.py with the cases it must not report;
- invalid.fixed.py: invalid.py after `--fix` (with `--unsafe-fixes` for a rule whose fix is unsafe).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import libcst as cst
import pytest

from dbisolint import checker
from dbisolint.config import load_config
from dbisolint.output import concise
from dbisolint.rules import RULES_BY_CODE

from .conftest import RULE_FIXTURES, UPDATE

ENGINE_CODES = sorted(path.name for path in RULE_FIXTURES.iterdir() if (path / "invalid.py").exists())


def only(code: str):
    return load_config(None, {"select": [code]})


@pytest.fixture(params=ENGINE_CODES)
def rule_dir(request, monkeypatch) -> Path:
    folder = RULE_FIXTURES / request.param
    monkeypatch.chdir(folder)
    return folder


def test_every_rule_has_fixtures():
    assert sorted(RULES_BY_CODE) == ENGINE_CODES


def test_invalid_cases_are_reported(rule_dir: Path):
    code = rule_dir.name
    result = checker.check([Path("invalid.py")], only(code))
    assert not result.problems
    got = concise(result.findings, [], unsafe=False) + "\n"
    expected = rule_dir / "invalid.expected"
    if UPDATE:
        expected.write_text(got)
    assert got == expected.read_text()
    assert {finding.code for finding in result.findings} == {code}


def test_valid_cases_are_not_reported(rule_dir: Path):
    result = checker.check([Path("valid.py")], only(rule_dir.name))
    assert not result.problems
    assert result.findings == []


def test_fix_gives_the_fixed_file_and_is_stable(rule_dir: Path, tmp_path: Path, monkeypatch):
    code = rule_dir.name
    unsafe = RULES_BY_CODE[code].fix_availability == "unsafe"
    shutil.copy(rule_dir / "invalid.py", tmp_path / "invalid.py")
    monkeypatch.chdir(tmp_path)
    result = checker.fix([Path("invalid.py")], only(code), unsafe=unsafe)
    fixed = (tmp_path / "invalid.py").read_text()
    expected = rule_dir / "invalid.fixed.py"
    if UPDATE:
        expected.write_text(fixed)
    assert fixed == expected.read_text()
    cst.parse_module(fixed)
    assert result.findings == [], "a fixed file has no finding left of the fixed code"
    again = checker.fix([Path("invalid.py")], only(code), unsafe=unsafe)
    assert again.changes == {} and (tmp_path / "invalid.py").read_text() == fixed


def test_each_fix_alone_parses_and_removes_its_finding(rule_dir: Path, tmp_path: Path, monkeypatch):
    """The edits reported for one finding (JSON's fix.edits) are a complete fix on their own."""
    code = rule_dir.name
    source = (rule_dir / "invalid.py").read_text()
    findings = checker.check([Path("invalid.py")], only(code)).findings
    monkeypatch.chdir(tmp_path)
    for finding in findings:
        assert finding.fix is not None
        patched = apply_edits(source, finding.fix.edits)
        cst.parse_module(patched)
        (tmp_path / "invalid.py").write_text(patched)
        remaining = checker.check([Path("invalid.py")], only(code)).findings
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
