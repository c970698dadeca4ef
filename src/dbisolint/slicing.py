"""Parse with libcst only what can matter: the rest of a file read for its resets costs libcst's
parse and walk and adds nothing the join can use.

A file read in part (prefilter.Watch: for its resets, for what it mutates, or for its imports)
has been parsed by CPython already, ten times faster than libcst. Its functions are looked at for
the shapes state.py reads: a reset (`.clear()`, `.cache_clear()`, `setattr`, `patch`, an
attribute assigned, `global`, a reload), a mutation, a call of a function or method the watch
names, or of a function of the file that matters. Every other function keeps its header and gets
`pass` for a body, on its body's first line; the rest of its lines are left out of the text libcst
parses (each blank line would cost libcst nodes: a third of its parse), and `Sliced.rows` gives
each line left its number in the file, so that findings keep their positions (lines.py). A file
read for its resets alone in which nothing can matter is not given to libcst at all.

Names are compared by their last parts, through the file's import aliases, never resolved: this
over-approximates what state.py finds, like the text pre-filter (tests/test_prefilter_projects.py
checks that the findings stay those of every file parsed whole). One shape is not looked for:
`.clear()` called on a package above the module holding the state (`app.clear()` for
`app.store._cache`), which state.py would read as a reset of all the package holds.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from .prefilter import MANAGED_WORD, Watch, has_lone_carriage_return, identifiers, module_replaced, occurrences, spelled, spelled_text
from .state_facts import MANAGED_TABLE, MUTATING_METHODS

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MUTATORS = frozenset(name.encode() for name in MUTATING_METHODS) | {b"cache_clear"}
_CLEARS = frozenset({b"clear", b"cache_clear"})
_SETTERS = frozenset({b"setattr", b"delattr", b"patch", b"reload"})
_PATCH_METHODS = frozenset({b"object", b"dict"})  # mock.patch.object, mock.patch.dict
_DRAINS = frozenset({b"discard", b"remove"})
_STORES = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Delete)
_RESETTING = (ast.Assign, ast.AnnAssign)  # an attribute assigned: `mod.x = {}` resets mod.x
_IMPORTS = (ast.Import, ast.ImportFrom)
_SIMPLE = (
    ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Pass, ast.Import, ast.ImportFrom,
    ast.Delete, ast.Return, ast.Raise, ast.Assert, ast.Global, ast.Nonlocal, ast.Break, ast.Continue,
)  # fmt: skip

# Calls state.py reads as resets of the attribute of what their first arguments name.
_INSTANCE_SETTERS = frozenset({"setattr", "delattr", "object", "dict"})  # patch.object, patch.dict
_DISPLAYS = (ast.Tuple, ast.List, ast.Dict)  # not a set: emptied, `{}` is a dict
_CLOSING = {ast.Tuple: b")", ast.List: b"]", ast.Dict: b"}"}
# What state.py may read inside a display assigned at module level (the words as they stand, in
# strings too): a comprehension's scope, a binding, a task set drained; a lambda is read closer.
_READ_INSIDE = re.compile(rb"\b(?:for|add_done_callback)\b|:=")

EVERYTHING = b"*"  # what a file not parsed at all leaves out: every name its text holds
Dotted = List[bytes]
Aliases = Dict[bytes, List[Dotted]]  # a name an import binds -> the dotted names it stands for


@dataclass(frozen=True)
class Sliced:
    """What to parse of a file read in part."""

    text: Optional[bytes]  # the source with the functions that cannot matter emptied; None: as it is
    needed: bool  # False: nothing the watch asks for can be in the file, so there is nothing to parse
    # The line of the file each line of `text` is (1-based; the text leaves lines out).
    rows: Tuple[int, ...] = ()
    # The names what was left out holds, and the names their import aliases stand for,
    # space-separated: a later, wider watch needs the file read again only if it asks about one.
    left_out: bytes = b""
    same: bool = False  # the watch read before reads the same of the file: its report stands


def slice_for(
    source: bytes, tree: ast.Module, watch: Watch, before: Optional[Watch] = None, words: Optional[bytes] = None
) -> Sliced:
    """`source` with the bodies of the functions that cannot matter to `watch` emptied. `tree` is
    CPython's tree of `source`; its functions are emptied the same way, so that its statements
    stay paired with the returned text's, where they start (lines.py; where they end is left as
    it was). With `before`, the watch the file was last read under: None for the text when
    `watch` reads the same of it (`same` is then True). `words`: the identifiers the text holds,
    space-separated (prefilter.FileText.words), if known."""
    lines = source.splitlines(keepends=True)
    file = _File(spelled_text(source), lines, tree, words)
    functions = [_Function(function, owners, lines) for function, owners in _definitions(tree.body)]
    reader, mattering, needed = _plan(file, tree, watch, functions)
    if before is not None and _plan(file, tree, before, functions)[1:] == (mattering, needed):
        return Sliced(None, needed=needed, same=True)
    if not needed:
        return Sliced(None, needed=False, left_out=EVERYTHING)
    emptied = [function for function in functions if function.indent is not None and function not in mattering]
    displays = list(_inert_displays(tree.body, file, lines))
    if not (emptied or displays) or has_lone_carriage_return(source):
        return Sliced(None, needed=True)  # a lone CR ends a line for CPython but not for the line numbers used here
    spans = [(function.body_line, function.last_line) for function in emptied]
    # What class bodies hold beside the functions that matter is left out too, but for methods
    # whose decorators may be applied at import (all of them, for a file read for its definitions).
    kept = {id(function.node) for function in mattering}
    decorated = _decorated if watch.module_level else reader.decorates_applied
    dropped, blanked = _class_level(tree.body, kept, decorated)
    emptied = [function for function in emptied if id(function.node) not in dropped]
    spans += dropped.values()
    left_out = reader.with_aliased(identifiers(b" ".join(reader.span(first, last) for first, last in spans)))
    left = [True] * len(lines)  # whether each line stays in the text
    for first, last in dropped.values():
        left[first - 1 : last] = [False] * (last - first + 1)
    for display in displays:  # its brackets stay, on their lines: an empty display of the same kind
        left[display.lineno : display.end_lineno - 1] = [False] * (display.end_lineno - display.lineno - 1)  # type: ignore[operator]
        if isinstance(display, ast.Dict):
            display.keys, display.values = [], []
        else:
            display.elts = []
    for first, column in blanked:  # a class body left empty: its `pass`
        lines[first - 1], left[first - 1] = b" " * column + b"pass" + _ending(lines[first - 1]), True
    for function in emptied:
        lines[function.body_line - 1] = function.indent + b"pass" + _ending(lines[function.body_line - 1])  # type: ignore[operator]
        left[function.body_line : function.last_line] = [False] * (function.last_line - function.body_line)
        column = len(function.indent)  # type: ignore[arg-type]
        function.node.body = [ast.Pass(lineno=function.body_line, col_offset=column, end_lineno=function.body_line, end_col_offset=column + 4)]
    rows = tuple(number for number, stays in enumerate(left, 1) if stays)
    return Sliced(b"".join(lines[number - 1] for number in rows), needed=True, left_out=left_out, rows=rows)


def _plan(file: "_File", tree: ast.Module, watch: Watch, functions: List["_Function"]) -> Tuple["_Reader", Set["_Function"], bool]:
    """The functions that may matter to `watch`, and whether anything of the file may."""
    reader = _Reader(file, watch)
    mattering = {
        function
        for function in functions
        if (not watch.classes.isdisjoint(function.owners) and _touches_its_instance(function.node))
        or (reader.may_matter(function) and reader.matters(function))
    }
    fresh = {function.name for function in mattering}
    named = set(fresh)
    while fresh:  # a function naming one that matters matters too (a helper of the file)
        naming = reader.lines_naming(fresh)
        more = {function for function in functions if function not in mattering and function.holds_any(naming, body=True)}
        mattering |= more
        fresh = {function.name for function in more} - named
        named |= fresh
    needed = bool(mattering) or watch.module_level or MANAGED_WORD in reader.words or reader.module_matters(tree)
    return reader, mattering, needed


def _inert_displays(body: Sequence[ast.stmt], file: _File, lines: List[bytes]) -> Iterator[ast.expr]:
    """The tuples, lists and dicts assigned to a name at module level (`SENSORS: tuple[...] = (`,
    an element per line, `)`) whose elements stand between the line opening them and the line
    closing them, and hold nothing state.py reads: it reads of such a statement only the name
    bound and the kind of the display, unless the elements hold a comprehension, a binding
    (`:=`), a task set drained (`add_done_callback`) or a lambda calling a method (_inert_lambdas).
    Such displays were nearly half of what Home Assistant's first round parsed."""
    for statement in _module_level(body, classes=False):
        target = statement.targets[0] if isinstance(statement, ast.Assign) and len(statement.targets) == 1 else getattr(statement, "target", None)
        value = getattr(statement, "value", None)
        if not isinstance(statement, (ast.Assign, ast.AnnAssign)) or not isinstance(target, ast.Name) or not isinstance(value, _DISPLAYS):
            continue
        elements = [*value.keys, *value.values] if isinstance(value, ast.Dict) else value.elts
        elements = [element for element in elements if element is not None]  # `**other` has no key
        if (
            not elements
            or target.id == MANAGED_TABLE  # its entries are what the fixture `--fix` wrote resets
            or lines[value.end_lineno - 1].lstrip()[:1] != _CLOSING[type(value)]  # type: ignore[operator]
            or min(element.lineno for element in elements) == value.lineno
            or max(element.end_lineno for element in elements) == value.end_lineno  # type: ignore[type-var]
        ):
            continue
        # The lines between the brackets (the start of line n is line_starts[n - 2]).
        inside = file.text[file.line_starts[value.lineno - 1] : file.line_starts[value.end_lineno - 2]]  # type: ignore[operator]
        if not _READ_INSIDE.search(inside) and (b"lambda" not in inside or _inert_lambdas(value)):
            yield value


def _inert_lambdas(node: ast.AST, parameters: FrozenSet[str] = frozenset()) -> bool:
    """Whether the lambdas in `node` call methods only of their own parameters. state.py reads a
    lambda as a function: a method called on anything else may mutate module state, or make an
    instance no registry (ProjectState.is_registry); what else it reads of a lambda (the functions
    it calls, what it resets) matters only to a caller, and none can call a lambda by its name."""
    if isinstance(node, ast.Lambda):
        inner = parameters | {argument.arg for argument in _parameters(node.args)}
        return _inert_lambdas(node.args, parameters) and _inert_lambdas(node.body, inner)
    if parameters and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        owner = _root(node.func.value)  # None on a call's result: nothing state.py names
        if owner is not None and owner not in parameters:
            return False
    return all(_inert_lambdas(child, parameters) for child in ast.iter_child_nodes(node))


def _touches_its_instance(method: ast.FunctionDef) -> bool:
    """Whether a method may store into its instance (`self.x = {}`, `self.x[k] = v`), call a method
    on it (`self.x.append(v)`, `self.reset()`) or hand it to setattr, delattr or patch: all that
    state.py reads of the methods of a class keeping state (ClassFacts, and the resets and calls
    on `self` that ProjectState.effects follows); what else they call is asked by name, as of
    every function."""
    positional = [*method.args.posonlyargs, *method.args.args]
    if not positional:
        return False
    instance = positional[0].arg
    for child in _nodes(method.body):
        if isinstance(child, _STORES):
            stored = child.targets if isinstance(child, (ast.Assign, ast.Delete)) else [child.target]
            if any(_root(target) == instance for target in _unpacked(stored)):
                return True
        elif isinstance(child, ast.Call):
            func = child.func
            if isinstance(func, ast.Attribute) and _root(func) == instance:
                return True
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _INSTANCE_SETTERS and any(_root(argument) == instance for argument in child.args):
                return True
    return False


def _root(expression: ast.expr) -> Optional[str]:
    """The name a chain of attributes and subscripts starts from (`self` of `self.x[k].y`)."""
    while isinstance(expression, (ast.Attribute, ast.Subscript)):
        expression = expression.value
    return expression.id if isinstance(expression, ast.Name) else None


def _decorated(statement: ast.stmt) -> bool:
    return bool(getattr(statement, "decorator_list", None))


def _class_level(
    body: Sequence[ast.stmt], kept: Set[int], keep_decorated: Callable[[ast.stmt], bool]
) -> Tuple[Dict[int, Tuple[int, int]], List[Tuple[int, int]]]:
    """Leave out of class bodies their simple statements and their functions but those kept and
    those whose decorators may matter (classes and blocks stay, read the same way), in the tree
    too: the statements left out, by id, with their lines; and where the `pass` of each body left
    empty goes (line, column)."""
    dropped: Dict[int, Tuple[int, int]] = {}
    blanked: List[Tuple[int, int]] = []
    for statement in _module_level(body):
        if not isinstance(statement, ast.ClassDef) or statement.body[0].lineno == statement.lineno:
            continue  # a body on the header's line stays as it is
        staying = [
            inner
            for inner in statement.body
            if not isinstance(inner, (*_FUNCTIONS, *_SIMPLE))  # classes, and blocks that may hold functions
            or (isinstance(inner, _FUNCTIONS) and (id(inner) in kept or keep_decorated(inner)))
        ]
        if len(staying) == len(statement.body):
            continue
        first = statement.body[0]
        for inner in statement.body:
            if inner not in staying:
                dropped[id(inner)] = (_first_line(inner), inner.end_lineno)  # type: ignore[assignment]
        if not staying:
            blanked.append((_first_line(first), first.col_offset))
            staying = [ast.Pass(lineno=_first_line(first), col_offset=first.col_offset, end_lineno=_first_line(first), end_col_offset=first.col_offset + 4)]
        statement.body = staying
    return dropped, blanked


class _Function:
    def __init__(self, node: ast.FunctionDef, owners: Tuple[bytes, ...], lines: List[bytes]) -> None:
        self.node = node
        self.owners = owners  # the classes it is defined in
        self.name = spelled(node.name)
        self.first_line = _first_line(node)
        self.body_line = _first_line(node.body[0])
        self.last_line: int = node.end_lineno  # type: ignore[assignment]
        indent = lines[self.body_line - 1][: node.body[0].col_offset]
        # None: a body on the header's line, nothing worth emptying
        self.indent = indent if self.body_line > node.lineno and not indent.strip() else None

    def holds_any(self, rows: List[int], body: bool = False) -> bool:
        """Whether one of the (sorted) line numbers `rows` falls in the function (in its body:
        not on the lines naming it)."""
        at = bisect.bisect_left(rows, self.body_line if body else self.first_line)
        return at < len(rows) and rows[at] <= self.last_line


class _File:
    """What every reading of one file looks at: its text (spelled as the pre-filter spells it), the
    names it holds, where its lines start, and what its module-level imports bind."""

    def __init__(self, text: bytes, lines: List[bytes], tree: ast.Module, words: Optional[bytes]) -> None:
        self.text = text
        self.words = frozenset(words.split()) if words is not None else identifiers(text)
        # Where each line after the first starts (CPython's line ends, as bytes.splitlines's).
        self.line_starts = list(itertools.accumulate(map(len, lines)))
        if lines and not lines[-1].endswith((b"\n", b"\r")):
            self.line_starts.pop()  # the end of the text, not the start of a line
        self.aliases = _aliases(_module_level(tree.body))


class _Reader:
    """Which functions of one file may hold a fact about what a watch describes."""

    def __init__(self, file: _File, watch: Watch) -> None:
        self.watch = watch
        self.parameters: Set[bytes] = set()  # of the function being read
        # A call of an applier (a function filling state) matters once one is applied at import:
        # then it is among the watched functions (ProjectState.import_only).
        self.called = watch.functions
        self.text, self.words, self.line_starts, self.aliases = file.text, file.words, file.line_starts, file.aliases
        # The lines naming something of the watch, or an import alias of it: only the functions
        # holding one are read closely. A watched method counts beside an instance it is watched
        # on, a module beside a call that may replace or reset it (`setattr(app, "store", ...)`, a
        # reload, even `store.clear()`, which state.py reads as a reset of all it holds).
        named = set(watch.targets | self.called | watch.registries) | {MANAGED_WORD}
        instances = {instance for watched_on in watch.instances_of.values() for instance in watched_on}
        modules = set(watch.modules)
        for name, dotted_names in self.aliases.items():
            parts = {part for dotted in dotted_names for part in dotted}
            for names in (named, instances, modules):
                if not parts.isdisjoint(names):
                    names.add(name)
        self.naming = self.lines_naming(named)
        self.methods = self.lines_naming(watch.instances_of.keys())
        self.instances = self.lines_naming(instances) if self.methods else []
        self.modules = self.lines_naming(modules)
        self.replacing = self.lines_naming(_SETTERS | _CLEARS) if self.modules else []
        if self.modules and module_replaced(self.text, frozenset(modules & self.words)):  # `app.store = fake`: an attribute assigned
            self.replacing = sorted({*self.replacing, *self.modules})
        self.near = sorted({*self.naming, *self.methods, *self.instances, *self.modules, *self.replacing})  # what the walk looks at
        self.imports = self.lines_naming([b"import"])

    def span(self, first: int, last: int) -> bytes:
        """The text of lines `first` to `last`."""
        starts = self.line_starts
        return self.text[starts[first - 2] if first > 1 else 0 : starts[last - 1] if last <= len(starts) else len(self.text)]

    def with_aliased(self, words: FrozenSet[bytes]) -> bytes:
        """`words`, and the names that the import aliases among them stand for, space-separated."""
        aliased = words.union(part for name in words & self.aliases.keys() for dotted in self.aliases[name] for part in dotted)
        return b" ".join(sorted(aliased))

    def lines_naming(self, names: Iterable[bytes]) -> List[int]:
        """The numbers of the lines where one of `names` stands as a word, in order."""
        found = {at for name in self.words.intersection(names) for at in occurrences(self.text, name)}
        return sorted({bisect.bisect_right(self.line_starts, at) + 1 for at in found})

    def may_matter(self, function: _Function) -> bool:
        """Whether the function names something of the watch: cheaper than reading it."""
        return (
            function.holds_any(self.naming)
            or (function.holds_any(self.methods) and function.holds_any(self.instances))
            or (function.holds_any(self.modules) and function.holds_any(self.replacing))
        )

    def matters(self, function: _Function) -> bool:
        """Whether the function may reset, mutate or drain a watched target, call a watched
        function, or call a watched method on an instance it is watched on."""
        node = function.node
        roots = [*node.body, node.args, *([node.returns] if node.returns else [])]
        if function.holds_any(self.imports):  # an alias it imports may stand anywhere in it
            inside = list(_nodes(roots))
            local = [child for child in inside if isinstance(child, _IMPORTS)]
            aliases = {**self.aliases, **_aliases(local)}
        else:  # every shape read below names something of the watch on one of its lines
            inside, aliases = list(_nodes(roots, self.near)), self.aliases
        mutations = self.watch.module_level  # read for what it mutates too, not only its resets
        # What a parameter holds (`self`, a fixture) is a local for state.py: never module state.
        self.parameters = {spelled(argument.arg) for argument in _parameters(node.args)}
        for child in inside:
            if isinstance(child, ast.Call):
                if self._call(child, aliases):
                    return True
            elif isinstance(child, _STORES):
                stored = child.targets if isinstance(child, (ast.Assign, ast.Delete)) else [child.target]
                if (isinstance(child, ast.AnnAssign) and child.value is None) or not (mutations or isinstance(child, _RESETTING)):
                    continue
                if any(self._stored(target, aliases) for target in _unpacked(stored)):
                    return True
            elif isinstance(child, ast.Global):
                if not self.watch.targets.isdisjoint(map(spelled, child.names)):
                    return True
        return False

    def decorates_applied(self, statement: ast.stmt) -> bool:
        """Whether a decorator of the definition may name a watched function or an applier
        (applied at import: ProjectState._at_import)."""
        applied = self.called | self.watch.appliers
        for decorator in getattr(statement, "decorator_list", ()):
            parts = _dotted(decorator.func if isinstance(decorator, ast.Call) else decorator)
            if parts is not None and any(not applied.isdisjoint(dotted) for dotted in self._expansions(parts, self.aliases)):
                return True
        return False

    def module_matters(self, tree: ast.Module) -> bool:
        """Whether the module-level statements may matter to a file read for its resets: an
        import of a watched function (a re-export that state_facts.ProjectState.canonical
        follows), or a decorator applied at import that names one, or an applier."""
        applied = self.called | self.watch.appliers
        for statement in _module_level(tree.body):
            if isinstance(statement, ast.ImportFrom):
                if any(spelled(alias.name) in applied for alias in statement.names):
                    return True
            elif isinstance(statement, _DEFINITIONS) and self.decorates_applied(statement):
                return True
        return False

    def _call(self, call: ast.Call, aliases: Aliases) -> bool:
        func = call.func
        if isinstance(func, ast.Attribute) and self._called_on_watched(func, call, aliases):
            return True
        parts = _dotted(func)
        if parts is None:
            return False
        method = parts[-1]
        callees = {method} if len(parts) > 1 else {dotted[-1] for dotted in self._expansions(parts, aliases)}
        if not callees.isdisjoint(self.called):
            return True
        watched_on = self.watch.instances_of.get(method)
        if watched_on and len(parts) > 1:
            receivers = {parts[-2]} if len(parts) > 2 else {dotted[-1] for dotted in self._expansions(parts[:-1], aliases)}
            if not receivers.isdisjoint(watched_on):
                return True
        if not callees.isdisjoint(_SETTERS) or (len(parts) > 1 and parts[-2] == b"patch" and method in _PATCH_METHODS):
            return any(self._overlaps(dotted, aliases) for dotted in _arguments(call))
        # A method of an instance of the module called (`library.filter(f)`).
        return len(parts) > 1 and parts[-2] in self.watch.registries and parts[0] not in self.parameters

    def _called_on_watched(self, func: ast.Attribute, call: ast.Call, aliases: Aliases) -> bool:
        """`x.clear()`, `x.cache_clear()`, `f().add_done_callback(x.discard)` on something
        watched, and for a file read for what it mutates `x.append(v)`, `x[k].add(v)` (what is
        called on need not be a dotted name)."""
        method = spelled(func.attr)
        if method in (_MUTATORS if self.watch.module_level else _CLEARS):
            base = _dotted(_unsubscripted(func.value))
            return bool(base) and self._overlaps(base, aliases)  # type: ignore[arg-type]
        if method == b"add_done_callback" and call.args:
            callback = call.args[0]
            if isinstance(callback, ast.Attribute) and spelled(callback.attr) in _DRAINS:
                base = _dotted(callback.value)
                return bool(base) and self._overlaps(base, aliases)  # type: ignore[arg-type]
        return False

    def _stored(self, target: ast.expr, aliases: Aliases) -> bool:
        """`x[k] = v`, `del x[k]`, `mod.x = v`, `x.attr += 1` on something watched (a reset
        assigns an attribute: `mod.x = {}`)."""
        if isinstance(target, ast.Subscript):
            if not self.watch.module_level:
                return False
            target = _unsubscripted(target)
        elif not isinstance(target, ast.Attribute):
            return False
        parts = _dotted(target)
        return bool(parts) and self._overlaps(parts, aliases)  # type: ignore[arg-type]

    def _overlaps(self, parts: Dotted, aliases: Aliases) -> bool:
        """Whether a dotted name may be a watched target, inside one, or a module holding one."""
        if parts[0] in self.parameters:
            return False
        for dotted in self._expansions(parts, aliases):
            if not self.watch.targets.isdisjoint(dotted) or dotted[-1] in self.watch.modules:
                return True
        return False

    @staticmethod
    def _expansions(parts: Dotted, aliases: Aliases) -> Iterator[Dotted]:
        """The dotted name as written, and as what an import of its first name stands for."""
        yield parts
        for dotted in aliases.get(parts[0], ()):
            yield dotted + parts[1:]


def _nodes(roots: Iterable[ast.AST], rows: Optional[List[int]] = None) -> Iterator[ast.AST]:
    """The nodes under `roots` but contexts and operators, which nothing here reads (a third of
    them); with `rows` (sorted line numbers), only those whose lines hold one."""
    todo = list(roots)
    while todo:
        node = todo.pop()
        if rows is not None:
            first = getattr(node, "lineno", None)
            if first is not None:
                at = bisect.bisect_left(rows, first)
                if at == len(rows) or rows[at] > (node.end_lineno or first):  # type: ignore[attr-defined]
                    continue
        yield node
        kind = type(node)
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(field for field in kind._fields if field not in ("ctx", "op", "ops"))
        for field in fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                todo.extend([item for item in value if isinstance(item, ast.AST)])
            elif isinstance(value, ast.AST):
                todo.append(value)


_CHILD_FIELDS: Dict[type, Tuple[str, ...]] = {}  # each node type's fields that _nodes follows


def _dotted(expression: ast.expr) -> Optional[Dotted]:
    parts: List[str] = []
    while isinstance(expression, ast.Attribute):
        parts.append(expression.attr)
        expression = expression.value
    if not isinstance(expression, ast.Name):
        return None
    parts.append(expression.id)
    return [spelled(part) for part in reversed(parts)]


def _parameters(arguments: ast.arguments) -> Iterator[ast.arg]:
    yield from (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)
    yield from (argument for argument in (arguments.vararg, arguments.kwarg) if argument is not None)


def _unsubscripted(expression: ast.expr) -> ast.expr:
    while isinstance(expression, ast.Subscript):
        expression = expression.value
    return expression


def _unpacked(targets: Iterable[ast.expr]) -> Iterator[ast.expr]:
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            yield from _unpacked(target.elts)
        elif isinstance(target, ast.Starred):
            yield from _unpacked([target.value])
        else:
            yield target


def _arguments(call: ast.Call) -> Iterator[Dotted]:
    """The positional arguments of a call that are dotted names, or strings of one."""
    for argument in call.args:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str) and argument.value:
            yield [spelled(part) for part in argument.value.split(".")]
        else:
            parts = _dotted(argument)
            if parts:
                yield parts


def _aliases(statements: Iterable[ast.stmt]) -> Aliases:
    """What each name bound by these import statements stands for: `from app import store as st`
    makes `st` app.store; `import app.store as s`, `s` app.store."""
    found: Aliases = {}
    for statement in statements:
        if isinstance(statement, ast.ImportFrom):
            module = [spelled(part) for part in (statement.module or "").split(".") if part]
            for alias in statement.names:
                if alias.name != "*":
                    found.setdefault(spelled(alias.asname or alias.name), []).append(module + [spelled(alias.name)])
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    found.setdefault(spelled(alias.asname), []).append([spelled(part) for part in alias.name.split(".")])
    return found


def _module_level(body: Sequence[ast.stmt], classes: bool = True) -> Iterator[ast.stmt]:
    """The statements that run at import: module and class bodies (`classes`), through if, try,
    with and loops, not into functions."""
    for statement in body:
        yield statement
        if isinstance(statement, _FUNCTIONS) or (not classes and isinstance(statement, ast.ClassDef)):
            continue
        for block in _blocks(statement):
            yield from _module_level(block, classes)


def _definitions(body: Sequence[ast.stmt], owners: Tuple[bytes, ...] = ()) -> Iterator[Tuple[ast.FunctionDef, Tuple[bytes, ...]]]:
    """The functions of a module or class body, also inside if, try, with and loops (not nested
    functions: a kept function is kept whole), each with the classes it is defined in."""
    for statement in body:
        if isinstance(statement, _FUNCTIONS):
            yield statement, owners  # type: ignore[misc]
        elif isinstance(statement, ast.ClassDef):
            yield from _definitions(statement.body, (*owners, spelled(statement.name)))
        else:
            for block in _blocks(statement):
                yield from _definitions(block, owners)


def _blocks(statement: ast.stmt) -> Iterator[Sequence[ast.stmt]]:
    for field in ("body", "orelse", "finalbody"):
        block = getattr(statement, field, None)
        if isinstance(block, list):
            yield block
    for handler in getattr(statement, "handlers", ()):
        yield handler.body
    for case in getattr(statement, "cases", ()):
        yield case.body


def _first_line(statement: ast.stmt) -> int:
    """The line a statement starts on: its first decorator's, if any."""
    decorators = getattr(statement, "decorator_list", None)
    return decorators[0].lineno if decorators else statement.lineno


def _ending(line: bytes) -> bytes:
    for ending in (b"\r\n", b"\n"):
        if line.endswith(ending):
            return ending
    return b""

