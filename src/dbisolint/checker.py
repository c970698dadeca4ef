"""The importable API: check paths, or fix them, and say what was found.

    from dbisolint import check, load_config
    result = check([Path("src")], load_config(None))

Files are analysed one by one (analysis.py); what needs several files is joined afterwards.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple, Union

from .cache import Cache, CacheEntry, FileText, digest, no_collection, stamp
from .edits import text_edits
from .engine_call import ENGINE_FACTORIES, classify_url
from .fixer import write_fixes
from .model import Config, Edit, FileReport, FileTask, Finding, Fix, ModuleName, Position, Problem, StateSettings
from .prefilter import (
    MODULE_LEVEL,
    NOTHING,
    ProjectText,
    ReexportChains,
    Summarizer,
    Watch,
    learn_text,
    read_source,
    spelled,
    state_candidates,
)
from .project import FileFinder, Project, display_path, path_matches, pytest_env
from .rule import StateRule, UrlRule
from .rules import ALL_RULES, RULES_BY_CODE
from .slicing import EVERYTHING
from .state_facts import SELF, STATE_CODES, FunctionFacts, ProjectState, StateFacts
from .url_facts import URL_CODES, EnvSetting, TestDatabase, UrlCandidate, UrlFacts, UrlJoin
from .workers import Workers


@dataclass
class CheckResult:
    findings: List[Finding] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    # path -> (source as read, source with the fixes applied), for files the fixes change
    changes: Dict[str, Tuple[bytes, bytes]] = field(default_factory=dict)
    files_checked: int = 0
    fixed_findings: List[Finding] = field(default_factory=list)  # what `fix()` fixed
    # "module.name" -> the state rule that flags it ("DBI101", ...), or "reset" when the test
    # suite resets it; for every module-level container, cached function and stateful instance.
    state_verdicts: Dict[str, str] = field(default_factory=dict)


def selected_codes(config: Config, path: Optional[Path] = None) -> FrozenSet[str]:
    """ruff's selection: layer by layer (defaults, config file, command line), the most specific
    matching prefix of select/extend-select and ignore decides (a tie goes to ignore), and a layer
    with `select` starts afresh; per-file-ignores then remove codes for matching paths."""

    def longest(prefixes: Sequence[str], code: str) -> int:
        return max((len(prefix) for prefix in prefixes if code.startswith(prefix)), default=-1)

    chosen: Set[str] = set()
    for layer in config.rules:
        for code in RULES_BY_CODE:
            selected = max(longest(layer.select or (), code), longest(layer.extend_select, code))
            ignored = longest(layer.ignore, code)
            if selected > ignored:
                chosen.add(code)
            elif ignored >= 0 or layer.select is not None:
                chosen.discard(code)
    if path is not None:
        root = Path(config.root)
        for pattern, codes in config.per_file_ignores:
            if path_matches(path, pattern, root):
                chosen = {code for code in chosen if not any(code.startswith(prefix) for prefix in codes)}
    return frozenset(chosen)


def check(
    paths: Sequence[Path],
    config: Config,
    *,
    fix: Optional[str] = None,
    edits: bool = False,
    jobs: int = 1,
    cache_dir: Optional[Path] = None,
    use_prefilter: bool = True,
    progress: bool = False,
    sources: Optional[Dict[Path, bytes]] = None,
) -> CheckResult:
    """Check `paths`; nothing is written but the cache.

    `fix` ("safe" or "unsafe") also computes each file's fixed text (in `changes`); `edits` fills
    each finding's `fix.edits` (JSON and SARIF show them); `jobs` worker processes parse files;
    `cache_dir` keeps per-file results between runs (None: no cache). `sources` checks texts
    given as they are (an editor's buffer on stdin) under the paths they belong to.

    The state rules need the whole project (what any module mutates, what the test suite
    resets), so with them selected every file of the projects concerned is read; findings are
    reported only for the files under `paths`.
    """
    # Nothing of a run is garbage in cycles worth collecting; each collection would walk every
    # summary and report loaded (a sixth of a run after one file changed).
    with Workers(jobs) as workers, no_collection():
        run = _Run(config, fix, edits, workers, Cache.open(cache_dir, config), use_prefilter, progress)
        finder = FileFinder(config)
        run.given = [path.resolve() for path in paths]
        for path in finder.files(paths):
            run.add(path, reported=True)
        for path, source in (sources or {}).items():
            run.add(path.resolve(), reported=True, given=source)
        if run.state_on or run.urls_on:
            for project in sorted({item.project for item in run.items.values()}, key=lambda project: project.root):
                for path in finder.files([project.root], within_project=True):
                    run.add(path, reported=False)
        run.summarize()
        # Which files to parse depends on every file's text: when none changed, the last run's answer holds.
        key = run.selection_key()
        remembered = run.cache.selections.get(key)
        if remembered is not None:
            paths_read, run.watched = remembered
            for path, watch in paths_read:
                if Path(path) in run.items:
                    run.items[Path(path)].watch = watch
            run.analyse([run.items[Path(path)] for path, _watch in paths_read if Path(path) in run.items])
        else:
            run.analyse(run.chosen())
            if run.state_on:
                run.complete_state_facts()
            if run.urls_on:
                run.complete_url_facts()
            read = [(str(item.path), run.interned(item.watch)) for item in run.items.values() if item.report]
            run.cache.remember_selection(key, read, run.watched)
    result = run.collect()
    run.cache.changed_texts.update(*(text.answered for text in run.texts.values()))
    run.cache.save()
    return result


# When this many files changed (a cold run), the workers start at once: they read and learn from
# the files while the main process imports the parser, which the workers that parse then inherit.
_MANY_CHANGED = 200


@dataclass(eq=False)
class _Item:
    """One file of the run."""

    path: Path
    shown: str
    reported: bool  # findings are reported for it (it is under the paths given)
    project: Project
    is_test: bool
    entry: Optional[CacheEntry] = None
    source: Optional[bytes] = None
    given: bool = False  # its text came with the call (stdin), not from disk: never cached
    problem: Optional[Problem] = None
    report: Optional[FileReport] = None
    watch: Optional[Watch] = None  # parsed only for the resets of what this watches (slicing.py)
    before: Optional[Tuple[Watch, FileReport]] = None  # read again under a wider watch: the last reading
    module: Optional[ModuleName] = None  # its module's name, once asked (_Run._module)


class _Modules:
    """A project's files by the names of their modules. A file is asked its module's name (which
    costs stats up its folders) only for a name that can be its own: one whose last part is its
    stem, or its folder's name for a package's `__init__`."""

    def __init__(self, members: List[_Item]) -> None:
        self._by_last_part: Dict[str, List[_Item]] = {}
        for item in members:
            stem = item.path.stem
            last = (item.path.parent.name if stem == "__init__" else stem).rpartition(".")[2]
            self._by_last_part.setdefault(last, []).append(item)

    def named(self, names: Iterable[str]) -> List[_Item]:
        """The file of each of `names` that is a module of the project, in order (of two files
        of one module, the last)."""
        found = []
        for name in names:
            files = [item for item in self._by_last_part.get(name.rpartition(".")[2], ()) if _Run._module(item).name == name]
            found.extend(files[-1:])
        return found


class _Run:
    """The files of one check, read, summarised, chosen, analysed and joined."""

    def __init__(
        self,
        config: Config,
        fix: Optional[str],
        edits: bool,
        workers: Workers,
        cache: Cache,
        use_prefilter: bool,
        progress: bool,
    ) -> None:
        self.config = config
        self.fix = fix
        self.edits = edits
        self.workers = workers
        self.cache = cache
        self.use_prefilter = use_prefilter
        self.progress = progress
        self.codes = selected_codes(config)
        self.state_on = bool(self.codes & set(STATE_CODES))
        self.urls_on = bool(self.codes & set(URL_CODES))
        self.factories = ENGINE_FACTORIES | frozenset(config.engine_factories)
        self.settings = StateSettings(frozenset(config.container_constructors), config.weak_containers_are_state)
        self.summarizer = Summarizer(self.factories, config.container_constructors)
        self.items: Dict[Path, _Item] = {}
        self.by_name: Dict[str, _Item] = {}  # the same items by str(path), as ProjectText names them
        self.texts: Dict[Project, ProjectText] = {}
        self.watched: Dict[Project, Watch] = {}  # what a file must name to matter to the join
        self.chains: Dict[Project, ReexportChains] = {}
        self._watches: Dict[str, Watch] = {}
        self._projects: Dict[Path, Project] = {}  # by folder: most files share theirs with others
        self.given: List[Path] = []  # the paths the check was given, resolved

    def add(self, path: Path, reported: bool, given: Optional[bytes] = None) -> None:
        if path not in self.items or given is not None:
            folder = path.parent
            if folder not in self._projects:  # a file (or an editor's buffer)
                self._projects[folder] = Project.of_folder(folder, self.config)
            project = self._projects[folder]
            self.items[path] = _Item(path, display_path(path), reported, project, project.is_test(path))
            self.by_name[str(path)] = self.items[path]
        if given is not None:
            self.items[path].source, self.items[path].given = given, True

    # reading ------------------------------------------------------------------------------
    def summarize(self) -> None:
        """Read what changed since the cache saw it, and learn from its text (in the workers when
        there is much to read: a cold run)."""
        stale: List[Tuple[_Item, Tuple[int, int], Optional[CacheEntry]]] = []
        for item in self.items.values():
            if item.given:
                assert item.source is not None
                item.entry = CacheEntry((0, 0), digest(item.source), learn_text(item.source, self.summarizer))  # never stored
                continue
            file_stamp = stamp(item.path)
            entry = self.cache.get(str(item.path))
            if entry is not None and file_stamp is not None and entry.stamp == file_stamp:
                item.entry = entry
            else:
                stale.append((item, file_stamp or (0, 0), entry))
        if len(stale) >= _MANY_CHANGED:
            self.workers.start()
        learnt = self.workers.learn_all([(str(item.path), item.shown, self.summarizer) for item, _s, _e in stale])
        parsed_before = sum(1 for _item, _stamp, entry in stale if entry is not None and entry.report is not None)
        if parsed_before:
            # A file parsed last run changed: likely parsed again. A worker per such file (no more:
            # they would slow the main process) imports the parser while the main process works
            # out the selection (else about 0.3 s of a 1.2 s run on Django after one file changed).
            self.workers.prepare(parsed_before)
        for (item, file_stamp, entry), (source, problem, file_digest, text) in zip(stale, learnt):
            item.source, item.problem = source, problem
            if text is None:
                continue
            if entry is None or entry.digest != file_digest:
                entry = CacheEntry(file_stamp, file_digest, text)
                self.cache.changed_texts.add(str(item.path))
            entry.stamp = file_stamp
            self.cache.put(str(item.path), entry)
            item.entry = entry

    def _load_texts(self) -> None:
        """What the pre-filter knows of every file's text: from the cache, else from the file."""
        self.cache.load_texts()
        for item in self.items.values():
            if item.entry is not None and item.entry.text is None and self._read(item):
                assert item.source is not None
                item.entry.text = learn_text(item.source, self.summarizer)
                self.cache.changed_texts.add(str(item.path))

    def _read(self, item: _Item) -> bool:
        if item.source is None and item.problem is None:
            item.source, item.problem = read_source(item.path, item.shown)
        return item.source is not None

    # choosing -----------------------------------------------------------------------------
    def chosen(self) -> List[_Item]:
        """The files to parse: those whose text can hold a finding or a fact the join needs."""
        self._load_texts()
        readable = [item for item in self.items.values() if item.entry is not None and item.entry.text is not None]
        if not self.use_prefilter:
            return readable
        # DBI001-DBI005 can only report in a file that names an engine factory.
        engine_codes = {code for code in self.codes if not code.startswith(STATE_CODES)}
        chosen = [item for item in readable if item.reported and engine_codes and item.entry.text.summary.engine]  # type: ignore[union-attr]
        if self.state_on:
            for project, members in self._by_project(readable).items():
                summaries = {str(item.path): item.entry.text.summary for item in members}  # type: ignore[union-attr]
                tests = {str(item.path) for item in members if item.is_test}
                wanted, self.chains[project] = state_candidates(summaries, tests, self.config.check_test_state, self._text(project))  # type: ignore[arg-type]
                whole = set(chosen)  # an engine file is read whole
                for item in members:
                    if str(item.path) in wanted:
                        item.watch = None if item in whole else wanted[str(item.path)]
                        chosen.append(item)
        return list(dict.fromkeys(chosen))

    def _text(self, project: Project) -> ProjectText:
        if project not in self.texts:
            self.texts[project] = ProjectText(
                lambda path: self.by_name[path].source if self._read(self.by_name[path]) else None,
                self._known_text,
                self._decisions,
            )
        return self.texts[project]

    def _known_text(self, path: str) -> Optional[FileText]:
        entry = self.by_name[path].entry
        return entry.text if entry is not None else None

    def _decisions(self, path: str) -> Optional[Dict[Tuple[str, str], object]]:
        text = self._known_text(path)
        return None if text is None or self.by_name[path].given else text.decisions

    @staticmethod
    def _by_project(items: List[_Item]) -> Dict[Project, List[_Item]]:
        grouped: Dict[Project, List[_Item]] = {}
        for item in items:
            grouped.setdefault(item.project, []).append(item)
        return grouped

    def selection_key(self) -> str:
        files = sorted((str(path), item.entry.digest if item.entry else "") for path, item in self.items.items())
        return digest(repr((files, self.use_prefilter)).encode())

    # analysing ----------------------------------------------------------------------------
    def _task(self, item: _Item, plain: bool) -> FileTask:
        return FileTask(
            path=item.shown,
            module=self._module(item),
            codes=selected_codes(self.config, item.path) if self.config.per_file_ignores else self.codes,
            factories=self.factories,
            fix=None if plain or not item.reported else self.fix,
            edits=not plain and item.reported and self.edits,
            is_test=item.is_test,
            state=self.settings if self.state_on else None,
            urls=self.urls_on,
            max_bytes=self.config.max_file_kb * 1024,
            watch=self.interned(item.watch) if plain else None,
        )

    @staticmethod
    def _module(item: _Item) -> ModuleName:
        if item.module is None:
            item.module = item.project.module_name(item.path)
        return item.module

    def interned(self, watch: Optional[Watch]) -> Optional[Watch]:
        """One object for equal watches: the cache then stores each once."""
        return None if watch is None else self._watches.setdefault(watch.key, watch)

    def analyse(self, items: List[_Item]) -> None:
        """Parse and analyse `items`, reusing the cache where the file and the task are unchanged."""
        pending: List[Tuple[_Item, object]] = []
        for item in items:
            if item.report is not None:
                continue
            plain = self._task(item, plain=True)
            entry = item.entry
            cached = entry.report if entry is not None and _serves(entry.task, plain) else None
            needs_more = self._fixed_or_edited(item)
            if cached is not None and not (needs_more and any(f.fix for f in cached.findings)):
                item.report, item.watch, item.before = cached, entry.task.watch, None  # type: ignore[union-attr]
                continue
            task = self._task(item, plain=False) if needs_more else plain
            item.watch = task.watch  # None when the whole file is read (fixes and edits need it)
            if entry is not None and entry.edited is not None and entry.edited[0] == task:
                item.report = entry.edited[1]
            elif self._read(item):
                pending.append((item, task))
        if not pending:
            return
        # A file read again under a wider watch says when that reads the same of it (slicing.py).
        sent = [
            (replace(task, before=item.before[0]) if item.before and task.watch else task, item.source, self._words(item, task))
            for item, task in pending
        ]
        reports = self.workers.analyse_all(sent, self._progress(len(pending)))
        for (item, task), report in zip(pending, reports):
            if report.same_as_before:
                assert item.before is not None
                report = item.before[1]
            item.report, item.before = report, None
            if task.watch is not None and not report.left_out:  # nothing was left out: read whole
                item.watch, task = None, replace(task, watch=None)
            if item.entry is None or item.given:
                continue
            if task == self._task(item, plain=True):
                item.entry.task, item.entry.report = task, report
            elif task.fix is None:  # with edits (JSON, SARIF); a fix's report holds the fixed text
                item.entry.edited = (task, report)
            self.cache.put(str(item.path), item.entry)

    @staticmethod
    def _words(item: _Item, task: FileTask) -> Optional[bytes]:
        """The identifiers of a file read in part, as learnt from its text (slicing.py needs them)."""
        text = item.entry.text if item.entry is not None and task.watch is not None else None
        return text.words if text is not None else None

    def _fixed_or_edited(self, item: _Item) -> bool:
        """Whether the file's fixes or their edits are asked for: then it is read whole. Only an
        engine call is fixed in its own file, and only a file naming a factory can hold one (the
        state rules' fixes go to conftest.py, from the facts)."""
        if not (self.fix or self.edits) or not item.reported:
            return False
        text = item.entry.text if item.entry is not None else None
        return text is None or text.summary.engine  # type: ignore[attr-defined, no-any-return]

    def _reuse(self, item: _Item) -> bool:
        """Take the report cached for a file read in part under another watch (the watch depends
        on which reports the last run had): the loop reads it again only where this run's watch
        holds a name it may reset."""
        entry = item.entry
        if entry is None or entry.report is None or entry.task is None or entry.task.watch is None:
            return False
        if self._fixed_or_edited(item):
            return False
        if not _same_but_watch(entry.task, self._task(item, plain=True)):
            return False
        item.report, item.watch = entry.report, entry.task.watch  # type: ignore[assignment]
        return True

    def _progress(self, total: int):  # type: ignore[no-untyped-def]
        if not self.progress or total < 200:
            return None
        done = [0]

        def tick() -> None:
            done[0] += 1
            if done[0] % 50 == 0 or done[0] == total:
                end = "\n" if done[0] == total else ""
                sys.stderr.write(f"\rdbisolint: parsed {done[0]}/{total} files{end}")
                sys.stderr.flush()

        return tick

    def complete_state_facts(self) -> None:
        """Parse the further files the join turns out to need, until it needs no more.

        Resets are sought from what is still flagged: a file can only reset what it names, or
        call a project function that does (a fixture calling `helpers.reset_all()` that clears
        `store._cache`), so every file naming a flagged definition, its module, a function known
        to reset it, or a decorator whose registry counts as filled at import (if no function
        calls it) is parsed, and the join runs again. Callees in unread project modules too.
        """
        for project, members in self._by_project(list(self.items.values())).items():
            modules: Optional[_Modules] = None
            # The files that could reset nothing of the last round's watch: whether a file may
            # reset something of a union is whether it may of either part, so they are asked
            # only about what this round's watch adds.
            refused: Set[_Item] = set()
            asked = NOTHING
            while True:
                state = ProjectState([item.report.facts for item in members if item.report and item.report.facts])
                watch = self.watched[project] = _names_that_may_reset(state)
                unread = [item for item in members if item.report is None and item.entry is not None]
                needed: Set[_Item] = set()
                if state.unresolved:
                    modules = modules or _Modules(members)
                    needed.update(modules.named(prefix for callee in state.unresolved for prefix in _prefixes(callee)))
                text = self._text(project)
                chains = self.chains.get(project)
                if self.use_prefilter and chains is not None:
                    # What the files read since import, through re-exports.
                    for path in chains.beyond(str(item.path) for item in members if item.report is not None):
                        found = self.by_name[path]
                        if found.report is None:
                            found.watch = MODULE_LEVEL
                            needed.add(found)
                        elif found.watch is not None and not found.watch.module_level:  # read for its resets alone
                            found.before = (found.watch, found.report)
                            found.watch, found.report = found.watch | MODULE_LEVEL, None
                            needed.add(found)
                if self.use_prefilter:
                    added, refusing = watch - asked, set()
                    for item in unread:
                        if item in needed:
                            continue
                        if text.may_reset(str(item.path), added if item in refused else watch) and not self._reuse(item):
                            item.watch = watch
                            needed.add(item)
                        else:
                            refusing.add(item)
                    refused, asked = refusing, watch
                else:
                    needed |= set(unread)
                needed = {item for item in needed if item.report is None and item.entry is not None}
                if not needed and self.use_prefilter:
                    # A file read in part is read again where it may reset what the watch learnt
                    # since; asked once nothing else is needed, when the watch has settled.
                    for item in members:
                        if item.watch is not None and item.report is not None:
                            learnt = watch - item.watch
                            left_out = item.report.left_out
                            names = text.identifiers(str(item.path)) if left_out == EVERYTHING else frozenset(left_out.split())
                            if learnt != NOTHING and learnt.named_in(names) and text.may_reset(str(item.path), learnt):
                                item.before = (item.watch, item.report)
                                item.watch, item.report = item.watch | watch, None
                                needed.add(item)
                if not needed:
                    break
                self.analyse(list(needed))

    def complete_url_facts(self) -> None:
        """When an engine URL may come from the environment or settings, read what the join needs
        to decide: the test files that set environment variables, and the settings classes. For
        DBI006, the test files that name SQLite (an async in-memory URL does), and where they
        give one, the engines that may read it and the files that dispose engines."""
        for members in self._by_project(list(self.items.values())).values():
            if "DBI006" in self.codes:
                tests = [item for item in members if item.is_test and self._unread_with(item, (b"sqlite",))]
                self.analyse(tests)
                if any(item.report and item.report.urls and item.report.urls.test_databases for item in tests):  # type: ignore[attr-defined]
                    self.analyse([item for item in members if self._unread_with(item, (b".dispose(", *self._factory_words))])
            candidates = [
                candidate
                for item in members
                if item.reported and item.report and item.report.urls
                for candidate in item.report.urls.candidates  # type: ignore[attr-defined]
            ]
            if not candidates:
                continue
            constants = {source[1] for candidate in candidates for source in candidate.sources if source[0] == "constant"}
            needed = _Modules(members).named(prefix for name in constants for prefix in _prefixes(name))
            for item in members:
                unread = item.report is None or item.watch is not None  # read in part: not its settings
                if unread and item.entry is not None and (self._read(item) or not self.use_prefilter):
                    text = item.source or b""
                    if not self.use_prefilter or b"Settings" in text or (item.is_test and (b"environ" in text or b"setenv" in text)):
                        needed.append(item)
            for item in needed:
                if item.watch is not None:
                    item.watch, item.report = None, None
            self.analyse(needed)

    def _unread_with(self, item: _Item, words: Tuple[bytes, ...]) -> bool:
        """Whether a file not yet read whole may hold one of `words` (every file, without the
        pre-filter); a file read in part is then read whole."""
        unread = item.report is None or item.watch is not None
        if not unread or item.entry is None or not (self._read(item) or not self.use_prefilter):
            return False
        if self.use_prefilter and not any(word in (item.source or b"") for word in words):
            return False
        item.watch, item.report = None, None
        return True

    @property
    def _factory_words(self) -> Tuple[bytes, ...]:
        return tuple(name.rsplit(".", 1)[-1].encode() for name in self.factories)

    # results ------------------------------------------------------------------------------
    def collect(self) -> CheckResult:
        result = CheckResult()
        facts: Dict[Project, List[StateFacts]] = {}
        url_facts: Dict[Project, List[UrlFacts]] = {}
        blind_spots: Dict[Project, List[str]] = {}
        for item in self.items.values():
            report = item.report
            if report is not None and report.urls is not None:
                url_facts.setdefault(item.project, []).append(report.urls)  # type: ignore[arg-type]
            if item.reported:
                if item.problem is not None:
                    result.problems.append(item.problem)
                if report is not None:
                    result.files_checked += 1
                    result.findings.extend(report.findings)
                    result.problems.extend(report.problems)
                    if report.fixed_source is not None and report.fixed_source != item.source and item.source is not None:
                        result.changes[item.shown] = (item.source, report.fixed_source)
                elif item.problem is None:
                    result.files_checked += 1
            if report is not None and report.facts is not None:
                facts.setdefault(item.project, []).append(report.facts)  # type: ignore[arg-type]
            elif self.state_on and item.is_test and (item.problem or report is not None) and self._may_reset(item):
                blind_spots.setdefault(item.project, []).append(item.shown)
        if self.state_on:
            reported = {item.shown for item in self.items.values() if item.reported}
            edits = _FixtureEdits(self.cache.fixture_edits) if self.edits else None
            for project, project_facts in facts.items():
                if any(item.reported for item in self.items.values() if item.project == project):
                    _join_state(
                        result, project, project_facts, blind_spots.get(project, []), reported, self.config, self.fix, edits
                    )
            if edits is not None and edits.used != self.cache.fixture_edits:
                self.cache.fixture_edits, self.cache.changed = edits.used, True
        for project, project_urls in url_facts.items():
            if "DBI006" in self.codes or any(facts.candidates for facts in project_urls):  # type: ignore[attr-defined]
                self._join_urls(result, project, project_urls)
        result.findings.sort(key=lambda finding: (finding.path, finding.start, finding.code))
        return result

    def _join_urls(self, result: CheckResult, project: Project, facts: List[UrlFacts]) -> None:
        """Run DBI005 and DBI006 on one project's URL facts; with `fix`, plan what they change:
        DBI005's guard at the engine call, DBI006's file database in the test suite's setting."""
        from .url_fix import FileDatabase, InMemoryGuard, with_url_fixes

        config_env = tuple(EnvSetting(name, value, where, True) for name, value, where in pytest_env(project.root))
        join = UrlJoin([*facts, UrlFacts(test_databases=_configured_databases(project.root, config_env))], config_env)
        planned: Dict[str, List[Union[InMemoryGuard, FileDatabase]]] = {}
        for rule in ALL_RULES:
            if not issubclass(rule, UrlRule):
                continue
            for site, message in rule().check(join):
                path = Path(site.path).resolve()
                item = self.by_name.get(str(path))
                # pytest's configuration file is reported when the check was given it or its folder
                reported = item.reported if item is not None else any(path.is_relative_to(given) for given in self.given)
                if not reported or rule.code not in selected_codes(self.config, path):
                    continue
                change = _url_change(site, join)
                fix = None
                if change is not None:
                    applicability = rule.fix_availability or "safe"
                    if self.fix == "unsafe" or applicability == "safe":
                        planned.setdefault(site.path, []).append(change)
                    edits: Tuple[Edit, ...] = ()
                    if self.edits and item is not None and self._read(item):
                        after = with_url_fixes(item.source, [change])  # type: ignore[arg-type]
                        edits = text_edits(site.path, _text(item.source), _text(after))  # type: ignore[arg-type]
                    fix = Fix(applicability, change.title, edits)
                result.findings.append(Finding(site.path, rule.code, message, site.start, site.end, fix))
        for path, changes in planned.items() if self.fix else ():
            item = self.by_name[str(Path(path).resolve())]
            if path not in result.changes and self._read(item):  # a file with other fixes gets this one next round
                result.changes[path] = (item.source, with_url_fixes(item.source, changes))  # type: ignore[arg-type]

    def _may_reset(self, item: _Item) -> bool:
        """Whether a test file that could not be read or parsed may hide a reset that matters:
        unreadable, or its text may reset what is flagged."""
        if item.entry is None:
            return True
        watch = self.watched.get(item.project)
        return watch is not None and self._text(item.project).may_reset(str(item.path), watch)


def _configured_databases(root: Path, settings: Tuple[EnvSetting, ...]) -> Tuple[TestDatabase, ...]:
    """pytest-env's `env` entries that give an async engine an in-memory database (DBI006), at
    their line of the configuration file; a file database cannot be spelt there, so no fix."""
    found = []
    for setting in settings:
        url = classify_url(setting.value)
        if url is None or not (url.in_memory and url.async_driver):
            continue
        path = root / setting.site
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for row, line in enumerate(lines, start=1):
            column = line.find(f"{setting.name}=")
            if column >= 0 and setting.value in line:
                start = Position(row, column + 1)
                end = Position(row, line.find(setting.value, column) + len(setting.value) + 1)
                found.append(TestDatabase(display_path(path), start, end, setting.value, "env", setting.name))
                break
    return tuple(found)


def _url_change(site: Union[UrlCandidate, TestDatabase], join: UrlJoin):  # type: ignore[no-untyped-def]
    """What the fix of a URL rule's finding changes, or None when it offers none."""
    from .url_fix import FileDatabase, InMemoryGuard

    if isinstance(site, TestDatabase):
        if site.replace is None:
            return None
        classified = classify_url(site.url)
        return FileDatabase(site.replace, classified.drivername if classified else "sqlite", site.name or "test")
    if not site.fixable:
        return None
    origin = join.in_memory_origin(site)
    classified = classify_url(origin[0]) if origin else None
    return InMemoryGuard(site.start, bool(classified and classified.sync_driver))


def _serves(done: Optional[FileTask], wanted: FileTask) -> bool:
    """Whether the report of task `done` answers task `wanted`: the same task, or one that read
    more of the file (the whole file, or the functions of a wider watch)."""
    if done is None or not _same_but_watch(done, wanted):
        return False
    if done.watch is None or done.watch == wanted.watch:
        return True
    return wanted.watch is not None and wanted.watch - done.watch == NOTHING  # type: ignore[operator]


def _same_but_watch(done: FileTask, wanted: FileTask) -> bool:
    return replace(done, watch=None) == replace(wanted, watch=None)


def _names_that_may_reset(state: ProjectState) -> Watch:
    """What a file must name to hold a reset that could change a verdict of the join."""
    flagged = [definition for rule in ALL_RULES if issubclass(rule, StateRule) for definition, _ in rule().check(state)]
    targets = {definition.target for definition in flagged}
    # Project functions that reset a flagged target, and the functions that call them; for an
    # instance, as ProjectState.is_reset counts it, a method that resets any of its attributes.
    instance_classes = {
        cls.qualname
        for definition in flagged
        if definition.kind == "instance"
        for cls in state.class_chain(definition.detail)
    }

    instances_of: Dict[str, Set[str]] = {}  # class -> its module-level instances' names
    for facts in state.facts:
        for definition in facts.definitions:
            if definition.kind == "instance":
                for cls in state.class_chain(definition.detail):
                    instances_of.setdefault(cls.qualname, set()).add(definition.name)

    def resets_target(function: FunctionFacts) -> bool:
        owner = function.qualname.rsplit(".", 1)[0]
        for reset in function.resets:
            if reset.startswith(SELF + "."):
                if owner in instance_classes:
                    return True
            elif any(_overlaps(state.canonical(reset), target) for target in targets):
                return True
        return False

    def reached(caller: FunctionFacts, callee: str) -> List[str]:
        """The functions whose resetting makes a call reset: a resetter called by its name, a
        method called on a module-level instance of its class, or a method of the caller's own
        class called on `self` (as ProjectState.effects follows it)."""
        if callee.startswith(SELF + "."):
            return [f"{caller.qualname.rsplit('.', 1)[0]}.{callee[len(SELF) + 1 :]}"]
        name = state.canonical(callee)
        receiver, _, method = name.rpartition(".")
        definition = state.definition(receiver)
        if definition is None or definition.kind != "instance":
            return [name]
        return [name, *(f"{cls.qualname}.{method}" for cls in state.class_chain(definition.detail))]

    callable_functions = [f for f in state.functions.values() if f.role != "test"]
    callers_of: Dict[str, Set[str]] = {}  # function -> the callable functions that reset when it does
    for function in callable_functions:
        for callee in function.calls:
            for reached_function in reached(function, callee):
                callers_of.setdefault(reached_function, set()).add(function.qualname)
    resetters = {function.qualname for function in callable_functions if resets_target(function)}
    todo = list(resetters)
    while todo:  # and every function that calls one, up the calls
        for caller in callers_of.get(todo.pop(), ()):
            if caller not in resetters:
                resetters.add(caller)
                todo.append(caller)
    functions: Set[str] = {qualname.rsplit(".", 1)[-1] for qualname in state.import_only}
    methods: Set[Tuple[str, str]] = set()
    for qualname in resetters:
        owner, name = qualname.rsplit(".", 1)
        if owner in state.classes:  # reached only as `module.instance.method()`
            methods |= {(name, instance) for instance in instances_of.get(owner, ())}
        else:
            functions.add(name)
    # The functions (and the decorator factories around them) that mutate a flagged container:
    # applied as decorators at import, they fill it at import (ProjectState._at_import).
    appliers = {
        name
        for facts in state.facts
        for mutation in facts.mutations
        if state.canonical(mutation.target) in targets and mutation.function.startswith(facts.module + ".")
        for name in mutation.function[len(facts.module) + 1 :].split(".")
    }
    return Watch(
        targets=frozenset(spelled(definition.name) for definition in flagged),
        modules=frozenset(spelled(definition.module.rsplit(".", 1)[-1]) for definition in flagged),
        functions=frozenset(map(spelled, functions)),
        methods=frozenset((spelled(method), spelled(instance)) for method, instance in methods),
        appliers=frozenset(map(spelled, appliers)),
    )


def _overlaps(reset: str, target: str) -> bool:
    if reset.endswith(".*"):
        return target.startswith(reset[:-1])
    return reset == target or target.startswith(reset + ".") or reset.startswith(target + ".")


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _prefixes(dotted: str) -> List[str]:
    parts = dotted.split(".")
    return [".".join(parts[:cut]) for cut in range(len(parts) - 1, 0, -1)]


def _join_state(
    result: CheckResult,
    project: Project,
    facts: List[StateFacts],
    blind_spots: List[str],
    reported_paths: Set[str],
    config: Config,
    fix: Optional[str],
    edits: Optional["_FixtureEdits"],
) -> None:
    """Run the state rules on one project's joined facts; with `fix`, plan the conftest change;
    with `edits`, give each finding the edits of its fix."""
    if blind_spots:
        result.problems.append(
            Problem(
                blind_spots[0],
                "StateRulesSkipped",
                "this test file cannot be parsed, so the resets it may hold are unknown: "
                "DBI101-DBI103 are not checked for this project",
            )
        )
        return
    project_state = ProjectState(facts, config.check_test_state, config.weak_containers_are_state)
    conftest = project.conftest_for_fix()
    shown_conftest = display_path(conftest)
    on_disk, _problem = read_source(conftest, shown_conftest) if conftest.exists() else (None, None)
    first_party = frozenset(f.module.split(".")[0] for f in facts if f.module)
    entries = []
    for facts_of_file in facts:
        for definition in facts_of_file.definitions:
            if project_state.is_reset(definition):
                result.state_verdicts[definition.target] = "reset"
    for rule_class in ALL_RULES:
        if not issubclass(rule_class, StateRule):
            continue
        for definition, message in rule_class().check(project_state):
            result.state_verdicts[definition.target] = rule_class.code
            if definition.path not in reported_paths or rule_class.code in definition.suppressed:
                continue
            if rule_class.code not in selected_codes(config, Path(definition.path)):
                continue
            attributes = project_state.state_attributes(definition) if definition.kind == "instance" else ()
            entry = (definition.module, definition.name, definition.kind, attributes)
            changes = edits.of(shown_conftest, on_disk, entry, first_party) if edits is not None else ()
            reset = Fix("safe", f"Reset `{definition.target}` around every test in {shown_conftest}", changes)
            result.findings.append(
                Finding(definition.path, rule_class.code, message, definition.start, definition.end, reset)
            )
            entries.append(entry)
    if fix and entries:
        from .state_fix import with_managed_fixture

        base = result.changes.get(shown_conftest, (on_disk or b"", on_disk))[1]
        result.changes[shown_conftest] = (on_disk or b"", with_managed_fixture(base, entries, first_party))


class _FixtureEdits:
    """The edits that add one entry to the conftest fixture, remembered between runs: computing
    them imports libcst and rewrites the conftest once per finding."""

    def __init__(self, known: Dict[str, Tuple[Edit, ...]]) -> None:
        self.known = dict(known)
        self.used: Dict[str, Tuple[Edit, ...]] = {}  # this run's: what the cache keeps

    def of(self, shown: str, conftest: Optional[bytes], entry: object, first_party: FrozenSet[str]) -> Tuple[Edit, ...]:
        key = digest(repr((shown, conftest, entry, sorted(first_party))).encode())
        if key not in self.known:
            from .state_fix import with_managed_fixture  # libcst: only for edits and fixes

            after = _text(with_managed_fixture(conftest, [entry], first_party))  # type: ignore[list-item]
            self.known[key] = text_edits(shown, _text(conftest or b""), after)
        self.used[key] = self.known[key]
        return self.used[key]


_FIX_ROUNDS = 4  # fixes of one file that another fix's edits stand in the way of land next round


def fix(paths: Sequence[Path], config: Config, *, unsafe: bool = False, **options) -> CheckResult:  # type: ignore[no-untyped-def]
    """Apply the fixes (the safe ones, or all with `unsafe`), write them, and check again, as ruff
    does: round after round while fixes still change files. `options` are check()'s."""
    changes: Dict[str, Tuple[bytes, bytes]] = {}
    fixed: List[Finding] = []
    problems: List[Problem] = []
    for _round in range(_FIX_ROUNDS):
        planned = check(paths, config, fix="unsafe" if unsafe else "safe", **{**options, "edits": True})
        # Only planning meets a fix that fails (an InternalError): the check after would not say it.
        problems += _unsaid(planned.problems, problems)
        if not planned.changes:
            break
        failed = write_fixes(planned.changes)
        problems += failed
        written = set(planned.changes) - {problem.path for problem in failed}
        for path in written:
            changes[path] = (changes.get(path, planned.changes[path])[0], planned.changes[path][1])
        fixed += fixed_by(planned.findings, written, unsafe)
        if not written:
            break
    after = check(paths, config, **options)
    after.problems.extend(_unsaid(problems, after.problems))
    after.changes = changes
    after.fixed_findings = fixed
    return after


def _unsaid(problems: Sequence[Problem], said: Sequence[Problem]) -> List[Problem]:
    """The problems that `said` does not tell already (by file, kind and message: an internal
    error's traceback may differ between two runs)."""
    told = {(problem.path, problem.kind, problem.message) for problem in said}
    return [problem for problem in problems if (problem.path, problem.kind, problem.message) not in told]


def fixed_by(findings: Sequence[Finding], changed_paths: Set[str], unsafe: bool) -> List[Finding]:
    """The findings whose fix applies (safe, or any with `unsafe`) and whose edits all fall in
    `changed_paths` (a state rule's fix edits the conftest, not the finding's file)."""
    return [
        finding
        for finding in findings
        if finding.fix is not None
        and (finding.fix.applicability == "safe" or unsafe)
        and {edit.path for edit in finding.fix.edits} <= changed_paths
    ]
