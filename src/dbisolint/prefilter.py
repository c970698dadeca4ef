"""A text pre-filter: which files can hold a finding, or a fact the state rules need, before any
file is parsed.

Parsing with libcst costs ten times reading a file, and most files of a large codebase cannot hold
a finding. Each file's bytes are summarised once (patterns anchored on literal text, so that they
run at C speed; never trusted for a verdict); the summaries of a whole project then decide which
files to parse. Every pattern over-approximates: a file let through may hold nothing, but a file
stopped cannot hold anything the parse would have found (tests/test_prefilter.py checks every
fixture with and without it, the benchmark a real corpus).
"""

from __future__ import annotations

import hashlib
import keyword
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Set, Tuple, TypeVar

from .cache import FileText, digest
from .model import Problem
from .state_facts import MANAGED_TABLE, MUTATING_METHODS

T = TypeVar("T")
# A file read and learnt from: its text, or why it cannot be read; its digest and FileText.
Learnt = Tuple[Optional[bytes], Optional[Problem], str, Optional[FileText]]

_MUTATING = b"|".join(name.encode() for name in sorted(MUTATING_METHODS))
_CONTAINER_TYPES = (
    b"dict|list|set|bytearray|defaultdict|OrderedDict|Counter|deque|"
    b"WeakValueDictionary|WeakKeyDictionary|WeakSet"
)
MANAGED_WORD = MANAGED_TABLE.encode()  # the table of the fixture `--fix` writes resets what it lists
# Words of an autouse fixture, a per-test hook, a clear, our managed table.
_RESET_HINTS = (
    b"autouse", b"setup_method", b"teardown_method", b"setUp", b"tearDown", b"setup_function",
    b"teardown_function", b"clear(", MANAGED_WORD,
)  # fmt: skip
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_NON_ASCII_AS_LETTERS = bytes(range(128)) + b"a" * 128
# Patterns of a line start with its newline, not `^`: the search then skips to each newline at C
# speed (three times faster on Django). They search the text with a newline put before it.
# A compound statement at column 0 whose body is still module level.
_MODULE_BLOCK = re.compile(rb"\n(?:if|elif|else|try|except|finally|with|for|while|match)\b[^\n]*")
_NEXT_TOP_LEVEL = re.compile(rb"\n(?=[^\s#])")
_CLASS = re.compile(rb"\n[ \t]*class[ \t]+([A-Za-z_]\w*)[ \t]*(?:\(([^)]*)\))?")
_DEF = re.compile(rb"\n[ \t]*(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)")
_CACHE_ALIAS = re.compile(rb"cache[ \t]+as[ \t]+([A-Za-z_]\w*)")  # after `lru_` or a word's start
# An import statement's names: searched from the literal `import` (fast), then checked for what
# may stand before it on its line (which also rules out a word ending in `import`).
_IMPORT = re.compile(rb"import[ \t]+(\([^)]*\)|[^\n]*)")
_BEFORE_IMPORT = re.compile(rb"[ \t]*(?:from[ \t]+([\w.]+)[ \t]+)?")
_OPERATOR = rb"(?:\*\*|//|<<|>>|[-+*/%|&^@])"
_AS = re.compile(rb"([A-Za-z_]\w*)[ \t]+as[ \t]+([A-Za-z_]\w*)")
_ATTRIBUTE_ASSIGNED = re.compile(rb"\.[ \t]*\w+[ \t]*(?::[^=\n]*)?$")  # before the `=`: `obj.attr`, `obj.attr: T`


# What follows a name that is mutated: `[k] = v`, `[k] += v`, `[k].append(v)`, an open `[`
# continued on the next line, `.append(v)`, `+= v`.
_MUTATION_AFTER = re.compile(
    rb"[ \t]*(?:\[[^\n]*(?:\][ \t]*"
    + _OPERATOR
    + rb"?=(?!=)|\.[ \t]*(?:"
    + _MUTATING
    + rb")\b)|\[[^\n\]]*$|\.[ \t]*(?:"
    + _MUTATING
    + rb")\b|"
    + _OPERATOR
    + rb"=(?!=))",
    re.M,
)


# A name assigned where it starts a statement's targets, or follows others: `mod.x = v`,
# `x[k]: T = v`, `other, mod.x = v, w`, `a = mod.x = v`, `mod.x[k] += v`; what stands before it
# on its line, and after it.
_EQUALS = re.compile(rb"[ \t]*=(?!=)")
_GLOBAL_OR_DEL = re.compile(rb"\b(?:global|del)\b")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# Every byte but a word's made a space, a non-ASCII one a letter (as spelled_text): split() then
# leaves the words, twice as fast as finding them with _IDENTIFIER.
_WORDS_APART = bytes(byte if byte in _WORD_BYTES else 32 for byte in range(128)) + b"a" * 128
# (Brackets may open a target list: `(mod.x, other) = v, w`.)
_TARGETS_BEFORE = rb"[ \t(\[]*(?:[^=\n(]*(?:,|=(?!=))[ \t(\[]*)*"  # the targets before the name's
_TARGET_BEFORE = re.compile(_TARGETS_BEFORE + rb"(?:[\w.]*\.)?")
_ASSIGNED_AFTER = re.compile(rb"(?:\[[^\n]*\])?[^=\n(]*=(?!=)")
# The same, of an attribute, or of the name's own attribute: the only stores state.py reads as
# resets (a bare name assigned in a function resets only under `global`, found by _GLOBAL_BEFORE);
# after a comma, the target list may go on over lines inside its brackets.
_TARGETS_AFTER = rb"[^=\n(,]*(?:,[^=]{0,300}?)?=(?!=)"  # the rest of the targets, then `=`
_ATTRIBUTE_TARGET_BEFORE = re.compile(_TARGETS_BEFORE + rb"[\w.]*\.")
_LIST_ASSIGNED_AFTER = re.compile(rb"(?:\[[^\n]*\])?" + _TARGETS_AFTER)
_OWNER_ASSIGNED_AFTER = re.compile(rb"(?:\[[^\n]*\])?[ \t]*\." + _TARGETS_AFTER)  # `name.attr = v`


def mutates(source: bytes, name: bytes) -> bool:
    """Whether an indented line (in a function, or a module-level block: over-approximated) may
    mutate `name`: `name[k] = v`, `name.append(v)`, `name += v`, `global name`, `mod.name = v`,
    `del name[k]`."""
    for start in occurrences(source, name):
        end = start + len(name)
        line_start = source.rfind(b"\n", 0, start) + 1
        if source[line_start : line_start + 1] not in (b" ", b"\t"):
            continue  # column 0: runs at import
        line_end = source.find(b"\n", end)
        line = source[line_start : line_end if line_end >= 0 else len(source)]
        before = source[line_start:start]
        if _MUTATION_AFTER.match(source, end):
            return True
        if before.rstrip().endswith(b".") and _EQUALS.match(source, end):
            return True
        if _TARGET_BEFORE.fullmatch(before) and _ASSIGNED_AFTER.match(source, end):
            return True
        if _GLOBAL_OR_DEL.search(line):
            return True
    return False


def occurrences(text: bytes, name: bytes) -> Iterator[int]:
    """Where `name` stands as a whole word in the (ASCII-spelled) text."""
    at = text.find(name)
    while at >= 0:
        end = at + len(name)
        if (at == 0 or text[at - 1] not in _WORD_BYTES) and (end == len(text) or text[end] not in _WORD_BYTES):
            yield at
        at = text.find(name, end)


@dataclass(frozen=True)
class TextSummary:
    """What one file's text may hold, as far as the rules are concerned."""

    engine: bool  # names an engine factory
    containers: FrozenSet[str]  # module-level names assigned a container
    instances: Tuple[Tuple[str, str], ...]  # module-level (name, callee's last name) of `name = Callee(...)`
    caches: FrozenSet[str]  # names of functions under a functools cache decorator
    stateful_classes: FrozenSet[str]  # classes of a file where some `obj.attr = <container>` stands
    class_bases: Tuple[Tuple[str, str], ...]  # (class, text of its bases)
    reset_hints: bool  # words of an autouse fixture, a per-test hook, a clear, a managed table
    imported: FrozenSet[str]  # the names its import statements hold
    aliases: Tuple[Tuple[str, str], ...]  # (original, alias) of each `original as alias` they hold


class Summarizer:
    def __init__(self, factories: Iterable[str], container_constructors: Iterable[str]) -> None:
        self.factory_names = sorted({name.rsplit(".", 1)[-1].encode() for name in factories})
        types = b"|".join([_CONTAINER_TYPES, *(re.escape(n.rsplit(".", 1)[-1].encode()) for n in container_constructors)])
        # `{`, `[`, a constructor call, each also inside parentheses: `x = (\n    defaultdict(dict)\n)`
        start = rb"(?:\(\s*)*(?:\{|\[|(?:[\w.]*\.)?(?:" + types + rb")\s*\()"
        assignment = rb"((?:[A-Za-z_]\w*[ \t]*(?::[^=\n]*)?=[ \t]*(?:\\\n[ \t]*)?)+)"
        self.top_container = re.compile(rb"\n" + assignment + start)
        self.block_container = re.compile(rb"\n[ \t]+" + assignment + start)
        self.top_instance = re.compile(
            rb"\n([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*(?:\(\s*)*(?:[\w.]*\.)?([A-Za-z_]\w*)[ \t]*\("
        )
        self.block_instance = re.compile(
            rb"\n[ \t]+([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=[ \t]*(?:\(\s*)*(?:[\w.]*\.)?([A-Za-z_]\w*)[ \t]*\("
        )
        # `= <container>`, then what stands before on its line: `obj.attr =` (searched from the
        # `=`, rarer than the `.` of every attribute).
        self.container_value = re.compile(rb"=[ \t]*" + start)

    def summarize(self, source: bytes) -> TextSummary:
        source = b"\n" + spelled_text(source)  # a newline before the first line (see _MODULE_BLOCK)
        blocks = [source[match.start() : _block_end(source, match.end())] for match in _MODULE_BLOCK.finditer(source)]
        containers = {
            name
            for pattern, texts in ((self.top_container, [source]), (self.block_container, blocks))
            for text in texts
            for match in pattern.finditer(text)
            for name in _IDENTIFIER.findall(re.sub(rb":[^=\n]*=", b"=", match.group(1)))
        }
        instances = [
            pair
            for pattern, texts in ((self.top_instance, [source]), (self.block_instance, blocks))
            for text in texts
            for pair in pattern.findall(text)
        ]
        classes = _CLASS.findall(source) if b"class" in source else []
        listed = _import_text(source)
        # An instance of a class imported under another name is one of the class's own name.
        renamed = _AS.findall(listed)
        originals = {alias: original for original, alias in renamed}
        return TextSummary(
            engine=any(name in source for name in self.factory_names),
            containers=_text(containers),
            instances=tuple((name.decode(), originals.get(callee, callee).decode()) for name, callee in instances),
            caches=_text(_cached_functions(source)) if b"cache" in source else frozenset(),
            stateful_classes=_text(name for name, _bases in classes)
            if classes and self._assigns_attribute_a_container(source)
            else frozenset(),
            class_bases=tuple((name.decode(), bases.decode()) for name, bases in classes),
            reset_hints=any(hint in source for hint in _RESET_HINTS),
            imported=_text(_IDENTIFIER.findall(listed)),
            aliases=tuple((original.decode(), alias.decode()) for original, alias in renamed),
        )

    def _assigns_attribute_a_container(self, source: bytes) -> bool:
        """Whether some `obj.attr = <container>` (or `obj.attr: T = ...`) stands in the text."""
        for match in self.container_value.finditer(source):
            if _ATTRIBUTE_ASSIGNED.search(source, source.rfind(b"\n", 0, match.start()) + 1, match.start()):
                return True
        return False


def identifiers(source: Optional[bytes]) -> FrozenSet[bytes]:
    """The names a file's text holds (non-ASCII letters made ASCII as in TextSummary): its whole
    words, as `occurrences` finds them. A word starting with a digit is a number's, kept: no name
    asked about starts with one, and leaving it costs more than it saves."""
    if source is None:
        return frozenset()
    return frozenset(source.translate(_WORDS_APART).split())


def spelled_text(source: bytes) -> bytes:
    """Every byte of a UTF-8 sequence made a letter, the same way in every file, so that non-ASCII
    names (PEP 3131) still meet across files; the length and positions stay."""
    return source if source.isascii() else source.translate(_NON_ASCII_AS_LETTERS)


def _module_last_name(path: str) -> str:
    """`pkg/store.py` -> store; `pkg/__init__.py` -> pkg."""
    parts = path.replace("\\", "/").rsplit("/", 2)
    stem = parts[-1].rsplit(".", 1)[0]
    return parts[-2] if stem == "__init__" and len(parts) > 1 else stem


def _encoded(names: Iterable[str]) -> FrozenSet[bytes]:
    return frozenset(map(spelled, names))


def spelled(name: str) -> bytes:
    """A name as the pre-filter spells the names of a text (non-ASCII letters made ASCII)."""
    return spelled_text(name.encode())


def read_source(path: Path, shown: str) -> Tuple[Optional[bytes], Optional[Problem]]:
    try:
        return path.read_bytes(), None
    except IsADirectoryError:
        return None, Problem(shown, "ReadError", "is a directory")
    except OSError as error:
        return None, Problem(shown, "ReadError", f"cannot read: {error.strerror or error}")


def learn_file(path: str, shown: str, summarizer: Summarizer) -> Learnt:
    """Read a file once and learn what its text tells (in a worker, when many files changed)."""
    source, problem = read_source(Path(path), shown)
    if source is None:
        return None, problem, "", None
    return source, None, digest(source), learn_text(source, summarizer)


def learn_text(source: bytes, summarizer: Summarizer) -> FileText:
    return FileText(summarizer.summarize(source), b" ".join(identifiers(source)))  # in no order: sorting cost a tenth


def _text(names: Iterable[bytes]) -> FrozenSet[str]:
    return frozenset(name.decode() for name in names)


def _block_end(source: bytes, start: int) -> int:
    match = _NEXT_TOP_LEVEL.search(source, start)
    return match.start() if match else len(source)


_DECORATOR_LINE = re.compile(rb"[ \t]*@")
_CALLED_AFTER = re.compile(rb"(?:\s|\\\n|#[^\n]*\n)*\(")  # `f(`, `f (`, and over lines inside brackets
_ATTRIBUTE_BEFORE = re.compile(rb"\.[ \t]*$")  # searched in the few bytes before a name
# What follows an attribute assigned: `=` (or `+=`...); an annotation, a closing bracket or the rest
# of a target list, then `=` (a target list over lines inside brackets: `(app.store,\n b) = fakes`).
_REPLACED_AFTER = re.compile(rb"(?:\s|\\)*(?:(?://|\*\*|<<|>>|[-+*/%&|^@])?=(?!=)|[:)\]][^=\n]*=(?!=)|,[^=]{0,300}?=(?!=))")
_ATTRIBUTE_AFTER = re.compile(rb"\s*\.\s*([A-Za-z_]\w*)")
_CLEAR_AFTER = re.compile(rb"\s*\.\s*(?:cache_)?clear\b")
# A name in the first or second argument of a call that may reset what it names (state.py reads
# a dotted owner, then a string): `setattr(app, "store", v)`, `patch("app.store._cache")`,
# `patch.dict(store._cache)`, `reload(store)`; searched in the bytes before the name.
_RESET_CALL_BEFORE = re.compile(
    rb"\b(setattr|delattr|patch|patch\s*\.\s*(?:object|dict)|reload)\s*\(\s*(?:[\w.]+\s*,\s*)?(?:(['\"])[\w.]*|(?:[A-Za-z_]\w*\s*\.\s*)*)$"
)
# Functions whose calls state.py reads as resets by their qualified names: under an import alias,
# their calls are not spelled as _RESET_CALL_BEFORE looks for.
_RESOLVED_RESETTERS = (b"reload",)
_RESET_CALL_WORDS = (b"setattr", b"delattr", b"patch", b"reload")
_ARGUMENT_ENDS = re.compile(rb"\s*[,)]")
_STRING_ENDS = re.compile(rb"['\"]")
_CHAIN_CLEARED = re.compile(rb"(?:\s*\.\s*[A-Za-z_]\w*)*\s*\.\s*(?:cache_)?clear\b")  # `x._windows.clear()`
_DRAIN_BEFORE = re.compile(rb"\badd_done_callback\s*\(\s*(?:[A-Za-z_]\w*\s*\.\s*)*$")
_GLOBAL_BEFORE = re.compile(rb"\bglobal\b(?:[^\n]|\\\n)*$")  # continued lines too


def module_replaced(source: Optional[bytes], modules: FrozenSet[bytes]) -> bool:
    """Whether a statement may assign one of `modules` as an attribute: `app.store = fake`,
    `app.store: Store = fake`, `app.store, other = fakes` (not `app.store[key] = value`)."""
    text = spelled_text(source or b"")
    return any(_replaced_at(text, at, at + len(name)) for name in modules for at in occurrences(text, name))


def _replaced_at(text: bytes, at: int, end: int) -> bool:
    """Whether the name at `at`..`end` may be an attribute assigned (module_replaced)."""
    return bool(
        _ATTRIBUTE_BEFORE.search(text, max(0, at - 8), at) and _REPLACED_AFTER.match(text, end) and not _bound_nowhere(text, at)
    )


# Words before a bracket that open no call or subscript: `del (a.x)`, `for (a.x, b) in`.
_KEYWORDS_BEFORE_BRACKETS = frozenset(word.encode() for word in keyword.kwlist)


def _bound_nowhere(text: bytes, at: int) -> bool:
    """Whether what stands at `at` can be no assignment's target, as its own line shows: it is in
    a comment, or among a call's arguments, a subscript's index or braces (`f(app.store, b)`,
    `x[app.store] = v`, `{app.store: 1}`). A quote before it on its line says nothing: a bracket or
    `#` may be a string's. A lone CR ends a line too (has_lone_carriage_return)."""
    start = text.rfind(b"\n", 0, at) + 1
    before = text[text.rfind(b"\r", start, at) + 1 or start : at]  # the CR sought within the line only
    if b"'" in before or b'"' in before:
        return False
    if b"#" in before:
        return True
    depth = 0
    for index in range(len(before) - 1, -1, -1):
        byte = before[index]
        if byte in b")]}":
            depth += 1
        elif byte in b"([{":
            if depth:
                depth -= 1
                continue
            if byte == ord("{"):
                return True
            opener = before[:index].rstrip(b" \t")
            word = opener[_word_start(opener, len(opener)) :]
            if (word and word not in _KEYWORDS_BEFORE_BRACKETS) or opener.endswith((b")", b"]")):
                return True
    return False


def _module_reset(source: Optional[bytes], modules: FrozenSet[bytes], aliases: Dict[bytes, List[bytes]]) -> bool:
    """Whether the text may reset, reload or replace one of `modules` (or an import alias of one)
    as a whole, as slicing.py reads it: `store.clear()`, `setattr(app, "store", ...)`,
    `patch("app.store")`, `patch.dict(store)`, `reload(store)`, `app.store = fake` (not through a
    parameter: `self.store = fake` in a method)."""
    if any(name in aliases for name in _RESOLVED_RESETTERS):
        return True
    text = spelled_text(source or b"")
    spellings = _with_aliases(modules, aliases)
    calls = _names_a_reset_call(text)
    roots = _ChainRoots(text)
    for name in spellings:
        for at in occurrences(text, name):
            end = at + len(name)
            if _CLEAR_AFTER.match(text, end):
                return True
            call = calls and _RESET_CALL_BEFORE.search(text, max(0, at - 200), at)
            # The module must end what the call names: `"app.store"`, `app.store,`.
            if call and (_STRING_ENDS.match(text, end) if call.group(2) else _ARGUMENT_ENDS.match(text, end)):
                return True
            if _replaced_at(text, at, end) and not roots.only_a_parameter(at):
                return True
    return False


# What may stand around a name for names.py to bind it nowhere but as a function's parameter: an
# attribute, call or subscript of it (not after `def` or `class`, nor on an import's line: `def
# name(`, `import name.x`), an attribute of something else, a def's or a lambda's first parameter.
_FIRST_PARAMETER_BEFORE = re.compile(rb"(?:^|\n)[ \t]*(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(\s*$|\blambda[ \t]+$")
_STAR_IMPORT = re.compile(rb"import(?:[ \t]|\\\r?\n)*\*")  # from its literal text: fast
_CONTINUED = re.compile(rb"(?:\\|\.[ \t]*(?:#[^\n]*)?)\r?$")  # a line going on: `a.\`, `a.  # note`


class _ChainRoots:
    """Which dotted chains of a text start from a name bound nowhere but as a parameter (`self.store
    = fake` in a method): state.py reads such a chain as a function's local, never as a module
    (nor an unbound name: a builtin's, but under a star import)."""

    def __init__(self, text: bytes) -> None:
        self.text = text
        self._unsure: Optional[bool] = None
        self._names: Dict[bytes, bool] = {}

    def only_a_parameter(self, at: int) -> bool:
        """Whether the chain ending in the attribute at `at` starts from such a name."""
        if self._unsure is None:
            # Under a star import an unbound name is the starred module's; a lone CR ends a line
            # for CPython, not for the lines looked at here.
            text = self.text
            self._unsure = bool(_STAR_IMPORT.search(text)) or has_lone_carriage_return(text)
        root = None if self._unsure else _chain_root(self.text, at)
        if root is None:
            return False
        if root not in self._names:
            self._names[root] = _bound_only_as_parameter(self.text, root)
        return self._names[root]


def has_lone_carriage_return(text: bytes) -> bool:
    """Whether a CR stands without its LF: it ends a line for CPython, not where lines are split on
    LF (here and in slicing.py)."""
    return b"\r" in text and b"\r" in text.replace(b"\r\n", b"")


def _bound_only_as_parameter(text: bytes, name: bytes) -> bool:
    """Whether every occurrence of `name` in the text (strings and comments too: there it binds
    nothing) has one of the shapes above."""
    bound_elsewhere, bare = _shapes_of(name)
    if any(pattern.search(text) for pattern in bound_elsewhere):
        return False
    for match in bare.finditer(text):
        at = match.start()
        if at and text[at - 1] in _WORD_BYTES:
            continue  # the end of another name
        if not text[max(0, at - 200) : at].rstrip(b" \t").endswith(b".") and not _FIRST_PARAMETER_BEFORE.search(text, max(0, at - 200), at):
            return False
    return True


@lru_cache(maxsize=None)
def _shapes_of(name: bytes) -> Tuple[Tuple["re.Pattern[bytes]", ...], "re.Pattern[bytes]"]:
    """Where `name` may be bound as more than a parameter whatever follows: after `def` or `class`,
    on an import's line, or after a backslash ending a line (not seen here); and where it is not an
    attribute, call or subscript of its own. Each starts with its literal text: much faster to
    search (a longer word ending in `def` or `class` only makes the answer more careful)."""
    word = re.escape(name) + rb"\b"
    bound_elsewhere = (rb"def[ \t]+", rb"class[ \t]+", rb"\\\r?\n[ \t]*", rb"import\b(?:[^\n\\]|\\(?:\r?\n)?)*?\b")
    return tuple(re.compile(before + word) for before in bound_elsewhere), re.compile(word + rb"(?![ \t]*[.(\[])")


def _chain_root(text: bytes, at: int) -> Optional[bytes]:
    """The name a dotted chain starts from, of the attribute at `at` (`self` of `self.a.store`),
    or None where brackets, a call or a line going on stand in the way."""
    while True:
        at = _skip_blanks(text, at)
        if text[at - 1 : at] != b".":
            return None
        end = _skip_blanks(text, at - 1)
        start = _word_start(text, end)
        if start == end or text[start : start + 1].isdigit():
            return None
        before = _skip_blanks(text, start)
        if text[before - 1 : before] == b".":
            at = start
            continue
        if text[before - 1 : before] in (b"\n", b"\r") and _continued(text, before):
            return None
        return text[start:end]


def _skip_blanks(text: bytes, at: int) -> int:
    """Back from `at` over spaces and tabs."""
    while at > 0 and text[at - 1] in b" \t":
        at -= 1
    return at


def _continued(text: bytes, line_start: int) -> bool:
    """Whether the line starting at `line_start` may go on from the last line of code before it
    (brackets may hold blank lines and comments between): `(a.\n b)`, `a \\\n .b`."""
    end = line_start - 1  # the newline ending the line before
    while end > 0:
        start = text.rfind(b"\n", 0, end) + 1
        line = text[start:end].strip()
        if line and not line.startswith(b"#"):
            return bool(_CONTINUED.search(text[start:end]))
        end = start - 1
    return False


def _target_reset(source: Optional[bytes], targets: FrozenSet[bytes], aliases: Dict[bytes, List[bytes]]) -> bool:
    """Whether the text may reset or drain something one of `targets` (or an import alias of one)
    stands in, as slicing.py reads it: `x.clear()`, `limiter._windows.clear()`, `setattr(store,
    "_cache", {})`, `patch.dict(store._cache)`, `store._cache = {}`, `global _cache`,
    `add_done_callback(_tasks.discard)`."""
    if any(name in aliases for name in _RESOLVED_RESETTERS):
        return True
    text = spelled_text(source or b"")
    calls, drains, declared = _names_a_reset_call(text), b"add_done_callback" in text, b"global" in text
    for name in _with_aliases(targets, aliases):
        for at in occurrences(text, name):
            end = at + len(name)
            line_start = text.rfind(b"\n", 0, at) + 1
            if (
                _CHAIN_CLEARED.match(text, end)
                or (calls and _RESET_CALL_BEFORE.search(text, max(0, at - 200), at))
                or (drains and _DRAIN_BEFORE.search(text, max(0, at - 200), at))
                or (declared and _GLOBAL_BEFORE.search(text, max(0, at - 200), at))
                or (_ATTRIBUTE_TARGET_BEFORE.fullmatch(text, line_start, at) and _LIST_ASSIGNED_AFTER.match(text, end))
                or (_TARGET_BEFORE.fullmatch(text, line_start, at) and _OWNER_ASSIGNED_AFTER.match(text, end))
            ):
                return True
    return False


def _names_a_reset_call(text: bytes) -> bool:
    """Whether _RESET_CALL_BEFORE can match anywhere in the text (cheaper than each search)."""
    return any(word in text for word in _RESET_CALL_WORDS)


def _with_aliases(names: FrozenSet[bytes], aliases: Dict[bytes, List[bytes]]) -> FrozenSet[bytes]:
    return frozenset({*names, *(alias for name in names for alias in aliases.get(name, ()))})


def _method_called(source: Optional[bytes], methods: FrozenSet[Tuple[bytes, bytes]], aliases: Dict[bytes, List[bytes]]) -> bool:
    """Whether the text may call one of `methods` (method, instance) on its instance (or an
    import alias of that instance): `limiter.reset()`."""
    text = spelled_text(source or b"")
    watched: Dict[bytes, Set[bytes]] = {}  # instance (or alias) -> its watched methods
    for method, instance in methods:
        for name in (instance, *aliases.get(instance, ())):
            watched.setdefault(name, set()).add(method)
    for name, names in watched.items():
        for at in occurrences(text, name):
            after = _ATTRIBUTE_AFTER.match(text, at + len(name))
            if after and after.group(1) in names:
                return True
    return False


def _called(source: Optional[bytes], functions: FrozenSet[bytes], aliases: Dict[bytes, List[bytes]]) -> bool:
    """Whether the text may call one of `functions` (or an import alias of one), `f(...)`,
    `helpers.f(...)`, or apply it as a decorator: state.py reads only the calls of a function
    (and the decorators applied at import), never a name merely passed on."""
    text = spelled_text(source or b"")
    return any(
        _CALLED_AFTER.match(text, at + len(name)) or _DECORATOR_LINE.match(text, text.rfind(b"\n", 0, at) + 1)
        for name in _with_aliases(functions, aliases)
        for at in occurrences(text, name)
    )


def _decorates(source: Optional[bytes], functions: FrozenSet[bytes], aliases: Dict[bytes, List[bytes]]) -> bool:
    """Whether a decorator line may name one of `functions`, or an import alias (original ->
    aliases) of one."""
    text = spelled_text(source or b"")
    spellings = _with_aliases(functions, aliases)
    return any(_DECORATOR_LINE.match(text, text.rfind(b"\n", 0, at) + 1) for name in spellings for at in occurrences(text, name))


def _word_start(text: bytes, at: int) -> int:
    """Where the word holding position `at` starts."""
    while at > 0 and text[at - 1] in _WORD_BYTES:
        at -= 1
    return at


def _cached_functions(source: bytes) -> Iterator[bytes]:
    """The functions after a decorator naming `cache`, `lru_cache` or an alias of either."""
    aliases = [
        match.group(1)
        for match in _CACHE_ALIAS.finditer(source)
        if source[_word_start(source, match.start()) : match.start()] in (b"", b"lru_")
    ]
    names = [b"lru_cache", b"cache", *aliases]
    decorator = re.compile(rb"\n[ \t]*@[^\n]*\b(?:" + b"|".join(map(re.escape, names)) + rb")\b")
    for match in decorator.finditer(source):
        function = _DEF.search(source, match.end())
        if function:
            yield function.group(1)


_WATCH_FIELDS = ("targets", "modules", "functions", "methods", "appliers", "classes", "registries", "module_level")


@dataclass(frozen=True)
class Watch:
    """What a file must hold to matter to the join (as the bytes the file texts are searched for):
    the text pre-filter asks whether a file names any of it, slicing.py which functions may
    reset, call or mutate it."""

    targets: FrozenSet[bytes] = frozenset()  # the flagged definitions' names
    modules: FrozenSet[bytes] = frozenset()  # their modules' last names (reload, a module replaced)
    functions: FrozenSet[bytes] = frozenset()  # functions that reset them, directly or through calls
    methods: FrozenSet[Tuple[bytes, bytes]] = frozenset()  # (method, module-level instance) that reset them
    # Functions that mutate them: applied as a decorator at import, they fill them at import.
    appliers: FrozenSet[bytes] = frozenset()
    classes: FrozenSet[bytes] = frozenset()  # classes keeping state: any method may store into `self`
    # The file's module-level instances: a function of it calling their methods makes them state
    # even where it applies them as decorators at import (ProjectState.is_registry).
    registries: FrozenSet[bytes] = frozenset()
    # The file's module-level statements are needed (definitions, imports that re-export), not
    # only the functions that matter.
    module_level: bool = False

    def named_in(self, words: FrozenSet[bytes]) -> bool:
        """Whether `words` hold a name the watch asks about (or, for a file's module-level
        statements, asks them at all)."""
        if self.module_level:
            return True
        asked = (self.targets, self.modules, self.functions, self.appliers, self.classes, self.registries)
        return any(not words.isdisjoint(names) for names in asked) or self.names_a_method(words)

    def names_a_method(self, words: FrozenSet[bytes]) -> bool:
        """Whether `words` hold a watched method and an instance it is watched on."""
        return any(not words.isdisjoint(self.instances_of[method]) for method in words & self.instances_of.keys())

    @property
    def instances_of(self) -> Dict[bytes, FrozenSet[bytes]]:
        """Each watched method, and the instances it is watched on."""
        if not hasattr(self, "_instances_of"):
            found: Dict[bytes, Set[bytes]] = {}
            for method, instance in self.methods:
                found.setdefault(method, set()).add(instance)
            object.__setattr__(self, "_instances_of", {method: frozenset(names) for method, names in found.items()})
        return self._instances_of  # type: ignore[attr-defined, no-any-return]

    def __or__(self, other: "Watch") -> "Watch":
        return Watch(*(getattr(self, f) | getattr(other, f) for f in _WATCH_FIELDS))

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return Watch, tuple(getattr(self, f) for f in _WATCH_FIELDS)  # the fields, not what is worked out from them

    def __sub__(self, other: "Watch") -> "Watch":
        """What this watch asks for that `other` does not."""
        sets = (getattr(self, f) - getattr(other, f) for f in _WATCH_FIELDS[:-1])
        return Watch(*sets, module_level=self.module_level and not other.module_level)

    @property
    def key(self) -> str:
        """The same for the same watch in any process (hash() of bytes is not)."""
        if not hasattr(self, "_key"):
            parts = tuple(sorted(getattr(self, name)) for name in _WATCH_FIELDS[:-1]) + (self.module_level,)
            object.__setattr__(self, "_key", hashlib.blake2b(repr(parts).encode()).hexdigest())
        return self._key  # type: ignore[attr-defined, no-any-return]


NOTHING = Watch()  # what a watch asks for beyond one that holds it
MODULE_LEVEL = Watch(module_level=True)  # a file read for its imports and definitions only


class ProjectText:
    """The texts of one project's files, read on demand, with each file's identifiers."""

    def __init__(
        self,
        read: Callable[[str], Optional[bytes]],
        learnt: Callable[[str], Optional[FileText]] = lambda path: None,
        decisions: Callable[[str], Optional[Dict[Tuple[str, str], object]]] = lambda path: None,
    ) -> None:
        self.read = read
        self.learnt = learnt  # what learn_text learnt of a file, when known without reading it
        # Per file, the answers already given for a question (kept in the cache across runs).
        self.decisions = decisions
        self._identifiers: Dict[str, FrozenSet[bytes]] = {}
        self._imported: Dict[str, FrozenSet[bytes]] = {}
        self._aliases: Dict[str, Dict[bytes, List[bytes]]] = {}
        self._defined: Dict[str, FrozenSet[bytes]] = {}  # the names `mutating` asks about, encoded once
        self.answered: Set[str] = set()  # the files whose `decisions` got an answer: worth keeping

    def identifiers(self, path: str) -> FrozenSet[bytes]:
        if path not in self._identifiers:
            known = self.learnt(path)
            self._identifiers[path] = frozenset(known.words.split()) if known is not None else identifiers(self.read(path))
        return self._identifiers[path]

    def _decided(self, path: str, question: Tuple[str, str], answer: Callable[[], T]) -> T:
        known = self.decisions(path)
        if known is None:
            return answer()
        if question not in known:
            known[question] = answer()
            self.answered.add(path)
        return known[question]  # type: ignore[return-value]

    def may_reset(self, path: str, watch: Watch) -> bool:
        """Whether the file may reset something `watch` describes, call a function that does, or
        apply a function that fills it as a decorator at import (over-approximated on the names
        the text holds; slicing.py then reads its functions more closely)."""
        names = self.identifiers(path)  # the text is read only where a name asks for it
        if MANAGED_WORD in names or self._text_shows(path, "called", names & watch.functions, _called):
            return True
        instances_of = watch.instances_of
        methods = frozenset(  # over the watched methods, fewer than the file's names
            (method, instance) for method in instances_of if method in names for instance in instances_of[method] & names
        )
        applied = names & watch.appliers
        return (
            self._text_shows(path, "method_called", methods, _method_called)
            or self._text_shows(path, "target_reset", names & watch.targets, _target_reset)
            or self._text_shows(path, "module_reset", names & watch.modules, _module_reset)
            or self._text_shows(path, "decorates", applied, _decorates)
            or (bool(applied) and not applied.isdisjoint(self.imported(path)))  # a re-export of one (slicing.py reads it)
        )

    def _text_shows(self, path: str, question: str, named: FrozenSet[T], shows: Callable[..., bool]) -> bool:
        """Whether the text shows what `shows` looks for about the watched names it holds. The
        answer is kept by those names, not by the whole watch: the next round's wider watch, or
        the next run's, mostly asks the same of a file."""
        if not named:
            return False
        return self._decided(path, (question, repr(sorted(named))), lambda: shows(self.read(path), named, self.aliases(path)))

    def mutating(
        self, path: str, definers: Dict[str, Dict[bytes, Set[str]]], reexported: Dict[str, Set[bytes]], key: str
    ) -> Set[Tuple[str, str]]:
        """Which of the module-level names in `definers` (name -> the last names of the modules
        defining it -> their files; `reexported`, the last names of the modules importing it;
        `key` identifies both) the file may mutate inside a function, as (name, defining file)
        pairs: it defines the name, or its imports name the name or its module, and an indented
        line mutates it (or an import alias of it)."""
        return self._decided(path, ("mutating", key), lambda: self._mutating(path, definers, reexported, key))

    def _mutating(
        self, path: str, definers: Dict[str, Dict[bytes, Set[str]]], reexported: Dict[str, Set[bytes]], key: str
    ) -> Set[Tuple[str, str]]:
        source = self.read(path)
        if key not in self._defined:
            self._defined[key] = _encoded(definers)
        present = self.identifiers(path) & self._defined[key]
        if source is None or not present:
            return set()
        source = spelled_text(source)
        imported, aliases = self.imported(path), self.aliases(path)
        found = set()
        for name in present:
            text = name.decode()
            modules = definers[text]
            # The files defining `name` that this one can reach: itself, the modules it imports,
            # and any when it imports the name itself, or names it as the attribute of a module
            # it imports that imports it in turn (`import app` then `app._cache`: a re-export).
            through = reexported.get(text, set()) & imported
            if name in imported or (through and _attribute_of(source, through, name)):
                reachable = {other for paths in modules.values() for other in paths}
            else:
                reachable = {other for module in modules.keys() & imported for other in modules[module]}
                reachable |= {path} & modules.get(spelled(_module_last_name(path)), set())
            if reachable and any(mutates(source, spelling) for spelling in (name, *aliases.get(name, ()))):
                found |= {(text, other) for other in reachable}
        return found

    def aliases(self, path: str) -> Dict[bytes, List[bytes]]:
        """What the file imports under other names: original -> aliases."""
        self.imported(path)
        return self._aliases[path]

    def imported(self, path: str) -> FrozenSet[bytes]:
        """The names in the file's import statements (and, in `_aliases`, what each imports under
        another name: original -> aliases)."""
        if path not in self._imported:
            known = self.learnt(path)
            if known is not None:
                summary: TextSummary = known.summary  # type: ignore[assignment]
                names = frozenset(name.encode() for name in summary.imported)
                renamed = [(original.encode(), alias.encode()) for original, alias in summary.aliases]
            else:
                listed = _import_text(spelled_text(self.read(path) or b""))
                names, renamed = frozenset(_IDENTIFIER.findall(listed)), _AS.findall(listed)
            self._imported[path] = names
            self._aliases[path] = {}
            for original, alias in renamed:
                self._aliases[path].setdefault(original, []).append(alias)
        return self._imported[path]

    def import_sources(self, path: str, names: FrozenSet[bytes], key: str) -> Tuple[Tuple[int, str], ...]:
        """The modules, as (dots of a relative import, dotted name), that the file imports one of
        `names` from, and those of its `import m` statements when it names one of them."""
        return self._decided(path, ("import_sources", key), lambda: self._import_sources(path, names))

    def _import_sources(self, path: str, names: FrozenSet[bytes]) -> Tuple[Tuple[int, str], ...]:
        source = self.read(path) or b""
        words = spelled_text(source)  # names as TextSummary spells them; module names as written
        names_one = not self.identifiers(path).isdisjoint(names)
        found: List[Tuple[int, str]] = []
        for module, (start, end) in _import_statements(words):
            if module is not None and not names.isdisjoint(_IDENTIFIER.findall(words[start:end])):
                written = source[module[0] : module[1]].decode(errors="replace")
                found.append((len(written) - len(written.lstrip(".")), written.lstrip(".")))
            elif module is None and names_one:
                modules = re.sub(rb"[ \t]+as[ \t]+\w+", b"", source[start:end])
                found += [(0, name.decode(errors="replace")) for name in re.findall(rb"[\w.]+", modules)]
        return tuple(dict.fromkeys(found))

    def importing(self, path: str, names: FrozenSet[bytes], key: str) -> bool:
        """Whether an import statement of the file names one of `names` (a re-export; `key`
        identifies them)."""
        wanted = self.identifiers(path) & names
        return bool(wanted) and self._decided(path, ("importing", key), lambda: bool(self.imported(path) & wanted))


def _attribute_of(source: bytes, owners: Iterable[bytes], name: bytes) -> bool:
    """Whether `owner.name` stands in the text for one of `owners`."""
    return bool(re.search(rb"\b(?:" + b"|".join(map(re.escape, owners)) + rb")[ \t]*\.[ \t]*" + re.escape(name) + rb"\b", source))


def _import_text(source: bytes) -> bytes:
    """What the file's import statements import (after `import`), side by side."""
    return b" ".join(source[start:end] for _module, (start, end) in _import_statements(source))


def _import_statements(source: bytes) -> Iterator[Tuple[Optional[Tuple[int, int]], Tuple[int, int]]]:
    """Each import statement at the start of a line: where the module of `from m import` stands
    (None for `import m`), and where what follows `import` stands."""
    match = _IMPORT.search(source)
    while match:
        line_start = source.rfind(b"\n", 0, match.start()) + 1
        before = _BEFORE_IMPORT.fullmatch(source, line_start, match.start())
        if before:
            yield (before.span(1) if before.group(1) is not None else None), match.span(1)
            match = _IMPORT.search(source, match.end())
        else:  # `import` inside a line: what it took in may hold a real import
            match = _IMPORT.search(source, match.start() + 1)


def state_candidates(
    summaries: Dict[str, TextSummary], tests: Set[str], include_test_state: bool, text: ProjectText
) -> Tuple[Dict[str, Watch], "ReexportChains"]:
    """The files of one project whose facts decide what DBI101-DBI103 can flag (where state is
    defined and mutated, the classes that keep it, the imports that re-export them), each with
    what its functions must name to matter (slicing.py), and the chains
    that find the re-exports of what further files read import. The files that reset the state
    are found later, from the names the join still flags (see checker.py)."""
    defining = {path: s for path, s in summaries.items() if include_test_state or path not in tests}
    definers: Dict[str, Dict[bytes, Set[str]]] = {}  # container name -> its modules' last names -> the files
    for path, summary in defining.items():
        for name in summary.containers:
            definers.setdefault(name, {}).setdefault(spelled(_module_last_name(path)), set()).add(path)
    # The modules importing each name (`app._cache` may be app.store's where app re-exports it).
    reexported: Dict[str, Set[bytes]] = {}
    for path, summary in summaries.items():
        for name in summary.imported & definers.keys():
            reexported.setdefault(name, set()).add(spelled(_module_last_name(path)))
    listed = (
        sorted((name, sorted((module, sorted(paths)) for module, paths in modules.items())) for name, modules in definers.items()),
        sorted((name, sorted(modules)) for name, modules in reexported.items()),
    )
    key = hashlib.blake2b(repr(listed).encode()).hexdigest()
    mutators = {path: text.mutating(path, definers, reexported, key) for path in summaries} if definers else {}
    mutated = {pair for pairs in mutators.values() for pair in pairs}  # (name, the file defining it)
    chosen = {path for path, pairs in mutators.items() if pairs} | {path for _name, path in mutated}
    # Instances: the classes named by module-level instances, up their bases, where a path up
    # reaches a class that assigns a container to an attribute (the rest keep no state).
    bases: Dict[str, Set[str]] = {}
    for summary in summaries.values():
        for name, text_of_bases in summary.class_bases:
            bases.setdefault(name, set()).update(re.findall(r"\w+", text_of_bases))
    stateful = {name for s in summaries.values() for name in s.stateful_classes}
    ancestry = {name: _ancestors(name, bases) for name in {c for s in defining.values() for _n, c in s.instances}}
    kept = {name: chain for name, chain in ancestry.items() if chain & stateful}
    classes = {name for chain in kept.values() for name in chain}
    class_watches: Dict[str, Watch] = {}  # files defining a class that keeps state: its methods are read
    for path, summary in summaries.items():
        if path in defining and (summary.caches or any(callee in kept for _name, callee in summary.instances)):
            chosen.add(path)
        kept_here = [name for name, _bases in summary.class_bases if name in classes]
        if kept_here:
            class_watches[path] = Watch(classes=_encoded(kept_here), module_level=True)
    mutated_names = {name for name, _module in mutated}
    # Definitions and imports are module-level statements, always read; of the functions, only
    # those mutating a container can matter, and in the module of an instance, those calling its
    # methods (a registry filled at import is one whose module calls none: ProjectState.is_registry).
    mutating = Watch(targets=_encoded(mutated_names), module_level=True)
    needed: Dict[str, Watch] = {}
    for path in chosen:
        instances = _encoded(name for name, callee in summaries[path].instances if callee in kept)
        # Those of its instances it may apply as decorators (`@register.filter`): registries.
        registries = instances if instances and path in defining and _decorates(text.read(path), instances, {}) else frozenset()
        needed[path] = mutating | Watch(registries=registries) if registries else mutating
    for path, watch in class_watches.items():
        needed[path] = needed[path] | watch if path in needed else watch
    # Re-exports (`from .store import _cache`, `from .dispatcher import Signal` in a package's
    # __init__) join import paths up: those of the names of state and of the classes that keep it.
    definitions = {name for s in defining.values() for name in (*s.containers, *s.caches, *(n for n, _c in s.instances))}
    chains = ReexportChains(summaries, _encoded(mutated_names | classes | definitions), text)
    needed.update({path: MODULE_LEVEL for path in chains.beyond(needed) if path not in needed})
    return needed, chains


class ReexportChains:
    """Follows import statements from the files read to the project modules they import a followed
    name from, where those modules import it in turn (re-export it), and on up: the join resolves
    a name through the imports of the modules it passes (ProjectState.canonical)."""

    def __init__(self, paths: Iterable[str], names: FrozenSet[bytes], text: ProjectText) -> None:
        self.names = names
        self.key = hashlib.blake2b(repr(sorted(names)).encode()).hexdigest()
        self.text = text
        self.paths = set(paths)
        # The files by the last part of their module path, with its parts: `from m import x` may
        # import any file whose module path ends with m's parts.
        self.modules: Dict[str, List[Tuple[List[str], str]]] = {}
        for path in self.paths:
            parts = os.path.splitext(path)[0].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            parts = ".".join(parts).split(".")  # a folder named `a.b` spells two parts, as a dotted name would
            self.modules.setdefault(parts[-1], []).append((parts, path))
        self.followed: Set[str] = set()  # the files whose imports were followed
        self.reexporters: Set[str] = set()

    def beyond(self, paths: Iterable[str]) -> Set[str]:
        """The re-exporting modules up the imports of `paths` (each path followed once per run,
        each re-exporter found once)."""
        found: Set[str] = set()
        todo = [path for path in paths if path not in self.followed]
        self.followed.update(todo)
        while todo:
            for module in self._imported_modules(todo.pop()):
                if module not in self.reexporters and self.text.importing(module, self.names, self.key):
                    self.reexporters.add(module)
                    found.add(module)
                    if module not in self.followed:
                        self.followed.add(module)
                        todo.append(module)
        return found

    def _imported_modules(self, path: str) -> Set[str]:
        """The project files `path` imports a followed name from (`from m import name`), or a
        module whose attribute it may name (`import m` in a file naming a followed name)."""
        found: Set[str] = set()
        for dots, module in self.text.import_sources(path, self.names, self.key):
            if dots:  # relative: from the file's package, one folder up per further dot
                base = os.path.dirname(path)
                for _level in range(dots - 1):
                    base = os.path.dirname(base)
                stem = os.path.join(base, *module.split(".")) if module else base
                found |= {candidate for candidate in (stem + ".py", os.path.join(stem, "__init__.py")) if candidate in self.paths}
            else:
                wanted = module.split(".")
                found |= {path for parts, path in self.modules.get(wanted[-1], ()) if parts[-len(wanted) :] == wanted}
        found.discard(path)
        return found


def _ancestors(name: str, bases: Dict[str, Set[str]]) -> Set[str]:
    """`name` and every class up its bases that the project defines."""
    found, todo = {name}, [name]
    while todo:
        for base in bases.get(todo.pop(), ()):
            if base in bases and base not in found:
                found.add(base)
                todo.append(base)
    return found
