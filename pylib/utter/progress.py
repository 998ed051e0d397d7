"""Progress a person can follow: lines the jobs write, and one live line per running step.

Two halves, stdlib only (base floor):

* In a job: :func:`bar` is a tqdm bar on a terminal and, when stderr is a file (a job log), a
  :class:`LineProgress` that writes a line now and then (every 2 s at first, every 60 s after
  20 minutes) and a last one when it closes::

    12:03:04 utter progress: extract 450/1200 utt (38%), 36.1 utt/s, elapsed 0:00:12, eta 0:00:21

  The trainer's own line (``epoch 1 step 40/300 loss 9.1234 lr 0.001 ... 2.13 steps/s, eta 0:02:03``)
  is understood too (:func:`parse_line`).

* Around a job runner: ``python -m utter.progress --step NAME -- RUNNER [opts] [JOB=1:N] LOG cmd...``
  (utils/step_lib.sh puts it in front of every step's ``$cmd``) runs the runner unchanged, and while
  it runs reads the tail of each task's log (a log older than the start is ignored: the task has not
  started) and shows one line for the step: jobs done/total, the summed progress, the rate, the ETA
  and the last loss. On a terminal the line is redrawn in place every second and cleared at the end;
  otherwise (``nohup ... > log``) it is printed as a line every ``UTTER_PROGRESS_INTERVAL`` seconds
  (default 60; nothing for a step that ends sooner). ``UTTER_PROGRESS=off`` turns it off,
  ``lines``/``tty`` force a mode.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from utter.jobs.guard import die_with_parent
from utter.jobs.spec import JobError, JobSpec, parse_args

ENV_MODE = "UTTER_PROGRESS"
ENV_INTERVAL = "UTTER_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 60.0
WRAPPER = ("python", "-m", "utter.progress")


def hms(seconds: float | None) -> str:
    """``H:MM:SS`` of a duration (``?`` when unknown)."""
    if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "?"
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def parse_hms(text: str) -> float | None:
    """Seconds of ``H:MM:SS`` / ``MM:SS`` (None for ``?`` or anything else)."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    out = 0.0
    for p in parts:
        out = out * 60 + int(p)
    return out


def _rate(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def mode(stream: TextIO | None = None) -> str:
    """``tty``, ``lines`` or ``off``: ``UTTER_PROGRESS`` when set, else whether ``stream`` is a terminal."""
    forced = os.environ.get(ENV_MODE, "").strip().lower()
    if forced in ("tty", "lines", "off"):
        return forced
    if forced in ("0", "false", "no", "none"):
        return "off"
    stream = sys.stderr if stream is None else stream
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        is_tty = False
    return "tty" if is_tty and os.environ.get("TERM", "") != "dumb" else "lines"


# ---------------------------------------------------------------------------------------------
# In a job: the progress lines


def format_line(desc: str, n: int, total: int | None, unit: str, rate: float | None, elapsed: float,
                eta: float | None, postfix: dict[str, Any] | None = None, done: bool = False) -> str:
    """One progress line (without the time stamp), as :func:`parse_line` reads it back."""
    pct = f" ({100.0 * n / total:.0f}%)" if total else ""
    text = f"progress: {desc or 'work'} {n}/{total if total is not None else '?'} {unit}{pct}, " \
           f"{_rate(rate)} {unit}/s, elapsed {hms(elapsed)}"
    text += ", done" if done else f", eta {hms(eta)}"
    for k, v in (postfix or {}).items():
        text += f", {k} {v}"
    return text


class LineProgress:
    """A tqdm-like bar for job logs: a progress line now and then, and one when it closes.

    The subset of tqdm the stage programs use: iteration, ``update``, ``set_postfix``, ``close``,
    a context manager, ``n`` and ``total``. Lines go out when ``interval(elapsed)`` seconds have
    passed since the last (:func:`default_interval`: 2 s at first, growing to 60 s).
    """

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, file: TextIO | None = None,
                 interval: Callable[[float], float] | None = None, clock: Callable[[], float] = time.monotonic,
                 disable: bool = False, **_ignored: Any):
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc.replace(" ", "_")
        self.unit = unit
        self.n = self.initial = int(initial)
        self.file = file
        self.interval = interval or default_interval
        self.clock = clock
        self.disable = disable
        self.postfix: dict[str, Any] = {}
        self.start = self.last = clock()
        self.closed = False
        self.lines = 0

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("LineProgress without an iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.total or 0

    def rate(self, now: float | None = None) -> float | None:
        elapsed = (self.clock() if now is None else now) - self.start
        done = self.n - self.initial
        return done / elapsed if elapsed > 0 and done > 0 else None

    def eta(self, now: float | None = None) -> float | None:
        rate = self.rate(now)
        if self.total is None or rate is None:
            return None
        return max(self.total - self.n, 0) / rate

    def line(self, now: float | None = None, done: bool = False) -> str:
        now = self.clock() if now is None else now
        return format_line(self.desc, self.n, self.total, self.unit, self.rate(now), now - self.start,
                           self.eta(now), self.postfix, done=done)

    def _emit(self, now: float, done: bool = False) -> None:
        if self.disable:
            return
        out = self.file if self.file is not None else sys.stderr
        print(f"{time.strftime('%H:%M:%S')} utter {self.line(now, done)}", file=out, flush=True)
        self.last = now
        self.lines += 1

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if now - self.last >= self.interval(now - self.start):
            self._emit(now)

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = (desc or "").replace(" ", "_")

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._emit(self.clock(), done=self.total is not None and self.n >= self.total)


def default_interval(elapsed: float) -> float:
    """Seconds between two progress lines of a job: 2 s at first, elapsed/20 later, at most 60 s."""
    return min(60.0, max(2.0, elapsed / 20.0))


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
        initial: int = 0, tty: Callable[..., Any] | None = None, file: TextIO | None = None,
        disable: bool = False, **tty_kwargs: Any) -> Any:
    """A progress bar for a stage program: ``tty(...)`` (pass ``tqdm.tqdm``) on a terminal, else a
    :class:`LineProgress` writing lines into the job log (``UTTER_PROGRESS=off`` or ``disable``: silent)."""
    stream = sys.stderr if file is None else file
    how = "off" if disable else mode(stream)
    if how == "tty" and tty is not None:
        return tty(iterable, total=total, desc=desc, unit=unit, initial=initial, file=stream,
                   dynamic_ncols=True, **tty_kwargs)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=stream,
                        disable=how == "off")


# ---------------------------------------------------------------------------------------------
# Reading progress back from a log

_LINE = re.compile(r"progress: (?P<desc>\S+) (?P<n>\d+)/(?P<total>\d+|\?) (?P<unit>\S+)(?: \(\d+%\))?, "
                   r"(?P<rate>[\d.e+-]+|\?) \S+/s(?P<rest>.*)$")
_TRAIN = re.compile(r"\bstep (?P<n>\d+)/(?P<total>\d+) loss (?P<loss>\S+)(?P<mid>.*?) "
                    r"(?P<rate>[\d.e+-]+) steps/s(?P<rest>.*)$")
_FOOTER = re.compile(r"^# Ended \(code (-?\d+)\)", re.M)


@dataclasses.dataclass
class Progress:
    """What a progress line says."""

    n: int
    total: int | None
    unit: str
    rate: float | None = None
    eta: float | None = None
    loss: str | None = None
    done: bool = False
    desc: str = ""


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_line(line: str) -> Progress | None:
    """The progress of one log line (a :class:`LineProgress` line or the trainer's), else None."""
    m = _LINE.search(line)
    if m:
        rest = m.group("rest")
        eta = re.search(r", eta (\S+?)(?:,|$)", rest)
        loss = re.search(r", loss (\S+?)(?:,|$)", rest)
        total = m.group("total")
        return Progress(int(m.group("n")), None if total == "?" else int(total), m.group("unit"),
                        _float(m.group("rate")), parse_hms(eta.group(1)) if eta else None,
                        loss.group(1) if loss else None, done=", done" in rest, desc=m.group("desc"))
    m = _TRAIN.search(line)
    if m:
        n, total, rate = int(m.group("n")), int(m.group("total")), _float(m.group("rate"))
        eta_m = re.search(r"eta (\S+)", m.group("rest"))
        eta = parse_hms(eta_m.group(1)) if eta_m else None
        if eta is None and rate:
            eta = (total - n) / rate
        return Progress(n, total, "step", rate, eta, m.group("loss"), done=n >= total, desc="train")
    return None


@dataclasses.dataclass
class TaskState:
    """One task of a step, from its log: not started, running (with progress, maybe) or ended."""

    started: bool = False
    ended: bool = False
    code: int | None = None
    progress: Progress | None = None


def read_tail(path: Path, size: int = 65536) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        f.seek(max(0, end - size))
        return f.read().decode("utf-8", errors="replace")


def task_state(log: Path, since: float = 0.0) -> TaskState:
    """The state of the task writing ``log``; a log last written before ``since`` is a past run's."""
    try:
        mtime = log.stat().st_mtime
        if mtime < since:
            return TaskState()
        text = read_tail(log)
    except OSError:
        return TaskState()
    state = TaskState(started=True)
    ends = _FOOTER.findall(text)
    if ends:
        state.ended, state.code = True, int(ends[-1])
    for line in reversed(text.splitlines()):
        p = parse_line(line)
        if p is not None:
            if p.eta is not None and not state.ended:  # the line's ETA, less the time since it was written
                p.eta = max(0.0, p.eta - max(0.0, time.time() - mtime))
            state.progress = p
            break
    return state


def summarise(step: str, states: Sequence[TaskState], elapsed: float, where: str = "") -> str:
    """The one line of a step: jobs done/total, summed progress, rate, ETA, the last loss."""
    nj = len(states)
    ended = sum(s.ended for s in states)
    failed = sum(s.ended and s.code not in (0, None) for s in states)
    parts = []
    if nj > 1:
        parts.append(f"jobs {ended}/{nj} done" + (f" ({failed} failed)" if failed else ""))
    known = [(j, s) for j, s in enumerate(states, 1) if s.progress is not None and s.progress.total]
    if known:
        unit = known[0][1].progress.unit
        n = sum(s.progress.total if s.ended and not s.code else s.progress.n for _, s in known)
        total = sum(s.progress.total for _, s in known)
        if len(known) < nj:  # tasks not started (or silent so far): as large as the mean of the others
            total += round(total / len(known) * (nj - len(known)))
        running = [(j, s) for j, s in known if not s.ended]
        rate = sum(s.progress.rate or 0.0 for _, s in running)
        if not rate and n and ended < nj and elapsed > 0:  # none running reports yet: the step's mean
            rate = n / elapsed
        if nj == 1 and known[0][1].progress.eta is not None:
            eta = known[0][1].progress.eta
        else:
            eta = max(total - n, 0) / rate if rate else None
        pct = f" ({100.0 * n / total:.0f}%)" if total else ""
        parts.append(f"step {n}/{total}{pct}" if unit == "step" else f"{n}/{total} {unit}{pct}")
        if rate:
            parts.append(f"{_rate(rate)} {unit}s/s" if unit == "step" else f"{_rate(rate)} {unit}/s")
        if ended < nj:
            parts.append(f"eta {hms(eta)}")
        losses = [(j, s.progress.loss) for j, s in running if s.progress.loss]
        if losses:
            parts.append(f"loss {losses[0][1]}" + (f" (job {losses[0][0]})" if nj > 1 else ""))
    elif not any(s.started for s in states):
        parts.append("waiting for the job" + ("s" if nj > 1 else "") + " to start")
    parts.append(f"elapsed {hms(elapsed)}")
    text = f"{step}: " + ", ".join(parts)
    return text + (f" ({where})" if where else "")


# ---------------------------------------------------------------------------------------------
# Around a job runner


def parse_runner(argv: Sequence[str]) -> JobSpec | None:
    """The job spec of a runner command line ``RUNNER [options] [JOB=a:b] [options] LOG command...``
    (its log and task range: ``logs()``, ``where()``), read with the runners' own parser, quietly
    (its warnings and ``--help`` are the runner's to give); None when it is not a runner's line or
    its LOG is no ``.log`` file: such a command is run as it is.
    """
    if not argv:
        return None
    try:
        spec = parse_args(argv[1:], os.path.basename(argv[0]), quiet=True)
    except JobError:
        return None
    return spec if spec.log.endswith(".log") else None


def _interval() -> float:
    try:
        return max(0.1, float(os.environ.get(ENV_INTERVAL, DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


class Display:
    """The step's line on stderr: redrawn in place on a terminal, a line now and then otherwise."""

    def __init__(self, how: str, stream: TextIO, interval: float):
        self.how = how
        self.stream = stream
        self.interval = interval
        self.shown = False
        self.lock = threading.Lock()
        self.text = ""

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        if columns <= 0:  # a terminal that does not say (a pty of script(1), some CI consoles)
            columns = int(os.environ.get("COLUMNS", "0") or 0) or 160
        return max(20, columns - 1)

    def show(self, text: str) -> None:
        with self.lock:
            self.text = text
            if self.how == "tty":
                self.stream.write("\r" + text[: self._width()] + "\033[K")
                self.shown = True
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.how == "tty" and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def passthrough(self, data: bytes, out: Any) -> None:
        """Output of the runner itself: clear the live line, write it, draw the line again."""
        with self.lock:
            self.clear()
            out.write(data)
            out.flush()
            if self.text and self.how == "tty":
                self.stream.write("\r" + self.text[: self._width()] + "\033[K")
                self.stream.flush()
                self.shown = True


def _pump(pipe: Any, out: Any, display: Display) -> None:
    for data in iter(pipe.readline, b""):
        display.passthrough(data, out)
    pipe.close()


def watch(step: str, argv: Sequence[str], *, how: str | None = None, stream: TextIO | None = None,
          interval: float | None = None, tick: float = 1.0) -> int:
    """Run the runner command ``argv``, showing the step's progress; its exit status. A Ctrl-C that
    reaches this wrapper too, wherever it is, waits for the runner to stop."""
    stream = sys.stderr if stream is None else stream
    how = how or mode(stream)
    spec = parse_runner(argv)
    if how == "off" or spec is None:
        return subprocess.call(list(argv))
    interval = _interval() if interval is None else interval
    start_wall, start = time.time() - 1.0, time.monotonic()
    tty = how == "tty"
    display = Display(how, stream, interval)
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE if tty else None,
                            stderr=subprocess.PIPE if tty else None)
    pumps = []
    if tty:
        for pipe, out in ((proc.stdout, sys.stdout.buffer), (proc.stderr, sys.stderr.buffer)):
            t = threading.Thread(target=_pump, args=(pipe, out, display), daemon=True)
            t.start()
            pumps.append(t)

    def forward(signum: int, frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    # the runner stops when whatever started it dies; so must this wrapper, which is its parent now:
    # SIGTERM from the kernel when the step's shell ends (and a poll of the parent pid elsewhere)
    parent = os.getppid()
    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    die_with_parent(signal.SIGTERM)
    logs = spec.logs()
    next_line = start + interval
    interrupts = 0
    try:
        while True:
            try:
                try:
                    rc = proc.wait(timeout=tick)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if os.getppid() != parent and proc.poll() is None:
                    proc.terminate()
                    parent = os.getppid()
                now = time.monotonic()
                if tty or now >= next_line:
                    states = [task_state(p, start_wall) for p in logs]
                    display.show(summarise(step, states, now - start, spec.where()))
                    next_line = now + interval
            except KeyboardInterrupt:  # the terminal sent SIGINT to the runner as well: wait for it to stop
                interrupts += 1
                if interrupts > 1 and proc.poll() is None:
                    proc.terminate()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for t in pumps:
            t.join(timeout=5)
        display.clear()
    return 128 - rc if rc < 0 else rc


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    step = "job"
    usage = ("usage: python -m utter.progress [--step NAME] -- RUNNER [options] [JOB=1:N] LOG command...\n"
             "  runs the job runner and shows the step's progress on stderr (see the module docstring)")
    while args and args[0] != "--":
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            print(usage)
            return 0
        if opt == "--step" and args:
            step = args.pop(0)
        elif opt.startswith("--step="):
            step = opt.split("=", 1)[1]
        else:
            print(f"utter.progress: unknown option {opt}\n{usage}", file=sys.stderr)
            return 1
    if not args or len(args) < 2:
        print(usage, file=sys.stderr)
        return 1
    runner = args[1:]
    if os.path.isabs(step) and step.startswith(os.getcwd() + os.sep):  # steps/x.sh, as the messages
        step = os.path.relpath(step)
    # progress off, or a runner of another interface: run it as it is
    while tuple(runner[:3]) == WRAPPER and "--" in runner:  # a step given a wrapped --cmd: this
        runner = runner[runner.index("--") + 1:]                # step's name, the inner runner
    if mode() == "off" or parse_runner(runner) is None:
        try:
            os.execvp(runner[0], runner)
        except OSError as e:
            print(f"utter.progress: cannot run {runner[0]}: {e.strerror}", file=sys.stderr)
            return 127
    try:
        return watch(step, runner)
    except OSError as e:
        print(f"utter.progress: cannot run {runner[0]}: {e.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
