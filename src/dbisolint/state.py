"""Reading module-level state with libcst: from one walked file, which containers, cached
functions and instances it defines, what it mutates at runtime, which classes keep state in their
attributes, and what each function resets and calls (the facts of state_facts.py).
"""

from __future__ import annotations

import ast
from typing import (
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
)

import libcst as cst

from .lines import Locator
from .model import StateSettings
from .names import BUILTINS, LOCAL, Scope, ScopedVisitor, dotted_parts
from .state_facts import (
    MANAGED_TABLE,
    MUTATING_METHODS,
    SELF,
    STATE_CODES,
    ClassFacts,
    Definition,
    FunctionFacts,
    Mutation,
    Site,
    StateFacts,
)

CONTAINER_TYPES = {
    "builtins.dict": "dict",
    "builtins.list": "list",
    "builtins.set": "set",
    "builtins.bytearray": "bytearray",
    "collections.defaultdict": "defaultdict",
    "collections.OrderedDict": "OrderedDict",
    "collections.Counter": "Counter",
    "collections.deque": "deque",
}
WEAK_TYPES = {
    "weakref.WeakValueDictionary": "WeakValueDictionary",
    "weakref.WeakKeyDictionary": "WeakKeyDictionary",
    "weakref.WeakSet": "WeakSet",
}
CACHE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache"})
FIXTURE_DECORATORS = frozenset({"pytest.fixture", "pytest_asyncio.fixture"})
# Run around every test of their scope (pytest's and unittest's per-test hooks).
SETUP_HOOKS = frozenset(
    {"setup_method", "teardown_method", "setUp", "tearDown", "asyncSetUp", "asyncTearDown",
     "setup_function", "teardown_function"}
)  # fmt: skip


# -- collection (one file) --------------------------------------------------------------------
def _strip_subscripts(expr: cst.BaseExpression) -> cst.BaseExpression:
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    return expr


def _string(expr: cst.BaseExpression) -> Optional[str]:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


class StateCollector:
    """Reads the state facts of one walked file (see analysis.FileVisitor)."""

    def __init__(
        self,
        visitor: "ScopedVisitor",
        path: str,
        is_test: bool,
        settings: StateSettings,
        locator: Locator,
        suppressed: Callable[[str, int], bool],
    ) -> None:
        self.visitor = visitor
        self.module = visitor.module_name.name
        self.path = path
        self.is_test = is_test
        self.settings = settings
        self.locator = locator
        self.suppressed = suppressed
        self._qualnames: Dict[int, str] = {}
        self._roles: Dict[int, str] = {}

    # names -----------------------------------------------------------------------------
    def target(self, expr: cst.BaseExpression, scope: Scope) -> Optional[str]:
        """The project-wide name of what `expr` denotes (`pkg.mod._cache`), `self.x` inside a
        method, or None for locals, builtins and what cannot be named."""
        parts = dotted_parts(expr)
        if parts is None:
            return None
        function = _function_scope(scope)
        if function is not None and _method_self(function) == parts[0] and scope.owner_of(parts[0]) is function:
            return ".".join([SELF, *parts[1:]])
        name = self.visitor.qualified_name(expr, scope)
        if name is None or name.startswith((LOCAL + ".", BUILTINS + ".")):
            return None
        return name

    def qualname(self, scope: Optional[Scope]) -> str:
        """`pkg.mod.Class.method` for a scope (the module's name for the module scope)."""
        if scope is None:
            return self.module
        key = id(scope)
        if key not in self._qualnames:
            parts = []
            current: Optional[Scope] = scope
            while current is not None and current.parent is not None:
                node = current.node
                if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                    parts.append(node.name.value)
                elif isinstance(node, cst.Lambda):
                    parts.append("<lambda>")
                current = current.parent
            self._qualnames[key] = ".".join([self.module, *reversed(parts)])
        return self._qualnames[key]

    def function_name(self, scope: Scope) -> str:
        return self.qualname(_function_scope(scope))

    def site(self, node: cst.CSTNode) -> Site:
        """The line of the statement `node` stands in."""
        return Site(self.path, self.locator.start(self.visitor.statement_of.get(id(node), node)).row)

    # facts -----------------------------------------------------------------------------
    def facts(self) -> StateFacts:
        return StateFacts(
            module=self.module,
            path=self.path,
            is_test=self.is_test,
            definitions=tuple(self._definitions()),
            mutations=tuple(self._mutations()),
            drained=tuple(self._drained()),
            functions=tuple(self._functions()),
            classes=tuple(self._classes()),
            aliases=tuple(
                (name, bindings[0].target)
                for name, bindings in self.visitor.module_scope.bindings.items()
                if len(bindings) == 1 and bindings[0].kind == "import" and bindings[0].target
            ),
            import_decorators=tuple(dict.fromkeys(self._import_decorators())),
        )

    def _import_decorators(self) -> Iterator[str]:
        """Decorators that run at import: a registry they fill is filled at import, not by tests."""
        definitions: List[Tuple[cst.CSTNode, Scope]] = [
            (scope.node, scope.parent) for scope in self.visitor.function_scopes if scope.parent is not None
        ]
        module_scope = self.visitor.module_scope
        definitions += [
            (binding.node, module_scope)
            for bindings in module_scope.bindings.values()
            for binding in bindings
            if binding.kind == "class"
        ]
        for node, scope in definitions:
            if scope.in_function or not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                continue
            for decorator in node.decorators:
                expr = decorator.decorator
                name = self.target(expr.func if isinstance(expr, cst.Call) else expr, scope)
                if name is not None:
                    yield name

    def _container_kind(self, value: cst.BaseExpression, scope: Scope) -> Tuple[Optional[str], bool]:
        if isinstance(value, (cst.Dict, cst.DictComp)):
            return "dict", False
        if isinstance(value, (cst.List, cst.ListComp)):
            return "list", False
        if isinstance(value, (cst.Set, cst.SetComp)):
            return "set", False
        if isinstance(value, cst.Call):
            name = self.visitor.qualified_name(value.func, scope)
            if name in CONTAINER_TYPES:
                return CONTAINER_TYPES[name], False
            if name in WEAK_TYPES:
                return WEAK_TYPES[name], True
            if name in self.settings.container_constructors:
                return name, False
        return None, False

    def _definitions(self) -> Iterator[Definition]:
        module_scope = self.visitor.module_scope
        for name, bindings in module_scope.bindings.items():
            for binding in bindings:
                if binding.scope is not module_scope:
                    continue  # rebound through `global` inside a function: a mutation
                if binding.kind == "assign" and binding.value is not None:
                    definition = self._assigned(name, binding.node, binding.value)
                elif binding.kind == "def" and isinstance(binding.node, cst.FunctionDef):
                    definition = self._cached(binding.node)
                else:
                    definition = None
                if definition is not None:
                    yield definition
                    break

    def _define(
        self, kind: str, name: str, statement: cst.CSTNode, detail: str, weak: bool = False, first_row: int = 0
    ) -> Definition:
        start, end = self.locator.name_span(statement, name)
        rows = range(first_row or start.row, start.row + 1)  # a decorated def: its decorators' lines too
        codes = frozenset(code for code in STATE_CODES if any(self.suppressed(code, row) for row in rows))
        return Definition(kind, self.module, name, self.path, start, end, detail, codes, weak)

    def _assigned(self, name: str, statement: cst.CSTNode, value: cst.BaseExpression) -> Optional[Definition]:
        scope = self.visitor.module_scope
        kind, weak = self._container_kind(value, scope)
        if kind is not None:
            return self._define("container", name, statement, kind, weak)
        if isinstance(value, cst.Call):
            cls = self.visitor.qualified_name(value.func, scope)
            if cls is not None and not cls.startswith((LOCAL + ".", BUILTINS + ".")):
                return self._define("instance", name, statement, cls)
        return None

    def _cached(self, node: cst.FunctionDef) -> Optional[Definition]:
        for decorator in node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            name = self.visitor.qualified_name(expr, self.visitor.module_scope)
            if name in CACHE_DECORATORS:
                first_row = self.locator.first_decorator_row(node)
                return self._define("cache", node.name.value, node, name, first_row=first_row)
        return None

    def _mutations(self) -> Iterator[Mutation]:
        """Mutations at runtime (inside functions), one per target and function."""
        seen: Set[Tuple[str, str]] = set()
        found: List[Tuple[str, Scope, cst.CSTNode]] = []
        for target_expr, scope, node in self._mutated_expressions():
            target = self.target(target_expr, scope) if scope.in_function else None
            if target is not None and not target.startswith(SELF + "."):
                found.append((target, scope, node))
        module_scope = self.visitor.module_scope
        for name, bindings in module_scope.bindings.items():
            for binding in bindings:  # `global name` then `name = ...` inside a function
                scope = binding.scope
                if scope is not None and scope is not module_scope and scope.in_function:
                    found.append((f"{self.module}.{name}", scope, binding.node))
        for target, scope, node in found:
            function = self.function_name(scope)
            if (target, function) not in seen and self._role(scope) != "reset":
                seen.add((target, function))
                yield Mutation(target, self.site(node), function)

    def _mutated_expressions(self) -> Iterator[Tuple[cst.BaseExpression, Scope, cst.CSTNode]]:
        """What is mutated in place: `x[k] = v`, `del x[k]`, `x.attr += 1`, `x.append(v)`, ..."""
        for target, _kind, scope, _value in self.visitor.stores:
            base = _strip_subscripts(target)
            if base is not target or isinstance(target, cst.Attribute):
                yield base, scope, target
        for call, scope in self.visitor.calls:
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value in MUTATING_METHODS:
                yield _strip_subscripts(func.value), scope, call

    def _drained(self) -> Iterator[str]:
        for call, scope in self.visitor.calls:
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "add_done_callback" and call.args:
                callback = call.args[0].value
                if isinstance(callback, cst.Attribute) and callback.attr.value in ("discard", "remove"):
                    target = self.target(callback.value, scope)
                    if target is not None:
                        yield target

    # functions and what they reset ---------------------------------------------------------
    def _role(self, scope: Scope) -> str:
        function = _function_scope(scope)
        if not self.is_test or function is None or not isinstance(function.node, cst.FunctionDef):
            return "other"
        if id(function) not in self._roles:
            self._roles[id(function)] = self._function_role(function)
        return self._roles[id(function)]

    def _function_role(self, function: Scope) -> str:
        node = function.node
        assert isinstance(node, cst.FunctionDef)
        if node.name.value in SETUP_HOOKS:
            return "reset"
        for decorator in node.decorators:
            expr = decorator.decorator
            call = expr if isinstance(expr, cst.Call) else None
            name = self.visitor.qualified_name(call.func if call else expr, function.parent or function)
            if name in FIXTURE_DECORATORS and call is not None:
                for arg in call.args:
                    if arg.keyword is not None and arg.keyword.value == "autouse":
                        if isinstance(arg.value, cst.Name) and arg.value.value == "True":
                            return "reset"
        if node.name.value.startswith("test"):
            return "test"
        return "other"

    def _functions(self) -> Iterator[FunctionFacts]:
        resets: Dict[int, List[str]] = {}
        calls: Dict[int, List[str]] = {}
        for call, scope in self.visitor.calls:
            function = _function_scope(scope)
            if function is None:
                continue
            for target in self._call_resets(call, scope):
                resets.setdefault(id(function), []).append(target)
            name = self.target(call.func, scope)
            if name is not None:
                calls.setdefault(id(function), []).append(name)
        for target, kind, scope, _value in self.visitor.stores:
            function = _function_scope(scope)
            if function is not None and kind == "assign" and isinstance(target, cst.Attribute):
                name = self.target(target, scope)
                if name is not None:
                    resets.setdefault(id(function), []).append(name)
        module_scope = self.visitor.module_scope
        for name, bindings in module_scope.bindings.items():
            for binding in bindings:
                function = _function_scope(binding.scope) if binding.scope is not None else None
                if function is not None and binding.kind == "assign":
                    resets.setdefault(id(function), []).append(f"{self.module}.{name}")
        for scope in self.visitor.function_scopes:
            key = id(scope)
            if key in resets or key in calls or self._role(scope) != "other":
                yield FunctionFacts(
                    qualname=self.function_name(scope),
                    role=self._role(scope),
                    resets=tuple(dict.fromkeys(resets.get(key, ()))),
                    calls=tuple(dict.fromkeys(calls.get(key, ()))),
                    site=self.site(scope.node),
                )
        managed = self._managed_entries()
        if managed:
            yield FunctionFacts(f"{self.module}.{MANAGED_TABLE}", "reset", managed, (), Site(self.path, 1))

    def _call_resets(self, call: cst.Call, scope: Scope) -> Iterator[str]:
        func = call.func
        parts = dotted_parts(func) or []
        method = parts[-1] if parts else ""
        args = [arg for arg in call.args if arg.keyword is None and not arg.star]
        if isinstance(func, cst.Attribute) and method in ("clear", "cache_clear"):
            target = self.target(func.value, scope)
            if target is not None:
                yield target
        elif method in ("setattr", "delattr") or parts[-2:] == ["patch", "object"]:
            if len(args) >= 2 and _string(args[1].value) is not None:
                owner = self.target(args[0].value, scope)
                if owner is not None:
                    yield f"{owner}.{_string(args[1].value)}"
            elif args and _string(args[0].value):
                yield str(_string(args[0].value))
        elif parts[-2:] == ["patch", "dict"]:
            if args:
                text = _string(args[0].value)
                target = text if text is not None else self.target(args[0].value, scope)
                if target is not None:
                    yield target
        elif method == "patch" and args and _string(args[0].value) is not None:
            yield str(_string(args[0].value))
        elif self.visitor.qualified_name(func, scope) in ("importlib.reload", "imp.reload"):
            if args:
                target = self.target(args[0].value, scope)
                if target is not None:
                    yield f"{target}.*"

    def _managed_entries(self) -> Tuple[str, ...]:
        bindings = self.visitor.module_scope.bindings.get(MANAGED_TABLE, [])
        if not self.is_test or len(bindings) != 1 or bindings[0].value is None:
            return ()
        entries = read_managed_table(bindings[0].value)
        return tuple(f"{module}.{name}" for module, name, _kind, _attributes in entries)

    # classes whose instances keep state ----------------------------------------------------
    def _classes(self) -> Iterator[ClassFacts]:
        containers: Dict[int, Set[str]] = {}
        mutated: Dict[int, Set[str]] = {}
        for target, kind, scope, value in self.visitor.stores:
            cls = _method_class(scope)
            name = self.target(target, scope) if cls is not None and isinstance(target, cst.Attribute) else None
            if name is not None and name.count(".") == 1 and name.startswith(SELF + "."):
                if kind == "assign" and value is not None and self._container_kind(value, scope)[0] is not None:
                    containers.setdefault(id(cls), set()).add(name)
                elif kind == "augassign":
                    mutated.setdefault(id(cls), set()).add(name)
        for expr, scope, node in self._mutated_expressions():
            cls = _method_class(scope)
            if cls is None or expr is node:  # `self.x = ...` rebinds; it does not mutate
                continue
            name = self.target(expr, scope)
            if name is not None and name.count(".") == 1 and name.startswith(SELF + "."):
                mutated.setdefault(id(cls), set()).add(name)
        for scope in self.visitor.class_scopes:
            state = sorted(
                name.split(".", 1)[1] for name in containers.get(id(scope), set()) & mutated.get(id(scope), set())
            )
            node = scope.node
            assert isinstance(node, cst.ClassDef)
            bases = [self.visitor.qualified_name(base.value, scope.parent or scope) for base in node.bases]
            yield ClassFacts(
                qualname=self.qualname(scope),
                state_attributes=tuple(state),
                bases=tuple(base for base in bases if base),
            )


def _function_scope(scope: Optional[Scope]) -> Optional[Scope]:
    while scope is not None and scope.kind != "function":
        scope = scope.parent
    return scope


def _method_self(function: Scope) -> Optional[str]:
    """The name of a method's first parameter (`self`), or None if `function` is not a method."""
    node = function.node
    if not isinstance(node, cst.FunctionDef) or function.parent is None or function.parent.kind != "class":
        return None
    params = [*node.params.posonly_params, *node.params.params]
    return params[0].name.value if params else None


def _method_class(scope: Scope) -> Optional[Scope]:
    function = _function_scope(scope)
    if function is None or _method_self(function) is None:
        return None
    return function.parent


def read_managed_table(value: cst.BaseExpression) -> List[Tuple[str, str, str, Tuple[str, ...]]]:
    """The entries of a `_DBISOLINT_STATE = (...)` table: (module, name, kind, attributes)."""
    try:
        raw = ast.literal_eval(cst.Module([]).code_for_node(value))
    except (ValueError, SyntaxError):
        return []
    entries = []
    for entry in raw if isinstance(raw, tuple) else ():
        if isinstance(entry, tuple) and len(entry) == 4 and all(isinstance(part, str) for part in entry[:3]):
            entries.append((entry[0], entry[1], entry[2], tuple(entry[3])))
    return entries


