"""Kaldi-style job runners: ``run.py``/``slurm.py``/``queue.py JOB=1:N log.JOB.log command...``.

One implementation of what the three runners share: parsing their options and the
``JOB=a:b`` range, quoting the command as Kaldi's run.pl does, and running one task into
its log (command, start time, output, accounting and ``# Ended (code N)`` lines). The
local runner runs the tasks here; the cluster runners submit a job array whose tasks call
:func:`run_task` through ``python -m utter.jobs task SPEC TASK``, so every log looks alike.
"""
from __future__ import annotations

import concurrent.futures
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
    """What to run: the command (JOB still in it), the task range and the resources asked for."""

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


# Options every runner takes: name -> (attribute, type). Local runs ignore --mem/--gpu/--time.
_OPTIONS = {
    "--num-threads": ("num_threads", int),
    "--max-jobs-run": ("max_jobs_run", int),
    "--mem": ("mem", str),
    "--gpu": ("gpu", int),
    "--time": ("time", str),
}
_CLUSTER_OPTIONS = {
    "--queue-opts": ("queue_opts", str),
    "--poll-interval": ("poll_interval", float),
}


def usage(prog: str, cluster: bool) -> str:
    extra = " [--queue-opts 'OPTS'] [--poll-interval S]" if cluster else ""
    return (f"usage: {prog} [--num-threads T] [--max-jobs-run N] [--mem X] [--gpu N] [--time T]{extra} "
            f"[JOB=1:N] LOG command args...\n"
            f"  e.g. {prog} JOB=1:4 exp/log/extract.JOB.log python -m utter.bin.x --job JOB\n"
            f"  JOB (any identifier) is replaced by the task number in LOG and the command; each task's\n"
            f"  output goes to its log; exits 1 naming the failed logs if any task fails.")


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
    """Parse ``[options] [VAR=a:b] LOG command...`` into a :class:`JobSpec` (JobError if malformed)."""
    argv = list(argv)
    known = dict(_OPTIONS, **(_CLUSTER_OPTIONS if cluster else {}))
    values: dict = {}
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if opt in ("--help", "-h"):
            print(usage(prog, cluster))
            sys.exit(0)
        name, eq, val = opt.partition("=")
        if name not in known:
            raise JobError(f"unknown option {name}\n{usage(prog, cluster)}")
        if not eq:
            if not argv:
                raise JobError(f"option {name} needs a value")
            val = argv.pop(0)
        attr, kind = known[name]
        try:
            values[attr] = kind(val)
        except ValueError:
            raise JobError(f"option {name}: bad value '{val}'") from None
    spec_var, start, end = None, 1, 1
    if argv:
        m = re.fullmatch(r"([A-Za-z_]\w*)=(\d+):(\d+)", argv[0])
        m1 = re.fullmatch(r"([A-Za-z_]\w*)=(\d+)", argv[0])
        if m:
            spec_var, start, end = m.group(1), int(m.group(2)), int(m.group(3))
            argv.pop(0)
            if start > end:
                raise JobError(f"invalid job range {m.group(0)}")
        elif m1:
            spec_var, start, end = m1.group(1), int(m1.group(2)), int(m1.group(2))
            argv.pop(0)
        elif re.fullmatch(r".+=.*:.*", argv[0]):
            print(f"{prog}: warning: suspicious first argument {argv[0]}", file=sys.stderr)
    if len(argv) < 2:
        raise JobError(usage(prog, cluster))
    log = argv.pop(0)
    if spec_var and spec_var not in log and end > start:
        raise JobError(f"you are trying to run a parallel job but putting the output into one log file ({log})")
    if not spec_var and re.search(r"(?<!\w)JOB(?!\w)", log):
        raise JobError(f"log name {log} contains JOB but no JOB=1:N range was given "
                       "(forgot JOB=1:$nj?)")
    spec = JobSpec(command=quote_args(argv), log=log, var=spec_var, start=start, end=end, **values)
    if spec.num_threads < 1:
        raise JobError(f"--num-threads must be at least 1, got {spec.num_threads}")
    if spec.max_jobs_run is not None and spec.max_jobs_run < 1:
        raise JobError(f"--max-jobs-run must be at least 1, got {spec.max_jobs_run}")
    return spec


def thread_env(num_threads: int, base: dict | None = None) -> dict:
    """The environment for one task: every BLAS/OpenMP/torch thread count set to ``num_threads``."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env[var] = str(num_threads)
    return env


def _date() -> str:
    return time.strftime("%a %b %e %H:%M:%S %Z %Y")


def run_task(spec: JobSpec, task: int, procs: dict | None = None) -> int:
    """Run one task through bash, its output in its log between Kaldi's header and footer lines.

    Returns the exit status (128 + N for a task killed by signal N). ``procs`` (task -> Popen),
    when given, lets the caller kill running tasks on interruption.
    """
    log = spec.log_for(task)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = spec.command_for(task)
    with open(log, "w", encoding="utf-8") as f:
        f.write(f"# {cmd}\n# Started at {_date()}\n#\n")
    t0 = time.time()
    with open(log, "a", encoding="utf-8") as f:
        proc = subprocess.Popen(["bash", "-c", cmd], stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=spec.cwd, env=thread_env(spec.num_threads),
                                start_new_session=True)
        if procs is not None:
            procs[task] = proc
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


def run_local(spec: JobSpec, prog: str = "run.py") -> int:
    """Run every task on this machine, at most ``max_jobs_run`` at once; 1 if any failed."""
    workers = min(spec.max_jobs_run or default_max_jobs(), len(spec.tasks))
    procs: dict[int, subprocess.Popen] = {}
    status: dict[int, int] = {}
    stop = threading.Event()

    def one(task: int) -> None:
        if not stop.is_set():
            status[task] = run_task(spec, task, procs)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old_handler = signal.signal(signal.SIGTERM, on_term)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(one, t) for t in spec.tasks]
        for fut in futures:
            fut.result()
    except KeyboardInterrupt:
        stop.set()
        for proc in list(procs.values()):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        pool.shutdown(wait=False, cancel_futures=True)
        print(f"{prog}: interrupted, running tasks killed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old_handler)
    pool.shutdown()
    return report(prog, spec, status)


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


class Slurm(ClusterBackend):
    """SLURM: ``sbatch --array=a-b[%max]``, ``squeue`` while it runs, ``sacct`` for task states."""

    def submit(self, spec: JobSpec, script: Path) -> str:
        name = job_name(spec)
        array = f"{spec.start}-{spec.end}" + (f"%{spec.max_jobs_run}" if spec.max_jobs_run else "")
        cmd = ["sbatch", "--parsable", f"--array={array}", f"--job-name={name}", "--export=ALL",
               f"--output={queue_dir(spec) / (name + '.%a.out')}", f"--cpus-per-task={spec.num_threads}"]
        if spec.mem:
            cmd.append(f"--mem={spec.mem}")
        if spec.gpu:
            cmd.append(f"--gres=gpu:{spec.gpu}")
        if spec.time:
            cmd.append(f"--time={spec.time}")
        cmd += shlex.split(spec.queue_opts) + [str(script)]
        p = _run(cmd)
        m = re.match(r"\s*(\d+)", p.stdout)
        if p.returncode != 0 or not m:
            raise JobError(f"sbatch failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
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
    """Sun/Univa Grid Engine: ``qsub -t a:b [-tc max]``, ``qstat -j`` until it leaves the queue."""

    def submit(self, spec: JobSpec, script: Path) -> str:
        name = job_name(spec)
        cmd = ["qsub", "-V", "-cwd", "-j", "y", "-N", name, "-t", f"{spec.start}:{spec.end}",
               "-o", str(queue_dir(spec) / f"{name}.$TASK_ID.out")]
        if spec.max_jobs_run:
            cmd += ["-tc", str(spec.max_jobs_run)]
        if spec.num_threads > 1:
            cmd += ["-pe", "smp", str(spec.num_threads)]
        if spec.mem:
            cmd += ["-l", f"mem_free={spec.mem},ram_free={spec.mem}"]
        if spec.gpu:
            cmd += ["-l", f"gpu={spec.gpu}"]
        if spec.time:
            cmd += ["-l", f"h_rt={spec.time}"]
        cmd += shlex.split(spec.queue_opts) + [str(script)]
        p = _run(cmd)
        m = re.search(r"Your job(?:-array)? (\d+)", p.stdout)
        if p.returncode != 0 or not m:
            raise JobError(f"qsub failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
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
    print("usage: python -m utter.jobs task SPEC.json TASK  (used by utils/slurm.py, utils/queue.py)",
          file=sys.stderr)
    sys.exit(1)
