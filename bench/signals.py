"""Benchmark utils/run.py's clean-up when the terminal closes; prints tasks left and run.py hung.

Each iteration runs what tests/faults/test_faults.py::test_tasks_die_when_the_terminal_hangs_up runs: a
shell in its own session (a terminal's) running ``run.py JOB=1:N`` whose tasks write their pid (their
marker that they started) and sleep 120 s; once every task has started, SIGHUP to the session's
process group (``--also-term``: SIGTERM to run.py right after, as when the step's shell dies; or
``--nohup``: the shell run under nohup, where the run must go on). Then it polls every 10 ms, up to
``--deadline`` s, for the tasks' process groups to be gone and run.py to exit, and counts the
iterations with tasks left (then killed) and with run.py still running (hung), and the clean-up time
(signal to the last of them gone). Issue 26 saw tasks outlive the signal by 20 s in 3 runs of 50.
Run: nice tools/venv/bin/python bench/signals.py [--iterations 200] [--tasks 2] [--also-term | --nohup]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLEEPER = 'echo $$ > "$1"\nexec sleep 120\n'


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def groups_alive(pgids: set[int]) -> set[int]:
    """Those of ``pgids`` with a live (not zombie) process."""
    out = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields and fields[0] != "Z" and int(fields[2]) in pgids:
                out.add(int(fields[2]))
    return out


def runner_of(shell: int) -> int | None:
    """The pid of run.py, the shell's child."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if fields and int(fields[1]) == shell and b"run.py" in cmd:
                return int(name)
    return None


def wait_for(cond, timeout: float, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def iteration(work: Path, tasks: int, deadline: float, how: str) -> tuple[int, bool, float]:
    """One run: (tasks left after ``deadline``, run.py hung, clean-up seconds)."""
    pids = work / "pids"
    pids.mkdir(parents=True)
    (work / "sleeper.sh").write_text(SLEEPER)
    cmd = (f"{sys.executable} {ROOT}/utils/run.py JOB=1:{tasks} {work}/log/t.JOB.log "
           f"bash {work}/sleeper.sh {pids}/JOB; echo ended $?")
    argv = (["nohup"] if how == "nohup" else []) + ["bash", "-c", cmd]
    # SIGHUP at its default in the step's shell even when this bench runs under nohup (argv adds nohup itself)
    shell = subprocess.Popen(argv, cwd=work, start_new_session=True, stdin=subprocess.DEVNULL,
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files = [pids / str(j) for j in range(1, tasks + 1)]
    runner: int | None = None
    groups: set[int] = set()
    try:
        if not wait_for(lambda: all(f.is_file() and f.read_text().strip() for f in files), 60):
            raise RuntimeError(f"the tasks did not start (see {work}/log)")
        runner = runner_of(shell.pid)
        groups = {int(_stat(int(f.read_text()))[2]) for f in files}
        t0 = time.monotonic()
        os.killpg(shell.pid, signal.SIGHUP)
        if how == "also-term" and runner:
            os.kill(runner, signal.SIGTERM)
        if how == "nohup":     # the run must go on: nothing may have stopped after a while
            time.sleep(0.5)
            left = len(groups_alive(groups))
            ok = left == tasks and runner is not None and alive(runner)
            return (tasks - left), not ok, 0.0
        wait_for(lambda: not groups_alive(groups) and not (runner and alive(runner)), deadline)
        took = time.monotonic() - t0
        left = groups_alive(groups)
        hung = bool(runner and alive(runner))
        return len(left), hung, took
    finally:
        for g in groups_alive(groups):
            os.killpg(g, signal.SIGKILL)
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
        if runner and alive(runner):
            os.kill(runner, signal.SIGKILL)
        shell.wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--tasks", type=int, default=2, help="tasks of the run.py job")
    p.add_argument("--deadline", type=float, default=20.0, help="seconds the clean-up may take")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--also-term", action="store_true", help="SIGTERM to run.py right after the SIGHUP")
    how.add_argument("--nohup", action="store_true", help="under nohup: the run must survive the SIGHUP")
    args = p.parse_args()
    mode = "also-term" if args.also_term else "nohup" if args.nohup else "hup"
    left_total = hung_total = runs_left = 0
    times: list[float] = []
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="utter-signals-") as tmp:
        for i in range(args.iterations):
            left, hung, took = iteration(Path(tmp) / str(i), args.tasks, args.deadline, mode)
            left_total += left
            runs_left += left > 0
            hung_total += hung
            times.append(took)
    if mode == "nohup":
        print(f"{args.iterations} iterations under nohup ({args.tasks} tasks each): {left_total} tasks stopped, "
              f"{hung_total} runs did not survive SIGHUP ({time.monotonic() - t_start:.0f} s)")
        return 0
    times.sort()
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    what = "SIGHUP + SIGTERM" if mode == "also-term" else "SIGHUP"
    print(f"{args.iterations} iterations ({what}, {args.tasks} tasks each): {left_total} tasks left "
          f"(in {runs_left} runs), {hung_total} run.py hung, median clean-up {statistics.median(times):.2f} s, "
          f"95th percentile {p95:.2f} s, max {times[-1]:.2f} s ({time.monotonic() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
