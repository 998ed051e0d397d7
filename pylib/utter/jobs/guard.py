"""The guard: no task outlives its job runner.

Each task of the local runner runs under a guard (``python utter/jobs/guard.py guard PID -- bash -c
CMD``, this file run as a script: stdlib only, it imports nothing of utter), the leader of the task's
own session and process group, which the kernel signals when the runner dies however it dies
(PR_SET_PDEATHSIG; kill -9 included), and which then stops the whole group: bash, the stage program,
torchrun's workers, data-loader workers. :func:`die_with_parent` is the kernel's half, which the
runner and ``utter.progress`` use for themselves too.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1
#: The signals that stop a runner (and its tasks): kill, terminal closed, Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send this process ``sig`` when the thread that started it ends (Linux;
    False elsewhere, where the guard's poll of its parent pid does the same a second later)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stop_group(grace: float = 10.0) -> None:
    """SIGTERM to every other process of this process group, SIGKILL to those left after ``grace`` s."""
    pgid = os.getpgrp()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig == signal.SIGKILL:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_has_others(pgid):
            time.sleep(0.05)
        if not _group_has_others(pgid):
            return


def _group_has_others(pgid: int) -> bool:
    """Whether a process other than this one is in process group ``pgid`` (Linux /proc; else assume so)."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == pgid:
            return True
    return False


def guard_main(parent: int, argv: Sequence[str]) -> int:
    """Run ``argv`` in this process group and return its status; stop the group when the runner
    (pid ``parent``) dies, or on SIGTERM/SIGINT/SIGHUP; stop what is left of it when ``argv`` ends."""
    stopping: list[int] = []

    def on_signal(signum, frame):
        if not stopping:
            stopping.append(signum)

    # (a handler, not SIG_IGN: an ignored signal would stay ignored in the task after exec)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # run.py starts this guard from a worker thread that blocks these signals (they are the main
    # thread's), and a blocked mask is inherited: unblock them here, where the handlers are in place
    # (one that came in the meantime is delivered now); the task then starts with none blocked
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:               # the runner died before the line above
        print(f"utter.jobs: the job runner (pid {parent}) is gone; not starting the task", file=sys.stderr)
        return 1
    if stopping:                             # stopped before it started
        print(f"# utter.jobs: signal {signal.Signals(stopping[0]).name}: the task was not started",
              file=sys.stderr, flush=True)
        return 128 + stopping[0]
    child = subprocess.Popen(list(argv))
    while True:
        try:
            rc = child.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        if not stopping and os.getppid() != parent:
            stopping.append(0)
        if stopping:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            why = (f"the job runner (pid {parent}) died" if os.getppid() != parent
                   else f"signal {signal.Signals(stopping[0]).name}")
            print(f"# utter.jobs: {why}: stopping the task (process group {os.getpgrp()})", file=sys.stderr,
                  flush=True)
            _stop_group()
            child.wait()
            return 128 + (stopping[0] or signal.SIGTERM)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if _group_has_others(os.getpgrp()):      # something the task left running in the background
        _stop_group(grace=2.0)
    return 128 - rc if rc < 0 else rc


def guarded(command: str) -> list[str]:
    """The argv that runs ``command`` with bash under a guard for this (the runner's) process."""
    return [sys.executable, os.path.abspath(__file__), "guard", str(os.getpid()), "--", "bash", "-c", command]




if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "guard" and sys.argv[3] == "--":
        sys.exit(guard_main(int(sys.argv[2]), sys.argv[4:]))
    print(f"usage: python {sys.argv[0]} guard RUNNER_PID -- COMMAND...  (started by utils/run.py for each task)",
          file=sys.stderr)
    sys.exit(1)
