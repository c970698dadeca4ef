"""`# noqa` comments, read from the tokens (a `# noqa` inside a string does not count)."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, Optional, Tuple

# flake8's and ruff's grammar: `# noqa`, `# noqa: A1, B2`, `# NOQA:A1 B2`.
_LINE = re.compile(r"#\s*noqa(?::\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE = re.compile(
    r"^#\s*dbisolint\s*:\s*noqa(?::\s?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?\s*$", re.IGNORECASE
)
ALL: FrozenSet[str] = frozenset({"*"})
_NOQA = re.compile("noqa", re.IGNORECASE)


def _codes(text: Optional[str]) -> FrozenSet[str]:
    if not text:
        return ALL
    return frozenset(code.upper() for code in re.split(r"[,\s]+", text) if code)


def _comments(text: str, last_row: int) -> Iterator[Tuple[int, int, str]]:
    """(line, column, comment) of every comment up to line `last_row` (a comment stays on its
    line: the tokens after it are not needed); line-based if the file cannot be tokenized."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.start[0] > last_row:
                return
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.start[1], token.string
        return
    except (tokenize.TokenError, SyntaxError):
        pass
    # Syntax newer than this interpreter's tokenizer: fall back to `#` outside simple quotes.
    for row, line in enumerate(text.splitlines(), 1):
        hash_at = line.find("#")
        if hash_at >= 0 and line.count('"', 0, hash_at) % 2 == 0 and line.count("'", 0, hash_at) % 2 == 0:
            yield row, hash_at, line[hash_at:]


@dataclass(frozen=True)
class Suppressions:
    file_codes: FrozenSet[str] = frozenset()
    line_codes: Dict[int, FrozenSet[str]] = field(default_factory=dict)

    def silences(self, code: str, row: int) -> bool:
        return _matches(self.file_codes, code) or _matches(self.line_codes.get(row, frozenset()), code)


def _matches(codes: FrozenSet[str], code: str) -> bool:
    return codes == ALL or code in codes


def read_suppressions(text: str) -> Suppressions:
    mentions = list(_NOQA.finditer(text))
    if not mentions:
        return Suppressions()  # no comment can hold one: no need for the tokens
    file_codes: FrozenSet[str] = frozenset()
    lines: Dict[int, FrozenSet[str]] = {}
    source_lines = text.splitlines()
    last_row = text.count("\n", 0, mentions[-1].start()) + 1  # the last line naming noqa, as tokenize counts
    for row, column, comment in _comments(text, last_row):
        whole = _FILE.match(comment)
        if whole and not source_lines[row - 1][:column].strip():  # a comment on its own line
            found = _codes(whole.group("codes"))
            file_codes = ALL if ALL in (file_codes, found) else file_codes | found
            continue
        match = _LINE.search(comment)
        if match:
            lines[row] = _codes(match.group("codes"))
    return Suppressions(file_codes, lines)
