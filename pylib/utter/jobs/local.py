"""The local runner (``utils/run.py``): runs the tasks of a job spec on this machine, as Kaldi's run.pl.

Each task runs through bash under its guard (:mod:`utter.jobs.guard`) into its log, between run.pl's
header (command, start time) and footer (accounting, ``# Ended (code N)``) lines (:func:`run_task`,
which the cluster runners' array tasks call too, so every log looks alike). Worker threads start the
tasks, at most ``--max-jobs-run`` at once; the main thread alone handles the stop signals and stops
the started tasks' process groups (:func:`run_local`).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from utter.jobs.guard import STOP_SIGNALS, die_with_parent, guarded
from utter.jobs.spec import JobError, JobSpec, parse_args, report

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "UTTER_NUM_THREADS")


def thread_env(num_threads: int, base: dict | None = None) -> dict:
    """The environment for one task: every BLAS/OpenMP/torch thread count set to ``num_threads``."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env[var] = str(num_threads)
    return env


def _date() -> str:
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


class Running:
    """The local runner's started tasks (guard processes, each its task's process group leader).

    A task starts under the lock unless the runner is stopping, and :meth:`stop` marks the runner
    stopping under the same lock before it signals the groups, so no task starts after a stop and
    escapes it (the race of a worker thread between its check and its ``Popen``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: dict[int, subprocess.Popen] = {}
        self.stopping = False

    def start(self, task: int, argv: list[str], **popen) -> subprocess.Popen | None:
        """``Popen(argv, **popen)`` for ``task``; None (nothing started) once the runner is stopping."""
        with self.lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(argv, **popen)
            self.procs[task] = proc
            return proc

    def stop(self, sig: int = signal.SIGTERM) -> list[subprocess.Popen]:
        """Stop starting tasks and send ``sig`` to the process group of each started one; those signalled."""
        with self.lock:
            self.stopping = True
            procs = [p for p in self.procs.values() if p.returncode is None]
        signalled = []
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)       # the guard leads its group: bash, the task, its workers
                signalled.append(proc)
            except (ProcessLookupError, PermissionError):
                pass
        return signalled


def run_task(spec: JobSpec, task: int, running: Running | None = None) -> int:
    """Run one task through bash, its output in its log between Kaldi's header and footer lines.

    Returns the exit status (128 + N for a task killed by signal N). ``running``, when given, starts
    the task (so the caller can stop it on interruption); 130 without running it once that is stopping.
    """
    log = spec.log_for(task)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = spec.command_for(task)
    with open(log, "w", encoding="utf-8") as f:
        f.write(f"# {cmd}\n# Started at {_date()}\n#\n")
    t0 = time.time()
    popen = dict(stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=spec.cwd,
                 env=thread_env(spec.num_threads), start_new_session=True)
    with open(log, "a", encoding="utf-8") as f:
        if running is None:
            proc = subprocess.Popen(guarded(cmd), stdout=f, **popen)
        else:
            proc = running.start(task, guarded(cmd), stdout=f, **popen)
            if proc is None:
                f.write("# Not started: the job runner was stopping\n")
                return 130
        rc = proc.wait()
    if rc < 0:
        rc = 128 - rc
    elapsed = int(round(time.time() - t0))
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"# Accounting: time={elapsed} threads={spec.num_threads}\n")
        f.write(f"# Ended (code {rc}) at {_date()}, elapsed time {elapsed} seconds\n")
    return rc


def default_max_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gpu_count(prog: str) -> int:
    """run.pl with --gpu: as many tasks at once as ``nvidia-smi -L`` lists GPUs (1 if it cannot tell)."""
    try:
        p = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        n = sum(1 for line in p.stdout.splitlines() if line.startswith("GPU"))
    except (OSError, subprocess.SubprocessError):
        n = 0
    if n == 0:
        print(f"{prog}: warning: failed to detect the number of GPUs from nvidia-smi, using 1", file=sys.stderr)
    return max(n, 1)


#: How often the local runner's main thread looks for a signal while it waits (seconds).
_POLL = 0.1
#: After a stop: how long the tasks get to end after SIGTERM (their guards SIGKILL what is left after
#: 10 s) before the runner SIGKILLs their groups, and how long it then waits for them (seconds).
_STOP_GRACE, _KILL_WAIT = 15.0, 5.0


def _handled(sig: int) -> bool:
    """Whether the local runner handles ``sig``: SIGTERM always (the kernel's word that its parent
    died, see :func:`die_with_parent`); SIGHUP and SIGINT unless ignored by whoever started it
    (``nohup``, ``cmd &`` in a script), as those ask: the run then goes on when the terminal closes."""
    if sig == signal.SIGTERM:
        return True
    return signal.getsignal(sig) not in (signal.SIG_IGN, None)


def run_local(spec: JobSpec, prog: str = "run.py") -> int:
    """Run every task on this machine, at most ``max_jobs_run`` at once; 1 if any failed.

    On SIGTERM, SIGHUP or SIGINT (those not ignored when it started), or when what started it dies,
    it stops: no new task starts, the started ones' process groups get SIGTERM (SIGKILL after a
    grace period), it waits for them and returns 130. Signals are handled in the main thread only
    (the worker threads block them) by a handler that only records them, so the main thread, which
    waits with a timeout, sees one within ``_POLL`` s and no signal can cut the clean-up short.
    """
    workers = min(spec.max_jobs_run or (gpu_count(prog) if spec.gpu else default_max_jobs()), len(spec.tasks))
    sigs = [sig for sig in STOP_SIGNALS if _handled(sig)]
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)

    # when whatever started this runner dies (the step script, its progress line), the kernel sends
    # it SIGTERM, and it stops its tasks as on any other stop signal
    die_with_parent(signal.SIGTERM)
    old = {sig: signal.signal(sig, on_signal) for sig in sigs}
    running = Running()
    status: dict[int, int] = {}
    errors: list[BaseException] = []
    todo = list(spec.tasks)
    todo_lock = threading.Lock()
    left = [workers]
    all_done = threading.Event()

    def worker() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)   # inherited blocked already; to be sure
        try:
            while True:
                with todo_lock:
                    if not todo or running.stopping:
                        return
                    task = todo.pop(0)
                try:
                    status[task] = run_task(spec, task, running)
                except Exception as e:          # noqa: BLE001 - raised again in the main thread
                    errors.append(e)
                    return
        finally:
            with todo_lock:
                left[0] -= 1
                if left[0] == 0:
                    all_done.set()

    try:
        # the workers start with the stop signals blocked (a thread inherits the mask of the thread
        # that starts it), so one is never delivered to a worker while the main thread sleeps on
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            # daemon threads: an interpreter that exits never waits for one (threading._shutdown)
            threads = [threading.Thread(target=worker, name=f"{prog}-worker-{i}", daemon=True)
                       for i in range(workers)]
            for t in threads:
                t.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        while not received and not all_done.wait(_POLL):
            pass
        if received:
            _stop_tasks(running)
            deadline = time.monotonic() + 2.0     # the workers write the killed tasks' last log lines
            for t in threads:
                t.join(timeout=max(deadline - time.monotonic(), 0.0))
            name = signal.Signals(received[0]).name
            try:
                print(f"{prog}: interrupted ({name}), running tasks killed", file=sys.stderr, flush=True)
            except OSError:                      # stderr was the closed terminal (EIO)
                pass
            return 130
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if errors:
        raise errors[0]
    return report(prog, spec, status)


def _stop_tasks(running: Running) -> None:
    """SIGTERM to the started tasks' groups, SIGKILL to those left after the grace period; wait (bounded)."""
    procs = running.stop(signal.SIGTERM)
    for sig, wait in ((signal.SIGKILL, _STOP_GRACE), (None, _KILL_WAIT)):
        deadline = time.monotonic() + wait
        # the worker threads reap the guards (Popen.wait): a returncode once each has ended
        while any(p.returncode is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.02)
        procs = [p for p in procs if p.returncode is None]
        if not procs or sig is None:
            return
        for proc in procs:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def main_local(argv: Sequence[str] | None = None, prog: str = "run.py") -> int:
    try:
        spec = parse_args(sys.argv[1:] if argv is None else argv, prog)
    except JobError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    return run_local(spec, prog)


