"""The `dbisolint` command: a thin click layer over the API in checker.py."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import click

from . import __version__
from .config import OUTPUT_FORMATS

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _CheckByDefault(click.Group):
    """`dbisolint PATHS` means `dbisolint check PATHS`, as `ruff PATHS` once meant `ruff check`."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_CheckByDefault, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dbisolint", message="%(prog)s %(version)s")
def main() -> None:
    """Find and fix test-isolation bugs: in-memory SQLite engines that cannot share one
    database, and module-level state that the tests never reset.

    `dbisolint [OPTIONS] [PATHS]...` is short for `dbisolint check [OPTIONS] [PATHS]...`.
    """


def run() -> None:
    """The console script: `main` in a process that ends with the run. Its objects die with it, so
    the cycle collector stays off and the exit skips freeing them one by one (after one file
    changed, about a fifth of the run), as mypy's fast exit does."""
    gc.disable()
    try:
        main()
        code: object = EXIT_CLEAN
    except SystemExit as stop:
        code = stop.code
    if code is None:
        code = EXIT_CLEAN
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`), or a closed stream
            pass
    os._exit(code)


def _codes(values: Tuple[str, ...]) -> Optional[List[str]]:
    """`--select A,B --select C` -> [A, B, C]; None when the option was not given."""
    if not values:
        return None
    return [code for value in values for code in value.split(",") if code.strip()]


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, allow_dash=True, path_type=Path))
@click.option("--fix", is_flag=True, help="Apply the safe fixes, then report what remains.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply (or with --diff show) the unsafe fixes.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff; write nothing (exit 1 if any).")
@click.option("--select", multiple=True, metavar="CODES", help="Rule codes or prefixes to enable (comma-separated).")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rule codes or prefixes to disable.")
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rule codes or prefixes to enable on top of the selection.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain.")
@click.option(
    "--output-format",
    type=click.Choice(OUTPUT_FORMATS),
    default=None,
    help="How to print findings (default: concise, or the config's `output-format`; "
    "github when GITHUB_ACTIONS=true and neither is given).",
)
@click.option("--force-exclude", is_flag=True, default=None, help="Apply `exclude` to files named on the command line too (for pre-commit).")
@click.option("--statistics", is_flag=True, help="Print only a count of findings per rule.")
@click.option("--show-fixes", is_flag=True, help="After --fix, list the fixes applied, per file and rule.")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings only: no summary or hints.")
@click.option("-v", "--verbose", is_flag=True, help="Show the traceback of an internal error.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes that parse files (default: the machine's cores).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the result cache.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DBISOLINT_CACHE_DIR",
    default=None,
    help="Where the result cache lives (default: .dbisolint_cache beside the configuration).",
)
@click.option(
    "--stdin-filename",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With `-` as a path: the file the text on stdin belongs to (for editors).",
)
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Use this pyproject.toml or dbisolint.toml.")
def check(
    paths: Sequence[Path],
    fix: bool,
    unsafe_fixes: bool,
    diff: bool,
    select: Tuple[str, ...],
    ignore: Tuple[str, ...],
    extend_select: Tuple[str, ...],
    exit_zero: bool,
    output_format: Optional[str],
    force_exclude: Optional[bool],
    statistics: bool,
    show_fixes: bool,
    quiet: bool,
    verbose: bool,
    jobs: Optional[int],
    no_cache: bool,
    cache_dir: Optional[Path],
    stdin_filename: Optional[Path],
    config_path: Optional[Path],
) -> None:
    """Check PATHS (default: the current folder) and optionally fix what is found."""
    from . import checker, output
    from .config import ConfigError, find_config_file, load_config
    from .edits import unified_diff

    overrides: Dict[str, Any] = {
        "select": _codes(select),
        "ignore": _codes(ignore),
        "extend-select": _codes(extend_select),
        "force-exclude": force_exclude or None,
    }
    if output_format is not None:
        overrides["output-format"] = output_format
    config_file = config_path or find_config_file(Path.cwd())
    try:
        config = load_config(config_file, overrides)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    # As ruff does: on GitHub Actions, annotations on the pull request without any setup.
    chosen_format = config.output_format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "concise")
    reads_stdin = any(str(path) == "-" for path in paths)
    paths = [path for path in paths if str(path) != "-"] if reads_stdin else (list(paths) or [Path(".")])
    from .cache import CACHE_DIR_NAME
    from .workers import default_jobs

    options: Dict[str, Any] = {
        "jobs": jobs or default_jobs(),
        "cache_dir": None if no_cache else (cache_dir or Path(config.root) / CACHE_DIR_NAME),
        "progress": sys.stderr.isatty() and not quiet,
    }
    if reads_stdin:
        stdin_path = stdin_filename or Path("stdin.py")
        options["sources"] = {stdin_path: sys.stdin.buffer.read()}
        if fix:  # as ruff does: the fixed text on stdout, what remains on stderr
            _fix_stdin(stdin_path, config, unsafe_fixes, options)

    if diff:
        result = checker.check(paths, config, fix="unsafe" if unsafe_fixes else "safe", edits=True, **options)
        for path, (before, after) in sorted(result.changes.items()):
            click.echo(unified_diff(path, _text(before), _text(after)), nl=False)
        for problem in result.problems:
            click.echo(output.problem_line(problem), err=True)
        fixable = len(checker.fixed_by(result.findings, set(result.changes), unsafe_fixes))
        if not quiet:
            click.echo(f"Would fix {fixable} error{'s' if fixable != 1 else ''}.", err=True)
        sys.exit(_exit_code(bool(result.changes), result.problems, exit_zero))

    if fix:
        result = checker.fix(paths, config, unsafe=unsafe_fixes, **options)
    else:
        result = checker.check(paths, config, edits=chosen_format in output.FORMATS_WITH_EDITS, **options)

    if statistics:
        text = output.statistics(result.findings, result.problems, unsafe_fixes, as_json=chosen_format == "json")
    else:
        text = output.FORMATS[chosen_format](result.findings, result.problems, unsafe_fixes, None)
        if chosen_format in output.TEXT_FORMATS and not quiet:
            text = _with_closing_lines(text, chosen_format, result, unsafe_fixes, show_fixes)
    if text:
        click.echo(text)
    if verbose:
        for problem in result.problems:
            if problem.detail:
                click.echo(f"{problem.path}: {problem.kind}:\n{problem.detail}", err=True)
    sys.exit(_exit_code(bool(result.findings), result.problems, exit_zero))


def _fix_stdin(path: Path, config: Any, unsafe: bool, options: Dict[str, Any]) -> None:
    from . import checker, output
    from .project import display_path

    planned = checker.check([], config, fix="unsafe" if unsafe else "safe", **options)
    shown = display_path(path.resolve())
    fixed = planned.changes[shown][1] if shown in planned.changes else options["sources"][path]
    sys.stdout.buffer.write(fixed)
    sys.stdout.flush()
    remaining = checker.check([], config, **{**options, "sources": {path: fixed}})
    remaining.findings = [finding for finding in remaining.findings if finding.path == shown]
    text = output.concise(remaining.findings, remaining.problems, unsafe)
    if text:
        click.echo(text, err=True)
    sys.exit(EXIT_FINDINGS if remaining.findings or remaining.problems else EXIT_CLEAN)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _with_closing_lines(text: str, chosen_format: str, result: Any, unsafe: bool, show_fixes: bool) -> str:
    """The findings, the fixes applied (--show-fixes), then the summary, as ruff lays them out."""
    from . import output

    fixes = output.fix_summary(result.fixed_findings) if show_fixes and result.fixed_findings else ""
    closing = output.summary(result.findings, result.problems, unsafe, len(result.fixed_findings))
    # full's findings are blocks apart, and what follows them too; a list of fixes stands apart.
    apart = "\n\n" if chosen_format == "full" or fixes else "\n"
    return apart.join(block for block in (text, fixes, closing) if block)


def _exit_code(found: bool, problems: Sequence[Any], exit_zero: bool) -> int:
    if any(problem.kind in ("InternalError", "ParserCrash") for problem in problems):
        return EXIT_ERROR
    if exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if found or problems else EXIT_CLEAN


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Show every rule's documentation.")
def rule(code: Optional[str], show_all: bool) -> None:
    """Show the documentation of rule CODE (for example DBI001)."""
    from .rules import ALL_RULES, RULES_BY_CODE

    if show_all:
        chosen = list(ALL_RULES)
    elif code is not None and code.upper() in RULES_BY_CODE:
        chosen = [RULES_BY_CODE[code.upper()]]
    else:
        raise click.BadParameter(f"unknown rule {code!r}; known: {', '.join(RULES_BY_CODE)}", param_hint="CODE")
    click.echo("\n\n".join(f"# {found.name} ({found.code})\n\n{found.documentation()}" for found in chosen))


@main.command()
def rules() -> None:
    """List the rules (a markdown table: code, name, what it flags, fix)."""
    from .rules import markdown_table

    click.echo(markdown_table())
