"""Where things are: the files to check, the project they belong to, and their module names."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import pathspec

from .model import Config
from .names import ModuleName

PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")
PYTHON_SUFFIXES = (".py", ".pyi")
# ruff's default excludes, and our own cache.
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints", ".mypy_cache",
    ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv",
    ".vscode", "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules", "site-packages",
    "venv", ".dbisolint_cache",
)  # fmt: skip


@lru_cache(maxsize=None)
def project_root(folder: Path) -> Path:
    """The nearest folder from `folder` up holding pyproject.toml, setup.cfg or .git (else `folder`)."""
    for candidate in [folder, *folder.parents]:
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return folder


def display_path(path: Path) -> str:
    """Paths are shown relative to the current folder when they are inside it, as ruff does."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Project:
    root: Path
    src_roots: Tuple[Path, ...]

    @classmethod
    def of(cls, path: Path, config: Config) -> "Project":
        folder = path if path.is_dir() else path.parent
        root = project_root(folder.resolve())
        if config.src:
            roots = tuple((Path(config.root) / src).resolve() for src in config.src)
        else:
            roots = (root / "src", root)
        return cls(root, roots)

    def module_name(self, path: Path) -> ModuleName:
        """`src/pkg/mod.py` -> pkg.mod; `pkg/__init__.py` -> pkg (a package)."""
        path = path.resolve()
        for src_root in self.src_roots:
            try:
                relative = path.relative_to(src_root)
            except ValueError:
                continue
            return _module_from_parts(relative.with_suffix("").parts)
        # Outside every source root: climb while the folder is a package.
        parts = [path.stem]
        folder = path.parent
        while (folder / "__init__.py").exists() and folder != folder.parent:
            parts.insert(0, folder.name)
            folder = folder.parent
        return _module_from_parts(tuple(parts))


def _module_from_parts(parts: Tuple[str, ...]) -> ModuleName:
    if parts and parts[-1] == "__init__":
        return ModuleName(".".join(parts[:-1]), is_package=True)
    return ModuleName(".".join(parts))


def path_matches(path: Path, pattern: str, root: Path) -> bool:
    """ruff's exclude semantics: a pattern without `/` matches the file's or folder's name, one
    with `/` matches the path relative to `root` (the config's folder) or one of its parents."""
    pattern = pattern.strip("/") if "/" in pattern.rstrip("/") else pattern.rstrip("/")
    if "/" not in pattern:
        return fnmatch.fnmatchcase(path.name, pattern)
    resolved = path if path.is_absolute() else path.resolve()
    try:
        relative = resolved.relative_to(root).as_posix()
    except ValueError:
        relative = resolved.as_posix()
    return fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, pattern + "/*")


class FileFinder:
    """Finds the Python files under the given paths, skipping excluded and git-ignored ones."""

    def __init__(self, config: Config) -> None:
        self.exclude = tuple(config.exclude or DEFAULT_EXCLUDE) + tuple(config.extend_exclude)
        self.root = Path(config.root).resolve()
        self._gitignores: Dict[Path, List[Tuple[Path, pathspec.PathSpec]]] = {}

    def excluded(self, path: Path) -> bool:
        return any(path_matches(path, pattern, self.root) for pattern in self.exclude)

    def _ignore_specs(self, folder: Path) -> List[Tuple[Path, pathspec.PathSpec]]:
        if folder not in self._gitignores:
            parent = folder.parent
            specs = list(self._ignore_specs(parent)) if parent != folder else []
            gitignore = folder / ".gitignore"
            if gitignore.is_file():
                try:
                    lines = gitignore.read_text(encoding="utf-8", errors="replace").splitlines()
                    specs.append((folder, pathspec.GitIgnoreSpec.from_lines(lines)))
                except OSError:
                    pass
            self._gitignores[folder] = specs
        return self._gitignores[folder]

    def gitignored(self, path: Path, is_dir: bool) -> bool:
        for base, spec in self._ignore_specs(path.parent):
            relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
            if spec.match_file(relative):
                return True
        return False

    def files(self, paths: Sequence[Path]) -> Iterator[Path]:
        """Files named explicitly are yielded as they are; folders are walked."""
        for path in paths:
            if path.is_dir():
                yield from self._walk(path.resolve())
            else:
                yield path.resolve()

    def _walk(self, folder: Path) -> Iterator[Path]:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            path = folder / entry.name
            if entry.is_symlink():
                continue  # never follow links out of the tree, nor into loops
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if self.excluded(path) or self.gitignored(path, is_dir):
                continue
            if is_dir:
                if not (path / "pyvenv.cfg").exists():  # a virtual environment of any name
                    yield from self._walk(path)
            elif entry.name.endswith(PYTHON_SUFFIXES):
                yield path


def is_test_file(path: Path) -> bool:
    name = path.name
    return name == "conftest.py" or (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py")

