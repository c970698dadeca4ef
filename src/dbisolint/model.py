"""The shared types: frozen, picklable values passed between analysis, rules, fixer and output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Literal, Optional, Tuple

Applicability = Literal["safe", "unsafe"]


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column (columns count characters, as ruff's do)."""

    row: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between `start` and `end` of `path` by `content`."""

    path: str
    content: str
    start: Position
    end: Position


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: Tuple[Edit, ...]  # empty unless asked for: check(..., edits=True) (JSON, SARIF, --fix)


@dataclass(frozen=True)
class Finding:
    path: str
    code: str
    message: str
    start: Position
    end: Position
    fix: Optional[Fix] = None

    @property
    def noqa_row(self) -> int:
        # Like ruff: a finding is silenced by a `# noqa` on the line where it starts.
        return self.start.row


@dataclass(frozen=True)
class Problem:
    """A file dbisolint could not check (unreadable, undecodable, unparsable); not a rule finding."""

    path: str
    kind: str  # e.g. "SyntaxError", "ReadError"
    message: str
    start: Optional[Position] = None
    detail: Optional[str] = None  # a traceback, for an internal error (shown with --verbose)


@dataclass(frozen=True)
class RuleSelection:
    """One layer of `select`/`ignore`/`extend-select` (the config file's, then the command line's).

    `select=None` keeps what the layers before chose."""

    select: Optional[Tuple[str, ...]] = None
    ignore: Tuple[str, ...] = ()
    extend_select: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """Settings that affect results; built from `[tool.dbisolint]` and the command line."""

    rules: Tuple[RuleSelection, ...] = (RuleSelection(select=("DBI",)),)
    per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    exclude: Tuple[str, ...] = ()
    extend_exclude: Tuple[str, ...] = ()
    src: Tuple[str, ...] = ()
    tests: Tuple[str, ...] = ()
    engine_factories: Tuple[str, ...] = ()
    container_constructors: Tuple[str, ...] = ()
    weak_containers_are_state: bool = False
    check_test_state: bool = False
    output_format: Optional[str] = None  # None: not chosen (concise, or github on GitHub Actions)
    force_exclude: bool = False  # apply `exclude` to files named on the command line too
    max_file_kb: int = 2048  # libcst parses about 50 KB a second: larger files are skipped
    # The folder that relative paths in this config are relative to (the config file's folder).
    root: str = "."


@dataclass(frozen=True)
class FileReport:
    """What the analysis of one file produced: its own findings, its cross-file facts, its fixed text."""

    path: str
    findings: Tuple[Finding, ...] = ()
    problems: Tuple[Problem, ...] = ()
    facts: Optional[object] = None  # module-state facts (state_facts.StateFacts), joined across files
    urls: Optional[object] = None  # where engine URLs come from (url_facts.UrlFacts), joined too
    fixed_source: Optional[bytes] = None  # the file with every selected fix applied
    # Read in part (slicing.py): the names that the functions left out hold (and the names their
    # import aliases stand for), space-separated (compact in the cache), or slicing.EVERYTHING
    # for a file not parsed; empty when read whole.
    left_out: bytes = b""
    same_as_before: bool = False  # the task's `before` reads the same of the file: its report stands


@dataclass(frozen=True)
class ModuleName:
    """The dotted name of the module being walked, needed for relative imports."""

    name: str
    is_package: bool = False

    def resolve_relative(self, level: int, module: Optional[str]) -> Optional[str]:
        if level == 0:
            return module
        parts = self.name.split(".") if self.name else []
        if not self.is_package:
            parts = parts[:-1]
        if level - 1 > len(parts):
            return None
        base = parts[: len(parts) - (level - 1)]
        if module:
            base = base + module.split(".")
        return ".".join(base) if base else None


@dataclass(frozen=True)
class StateSettings:
    container_constructors: FrozenSet[str] = frozenset()
    include_weak: bool = False


@dataclass(frozen=True)
class FileTask:
    """Everything needed to analyse one file, picklable for worker processes."""

    path: str  # as shown to the user
    module: ModuleName
    codes: FrozenSet[str]  # the rule codes selected for this file
    factories: FrozenSet[str]  # qualified names of engine factories
    fix: Optional[str] = None  # None, "safe" or "unsafe": which fixes to apply to `fixed_source`
    edits: bool = False  # compute each finding's fix edits (costly: a codemod per finding)
    is_test: bool = False  # part of the test suite (its resets count; its state only on request)
    state: Optional[StateSettings] = None  # collect module-state facts (None: the state rules are off)
    max_bytes: int = 0  # larger files are skipped with a diagnostic (0: no limit)
    urls: bool = False  # collect where engine URLs come from (DBI005)
    # prefilter.Watch: read only the functions that may reset what it watches (slicing.py), for
    # a file parsed only for its resets; None: the whole file
    watch: Optional[object] = None
    # prefilter.Watch the file was last read under, when it is read again under a wider `watch`:
    # if the wider one reads the same of it, the report says so instead of being made again.
    before: Optional[object] = None
