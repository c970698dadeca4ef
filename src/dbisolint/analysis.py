"""Per-file analysis: parse one file, walk it once, and turn what the walk saw into findings.

Runs without any knowledge of other files, so files can be analysed in any order or process;
what the cross-file rules need leaves as plain facts (see state.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .edits import text_edits
from .engine_fix import CallFix, fix_engine_calls
from .engines import EngineCall, read_engine_call
from .model import Finding, Fix, FileReport, Position, Problem
from .names import ModuleName, Scope, ScopedVisitor
from .noqa import Suppressions, read_suppressions
from .rule import EngineRule, EngineVerdict
from .rules import ALL_RULES

ENGINE_RULES = tuple(rule for rule in ALL_RULES if issubclass(rule, EngineRule))


@dataclass(frozen=True)
class FileTask:
    """Everything needed to analyse one file, picklable for worker processes."""

    path: str  # as shown to the user
    module: ModuleName
    codes: FrozenSet[str]  # the rule codes selected for this file
    factories: FrozenSet[str]  # qualified names of engine factories
    fix: Optional[str] = None  # None, "safe" or "unsafe": which fixes to apply to `fixed_source`


class FileVisitor(ScopedVisitor):
    """One walk that records bindings (ScopedVisitor) and the calls that may create engines."""

    def __init__(self, module_name: ModuleName, engine_calls: bool) -> None:
        super().__init__(module_name)
        self.engine_calls = engine_calls
        self.engine_candidates: List[Tuple[cst.Call, Scope]] = []

    def visit_Call(self, node: cst.Call) -> None:
        # Any dotted call may be a factory under an alias (`create_async_engine as cae`); the
        # names are resolved once the walk is over.
        if self.engine_calls and isinstance(node.func, (cst.Name, cst.Attribute)):
            self.engine_candidates.append((node, self.scope))


def decode_problem(path: str, error: Exception) -> Problem:
    if isinstance(error, cst.ParserSyntaxError):
        first_line = str(error).splitlines()[0].rstrip(".")
        detail = error.message.strip() if error.message.strip() else first_line
        return Problem(path, "SyntaxError", detail.splitlines()[0], Position(error.raw_line, error.raw_column + 1))
    if isinstance(error, (UnicodeDecodeError, SyntaxError, LookupError)):
        return Problem(path, "DecodeError", f"cannot decode the file: {error}".splitlines()[0])
    if isinstance(error, RecursionError):
        return Problem(path, "SyntaxError", "too deeply nested to analyse")
    raise error


def analyse_source(task: FileTask, source: bytes) -> FileReport:
    try:
        module = cst.parse_module(source)
        # A file whose text never names a factory cannot import one (under any alias).
        engine_calls = any(name.rsplit(".", 1)[-1].encode() in source for name in task.factories)
        visitor = FileVisitor(task.module, engine_calls)
        module.visit(visitor)
    except (cst.ParserSyntaxError, UnicodeDecodeError, SyntaxError, LookupError, RecursionError) as error:
        return FileReport(task.path, problems=(decode_problem(task.path, error),))
    return _FileAnalysis(task, module, visitor).report()


class _FileAnalysis:
    def __init__(self, task: FileTask, module: cst.Module, visitor: FileVisitor) -> None:
        self.task = task
        self.module = module
        self.visitor = visitor
        self._positions: Optional[object] = None
        self._suppressions: Optional[Suppressions] = None

    def report(self) -> FileReport:
        rules = [rule() for rule in ENGINE_RULES if rule.code in self.task.codes]
        verdicts: List[Tuple[EngineRule, EngineCall, EngineVerdict]] = []
        for node, scope in self.visitor.engine_candidates:
            call = read_engine_call(node, scope, self.visitor, self.task.factories)
            if call is None:
                continue
            for rule in rules:
                verdict = rule.check(call)
                if verdict is not None and not self.suppressed(rule.code, node):
                    verdicts.append((rule, call, verdict))
        findings = tuple(self._finding(rule, call, verdict) for rule, call, verdict in verdicts)
        return FileReport(self.task.path, findings=findings, fixed_source=self._fixed_source(verdicts))

    def position(self, node: cst.CSTNode) -> Tuple[Position, Position]:
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        code_range = self._positions[node]  # type: ignore[index]
        return (
            Position(code_range.start.line, code_range.start.column + 1),
            Position(code_range.end.line, code_range.end.column + 1),
        )

    def suppressed(self, code: str, node: cst.CSTNode) -> bool:
        if self._suppressions is None:
            self._suppressions = read_suppressions(self.module.code)
        return self._suppressions.silences(code, self.position(node)[0].row)

    def _finding(self, rule: EngineRule, call: EngineCall, verdict: EngineVerdict) -> Finding:
        start, end = self.position(call.node)
        fix = None
        if verdict.fix is not None:
            fixed = fix_engine_calls(self.module, {call: verdict.fix.change}, self.visitor)
            edits = text_edits(self.task.path, self.module.code, fixed.code)
            fix = Fix(verdict.fix.applicability, verdict.fix.title, edits)
        return Finding(self.task.path, rule.code, verdict.message, start, end, fix)

    def _fixed_source(self, verdicts: List[Tuple[EngineRule, EngineCall, EngineVerdict]]) -> Optional[bytes]:
        if self.task.fix is None:
            return None
        changes: Dict[EngineCall, CallFix] = {}
        for _rule, call, verdict in verdicts:
            if verdict.fix is not None and (verdict.fix.applicability == "safe" or self.task.fix == "unsafe"):
                changes[call] = changes.get(call, CallFix()) | verdict.fix.change
        if not changes:
            return None
        return fix_engine_calls(self.module, changes, self.visitor).bytes
