"""Reading, with libcst, where the URLs of engine calls come from (the facts of url_facts.py).

An engine call whose URL is not a literal is followed back: names assigned in the module or the
function, a parameter's default, `self.<attr>` assigned by the class's methods, the returns of
the module's own functions, `str(...)` and f-strings around one value, conditional expressions,
`os.getenv`/`os.environ.get`/`os.environ[...]`, and attributes of a settings object. Whether
StaticPool is set on its path is read the same way, through `**kwargs` and the helper building
them. The test suite's environment (`os.environ[...] = ...`, `setdefault`, `update`,
`monkeypatch.setenv`, `mock.patch.dict(os.environ, ...)`) and pydantic settings classes (fields,
`env_prefix`, `alias`/`validation_alias`) are read here too, and so are the test suite's async
in-memory databases set once for many tests (DBI006) and the engines disposed; the join decides.
"""

from __future__ import annotations

from typing import Callable, Iterator, List, Optional, Set, Tuple

import libcst as cst

from .engine_call import POOL_CLASSES, STATIC_POOL, classify_url
from .engines import engine_arguments, outlives_a_test, resolve_url
from .model import Position
from .names import BUILTINS, LOCAL, UNKNOWN, Scope, ScopedVisitor, constant_value, dotted_parts
from .url_facts import EnvSetting, SettingsClass, Source, TestDatabase, UrlCandidate, UrlFacts

_ENV_GETTERS = frozenset({"os.getenv", "os.environ.get"})
_MAX_DEPTH = 8


class UrlCollector:
    def __init__(
        self,
        visitor: ScopedVisitor,
        path: str,
        is_test: bool,
        factories: frozenset,
        position: Callable[[cst.CSTNode], Tuple[Position, Position]],
        row: Callable[[cst.CSTNode], int],
        suppressed: Callable[[str, int], bool],
    ) -> None:
        self.visitor = visitor
        self.path = path
        self.is_test = is_test
        self.factories = factories
        self.position = position
        self.row = row
        self.suppressed = suppressed
        self.module = visitor.module_name.name
        self._functions = {
            f"{self.module}.{name}": bindings[0].node
            for name, bindings in visitor.module_scope.bindings.items()
            if len(bindings) == 1 and isinstance(bindings[0].node, cst.FunctionDef)
        }
        self._scope_of = {id(scope.node): scope for scope in visitor.function_scopes}

    def facts(self) -> UrlFacts:
        self._test_databases: List[TestDatabase] = []
        env = tuple(self._environment()) if self.is_test else ()
        if self.is_test:
            self._test_settings()
        return UrlFacts(
            candidates=tuple(self._candidates()),
            env=env,
            settings=tuple(self._settings_classes()),
            settings_owners=tuple(self._settings_owners()),
            constants=tuple(self._constants()),
            test_databases=tuple(self._test_databases),
            disposals=tuple(self._disposals()),
        )

    def _constants(self) -> Iterator[Tuple[str, str]]:
        module_scope = self.visitor.module_scope
        for name, bindings in module_scope.bindings.items():
            if len(bindings) == 1 and bindings[0].kind == "assign" and bindings[0].value is not None:
                value = constant_value(bindings[0].value, module_scope, self.visitor)
                if isinstance(value, str) and "://" in value:
                    yield f"{self.module}.{name}", value

    # engine calls ---------------------------------------------------------------------------
    def _candidates(self) -> Iterator[UrlCandidate]:
        for call, scope in self.visitor.calls:  # type: ignore[attr-defined]
            arguments = engine_arguments(call, scope, self.visitor, self.factories)
            if arguments is None:
                continue
            url = resolve_url(arguments.url_value, scope, self.visitor)
            if url is not None:  # a URL the engine rules DBI001-DBI004 judge, or DBI006 in the tests
                if self.is_test and url.in_memory and url.async_driver and outlives_a_test(scope, self.visitor):
                    text = constant_value(arguments.url_value, scope, self.visitor)
                    shown = text if isinstance(text, str) else url.text
                    name = self._bound_to(call, scope).rpartition(".")[2] or _function_name(scope)
                    self._test_database("engine", name, shown, call, arguments.url_value if url.plain else None, scope)
                continue
            sources = self.sources(arguments.url_value, scope)
            if not sources:
                continue
            pools = set()
            if "poolclass" in arguments.keywords:
                pools.add(self._pool_of(arguments.keywords["poolclass"][1], scope))
            for spread in arguments.spread:
                pools.add(self._spread_pool(spread, scope, 0))
            pool = _combine(pools)
            start, end = self.position(call)
            plain = dotted_parts(arguments.url_value) is not None or self._reads_environment(arguments.url_value, scope)
            yield UrlCandidate(
                path=self.path,
                start=start,
                end=end,
                factory=arguments.factory,
                sources=tuple(dict.fromkeys(sources)),
                pool=pool,
                fixable=plain and pool == "absent" and "poolclass" not in arguments.keywords,
                suppressed=self.suppressed("DBI005", start.row),
                per_test=self.is_test and not outlives_a_test(scope, self.visitor),
                bound_to=self._bound_to(call, scope),
            )

    def _bound_to(self, call: cst.Call, scope: Scope) -> str:
        """`module.name` when the call is the value of `name = ...` at module level."""
        statement = self.visitor.statement_of.get(id(call))  # type: ignore[attr-defined]
        if scope is not self.visitor.module_scope or not isinstance(statement, cst.SimpleStatementLine):
            return ""
        for small in statement.body:
            if isinstance(small, cst.Assign) and small.value is call and len(small.targets) == 1:
                target = small.targets[0].target
                return f"{self.module}.{target.value}" if isinstance(target, cst.Name) else ""
            if isinstance(small, cst.AnnAssign) and small.value is call and isinstance(small.target, cst.Name):
                return f"{self.module}.{small.target.value}"
        return ""

    # the test suite's async in-memory databases (DBI006) ------------------------------------
    def _test_database(
        self, kind: str, name: str, url: str, node: cst.CSTNode, value: Optional[cst.BaseExpression], scope: Scope
    ) -> None:
        start, end = self.position(node)
        self._test_databases.append(
            TestDatabase(
                path=self.path,
                start=start,
                end=end,
                url=url,
                kind=kind,
                name=name,
                replace=self.position(value) if value is not None else None,
                suppressed=self.suppressed("DBI006", start.row),
                bound_to=self._bound_to(node, scope) if isinstance(node, cst.Call) else "",
            )
        )

    def _test_settings(self) -> None:
        """Settings fields given an async in-memory URL once for many tests: `settings.url = ...`
        and `Settings(url=...)` (engines and the environment are read where they are)."""
        for target, kind, scope, value in self.visitor.stores:  # type: ignore[attr-defined]
            if kind == "assign" and value is not None and isinstance(target, cst.Attribute):
                self._test_setting(target.attr.value, value, scope)
        for call, scope in self.visitor.calls:  # type: ignore[attr-defined]
            parts = dotted_parts(call.func) or []
            receiver = self.visitor.qualified_name(call.func.value, scope) if isinstance(call.func, cst.Attribute) else None
            if parts[-2:] == ["patch", "dict"] or receiver == "os.environ":
                continue  # the environment (_environment), set only within a test by `patch.dict`
            if self.visitor.qualified_names(call.func, scope) & self.factories:
                continue
            for arg in call.args:
                if arg.keyword is not None:
                    self._test_setting(arg.keyword.value, arg.value, scope)

    def _test_setting(self, name: str, value: cst.BaseExpression, scope: Scope) -> None:
        text = constant_value(value, scope, self.visitor)
        url = classify_url(text) if isinstance(text, str) and "sqlite" in text else None
        if url is not None and url.in_memory and url.async_driver and outlives_a_test(scope, self.visitor):
            self._test_database("setting", name, text, value, value if url.plain else None, scope)  # type: ignore[arg-type]

    def _disposals(self) -> Iterator[Tuple[str, str]]:
        for call, scope in self.visitor.calls:  # type: ignore[attr-defined]
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "dispose":
                name = self.visitor.qualified_name(func.value, scope)
                if name and not name.startswith((LOCAL + ".", BUILTINS + ".")):
                    yield name, f"{self.path}:{self.row(call)}"

    def _reads_environment(self, expr: cst.BaseExpression, scope: Scope) -> bool:
        """`os.getenv(...)`, `os.environ.get(...)`, `os.environ[...]`: reads that can run twice."""
        if isinstance(expr, cst.Subscript):
            return self.visitor.qualified_name(expr.value, scope) == "os.environ"
        return isinstance(expr, cst.Call) and self.visitor.qualified_name(expr.func, scope) in _ENV_GETTERS

    def sources(self, expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> List[Source]:
        """Where the value of `expr` may come from; an empty list when nothing can be said."""
        if depth > _MAX_DEPTH:
            return []
        text = constant_value(expr, scope, self.visitor)
        if isinstance(text, str):
            return [("literal", text, "")]
        if isinstance(expr, cst.IfExp):
            return self.sources(expr.body, scope, depth + 1) + self.sources(expr.orelse, scope, depth + 1)
        if isinstance(expr, cst.Name):
            return self._name_sources(expr, scope, depth)
        if isinstance(expr, cst.Attribute):
            return self._attribute_sources(expr, scope, depth)
        if isinstance(expr, cst.Call):
            return self._call_sources(expr, scope, depth)
        if isinstance(expr, cst.Subscript) and self.visitor.qualified_name(expr.value, scope) == "os.environ":
            name = _single_key(expr, scope, self.visitor)
            return [("env", name, "")] if name else []
        if isinstance(expr, cst.FormattedString):
            values = [part for part in expr.parts if isinstance(part, cst.FormattedStringExpression)]
            texts = [part for part in expr.parts if isinstance(part, cst.FormattedStringText) and part.value]
            if len(values) == 1 and not texts:
                return self.sources(values[0].expression, scope, depth + 1)
        return []

    def _name_sources(self, name: cst.Name, scope: Scope, depth: int) -> List[Source]:
        owner, bindings = scope.lookup(name.value)
        found: List[Source] = []
        for binding in bindings:
            if binding.kind == "assign" and binding.value is not None:
                found += self.sources(binding.value, binding.scope or owner or scope, depth + 1)
            elif binding.kind == "import" and binding.target:  # a constant of another module
                found.append(("constant", binding.target, ""))
            elif isinstance(binding.node, cst.Param) and binding.node.default is not None:
                found += self.sources(binding.node.default, owner.parent if owner and owner.parent else scope, depth + 1)
        return found

    def _attribute_sources(self, expr: cst.Attribute, scope: Scope, depth: int) -> List[Source]:
        attribute = expr.attr.value
        base = expr.value
        if isinstance(base, cst.Name) and base.value == "self":
            return self._self_sources(attribute, scope, depth)
        if isinstance(base, cst.Call):
            owner = self.visitor.qualified_name(base.func, scope)
        else:
            owner = self.visitor.qualified_name(base, scope)
        if owner is None or owner.startswith((LOCAL + ".", BUILTINS + ".")):
            return []
        return [("setting", owner, attribute)]

    def _self_sources(self, attribute: str, scope: Scope, depth: int) -> List[Source]:
        """`self.<attribute>` in a method: what the class's methods assign to it."""
        cls = scope
        while cls is not None and cls.kind != "class":
            cls = cls.parent
        found: List[Source] = []
        for target, kind, store_scope, value in self.visitor.stores:  # type: ignore[attr-defined]
            if kind != "assign" or value is None or not isinstance(target, cst.Attribute):
                continue
            if target.attr.value != attribute or not (isinstance(target.value, cst.Name) and target.value.value == "self"):
                continue
            owner = store_scope
            while owner is not None and owner.kind != "class":
                owner = owner.parent
            if owner is cls:
                found += self.sources(value, store_scope, depth + 1)
        return found

    def _call_sources(self, call: cst.Call, scope: Scope, depth: int) -> List[Source]:
        name = self.visitor.qualified_name(call.func, scope)
        positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
        if name in _ENV_GETTERS and positional:
            variable = constant_value(positional[0], scope, self.visitor)
            if not isinstance(variable, str):
                return []
            default = constant_value(positional[1], scope, self.visitor) if len(positional) > 1 else ""
            return [("env", variable, default if isinstance(default, str) else "")]
        if name == "builtins.str" and len(positional) == 1:
            return self.sources(positional[0], scope, depth + 1)
        if name in self._functions:  # a helper of this module: what it returns
            function = self._functions[name]
            inner = self._scope_of.get(id(function))
            return [
                source
                for value, value_scope in self._returns(function)
                for source in self.sources(value, value_scope or inner or scope, depth + 1)
            ]
        return []

    def _returns(self, function: cst.FunctionDef) -> List[Tuple[cst.BaseExpression, Optional[Scope]]]:
        return [
            (node.value, scope)
            for node, scope in self.visitor.returns  # type: ignore[attr-defined]
            if node.value is not None and _function_of(scope) is function
        ]

    # StaticPool on the path -----------------------------------------------------------------
    def _pool_of(self, expr: cst.BaseExpression, scope: Scope) -> str:
        if self._mentions_static_pool(expr, scope):
            return "static"
        if isinstance(expr, cst.Name) and expr.value == "None":
            return "absent"
        name = self.visitor.qualified_name(expr, scope) or ""
        last = name.rsplit(".", 1)[-1]
        return last if name.startswith(("sqlalchemy.", "sqlmodel.")) and last in POOL_CLASSES else "unknown"

    def _mentions_static_pool(self, expr: cst.CSTNode, scope: Scope) -> bool:
        found = []

        class Finder(cst.CSTVisitor):
            def visit_Name(inner, node: cst.Name) -> None:  # noqa: N805
                if node.value == STATIC_POOL or (self.visitor.qualified_name(node, scope) or "").endswith(".StaticPool"):
                    found.append(node)

            def visit_Attribute(inner, node: cst.Attribute) -> None:  # noqa: N805
                if node.attr.value == STATIC_POOL:
                    found.append(node)

        expr.visit(Finder())
        return bool(found)

    def _spread_pool(self, expr: cst.BaseExpression, scope: Scope, depth: int) -> str:
        """The pool a `**mapping` may set: through a dict literal, a name (its values and the
        `name["poolclass"] = ...` stores of its function), or this module's helper returning it."""
        if depth > _MAX_DEPTH:
            return "unknown"
        if isinstance(expr, cst.Dict):
            pools = set()
            for element in expr.elements:
                if isinstance(element, cst.StarredDictElement):
                    pools.add(self._spread_pool(element.value, scope, depth + 1))
                elif constant_value(element.key, scope, self.visitor) == "poolclass":
                    pools.add(self._pool_of(element.value, scope))
            return _combine(pools)
        if isinstance(expr, cst.Call):
            name = self.visitor.qualified_name(expr.func, scope)
            if name == "builtins.dict":
                pools = {self._pool_of(arg.value, scope) for arg in expr.args if arg.keyword and arg.keyword.value == "poolclass"}
                return _combine(pools)
            if name in self._functions:
                function = self._functions[name]
                inner = self._scope_of.get(id(function))
                pools = {self._spread_pool(value, value_scope or inner or scope, depth + 1) for value, value_scope in self._returns(function)}
                return _combine(pools) if pools else "unknown"
            return "unknown"
        if isinstance(expr, cst.Name):
            owner, bindings = scope.lookup(expr.value)
            if owner is None or not bindings:
                return "unknown"
            pools = set()
            for binding in bindings:
                if binding.kind == "assign" and binding.value is not None:
                    pools.add(self._spread_pool(binding.value, binding.scope or owner, depth + 1))
                else:
                    pools.add("unknown")
            for target, kind, store_scope, value in self.visitor.stores:  # type: ignore[attr-defined]
                if kind == "assign" and value is not None and isinstance(target, cst.Subscript):
                    base = target.value
                    if isinstance(base, cst.Name) and base.value == expr.value and store_scope.owner_of(expr.value) is owner:
                        if _single_key(target, store_scope, self.visitor) == "poolclass":
                            pools.add(self._pool_of(value, store_scope))
            return _combine(pools)
        return "unknown"

    # the test suite's environment -----------------------------------------------------------
    def _environment(self) -> Iterator[EnvSetting]:
        for target, kind, scope, value in self.visitor.stores:  # type: ignore[attr-defined]
            if kind == "assign" and value is not None and isinstance(target, cst.Subscript):
                if self.visitor.qualified_name(target.value, scope) == "os.environ":
                    once = outlives_a_test(scope, self.visitor)
                    yield from self._setting(_single_key(target, scope, self.visitor), value, scope, target, once)
        for call, scope in self.visitor.calls:  # type: ignore[attr-defined]
            func = call.func
            parts = dotted_parts(func) or []
            method = parts[-1] if parts else ""
            receiver = self.visitor.qualified_name(func.value, scope) if isinstance(func, cst.Attribute) else None
            positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
            # `patch.dict` sets the variable only within its test or block, whatever its scope.
            once = method != "dict" and outlives_a_test(scope, self.visitor)
            if (method == "setdefault" and receiver == "os.environ") or method == "setenv":
                if len(positional) >= 2:
                    yield from self._setting(constant_value(positional[0], scope, self.visitor), positional[1], scope, call, once)
            elif method == "update" and receiver == "os.environ" or parts[-2:] == ["patch", "dict"]:
                for mapping in positional[-1:] if method == "update" else positional[1:2]:
                    if isinstance(mapping, cst.Dict):
                        for element in mapping.elements:
                            if isinstance(element, cst.DictElement):
                                yield from self._setting(
                                    constant_value(element.key, scope, self.visitor), element.value, scope, call, once
                                )
                for arg in call.args:
                    if arg.keyword is not None and method == "update":
                        yield from self._setting(arg.keyword.value, arg.value, scope, call, once)

    def _setting(
        self, name: object, value: cst.BaseExpression, scope: Scope, node: cst.CSTNode, once: bool
    ) -> Iterator[EnvSetting]:
        """The values a test may give a variable: literals, and the defaults of what it reads
        (`os.environ["DATABASE_URL"] = os.environ.get("CI_DATABASE_URL", "sqlite://")`)."""
        if not isinstance(name, str):
            return
        for kind, first, second in self.sources(value, scope):
            text = first if kind == "literal" else second if kind == "env" else ""
            if text:
                yield EnvSetting(name, text, f"{self.path}:{self.row(node)}", once)
                url = classify_url(text) if once else None
                if url is not None and url.in_memory and url.async_driver:
                    literal = kind == "literal" and url.plain
                    self._test_database("env", name, text, value, value if literal else None, scope)

    # pydantic settings ----------------------------------------------------------------------
    def _settings_classes(self) -> Iterator[SettingsClass]:
        for scope in self.visitor.class_scopes:  # type: ignore[attr-defined]
            node = scope.node
            assert isinstance(node, cst.ClassDef)
            bases = [self.visitor.qualified_name(base.value, scope.parent or scope) or "" for base in node.bases]
            if not any("Settings" in base.rsplit(".", 1)[-1] for base in bases):
                continue
            fields, prefix = [], None
            for statement in _body_statements(node):
                if isinstance(statement, cst.AnnAssign) and isinstance(statement.target, cst.Name):
                    fields.append(self._field(statement.target.value, statement.value, scope))
                elif isinstance(statement, cst.Assign) and _target_name(statement) == "model_config":
                    prefix = _env_prefix(statement.value, scope, self.visitor)
                elif isinstance(statement, cst.ClassDef) and statement.name.value == "Config":
                    for inner in _body_statements(statement):
                        if isinstance(inner, cst.Assign) and _target_name(inner) == "env_prefix":
                            value = constant_value(inner.value, scope, self.visitor)
                            prefix = value if isinstance(value, str) else prefix
            yield SettingsClass(
                qualname=f"{self.module}.{node.name.value}",
                bases=tuple(base for base in bases if base),
                env_prefix=prefix,
                fields=tuple(fields),
            )

    def _field(self, name: str, value: Optional[cst.BaseExpression], scope: Scope) -> Tuple[str, Tuple[str, ...], str]:
        names: List[str] = []
        default: object = UNKNOWN
        if isinstance(value, cst.Call) and (dotted_parts(value.func) or [""])[-1] == "Field":
            for arg in value.args:
                keyword = arg.keyword.value if arg.keyword else "default"
                folded = constant_value(arg.value, scope, self.visitor)
                if keyword in ("alias", "validation_alias", "env") and isinstance(folded, str):
                    names.append(folded.lower())
                elif keyword == "default":
                    default = folded
        elif value is not None:
            default = constant_value(value, scope, self.visitor)
        return name, tuple(names), default if isinstance(default, str) else ""

    def _settings_owners(self) -> Iterator[Tuple[str, str]]:
        """`settings = Settings()` at module level, and functions that return `Settings()`."""
        module_scope = self.visitor.module_scope
        for name, bindings in module_scope.bindings.items():
            for binding in bindings:
                if binding.kind == "assign" and isinstance(binding.value, cst.Call) and binding.scope is module_scope:
                    cls = self.visitor.qualified_name(binding.value.func, module_scope)
                    if cls and not cls.startswith((LOCAL + ".", BUILTINS + ".")):
                        yield f"{self.module}.{name}", cls
        for qualname, function in self._functions.items():
            for value, scope in self._returns(function):
                if isinstance(value, cst.Call) and scope is not None:
                    cls = self.visitor.qualified_name(value.func, scope)
                    if cls and not cls.startswith((LOCAL + ".", BUILTINS + ".")):
                        yield qualname, cls


def _combine(pools: Set[str]) -> str:
    if "static" in pools:
        return "static"
    if "unknown" in pools or not pools:
        return "unknown" if pools else "absent"
    named = sorted(pool for pool in pools if pool != "absent")
    return named[0] if named else "absent"


def _function_name(scope: Scope) -> str:
    function = _function_of(scope)
    return function.name.value if isinstance(function, cst.FunctionDef) else ""


def _function_of(scope: Optional[Scope]) -> Optional[cst.CSTNode]:
    while scope is not None and scope.kind != "function":
        scope = scope.parent
    return scope.node if scope is not None else None


def _single_key(subscript: cst.Subscript, scope: Scope, names: ScopedVisitor) -> Optional[str]:
    if len(subscript.slice) != 1 or not isinstance(subscript.slice[0].slice, cst.Index):
        return None
    key = constant_value(subscript.slice[0].slice.value, scope, names)
    return key if isinstance(key, str) else None


def _body_statements(node: cst.ClassDef) -> Iterator[cst.CSTNode]:
    body = node.body
    for statement in body.body if isinstance(body, cst.IndentedBlock) else [body]:
        if isinstance(statement, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            yield from statement.body
        else:
            yield statement


def _target_name(assign: cst.Assign) -> Optional[str]:
    target = assign.targets[0].target if len(assign.targets) == 1 else None
    return target.value if isinstance(target, cst.Name) else None


def _env_prefix(value: cst.BaseExpression, scope: Scope, names: ScopedVisitor) -> Optional[str]:
    """`SettingsConfigDict(env_prefix="APP_")` or `{"env_prefix": "APP_"}`."""
    if isinstance(value, cst.Call):
        for arg in value.args:
            if arg.keyword is not None and arg.keyword.value == "env_prefix":
                prefix = constant_value(arg.value, scope, names)
                return prefix if isinstance(prefix, str) else None
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if isinstance(element, cst.DictElement) and constant_value(element.key, scope, names) == "env_prefix":
                prefix = constant_value(element.value, scope, names)
                return prefix if isinstance(prefix, str) else None
    return None
