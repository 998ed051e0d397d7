"""Kaldi-style job runners: ``run.py``/``slurm.py``/``queue.py JOB=1:N log.JOB.log command...``.

One implementation of what the three runners share: parsing their options and the
``JOB=a:b`` range, quoting the command as Kaldi's run.pl does, and running one task into
its log (command, start time, output, accounting and ``# Ended (code N)`` lines). The
local runner runs the tasks here; the cluster runners submit a job array whose tasks call
:func:`run_task` through ``python -m utter.jobs task SPEC TASK``, so every log looks alike.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "UTTER_NUM_THREADS")


class JobError(RuntimeError):
    """Bad runner arguments or a failed submission."""


@dataclasses.dataclass
class JobSpec:
    """What to run: the command (JOB still in it), the task range and the resources asked for.

    ``options`` holds every ``--name value`` the runner was given (Kaldi's ``cli_options``: name with
    ``_`` for ``-``), which the cluster runners turn into scheduler options through their config;
    ``sched_opts`` the single-dash options (``-V``, ``-tc 2``, ``-l mem_free=2G``, ``-pe smp 4``),
    passed to the scheduler as they are (run.py ignores them, as run.pl does).
    """

    command: str
    log: str
    var: str | None = None
    start: int = 1
    end: int = 1
    num_threads: int = 1
    max_jobs_run: int | None = None
    mem: str | None = None
    gpu: int = 0
    time: str | None = None
    queue_opts: str = ""
    poll_interval: float = 5.0
    cwd: str = dataclasses.field(default_factory=os.getcwd)
    options: dict = dataclasses.field(default_factory=dict)
    sched_opts: list = dataclasses.field(default_factory=list)
    config: str | None = None

    @property
    def tasks(self) -> range:
        return range(self.start, self.end + 1)

    def substitute(self, text: str, task: int) -> str:
        """Replace the job variable everywhere in ``text`` (as run.pl's ``s/JOB/$jobid/g``)."""
        return text.replace(self.var, str(task)) if self.var else text

    def log_for(self, task: int) -> Path:
        path = Path(self.substitute(self.log, task))
        return path if path.is_absolute() else Path(self.cwd) / path

    def command_for(self, task: int) -> str:
        return self.substitute(self.command, task)


# Options with a meaning here: name -> (attribute, type). run.py ignores --mem/--time (and every
# other --option, as run.pl does); --gpu N there only sets the default --max-jobs-run to the GPU count.
_OPTIONS = {
    "num_threads": ("num_threads", int),
    "max_jobs_run": ("max_jobs_run", int),
    "mem": ("mem", str),
    "gpu": ("gpu", int),
    "time": ("time", str),
    "queue_opts": ("queue_opts", str),
    "poll_interval": ("poll_interval", float),
    "config": ("config", str),
}
#: Options of ours that are not scheduler options (never looked up in a queue config).
_OWN = ("config", "max_jobs_run", "queue_opts", "poll_interval")


def usage(prog: str, cluster: bool) -> str:
    extra = (" [--config conf/{}.conf] [--queue-opts 'OPTS'] [--poll-interval S] [-qsub-style-opt VALUE]"
             .format("slurm" if "slurm" in prog else "queue") if cluster else "")
    return (f"usage: {prog} [--num-threads T] [--max-jobs-run N] [--mem X] [--gpu N] [--time T]{extra} "
            f"[JOB=1:N] LOG command args...\n"
            f"  e.g. {prog} JOB=1:4 exp/log/extract.JOB.log python -m utter.bin.x --job JOB\n"
            f"  JOB (any identifier) is replaced by the task number in LOG and the command; each task's\n"
            f"  output goes to its log; exits 1 naming the failed logs if any task fails. Options may come\n"
            f"  before or after JOB=1:N. --mem is per thread (slot), as Kaldi's queue.pl/slurm.pl mean it:\n"
            f"  --mem 4G --num-threads 8 reserves 32G. Single-dash options (-V, -tc N, -l x=y, -pe smp N)\n"
            f"  go to the scheduler as they are" + (" (ignored here, as run.pl does)." if not cluster else
                                                      "; --config maps the --options to scheduler options."))


def _print_help(prog: str, cluster: bool) -> None:
    """Print the usage on stdout and exit 0; quietly when a reader (``| head``) closed the pipe."""
    try:
        print(usage(prog, cluster), flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)


def quote_args(args: Sequence[str]) -> str:
    """Join arguments as Kaldi's run.pl does: bare unless they hold whitespace, so ``\\|`` pipes."""
    out = []
    for a in args:
        if a and not re.search(r"\s", a):
            out.append(a)
        elif '"' in a:
            out.append(f"'{a}'")
        else:
            out.append(f'"{a}"')
    return " ".join(out)


def parse_args(argv: Sequence[str], prog: str, cluster: bool = False) -> JobSpec:
    """Parse ``[options] [VAR=a:b] [options] LOG command...`` as Kaldi's run.pl/queue.pl do.

    ``--name value`` (or ``--name=value``) options are collected by name; single-dash options are
    scheduler options: ``-V`` alone, ``-pe ENV N`` with two values (N threads), ``-tc N`` the
    largest number of tasks at once, any other with one value. JobError if malformed."""
    argv = list(argv)
    opts: dict[str, str] = {}
    sched: list[str] = []
    spec_var, start, end = None, 1, 1
    for _ in range(3):   # options may come before and after JOB=1:N, as in Kaldi's runners
        if argv and argv[0] in ("--help", "-h"):
            _print_help(prog, cluster)
        while len(argv) >= 2 and argv[0].startswith("-"):
            opt = argv.pop(0)
            if opt in ("--help", "-h"):
                _print_help(prog, cluster)
            if opt == "-V":
                sched.append(opt)
                continue
            if opt.startswith("--"):
                name, eq, val = opt[2:].partition("=")
                if not eq:
                    val = argv.pop(0)
                if not name:
                    raise JobError(f"bad option {opt}")
                if val.startswith("--"):
                    print(f"{prog}: warning: suspicious argument '{val}' to --{name}; starts with '--'",
                          file=sys.stderr)
                opts[name.replace("-", "_")] = val
                continue
            val = argv.pop(0)
            if val.startswith("--"):
                print(f"{prog}: warning: suspicious argument '{val}' to {opt}; starts with '--'", file=sys.stderr)
            if opt == "-pe":
                if not argv:
                    raise JobError("option -pe needs two values (e.g. -pe smp 4)")
                val2 = argv.pop(0)
                sched += [opt, val, val2]
                opts.setdefault("num_threads", val2)
            elif opt == "-tc":
                opts["max_jobs_run"] = val
            else:
                sched += [opt, val]
        if argv:
            m = re.fullmatch(r"([A-Za-z_]\w*)=(\d+):(\d+)", argv[0])
            m1 = re.fullmatch(r"([A-Za-z_]\w*)=(\d+)", argv[0])
            if m:
                spec_var, start, end = m.group(1), int(m.group(2)), int(m.group(3))
                argv.pop(0)
                if start > end:
                    raise JobError(f"invalid job range {m.group(0)}")
                if start < 1:
                    raise JobError(f"invalid job range {m.group(0)}: the start must be at least 1 "
                                   f"(as Grid Engine requires)")
            elif m1:
                spec_var, start, end = m1.group(1), int(m1.group(2)), int(m1.group(2))
                argv.pop(0)
            elif re.fullmatch(r".+=.*:.*", argv[0]) and not argv[0].startswith("-"):
                print(f"{prog}: warning: suspicious first argument {argv[0]}", file=sys.stderr)
    if len(argv) < 2:
        raise JobError(usage(prog, cluster))
    log = argv.pop(0)
    if log.startswith("-"):
        raise JobError(f"log file name '{log}' starts with '-' (an option without its value?)")
    if spec_var and spec_var not in log and end > start:
        raise JobError(f"you are trying to run a parallel job but putting the output into one log file ({log})")
    if not spec_var and re.search(r"(?<!\w)JOB(?!\w)", log):
        raise JobError(f"log name {log} contains JOB but no JOB=1:N range was given "
                       "(forgot JOB=1:$nj?)")
    values: dict = {}
    for name, val in opts.items():
        if name in _OPTIONS:
            attr, kind = _OPTIONS[name]
            try:
                values[attr] = kind(val)
            except ValueError:
                raise JobError(f"option --{name.replace('_', '-')}: bad value '{val}'") from None
        elif not cluster:
            print(f"{prog}: warning: ignoring option --{name.replace('_', '-')} {val} (run.py runs here; "
                  f"as run.pl, it ignores options meant for a queue)", file=sys.stderr)
    spec = JobSpec(command=quote_args(argv), log=log, var=spec_var, start=start, end=end, options=opts,
                   sched_opts=sched, **values)
    if spec.num_threads < 1:
        raise JobError(f"--num-threads must be at least 1, got {spec.num_threads}")
    if spec.max_jobs_run is not None and spec.max_jobs_run < 1:
        raise JobError(f"--max-jobs-run must be at least 1, got {spec.max_jobs_run}")
    return spec


# ---------------------------------------------------------------------------------------
# Kaldi's queue.conf / slurm.conf: how the --options become scheduler options.

@dataclasses.dataclass
class QueueConfig:
    """A parsed Kaldi queue config: ``command ...``, ``option name=* ARGS with $0``,
    ``option name=value ARGS`` (ARGS may be empty) and ``default name=value`` lines."""

    command: list[str]
    star: dict[str, str]                  # name -> args with $0
    fixed: dict[tuple[str, str], str]     # (name, value) -> args
    defaults: dict[str, str]
    source: str

    @classmethod
    def parse(cls, text: str, source: str) -> QueueConfig:
        command, star, fixed, defaults = None, {}, {}, {}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = re.sub(r"\s*#.*", "", raw).strip()
            if not line:
                continue
            m = re.fullmatch(r"command\s+(.+)", line)
            if m:
                command = shlex.split(m.group(1))
                continue
            m = re.fullmatch(r"option\s+([^=\s]+)=\*\s*(.*)", line)
            if m:
                if "$0" not in m.group(2):
                    raise JobError(f"{source}:{lineno}: 'option {m.group(1)}=*' needs $0 in its arguments: "
                                   f"'{raw.strip()}'")
                star[m.group(1)] = m.group(2)
                continue
            m = re.fullmatch(r"option\s+([^=\s]+)=(\S+)\s*(.*)", line)
            if m:
                fixed[(m.group(1), m.group(2))] = m.group(3)
                continue
            m = re.fullmatch(r"default\s+([^=\s]+)=(\S+)", line)
            if m:
                defaults[m.group(1)] = m.group(2)
                continue
            raise JobError(f"{source}:{lineno}: unable to parse line '{raw.strip()}' (expected command, option "
                           f"or default)")
        if command is None:
            raise JobError(f"{source}: no 'command ...' line")
        return cls(command, star, fixed, defaults, source)

    def scheduler_args(self, options: dict[str, str]) -> list[str]:
        """The scheduler options for ``options`` (plus the defaults); JobError for one not described."""
        opts = dict(self.defaults)
        opts.update(options)
        out: list[str] = []
        for name, value in opts.items():
            if name in _OWN:
                continue
            if (name, value) in self.fixed:
                args = self.fixed[(name, value)]
            elif name in self.star:
                args = self.star[name].replace("$0", value)
            else:
                raise JobError(f"option --{name.replace('_', '-')} is not described in {self.source} "
                               f"(or value '{value}' not allowed)")
            out += shlex.split(args)
        return out


def load_config(spec: JobSpec, default_path: str, default_text: str) -> QueueConfig:
    """``--config FILE`` if given (it must exist), else ``default_path`` if it exists, else the default."""
    if spec.config:
        path = Path(spec.config)
        if not path.is_absolute():
            path = Path(spec.cwd) / path
        try:
            return QueueConfig.parse(path.read_text(), spec.config)
        except OSError as e:
            raise JobError(f"could not open config file {spec.config}: {e.strerror}") from None
    path = Path(spec.cwd) / default_path
    if path.is_file():
        return QueueConfig.parse(path.read_text(), default_path)
    return QueueConfig.parse(default_text, "the default config")


def thread_env(num_threads: int, base: dict | None = None) -> dict:
    """The environment for one task: every BLAS/OpenMP/torch thread count set to ``num_threads``."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env[var] = str(num_threads)
    return env


def _date() -> str:
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


# ---------------------------------------------------------------------------------------
# No task outlives its runner: each task runs under a guard (``python jobs.py guard PID -- bash -c
# CMD``), the leader of the task's own session and process group, which the kernel signals when the
# runner dies however it dies (PR_SET_PDEATHSIG; kill -9 included), and which then stops the whole
# group: bash, the stage program, torchrun's workers, data-loader workers.

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


def report(prog: str, spec: JobSpec, status: dict[int, int]) -> int:
    """Print which tasks failed (naming their logs); 0 when all succeeded, else 1."""
    failed = [t for t in spec.tasks if status.get(t, 1) != 0]
    if not failed:
        return 0
    n = len(spec.tasks)
    if n == 1:
        print(f"{prog}: job failed, log is in {spec.substitute(spec.log, failed[0])}", file=sys.stderr)
    else:
        print(f"{prog}: {len(failed)} / {n} failed, logs:", file=sys.stderr)
        for t in failed:
            print(f"  {spec.substitute(spec.log, t)} (code {status.get(t, 'unknown')})", file=sys.stderr)
    return 1


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


# ---------------------------------------------------------------------------------------
# Cluster runners share the spec file, the batch script and the waiting loop.

def queue_dir(spec: JobSpec) -> Path:
    """``<logdir>/q``: batch script, spec and per-task done files (as Kaldi's queue.pl)."""
    return spec.log_for(spec.start).parent / "q"


def job_name(spec: JobSpec) -> str:
    base = Path(spec.log).name
    if spec.var:
        base = base.replace(spec.var, "")
    base = re.sub(r"\.log$", "", base).strip(".") or "job"
    return re.sub(r"[^\w.-]", "_", base.replace("..", "."))


def done_file(spec: JobSpec, task: int) -> Path:
    return queue_dir(spec) / f"{job_name(spec)}.{task}.done"


def write_batch_script(spec: JobSpec) -> Path:
    """Write ``q/<name>.json`` and ``q/<name>.sh`` (one array task: ``python -m utter.jobs task``)."""
    qdir = queue_dir(spec)
    qdir.mkdir(parents=True, exist_ok=True)
    name = job_name(spec)
    spec_path = qdir / f"{name}.json"
    spec_path.write_text(json.dumps(dataclasses.asdict(spec), indent=1) + "\n")
    pylib = str(Path(__file__).resolve().parents[1])
    script = qdir / f"{name}.sh"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"# Written by utter's cluster runner: runs task $SLURM_ARRAY_TASK_ID / $SGE_TASK_ID of\n"
        f"#   {spec.command}\n"
        f"cd {shlex.quote(spec.cwd)} || exit 1\n"
        f"export PYTHONPATH={shlex.quote(pylib)}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        'task=${SLURM_ARRAY_TASK_ID:-${SGE_TASK_ID:-}}\n'
        f"exec {shlex.quote(sys.executable)} -m utter.jobs task {shlex.quote(str(spec_path))} \"$task\"\n")
    script.chmod(0o755)
    return script


def task_main(spec_path: str, task: str) -> int:
    """Entry of one array task: run it into its log, then record its status in its done file."""
    spec = JobSpec(**json.loads(Path(spec_path).read_text()))
    try:
        t = int(task)
    except ValueError:
        print(f"utter.jobs: bad task id '{task}' (not run as an array task?)", file=sys.stderr)
        return 1
    rc = run_task(spec, t)
    done = done_file(spec, t)
    tmp = done.with_name(done.name + ".tmp")
    tmp.write_text(f"{rc}\n")
    os.replace(tmp, done)
    return rc


def read_done(spec: JobSpec, task: int) -> int | None:
    try:
        return int(done_file(spec, task).read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def run_cluster(spec: JobSpec, backend: ClusterBackend, prog: str) -> int:
    """Submit the array, wait for every task's done file (or the job leaving the queue), report."""
    for t in spec.tasks:
        done_file(spec, t).unlink(missing_ok=True)
    script = write_batch_script(spec)
    job_id = backend.submit(spec, script)
    status: dict[int, int] = {}
    gone_since: float | None = None
    while True:
        for t in spec.tasks:
            if t not in status:
                rc = read_done(spec, t)
                if rc is not None:
                    status[t] = rc
        if len(status) == len(spec.tasks):
            break
        now = time.time()
        if gone_since is None:
            if not backend.alive(job_id):
                gone_since = now
        elif now - gone_since > max(6 * spec.poll_interval, 1.0):
            # Out of the queue and still no done file after a grace period (file-system lag):
            # the task was killed (memory, time limit, cancelled) before it could write one.
            states = backend.states(job_id)
            for t in spec.tasks:
                if t not in status:
                    state = states.get(t, "unknown state")
                    status[t] = 1
                    with open(spec.log_for(t), "a", encoding="utf-8") as f:
                        f.write(f"# {prog}: task {t} of job {job_id} ended without an exit status "
                                f"({state})\n")
            break
        time.sleep(spec.poll_interval)
    return report(prog, spec, status)


class ClusterBackend:
    """How one scheduler submits an array, says whether it still runs, and names task states."""

    def submit(self, spec: JobSpec, script: Path) -> str:
        raise NotImplementedError

    def alive(self, job_id: str) -> bool:
        raise NotImplementedError

    def states(self, job_id: str) -> dict[int, str]:
        return {}


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise JobError(f"{cmd[0]} not found on PATH") from None


#: slurm.pl's default config, without its site's partitions (-p shared / -p gpu: name yours in
#: conf/slurm.conf, e.g. "option gpu=* -p gpu --gres=gpu:$0"); --export=ALL for the venv's PATH.
SLURM_CONFIG = """\
command sbatch --export=ALL --ntasks-per-node=1
option time=* --time $0
option mem=* --mem-per-cpu $0
option mem=0
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
default gpu=0
option gpu=0
option gpu=* --gres=gpu:$0
"""

#: queue.pl's default config (-V, not -v PATH, so the tasks see this environment; no -l arch).
SGE_CONFIG = """\
command qsub -V -cwd -S /bin/bash -j y
option mem=* -l mem_free=$0,ram_free=$0
option mem=0
option num_threads=* -pe smp $0
option num_threads=1
option time=* -l h_rt=$0
default gpu=0
option gpu=0
option gpu=* -l gpu=$0 -q g.q
"""


def _config_options(spec: JobSpec) -> dict[str, str]:
    opts = dict(spec.options)
    if "-pe" in spec.sched_opts:      # threads already asked for with -pe ENV N
        opts.pop("num_threads", None)
    return opts


class Slurm(ClusterBackend):
    """SLURM: ``sbatch --array=a-b[%max]``, ``squeue`` while it runs, ``sacct`` for task states.

    Scheduler options from conf/slurm.conf (or ``--config``; else :data:`SLURM_CONFIG`)."""

    config_path, default_config = "conf/slurm.conf", SLURM_CONFIG

    def command(self, spec: JobSpec, script: Path) -> list[str]:
        cfg = load_config(spec, self.config_path, self.default_config)
        name = job_name(spec)
        array = f"{spec.start}-{spec.end}" + (f"%{spec.max_jobs_run}" if spec.max_jobs_run else "")
        return (cfg.command + cfg.scheduler_args(_config_options(spec)) + spec.sched_opts
                + shlex.split(spec.queue_opts)
                + ["--parsable", f"--array={array}", f"--job-name={name}",
                   f"--output={queue_dir(spec) / (name + '.%a.out')}", str(script)])

    def submit(self, spec: JobSpec, script: Path) -> str:
        cmd = self.command(spec, script)
        p = _run(cmd)
        m = re.match(r"\s*(\d+)", p.stdout)
        if p.returncode != 0 or not m:
            raise JobError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
        return m.group(1)

    def alive(self, job_id: str) -> bool:
        p = _run(["squeue", "-h", "-j", job_id, "-o", "%i %t"])
        if p.returncode != 0:
            # "Invalid job id" once the job has left the queue; other errors are transient.
            return "invalid job id" not in (p.stderr + p.stdout).lower()
        return bool(p.stdout.strip())

    def states(self, job_id: str) -> dict[int, str]:
        p = _run(["sacct", "-n", "-P", "-j", job_id, "-o", "JobID,State,ExitCode"])
        out: dict[int, str] = {}
        for line in p.stdout.splitlines():
            fields = line.split("|")
            m = re.fullmatch(rf"{job_id}_(\d+)", fields[0]) if fields else None
            if m and len(fields) >= 3:
                out[int(m.group(1))] = f"sacct: {fields[1]}, exit {fields[2]}"
        return out


class SGE(ClusterBackend):
    """Sun/Univa Grid Engine: ``qsub -t a:b [-tc max]``, ``qstat -j`` until it leaves the queue.

    Scheduler options from conf/queue.conf (or ``--config``; else :data:`SGE_CONFIG`)."""

    config_path, default_config = "conf/queue.conf", SGE_CONFIG

    def command(self, spec: JobSpec, script: Path) -> list[str]:
        cfg = load_config(spec, self.config_path, self.default_config)
        name = job_name(spec)
        cmd = cfg.command + cfg.scheduler_args(_config_options(spec)) + spec.sched_opts + shlex.split(spec.queue_opts)
        cmd += ["-N", name, "-t", f"{spec.start}:{spec.end}", "-o", str(queue_dir(spec) / f"{name}.$TASK_ID.out")]
        if spec.max_jobs_run:
            cmd += ["-tc", str(spec.max_jobs_run)]
        return cmd + [str(script)]

    def submit(self, spec: JobSpec, script: Path) -> str:
        cmd = self.command(spec, script)
        p = _run(cmd)
        m = re.search(r"Your job(?:-array)? (\d+)", p.stdout)
        if p.returncode != 0 or not m:
            raise JobError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
        return m.group(1)

    def alive(self, job_id: str) -> bool:
        return _run(["qstat", "-j", job_id]).returncode == 0


def main_cluster(backend: ClusterBackend, prog: str, argv: Sequence[str] | None = None) -> int:
    try:
        spec = parse_args(sys.argv[1:] if argv is None else argv, prog, cluster=True)
        return run_cluster(spec, backend, prog)
    except JobError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "task":
        sys.exit(task_main(sys.argv[2], sys.argv[3]))
    if len(sys.argv) > 4 and sys.argv[1] == "guard" and sys.argv[3] == "--":
        sys.exit(guard_main(int(sys.argv[2]), sys.argv[4:]))
    print("usage: python -m utter.jobs task SPEC.json TASK  (used by utils/slurm.py, utils/queue.py)",
          file=sys.stderr)
    sys.exit(1)
