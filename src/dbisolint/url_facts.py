"""Where engine URLs come from, as plain facts, and their join over a project (DBI005, DBI006).

Per file (url_sources.py reads them): each engine call whose URL is not a literal, with the
sources its URL may come from (a literal, an environment variable, a settings field) and whether
StaticPool is set on its path; the environment the tests set; the pydantic settings classes and
how their fields map to environment variables; the test suite's settings that give an async engine
an in-memory database once for many tests, and the engines disposed. Per project: which of those
URLs the test suite (or the code's own default) makes an in-memory SQLite URL, and which engines
read the test suite's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Set, Tuple

from .engine_call import classify_url
from .model import Position

# The rules judged on this join; the join runs when one of them is selected.
URL_CODES = ("DBI005", "DBI006")

# A source of a URL: ("literal", text), ("constant", qualname, "") of another module, ("env",
# NAME, default text or ""), or ("setting", owner, field) where owner names a settings instance or
# a function returning one.
Source = Tuple[str, str, str]


@dataclass(frozen=True)
class UrlCandidate:
    path: str
    start: Position
    end: Position
    factory: str
    sources: Tuple[Source, ...]
    pool: str  # "static" (StaticPool is set on the path, also conditionally), "absent", a pool name, "unknown"
    fixable: bool  # the URL is a plain name or attribute, no pool argument stands in the way
    suppressed: bool = False  # `# noqa: DBI005` on its line
    per_test: bool = False  # built in a test or a fixture of a test's scope: a new engine each test
    bound_to: str = ""  # the module-level name it is assigned to (`app.db.engine`), if any


@dataclass(frozen=True)
class EnvSetting:
    name: str
    value: str
    site: str  # "path:line"
    once: bool = False  # runs once for many tests (engines.outlives_a_test), not around one


@dataclass(frozen=True)
class TestDatabase:
    """A test suite's setting that gives an async engine an in-memory SQLite database, at a place
    that runs once for many tests (DBI006): an environment variable, a settings field, or the URL
    of an engine the tests build."""

    path: str
    start: Position
    end: Position
    url: str
    kind: str  # "env", "setting" (a field or keyword of that name) or "engine"
    name: str  # the variable or field; for an engine, its name or its fixture's (or "")
    # Where the fix puts a file database: the span of the URL expression (None: no fix).
    replace: Optional[Tuple[Position, Position]] = None
    suppressed: bool = False  # `# noqa: DBI006` on its line
    bound_to: str = ""  # for an engine: the module-level name it is assigned to, if any


@dataclass(frozen=True)
class SettingsClass:
    qualname: str
    bases: Tuple[str, ...]
    env_prefix: Optional[str]  # None: inherit it
    # (field, environment names that set it (lower case), default text or "")
    fields: Tuple[Tuple[str, Tuple[str, ...], str], ...] = ()


@dataclass(frozen=True)
class UrlFacts:
    candidates: Tuple[UrlCandidate, ...] = ()
    env: Tuple[EnvSetting, ...] = ()
    settings: Tuple[SettingsClass, ...] = ()
    # owner -> settings class: module-level instances (`settings = Settings()`) and functions
    # returning one (`def get_settings(): return Settings()`)
    settings_owners: Tuple[Tuple[str, str], ...] = ()
    constants: Tuple[Tuple[str, str], ...] = ()  # module-level `NAME = "text"` assigned once: (qualname, text)
    test_databases: Tuple[TestDatabase, ...] = ()
    disposals: Tuple[Tuple[str, str], ...] = ()  # (`app.db.engine`, "path:line") of `engine.dispose()`


@dataclass
class UrlJoin:
    """What DBI005 knows of one project."""

    facts: List[UrlFacts]
    config_env: Tuple[EnvSetting, ...] = ()  # pytest-env's `env` in pytest's configuration
    memory_env: Dict[str, EnvSetting] = field(init=False)
    classes: Dict[str, SettingsClass] = field(init=False)
    owners: Dict[str, str] = field(init=False)
    constants: Dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.memory_env = {}
        for setting in (*self.config_env, *(env for facts in self.facts for env in facts.env)):
            url = classify_url(setting.value)
            if url is not None and url.in_memory:
                self.memory_env.setdefault(setting.name.lower(), setting)
        self.classes = {cls.qualname: cls for facts in self.facts for cls in facts.settings}
        self.owners = dict(owner for facts in self.facts for owner in facts.settings_owners)
        self.constants = dict(constant for facts in self.facts for constant in facts.constants)

    def candidates(self) -> Iterator[UrlCandidate]:
        for facts in self.facts:
            yield from facts.candidates

    def test_databases(self) -> Iterator[TestDatabase]:
        for facts in self.facts:
            yield from facts.test_databases

    def readers(self, database: TestDatabase) -> List[UrlCandidate]:
        """The engine calls whose URL may be what `database` sets."""
        if database.kind == "engine":
            return []
        name = database.name.lower()
        found = []
        for candidate in self.candidates():
            for kind, first, second in candidate.sources:
                if kind == "env" and database.kind == "env" and first.lower() == name:
                    found.append(candidate)
                    break
                if kind == "setting" and self._setting_reads(first, second, database.kind, name):
                    found.append(candidate)
                    break
        return found

    def _setting_reads(self, owner: str, field_name: str, kind: str, name: str) -> bool:
        """Whether settings field `owner.field_name` is what a test's `kind` setting `name` sets."""
        if kind == "setting":
            return field_name.lower() == name
        cls = self.classes.get(self.owners.get(owner, ""))
        if cls is None:
            return False
        prefix = self._prefix(cls)
        for current in self._chain(cls):
            for field_, env_names, _default in current.fields:
                if field_ == field_name:
                    return name in (env_names or ((prefix + field_).lower(),))
        return False

    def disposal(self, bound: Set[str]) -> str:
        """Where the project disposes an engine bound to one of the names `bound` ("path:line"), or ""."""
        for facts in self.facts:
            for name, site in facts.disposals:
                if name in bound:
                    return site
        return ""

    def async_test_origin(self, candidate: UrlCandidate) -> bool:
        """Whether the test suite gives this engine an async in-memory URL once for many tests,
        which DBI006 reports (a file database), where StaticPool cannot help."""
        for kind, first, second in candidate.sources:
            names: Tuple[str, ...] = ()
            if kind == "env":
                names = (first.lower(),)
            elif kind == "setting":
                names = tuple(name for name in self.memory_env if self._setting_reads(first, second, "env", name))
            for name in names:
                setting = self.memory_env.get(name)
                url = classify_url(setting.value) if setting is not None else None
                if setting is not None and setting.once and url is not None and url.async_driver:
                    return True
        return False

    def in_memory_origin(self, candidate: UrlCandidate) -> Optional[Tuple[str, str]]:
        """(the URL, where it is set) for the first source that makes the URL in-memory SQLite."""
        for kind, first, second in candidate.sources:
            if kind == "literal" and _in_memory(first):
                return first, "the code itself"
            if kind == "constant" and _in_memory(self.constants.get(first, "")):
                return self.constants[first], f"`{first}`"
            if kind == "env":
                found = self._from_environment((first.lower(),), second, f"`{first}`'s default")
                if found:
                    return found
            if kind == "setting":
                cls = self.classes.get(self.owners.get(first, ""))
                found = self._from_settings(cls, second) if cls is not None else None
                if found:
                    return found
        return None

    def _from_environment(self, names: Tuple[str, ...], default: str, where: str) -> Optional[Tuple[str, str]]:
        for name in names:
            if name in self.memory_env:
                setting = self.memory_env[name]
                return setting.value, f"{setting.site} sets `{setting.name}`"
        if default and _in_memory(default):
            return default, where
        return None

    def _from_settings(self, cls: SettingsClass, name: str) -> Optional[Tuple[str, str]]:
        prefix = self._prefix(cls)
        for owner in self._chain(cls):
            for field_name, env_names, default in owner.fields:
                if field_name == name:
                    names = env_names or ((prefix + field_name).lower(),)
                    return self._from_environment(names, default, f"the default of `{cls.qualname.rsplit('.', 1)[-1]}.{name}`")
        return None

    def _chain(self, cls: SettingsClass) -> List[SettingsClass]:
        chain, todo = [], [cls]
        while todo and len(chain) < 20:
            current = todo.pop(0)
            if current not in chain:
                chain.append(current)
                todo.extend(self.classes[base] for base in current.bases if base in self.classes)
        return chain

    def _prefix(self, cls: SettingsClass) -> str:
        for owner in self._chain(cls):
            if owner.env_prefix is not None:
                return owner.env_prefix
        return ""


def _in_memory(text: str) -> bool:
    url = classify_url(text)
    return url is not None and url.in_memory


def pool_consequence(pool: str, url: str) -> str:
    """What the engine's pool does to an in-memory database."""
    classified = classify_url(url)
    sync = classified.sync_driver if classified else True
    if pool == "absent":
        if sync:
            return "SingletonThreadPool gives each thread its own empty database"
        return "it shares one database only through the dialect's default StaticPool"
    if pool in ("NullPool",):
        return "NullPool opens a new, empty database for every connection"
    return f"`{pool}` does not share one connection"

