"""Where engine URLs come from, as plain facts, and their join over a project (DBI005).

Per file (url_sources.py reads them): each engine call whose URL is not a literal, with the
sources its URL may come from (a literal, an environment variable, a settings field) and whether
StaticPool is set on its path; the environment the tests set; the pydantic settings classes and
how their fields map to environment variables. Per project: which of those URLs the test suite
(or the code's own default) makes an in-memory SQLite URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

from .engine_call import classify_url
from .model import Position

URL_CODE = "DBI005"

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


@dataclass(frozen=True)
class EnvSetting:
    name: str
    value: str
    site: str  # "path:line"


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

