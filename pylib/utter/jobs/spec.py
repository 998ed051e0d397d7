"""The job spec: what ``RUNNER [options] [JOB=a:b] [options] LOG command...`` asks for.

The one grammar of the job runners' command line (``utils/run.py``, ``queue.py``, ``slurm.py``, as
Kaldi's run.pl/queue.pl/slurm.pl take it), read by :func:`parse_args` into a :class:`JobSpec`: the
command quoted as run.pl does, the ``JOB=a:b`` range, each task's log, the resources asked for.
:mod:`utter.progress` reads a runner's command line with the same parser (``quiet=True``).
"""
from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


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

    def log_for(self, task: int, cwd: str | os.PathLike | None = None) -> Path:
        """The log of ``task``; a relative one under ``cwd`` (by default the runner's directory)."""
        path = Path(self.substitute(self.log, task))
        return path if path.is_absolute() else Path(self.cwd if cwd is None else cwd) / path

    def logs(self, cwd: str | os.PathLike | None = None) -> list[Path]:
        """Every task's log (as :meth:`log_for`)."""
        return [self.log_for(task, cwd) for task in self.tasks]

    def where(self) -> str:
        """The log name, with ``*`` for the task number when there are several tasks."""
        return self.log.replace(self.var, "*") if self.var and len(self.tasks) > 1 else self.log

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
OWN_OPTIONS = ("config", "max_jobs_run", "queue_opts", "poll_interval")


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


def parse_args(argv: Sequence[str], prog: str, cluster: bool = False, quiet: bool = False) -> JobSpec:
    """Parse ``[options] [VAR=a:b] [options] LOG command...`` as Kaldi's run.pl/queue.pl do.

    ``--name value`` (or ``--name=value``) options are collected by name; single-dash options are
    scheduler options: ``-V`` alone, ``-pe ENV N`` with two values (N threads), ``-tc N`` the
    largest number of tasks at once, any other with one value. JobError if malformed. ``--help``
    prints the usage and exits 0; with ``quiet`` (for a reader of a runner's command line, not the
    runner) it is a JobError and no warning is printed."""
    def warn(text: str) -> None:
        if not quiet:
            print(f"{prog}: warning: {text}", file=sys.stderr)

    def on_help() -> None:
        if quiet:
            raise JobError(usage(prog, cluster))
        _print_help(prog, cluster)

    argv = list(argv)
    opts: dict[str, str] = {}
    sched: list[str] = []
    spec_var, start, end = None, 1, 1
    for _ in range(3):   # options may come before and after JOB=1:N, as in Kaldi's runners
        if argv and argv[0] in ("--help", "-h"):
            on_help()
        _take_options(argv, opts, sched, warn, on_help)
        if argv:
            found = _job_range(argv[0], warn)
            if found:
                spec_var, start, end = found
                argv.pop(0)
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
    spec = JobSpec(command=quote_args(argv), log=log, var=spec_var, start=start, end=end, options=opts,
                   sched_opts=sched, **_option_values(opts, cluster, warn))
    if spec.num_threads < 1:
        raise JobError(f"--num-threads must be at least 1, got {spec.num_threads}")
    if spec.max_jobs_run is not None and spec.max_jobs_run < 1:
        raise JobError(f"--max-jobs-run must be at least 1, got {spec.max_jobs_run}")
    return spec


def _take_options(argv: list[str], opts: dict[str, str], sched: list[str], warn: Callable[[str], None],
                  on_help: Callable[[], None]) -> None:
    """Take the options at the front of ``argv``: ``--name value`` into ``opts``, single-dash ones
    into ``sched`` (``-tc N`` is ``--max-jobs-run N``; ``-pe ENV N`` also sets ``--num-threads N``)."""
    while len(argv) >= 2 and argv[0].startswith("-"):
        opt = argv.pop(0)
        if opt in ("--help", "-h"):
            on_help()
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
                warn(f"suspicious argument '{val}' to --{name}; starts with '--'")
            opts[name.replace("-", "_")] = val
            continue
        val = argv.pop(0)
        if val.startswith("--"):
            warn(f"suspicious argument '{val}' to {opt}; starts with '--'")
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


def _job_range(arg: str, warn: Callable[[str], None]) -> tuple[str, int, int] | None:
    """``(VAR, a, b)`` of a ``VAR=a:b`` (or ``VAR=a``) argument; None for any other argument."""
    m = re.fullmatch(r"([A-Za-z_]\w*)=(\d+):(\d+)", arg)
    if m:
        start, end = int(m.group(2)), int(m.group(3))
        if start > end:
            raise JobError(f"invalid job range {m.group(0)}")
        if start < 1:
            raise JobError(f"invalid job range {m.group(0)}: the start must be at least 1 "
                           f"(as Grid Engine requires)")
        return m.group(1), start, end
    m = re.fullmatch(r"([A-Za-z_]\w*)=(\d+)", arg)
    if m:
        return m.group(1), int(m.group(2)), int(m.group(2))
    if re.fullmatch(r".+=.*:.*", arg) and not arg.startswith("-"):
        warn(f"suspicious first argument {arg}")
    return None


def _option_values(opts: dict[str, str], cluster: bool, warn: Callable[[str], None]) -> dict:
    """The :class:`JobSpec` fields the options with a meaning here set (typed); run.py warns of the others."""
    values: dict = {}
    for name, val in opts.items():
        if name in _OPTIONS:
            attr, kind = _OPTIONS[name]
            try:
                values[attr] = kind(val)
            except ValueError:
                raise JobError(f"option --{name.replace('_', '-')}: bad value '{val}'") from None
        elif not cluster:
            warn(f"ignoring option --{name.replace('_', '-')} {val} (run.py runs here; "
                 f"as run.pl, it ignores options meant for a queue)")
    return values


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


