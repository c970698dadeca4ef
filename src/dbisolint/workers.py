"""Analysing files in parallel worker processes, surviving a worker that dies.

libcst's native parser can take its whole process down on hostile input (a stack overflow is a
SIGSEGV, not an exception). In a worker that costs only the worker: the files it had are analysed
again one by one, each in a fresh process, and the one that kills it is reported.
"""

from __future__ import annotations

import gc
import importlib
import os
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

from .model import FileReport, Problem
from .prefilter import Learnt, Summarizer, learn_file

if TYPE_CHECKING:
    import multiprocessing.context
    from concurrent.futures import ProcessPoolExecutor

Item = Tuple[object, bytes, Optional[bytes]]  # (analysis.FileTask, source, its words: FileText.words, if known)
# Below this many files a pool costs more than it saves.
_POOL_THRESHOLD = 16


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _analyse(item: Item) -> FileReport:
    from .analysis import analyse_source
    from .cache import no_collection

    task, source, words = item
    with no_collection():  # the trees are freed by their counts; collecting walks them all
        return analyse_source(task, source, words)  # type: ignore[arg-type]


def _context() -> "multiprocessing.context.BaseContext":
    import multiprocessing  # here: a warm run that parses nothing does not pay for it

    # fork starts workers with what the main process imported; elsewhere, spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class Workers:
    """The worker processes of one check: started when a round first needs them, kept for every
    round; or early, to read the files of a cold run, then replaced by workers holding the parser."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: Optional["ProcessPoolExecutor"] = None
        self._size = jobs  # the workers of the pool
        self._prepared = False  # they were asked to import the parser

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self, processes: Optional[int] = None) -> None:
        """Start `processes` workers (at most `jobs`; all of them if not given)."""
        if self.jobs > 1 and self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self._size = min(self.jobs, processes or self.jobs)
            # A worker collects cycles between files (the main process forks it with the collector
            # paused for the run): what a file leaves in cycles must not pile up over many files.
            self._pool = ProcessPoolExecutor(max_workers=self._size, mp_context=_context(), initializer=gc.enable)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool, self._prepared = None, False

    def learn_all(self, items: Sequence[Tuple[str, str, Summarizer]]) -> List[Learnt]:
        """What the pre-filter learns from each (path, shown path, summarizer), in order."""
        if self.jobs <= 1 or len(items) < _POOL_THRESHOLD:
            return [learn_file(*item) for item in items]
        from concurrent.futures.process import BrokenProcessPool

        self.start()
        assert self._pool is not None
        forking = _context().get_start_method() == "fork"
        try:  # small tasks: sent in batches
            batches = self._pool.map(learn_file, *zip(*items), chunksize=max(1, len(items) // (8 * self.jobs)))
            if forking:
                _prepare()  # here, once, while the workers read
            learnt = list(batches)
        except BrokenProcessPool:  # a worker killed from outside: read here instead
            self.close()
            return [learn_file(*item) for item in items]
        if forking:
            self._fork_with_parser()
        else:
            self.prepare()  # while the main process chooses what to parse
        return learnt

    def _fork_with_parser(self) -> None:
        """Replace the workers by ones forked from this process, which holds the parser: each would
        take a third of a second importing it. What this process holds is frozen for the collector
        while they fork, so that their collections never walk what they inherit."""
        self.close()
        gc.freeze()
        try:
            self.start()
            assert self._pool is not None
            self._pool.submit(_prepare)  # with fork, the first task starts every worker at once
        finally:
            gc.unfreeze()
        self._prepared = True

    def prepare(self, processes: Optional[int] = None) -> None:
        """Start the workers (as `start`), each importing the parser before the first file to parse
        arrives."""
        if self._pool is None:
            self.start(processes)
        elif self._prepared:
            return
        if self._pool is not None:
            for _worker in range(self._size):
                self._pool.submit(_prepare)
            self._prepared = True

    def analyse_all(self, items: Sequence[Item], on_done: Optional[Callable[[], None]] = None) -> List[FileReport]:
        """The report of each item, in order."""
        if self.jobs <= 1 or (self._pool is None and len(items) < _POOL_THRESHOLD):
            reports = []
            for item in items:
                reports.append(_analyse(item))
                if on_done:
                    on_done()
            return reports
        from concurrent.futures.process import BrokenProcessPool

        if self._size < self.jobs and len(items) >= _POOL_THRESHOLD:
            self.close()  # started small for the few files expected: many came
        self.start()
        assert self._pool is not None
        reports_by_index: dict = {}
        # The largest files first, one at a time: no worker is left with a long file at the end.
        order = sorted(range(len(items)), key=lambda index: -len(items[index][1]))
        try:
            for index, report in zip(order, self._pool.map(_analyse, [items[index] for index in order])):
                reports_by_index[index] = report
                if on_done:
                    on_done()
        except BrokenProcessPool:
            self.close()  # the next round starts new workers
            for index in range(len(items)):
                if index not in reports_by_index:
                    reports_by_index[index] = _alone(items[index])
                    if on_done:
                        on_done()
        return [reports_by_index[index] for index in range(len(items))]


def _prepare() -> None:
    """Import the parser before the first file to parse arrives."""
    importlib.import_module(".analysis", __package__)


def _alone(item: Item) -> FileReport:
    """Analyse one file in a process of its own; a crash of that process is that file's problem."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=_context(), initializer=gc.enable) as pool:
            return pool.submit(_analyse, item).result()
    except BrokenProcessPool:
        path = getattr(item[0], "path", "?")
        return FileReport(path, problems=(Problem(path, "ParserCrash", "the parser crashed on this file"),))
