"""Skip a finished stage: its outputs exist, are non-empty and newer than its inputs.

Stages call :func:`skip_if_complete` (Python) or, from shell,
``python -m utter.stage --overwrite $overwrite --what NAME [--inputs 'a b'] OUTPUT... && exit 0``,
which exits 0 (and says so) when the stage can be skipped, 1 when it must run. With
``--made-from 'INPUT ...'`` complete outputs count only when they were made from those inputs (a
corpus directory, with its simulator's seed and scale, or option values), as ``--record 'INPUT ...'``
wrote beside the first output after making them: a data dir made from the mini corpora at another
``--mini-scale`` is redone. ``--in-use DIR`` says whether a running process holds DIR (:class:`DirLock`).
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import sys
import time
from collections.abc import Sequence

from utter.atomic import atomic_open, outputs_problem

log = logging.getLogger("utter")


def skip_if_complete(outputs: Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike] = (),
                     overwrite: bool = False, what: str = "stage") -> bool:
    """True (after logging 'skipping') when every output is complete and ``overwrite`` is false."""
    if overwrite:
        return False
    problem = outputs_problem(list(outputs), list(inputs))
    if problem is None:
        log.info("%s: skipping, outputs complete: %s (--overwrite true to redo)", what,
                 " ".join(str(p) for p in outputs))
        return True
    if all(os.path.isfile(p) for p in outputs):  # outputs there but stale or incomplete: say why
        log.info("%s: redoing: %s", what, problem)
    return False


#: The file beside a stage's first output that records what it was made from (:func:`made_from_problem`).
MADE_FROM = ".made_from"
#: The simulator's marker in each directory of a simulated corpus (seed, scale, format).
SIM_MARKER = ".sim_complete"


def _sim_marker(directory: str) -> str | None:
    """The simulator's marker text of the corpus ``directory`` lies in (it or a directory above), or None."""
    d = os.path.realpath(directory)
    while True:
        marker = os.path.join(d, SIM_MARKER)
        if os.path.isfile(marker):
            with open(marker, encoding="utf-8") as f:
                return f.read().strip()
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def inputs_fingerprint(words: Sequence[str]) -> str:
    """What a stage's outputs are made from, one line per word: a directory is its real path and, for a
    simulated corpus, the simulator's marker (seed, scale: rebuilt at another scale, it is another
    input); any other word (an option's value, seed=0) is itself."""
    lines = []
    for w in words:
        if os.path.isdir(w):
            marker = _sim_marker(w)
            lines.append(os.path.realpath(w) + (f" {marker}" if marker else ""))
        else:
            lines.append(w)
    return "\n".join(lines) + "\n"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes: what identifies the model a later file was made for (a calibration
    records its model's, and ``utter verify`` compares it), wherever the model has been copied to."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stamp(outputs: Sequence[str | os.PathLike]) -> str:
    return os.path.join(os.path.dirname(os.fspath(outputs[0])) or ".", MADE_FROM)


def record_inputs(outputs: Sequence[str | os.PathLike], words: Sequence[str]) -> None:
    """Write what ``outputs`` were made from beside the first of them."""
    with atomic_open(_stamp(outputs)) as f:
        f.write(inputs_fingerprint(words))


def made_from_problem(outputs: Sequence[str | os.PathLike], words: Sequence[str]) -> str | None:
    """Why complete ``outputs`` do not count (they were made from other inputs: another corpus, or the
    same simulated corpus at another scale or seed, other options), or None. Outputs without a record
    (made before records were kept) are taken as they are, and the record is written now."""
    path = _stamp(outputs)
    now = inputs_fingerprint(words)
    if not os.path.isfile(path):
        record_inputs(outputs, words)
        return None
    with open(path, encoding="utf-8") as f:
        before = f.read()
    if before == now:
        return None
    old, new = before.splitlines(), now.splitlines()
    diff = next(((a, b) for a, b in zip(old, new) if a != b), (before.strip(), now.strip()))
    return f"made from '{diff[0]}', now '{diff[1]}'"


class DirInUse(RuntimeError):
    """Another process holds a directory's lock (:class:`DirLock`)."""


class DirLock:
    """A directory held by one running process: ``with DirLock(exp_dir, "training"): ...``.

    An ``fcntl`` lock on ``<dir>/.lock``, which the kernel drops when the process ends however it
    ends (kill -9 included), so a lock is never stale; the file names the holder (pid, host, start
    time, command) for the error of a second process, which fails at once rather than writing the same
    checkpoints beside the first."""

    def __init__(self, directory: str | os.PathLike, what: str = "a stage"):
        self.path = os.path.join(os.fspath(directory), ".lock")
        self.directory, self.what = os.fspath(directory), what
        self._f = None

    def acquire(self) -> DirLock:
        os.makedirs(self.directory, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise DirInUse(f"{self.directory} is in use: {holder} is running {self.what} there "
                           f"(wait for it to end, or stop it; the lock is {self.path})") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')} "
                f"({' '.join(sys.argv)[:200]})\n")
        f.flush()
        self._f = f
        return self

    def holder(self) -> str | None:
        """Who holds the lock now (the text its holder wrote), or None when no process does."""
        if not os.path.isfile(self.path):
            return None
        with open(self.path, encoding="utf-8") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return f.read().strip() or "another process"
        return None

    def release(self) -> None:
        if self._f is not None:
            self._f.seek(0)
            self._f.truncate()
            self._f.close()   # closing drops the lock
            self._f = None

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m utter.stage",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--overwrite", default="false", choices=["true", "false"])
    p.add_argument("--what", default="stage", help="name printed in the message")
    p.add_argument("--inputs", default="", help="space-separated input files")
    p.add_argument("--in-use", metavar="DIR", default="",
                   help="instead: exit 0 (naming the holder) when a running process holds DIR's lock, else 1")
    p.add_argument("--made-from", metavar="'INPUT ...'", default=None,
                   help="the outputs count only when made from these inputs (directories: a corpus, by its path and "
                        "its simulator's seed and scale; words: option values), as recorded beside the first output")
    p.add_argument("--record", metavar="'INPUT ...'", default=None,
                   help="instead: record that the outputs were made from these inputs (after making them)")
    p.add_argument("--quiet", action="store_true", help="no 'skipping' line (the caller says it)")
    p.add_argument("outputs", nargs="*")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if a.record is not None:
        if not a.outputs:
            p.error("--record needs the outputs")
        record_inputs(a.outputs, a.record.split())
        return 0
    if a.in_use:
        holder = DirLock(a.in_use).holder()
        if holder:
            print(f"{a.what}: {a.in_use} is in use: {holder}", file=sys.stderr)
        return 0 if holder else 1
    if not a.outputs:
        p.error("name the outputs (or --in-use DIR)")
    if a.made_from is not None and a.overwrite != "true" and outputs_problem(a.outputs, a.inputs.split()) is None:
        problem = made_from_problem(a.outputs, a.made_from.split())
        if problem:
            log.info("%s: %s was %s", a.what, a.outputs[0], problem)
            return 1
    if a.quiet:
        return 0 if a.overwrite != "true" and outputs_problem(a.outputs, a.inputs.split()) is None else 1
    return 0 if skip_if_complete(a.outputs, a.inputs.split(), a.overwrite == "true", a.what) else 1


if __name__ == "__main__":
    sys.exit(main())
