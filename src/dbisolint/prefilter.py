"""A text pre-filter: which files can hold a finding, or a fact the state rules need, before any
file is parsed.

Parsing with libcst costs ten times reading a file, and most files of a large codebase cannot hold
a finding. Each file's text is summarised once (regular expressions, never trusted for a verdict);
the summaries of a whole project then decide which files to parse. Every pattern over-approximates:
a file it lets through may hold nothing, but a file it stops cannot hold anything the parse would
have found (tests/test_prefilter.py runs every fixture with and without it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Set, Tuple

from .state_facts import MANAGED_TABLE

_NAME = r"[^\W\d]\w*"
_MUTATING = (
    "append|add|update|setdefault|pop|popitem|clear|extend|insert|remove|discard|appendleft|"
    "extendleft|popleft|rotate|sort|reverse|move_to_end|subtract|difference_update|"
    "intersection_update|symmetric_difference_update|__setitem__|__delitem__"
)
_CONTAINER_TYPES = (
    "dict|list|set|bytearray|defaultdict|OrderedDict|Counter|deque|"
    "WeakValueDictionary|WeakKeyDictionary|WeakSet"
)
_RESET_HINTS = re.compile(
    r"autouse|setup_method|teardown_method|setUp|tearDown|asyncSetUp|asyncTearDown|"
    r"setup_function|teardown_function|clear\s*\(|" + MANAGED_TABLE
)
_CACHE = re.compile(r"\blru_cache\b|@[ \t]*[\w.]*\bcache\b|\bcache[ \t]+as\b|import[ \t][^\n]*\bcache\b")
_CLASS = re.compile(rf"^[ \t]*class[ \t]+({_NAME})[ \t]*(?:\(([^)]*)\))?", re.M)
_DEF = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+({_NAME})", re.M)
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_ALIAS = re.compile(rf"({_NAME})[ \t]+as[ \t]+({_NAME})")
_WORD = re.compile(_NAME)
_MUTATED = re.compile(
    rf"({_NAME})\s*\["  # x[k] = v, del x[k], x[k].append(v) (reads too: over-approximation)
    rf"|({_NAME})[ \t]*\.[ \t]*(?:{_MUTATING})\b"  # x.append(v)
    rf"|({_NAME})[ \t]*(?:\*\*|//|<<|>>|[-+*/%|&^@])="  # x += v
    rf"|\.[ \t]*({_NAME})[ \t]*=(?!=)"  # mod.x = v
)
_GLOBAL = re.compile(r"\bglobal[ \t]+([\w \t,]+)")


def _container_start(extra: Iterable[str]) -> str:
    types = "|".join([_CONTAINER_TYPES, *(re.escape(name.rsplit(".", 1)[-1]) for name in extra)])
    return rf"(?:\{{|\[|\(\s*[\[{{]|(?:[\w.]*\.)?(?:{types})\s*\()"


@dataclass(frozen=True)
class TextSummary:
    """What one file's text may hold, as far as the rules are concerned."""

    engine: bool  # names an engine factory
    containers: FrozenSet[str]  # names assigned a container (anywhere, at any indentation)
    instances: Tuple[Tuple[str, str], ...]  # (name, last name of the callee) of `name = Callee(...)`
    caches: FrozenSet[str]  # function names in a file that may use functools caches ({"*"} if unknown)
    stateful_classes: FrozenSet[str]  # classes of a file where some `obj.attr = <container>` stands
    class_bases: Tuple[Tuple[str, str], ...]  # (class, text of its bases)
    mutated: FrozenSet[str]  # names in a mutating position, and what their aliases stand for
    imported: FrozenSet[str]  # names in import statements (re-exports)
    reset_hints: bool  # words of an autouse fixture, a per-test hook, a clear, a managed table


class Summarizer:
    def __init__(self, factories: Iterable[str], container_constructors: Iterable[str]) -> None:
        self.factory_names = sorted({name.rsplit(".", 1)[-1] for name in factories})
        start = _container_start(container_constructors)
        self.container_definition = re.compile(
            rf"^[ \t]*((?:{_NAME}[ \t]*(?::[^=\n]*)?=[ \t]*(?:\\\n[ \t]*)?)+){start}", re.M
        )
        self.container_attribute = re.compile(rf"\w+[ \t]*\.[ \t]*\w+[ \t]*(?::[^=\n]*)?=[ \t]*{start}")
        self.instance = re.compile(rf"^[ \t]*({_NAME})[ \t]*(?::[^=\n]*)?=[ \t]*(?:[\w.]*\.)?({_NAME})[ \t]*\(", re.M)

    def summarize(self, source: bytes) -> TextSummary:
        text = source.decode("utf-8", errors="replace")
        containers = set()
        for match in self.container_definition.finditer(text):
            containers.update(_WORD.findall(re.sub(r":[^=\n]*=", "=", match.group(1))))
        imported: Set[str] = set()
        aliases: List[Tuple[str, str]] = []
        for match in _IMPORT.finditer(text):
            imported.update(_WORD.findall(match.group(1)))
            aliases.extend(_ALIAS.findall(match.group(1)))
        mutated = {name for groups in _MUTATED.findall(text) for name in groups if name}
        for match in _GLOBAL.finditer(text):
            mutated.update(_WORD.findall(match.group(1)))
        mutated.update(original for original, alias in aliases if alias in mutated)
        classes = _CLASS.findall(text)
        return TextSummary(
            engine=any(name in text for name in self.factory_names),
            containers=frozenset(containers),
            instances=tuple(self.instance.findall(text)),
            caches=frozenset(_DEF.findall(text)) | {"*"} if _CACHE.search(text) else frozenset(),
            stateful_classes=frozenset(name for name, _bases in classes)
            if self.container_attribute.search(text)
            else frozenset(),
            class_bases=tuple(classes),
            mutated=frozenset(mutated),
            imported=frozenset(imported),
            reset_hints=bool(_RESET_HINTS.search(text)),
        )


def state_candidates(summaries: Dict[str, TextSummary], tests: Set[str], include_test_state: bool) -> Set[str]:
    """The files of one project whose facts the state rules may need (the rest cannot matter)."""
    defining = {path: s for path, s in summaries.items() if include_test_state or path not in tests}
    containers = {name for s in defining.values() for name in s.containers}
    mutated = {name for s in summaries.values() for name in s.mutated}
    stateful = {name for s in summaries.values() for name in s.stateful_classes}
    bases = [(name, set(_WORD.findall(text))) for s in summaries.values() for name, text in s.class_bases]
    grew = True
    while grew:  # subclasses of stateful classes are stateful too
        before = len(stateful)
        stateful |= {name for name, base_names in bases if base_names & stateful}
        grew = len(stateful) != before
    instances = {name for s in defining.values() for name, callee in s.instances if callee in stateful}
    cached = {name for s in defining.values() for name in s.caches}
    interesting = containers | instances | cached
    chosen = set()
    for path, summary in summaries.items():
        defines = path in defining and (
            bool(summary.containers & mutated)
            or bool(summary.caches)
            or any(callee in stateful for _name, callee in summary.instances)
        )
        if (
            defines
            or summary.stateful_classes
            or any(name in stateful for name, _bases in summary.class_bases)
            or summary.mutated & interesting
            or summary.imported & interesting
            or (path in tests and summary.reset_hints)
        ):
            chosen.add(path)
    return chosen
