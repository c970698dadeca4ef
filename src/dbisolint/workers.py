"""Analysing files in parallel worker processes, surviving a worker that dies.

libcst's native parser can take its whole process down on hostile input (a stack overflow is a
SIGSEGV, not an exception). In a worker that costs only the worker: the files it had are analysed
again one by one, each in a fresh process, and the one that kills it is reported.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, List, Optional, Sequence, Tuple

from .model import FileReport, Problem

Item = Tuple[object, bytes]  # (analysis.FileTask, source)
# Below this many files a pool costs more than it saves.
_POOL_THRESHOLD = 16


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _analyse(item: Item) -> FileReport:
    from .analysis import analyse_source

    task, source = item
    return analyse_source(task, source)  # type: ignore[arg-type]


def _context() -> multiprocessing.context.BaseContext:
    # fork starts workers with the parser already imported; elsewhere, spawn.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def analyse_all(items: Sequence[Item], jobs: int, on_done: Optional[Callable[[], None]] = None) -> List[FileReport]:
    """The report of each item, in order."""
    if jobs <= 1 or len(items) < _POOL_THRESHOLD:
        reports = []
        for item in items:
            reports.append(_analyse(item))
            if on_done:
                on_done()
        return reports
    reports_by_index: dict = {}
    # The largest files first, one at a time: no worker is left with a long file at the end.
    order = sorted(range(len(items)), key=lambda index: -len(items[index][1]))
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=_context()) as pool:
            for index, report in zip(order, pool.map(_analyse, [items[index] for index in order])):
                reports_by_index[index] = report
                if on_done:
                    on_done()
    except BrokenProcessPool:
        for index in range(len(items)):
            if index not in reports_by_index:
                reports_by_index[index] = _alone(items[index])
                if on_done:
                    on_done()
    return [reports_by_index[index] for index in range(len(items))]


def _alone(item: Item) -> FileReport:
    """Analyse one file in a process of its own; a crash of that process is that file's problem."""
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=_context()) as pool:
            return pool.submit(_analyse, item).result()
    except BrokenProcessPool:
        path = getattr(item[0], "path", "?")
        return FileReport(path, problems=(Problem(path, "ParserCrash", "the parser crashed on this file"),))

