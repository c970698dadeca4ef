"""The importable API: check paths, or fix them, and say what was found.

    from dbisolint import check, load_config
    result = check([Path("src")], load_config(None))

Files are analysed one by one (analysis.py); what needs several files is joined afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from .analysis import FileTask, analyse_source
from .edits import text_edits
from .engine_call import ENGINE_FACTORIES
from .fixer import write_fixes
from .model import Config, FileReport, Finding, Fix, Problem
from .project import FileFinder, Project, display_path, path_matches
from .rule import StateRule
from .rules import ALL_RULES, RULES_BY_CODE
from .state_facts import STATE_CODES, ProjectState, StateFacts, StateSettings
from .state_fix import Entry, with_managed_fixture


@dataclass
class CheckResult:
    findings: List[Finding] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    # path -> (source as read, source with the fixes applied), for files the fixes change
    changes: Dict[str, Tuple[bytes, bytes]] = field(default_factory=dict)
    files_checked: int = 0
    fixed_findings: List[Finding] = field(default_factory=list)  # what `fix()` fixed
    # "module.name" -> the state rule that flags it ("DBI101", ...), or "reset" when the test
    # suite resets it; for every module-level container, cached function and stateful instance.
    state_verdicts: Dict[str, str] = field(default_factory=dict)


def selected_codes(config: Config, path: Optional[Path] = None) -> FrozenSet[str]:
    """ruff's selection: layer by layer (defaults, config file, command line), the most specific
    matching prefix of select/extend-select and ignore decides (a tie goes to ignore), and a layer
    with `select` starts afresh; per-file-ignores then remove codes for matching paths."""

    def longest(prefixes: Sequence[str], code: str) -> int:
        return max((len(prefix) for prefix in prefixes if code.startswith(prefix)), default=-1)

    chosen: Set[str] = set()
    for layer in config.rules:
        for code in RULES_BY_CODE:
            selected = max(longest(layer.select or (), code), longest(layer.extend_select, code))
            ignored = longest(layer.ignore, code)
            if selected > ignored:
                chosen.add(code)
            elif ignored >= 0 or layer.select is not None:
                chosen.discard(code)
    if path is not None:
        root = Path(config.root)
        for pattern, codes in config.per_file_ignores:
            if path_matches(path, pattern, root):
                chosen = {code for code in chosen if not any(code.startswith(prefix) for prefix in codes)}
    return frozenset(chosen)


def read_source(path: Path, shown: str) -> Tuple[Optional[bytes], Optional[Problem]]:
    try:
        return path.read_bytes(), None
    except IsADirectoryError:
        return None, Problem(shown, "ReadError", "is a directory")
    except OSError as error:
        return None, Problem(shown, "ReadError", f"cannot read: {error.strerror or error}")


def check(paths: Sequence[Path], config: Config, *, fix: Optional[str] = None) -> CheckResult:
    """Check `paths`. With `fix` ("safe" or "unsafe"), also compute each file's fixed text
    (in `changes`) without writing anything.

    The state rules need the whole project (what any module mutates, what the test suite
    resets), so with them selected every file of the projects concerned is read for its facts;
    findings are reported only for the files under `paths`.
    """
    result = CheckResult()
    finder = FileFinder(config)
    files: Dict[Path, bool] = {path: True for path in finder.files(paths)}  # path -> reported on
    state_on = bool(selected_codes(config) & set(STATE_CODES))
    settings = StateSettings(frozenset(config.container_constructors), config.weak_containers_are_state)
    projects = {Project.of(path, config) for path in files}
    if state_on:
        for project in sorted(projects, key=lambda project: project.root):
            for path in finder.files([project.root], within_project=True):
                files.setdefault(path, False)
    factories = ENGINE_FACTORIES | frozenset(config.engine_factories)
    facts: Dict[Project, List[StateFacts]] = {project: [] for project in projects}
    blind_spots: Dict[Project, List[str]] = {project: [] for project in projects}
    for path, reported in files.items():
        project = Project.of(path, config)
        shown = display_path(path)
        is_test = project.is_test(path)
        source, problem = read_source(path, shown)
        report = FileReport(shown, problems=(problem,)) if problem is not None else None
        if report is None:
            assert source is not None
            task = FileTask(
                path=shown,
                module=project.module_name(path),
                codes=selected_codes(config, path) if reported else frozenset(),
                factories=factories,
                fix=fix if reported else None,
                is_test=is_test,
                state=settings if state_on else None,
            )
            report = analyse_source(task, source)
        if reported:
            _collect(result, report, source)
        if report.facts is not None:
            facts.setdefault(project, []).append(report.facts)
        elif is_test and state_on:
            blind_spots.setdefault(project, []).append(shown)
    if state_on:
        reported_paths = {display_path(path) for path, reported in files.items() if reported}
        for project, project_facts in facts.items():
            if project_facts:
                _join_state(result, project, project_facts, blind_spots.get(project, []), reported_paths, config, fix)
    result.findings.sort(key=lambda finding: (finding.path, finding.start, finding.code))
    return result


def _collect(result: CheckResult, report: FileReport, source: Optional[bytes]) -> None:
    result.files_checked += 1
    result.findings.extend(report.findings)
    result.problems.extend(report.problems)
    if report.fixed_source is not None and source is not None and report.fixed_source != source:
        result.changes[report.path] = (source, report.fixed_source)


def _join_state(
    result: CheckResult,
    project: Project,
    facts: List[StateFacts],
    blind_spots: List[str],
    reported_paths: Set[str],
    config: Config,
    fix: Optional[str],
) -> None:
    """Run the state rules on one project's joined facts; with `fix`, plan the conftest change."""
    if blind_spots:
        result.problems.append(
            Problem(
                blind_spots[0],
                "StateRulesSkipped",
                "this test file cannot be parsed, so the resets it may hold are unknown: "
                "DBI101-DBI103 are not checked for this project",
            )
        )
        return
    project_state = ProjectState(facts, config.check_test_state, config.weak_containers_are_state)
    conftest = project.conftest_for_fix()
    shown_conftest = display_path(conftest)
    on_disk, _problem = read_source(conftest, shown_conftest) if conftest.exists() else (None, None)
    before_text = (on_disk or b"").decode("utf-8", errors="replace")
    first_party = frozenset(f.module.split(".")[0] for f in facts if f.module)
    entries: List[Entry] = []
    for facts_of_file in facts:
        for definition in facts_of_file.definitions:
            if project_state.is_reset(definition):
                result.state_verdicts[definition.target] = "reset"
    for rule_class in ALL_RULES:
        if not issubclass(rule_class, StateRule):
            continue
        for definition, message in rule_class().check(project_state):
            result.state_verdicts[definition.target] = rule_class.code
            if definition.path not in reported_paths or rule_class.code in definition.suppressed:
                continue
            if rule_class.code not in selected_codes(config, Path(definition.path)):
                continue
            attributes = project_state.state_attributes(definition) if definition.kind == "instance" else ()
            entry = (definition.module, definition.name, definition.kind, attributes)
            after_text = with_managed_fixture(on_disk, [entry], first_party).decode("utf-8", errors="replace")
            reset = Fix(
                "safe",
                f"Reset `{definition.target}` around every test in {shown_conftest}",
                text_edits(shown_conftest, before_text, after_text),
            )
            result.findings.append(
                Finding(definition.path, rule_class.code, message, definition.start, definition.end, reset)
            )
            entries.append(entry)
    if fix and entries:
        base = result.changes.get(shown_conftest, (on_disk or b"", on_disk))[1]
        result.changes[shown_conftest] = (on_disk or b"", with_managed_fixture(base, entries, first_party))


def fix(paths: Sequence[Path], config: Config, *, unsafe: bool = False) -> CheckResult:
    """Apply the fixes (the safe ones, or all with `unsafe`), write them, and check again."""
    planned = check(paths, config, fix="unsafe" if unsafe else "safe")
    problems = write_fixes(planned.changes)
    after = check(paths, config)
    after.problems.extend(problems)
    written = set(planned.changes) - {problem.path for problem in problems}
    after.changes = {path: change for path, change in planned.changes.items() if path in written}
    after.fixed_findings = fixed_by(planned.findings, written, unsafe)
    return after


def fixed_by(findings: Sequence[Finding], changed_paths: Set[str], unsafe: bool) -> List[Finding]:
    """The findings whose fix applies (safe, or any with `unsafe`) and whose edits all fall in
    `changed_paths` (a state rule's fix edits the conftest, not the finding's file)."""
    return [
        finding
        for finding in findings
        if finding.fix is not None
        and (finding.fix.applicability == "safe" or unsafe)
        and {edit.path for edit in finding.fix.edits} <= changed_paths
    ]
