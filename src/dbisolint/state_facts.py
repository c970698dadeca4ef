"""Module-level state as plain facts (what DBI101-DBI103 know of each file) and their join
over a project: follow imports and calls, decide what the test suite resets around every
test, and what is left. Free of libcst: state.py reads the facts, this module only reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Set, Tuple

from .model import Position

MANAGED_TABLE = "_DBISOLINT_STATE"  # the table of the fixture `dbisolint --fix` writes
STATE_CODES = ("DBI101", "DBI102", "DBI103")
SELF = "self"
# Methods that change a container in place: called at runtime, they mutate module state.
MUTATING_METHODS = frozenset(
    {
        "append", "add", "update", "setdefault", "pop", "popitem", "clear", "extend", "insert",
        "remove", "discard", "appendleft", "extendleft", "popleft", "rotate", "sort", "reverse",
        "move_to_end", "subtract", "difference_update", "intersection_update",
        "symmetric_difference_update", "__setitem__", "__delitem__",
    }
)  # fmt: skip


# -- facts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    path: str
    row: int

    def __str__(self) -> str:
        return f"{self.path}:{self.row}"


@dataclass(frozen=True)
class Definition:
    """A module-level container, cached function or instance."""

    kind: str  # "container", "cache", "instance"
    module: str
    name: str
    path: str
    start: Position
    end: Position
    detail: str  # the container type, the cache decorator, or the instance's class
    suppressed: FrozenSet[str] = frozenset()  # codes a `# noqa` on its line silences
    weak: bool = False

    @property
    def target(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Mutation:
    target: str
    site: Site
    function: str


@dataclass(frozen=True)
class FunctionFacts:
    qualname: str
    role: str  # "reset" (autouse fixture, per-test setup/teardown), "test", "other"
    resets: Tuple[str, ...]  # targets it resets itself ("pkg.mod.*" for a reload)
    calls: Tuple[str, ...]  # qualified names it calls
    site: Site


@dataclass(frozen=True)
class ClassFacts:
    qualname: str
    state_attributes: Tuple[str, ...]  # container attributes its methods mutate
    bases: Tuple[str, ...]


@dataclass(frozen=True)
class StateFacts:
    module: str
    path: str
    is_test: bool
    definitions: Tuple[Definition, ...] = ()
    mutations: Tuple[Mutation, ...] = ()
    drained: Tuple[str, ...] = ()  # task sets that drain themselves (add_done_callback(s.discard))
    functions: Tuple[FunctionFacts, ...] = ()
    classes: Tuple[ClassFacts, ...] = ()
    aliases: Tuple[Tuple[str, str], ...] = ()  # module-level `name -> imported dotted name`
    import_decorators: Tuple[str, ...] = ()  # decorators applied at import (module or class level)


# -- the join (one project) -------------------------------------------------------------------
@dataclass
class ProjectState:
    """Everything the state rules know of one project, after the join."""

    facts: List[StateFacts]
    include_test_state: bool = False
    include_weak: bool = False
    blind_spots: Tuple[str, ...] = ()  # test files that did not parse: their resets are unknown
    modules: Dict[str, StateFacts] = field(init=False)
    import_decorators: Set[str] = field(init=False)
    runtime_calls: Set[str] = field(init=False)
    functions: Dict[str, FunctionFacts] = field(init=False)
    classes: Dict[str, ClassFacts] = field(init=False)
    mutations: Dict[str, Mutation] = field(init=False)
    drained: Set[str] = field(init=False)
    resets: Set[str] = field(init=False)
    # Callees reached from a reset that no fact describes: project functions in files not read
    # yet (the checker reads them and joins again), or library functions.
    unresolved: Set[str] = field(init=False)
    import_only: Set[str] = field(init=False)  # decorators whose registries count as filled at import

    def __post_init__(self) -> None:
        self.modules = {facts.module: facts for facts in self.facts}
        self._aliases = {facts.module: dict(facts.aliases) for facts in self.facts}
        self._canonical: Dict[str, str] = {}
        self._test_resets: Optional[Dict[str, List[FunctionFacts]]] = None
        self.functions = {f.qualname: f for facts in self.facts for f in facts.functions}
        self.classes = {c.qualname: c for facts in self.facts for c in facts.classes}
        self.import_decorators = {self.canonical(name) for facts in self.facts for name in facts.import_decorators}
        self.runtime_calls = {self.canonical(name) for f in self.functions.values() for name in f.calls}
        self.mutations = {}
        self.import_only = set()
        for facts in self.facts:
            for mutation in facts.mutations:
                if not self._at_import(mutation.function):
                    self.mutations.setdefault(self.canonical(mutation.target), mutation)
        self.drained = {self.canonical(target) for facts in self.facts for target in facts.drained}
        self.resets = set()
        self.unresolved = set()
        for function in self.functions.values():
            if function.role == "reset":
                self.resets |= self.effects(function.qualname)

    def _at_import(self, function: str) -> bool:
        """Whether `function` (or the decorator factory it is nested in) runs only as a decorator
        applied at import, never called from other functions. The verdict rests on every call of
        it being known: `import_only` lists such decorators, for the checker to read every file
        that names them."""
        parts = function.split(".")
        for cut in range(len(parts), 1, -1):
            outer = ".".join(parts[:cut])
            if outer in self.import_decorators:
                if outer in self.runtime_calls:
                    return False
                self.import_only.add(outer)
                return True
        return False

    def canonical(self, name: str, depth: int = 0) -> str:
        """Follow re-exports: `app._store`, where app/__init__.py imports `_store` from
        app.store, is `app.store._store`."""
        if name in self._canonical:
            return self._canonical[name]
        found = name
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            aliases = self._aliases.get(".".join(parts[:cut]))
            if aliases is None:
                continue
            alias = aliases.get(parts[cut])
            if alias is not None and depth < 10:
                found = self.canonical(".".join([alias, *parts[cut + 1 :]]), depth + 1)
            break
        self._canonical[name] = found
        return found

    def effects(self, qualname: str, receiver: Optional[str] = None, seen: Optional[Set[Tuple[str, Optional[str]]]] = None) -> Set[str]:
        """What calling `qualname` resets, following the project's own functions; a method
        called on a known instance (`receiver`) resets that instance's `self.` attributes."""
        seen = set() if seen is None else seen
        if (qualname, receiver) in seen:
            return set()
        seen.add((qualname, receiver))
        function = self.functions.get(qualname)
        if function is None:
            found = self._method_effects(qualname, seen)
            if not found:
                self.unresolved.add(qualname)
            return found
        found: Set[str] = set()
        for target in function.resets:
            if target.startswith(SELF + "."):
                if receiver is not None:
                    found.add(receiver + target[len(SELF) :])
            else:
                found.add(self.canonical(target))
        for callee in function.calls:
            if callee.startswith(SELF + ".") and receiver is not None:
                owner = qualname.rsplit(".", 1)[0]
                found |= self.effects(f"{owner}.{callee[len(SELF) + 1:]}", receiver, seen)
            else:
                found |= self.effects(self.canonical(callee), None, seen)
        return found

    def _method_effects(self, qualname: str, seen: Set[Tuple[str, Optional[str]]]) -> Set[str]:
        """`pkg.mod.limiter.reset` where `limiter` is a module-level instance of a project class."""
        receiver, _, method = qualname.rpartition(".")
        definition = self.definition(receiver)
        if definition is None or definition.kind != "instance":
            return set()
        for cls in self.class_chain(definition.detail):
            if f"{cls.qualname}.{method}" in self.functions:
                return self.effects(f"{cls.qualname}.{method}", receiver, seen)
        return set()

    def definition(self, target: str) -> Optional[Definition]:
        module, _, name = target.rpartition(".")
        facts = self.modules.get(module)
        if facts is None:
            return None
        return next((d for d in facts.definitions if d.name == name), None)

    def class_chain(self, qualname: str) -> List[ClassFacts]:
        chain, todo = [], [self.canonical(qualname)]
        while todo and len(chain) < 20:
            cls = self.classes.get(todo.pop(0))
            if cls is not None and cls not in chain:
                chain.append(cls)
                todo.extend(self.canonical(base) for base in cls.bases)
        return chain

    def is_reset(self, definition: Definition) -> bool:
        target = definition.target
        if f"{definition.module}.*" in self.resets or target in self.resets:
            return True
        if any(reset.startswith(target + ".") for reset in self.resets) and definition.kind == "instance":
            return True
        parts = target.split(".")
        return any(".".join(parts[:cut]) in self.resets for cut in range(len(parts) - 1, 0, -1))

    def state_definitions(self, kind: str) -> Iterator[Definition]:
        for facts in self.facts:
            if facts.is_test and not self.include_test_state:
                continue
            for definition in facts.definitions:
                if definition.kind == kind:
                    yield definition

    def test_body_resets(self, target: str) -> List[FunctionFacts]:
        if self._test_resets is None:
            self._test_resets = {}
            for function in self.functions.values():
                if function.role == "test":
                    for reset in function.resets:
                        self._test_resets.setdefault(self.canonical(reset), []).append(function)
        return self._test_resets.get(target, [])

    def is_registry(self, definition: Definition) -> bool:
        """An instance whose methods its own module applies as decorators at import
        (`register = Library()` then `@register.filter`), and calls from no function there:
        what it holds is filled at import."""
        facts = self.modules.get(definition.module)
        prefix = definition.target + "."
        if facts is None or not any(name.startswith(prefix) for name in facts.import_decorators):
            return False
        return not any(callee.startswith(prefix) for function in facts.functions for callee in function.calls)

    def state_attributes(self, definition: Definition) -> Tuple[str, ...]:
        attributes: List[str] = []
        for cls in self.class_chain(definition.detail):
            attributes.extend(attr for attr in cls.state_attributes if attr not in attributes)
        return tuple(attributes)


def describe_test_body_resets(project: ProjectState, target: str) -> str:
    tests = project.test_body_resets(target)
    if not tests:
        return ""
    first = tests[0]
    name = first.qualname.rsplit(".", 1)[-1]
    return f"; it is reset only inside `{name}` ({first.site}), and a reset in one test body protects no other test"


def join_lines(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)
