"""The cluster runners (``utils/queue.py``: Grid Engine; ``utils/slurm.py``: SLURM), as Kaldi's
queue.pl/slurm.pl.

They submit a job array whose tasks call :func:`utter.jobs.local.run_task` through ``python -m
utter.jobs task SPEC TASK`` (so every log looks alike), wait for each task's done file and report as
the local runner does. The ``--options`` become scheduler options through Kaldi's queue.conf /
slurm.conf (:class:`QueueConfig`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from utter.jobs.local import run_task
from utter.jobs.spec import OWN_OPTIONS, JobError, JobSpec, parse_args, report


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
            if name in OWN_OPTIONS:
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
    pylib = str(Path(__file__).resolve().parents[2])
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
    """How one scheduler submits an array, says whether it still runs, and names task states.

    A scheduler's class names its config files, the command that submits the array (:meth:`command`)
    and how the job id is found in that command's output (``job_id_re``, its group 1)."""

    config_path: str
    default_config: str
    job_id_re: str

    def command(self, spec: JobSpec, script: Path) -> list[str]:
        raise NotImplementedError

    def scheduler_command(self, spec: JobSpec) -> list[str]:
        """The config's submit command with the scheduler options: from the config for the ``--options``,
        then the single-dash ones and ``--queue-opts`` as they are."""
        cfg = load_config(spec, self.config_path, self.default_config)
        return cfg.command + cfg.scheduler_args(_config_options(spec)) + spec.sched_opts + shlex.split(spec.queue_opts)

    def submit(self, spec: JobSpec, script: Path) -> str:
        cmd = self.command(spec, script)
        p = _run(cmd)
        m = re.search(self.job_id_re, p.stdout)
        if p.returncode != 0 or not m:
            raise JobError(f"{cmd[0]} failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
        return m.group(1)

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
    job_id_re = r"^\s*(\d+)"        # --parsable: "ID" or "ID;cluster"

    def command(self, spec: JobSpec, script: Path) -> list[str]:
        cmd = self.scheduler_command(spec)
        name = job_name(spec)
        array = f"{spec.start}-{spec.end}" + (f"%{spec.max_jobs_run}" if spec.max_jobs_run else "")
        return cmd + ["--parsable", f"--array={array}", f"--job-name={name}",
                      f"--output={queue_dir(spec) / (name + '.%a.out')}", str(script)]

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
    job_id_re = r"Your job(?:-array)? (\d+)"

    def command(self, spec: JobSpec, script: Path) -> list[str]:
        cmd = self.scheduler_command(spec)
        name = job_name(spec)
        cmd += ["-N", name, "-t", f"{spec.start}:{spec.end}", "-o", str(queue_dir(spec) / f"{name}.$TASK_ID.out")]
        if spec.max_jobs_run:
            cmd += ["-tc", str(spec.max_jobs_run)]
        return cmd + [str(script)]

    def alive(self, job_id: str) -> bool:
        return _run(["qstat", "-j", job_id]).returncode == 0


def main_cluster(backend: ClusterBackend, prog: str, argv: Sequence[str] | None = None) -> int:
    try:
        spec = parse_args(sys.argv[1:] if argv is None else argv, prog, cluster=True)
        return run_cluster(spec, backend, prog)
    except JobError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1


