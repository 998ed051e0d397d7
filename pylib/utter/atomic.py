"""Atomic outputs: write to a temporary name beside the target, rename on success.

Every stage writes through these helpers, so an interrupted stage never leaves a
half-written file under its final name and a rerun can trust what it finds.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_HOST = socket.gethostname().replace("/", "_") or "host"
#: the owner part of a temporary name: <host>-<pid>, then mkstemp's random letters if any
_OWNER = re.compile(r"(.+)-(\d+)(?:\.\w+)?")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files an interrupted write of ``path`` left beside it
    (``.<name>.<host>-<pid>.XXXXXXXX.tmp`` of a process of this host that is gone); the removed paths.
    Those of live processes, and of other hosts (which cannot be checked from here), are kept."""
    path = Path(path)
    removed = []
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for e in entries:
        if not (e.name.startswith(prefix) and e.name.endswith(".tmp")):
            continue
        m = _OWNER.fullmatch(e.name[len(prefix):-len(".tmp")])
        if m and m.group(1) == _HOST and not _pid_alive(int(m.group(2))):
            with contextlib.suppress(OSError):
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def tmp_name(path: str | os.PathLike) -> str:
    """``.<name>.<host>-<pid>.tmp`` beside ``path``, for a writer that makes its own temporary file (or
    directory), after removing those interrupted writes of ``path`` left (:func:`remove_stale_tmps`)."""
    head, tail = os.path.split(os.fspath(path))
    remove_stale_tmps(path)
    return os.path.join(head, f".{tail}.{_HOST}-{os.getpid()}.tmp")


def _tmp_name(path: Path) -> Path:
    """A fresh temporary file beside ``path``, with the permissions a plain ``open`` would give; named
    after this host and process, so that the next write of ``path`` removes it if this one is cut short."""
    remove_stale_tmps(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs must be readable like any file
    os.close(fd)
    return Path(name)


class DiskFullError(OSError):
    """A write that ran out of space (ENOSPC, EDQUOT), its message naming the file it was writing: the
    system's own error names no file when it comes from ``write``."""

    def __str__(self) -> str:
        return str(self.strerror)


def disk_full(e: BaseException, path: Path) -> BaseException:
    """``e`` itself, or for a full disk not yet named (ENOSPC, EDQUOT) the :class:`DiskFullError` naming
    ``path``, the free space left and what to do."""
    if not isinstance(e, OSError) or e.errno not in (errno.ENOSPC, errno.EDQUOT) or isinstance(e, DiskFullError):
        return e
    try:
        free = f", {shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
    except OSError:
        free = ""
    return DiskFullError(e.errno, f"no space left on the device while writing {path} ({os.strerror(e.errno)}{free}); "
                                  "nothing half-written was kept: free some space and rerun")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it onto ``path`` on success.

    On an exception the temporary file is removed and the target is left untouched; a full disk is
    raised as a :class:`DiskFullError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        named = disk_full(e, path)
        if named is e:
            raise
        raise named from e


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


def scp_problem(scp: str | os.PathLike) -> str | None:
    """Why the arks behind a Kaldi scp (``key path:offset`` lines) are incomplete, or None when each
    ark it names exists and reaches past the last offset into it (other entries are not checked)."""
    ends: dict[str, int] = {}
    with open(scp, encoding="utf-8", errors="replace") as f:
        for line in f:
            value = line.partition(" ")[2].strip()
            path, colon, offset = value.rpartition(":")
            if colon and offset.isdigit() and not value.endswith("|"):
                ends[path] = max(ends.get(path, 0), int(offset))
    for path, end in ends.items():
        try:
            size = os.stat(path).st_size
        except OSError:
            return f"{scp} names {path}, which does not exist"
        if size <= end:
            return f"{scp} names offset {end} of {path}, which has {size} bytes (truncated)"
    return None


def content_problem(path: str | os.PathLike) -> str | None:
    """Why a finished-looking output is damaged, or None: a ``.json`` that does not parse (written half),
    an ``.npz`` that is not a whole zip archive or whose members fail their CRC. Other files are not read."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            return f"{path} is damaged (not valid JSON: {e})"
    elif path.suffix == ".npz":
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, EOFError, ValueError) as e:
            return f"{path} is damaged (not a whole npz archive: {e})"
        if bad is not None:
            return f"{path} is damaged (its member {bad} fails its CRC check)"
    return None


def outputs_problem(paths: list[str | os.PathLike], inputs: list[str | os.PathLike] = ()) -> str | None:
    """Why the outputs of a stage are not complete, or None when every output exists, is non-empty,
    is not older than any existing input, (an ``.scp``) names arks that exist in full, and (a ``.json``
    or ``.npz``) can be read whole (:func:`content_problem`): a damaged output never counts as done."""
    outs = [Path(p) for p in paths]
    if not outs:
        return "no outputs named"
    for p in outs:
        if not p.is_file() or p.stat().st_size == 0:
            return f"{p} is missing or empty"
    ins = [Path(p) for p in inputs if Path(p).exists()]
    if ins:
        newest = max(ins, key=lambda p: p.stat().st_mtime)
        oldest = min(outs, key=lambda p: p.stat().st_mtime)
        if oldest.stat().st_mtime < newest.stat().st_mtime:
            return f"{oldest} is older than {newest}"
    for p in outs:
        problem = scp_problem(p) if p.suffix == ".scp" else content_problem(p)
        if problem:
            return problem
    return None


def outputs_complete(paths: list[str | os.PathLike], inputs: list[str | os.PathLike] = ()) -> bool:
    """True when every output exists, is non-empty and is not older than any existing input, and every
    ``.scp`` output names arks that exist in full (:func:`outputs_problem`)."""
    return outputs_problem(paths, inputs) is None
