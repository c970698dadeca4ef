"""The `dbisolint` command: a thin click layer over the API in checker.py."""

from __future__ import annotations

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


def _codes(values: Tuple[str, ...]) -> Optional[List[str]]:
    """`--select A,B --select C` -> [A, B, C]; None when the option was not given."""
    if not values:
        return None
    return [code for value in values for code in value.split(",") if code.strip()]


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
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
@click.option("--statistics", is_flag=True, help="Print only a count of findings per rule.")
@click.option("--show-fixes", is_flag=True, help="After --fix, list the fixes applied, per file and rule.")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings only: no summary or hints.")
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
    statistics: bool,
    show_fixes: bool,
    quiet: bool,
    config_path: Optional[Path],
) -> None:
    """Check PATHS (default: the current folder) and optionally fix what is found."""
    from . import checker, output
    from .config import ConfigError, find_config_file, load_config
    from .edits import unified_diff

    overrides: Dict[str, Any] = {"select": _codes(select), "ignore": _codes(ignore), "extend-select": _codes(extend_select)}
    if output_format is not None:
        overrides["output-format"] = output_format
    config_file = config_path or find_config_file(Path.cwd())
    try:
        config = load_config(config_file, overrides)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    chosen_format = config.output_format
    if output_format is None and os.environ.get("GITHUB_ACTIONS") == "true" and not _sets_output_format(config_file):
        chosen_format = "github"  # as ruff does: annotations on the pull request, without any setup
    paths = list(paths) or [Path(".")]

    if diff:
        result = checker.check(paths, config, fix="unsafe" if unsafe_fixes else "safe")
        for path, (before, after) in sorted(result.changes.items()):
            click.echo(unified_diff(path, _text(before), _text(after)), nl=False)
        for problem in result.problems:
            click.echo(output.problem_line(problem), err=True)
        fixable = sum(1 for f in result.findings if f.path in result.changes and output.fixable(f, unsafe_fixes))
        if not quiet:
            click.echo(f"Would fix {fixable} error{'s' if fixable != 1 else ''}.", err=True)
        sys.exit(_exit_code(bool(result.changes), result.problems, exit_zero))

    planned = None
    if fix:
        if show_fixes:  # what the fix will apply; CheckResult only counts it (see _fixes_applied)
            planned = checker.check(paths, config, fix="unsafe" if unsafe_fixes else "safe")
        result = checker.fix(paths, config, unsafe=unsafe_fixes)
    else:
        result = checker.check(paths, config)

    if statistics:
        text = output.statistics(result.findings, result.problems, unsafe_fixes, as_json=chosen_format == "json")
    else:
        text = output.FORMATS[chosen_format](result.findings, result.problems, unsafe_fixes, None)
        if chosen_format in output.TEXT_FORMATS and not quiet:
            text = _with_closing_lines(text, chosen_format, result, planned, unsafe_fixes)
    if text:
        click.echo(text)
    sys.exit(_exit_code(bool(result.findings), result.problems, exit_zero))


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _with_closing_lines(text: str, chosen_format: str, result: Any, planned: Any, unsafe: bool) -> str:
    """The findings, the fixes applied (--show-fixes), then the summary, as ruff lays them out."""
    from . import output

    fixes = output.fix_summary(_fixes_applied(planned, result, unsafe)) if planned is not None else ""
    closing = output.summary(result.findings, result.problems, unsafe, result.fixed)
    # full's findings are blocks apart, and what follows them too; a list of fixes stands apart.
    apart = "\n\n" if chosen_format == "full" or fixes else "\n"
    return apart.join(block for block in (text, fixes, closing) if block)


def _fixes_applied(planned: Any, result: Any, unsafe: bool) -> List[Any]:
    """The findings `checker.fix` counted as fixed: applicable ones in the files it wrote."""
    from .output import fixable

    return [f for f in planned.findings if f.path in result.changes and fixable(f, unsafe)]


def _sets_output_format(config_file: Optional[Path]) -> bool:
    """Whether the config file chooses `output-format` (Config cannot tell it from the default)."""
    from .config import _read_toml

    if config_file is None:
        return False
    document = _read_toml(config_file)
    table = document if config_file.name == "dbisolint.toml" else document.get("tool", {}).get("dbisolint", {})
    return "output-format" in table


def _exit_code(found: bool, problems: Sequence[Any], exit_zero: bool) -> int:
    if any(problem.kind == "InternalError" for problem in problems):
        return EXIT_ERROR
    if exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if found or problems else EXIT_CLEAN


@main.command()
@click.argument("code")
def rule(code: str) -> None:
    """Show the documentation of rule CODE (for example DBI001)."""
    from .rules import RULES_BY_CODE

    found = RULES_BY_CODE.get(code.upper())
    if found is None:
        raise click.BadParameter(f"unknown rule {code!r}; known: {', '.join(RULES_BY_CODE)}", param_hint="CODE")
    click.echo(f"# {found.name} ({found.code})\n")
    click.echo(found.documentation())
