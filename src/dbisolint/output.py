"""Formatting results for people and for tools.

Each output format is one function `(findings, problems, unsafe, tree) -> str`, picked from
`FORMATS`. Shapes follow ruff's where ruff has one, so whatever reads ruff's output reads ours.
`unsafe` says whether unsafe fixes count as applicable (the `[*]` mark); `tree` says where the
repository root is (CI tools join paths to their checkout) and how to read a source line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tokenize
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import (
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)
from urllib.parse import quote

from . import __version__
from .edits import split_lines
from .model import Edit, Finding, Fix, Position, Problem
from .rule import DOCS_URL
from .rules import RULES_BY_CODE

# --- where the output is read ------------------------------------------------------------------


def repository_root(start: Path) -> Path:
    """The nearest folder with a `.git` (a folder, or a file in worktrees and submodules), else `start`."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def read_bytes(path: str) -> Optional[bytes]:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None  # gone or unreadable since the check: the finding is still reported, without its line


@dataclass(frozen=True)
class Tree:
    """The checkout the findings are in."""

    root: str  # absolute; github, gitlab and sarif paths are relative to it
    read: Callable[[str], Optional[bytes]] = read_bytes

    @classmethod
    def here(cls) -> "Tree":
        return cls(str(repository_root(Path(os.getcwd()))))


def _relative(path: str, root: str) -> Optional[str]:
    """`path` relative to `root`, in posix form; None when it lies outside."""
    try:
        return PurePath(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return None


def _shown_from_root(path: str, root: str) -> str:
    # Outside the checkout no relative path exists; an absolute one at least names the file.
    return _relative(path, root) or os.path.abspath(path)


def _source_lines(data: Optional[bytes]) -> Optional[List[str]]:
    if data is None:
        return None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)  # coding cookie, BOM
    except SyntaxError:
        encoding = "utf-8"
    return [line.rstrip("\r\n") for line in split_lines(data.decode(encoding, errors="replace"))]


def _line_reader(tree: Tree) -> Callable[[str, int], Optional[str]]:
    """`line(path, row)`: the text of a line, each file decoded once; None when the file or line is gone."""
    files: Dict[str, Optional[List[str]]] = {}

    def line(path: str, row: int) -> Optional[str]:
        if path not in files:
            files[path] = _source_lines(tree.read(path))
        lines = files[path]
        return lines[row - 1] if lines is not None and 1 <= row <= len(lines) else None

    return line


def _occurrences(keys: Iterable[Hashable]) -> List[int]:
    """1 for the first item with its key, 2 for the next: what keeps equal fingerprints apart."""
    seen: Counter = Counter()
    numbers = []
    for key in keys:
        seen[key] += 1
        numbers.append(seen[key])
    return numbers


def _line_keys(findings: Sequence[Finding], tree: Tree) -> List[str]:
    """Each finding's stripped source line: a fingerprint that survives lines moving or re-indenting."""
    line = _line_reader(tree)
    return [(line(finding.path, finding.start.row) or "").strip() for finding in findings]


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode("utf-8", "surrogatepass")).hexdigest()


def fixable(finding: Finding, unsafe: bool) -> bool:
    """Whether `--fix` (with `--unsafe-fixes` when `unsafe`) would apply this finding's fix."""
    return finding.fix is not None and (finding.fix.applicability == "safe" or unsafe)


def _plural(count: int, noun: str, nouns: str = "") -> str:
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


# --- concise and full ------------------------------------------------------------------------------


def problem_line(problem: Problem) -> str:
    where = problem.path
    if problem.start is not None:
        where += f":{problem.start.row}:{problem.start.column}"
    return f"{where}: {problem.kind}: {problem.message}"


def _header(finding: Finding, unsafe: bool) -> str:
    mark = " [*]" if fixable(finding, unsafe) else ""
    return f"{finding.path}:{finding.start.row}:{finding.start.column}: {finding.code}{mark} {finding.message}"


def concise(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    return "\n".join([*map(problem_line, problems), *(_header(finding, unsafe) for finding in findings)])


def _width(text: str) -> int:
    return len(text.replace("\t", "    "))


def _snippet(finding: Finding, line: Callable[[str, int], Optional[str]]) -> List[str]:
    """The finding's lines with a gutter and `^` under its columns, as ruff's full output shows them."""
    last = finding.end.row
    if last > finding.start.row and finding.end.column == 1:
        last -= 1  # a span that ends at the start of a line ends with the line before
    rows = range(finding.start.row, max(last, finding.start.row) + 1)
    texts = [line(finding.path, row) for row in rows]
    if any(text is None for text in texts):
        return []  # the file vanished or shrank since the check: no snippet rather than a wrong one
    width = len(str(rows[-1]))
    gutter = " " * width + " |"
    shown = [gutter]
    for row, text in zip(rows, texts):
        assert text is not None
        start = finding.start.column - 1 if row == finding.start.row else len(text) - len(text.lstrip())
        end = finding.end.column - 1 if row == finding.end.row else len(text)
        start = min(start, len(text))
        end = min(max(end, start), len(text))
        shown.append(f"{row:>{width}} | {text.replace(chr(9), '    ')}".rstrip())
        if end > start or row == finding.start.row:  # an empty span still gets one caret
            shown.append(f"{gutter} {' ' * _width(text[:start])}{'^' * max(1, _width(text[start:end]))}")
    shown.append(gutter)
    return shown


def full(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    line = _line_reader(tree or Tree.here())
    blocks = list(map(problem_line, problems))
    for finding in findings:
        block = [_header(finding, unsafe), *_snippet(finding, line)]
        if finding.fix is not None:
            block.append(f"help: {finding.fix.message}")
        blocks.append("\n".join(block))
    return "\n\n".join(blocks)


# --- json and json-lines (ruff's item shape) --------------------------------------------------------


def _location(position: Position) -> Dict[str, int]:
    return {"row": position.row, "column": position.column}


def _edit_json(edit: Edit) -> Dict[str, Any]:
    return {
        "content": edit.content,
        "location": _location(edit.start),
        "end_location": _location(edit.end),
        "filename": os.path.abspath(edit.path),  # not in ruff's shape: our edits may be in another file
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
        "filename": os.path.abspath(finding.path),
        "location": _location(finding.start),
        "end_location": _location(finding.end),
        "fix": fix,
        "url": RULES_BY_CODE[finding.code].url(),
        "noqa_row": finding.noqa_row,
    }


def problem_json(problem: Problem) -> Dict[str, Any]:
    # ruff reports a syntax error as an item with code null; so does every problem here.
    start = problem.start or Position(1, 1)
    return {
        "cell": None,
        "code": None,
        "message": f"{problem.kind}: {problem.message}",
        "filename": os.path.abspath(problem.path),
        "location": _location(start),
        "end_location": _location(start),
        "fix": None,
        "url": None,
        "noqa_row": None,
    }


def _json_items(findings: Sequence[Finding], problems: Sequence[Problem]) -> List[Dict[str, Any]]:
    return [*map(problem_json, problems), *map(finding_json, findings)]


def as_json(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    return json.dumps(_json_items(findings, problems), indent=2)


def json_lines(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    return "\n".join(json.dumps(item) for item in _json_items(findings, problems))


# --- github (workflow commands: one annotation per line) ------------------------------------------

_MESSAGE_ESCAPES = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_DATA = str.maketrans(_MESSAGE_ESCAPES)
# In `key=value,...` a `:` would end the properties and a `,` would start the next one.
_PROPERTY = str.maketrans({**_MESSAGE_ESCAPES, ":": "%3A", ",": "%2C"})


def _annotation(properties: Dict[str, object], message: str) -> str:
    listed = ",".join(f"{key}={str(value).translate(_PROPERTY)}" for key, value in properties.items())
    return f"::error {listed}::{message.translate(_DATA)}"


def github(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    root = (tree or Tree.here()).root
    lines = []
    for problem in problems:
        where: Dict[str, object] = {"file": _shown_from_root(problem.path, root)}
        if problem.start is not None:
            where.update(line=problem.start.row, col=problem.start.column)
        lines.append(_annotation(where, f"{problem.kind}: {problem.message}"))
    for finding in findings:
        where = {
            "title": f"dbisolint ({finding.code})",
            "file": _shown_from_root(finding.path, root),
            "line": finding.start.row,
            "col": finding.start.column,
            "endLine": finding.end.row,
            "endColumn": finding.end.column,
        }
        lines.append(_annotation(where, f"{finding.code} {finding.message}"))
    return "\n".join(lines)


# --- gitlab (Code Quality report) ----------------------------------------------------------------


def gitlab(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    tree = tree or Tree.here()
    # GitLab matches issues of the base and the merge request by fingerprint: it leaves the row out
    # (lines move) and counts repeats of one finding on equal lines (fingerprints must be unique).
    entries: List[Tuple[Dict[str, Any], Tuple[object, ...]]] = []
    for problem in problems:
        path = _shown_from_root(problem.path, tree.root)
        row = problem.start.row if problem.start else 1
        item = {
            "description": f"{problem.kind}: {problem.message}",
            "check_name": problem.kind,
            "severity": "major",
            "location": {"path": path, "lines": {"begin": row, "end": row}},
        }
        entries.append((item, ("problem", problem.kind, path, problem.message)))
    for finding, text in zip(findings, _line_keys(findings, tree)):
        path = _shown_from_root(finding.path, tree.root)
        item = {
            "description": f"{finding.code}: {finding.message}",
            "check_name": finding.code,
            "severity": "major",
            "location": {"path": path, "lines": {"begin": finding.start.row, "end": finding.end.row}},
        }
        entries.append((item, (finding.code, path, finding.message, text)))
    for (item, key), occurrence in zip(entries, _occurrences(key for _, key in entries)):
        item["fingerprint"] = _digest(*key, occurrence)
    return json.dumps([item for item, _ in entries], indent=2)


# --- junit ---------------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry even escaped: one would make the whole report unparsable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _testcase(suite: ET.Element, path: str, name: str, start: Optional[Position]) -> ET.Element:
    attributes = {"name": _xml(name), "classname": _xml(path), "file": _xml(path)}
    if start is not None:
        attributes.update(line=str(start.row), column=str(start.column))
    return ET.SubElement(suite, "testcase", attributes)


def junit(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    """One testsuite per file, one failing testcase per finding (an erroring one per problem)."""
    by_path: Dict[str, List[Union[Finding, Problem]]] = {}
    for item in [*problems, *findings]:
        by_path.setdefault(item.path, []).append(item)
    suites = ET.Element(
        "testsuites", name="dbisolint", tests=str(max(1, len(findings) + len(problems))),
        failures=str(len(findings)), errors=str(len(problems)),
    )
    for path, items in by_path.items():
        failures = sum(isinstance(item, Finding) for item in items)
        suite = ET.SubElement(
            suites, "testsuite", name=_xml(path), tests=str(len(items)),
            failures=str(failures), errors=str(len(items) - failures), skipped="0",
        )
        for item in items:
            if isinstance(item, Finding):
                case = _testcase(suite, path, f"dbisolint.{item.code}", item.start)
                failure = ET.SubElement(case, "failure", message=_xml(item.message), type=item.code)
                failure.text = _xml(f"{path}:{item.start.row}:{item.start.column}: {item.code} {item.message}")
            else:
                case = _testcase(suite, path, f"dbisolint.{item.kind}", item.start)
                error = ET.SubElement(case, "error", message=_xml(item.message), type=_xml(item.kind))
                error.text = _xml(problem_line(item))
    if not by_path:  # consumers read a report without any testcase as "no tests ran"
        suite = ET.SubElement(suites, "testsuite", name="dbisolint", tests="1", failures="0", errors="0", skipped="0")
        ET.SubElement(suite, "testcase", name="No errors found", classname="dbisolint")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


# --- sarif ---------------------------------------------------------------------------------------

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"


def _artifact(path: str, root: str) -> Dict[str, str]:
    relative = _relative(path, root)
    if relative is None:
        return {"uri": Path(os.path.abspath(path)).as_uri()}
    return {"uri": quote(relative), "uriBaseId": SRCROOT}  # a URI: spaces, `%` and `#` percent-encoded


def _region(start: Position, end: Optional[Position] = None) -> Dict[str, int]:
    region = {"startLine": start.row, "startColumn": start.column}
    if end is not None:  # SARIF's endColumn is the column after the region, as ours is
        region.update(endLine=end.row, endColumn=end.column)
    return region


def _sarif_fix(fix: Fix, root: str) -> Dict[str, Any]:
    by_path: Dict[str, List[Edit]] = {}
    for edit in fix.edits:
        by_path.setdefault(edit.path, []).append(edit)
    return {
        "description": {"text": fix.message},
        "artifactChanges": [
            {
                "artifactLocation": _artifact(path, root),
                "replacements": [
                    {"deletedRegion": _region(edit.start, edit.end), "insertedContent": {"text": edit.content}}
                    for edit in edits
                ],
            }
            for path, edits in by_path.items()
        ],
        "properties": {"applicability": fix.applicability},
    }


def _sarif_rules() -> List[Dict[str, Any]]:
    rules = []
    for rule in RULES_BY_CODE.values():
        documentation = {"text": rule.documentation(), "markdown": rule.documentation()}
        rules.append(
            {
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary()},
                "fullDescription": documentation,
                "help": documentation,
                "helpUri": rule.url(),
                "defaultConfiguration": {"level": "error"},
                "properties": {"fixAvailability": rule.fix_availability or "none"},
            }
        )
    return rules


def sarif(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool = False, tree: Optional[Tree] = None) -> str:
    """SARIF 2.1.0 for code scanning: paths relative to %SRCROOT% (the repository root), a line hash
    per result so an alert survives its line moving, and problems as tool execution notifications
    (results need a rule; a file that could not be checked has none)."""
    tree = tree or Tree.here()
    root = os.path.abspath(tree.root)
    index = {code: position for position, code in enumerate(RULES_BY_CODE)}
    texts = _line_keys(findings, tree)
    # GitHub's own primaryLocationLineHash is "hash:occurrence"; it is combined with the file path.
    occurrences = _occurrences((f.path, f.code, text) for f, text in zip(findings, texts))
    results = []
    for finding, text, occurrence in zip(findings, texts, occurrences):
        result: Dict[str, Any] = {
            "ruleId": finding.code,
            "ruleIndex": index[finding.code],
            "level": "error",
            "message": {"text": finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(finding.path, root),
                        "region": _region(finding.start, finding.end),
                    }
                }
            ],
            "partialFingerprints": {"primaryLocationLineHash": f"{_digest(finding.code, text)[:16]}:{occurrence}"},
        }
        if finding.fix is not None:
            result["fixes"] = [_sarif_fix(finding.fix, root)]
        results.append(result)
    notifications = []
    for problem in problems:
        location: Dict[str, Any] = {"artifactLocation": _artifact(problem.path, root)}
        if problem.start is not None:
            location["region"] = _region(problem.start)
        notifications.append(
            {
                "level": "error",
                "message": {"text": f"{problem.kind}: {problem.message}"},
                "descriptor": {"id": problem.kind},
                "locations": [{"physicalLocation": location}],
            }
        )
    root_uri = Path(root).as_uri()
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "dbisolint",
                        "version": __version__,
                        "informationUri": DOCS_URL,
                        "rules": _sarif_rules(),
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": root_uri if root_uri.endswith("/") else root_uri + "/"}},
                "columnKind": "unicodeCodePoints",  # our columns count characters, not UTF-16 units
                "invocations": [
                    {
                        # A file that cannot be parsed is reported, not a failed run; a crash is one.
                        "executionSuccessful": not any(problem.kind == "InternalError" for problem in problems),
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


Formatter = Callable[[Sequence[Finding], Sequence[Problem], bool, Optional[Tree]], str]

FORMATS: Dict[str, Formatter] = {
    "concise": concise,
    "full": full,
    "json": as_json,
    "json-lines": json_lines,
    "github": github,
    "gitlab": gitlab,
    "junit": junit,
    "sarif": sarif,
}
# Formats read by people: only these get the summary, the hints and the list of fixes.
TEXT_FORMATS = ("concise", "full")
# The formats that show each fix's edits, which cost a codemod per finding to compute.
FORMATS_WITH_EDITS = ("json", "json-lines", "sarif")


# --- lines around the findings (text formats) ------------------------------------------------------


def summary(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool, fixed: int = 0) -> str:
    """ruff's closing lines: the count, then a hint when some fixes apply only with `--unsafe-fixes`."""
    errors = len(findings) + len(problems)
    applicable = sum(fixable(finding, unsafe) for finding in findings)
    hidden = sum(finding.fix is not None and not fixable(finding, unsafe) for finding in findings)
    if fixed:
        lines = [f"Found {_plural(errors + fixed, 'error')} ({fixed} fixed, {errors} remaining)."]
    elif errors == 0:
        return "All checks passed!"
    elif applicable:
        lines = [f"Found {_plural(errors, 'error')} ({applicable} fixable with --fix)."]
    else:
        lines = [f"Found {_plural(errors, 'error')}."]
    if hidden:
        hint = f"{_plural(hidden, 'hidden fix', 'hidden fixes')} can be enabled with the `--unsafe-fixes` option"
        lines.append(f"{hint}." if applicable else f"No fixes available ({hint}).")
    return "\n".join(lines)


def statistics(findings: Sequence[Finding], problems: Sequence[Problem], unsafe: bool, as_json: bool = False) -> str:
    """ruff's `--statistics`: count per code, most frequent first; `[*]` where `--fix` would fix some.
    Problems count like ruff's syntax errors: no code, their kind as the name."""
    counts: Counter = Counter()
    fixes: Set[Tuple[str, str]] = set()
    for finding in findings:
        key = (finding.code, RULES_BY_CODE[finding.code].name)
        counts[key] += 1
        if fixable(finding, unsafe):
            fixes.add(key)
    counts.update(("", problem.kind) for problem in problems)
    rows = [
        {"code": code or None, "name": name, "count": count, "fixable": (code, name) in fixes}
        for (code, name), count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return ""
    count_width = max(len(str(row["count"])) for row in rows)
    code_width = max(len(row["code"] or "") for row in rows)
    marks = ("[ ] ", "[*] ") if fixes else ("", "")
    return "\n".join(
        f"{row['count']:>{count_width}}\t{row['code'] or '':<{code_width}}\t{marks[row['fixable']]}{row['name']}"
        for row in rows
    )


def fix_summary(fixed: Sequence[Finding]) -> str:
    """ruff's `--show-fixes`: the fixes applied, per file and code."""
    if not fixed:
        return ""
    by_path: Dict[str, Counter] = {}
    for finding in fixed:
        by_path.setdefault(finding.path, Counter())[finding.code] += 1
    lines = [f"Fixed {_plural(len(fixed), 'error')}:"]
    for path in sorted(by_path):
        codes = by_path[path]
        width = len(str(max(codes.values())))
        lines.append(f"- {path}:")
        for code, count in sorted(codes.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {count:>{width}} \u00d7 {code} ({RULES_BY_CODE[code].name})")
    return "\n".join(lines)
