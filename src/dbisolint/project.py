"""Where things are: the files to check, the project they belong to, and their module names."""

from __future__ import annotations

import configparser
import fnmatch
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pathspec

from .model import Config, ModuleName


PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")
PYTHON_SUFFIXES = (".py", ".pyi")
# ruff's default excludes, and our own cache.
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints", ".mypy_cache",
    ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv",
    ".vscode", "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules", "site-packages",
    "venv", ".dbisolint_cache",
)  # fmt: skip


def project_root(folder: Path) -> Path:
    """The nearest folder from `folder` up holding pyproject.toml, setup.cfg or .git (else `folder`)."""
    return _marked_folder(folder) or folder


@lru_cache(maxsize=None)
def _marked_folder(folder: Path) -> Optional[Path]:
    if any((folder / marker).exists() for marker in PROJECT_MARKERS):
        return folder
    return None if folder.parent == folder else _marked_folder(folder.parent)  # each folder asked once


def display_path(path: Path) -> str:
    """Paths are shown relative to the current folder when they are inside it, as ruff does."""
    return _relative(str(path), _prefix(os.getcwd()))  # no Path built per file


@dataclass(frozen=True)
class Project:
    root: Path
    src_roots: Tuple[Path, ...]
    # Where the test suite is, when stated (dbisolint's `tests`, else pytest's `testpaths`);
    # empty: the usual places (tests/, test/, test_*.py, *_test.py, conftest.py).
    test_paths: Tuple[Path, ...] = ()
    src_configured: bool = False  # `src` given in the configuration: module names follow it

    @property
    def root_prefix(self) -> str:
        return _prefix(self.root)

    @classmethod
    def of(cls, path: Path, config: Config) -> "Project":
        """The project of a resolved path."""
        return cls.of_folder(path if path.is_dir() else path.parent, config)

    @classmethod
    def of_folder(cls, folder: Path, config: Config) -> "Project":
        return _project(project_root(folder), config.src, config.tests, config.root)

    def is_test(self, path: Path) -> bool:
        """`path`: absolute and resolved, as the file finder gives it."""
        if path.name == "conftest.py":
            return True
        if self.test_paths:
            return any(path == test or test in path.parents for test in self.test_paths)
        text = str(path)
        folders = text[len(self.root_prefix) :].split(os.sep)[:-1] if text.startswith(self.root_prefix) else ()
        return any(folder in ("tests", "test") for folder in folders) or is_test_file_name(path.name)

    def conftest_for_fix(self) -> Path:
        """Where the fixture that resets module state goes: the conftest.py of the one test
        folder, or of the project root when the tests are elsewhere or in several folders."""
        folders = [path for path in self.test_paths if path.is_dir()] or [
            path for path in (self.root / "tests", self.root / "test") if path.is_dir()
        ]
        return (folders[0] if len(folders) == 1 else self.root) / "conftest.py"

    def module_name(self, path: Path) -> ModuleName:
        """`src/pkg/mod.py` -> pkg.mod; `pkg/__init__.py` -> pkg (a package). `path`: resolved.

        A module inside a package is named by its packages (`py/flwr/core.py` -> flwr.core, as
        it is imported); others, and everything when `src` is configured, by the source root."""
        if not self.src_configured and is_package(path.parent):
            return _package_module(path)
        for src_root in self.src_roots:
            try:
                relative = path.relative_to(src_root)
            except ValueError:
                continue
            return _module_from_parts(relative.with_suffix("").parts)
        return _package_module(path)


@lru_cache(maxsize=None)
def _project(root: Path, src: Tuple[str, ...], tests: Tuple[str, ...], config_root: str) -> Project:
    base = Path(config_root)
    src_roots = tuple((base / folder).resolve() for folder in src) if src else (root / "src", root)
    if tests:
        test_paths = tuple((base / test).resolve() for test in tests)
    else:
        test_paths = tuple((root / test).resolve() for test in pytest_testpaths(root))
    return Project(root, src_roots, test_paths, bool(src))


def pytest_option(root: Path, key: str) -> Tuple[Tuple[str, ...], str]:
    """A list option of pytest's configuration (`testpaths`, pytest-env's `env`), and the file it
    is in, from the first of pytest's config files that has a pytest section."""
    from .config import ConfigError, read_toml

    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            section = read_toml(pyproject).get("tool", {}).get("pytest", {}).get("ini_options")
        except ConfigError:  # a broken pyproject.toml is reported by the config loader, not here
            section = None
        if section is not None:
            value = section.get(key, ())
            return ((value,) if isinstance(value, str) else tuple(str(item) for item in value)), "pyproject.toml"
    for name, header in (("pytest.ini", "pytest"), ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        ini = root / name
        if ini.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read(ini, encoding="utf-8")
            except (configparser.Error, UnicodeDecodeError):
                continue
            if parser.has_section(header):
                raw = parser.get(header, key, fallback="")
                return tuple(raw.split() if key == "testpaths" else filter(None, map(str.strip, raw.splitlines()))), name
    return (), ""


def pytest_testpaths(root: Path) -> Tuple[str, ...]:
    return pytest_option(root, "testpaths")[0]


def pytest_env(root: Path) -> Tuple[Tuple[str, str, str], ...]:
    """pytest-env's `env` entries (`NAME=value`, with its `D:`/`R:` flags) as (name, value, file)."""
    entries, where = pytest_option(root, "env")
    found = []
    for entry in entries:
        name, _, value = entry.partition("=")
        while name[:2] in ("D:", "R:"):
            name = name[2:]
        if value:
            found.append((name.strip(), value.strip(), where))
    return tuple(found)


def _package_module(path: Path) -> ModuleName:
    return _module_from_parts((*_packages(path.parent), path.stem))


@lru_cache(maxsize=None)
def _packages(folder: Path) -> Tuple[str, ...]:
    """The packages `folder` lies in, outermost first, itself last (empty: it is no package)."""
    if not is_package(folder) or folder == folder.parent:
        return ()
    return (*_packages(folder.parent), folder.name)


@lru_cache(maxsize=None)
def is_package(folder: Path) -> bool:
    return (folder / "__init__.py").exists()


def _module_from_parts(parts: Tuple[str, ...]) -> ModuleName:
    if parts and parts[-1] == "__init__":
        return ModuleName(".".join(parts[:-1]), is_package=True)
    return ModuleName(".".join(parts))


def path_matches(path: Path, pattern: str, root: Path) -> bool:
    """ruff's exclude semantics: a pattern without `/` matches the file's or folder's name, one
    with `/` matches the path relative to `root` (the config's folder) or one of its parents."""
    return _Patterns((pattern,), root).match(path)


class _Patterns:
    """Exclude patterns compiled once: name patterns into one expression, path patterns into another."""

    def __init__(self, patterns: Sequence[str], root: Path) -> None:
        self.root_prefix = _prefix(root)
        names = [p.rstrip("/") for p in patterns if "/" not in p.rstrip("/")]
        paths = [p.strip("/") for p in patterns if "/" in p.rstrip("/")]
        self.names = re.compile("|".join(fnmatch.translate(p) for p in names)) if names else None
        self.paths = (
            re.compile("|".join(fnmatch.translate(p) + "|" + fnmatch.translate(p + "/*") for p in paths)) if paths else None
        )

    def match(self, path: Path) -> bool:
        resolved = path if path.is_absolute() else path.resolve()
        return self.match_absolute(str(resolved), path.name)

    def match_absolute(self, path: str, name: str) -> bool:
        """`path`: absolute, as a string (the file finder's walk builds no Path per entry)."""
        if self.names is not None and self.names.match(name):
            return True
        if self.paths is None:
            return False
        return bool(self.paths.match(_relative(path, self.root_prefix).replace(os.sep, "/")))


def _relative(path: str, prefix: str) -> str:
    """`path` relative to the folder whose path plus separator is `prefix`, else `path` itself."""
    return path[len(prefix) :] if path.startswith(prefix) else path


def _prefix(folder: Union[Path, str]) -> str:
    return os.path.join(str(folder), "")


class FileFinder:
    """Finds the Python files under the given paths, skipping excluded and git-ignored ones."""

    def __init__(self, config: Config) -> None:
        self.exclude = tuple(config.exclude or DEFAULT_EXCLUDE) + tuple(config.extend_exclude)
        self.force_exclude = config.force_exclude
        self.patterns = _Patterns(self.exclude, Path(config.root).resolve())
        self._walked: Dict[Path, List[Tuple[Path, bool]]] = {}
        # folder -> the .gitignore files that apply in it: (their folder plus separator, spec)
        self._gitignores: Dict[str, List[Tuple[str, pathspec.PathSpec]]] = {}

    def excluded(self, path: Path) -> bool:
        return self.patterns.match(path)

    def _ignore_specs(self, folder: str) -> List[Tuple[str, pathspec.PathSpec]]:
        if folder not in self._gitignores:
            parent = os.path.dirname(folder)
            specs = list(self._ignore_specs(parent)) if parent != folder else []
            gitignore = os.path.join(folder, ".gitignore")
            if os.path.isfile(gitignore):
                try:
                    with open(gitignore, encoding="utf-8", errors="replace") as lines:
                        specs.append((os.path.join(folder, ""), pathspec.GitIgnoreSpec.from_lines(lines.read().splitlines())))
                except OSError:
                    pass
            self._gitignores[folder] = specs
        return self._gitignores[folder]

    def _gitignored(self, folder: str, path: str, is_dir: bool) -> bool:
        """`path`: an entry of `folder`, both absolute strings."""
        for prefix, spec in self._ignore_specs(folder):
            if spec.match_file(_relative(path, prefix).replace(os.sep, "/") + ("/" if is_dir else "")):
                return True
        return False

    def files(self, paths: Sequence[Path], within_project: bool = False) -> Iterator[Path]:
        """Files named explicitly are yielded as they are, unless `force_exclude` and excluded
        (pre-commit names every changed file); folders are walked (`within_project`: without
        descending into nested projects, folders with their own pyproject.toml)."""
        for path in paths:
            if path.is_dir():
                root = path.resolve()
                if root not in self._walked:  # walked once; the state rules ask for the project again
                    self._walked[root] = [(Path(found), nested) for found, nested in self._walk(str(root), False)]
                yield from (found for found, nested in self._walked[root] if not (within_project and nested))
            elif not (self.force_exclude and self._excluded_or_under_excluded(path.resolve())):
                yield path.resolve()

    def _excluded_or_under_excluded(self, path: Path) -> bool:
        return any(self.excluded(folder) for folder in [path, *path.parents] if folder != folder.parent)

    def _walk(self, folder: str, nested: bool, top: bool = True) -> Iterator[Tuple[str, bool]]:
        """(path, whether it lies in a nested project) of each Python file under `folder`."""
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            return
        if not top:
            names = {entry.name for entry in entries}
            if "pyvenv.cfg" in names:
                return  # a virtual environment of any name
            nested = nested or not names.isdisjoint(PROJECT_MARKERS)
        for entry in entries:
            try:
                if entry.is_symlink():
                    continue  # never follow links out of the tree, nor into loops
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if not is_dir and not entry.name.endswith(PYTHON_SUFFIXES):
                continue
            if self.patterns.match_absolute(entry.path, entry.name) or self._gitignored(folder, entry.path, is_dir):
                continue
            if not is_dir:
                yield entry.path, nested
            else:
                yield from self._walk(entry.path, nested, top=False)


def is_test_file_name(name: str) -> bool:
    return name == "conftest.py" or (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py")

