"""dbisolint on real codebases: it must never crash and never lose code.

Issue: "Never crash, never lose code". Not part of the test suite. Run from the repository root:

    PYTHONPATH=src python tests/benchmarks/real_codebases.py --json real.json

For each project (a PyPI sdist, downloaded into --cache-dir unless already there):
- a check through the API on a copy: files checked, findings per rule, problems by kind;
- `dbisolint --fix` and `dbisolint --fix --unsafe-fixes`, each on its own fresh copy: the files
  the fix changed, those of them that compiled before and no longer compile, and the files a
  second identical `--fix` changes (a fix must reach a fixed point at once).
A crash is an exit code of 2 or more (or death by a signal), a traceback on stderr, an
`InternalError` or `ParserCrash` problem, or a run past --timeout. The targets: no crash, no
broken file, no change by the second fix.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from speed import DEFAULT_CACHE, Sdist, fresh_copy, unpacked_sdist

PROJECTS: Dict[str, Sdist] = {
    sdist.name.lower(): sdist
    for sdist in (
        Sdist("Django", "5.2.19"),
        Sdist("SQLAlchemy", "2.0.36"),
        Sdist("sqlmodel", "0.0.50"),
        Sdist("fastapi", "0.115.12"),
        Sdist("flwr", "1.29.0"),
        Sdist("dataset", "2.0.0"),
        Sdist("sqlalchemy-utils", "0.43.0"),
        Sdist("homeassistant", "2025.4.4", "3.13"),
    )
}
CRASH_KINDS = ("InternalError", "ParserCrash")

# Check the current folder through the API (files checked is not in the CLI's output).
CHECK_PROGRAM = """
import json, sys
from pathlib import Path
from dbisolint import checker
from dbisolint.config import load_config
result = checker.check([Path(".")], load_config(None), jobs=int(sys.argv[1]), cache_dir=None)
print(json.dumps({
    "files_checked": result.files_checked,
    "findings": [[f.code, f.fix.applicability if f.fix else None] for f in result.findings],
    "problems": [[p.path, p.kind, p.message] for p in result.problems],
}))
"""


@dataclass
class Run:
    """One child process: what it said and how it ended."""

    command: str
    exit_code: int
    seconds: float
    stderr_tail: str = ""  # the end of stderr, kept when the run crashed
    timed_out: bool = False

    @property
    def crash(self) -> Optional[str]:
        if self.timed_out:
            return f"{self.command}: timed out"
        if self.exit_code >= 2 or self.exit_code < 0:
            return f"{self.command}: exit code {self.exit_code}"
        if "Traceback (most recent call last)" in self.stderr_tail:
            return f"{self.command}: traceback on stderr"
        return None


def run(command: Sequence[str], cwd: Path, timeout: float, label: str) -> Tuple[Run, str]:
    """The run, and what it printed on stdout."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(label, -1, time.perf_counter() - start, timed_out=True), ""
    seconds = time.perf_counter() - start
    crashed = done.returncode >= 2 or done.returncode < 0 or "Traceback" in done.stderr
    return Run(label, done.returncode, seconds, done.stderr[-4000:] if crashed else ""), done.stdout


def dbisolint_command(*options: str) -> List[str]:
    return [sys.executable, "-m", "dbisolint", ".", *options]


# --- what changed on disk ---------------------------------------------------------------------

Snapshot = Dict[str, str]  # relative path -> digest of the content


def snapshot(root: Path) -> Snapshot:
    return {
        str(path.relative_to(root)): hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def changed_files(before: Snapshot, after: Snapshot) -> List[str]:
    """Files added, removed or rewritten."""
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def compiles(path: Path) -> bool:
    """Whether CPython (this interpreter) compiles the file; a missing file does not."""
    try:
        source = path.read_bytes()
    except OSError:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like are not our concern
        try:
            compile(source, str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
    return True


# --- one project ------------------------------------------------------------------------------


@dataclass
class FixOutcome:
    """`--fix` (or `--fix --unsafe-fixes`) on a fresh copy, then the same again."""

    mode: str
    files_changed: List[str] = field(default_factory=list)
    broken: List[str] = field(default_factory=list)  # compiled before the fix, not after
    not_compiling_before: List[str] = field(default_factory=list)  # changed, but did not compile before either
    second_fix_changed: List[str] = field(default_factory=list)
    remaining_findings: int = 0
    problems: Dict[str, int] = field(default_factory=dict)  # kind -> count, after the first fix
    runs: List[Run] = field(default_factory=list)


@dataclass
class ProjectReport:
    name: str
    version: str
    files_checked: int = 0
    findings: Dict[str, int] = field(default_factory=dict)  # rule -> count, before any fix
    fixable: Dict[str, int] = field(default_factory=dict)  # applicability -> count
    problems: Dict[str, int] = field(default_factory=dict)  # kind -> count, before any fix
    crashes: List[str] = field(default_factory=list)
    fixes: List[FixOutcome] = field(default_factory=list)
    check_seconds: float = 0.0


def check_before(report: ProjectReport, source: Path, scratch: Path, jobs: int, timeout: float) -> None:
    copy = fresh_copy(source, scratch)
    checked, output = run([sys.executable, "-c", CHECK_PROGRAM, str(jobs)], copy, timeout, "API check")
    report.check_seconds = checked.seconds
    if checked.crash or checked.exit_code != 0:
        report.crashes.append(checked.crash or f"API check: exit code {checked.exit_code}")
        return
    answer = json.loads(output)
    report.files_checked = answer["files_checked"]
    report.findings = dict(sorted(Counter(code for code, _ in answer["findings"]).items()))
    report.fixable = dict(Counter(applicability or "none" for _, applicability in answer["findings"]))
    report.problems = dict(Counter(kind for _, kind, _ in answer["problems"]))
    report.crashes += [f"{kind} in {path}: {message}" for path, kind, message in answer["problems"] if kind in CRASH_KINDS]


def fix_copy(source: Path, scratch: Path, unsafe: bool, jobs: int, timeout: float) -> FixOutcome:
    mode = "--fix --unsafe-fixes" if unsafe else "--fix"
    outcome = FixOutcome(mode)
    copy = fresh_copy(source, scratch)
    cache = scratch / f"cache{'-unsafe' if unsafe else ''}"
    options = ["--fix", *(["--unsafe-fixes"] if unsafe else []), "--output-format", "json", "--jobs", str(jobs), "--cache-dir", str(cache)]
    original = snapshot(copy)
    first, output = run(dbisolint_command(*options), copy, timeout, mode)
    outcome.runs.append(first)
    if first.crash:
        return outcome
    fixed = snapshot(copy)
    outcome.files_changed = changed_files(original, fixed)
    for relative in outcome.files_changed:
        if relative.endswith(".py") and not compiles(copy / relative):
            was_fine = relative not in original or compiles(source / relative)
            (outcome.broken if was_fine else outcome.not_compiling_before).append(relative)
    items = json.loads(output or "[]")
    outcome.remaining_findings = sum(item["code"] is not None for item in items)
    outcome.problems = dict(Counter(item["message"].split(":", 1)[0] for item in items if item["code"] is None))
    second, _ = run(dbisolint_command(*options), copy, timeout, f"second {mode}")
    outcome.runs.append(second)
    if not second.crash:
        outcome.second_fix_changed = changed_files(fixed, snapshot(copy))
    return outcome


def check_project(sdist: Sdist, cache: Path, jobs: int, timeout: float) -> ProjectReport:
    source = unpacked_sdist(sdist, cache)
    report = ProjectReport(sdist.name, sdist.version)
    with tempfile.TemporaryDirectory(prefix=f"dbisolint-real-{sdist.name}-") as folder:
        scratch = Path(folder)
        print(f"  {sdist.name} {sdist.version}: check", file=sys.stderr, flush=True)
        check_before(report, source, scratch, jobs, timeout)
        for unsafe in (False, True):
            print(f"  {sdist.name} {sdist.version}: --fix{' --unsafe-fixes' if unsafe else ''}", file=sys.stderr, flush=True)
            outcome = fix_copy(source, scratch, unsafe, jobs, timeout)
            report.fixes.append(outcome)
            report.crashes += [r.crash for r in outcome.runs if r.crash]
            report.crashes += [f"{outcome.mode}: {count} {kind}" for kind, count in outcome.problems.items() if kind in CRASH_KINDS]
    return report


# --- reporting --------------------------------------------------------------------------------


def counts(mapping: Dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in mapping.items()) or "-"


def table(reports: Sequence[ProjectReport]) -> str:
    header = (
        f"{'project':<28} {'files':>6} {'check s':>8} {'crashes':>7} {'findings':>8} {'changed safe/unsafe':>19}"
        f" {'broken':>6} {'2nd fix':>7} {'left safe/unsafe':>16}"
    )
    lines = [header]
    for report in reports:
        safe, unsafe = report.fixes
        lines.append(
            f"{report.name + ' ' + report.version:<28} {report.files_checked:>6} {report.check_seconds:>8.1f}"
            f" {len(report.crashes):>7} {sum(report.findings.values()):>8}"
            f" {f'{len(safe.files_changed)}/{len(unsafe.files_changed)}':>19}"
            f" {len(safe.broken) + len(unsafe.broken):>6}"
            f" {len(safe.second_fix_changed) + len(unsafe.second_fix_changed):>7}"
            f" {f'{safe.remaining_findings}/{unsafe.remaining_findings}':>16}"
        )
    lines.append("")
    for report in reports:
        lines.append(f"{report.name} {report.version}:")
        lines.append(f"  findings before the fix: {counts(report.findings)}; fixes: {counts(report.fixable)}")
        lines.append(f"  problems before the fix: {counts(report.problems)}")
        for outcome in report.fixes:
            seconds = " + ".join(f"{r.seconds:.1f}" for r in outcome.runs)
            lines.append(
                f"  {outcome.mode}: changed {outcome.files_changed or '-'}; problems after: {counts(outcome.problems)}; run s: {seconds}"
            )
            for label, paths in (
                ("BROKEN (compiled before, not after)", outcome.broken),
                ("changed, but did not compile before the fix either", outcome.not_compiling_before),
                ("CHANGED AGAIN by the second fix", outcome.second_fix_changed),
            ):
                if paths:
                    lines.append(f"    {label}: {paths}")
        for crash in report.crashes:
            lines.append(f"  CRASH: {crash}")
    lines.append("")
    lines += [f"{'PASS' if ok else 'FAIL'}  {what}" for what, ok in verdicts(reports)]
    return "\n".join(lines) + "\n"


def verdicts(reports: Sequence[ProjectReport]) -> List[Tuple[str, bool]]:
    outcomes = [outcome for report in reports for outcome in report.fixes]
    return [
        ("no crash", all(not report.crashes for report in reports)),
        ("no fixed file that stopped compiling", all(not outcome.broken for outcome in outcomes)),
        ("a second --fix changes nothing", all(not outcome.second_fix_changed for outcome in outcomes)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", action="append", choices=sorted(PROJECTS), help="project to run (repeatable; default: all)")
    parser.add_argument("--skip", action="append", default=[], choices=sorted(PROJECTS), help="project to leave out (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="dbisolint's --jobs (default: 2)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a run counts as hung (default: 1800)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"downloads (default: {DEFAULT_CACHE})")
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args()

    names = [name for name in args.project or PROJECTS if name not in args.skip]
    reports = [check_project(PROJECTS[name], args.cache_dir, args.jobs, args.timeout) for name in names]
    print(table(reports), end="")
    if args.json:
        args.json.write_text(json.dumps([asdict(report) for report in reports], indent=2), encoding="utf-8")
    sys.exit(0 if all(ok for _, ok in verdicts(reports)) else 1)


if __name__ == "__main__":
    main()
