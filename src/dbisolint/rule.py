"""What every rule is: a code, a name, a docstring in ruff's sections, and how it is checked."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Iterator, Optional, Tuple, Union

from .engine_call import CallFix, EngineCall
from .model import Applicability

if TYPE_CHECKING:
    from .state_facts import Definition, ProjectState
    from .url_facts import TestDatabase, UrlCandidate, UrlJoin

DOCS_URL = "https://github.com/dbisolint/dbisolint/blob/main/README.md"


class Rule:
    """Base of all rules. The class docstring is the rule's documentation (`dbisolint rule CODE`)."""

    code: ClassVar[str]
    name: ClassVar[str]
    # The fix applicability when the rule offers one ("safe", "unsafe"), or None.
    fix_availability: ClassVar[Optional[Applicability]] = None

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        """The first sentence of the "What it does" section."""
        lines = cls.documentation().splitlines()
        body = " ".join(line.strip() for line in lines[1:] if line.strip()).split(". ")[0]
        return body.rstrip(".") + "."

    @classmethod
    def url(cls) -> str:
        return f"{DOCS_URL}#{cls.code.lower()}"


# What the pool rules add to their message for an async in-memory engine: StaticPool keeps its
# database only as long as its one connection lives.
ASYNC_IN_MEMORY = "; where tests share it, only a file database survives `dispose()` (DBI006)"


@dataclass(frozen=True)
class EngineFix:
    change: CallFix
    applicability: Applicability
    title: str


@dataclass(frozen=True)
class EngineVerdict:
    message: str
    fix: Optional[EngineFix] = None


class EngineRule(Rule):
    """A rule judged on one engine call at a time."""

    def check(self, call: EngineCall) -> Optional[EngineVerdict]:
        raise NotImplementedError


def pool_fix(call: EngineCall) -> EngineFix:
    """StaticPool, plus check_same_thread=False for sync drivers: the cure DBI001 and DBI002 share.

    With sizing arguments present StaticPool alone raises TypeError, so the fix is unsafe there and
    only `--unsafe-fixes`, which also applies DBI004's removal of those arguments, takes it.
    """
    change = CallFix(static_pool=True, check_same_thread=call.needs_check_same_thread)
    title = "Use `poolclass=StaticPool`"
    if change.check_same_thread:
        title += ' and `connect_args={"check_same_thread": False}`'
    return EngineFix(change, "unsafe" if call.sizing else "safe", title)


class StateRule(Rule):
    """A rule judged on a whole project's module-state facts, after the join (state.py)."""

    def check(self, project: "ProjectState") -> Iterator[Tuple["Definition", str]]:
        """Yield each flagged definition with its message."""
        raise NotImplementedError


class UrlRule(Rule):
    """A rule judged on where a project's engine URLs come from, after the join (url_facts.py)."""

    def check(self, join: "UrlJoin") -> Iterator[Tuple[Union["UrlCandidate", "TestDatabase"], str]]:
        """Yield each flagged engine call, or test suite's setting, with its message."""
        raise NotImplementedError
