"""flake8 plugin: `flake8 --select DBI` reports dbisolint's findings (fixes stay with dbisolint).

flake8 calls a plugin once per file, in several processes. The state rules need the whole
project, so each process checks a project once (through dbisolint's cache) and answers every
file of it from that; a file whose text differs from the disk (flake8 reading stdin) is checked
on its own, with that text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

from . import __version__


class Plugin:
    name = "dbisolint"
    version = __version__

    def __init__(self, tree: object, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[Tuple[int, int, str, type]]:
        for row, column, code, message in _findings(self.filename, "".join(self.lines).encode("utf-8")):
            yield row, column - 1, f"{code} {message}", type(self)


def _findings(filename: str, source: bytes) -> List[Tuple[int, int, str, str]]:
    path = Path(filename).resolve()
    try:
        on_disk = path.read_bytes()
    except OSError:
        on_disk = None
    if on_disk == source:
        return _project_findings(_project_root(path)).get(str(path), [])
    return _check({path: source}).get(str(path), [])


@lru_cache(maxsize=None)
def _project_root(path: Path) -> Path:
    from .project import project_root

    return project_root(path.parent)


@lru_cache(maxsize=8)
def _project_findings(root: Path) -> Dict[str, List[Tuple[int, int, str, str]]]:
    return _check({}, [root])


def _check(sources: Dict[Path, bytes], paths: Sequence[Path] = ()) -> Dict[str, List[Tuple[int, int, str, str]]]:
    from . import checker
    from .cache import CACHE_DIR_NAME
    from .config import find_config_file, load_config

    config = load_config(find_config_file(Path.cwd()))
    result = checker.check(list(paths), config, sources=sources, cache_dir=Path(config.root) / CACHE_DIR_NAME)
    found: Dict[str, List[Tuple[int, int, str, str]]] = {}
    for finding in result.findings:
        key = str(Path(finding.path).resolve())
        found.setdefault(key, []).append((finding.start.row, finding.start.column, finding.code, finding.message))
    return found
