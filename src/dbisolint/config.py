"""Configuration: `[tool.dbisolint]` in pyproject.toml or a `dbisolint.toml`, validated strictly."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

from .model import Config, RuleSelection

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

OUTPUT_FORMATS = ("concise", "full", "json", "json-lines", "github", "gitlab", "junit", "sarif")


class ConfigError(Exception):
    """A configuration mistake: reported in one line, exit code 2."""


# key in the file -> (Config field, expected kind)
_KEYS: Dict[str, Tuple[str, str]] = {
    "select": ("select", "codes"),  # these three form one RuleSelection layer
    "ignore": ("ignore", "codes"),
    "extend-select": ("extend_select", "codes"),
    "per-file-ignores": ("per_file_ignores", "table-of-codes"),
    "exclude": ("exclude", "strings"),
    "extend-exclude": ("extend_exclude", "strings"),
    "src": ("src", "strings"),
    "tests": ("tests", "strings"),
    "engine-factories": ("engine_factories", "strings"),
    "container-constructors": ("container_constructors", "strings"),
    "include-weak-containers": ("weak_containers_are_state", "bool"),
    "include-test-state": ("check_test_state", "bool"),
    "output-format": ("output_format", "format"),
    "force-exclude": ("force_exclude", "bool"),
    "max-file-kb": ("max_file_kb", "int"),
}


def known_code_prefix(prefix: str) -> bool:
    from .rules import RULES_BY_CODE

    return any(code.startswith(prefix) for code in RULES_BY_CODE) if prefix else False


def validate_codes(values: Iterable[str], where: str) -> Tuple[str, ...]:
    codes = []
    for value in values:
        code = value.strip().upper()
        if code != "ALL" and not known_code_prefix(code):
            raise ConfigError(f"{where}: unknown rule code or prefix {value!r}")
        codes.append("DBI" if code == "ALL" else code)
    return tuple(codes)


def _convert(key: str, kind: str, value: Any, where: str) -> Any:
    name = f"{where}: `{key}`"
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{name} must be a whole number of kilobytes (0: no limit), not {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, not {value!r}")
        return value
    if kind == "format":
        if value not in OUTPUT_FORMATS:
            raise ConfigError(f"{name} must be one of {', '.join(OUTPUT_FORMATS)}, not {value!r}")
        return value
    if kind == "table-of-codes":
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a table of pattern = [codes]")
        return tuple(
            (pattern, validate_codes(_strings(codes, f"{name}.{pattern}"), f"{name}.{pattern}"))
            for pattern, codes in value.items()
        )
    strings = _strings(value, name)
    return validate_codes(strings, name) if kind == "codes" else strings


def _strings(value: Any, name: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{name} must be a list of strings")
    return tuple(value)


def find_config_file(start: Path) -> Optional[Path]:
    """The nearest dbisolint.toml, or pyproject.toml with a [tool.dbisolint] table, from `start` up."""
    for folder in [start, *start.parents]:
        candidate = folder / "dbisolint.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                if "dbisolint" in read_toml(candidate).get("tool", {}):
                    return candidate
            except ConfigError:
                return candidate  # report the broken file rather than skip past it
    return None


def read_toml(path: Path) -> Dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def load_config(path: Optional[Path], overrides: Optional[Dict[str, Any]] = None) -> Config:
    """Read the settings of `path` (none: the defaults), then apply command-line `overrides`.

    `overrides` uses the file's keys; each command-line value wins over the file's.
    """
    table: Dict[str, Any] = {}
    root = Path.cwd()
    where = "command line"
    if path is not None:
        document = read_toml(path)
        table = document if path.name == "dbisolint.toml" else document.get("tool", {}).get("dbisolint", {})
        root = path.parent.resolve()
        where = str(path)
    config = Config(root=str(root))
    config = _apply(config, table, where)
    return _apply(config, overrides or {}, "command line")


def _apply(config: Config, table: Dict[str, Any], where: str) -> Config:
    changes: Dict[str, Any] = {}
    layer: Dict[str, Any] = {}
    for key, value in table.items():
        if value is None:  # an option not given on the command line
            continue
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{where}: unknown key `{key}` (known: {known})")
        field_name, kind = _KEYS[key]
        target = layer if field_name in ("select", "ignore", "extend_select") else changes
        target[field_name] = _convert(key, kind, value, where)
    if layer:
        changes["rules"] = (*config.rules, RuleSelection(**layer))
    return replace(config, **changes)

