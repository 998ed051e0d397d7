"""Atomic outputs: write to a temporary name beside the target, rename on success.

Every stage writes through these helpers, so an interrupted stage never leaves a
half-written file under its final name and a rerun can trust what it finds.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_name(path: Path) -> Path:
    """A fresh temporary file beside ``path``, with the permissions a plain ``open`` would give."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs must be readable like any file
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success.

    On an exception the temporary file is removed and the target is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only if the block succeeds."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def outputs_complete(paths: list[str | os.PathLike], inputs: list[str | os.PathLike] = ()) -> bool:
    """True when every output exists, is non-empty and is not older than any existing input."""
    outs = [Path(p) for p in paths]
    if not outs or not all(p.is_file() and p.stat().st_size > 0 for p in outs):
        return False
    ins = [Path(p) for p in inputs if Path(p).exists()]
    if not ins:
        return True
    newest_in = max(p.stat().st_mtime for p in ins)
    return min(p.stat().st_mtime for p in outs) >= newest_in
