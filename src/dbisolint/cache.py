"""The result cache, like ruff's: `.dbisolint_cache/` beside the configuration, per version and
settings one file of each file's stamp and analysis, and what the pre-filter learnt from its text
(read only when some file changed, in shards: a run rewrites only those of the files it learnt
more of), both keyed by content.

Cross-file verdicts are never cached: the join runs on every run from the per-file facts, so a
changed test file changes the verdicts that depend on it. Loading the cache imports no parser.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from . import __version__
from .model import Config, Edit, FileReport

CACHE_DIR_NAME = ".dbisolint_cache"
# What the pre-filter learnt is kept in this many files, a file's in the one its path falls in:
# after one file changed, about 0.3 MB is written again instead of 4.6 MB (Django).
_TEXT_SHARDS = 16
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dbisolint.\n"


@dataclass
class FileText:
    """What the pre-filter learnt from a file's text. Kept in a file of its own: only a run where
    some file changed chooses the files to parse again and needs it."""

    summary: object  # prefilter.TextSummary
    words: bytes  # the file's identifiers, space-separated (prefilter.ProjectText)
    decisions: Dict[Tuple[str, str], object] = field(default_factory=dict)  # ProjectText's answers


@dataclass
class CacheEntry:
    stamp: Tuple[int, int]  # (mtime_ns, size): unchanged means the content need not be read
    digest: str  # of the content
    text: Optional[FileText] = None  # None until Cache.load_texts
    task: object = None  # the analysis.FileTask the report was made for
    report: Optional[FileReport] = None
    edited: Optional[Tuple[object, FileReport]] = None  # (task, report) with the findings' edits


@dataclass
class Cache:
    path: Optional[Path]  # None: no cache (`--no-cache`)
    entries: Dict[str, CacheEntry] = field(default_factory=dict)
    # The files parsed for a given set of file contents, and what the join watched (prefilter.Watch
    # per project): a run where nothing changed parses the same files without deciding again.
    selections: Dict[str, Tuple[List[str], Dict[object, object]]] = field(default_factory=dict)
    # The edits that give the conftest fixture one more entry (JSON, SARIF), by what they depend on.
    fixture_edits: Dict[str, Tuple[Edit, ...]] = field(default_factory=dict)
    changed: bool = False  # the stamps, reports, selections or fixture edits
    changed_texts: Set[str] = field(default_factory=set)  # the files whose text's facts changed
    texts_loaded: bool = False

    @classmethod
    def open(cls, folder: Optional[Path], config: Config) -> "Cache":
        if folder is None:
            return cls(None, texts_loaded=True)
        # The settings, and the shape of what is stored: a changed class makes a new cache.
        shapes = [[f.name for f in fields(kind)] for kind in (CacheEntry, FileText, FileReport, *_stored_kinds())]
        # How findings are printed does not change them: one cache serves every output format.
        settings = hashlib.sha256(repr((replace(config, output_format=None), shapes)).encode()).hexdigest()[:16]
        path = folder / __version__ / f"{settings}.pickle"
        try:
            with no_collection():
                index, selections, fixture_edits = _load(path)
                entries = {
                    name: CacheEntry(stamp, file_digest, None, task, report, edited)
                    for name, (stamp, file_digest, task, report, edited) in index.items()
                }
        except (TypeError, ValueError, AttributeError):  # none, or not of this shape
            return cls(path, texts_loaded=True)  # nothing to add texts to
        return cls(path, entries, selections, fixture_edits)

    def texts_path(self, shard: int) -> Path:
        assert self.path is not None
        return self.path.with_suffix(f".texts-{shard:02d}.pickle")

    def load_texts(self) -> None:
        """Give the entries their texts' facts, where the facts stored are of the same content."""
        if self.texts_loaded:
            return
        self.texts_loaded = True
        texts: Dict[str, Tuple[str, FileText]] = {}
        for shard in range(_TEXT_SHARDS):
            texts.update(_load(self.texts_path(shard)) or {})
        for name, entry in self.entries.items():
            stored = texts.get(name)
            if entry.text is None and stored is not None and stored[0] == entry.digest:
                entry.text = stored[1]

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
        if self.path is None or not (self.changed or self.changed_texts):
            return
        try:
            root = self.path.parent.parent
            root.mkdir(parents=True, exist_ok=True)
            for name, content in (("CACHEDIR.TAG", _TAG), (".gitignore", "*\n")):
                if not (root / name).exists():
                    (root / name).write_text(content)
            self.path.parent.mkdir(exist_ok=True)
            if self.changed_texts:
                self.load_texts()  # keep the stored facts of the files this run did not read
                changed = {_shard(name) for name in self.changed_texts}
                shards: Dict[int, Dict[str, Tuple[str, FileText]]] = {shard: {} for shard in changed}
                for name, entry in self.entries.items():
                    shard = _shard(name)
                    if shard in changed and entry.text:
                        shards[shard][name] = (entry.digest, entry.text)
                for shard, texts in shards.items():
                    _dump(texts, self.texts_path(shard))
            if self.changed:
                index = {name: (e.stamp, e.digest, e.task, e.report, e.edited) for name, e in self.entries.items()}
                _dump((index, self.selections, self.fixture_edits), self.path)
        except OSError:
            pass


def _shard(name: str) -> int:
    """The texts file that holds what was learnt of the file `name` (the same in every process)."""
    return zlib.crc32(name.encode("utf-8", "surrogateescape")) % _TEXT_SHARDS


def _load(path: Path) -> Optional[Any]:
    try:
        with path.open("rb") as stream, no_collection():
            return pickle.load(stream)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError):
        return None  # a missing, stale or damaged cache is an empty one


def _dump(content: object, path: Path) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream, no_collection():
            pickle.dump(content, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@contextmanager
def no_collection() -> Iterator[None]:
    """The cycle collector paused: (un)pickling or parsing creates objects by the hundred
    thousand, few of them in cycles, and each collection would walk them all (a third of the
    cache load's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _stored_kinds() -> Tuple[type, ...]:
    from .model import FileTask, Finding, Fix, Position, Problem
    from .prefilter import TextSummary, Watch
    from .state_facts import ClassFacts, Definition, FunctionFacts, Mutation, StateFacts
    from .url_facts import EnvSetting, SettingsClass, UrlCandidate, UrlFacts

    return (
        FileTask, Finding, Fix, Edit, Position, Problem, TextSummary, Watch, StateFacts, Definition, Mutation,
        FunctionFacts, ClassFacts, UrlFacts, UrlCandidate, EnvSetting, SettingsClass,
    )  # fmt: skip


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def stamp(path: Path) -> Optional[Tuple[int, int]]:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size
