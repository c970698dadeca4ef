"""How fast dbisolint checks large real codebases, against a bare libcst parse and fixit.

Issue: "Speed: a whole large codebase in a few seconds cold, a fraction of a second warm".
Not part of the test suite. Run from the repository root, for example:

    PYTHONPATH=src python tests/benchmarks/speed.py --runs 3 --json speed.json

Every figure is measured in this run on this machine, in child processes: wall time, CPU time
(user + sys of the child and the workers it waited for, from os.wait4) and peak memory (the
largest max RSS of any one process of the run, not the sum over workers). Each figure is the
median of --runs runs; ratios are to the bare parse of the same corpus measured in the same run.
The sdists are downloaded with pip into --cache-dir (skipped when already there) and each corpus
is checked in a fresh copy, so touching files never changes the download. Python's bytecode cache
is on for the child processes (kept in --cache-dir/pycache, not beside the sources), as it is for
most users, even where PYTHONDONTWRITEBYTECODE is set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

FIXIT_VERSION = "2.2.1"
FIXIT_RULE = "fixit.rules:NoRedundantFString"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "dbisolint-bench"

# The targets. Cold is compared with the bare parse of the same corpus.
COLD_RATIO_TARGET = 0.10
WARM_SECONDS_TARGET = 0.5
ONE_FILE_SECONDS_TARGET = 1.0
PEAK_MB_TARGET = 300


@dataclass(frozen=True)
class Sdist:
    """A PyPI sdist; `python_version` is passed to pip when the package needs a newer Python than ours."""

    name: str
    version: str
    python_version: Optional[str] = None


@dataclass(frozen=True)
class Corpus:
    """A codebase to time, and the two files the incremental runs touch (paths inside the sdist)."""

    sdist: Sdist
    source_file: str
    test_file: str  # the conftest.py, or a test file when the corpus has no conftest


CORPORA: Dict[str, Corpus] = {
    "django": Corpus(Sdist("Django", "5.2.19"), "django/utils/text.py", "tests/utils_tests/test_text.py"),
    "homeassistant": Corpus(Sdist("homeassistant", "2025.4.4", "3.13"), "homeassistant/util/dt.py", "tests/test_core.py"),
}

# Parse every file named in argv[1] with libcst, one process: the baseline.
BARE_PARSE_PROGRAM = """
import sys, libcst
failed = 0
for path in open(sys.argv[1], encoding="utf-8").read().splitlines():
    try:
        libcst.parse_module(open(path, "rb").read())
    except Exception:
        failed += 1
print(failed)
"""

# Check argv[1] (the current folder) through the API with the pre-filter off; print the findings.
NO_PREFILTER_PROGRAM = """
import json, sys
from pathlib import Path
from dbisolint import checker
from dbisolint.config import load_config
result = checker.check([Path(".")], load_config(None), jobs=int(sys.argv[1]), cache_dir=None, use_prefilter=False)
findings = [[f.path, f.code, f.start.row, f.start.column, f.message] for f in result.findings]
print(json.dumps({"files_checked": result.files_checked, "findings": findings}))
"""


# --- getting the code -------------------------------------------------------------------------


def download_sdist(sdist: Sdist, cache: Path) -> Path:
    """The sdist archive, downloaded with pip unless already in the cache."""
    folder = cache / "sdists" / f"{sdist.name}-{sdist.version}"
    archives = sorted(folder.glob("*.tar.gz")) + sorted(folder.glob("*.zip"))
    if archives:
        return archives[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", str(folder)]
    if sdist.python_version:
        command += ["--python-version", sdist.python_version]
    subprocess.run([*command, f"{sdist.name}=={sdist.version}"], check=True)
    archives = sorted(folder.glob("*.tar.gz")) + sorted(folder.glob("*.zip"))
    if not archives:
        raise RuntimeError(f"pip downloaded no sdist archive for {sdist.name}=={sdist.version}")
    return archives[0]


def unpacked_sdist(sdist: Sdist, cache: Path) -> Path:
    """The sdist's top folder, unpacked once into the cache."""
    archive = download_sdist(sdist, cache)
    destination = cache / "unpacked" / f"{sdist.name}-{sdist.version}"
    if not destination.exists():
        partial = destination.with_name(destination.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if archive.name.endswith(".zip"):
            shutil.unpack_archive(archive, partial)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(partial, filter="data")
        partial.rename(destination)
    tops = [child for child in destination.iterdir() if child.is_dir()]
    return tops[0] if len(tops) == 1 else destination


def fresh_copy(source: Path, work: Path) -> Path:
    copy = work / source.name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, symlinks=True)
    return copy


def python_files(root: Path) -> List[Path]:
    return sorted(path for path in root.rglob("*.py") if path.is_file())


def fixit_executable(cache: Path) -> Path:
    """fixit in a virtualenv of its own under the cache (installed once)."""
    venv = cache / f"fixit-{FIXIT_VERSION}-venv"
    executable = venv / "bin" / "fixit"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"fixit=={FIXIT_VERSION}"], check=True)
    return executable


def use_bytecode_cache(cache: Path) -> None:
    """Let the child processes keep compiled modules, under the cache folder; then compile what a
    dbisolint run imports, with one untimed run on a tiny project."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache / "pycache")
    project = cache / "work" / "bytecode-warm-up"
    (project / "tests").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'warm-up'\n")
    (project / "app.py").write_text(
        "from sqlalchemy import create_engine\nengine = create_engine('sqlite://')\nSEEN = {}\n\n\ndef see(key):\n    SEEN[key] = 1\n"
    )
    (project / "tests" / "test_app.py").write_text("import app\n\n\ndef test_see():\n    app.see(1)\n")
    for output_format in ("concise", "json"):
        command = [sys.executable, "-m", "dbisolint", ".", "--no-cache", "--output-format", output_format]
        done = subprocess.run(command, cwd=project, capture_output=True, text=True)
        if done.returncode != 1:  # the project has findings
            raise RuntimeError(f"the bytecode warm-up run exited {done.returncode}:\n{done.stdout}{done.stderr}")


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # user + sys seconds, the child and the workers it waited for
    peak_mb: float  # max RSS of the largest single process
    exit_code: int


def run_measured(command: Sequence[str], cwd: Path, output: Path) -> Sample:
    """Run `command` with stdout in `output` (stderr goes to `output`.stderr)."""
    with open(output, "wb") as stdout, open(output.with_suffix(".stderr"), "wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=stdout, stderr=stderr)
        _pid, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, process.returncode)


@dataclass
class Scenario:
    """One way of running a tool on a corpus, and its samples."""

    name: str
    jobs: Optional[int] = None
    samples: List[Sample] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(sample, attribute) for sample in self.samples)


Finding = Tuple[str, str, int, int, str]  # path relative to the corpus, code, row, column, message


CONCISE_FINDING = re.compile(r"^(?P<path>.+?):(?P<row>\d+):(?P<column>\d+): (?P<code>DBI\d+) (?:\[\*\] )?(?P<message>.*)$")


def findings_from_output(output: Path, output_format: str, root: Path) -> List[Finding]:
    """The findings in dbisolint's concise or JSON output run in `root` (problems are left out)."""
    text = output.read_text(encoding="utf-8")
    if output_format == "json":
        items = [item for item in json.loads(text or "[]") if item["code"] is not None]
        found = [(item["filename"], item["code"], item["location"]["row"], item["location"]["column"], item["message"]) for item in items]
    else:
        matches = filter(None, map(CONCISE_FINDING.match, text.splitlines()))
        found = [(m["path"], m["code"], int(m["row"]), int(m["column"]), m["message"]) for m in matches]
    return sorted((os.path.relpath(root / path, root), code, row, column, message) for path, code, row, column, message in found)


def touch(path: Path, counter: List[int]) -> None:
    """Append a comment, a different one each time, so the file's text really changes."""
    counter[0] += 1
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(f"\n# touched by the dbisolint speed benchmark ({counter[0]})\n")


@dataclass
class CorpusResult:
    name: str
    version: str
    python_files: int
    lines: int
    scenarios: Dict[str, Scenario] = field(default_factory=dict)
    findings_by_run: Dict[str, int] = field(default_factory=dict)  # run -> number of findings
    mismatches: Dict[str, List[str]] = field(default_factory=dict)  # run -> up to 10 findings it lacks (-) or adds (+)
    files_checked: Optional[int] = None  # from the API run with the pre-filter off
    load_averages: List[float] = field(default_factory=list)  # the 1-minute load average as each round starts

    def record(self, name: str, sample: Sample, jobs: Optional[int] = None) -> None:
        self.scenarios.setdefault(name, Scenario(name, jobs)).samples.append(sample)


class Bench:
    """The runs on one corpus copy."""

    def __init__(self, corpus: Corpus, root: Path, work: Path, fixit: Optional[Path]) -> None:
        self.corpus = corpus
        self.root = root
        self.work = work
        self.fixit = fixit
        self.touches = [0]
        self.reference: Optional[List[Finding]] = None
        files = python_files(root)
        self.file_list = work / "python-files.txt"
        self.file_list.write_text("\n".join(map(str, files)), encoding="utf-8")
        lines = sum(path.read_bytes().count(b"\n") for path in files)
        self.result = CorpusResult(corpus.sdist.name, corpus.sdist.version, len(files), lines)

    def dbisolint(self, name: str, jobs: int, options: Sequence[str], output_format: str = "concise") -> None:
        output = self.work / "dbisolint-output.txt"
        command = [sys.executable, "-m", "dbisolint", ".", "--output-format", output_format, "--jobs", str(jobs), *options]
        sample = run_measured(command, self.root, output)
        if sample.exit_code not in (0, 1):
            stderr = output.with_suffix(".stderr").read_text(errors="replace")
            raise RuntimeError(f"{name}: dbisolint exited {sample.exit_code}\n{stderr[-3000:]}")
        self.result.record(name, sample, jobs)
        self.compare(name, findings_from_output(output, output_format, self.root))

    def compare(self, run: str, findings: List[Finding]) -> None:
        self.result.findings_by_run[run] = len(findings)
        if self.reference is None:
            self.reference = findings
        elif findings != self.reference and run not in self.result.mismatches:
            lacking, added = set(self.reference) - set(findings), set(findings) - set(self.reference)
            shown = [f"- {item}" for item in sorted(lacking)] + [f"+ {item}" for item in sorted(added)]
            self.result.mismatches[run] = shown[:10]

    def one_round(self, jobs_values: Sequence[int]) -> None:
        """Every scenario once; rounds are repeated for the medians."""
        self.result.load_averages.append(round(os.getloadavg()[0], 2))
        test_kind = "conftest.py" if Path(self.corpus.test_file).name == "conftest.py" else "a test file"
        for jobs in jobs_values:
            self.dbisolint(f"cold, --no-cache, -j{jobs}", jobs, ["--no-cache"])
            cache = self.work / "dbisolint-cache"
            shutil.rmtree(cache, ignore_errors=True)
            self.dbisolint(f"cold, empty cache dir, -j{jobs}", jobs, ["--cache-dir", str(cache)])
            self.dbisolint(f"warm, nothing changed, -j{jobs}", jobs, ["--cache-dir", str(cache)])
            touch(self.root / self.corpus.source_file, self.touches)
            self.dbisolint(f"warm, one source file changed, -j{jobs}", jobs, ["--cache-dir", str(cache)])
            touch(self.root / self.corpus.test_file, self.touches)
            self.dbisolint(f"warm, {test_kind} changed, -j{jobs}", jobs, ["--cache-dir", str(cache)])
        # JSON output carries each fix's edits: the first JSON run after concise ones computes
        # them (the files with fixes are parsed whole), the next finds them in the cache.
        jobs = max(jobs_values)
        self.dbisolint(f"first JSON output after those, -j{jobs}", jobs, ["--cache-dir", str(cache)], "json")
        self.dbisolint(f"warm, nothing changed, JSON output, -j{jobs}", jobs, ["--cache-dir", str(cache)], "json")
        self.bare_parse()
        if self.fixit is not None:
            self.fixit_one_rule()

    def bare_parse(self) -> None:
        output = self.work / "bare-parse.txt"
        sample = run_measured([sys.executable, "-c", BARE_PARSE_PROGRAM, str(self.file_list)], self.root, output)
        self.result.record("baseline: libcst.parse_module every file, 1 process", sample, 1)

    def fixit_one_rule(self) -> None:
        output = self.work / "fixit.txt"
        command = [str(self.fixit), "--rules", FIXIT_RULE, "lint", "."]
        self.result.record(f"fixit {FIXIT_VERSION}, one rule ({FIXIT_RULE})", run_measured(command, self.root, output))

    def without_prefilter(self, jobs: int) -> None:
        """Once: the API with use_prefilter=False must find what the pre-filtered runs find."""
        output = self.work / "no-prefilter.json"
        sample = run_measured([sys.executable, "-c", NO_PREFILTER_PROGRAM, str(jobs)], self.root, output)
        if sample.exit_code != 0:
            raise RuntimeError(f"pre-filter off: exited {sample.exit_code}\n{output.with_suffix('.stderr').read_text()[-3000:]}")
        answer = json.loads(output.read_text(encoding="utf-8"))
        self.result.files_checked = answer["files_checked"]
        self.result.record(f"API, pre-filter off, -j{jobs} (run once)", sample, jobs)
        findings = sorted(
            (os.path.relpath(self.root / path, self.root), code, row, column, message)
            for path, code, row, column, message in answer["findings"]
        )
        self.compare(f"API, pre-filter off, -j{jobs}", findings)


def bench_corpus(
    corpus: Corpus, cache: Path, runs: int, jobs_values: Sequence[int], with_fixit: bool, check_prefilter: bool
) -> CorpusResult:
    source = unpacked_sdist(corpus.sdist, cache)
    work = cache / "work" / f"speed-{corpus.sdist.name}"
    work.mkdir(parents=True, exist_ok=True)
    root = fresh_copy(source, work)
    for relative in (corpus.source_file, corpus.test_file):
        if not (root / relative).is_file():
            raise RuntimeError(f"{corpus.sdist.name}: {relative} is not in the sdist")
    bench = Bench(corpus, root, work, fixit_executable(cache) if with_fixit else None)
    try:
        for number in range(runs):
            print(f"  {corpus.sdist.name}: round {number + 1}/{runs}", file=sys.stderr, flush=True)
            bench.one_round(jobs_values)
        if check_prefilter:
            print(f"  {corpus.sdist.name}: pre-filter off (once)", file=sys.stderr, flush=True)
            bench.without_prefilter(max(jobs_values))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return bench.result


# --- reporting --------------------------------------------------------------------------------

BASELINE = "baseline: libcst.parse_module every file, 1 process"


def scenario_table(result: CorpusResult) -> List[str]:
    baseline = result.scenarios[BASELINE]
    base_wall, base_cpu = baseline.median("wall"), baseline.median("cpu")
    lines = [
        f"{result.name} {result.version}: {result.python_files:,} .py files, {result.lines:,} lines"
        + (f" (dbisolint checks {result.files_checked:,})" if result.files_checked is not None else ""),
        f"  load average as each round started: {', '.join(map(str, result.load_averages))} (this benchmark itself adds about 1)",
        f"  {'scenario':<58} {'runs':>4} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'wall/base':>9} {'cpu/base':>9}",
    ]
    for scenario in result.scenarios.values():
        wall, cpu = scenario.median("wall"), scenario.median("cpu")
        lines.append(
            f"  {scenario.name:<58} {len(scenario.samples):>4} {wall:>8.2f} {cpu:>8.2f} {scenario.median('peak_mb'):>8.0f}"
            f" {wall / base_wall:>9.3f} {cpu / base_cpu:>9.3f}"
        )
    return lines


def rate_lines(results: Sequence[CorpusResult]) -> List[str]:
    """Files per second and time per file and per 1,000 lines: does time grow with the files?"""
    lines = [
        "Throughput (medians; ms per file and per 1,000 lines):",
        f"  {'corpus':<15} {'scenario':<36} {'files/s':>8} {'ms/file':>8} {'ms/kline':>9}",
    ]
    for result in results:
        for name, scenario in result.scenarios.items():
            if name == BASELINE or name.startswith("cold, --no-cache"):
                wall = scenario.median("wall")
                lines.append(
                    f"  {result.name:<15} {name[:36]:<36} {result.python_files / wall:>8.0f}"
                    f" {1000 * wall / result.python_files:>8.2f} {1e6 * wall / result.lines:>9.2f}"
                )
    if len(results) == 2:
        first, second = results
        for name in first.scenarios:
            if name in second.scenarios and (name == BASELINE or name.startswith("cold, --no-cache")):
                per_file = [r.scenarios[name].median("wall") / r.python_files for r in (first, second)]
                per_line = [r.scenarios[name].median("wall") / r.lines for r in (first, second)]
                lines.append(
                    f"  {second.name}/{first.name}, {name[:36]}: per-file time x{per_file[1] / per_file[0]:.2f},"
                    f" per-line time x{per_line[1] / per_line[0]:.2f} (1.00 = linear)"
                )
    return lines


def target_lines(result: CorpusResult) -> List[str]:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    base_wall = result.scenarios[BASELINE].median("wall")
    lines = [f"Targets, {result.name}:"]
    for name, scenario in result.scenarios.items():
        wall = scenario.median("wall")
        if name.startswith("cold, --no-cache"):
            ratio = wall / base_wall
            lines.append(f"  {verdict(ratio <= COLD_RATIO_TARGET)}  {name}: {ratio:.3f} x bare parse (target <= {COLD_RATIO_TARGET:.2f})")
        elif name.startswith("warm, nothing changed"):
            lines.append(f"  {verdict(wall <= WARM_SECONDS_TARGET)}  {name}: {wall:.2f} s (target <= {WARM_SECONDS_TARGET} s)")
        elif name.startswith("warm, "):
            lines.append(f"  {verdict(wall <= ONE_FILE_SECONDS_TARGET)}  {name}: {wall:.2f} s (target <= {ONE_FILE_SECONDS_TARGET} s)")
    dbisolint_runs = [s for name, s in result.scenarios.items() if name != BASELINE and not name.startswith("fixit")]
    peak = max(sample.peak_mb for scenario in dbisolint_runs for sample in scenario.samples)
    lines.append(f"  {verdict(peak < PEAK_MB_TARGET)}  peak memory of any dbisolint run: {peak:.0f} MB (target < {PEAK_MB_TARGET} MB)")
    counts = sorted(set(result.findings_by_run.values()))
    same = not result.mismatches
    lines.append(
        f"  {verdict(same)}  same findings in every run ({', '.join(map(str, counts))} findings)"
        + ("" if same else f"; differ from the first run's: {'; '.join(result.mismatches)}")
    )
    return lines


def report(results: Sequence[CorpusResult]) -> str:
    lines: List[str] = []
    for result in results:
        lines += scenario_table(result) + [""]
    lines += rate_lines(results) + [""]
    for result in results:
        lines += target_lines(result) + [""]
    return "\n".join(lines).rstrip() + "\n"


def machine_description() -> str:
    probe = subprocess.run(
        [sys.executable, "-c", "import dbisolint, libcst, sys; print(dbisolint.__version__, dbisolint.__file__, sys.version.split()[0])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    version, location, python = probe.stdout.split()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"dbisolint {version} ({location}), Python {python}, {cores} cores, load average {os.getloadavg()[0]:.2f} at start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="corpus to time (repeatable; default: all)")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario; the medians are reported (default: 3)")
    parser.add_argument("--jobs", type=int, action="append", help="--jobs values to time (repeatable; default: 1 and 2)")
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"downloads, fixit and work copies (default: {DEFAULT_CACHE})"
    )
    parser.add_argument("--no-fixit", action="store_true", help="skip fixit (about 3.5x the bare parse per run)")
    parser.add_argument("--no-prefilter-check", action="store_true", help="skip the one run with the pre-filter off")
    parser.add_argument("--json", type=Path, help="write the raw samples here")
    args = parser.parse_args()

    use_bytecode_cache(args.cache_dir)
    header = machine_description()
    print(header, file=sys.stderr, flush=True)
    results = [
        bench_corpus(CORPORA[name], args.cache_dir, args.runs, args.jobs or [1, 2], not args.no_fixit, not args.no_prefilter_check)
        for name in args.corpus or sorted(CORPORA)
    ]
    print(header)
    print()
    print(report(results), end="")
    if args.json:
        args.json.write_text(json.dumps({"machine": header, "corpora": [asdict(result) for result in results]}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
