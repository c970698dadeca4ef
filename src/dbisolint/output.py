"""Formatting results for people and for tools (ruff's shapes, so tools that read ruff read us)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from .model import Edit, Finding, Position, Problem
from .rules import RULES_BY_CODE


def _location(position: Position) -> Dict[str, int]:
    return {"row": position.row, "column": position.column}


def _absolute(path: str) -> str:
    return str(Path(path).resolve())


def _edit_json(edit: Edit) -> Dict[str, Any]:
    return {
        "content": edit.content,
        "location": _location(edit.start),
        "end_location": _location(edit.end),
        "filename": _absolute(edit.path),
    }


def finding_json(finding: Finding) -> Dict[str, Any]:
    fix: Optional[Dict[str, Any]] = None
    if finding.fix is not None:
        fix = {
            "applicability": finding.fix.applicability,
            "message": finding.fix.message,
            "edits": [_edit_json(edit) for edit in finding.fix.edits],
        }
    return {
        "cell": None,
        "code": finding.code,
        "message": finding.message,
        "filename": _absolute(finding.path),
        "location": _location(finding.start),
        "end_location": _location(finding.end),
        "fix": fix,
        "url": RULES_BY_CODE[finding.code].url(),
        "noqa_row": finding.noqa_row,
    }


def problem_json(problem: Problem) -> Dict[str, Any]:
    start = problem.start or Position(1, 1)
    return {
        "cell": None,
        "code": None,
        "message": f"{problem.kind}: {problem.message}",
        "filename": _absolute(problem.path),
        "location": _location(start),
        "end_location": _location(start),
        "fix": None,
        "url": None,
        "noqa_row": None,
    }


def problem_line(problem: Problem) -> str:
    where = problem.path
    if problem.start is not None:
        where += f":{problem.start.row}:{problem.start.column}"
    return f"{where}: {problem.kind}: {problem.message}"


def concise(findings: List[Finding], problems: List[Problem], unsafe: bool) -> str:
    lines = [problem_line(problem) for problem in problems]
    for finding in findings:
        fixable = finding.fix is not None and (finding.fix.applicability == "safe" or unsafe)
        mark = " [*]" if fixable else ""
        lines.append(f"{finding.path}:{finding.start.row}:{finding.start.column}: {finding.code}{mark} {finding.message}")
    return "\n".join(lines)


def as_json(findings: List[Finding], problems: List[Problem]) -> str:
    items = [problem_json(problem) for problem in problems] + [finding_json(finding) for finding in findings]
    return json.dumps(items, indent=2)
