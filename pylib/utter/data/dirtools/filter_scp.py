"""filter_scp.pl: the lines of a table whose field is (or is not) in a list of ids."""
from __future__ import annotations

import os
from collections.abc import Sequence

from utter.data.datadir import DataDirError
from utter.data.dirtools.tables import Table, show_line


def read_ids(path: str | os.PathLike) -> list[bytes]:
    """First field of each non-blank line (an utterance or speaker list, as filter_scp.pl reads one)."""
    t = Table.read(path)
    return [k for k in t.keys if k]


def filter_lines(lines: Sequence[bytes], ids, *, exclude: bool = False, n: int = 1, path: str = "") -> list[bytes]:
    """filter_scp.pl: the lines whose field ``n`` is (``exclude``: is not) in ``ids``, in file order.

    A line without field ``n`` is an error naming ``path`` and the line."""
    ids = ids if isinstance(ids, (set, frozenset, dict)) else set(ids)
    out = []
    for i, line in enumerate(lines, 1):
        f = line.split()
        if len(f) < n:
            raise DataDirError(f"{path}:{i}: no field {n} in line '{show_line(line)}'")
        if (f[n - 1] in ids) != exclude:
            out.append(line)
    return out
