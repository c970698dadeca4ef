"""The README and the rules' docstrings say what the code does."""

from __future__ import annotations

import re

import pytest

from dbisolint.rules import ALL_RULES, markdown_table

from .conftest import ROOT, UPDATE, run_dbisolint

README = ROOT / "README.md"
SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety")


def test_readme_rules_table_is_generated_from_the_rules():
    text = README.read_text()
    pattern = re.compile(r"(<!-- rules table[^\n]*-->\n)(.*?)(\n<!-- end rules table -->)", re.S)
    if UPDATE:
        README.write_text(pattern.sub(lambda m: m.group(1) + markdown_table() + m.group(3), text))
        text = README.read_text()
    assert pattern.search(text).group(2) == markdown_table()


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_rule_documentation_has_ruffs_sections(rule):
    documentation = rule.documentation()
    positions = [documentation.find(section) for section in SECTIONS]
    assert -1 not in positions, f"{rule.code} lacks a section"
    assert positions == sorted(positions)


def test_rule_command_prints_the_docstring():
    shown = run_dbisolint(["rule", "DBI002"], cwd=ROOT)
    assert shown.returncode == 0
    assert ALL_RULES[1].documentation() in shown.stdout


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test command -->" in script and "<!-- test command -->" in README.read_text()
