"""Writing fixed files: only text that parses, only over the text that was read, atomically."""

from __future__ import annotations

import os
import signal
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from .model import Problem


def write_fixes(changes: Dict[str, Tuple[bytes, bytes]]) -> List[Problem]:
    """Write each changed file; a file that cannot be written is a problem, the others still land.

    Each file is replaced in one rename, and SIGINT or SIGTERM received meanwhile takes effect (as
    KeyboardInterrupt) only once that file is written: an interruption leaves every file as it
    was or fully fixed, and no temporary file behind.
    """
    problems = []
    with _interrupts_between_files() as interrupt_if_asked:
        for shown, (before, after) in changes.items():
            problem = write_atomically(Path(shown), shown, before, after)
            if problem is not None:
                problems.append(problem)
            interrupt_if_asked()
    return problems


@contextmanager
def _interrupts_between_files() -> Iterator[Callable[[], None]]:
    received: List[int] = []

    def interrupt_if_asked() -> None:
        if received:
            raise KeyboardInterrupt

    try:
        previous = {sent: signal.signal(sent, lambda signum, frame: received.append(signum)) for sent in _STOPS}
    except ValueError:  # not the main thread: leave signals alone
        yield lambda: None
        return
    try:
        yield interrupt_if_asked
    finally:
        for sent, handler in previous.items():
            signal.signal(sent, handler)


_STOPS = (signal.SIGINT, signal.SIGTERM)


def write_atomically(path: Path, shown: str, before: bytes, after: bytes) -> Optional[Problem]:
    import libcst as cst  # only when writing: checks need no parser when their results are cached

    try:
        cst.parse_module(after)
    except Exception:  # a fix must never leave a file that does not parse
        return Problem(shown, "FixError", "the fixed text would not parse; the file is left as it was")
    try:
        current: Optional[bytes] = path.read_bytes()
    except FileNotFoundError:
        current = None
    except OSError as error:
        return Problem(shown, "WriteError", f"cannot read back before writing: {error.strerror or error}")
    if (current if current is not None else b"") != before:
        return Problem(shown, "FixError", "changed on disk since it was read; not overwritten")
    mode = stat.S_IMODE(path.stat().st_mode) if current is not None else None
    # Read-only by its mode bits, even for a user (root) whom the system would let write.
    if mode is not None and not mode & stat.S_IWUSR:
        return Problem(shown, "WriteError", "the file is read-only; not fixed")
    if not stat.S_IMODE(path.parent.stat().st_mode) & stat.S_IWUSR:
        return Problem(shown, "WriteError", "its folder is read-only; not fixed")
    temporary = None
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".dbisolint")
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(after)
            stream.flush()
            os.fsync(stream.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        return Problem(shown, "WriteError", f"cannot write the fix: {error.strerror or error}")
    finally:  # on any error the temporary file goes, the file stays as it was
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass
    return None
