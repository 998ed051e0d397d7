"""Kaldi ark/scp I/O, the one place: random access to matrix rows, writing matrices and vectors.

:class:`ArkReader` reads only the rows a crop needs from ``path:offset`` entries (compressed
or not, as Kaldi writes them); :class:`ArkScpWriter` and :func:`write_vectors` write binary
arks with their scp atomically; :func:`read_embeddings` and :func:`open_scp` read vectors.
"""
from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import kaldiio
import numpy as np
from kaldiio.matio import write_array

from utter.atomic import atomic_open, atomic_path, disk_full
from utter.data.datadir import sort_key


class ArkError(ValueError):
    """An scp entry that does not lead to a whole Kaldi matrix: wrong offset, truncated or missing ark."""


#: What kaldiio raises on a wrong offset or a truncated ark ("File format is wrong?", a bare
#: AssertionError, struct errors ...).
_KALDIIO_ERRORS = (AssertionError, ValueError, RuntimeError, EOFError, IndexError, struct.error, UnicodeDecodeError)


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def load_entry(entry: str, fd_dict: dict | None = None) -> np.ndarray:
    """``kaldiio.load_mat(entry)`` with one clear error (:class:`ArkError`) naming the entry."""
    try:
        return kaldiio.load_mat(entry, fd_dict=fd_dict)
    except FileNotFoundError as e:
        raise ArkError(f"{entry}: no such file {e.filename or ''}".rstrip()) from None
    except _KALDIIO_ERRORS as e:
        raise ArkError(f"{entry}: not a readable Kaldi matrix ({_reason(e)}): a wrong offset in the scp, "
                       "or a truncated or rewritten ark") from None


def open_scp(scp: str | os.PathLike) -> Mapping[str, np.ndarray]:
    """A lazy ``key -> array`` mapping over an scp (kaldiio's), with a clear error for a missing file."""
    if not Path(scp).is_file():
        raise FileNotFoundError(f"{scp}: no such file")
    return kaldiio.load_scp(str(scp))


@dataclass(frozen=True)
class _MatHeader:
    kind: str           # CM, CM2, CM3, FM, DM
    rows: int
    cols: int
    data_offset: int    # where the per-column headers (CM) or the data start
    gmin: float = 0.0
    grange: float = 0.0


class ArkReader:
    """Random access to rows of Kaldi binary matrices named by ``path:offset`` scp entries.

    Reads with ``os.pread`` (no shared file position, so safe after fork) and decompresses
    only the requested rows of a compressed matrix, giving the same values as
    ``kaldiio.load_mat`` (checked in the tests). Other entries (pipes, ``[...]`` ranges,
    text matrices) fall back to ``kaldiio.load_mat`` of the whole matrix.
    """

    def __init__(self):
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._pid = os.getpid()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self):
        try:
            if os.getpid() == self._pid:
                self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self):
        return {}

    def __setstate__(self, state):
        self.__init__()

    @staticmethod
    def _split(entry: str) -> tuple[str, int] | None:
        s = entry.strip()
        if s.endswith("|") or s.startswith("|") or "[" in s or ":" not in s:
            return None
        path, _, off = s.rpartition(":")
        return (path, int(off)) if off.isdigit() else None

    def _fd(self, path: str) -> int:
        if os.getpid() != self._pid:  # forked: open our own descriptors
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(path)
        if fd is None:
            try:
                fd = self._fds[path] = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                raise ArkError(f"{path}: no such ark") from None
            self._sizes[path] = os.fstat(fd).st_size
        return fd

    def _pread(self, path: str, n: int, offset: int) -> bytes:
        buf = os.pread(self._fd(path), n, offset)
        if len(buf) != n:
            raise OSError(f"{path}: truncated ark (wanted {n} bytes at offset {offset})")
        return buf

    def header(self, entry: str) -> _MatHeader | None:
        """The matrix header of a ``path:offset`` entry, or None when it is not one."""
        split = self._split(entry)
        if split is None:
            return None
        path, off = split
        head = os.pread(self._fd(path), 32, off)
        size = self._sizes[path]
        if not head:
            raise ArkError(f"{entry}: offset {off} is past the end of {path} ({size} bytes): a truncated ark, "
                           "or a wrong offset in the scp")
        if head[:2] != b"\0B":
            if head.lstrip()[:1] == b"[":  # a text matrix: kaldiio reads it
                return None
            raise ArkError(f"{entry}: no Kaldi matrix at offset {off} of {path} (a wrong offset in the scp, "
                           "or an ark rewritten after its scp)")
        sp = head.find(b" ", 2)
        kind = head[2:sp].decode("ascii", "replace")
        p = sp + 1
        if kind in ("CM", "CM2", "CM3"):
            gmin, grange, rows, cols = struct.unpack("<ffii", head[p:p + 16].ljust(16, b"\0"))
            h = _MatHeader(kind, rows, cols, off + p + 16, gmin, grange)
            width = {"CM": 1, "CM2": 2, "CM3": 1}[kind]
            extra = 8 * cols if kind == "CM" else 0
        elif kind in ("FM", "DM"):
            rows, cols = struct.unpack("<xixi", head[p:p + 10].ljust(10, b"\0"))
            h = _MatHeader(kind, rows, cols, off + p + 10)
            width, extra = (4 if kind == "FM" else 8), 0
        else:
            return None
        if rows < 0 or cols < 0:
            raise ArkError(f"{entry}: bad matrix header at offset {off} of {path} ({rows} x {cols}): a wrong "
                           "offset in the scp")
        end = h.data_offset + extra + rows * cols * width
        if end > size:
            raise ArkError(f"{entry}: truncated ark: the {rows} x {cols} matrix at offset {off} ends at byte "
                           f"{end}, {path} has {size}")
        return h

    def num_rows(self, entry: str) -> int:
        h = self.header(entry)
        if h is None:
            return self.load(entry).shape[0]
        return h.rows

    def load(self, entry: str) -> np.ndarray:
        return np.asarray(load_entry(entry), dtype=np.float32)

    def rows(self, entry: str, start: int, end: int, header: _MatHeader | None = None) -> np.ndarray:
        """Rows ``[start, end)`` of the matrix as float32 ``[end - start, cols]``."""
        h = header if header is not None else self.header(entry)
        if h is None:
            return self.load(entry)[start:end]
        if not 0 <= start <= end <= h.rows:
            raise ValueError(f"rows [{start}, {end}) outside a {h.rows}-row matrix at {entry}")
        path = self._split(entry)[0]
        n, cols = end - start, h.cols
        if h.kind == "CM":
            pch = np.frombuffer(self._pread(path, 8 * cols, h.data_offset), dtype="<u2").astype(np.float32)
            pch = (h.gmin + pch * h.grange / 65535.0).reshape(cols, 4, 1)
            lut = _cm_lut(pch[:, 0], pch[:, 1], pch[:, 2], pch[:, 3])        # [cols, 256]
            if n == 0:
                return np.zeros((0, cols), np.float32)
            base = h.data_offset + 8 * cols
            span = (cols - 1) * h.rows + n
            buf = self._pread(path, span, base + start) + bytes(h.rows - n)
            codes = np.frombuffer(buf, dtype=np.uint8).reshape(cols, h.rows)[:, :n]
            return np.ascontiguousarray(np.take_along_axis(lut, codes.astype(np.intp), axis=1).T)
        if h.kind in ("CM2", "CM3"):
            width, c = (2, 65535.0) if h.kind == "CM2" else (1, 255.0)
            raw = self._pread(path, n * cols * width, h.data_offset + start * cols * width)
            arr = np.frombuffer(raw, dtype="<u2" if width == 2 else "u1").astype(np.float32)
            return (h.gmin + arr * h.grange / c).reshape(n, cols)
        width, dtype = (4, "<f4") if h.kind == "FM" else (8, "<f8")
        raw = self._pread(path, n * cols * width, h.data_offset + start * cols * width)
        return np.frombuffer(raw, dtype=dtype).astype(np.float32).reshape(n, cols)


def _cm_lut(p0: np.ndarray, p25: np.ndarray, p75: np.ndarray, p100: np.ndarray) -> np.ndarray:
    """Per-column byte -> float table of Kaldi's CompressedMatrix (kaldiio's arithmetic)."""
    x = np.arange(256, dtype=np.float32)[None, :]
    ma1 = x <= 64
    ma3 = x > 192
    ma2 = ~ma1 * ~ma3
    return np.where(ma1, p0 + (p25 - p0) * x * (1 / 64.0),
                    np.where(ma2, p25 + (p75 - p25) * (x - 64.0) * (1 / 128.0),
                             p75 + (p100 - p75) * (x - 192.0) * (1 / 63.0))).astype(np.float32)


class ArkScpWriter:
    """Write matrices/vectors to a Kaldi binary ark and its scp, both atomically.

    The scp names the ark by its absolute final path; the ark is renamed into place before
    the scp, so an scp never points at a missing ark. ``compression_method`` (matrices only):
    None for float, else Kaldi's CompressionMethod (1 = automatic, Kaldi's default for
    ``--compress=true``, which is 2 = speech-feature for matrices of more than 8 rows).
    """

    def __init__(self, ark: IO[bytes], scp: IO[str], ark_name: str, compression_method: int | None):
        self._ark, self._scp, self._name, self._method = ark, scp, ark_name, compression_method

    def write(self, key: str, array: np.ndarray) -> None:
        if not key or any(c.isspace() for c in key):
            raise ValueError(f"bad ark key '{key}'")
        try:
            self._ark.write((key + " ").encode("utf-8"))
            offset = self._ark.tell()
            method = self._method if array.ndim == 2 else None
            write_array(self._ark, np.ascontiguousarray(array, dtype=np.float32), compression_method=method)
        except OSError as e:   # a full disk names this ark, not another output open beside it
            named = disk_full(e, Path(self._name))
            if named is e:
                raise
            raise named from e
        self._scp.write(f"{key} {self._name}:{offset}\n")

    @classmethod
    @contextlib.contextmanager
    def open(cls, ark_path: str | os.PathLike, compression_method: int | None = None,
             scp_path: str | os.PathLike | None = None) -> Iterator[ArkScpWriter]:
        """``with ArkScpWriter.open("x.ark") as w: w.write(key, array)``; scp defaults to x.scp."""
        ark_path = Path(ark_path).absolute()
        scp_path = Path(scp_path) if scp_path is not None else ark_path.with_suffix(".scp")
        with atomic_open(scp_path, "w") as scp, atomic_path(ark_path) as tmp_ark:
            with open(tmp_ark, "wb") as ark:
                yield cls(ark, scp, str(ark_path), compression_method)


def write_vectors(items: Iterator[tuple[str, np.ndarray]] | Mapping[str, np.ndarray],
                  ark_path: str | os.PathLike, scp_path: str | os.PathLike | None = None) -> int:
    """Write float32 vectors to a Kaldi binary ark and its scp (sorted ``LC_ALL=C``), atomically.

    The ark is renamed into place before the scp is written, so an scp never names a missing
    or partial ark. Returns the number of vectors.
    """
    ark_path = Path(ark_path).absolute()
    scp_path = Path(scp_path) if scp_path is not None else ark_path.with_suffix(".scp")
    pairs = items.items() if isinstance(items, Mapping) else items
    lines: list[tuple[str, str]] = []
    with atomic_path(ark_path) as tmp, open(tmp, "wb") as ark:
        for key, vec in pairs:
            if not key or any(c.isspace() for c in key):
                raise ValueError(f"bad ark key '{key}'")
            ark.write((key + " ").encode("utf-8"))
            offset = ark.tell()
            write_array(ark, np.ascontiguousarray(vec, dtype=np.float32).reshape(-1))
            lines.append((key, f"{key} {ark_path}:{offset}\n"))
    lines.sort(key=lambda kv: sort_key(kv[0]))
    with atomic_open(scp_path, "w") as scp:
        scp.write("".join(line for _, line in lines))
    return len(lines)


def read_embeddings(scp: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read an ``xvector.scp`` (or ark) into (utterance ids in file order, float64 [N, D] matrix)."""
    scp = str(scp)
    if not Path(scp).is_file():
        raise FileNotFoundError(f"{scp}: no such embedding file")
    reader = kaldiio.load_scp_sequential(scp) if not scp.endswith(".ark") else kaldiio.load_ark(scp)
    ids: list[str] = []
    rows: list[np.ndarray] = []
    dim = None
    for utt, vec in _named_errors(reader, scp, ids):
        vec = np.asarray(vec, dtype=np.float64).reshape(-1)
        if dim is None:
            dim = vec.size
        elif vec.size != dim:
            raise ValueError(f"{scp}: embedding of '{utt}' has dimension {vec.size}, the first had {dim}")
        ids.append(utt)
        rows.append(vec)
    if not ids:
        raise ValueError(f"{scp}: no embeddings")
    if len(set(ids)) != len(ids):
        dup = next(u for u in ids if ids.count(u) > 1)
        raise ValueError(f"{scp}: utterance '{dup}' appears more than once")
    x = np.stack(rows)
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        names = ", ".join(ids[i] for i in bad[:5])
        raise ValueError(f"{scp}: {len(bad)} embeddings are not finite (first: {names})")
    return ids, x


def _named_errors(reader: Iterable, scp: str, ids: list[str]) -> Iterator:
    """Items of a kaldiio reader; its errors (a wrong offset, a truncated ark) as one ArkError naming the
    file and the entry after the last one read."""
    it = iter(reader)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except FileNotFoundError as e:
            raise ArkError(f"{scp}: the ark {e.filename or ''} it names does not exist") from None
        except _KALDIIO_ERRORS as e:
            after = f" after '{ids[-1]}'" if ids else " at its first entry"
            raise ArkError(f"{scp}: cannot read the entry{after} ({_reason(e)}): a wrong offset, or a truncated "
                           "or rewritten ark") from None
        yield item


def read_in_ark_order(scp: Mapping[str, str], keys: Iterable[str]) -> Iterator[tuple[str, np.ndarray]]:
    """``(key, array)`` for each of ``keys`` (entries of an scp table), read in ark/offset order.

    Sorting by position makes the reads sequential within each ark, and one file handle per
    ark is kept open for the whole pass.
    """
    def position(key: str) -> tuple:
        split = ArkReader._split(scp[key])
        return split if split is not None else (scp[key], 0)

    fds: dict = {}
    try:
        for key in sorted(keys, key=position):
            try:
                value = load_entry(scp[key], fd_dict=fds)
            except ArkError as e:
                raise ArkError(f"{key}: {e}") from None
            yield key, np.asarray(value)
    finally:
        for f in fds.values():
            f.close()
