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
from .engines import ENGINE_FACTORIES
from .fixer import write_fixes
from .model import Config, Finding, FileReport, Problem
from .project import FileFinder, Project, display_path, path_matches
from .rules import RULES_BY_CODE


@dataclass
class CheckResult:
    findings: List[Finding] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    # path -> (source as read, source with the fixes applied), for files the fixes change
    changes: Dict[str, Tuple[bytes, bytes]] = field(default_factory=dict)
    files_checked: int = 0
    fixed: int = 0  # findings fixed by `fix()`


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
    (in `changes`) without writing anything."""
    result = CheckResult()
    factories = ENGINE_FACTORIES | frozenset(config.engine_factories)
    for path in FileFinder(config).files(paths):
        shown = display_path(path)
        source, problem = read_source(path, shown)
        if problem is not None:
            result.problems.append(problem)
            continue
        assert source is not None
        task = FileTask(
            path=shown,
            module=Project.of(path, config).module_name(path),
            codes=selected_codes(config, path),
            factories=factories,
            fix=fix,
        )
        _collect(result, analyse_source(task, source), source)
    result.findings.sort(key=lambda finding: (finding.path, finding.start, finding.code))
    return result


def _collect(result: CheckResult, report: FileReport, source: bytes) -> None:
    result.files_checked += 1
    result.findings.extend(report.findings)
    result.problems.extend(report.problems)
    if report.fixed_source is not None and report.fixed_source != source:
        result.changes[report.path] = (source, report.fixed_source)


def fix(paths: Sequence[Path], config: Config, *, unsafe: bool = False) -> CheckResult:
    """Apply the fixes (the safe ones, or all with `unsafe`), write them, and check again."""
    planned = check(paths, config, fix="unsafe" if unsafe else "safe")
    problems = write_fixes(planned.changes)
    after = check(paths, config)
    after.problems.extend(problems)
    written = set(planned.changes) - {problem.path for problem in problems}
    after.changes = {path: change for path, change in planned.changes.items() if path in written}
    after.fixed = sum(
        1
        for finding in planned.findings
        if finding.path in written
        and finding.fix is not None
        and (finding.fix.applicability == "safe" or unsafe)
    )
    return after
