"""How much `--dbisolint-leaks` adds to a pytest run: a script, not a test (pytest does not collect it).

    python tests/benchmarks/plugin_overhead.py [--runs 9] [--tests 1000]

Generates a project in a temporary folder: five application modules, each with module-level state
of every watched kind (containers, a lookup table of 200 entries, an lru_cache, an instance with
container attributes: 55 watched variables in all), and a suite of `--tests` tests in files of 50
that call into them, each in well under a millisecond (the plugin's worst case: its cost is per
test and per watched variable). It is
run in two versions: "clean", whose conftest resets the state after every test (what a suite looks
like after `dbisolint --fix`), and "leaky", without that reset: every test leaks into the next, the
state grows to thousands of items, and the plugin also runs dbisolint's static check at the end
(timed alone too, in a fresh process). Each is run `--runs` times without the plugin
(`-p no:dbisolint`) and with it, alternately, in fresh processes, with bytecode caching on (as
usual); the medians of the wall and CPU times (CPU time is steadier on a busy machine), their
ratio and the cost per test are printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

SRC = Path(__file__).resolve().parents[2] / "src"  # this checkout's dbisolint, plugin included
MODULES = 5
TESTS_PER_FILE = 50

MODULE = '''\
import functools
from collections import Counter, OrderedDict, defaultdict, deque

RATES = {{f"code-{{n}}": n for n in range(200)}}  # a lookup table, filled at import
_users = {{}}
_events = []
_seen = set()
_queues = defaultdict(deque)
_counts = Counter()
_recent = deque(maxlen=50)
_ordered = OrderedDict()


class Limiter:
    def __init__(self):
        self._windows = {{}}
        self._blocked = set()

    def allow(self, key):
        self._windows[key] = self._windows.get(key, 0) + 1
        return self._windows[key] <= 1000


limiter = Limiter()


@functools.lru_cache(maxsize=None)
def rate(code):
    return RATES[code] * {number}


def work(key):
    _users[key] = {{"key": key}}
    _events.append(key)
    _seen.add(key)
    _queues[key[:3]].append(key)
    _counts[key[:3]] += 1
    _recent.append(key)
    _ordered[key] = len(_ordered)
    assert limiter.allow(key)
    return rate(f"code-{{len(key) % 200}}")
'''

RESET = '''\
import pytest

from app import {names}


@pytest.fixture(autouse=True)
def _reset_state():
    yield
    for module in ({names},):
        for name in ("_users", "_events", "_seen", "_queues", "_counts", "_recent", "_ordered"):
            getattr(module, name).clear()
        module.limiter._windows.clear()
        module.limiter._blocked.clear()
        module.rate.cache_clear()
'''

TEST = '''

def test_{number}():
    assert state_{module}.work("key-{number}") >= 0
'''


def generate(root: Path, tests: int, reset: bool) -> None:
    (root / "app").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "bench"\nversion = "0"\n')
    (root / "app" / "__init__.py").write_text("")
    names = [f"state_{number}" for number in range(MODULES)]
    for number, name in enumerate(names):
        (root / "app" / f"{name}.py").write_text(MODULE.format(number=number + 1))
    (root / "tests" / "conftest.py").write_text(RESET.format(names=", ".join(names)) if reset else "")
    imports = f"from app import {', '.join(names)}\n"
    for start in range(0, tests, TESTS_PER_FILE):
        numbers = range(start, min(start + TESTS_PER_FILE, tests))
        body = "".join(TEST.format(module=number % MODULES, number=number) for number in numbers)
        (root / "tests" / f"test_{start // TESTS_PER_FILE:03d}.py").write_text(imports + "\n" + body)


STATIC_CHECK = """
from pathlib import Path
from dbisolint.checker import check
from dbisolint.config import find_config_file, load_config
root = Path.cwd()
check([root], load_config(find_config_file(root), {"select": ["DBI1"]}))
"""


def timed(project: Path, *arguments: str) -> Tuple[float, float]:
    """Wall and CPU time of `python arguments...` in `project`, with this checkout's dbisolint."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # as usual: bytecode (and rewritten asserts) cached
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [sys.executable, *arguments]
    result = subprocess.run(command, cwd=project, env=environment, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{arguments} failed in {project}:\n{result.stdout}\n{result.stderr}")
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime


def run(project: Path, plugin: bool) -> Tuple[float, float]:
    options = ["--dbisolint-leaks"] if plugin else ["-p", "no:dbisolint"]
    return timed(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--tests", type=int, default=1000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for version in ("clean", "leaky"):
            project = Path(folder) / version
            generate(project, arguments.tests, reset=version == "clean")
            run(project, plugin=True)  # warm up: bytecode caches, file system
            times: Dict[bool, List[Tuple[float, float]]] = {False: [], True: []}
            for _ in range(arguments.runs):
                for plugin in (False, True):
                    times[plugin].append(run(project, plugin))
            for index, clock in enumerate(("wall", "CPU")):
                without = statistics.median(sample[index] for sample in times[False])
                with_plugin = statistics.median(sample[index] for sample in times[True])
                per_test = (with_plugin - without) / arguments.tests * 1e6
                print(
                    f"{version}, {clock} time: {arguments.tests} tests, {arguments.runs} runs each: without the "
                    f"plugin {without:.2f} s, with it {with_plugin:.2f} s (medians): "
                    f"ratio {with_plugin / without:.2f}, {per_test:.0f} µs per test"
                )
            if version == "leaky":
                static = statistics.median(timed(project, "-c", STATIC_CHECK)[0] for _ in range(arguments.runs))
                print(f"leaky: the static check alone, in a fresh process: {static:.2f} s wall time (median)")


if __name__ == "__main__":
    main()
