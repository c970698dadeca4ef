"""Per-file analysis: parse one file, walk it once, and turn what the walk saw into findings.

Runs without any knowledge of other files, so files can be analysed in any order or process;
what the cross-file rules need leaves as plain facts (see state.py).
"""

from __future__ import annotations

import ast
import traceback
from contextlib import contextmanager
from dataclasses import replace

from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import libcst as cst

from .edits import text_edits
from .engine_call import CallFix, EngineCall
from .lines import Locator
from .engines import outlives_a_test, read_engine_call
from .model import Edit, FileReport, FileTask, Finding, Fix, ModuleName, Position, Problem
from .names import Scope, ScopedVisitor
from .noqa import Suppressions, read_suppressions
from .rule import EngineRule, EngineVerdict
from .rules import ALL_RULES
from .slicing import slice_for
from .state import StateCollector
from .state_facts import StateFacts
from .url_sources import UrlCollector
from .walk import walk

ENGINE_RULES = tuple(rule for rule in ALL_RULES if issubclass(rule, EngineRule))


class FileVisitor(ScopedVisitor):
    """One walk that records bindings (ScopedVisitor) and the raw events the rules interpret
    once the walk is over, when every name can be resolved: calls, stores into subscripts and
    attributes, and function scopes."""

    def __init__(self, module_name: ModuleName) -> None:
        super().__init__(module_name)
        self.calls: List[Tuple[cst.Call, Scope]] = []
        # (target, "assign" | "augassign" | "del", scope, assigned value)
        self.stores: List[Tuple[cst.BaseExpression, str, Scope, Optional[cst.BaseExpression]]] = []
        # The statement each recorded call and store stands in, for its line (lines.py).
        self.statement_of: Dict[int, cst.CSTNode] = {}
        self.returns: List[Tuple[cst.Return, Scope]] = []
        self._statements: List[cst.CSTNode] = []

    def _enter(self, node: cst.CSTNode) -> None:
        self._statements.append(node)

    def _exit(self, original_node: cst.CSTNode) -> None:
        self._statements.pop()

    visit_SimpleStatementLine = visit_SimpleStatementSuite = visit_If = visit_For = visit_While = _enter
    visit_Try = visit_TryStar = visit_With = visit_Match = _enter
    leave_SimpleStatementLine = leave_SimpleStatementSuite = leave_If = leave_For = leave_While = _exit
    leave_Try = leave_TryStar = leave_With = leave_Match = _exit

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        super().visit_FunctionDef(node)
        self._enter(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        super().leave_FunctionDef(original_node)
        self._exit(original_node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        super().visit_ClassDef(node)
        self._enter(node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        super().leave_ClassDef(original_node)
        self._exit(original_node)

    def visit_Return(self, node: cst.Return) -> None:
        self.returns.append((node, self.scope))

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, (cst.Name, cst.Attribute)):
            self.calls.append((node, self.scope))
            if self._statements:
                self.statement_of[id(node)] = self._statements[-1]

    def visit_Assign(self, node: cst.Assign) -> None:
        super().visit_Assign(node)
        for target in node.targets:
            self._store(target.target, "assign", node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        super().visit_AnnAssign(node)
        if node.value is not None:
            self._store(node.target, "assign", node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        super().visit_AugAssign(node)
        self._store(node.target, "augassign")

    def visit_Del(self, node: cst.Del) -> None:
        super().visit_Del(node)
        self._store(node.target, "del")

    def _store(self, target: cst.BaseExpression, kind: str, value: Optional[cst.BaseExpression] = None) -> None:
        if isinstance(target, (cst.Subscript, cst.Attribute)):
            self.stores.append((target, kind, self.scope, value))
            if self._statements:
                self.statement_of[id(target)] = self._statements[-1]
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value, kind)  # the value of an unpacked element is unknown


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


class RuleCrash(Exception):
    """An internal error of one rule on one file: reported with both, and the run goes on."""

    def __init__(self, rule: str, error: BaseException) -> None:
        super().__init__(f"{rule} failed: {type(error).__name__}: {error}")
        self.rule = rule
        self.trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))


def _guarded(rule: str, function, *args):  # type: ignore[no-untyped-def]
    try:
        return function(*args)
    except RecursionError:
        raise
    except Exception as error:
        raise RuleCrash(rule, error) from error


def cpython_tree(source: bytes) -> Tuple[Optional[ast.Module], Optional[str]]:
    """CPython's own tree of the file (lines.py measures with it), and why libcst must not parse
    the file: CPython refuses deep nesting cleanly, where libcst's native parser overflows its
    stack and takes the process down."""
    try:
        return ast.parse(source), None
    except SyntaxError as error:
        if "too many nested" in str(error):
            return None, "too deeply nested to parse"
        return None, None  # newer syntax than this interpreter's, or an error libcst reports
    except (RecursionError, MemoryError):
        return None, "too deeply nested to parse"
    except ValueError:  # null bytes
        return None, None


@contextmanager
def _unchecked_nodes() -> Iterator[None]:
    """libcst's parse and our walk, without the check libcst runs on each node as it is built
    (CSTNode.__post_init__): it guards nodes built by hand, while the parser's nodes spell what
    parsed, and the walk's copies (walk.py) spell the same. It costs a sixth of the parse, and it
    rejects some valid code (libcst 1.9 raises a TypeError on `() if 0 else(lambda:())`). Nodes a
    fix builds are checked as always."""
    checked = cst.CSTNode.__post_init__
    cst.CSTNode.__post_init__ = _unchecked  # type: ignore[method-assign]
    try:
        yield
    finally:
        cst.CSTNode.__post_init__ = checked  # type: ignore[method-assign]


def _unchecked(node: cst.CSTNode) -> None:
    pass


def analyse_source(task: FileTask, source: bytes, words: Optional[bytes] = None) -> FileReport:
    """`words`: the file's identifiers as the pre-filter learnt them (FileText.words), if known:
    slicing.py needs them and need not find them again."""
    if task.max_bytes and len(source) > task.max_bytes:
        size = f"{len(source) / 1e6:.1f} MB"
        limit = f"{task.max_bytes / 1e6:.1f} MB"
        return FileReport(task.path, problems=(Problem(task.path, "Skipped", f"{size} is over max-file-size ({limit})"),))
    tree, refusal = cpython_tree(source)
    if refusal is not None:
        return FileReport(task.path, problems=(Problem(task.path, "SyntaxError", refusal),))
    left_out, whole, rows = b"", source, ()
    if task.watch is not None and tree is not None and task.fix is None and not task.edits:
        sliced = slice_for(source, tree, task.watch, task.before, words)  # type: ignore[arg-type]
        if sliced.same:
            return FileReport(task.path, same_as_before=True)
        if not sliced.needed:  # read for its resets, and none can be in it
            facts = StateFacts(task.module.name, task.path, task.is_test) if task.state is not None else None
            return FileReport(task.path, facts=facts, left_out=sliced.left_out)
        source, left_out, rows = sliced.text or source, sliced.left_out, sliced.rows
    try:
        with _unchecked_nodes():
            module = cst.parse_module(source)
            visitor = FileVisitor(task.module)
            walk(module, visitor)
    except (cst.ParserSyntaxError, UnicodeDecodeError, SyntaxError, LookupError, RecursionError) as error:
        if source is not whole:  # slicing.py should leave a text that parses: read the file whole
            return analyse_source(replace(task, watch=None, before=None), whole)
        return FileReport(task.path, problems=(decode_problem(task.path, error),))
    try:
        report = _FileAnalysis(task, source, module, visitor, tree, whole, rows).report()
        return replace(report, left_out=left_out) if left_out else report
    except RuleCrash as crash:
        return FileReport(task.path, problems=(Problem(task.path, "InternalError", str(crash), detail=crash.trace),))
    except RecursionError:
        return FileReport(task.path, problems=(Problem(task.path, "SyntaxError", "too deeply nested to analyse"),))


class _FileAnalysis:
    def __init__(
        self,
        task: FileTask,
        source: bytes,
        module: cst.Module,
        visitor: FileVisitor,
        tree: Optional[ast.Module],
        whole: bytes,
        rows: Sequence[int] = (),
    ) -> None:
        """`source` is what libcst parsed: `whole`, the file's text, or a slice of it whose lines
        are the file's `rows` (slicing.py)."""
        self.tree = tree
        self.task = task
        self.source = source
        self.whole = whole
        self.rows = rows
        self.module = module
        self.visitor = visitor
        self._lines: Optional[Locator] = None
        self._suppressions: Optional[Suppressions] = None

    def report(self) -> FileReport:
        rules = [rule() for rule in ENGINE_RULES if rule.code in self.task.codes]
        verdicts: List[Tuple[EngineRule, EngineCall, EngineVerdict]] = []
        # A file whose text never names a factory cannot import one, under any alias.
        if not any(name.rsplit(".", 1)[-1].encode() in self.source for name in self.task.factories):
            rules = []
        for node, scope in self.visitor.calls if rules else ():
            call = read_engine_call(node, scope, self.visitor, self.task.factories)
            if call is None:
                continue
            call.outlives_test = self.task.is_test and outlives_a_test(scope, self.visitor)
            for rule in rules:
                verdict = _guarded(rule.code, rule.check, call)
                if verdict is not None and not self.suppressed(rule.code, node):
                    verdicts.append((rule, call, verdict))
        findings = tuple(self._finding(rule, call, verdict) for rule, call, verdict in verdicts)
        facts = None
        if self.task.state is not None:
            collector = StateCollector(
                self.visitor, self.task.path, self.task.is_test, self.task.state, self._locator(), self.silenced
            )
            facts = _guarded("DBI101-DBI103", collector.facts)
        urls = None
        if self.task.urls:
            locator = self._locator()
            urls = _guarded(
                "DBI005",
                UrlCollector(
                    self.visitor,
                    self.task.path,
                    self.task.is_test,
                    self.task.factories,
                    self.position,
                    lambda node: locator.start(self.visitor.statement_of.get(id(node), node)).row,
                    self.silenced,
                ).facts,
            )
        return FileReport(
            self.task.path, findings=findings, facts=facts, urls=urls, fixed_source=self._fixed_source(verdicts)
        )

    def _locator(self) -> Locator:
        if self._lines is None:
            self._lines = Locator(self.module, self.whole, self.tree, self.rows)
        return self._lines

    def position(self, node: cst.CSTNode) -> Tuple[Position, Position]:
        return self._locator().span(node)

    def suppressed(self, code: str, node: cst.CSTNode) -> bool:
        return self.silenced(code, self.position(node)[0].row)

    def silenced(self, code: str, row: int) -> bool:
        if self._suppressions is None:
            self._suppressions = read_suppressions(self.whole.decode(self.module.encoding))
        return self._suppressions.silences(code, row)

    def _finding(self, rule: EngineRule, call: EngineCall, verdict: EngineVerdict) -> Finding:
        start, end = self.position(call.node)
        fix = None
        if verdict.fix is not None:
            edits: Tuple[Edit, ...] = ()
            if self.task.edits:
                from .engine_fix import fix_engine_calls  # libcst's codemods: a fifth of a second to import

                fixed = _guarded(rule.code, fix_engine_calls, self.module, {call: verdict.fix.change}, self.visitor)
                edits = text_edits(self.task.path, self.module.code, fixed.code)
            fix = Fix(verdict.fix.applicability, verdict.fix.title, edits)
        return Finding(self.task.path, rule.code, verdict.message, start, end, fix)

    def _fixed_source(self, verdicts: List[Tuple[EngineRule, EngineCall, EngineVerdict]]) -> Optional[bytes]:
        if self.task.fix is None:
            return None
        changes: Dict[EngineCall, CallFix] = {}
        codes: List[str] = []
        for rule, call, verdict in verdicts:
            if verdict.fix is not None and (verdict.fix.applicability == "safe" or self.task.fix == "unsafe"):
                changes[call] = changes.get(call, CallFix()) | verdict.fix.change
                codes.append(rule.code)
        if not changes:
            return None
        from .engine_fix import fix_engine_calls

        # libcst rebuilds each node the codemod visits, and may refuse valid code (_unchecked_nodes)
        return _guarded(", ".join(dict.fromkeys(codes)), fix_engine_calls, self.module, changes, self.visitor).bytes
