"""The result cache, like ruff's: `.dbisolint_cache/` beside the configuration, one file per
version and settings, holding for each file its text summary and its analysis, keyed by content.

Cross-file verdicts are never cached: the join runs on every run from the per-file facts, so a
changed test file changes the verdicts that depend on it. Loading the cache imports no parser.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import __version__
from .model import Config, FileReport

CACHE_DIR_NAME = ".dbisolint_cache"
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dbisolint.\n"


@dataclass
class CacheEntry:
    stamp: Tuple[int, int]  # (mtime_ns, size): unchanged means the content need not be read
    digest: str  # of the content
    summary: object  # prefilter.TextSummary
    words: bytes = b""  # the file's identifiers, space-separated (prefilter.ProjectText)
    decisions: Dict[Tuple[str, str], object] = field(default_factory=dict)  # ProjectText's answers
    task: object = None  # the analysis.FileTask the report was made for
    report: Optional[FileReport] = None


@dataclass
class Cache:
    path: Optional[Path]  # None: no cache (`--no-cache`)
    entries: Dict[str, CacheEntry] = field(default_factory=dict)
    # The files parsed for a given set of file contents, and what the join watched (prefilter.Watch
    # per project): a run where nothing changed parses the same files without deciding again.
    selections: Dict[str, Tuple[List[str], Dict[object, object]]] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def open(cls, folder: Optional[Path], config: Config) -> "Cache":
        if folder is None:
            return cls(None)
        # The settings, and the shape of what is stored: a changed class makes a new cache.
        shapes = [[f.name for f in fields(kind)] for kind in (CacheEntry, FileReport, *_stored_kinds())]
        # How findings are printed does not change them: one cache serves every output format.
        settings = hashlib.sha256(repr((replace(config, output_format=None), shapes)).encode()).hexdigest()[:16]
        path = folder / __version__ / f"{settings}.pickle"
        try:
            with path.open("rb") as stream:
                entries, selections = pickle.load(stream)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError):
            entries, selections = {}, {}  # a missing, stale or damaged cache is an empty one
        return cls(path, entries, selections)

    def get(self, path: str) -> Optional[CacheEntry]:
        return self.entries.get(path)

    def put(self, path: str, entry: CacheEntry) -> None:
        self.entries[path] = entry
        self.changed = True

    def remember_selection(self, key: str, paths: List[str], watched: Dict[object, object]) -> None:
        self.selections = {key: (paths, dict(watched))}  # only the latest: older keys never recur
        self.changed = True

    def save(self) -> None:
        """Write atomically; a cache that cannot be written is silently skipped, as ruff does."""
        if self.path is None or not self.changed:
            return
        try:
            root = self.path.parent.parent
            root.mkdir(parents=True, exist_ok=True)
            for name, content in (("CACHEDIR.TAG", _TAG), (".gitignore", "*\n")):
                if not (root / name).exists():
                    (root / name).write_text(content)
            self.path.parent.mkdir(exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(descriptor, "wb") as stream:
                pickle.dump((self.entries, self.selections), stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.path)
        except OSError:
            pass


def _stored_kinds() -> Tuple[type, ...]:
    from .model import FileTask, Finding, Fix, Problem
    from .prefilter import TextSummary
    from .state_facts import ClassFacts, Definition, FunctionFacts, Mutation, StateFacts
    from .url_facts import EnvSetting, SettingsClass, UrlCandidate, UrlFacts

    return (
        FileTask, Finding, Fix, Problem, TextSummary, StateFacts, Definition, Mutation, FunctionFacts, ClassFacts,
        UrlFacts, UrlCandidate, EnvSetting, SettingsClass,
    )  # fmt: skip


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def stamp(path: Path) -> Optional[Tuple[int, int]]:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
