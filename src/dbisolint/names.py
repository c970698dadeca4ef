"""A light name resolver: Python's scoping rules over one libcst walk.

libcst's QualifiedNameProvider costs several parses per file; the rules only need to know what a
dotted name refers to (`sa.create_engine`, a local `create_engine`, an imported `_cache`) and the
value of single-assignment constants. `ScopedVisitor` records every binding of every scope during
the walk that the rules do anyway; lookups run afterwards, when each scope's bindings are complete
(Python decides locality from the whole function body).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple, Union

import libcst as cst

from .model import ModuleName

BUILTINS = "builtins"
LOCAL = "<local>"


@dataclass(eq=False)
class Binding:
    """One statement that binds a name in a scope."""

    kind: str  # "import", "def", "class", "assign", "other"
    node: cst.CSTNode
    target: Optional[str] = None  # dotted name an import binds
    value: Optional[cst.BaseExpression] = None  # the assigned value of a simple `name = value`
    # Weak: the scope holds its bindings, and a cycle would keep the file's tree alive until the
    # cycle collector runs (it is paused for a whole run).
    _scope: Optional["weakref.ReferenceType[Scope]"] = None

    @property
    def scope(self) -> Optional["Scope"]:
        """Where the binding statement itself runs (differs under `global`)."""
        return self._scope() if self._scope is not None else None

    @scope.setter
    def scope(self, scope: "Scope") -> None:
        self._scope = weakref.ref(scope)


@dataclass(eq=False)
class Scope:
    kind: str  # "module", "class", "function", "comprehension"
    node: cst.CSTNode
    parent: Optional["Scope"]
    bindings: Dict[str, List[Binding]] = field(default_factory=dict)
    globals: Set[str] = field(default_factory=set)
    nonlocals: Set[str] = field(default_factory=set)
    star_imports: List[str] = field(default_factory=list)

    @property
    def module(self) -> "Scope":
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope

    @property
    def in_function(self) -> bool:
        """Whether code in this scope runs when called rather than at import."""
        scope: Optional[Scope] = self
        while scope is not None:
            if scope.kind == "function":
                return True
            scope = scope.parent
        return False

    def _enclosing(self) -> Optional["Scope"]:
        # The next scope a free name is looked up in: enclosing class bodies are skipped.
        scope = self.parent
        while scope is not None and scope.kind == "class":
            scope = scope.parent
        return scope

    def owner_of(self, name: str) -> Optional["Scope"]:
        """The scope whose binding `name` refers to from here, or None for a builtin."""
        scope: Optional[Scope] = self
        while scope is not None:
            if name in scope.globals:
                module = scope.module
                return module if name in module.bindings else None
            if name in scope.bindings and name not in scope.nonlocals:
                return scope
            scope = scope._enclosing()
        return None

    def lookup(self, name: str) -> Tuple[Optional["Scope"], List[Binding]]:
        owner = self.owner_of(name)
        return owner, (owner.bindings[name] if owner is not None else [])


def dotted_parts(expr: cst.BaseExpression) -> Optional[List[str]]:
    """`a.b.c` as ["a", "b", "c"]; None for anything that is not a plain dotted name."""
    parts: List[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if not isinstance(expr, cst.Name):
        return None
    parts.append(expr.value)
    parts.reverse()
    return parts


def _dotted_text(expr: Union[cst.Attribute, cst.Name]) -> str:
    parts = dotted_parts(expr)
    assert parts is not None
    return ".".join(parts)


def _target_names(target: cst.BaseExpression) -> Iterator[cst.Name]:
    if isinstance(target, cst.Name):
        yield target
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


class ScopedVisitor(cst.CSTVisitor):
    """Walks a module keeping `self.scope` current and recording every binding.

    Subclasses add their own visit_* methods; those that override one defined here call super().
    """

    def __init__(self, module_name: ModuleName) -> None:
        super().__init__()
        self.module_name = module_name
        self.scope = Scope("module", None, None)  # type: ignore[arg-type]
        self.module_scope = self.scope
        self.function_scopes: List[Scope] = []  # every `def`'s scope, in walk order
        self.class_scopes: List[Scope] = []

    # -- scopes ---------------------------------------------------------------------------
    def _push(self, kind: str, node: cst.CSTNode) -> None:
        self.scope = Scope(kind, node, self.scope)

    def _pop(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def _bind(self, name: str, binding: Binding, scope: Optional[Scope] = None) -> None:
        scope = scope or self.scope
        binding.scope = scope
        if name in scope.globals:
            scope = scope.module
        elif name in scope.nonlocals:
            enclosing = scope._enclosing()
            scope = (enclosing.owner_of(name) if enclosing else None) or scope
        scope.bindings.setdefault(name, []).append(binding)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._bind(node.name.value, Binding("def", node))

    def visit_FunctionDef_params(self, node: cst.FunctionDef) -> None:
        # The function's scope starts at its parameters: decorators run in the enclosing scope.
        self._push("function", node)
        self.function_scopes.append(self.scope)
        self._bind_parameters(node.params)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push("function", node)
        self._bind_parameters(node.params)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._pop()

    def _bind_parameters(self, params: cst.Parameters) -> None:
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        if isinstance(params.star_arg, cst.Param):
            every.append(params.star_arg)
        if params.star_kwarg is not None:
            every.append(params.star_kwarg)
        for param in every:
            self._bind(param.name.value, Binding("other", param))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._bind(node.name.value, Binding("class", node))

    def visit_ClassDef_body(self, node: cst.ClassDef) -> None:
        self._push("class", node)  # decorators and bases run in the enclosing scope
        self.class_scopes.append(self.scope)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._pop()

    def _visit_comprehension(self, node: cst.CSTNode) -> None:
        self._push("comprehension", node)

    def _leave_comprehension(self, node: cst.CSTNode) -> None:
        self._pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comprehension
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _leave_comprehension

    def visit_CompFor(self, node: cst.CompFor) -> None:
        for name in _target_names(node.target):
            self._bind(name.value, Binding("other", node))

    # -- bindings -------------------------------------------------------------------------
    def visit_Global(self, node: cst.Global) -> None:
        self.scope.globals.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.scope.nonlocals.update(item.name.value for item in node.names)

    def visit_Assign(self, node: cst.Assign) -> None:
        simple = len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
        for target in node.targets:
            for name in _target_names(target.target):
                self._bind(name.value, Binding("assign" if simple else "other", node, value=node.value if simple else None))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, Binding("assign" if node.value is not None else "other", node, value=node.value))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, Binding("other", node))

    def visit_For(self, node: cst.For) -> None:
        for name in _target_names(node.target):
            self._bind(name.value, Binding("other", node))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            for name in _target_names(node.asname.name):
                self._bind(name.value, Binding("other", node))

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind(node.name.name.value, Binding("other", node))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        if isinstance(node.target, cst.Name):
            self._bind(node.target.value, Binding("other", node), scope)

    def visit_Del(self, node: cst.Del) -> None:
        for name in _target_names(node.target):
            self._bind(name.value, Binding("other", node))

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self._bind(node.name.value, Binding("other", node))

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self._bind(node.name.value, Binding("other", node))

    def visit_MatchMapping(self, node: cst.MatchMapping) -> None:
        if node.rest is not None:
            self._bind(node.rest.value, Binding("other", node))

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            dotted = _dotted_text(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind(alias.asname.name.value, Binding("import", node, target=dotted))
            else:
                head = dotted.split(".")[0]
                self._bind(head, Binding("import", node, target=head))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = _dotted_text(node.module) if node.module is not None else None
        base = self.module_name.resolve_relative(len(node.relative), module)
        if isinstance(node.names, cst.ImportStar):
            if base:
                self.scope.star_imports.append(base)
            return
        for alias in node.names:
            name = _dotted_text(alias.name)
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            target = f"{base}.{name}" if base else None
            self._bind(local, Binding("import", node, target=target) if target else Binding("other", node))

    # -- lookups (valid once the walk is over) ---------------------------------------------
    def qualified_names(self, expr: cst.BaseExpression, scope: Scope) -> Set[str]:
        """Every dotted name `expr` may refer to from `scope`.

        Imports give their target (`sa.create_engine` -> `sqlalchemy.create_engine`), module-level
        definitions `<module>.<name>`, locals `<local>.<name>`, unbound names `builtins.<name>`.
        An empty set means `expr` is not a dotted name or an import could not be resolved.
        """
        parts = dotted_parts(expr)
        if parts is None:
            return set()
        head, rest = parts[0], parts[1:]
        owner, bindings = scope.lookup(head)
        if owner is None:
            stars = self.module_scope.star_imports
            base = stars[0] if len(stars) == 1 else BUILTINS
            return {".".join([base, head, *rest])}
        names: Set[str] = set()
        for binding in bindings:
            if binding.kind == "import":
                if binding.target is None:
                    continue
                names.add(".".join([binding.target, *rest]))
            elif owner.kind == "module":
                names.add(".".join(filter(None, [self.module_name.name, head, *rest])))
            else:
                names.add(".".join([LOCAL, head, *rest]))
        return names

    def qualified_name(self, expr: cst.BaseExpression, scope: Scope) -> Optional[str]:
        """The one dotted name `expr` refers to, or None when it is ambiguous or unknown."""
        names = self.qualified_names(expr, scope)
        return next(iter(names)) if len(names) == 1 else None

    def single_value(self, name: cst.Name, scope: Scope) -> Tuple[Optional[cst.BaseExpression], Optional[Scope]]:
        """The value of a name assigned exactly once (`URL = "sqlite://"`), and the scope it runs in."""
        owner, bindings = scope.lookup(name.value)
        if owner is None or len(bindings) != 1 or bindings[0].kind != "assign":
            return None, None
        return bindings[0].value, bindings[0].scope


class Unknown:
    """The value of an expression that cannot be computed statically."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()
_MAX_FOLD_DEPTH = 20


def constant_value(expr: cst.BaseExpression, scope: Scope, names: ScopedVisitor, depth: int = 0) -> object:
    """Fold `expr` to a Python constant (str, int, bool, None), or UNKNOWN.

    Follows string concatenation, `+` of strings and names assigned exactly once.
    """
    if depth > _MAX_FOLD_DEPTH:
        return UNKNOWN
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else UNKNOWN
    if isinstance(expr, cst.ConcatenatedString):
        left = constant_value(expr.left, scope, names, depth + 1)
        right = constant_value(expr.right, scope, names, depth + 1)
        return left + right if isinstance(left, str) and isinstance(right, str) else UNKNOWN
    if isinstance(expr, cst.FormattedString):
        pieces = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringText):
                pieces.append(part.value)
                continue
            if part.conversion is not None or part.format_spec is not None:
                return UNKNOWN
            value = constant_value(part.expression, scope, names, depth + 1)
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                return UNKNOWN
            pieces.append(str(value))
        return "".join(pieces)
    if isinstance(expr, cst.Integer):
        return expr.evaluated_value
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        left = constant_value(expr.left, scope, names, depth + 1)
        right = constant_value(expr.right, scope, names, depth + 1)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        return UNKNOWN
    if isinstance(expr, cst.Name):
        if expr.value in ("True", "False", "None") :
            return {"True": True, "False": False, "None": None}[expr.value]
        value, value_scope = names.single_value(expr, scope)
        if value is None or value_scope is None:
            return UNKNOWN
        return constant_value(value, value_scope, names, depth + 1)
    return UNKNOWN
