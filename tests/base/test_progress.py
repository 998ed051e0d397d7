"""utter.progress: the jobs' progress lines, and the live line of a step around its job runner."""
from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from utter import progress as pg

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'pylib'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
       "PATH": f"{ROOT / 'utils'}{os.pathsep}{os.environ['PATH']}"}


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_hms_round_trip():
    assert pg.hms(0) == "0:00:00" and pg.hms(3725.4) == "1:02:05" and pg.hms(None) == "?"
    assert pg.hms(float("inf")) == "?" and pg.hms(-3) == "0:00:00"
    assert pg.parse_hms("1:02:05") == 3725 and pg.parse_hms("02:05") == 125 and pg.parse_hms("?") is None


def test_line_round_trip():
    line = pg.format_line("extract", 450, 1200, "utt", 36.1, 12.0, 20.8, {"loss": "1.2345"})
    assert line == ("progress: extract 450/1200 utt (38%), 36.1 utt/s, elapsed 0:00:12, eta 0:00:21, "
                    "loss 1.2345")
    p = pg.parse_line("12:03:04 utter " + line)
    assert (p.desc, p.n, p.total, p.unit, p.rate, p.eta, p.loss, p.done) == \
        ("extract", 450, 1200, "utt", 36.1, 21, "1.2345", False)
    done = pg.parse_line(pg.format_line("fbank", 9, 9, "utt", None, 3, None, done=True))
    assert done.done and done.rate is None and done.eta is None
    assert pg.parse_line("12:00:00 utter INFO: wrote exp/x") is None


@pytest.mark.parametrize("line, eta", [
    ("10:00:00 utter INFO: epoch 2 step 40/300 loss 9.1234 lr 0.001 2.00 steps/s", 130),
    ("10:00:00 utter INFO: epoch 2 step 40/300 loss 9.1234 lr 0.001 teacher_entropy 0.5 2.00 steps/s, "
     "eta 0:02:03", 123),
])
def test_trainer_line(line, eta):
    p = pg.parse_line(line)
    assert (p.n, p.total, p.unit, p.loss, p.rate) == (40, 300, "step", "9.1234", 2.0)
    assert p.eta == pytest.approx(eta)


def test_line_progress_writes_now_and_then_and_at_the_end():
    clock, out = Clock(), io.StringIO()
    bar = pg.LineProgress(total=80, desc="fbank", unit="utt", file=out, clock=clock)
    for _ in range(80):
        clock.t += 0.125   # 8 utt/s for 10 s: a line every 2 s, and one at the end
        bar.update()
    bar.set_postfix(loss="0.5")
    bar.close()
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 6, lines
    first = pg.parse_line(lines[0])
    assert (first.n, first.total, first.rate, first.eta) == (16, 80, 8.0, 8.0)
    last = pg.parse_line(lines[-1])
    assert last.done and last.n == 80 and last.loss == "0.5"
    assert lines[-1].endswith("elapsed 0:00:10, done, loss 0.5")


def test_line_progress_interval_grows_to_a_minute():
    assert pg.default_interval(0) == 2 and pg.default_interval(200) == 10 and pg.default_interval(1e6) == 60
    clock, out = Clock(), io.StringIO()
    bar = pg.LineProgress(range(5), desc="x", file=out, clock=clock, initial=0)
    assert list(bar) == [0, 1, 2, 3, 4] and bar.closed and len(out.getvalue().splitlines()) == 1


def test_bar_is_tqdm_on_a_terminal_and_lines_in_a_log(monkeypatch):
    class FakeTqdm:
        def __init__(self, iterable=None, **kw):
            self.kw = kw

    monkeypatch.setenv(pg.ENV_MODE, "tty")
    assert isinstance(pg.bar(total=3, desc="d", unit="utt", tty=FakeTqdm), FakeTqdm)
    monkeypatch.setenv(pg.ENV_MODE, "")
    b = pg.bar(total=3, desc="d", unit="utt", tty=FakeTqdm, file=io.StringIO())  # not a tty
    assert isinstance(b, pg.LineProgress) and not b.disable
    monkeypatch.setenv(pg.ENV_MODE, "off")
    out = io.StringIO()
    b = pg.bar(total=3, tty=FakeTqdm, file=out)
    b.update(3)
    b.close()
    assert isinstance(b, pg.LineProgress) and out.getvalue() == ""


def _state(n, total, unit="utt", rate=None, eta=None, loss=None, ended=False, code=None):
    return pg.TaskState(True, ended, code, pg.Progress(n, total, unit, rate, eta, loss))


def test_summary_of_several_jobs():
    states = [_state(100, 100, ended=True, code=0), _state(50, 100, rate=10.0), _state(20, 100, rate=5.0),
              pg.TaskState()]
    text = pg.summarise("steps/extract_embeddings.sh", states, 30, "exp/e/log/extract.*.log")
    # the job not started counts as the mean of the others: 400 in all, 230 left at 15 utt/s
    assert text == ("steps/extract_embeddings.sh: jobs 1/4 done, 170/400 utt (42%), 15 utt/s, eta 0:00:15, "
                    "elapsed 0:00:30 (exp/e/log/extract.*.log)")
    failed = pg.summarise("s", [_state(3, 3, ended=True, code=1), _state(1, 3, rate=1.0)], 5)
    assert failed.startswith("s: jobs 1/2 done (1 failed), ")


def test_summary_of_a_training_job():
    text = pg.summarise("steps/train_nnet.sh", [_state(120, 300, "step", 2.0, 90.0, "5.1234")], 61,
                        "exp/dino/log/train.log")
    assert text == ("steps/train_nnet.sh: step 120/300 (40%), 2 steps/s, eta 0:01:30, loss 5.1234, "
                    "elapsed 0:01:01 (exp/dino/log/train.log)")
    assert pg.summarise("s", [pg.TaskState()], 1) == "s: waiting for the job to start, elapsed 0:00:01"
    assert pg.summarise("s", [pg.TaskState(started=True)], 1) == "s: elapsed 0:00:01"


def test_task_state_from_a_log(tmp_path):
    log = tmp_path / "x.1.log"
    log.write_text("# python -m utter.bin.x\n# Started at now\n#\n"
                   "10:00:00 utter " + pg.format_line("vad", 5, 10, "utt", 5.0, 1, 1) + "\n"
                   "10:00:01 utter WARNING: something\n")
    s = pg.task_state(log)
    assert s.started and not s.ended and (s.progress.n, s.progress.total) == (5, 10)
    log.write_text(log.read_text() + "# Accounting: time=2 threads=1\n# Ended (code 0) at now, elapsed 2 s\n")
    s = pg.task_state(log)
    assert s.ended and s.code == 0
    assert not pg.task_state(log, since=time.time() + 10).started   # an earlier run's log
    assert not pg.task_state(tmp_path / "none.log").started


def test_parse_runner():
    r = pg.parse_runner(["run.py", "--num-threads", "2", "--mem=4G", "JOB=1:4", "log/x.JOB.log", "python", "a"])
    assert (r.log, r.var, r.tasks, r.where()) == ("log/x.JOB.log", "JOB", range(1, 5), "log/x.*.log")
    assert [p.name for p in r.logs("/d")] == ["x.1.log", "x.2.log", "x.3.log", "x.4.log"]
    one = pg.parse_runner(["run.py", "exp/log/train.log", "python", "-m", "x"])
    assert (one.log, one.var, one.tasks, one.where()) == ("exp/log/train.log", None, range(1, 2), "exp/log/train.log")
    assert pg.parse_runner(["run.py", "--gpu"]) is None and pg.parse_runner(["run.py", "x.log"]) is None
    late = pg.parse_runner(["slurm.py", "-V", "JOB=2:3", "--mem", "4G", "-pe", "smp", "2", "l/x.JOB.log", "cmd"])
    assert (late.log, late.var, late.tasks) == ("l/x.JOB.log", "JOB", range(2, 4))
    assert pg.parse_runner(["run.py", "JOB=1:4", "x.log", "cmd"]) is None   # not a runner's line: run as it is


JOB = textwrap.dedent("""
    import sys, time
    from utter.progress import bar
    n, fail = int(sys.argv[1]), sys.argv[2] == "fail"
    with bar(total=n, desc="extract", unit="utt") as b:
        for i in range(n):
            time.sleep(0.05)
            b.update()
    if fail:
        sys.exit("job failed on purpose")
""")


def _wrapper(tmp_path, *runner, **env):
    (tmp_path / "job.py").write_text(JOB)
    return subprocess.run([sys.executable, "-m", "utter.progress", "--step", "steps/x.sh", "--", *runner],
                          cwd=tmp_path, capture_output=True, text=True, env={**ENV, **env}, timeout=120)


def test_wrapper_prints_lines_when_not_a_terminal(tmp_path):
    r = _wrapper(tmp_path, "run.py", "JOB=1:2", "log/x.JOB.log", sys.executable, "job.py", "60", "ok",
                 UTTER_PROGRESS_INTERVAL="0.5")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("steps/x.sh: ")]
    assert lines and all(ln.endswith("(log/x.*.log)") for ln in lines), r.stderr
    assert any("/120 utt (" in ln and ", eta " in ln and "jobs 0/2 done" in ln for ln in lines), r.stderr
    assert "\r" not in r.stderr and r.stdout == ""
    # a step shorter than the interval prints nothing
    quiet = _wrapper(tmp_path, "run.py", "log/y.log", sys.executable, "job.py", "2", "ok")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_wrapper_passes_the_runner_status_and_messages(tmp_path):
    r = _wrapper(tmp_path, "run.py", "JOB=1:2", "log/x.JOB.log", sys.executable, "job.py", "3", "fail")
    assert r.returncode == 1
    assert "run.py: 2 / 2 failed, logs:" in r.stderr and "log/x.1.log (code 1)" in r.stderr
    off = _wrapper(tmp_path, "run.py", "log/z.log", sys.executable, "job.py", "3", "fail", UTTER_PROGRESS="off")
    assert off.returncode == 1 and "run.py: job failed, log is in log/z.log" in off.stderr
    # another runner's interface (no log argument): run as it is
    other = _wrapper(tmp_path, "bash", "-c", "exit 3")
    assert other.returncode == 3


def test_wrapper_on_a_terminal_redraws_one_line(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "utter.progress", "--step", "steps/outer.sh", "--",
         "python", "-m", "utter.progress", "--step", "steps/inner.sh", "--",   # a wrapped --cmd: one line
         "run.py", "log/t.log", sys.executable, "job.py", "60", "ok"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
        env={**ENV, "TERM": "xterm", "COLUMNS": "200"})
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    assert proc.wait(timeout=60) == 0
    os.close(master)
    text = out.decode()
    frames = [f for f in text.split("\r") if f.strip("\x1b[K")]
    assert frames and all(f.startswith("steps/outer.sh: ") and f.endswith("\x1b[K") for f in frames), text
    assert "steps/inner.sh" not in text and "\n" not in text
    assert any("/60 utt (" in f and "eta 0:00:0" in f for f in frames), text
    assert text.endswith("\r\x1b[K")   # cleared at the end: the step prints its own closing line


STEP = """#!/usr/bin/env bash
# A step for the test: runs its jobs through $cmd.
set -euo pipefail
nj=2
cmd=run.py
. "{root}/utils/step_lib.sh"
$cmd JOB=1:"$nj" log/s.JOB.log {python} job.py 100 ok
echo "$0: done"
"""


def test_step_lib_puts_the_progress_line_in_front_of_cmd(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    step = tmp_path / "step.sh"
    step.write_text(STEP.format(root=ROOT, python=sys.executable))
    step.chmod(0o755)
    r = subprocess.run(["./step.sh", "--nj", "2"], cwd=tmp_path, capture_output=True, text=True,
                       env={**ENV, "UTTER_PROGRESS_INTERVAL": "0.5"}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "./step.sh: done\n"
    assert any(ln.startswith("./step.sh: jobs ") and "/200 utt" in ln for ln in r.stderr.splitlines()), r.stderr
    assert (tmp_path / "log/s.2.log").exists()


def test_the_trainers_log_line_is_understood(tmp_path, caplog):
    """train.log's line every --log-interval steps carries step/total, loss, steps/s and the ETA."""
    import logging

    from train_toy import make_trainer

    caplog.set_level(logging.INFO, logger="utter")
    make_trainer(tmp_path, epochs=2).train()
    lines = [r.getMessage() for r in caplog.records if "steps/s" in r.getMessage()]
    assert [pg.parse_line(ln).n for ln in lines] == [5, 10, 12], lines
    first, last = pg.parse_line(lines[0]), pg.parse_line(lines[-1])
    assert (first.total, first.unit, first.loss) == (12, "step", lines[0].split()[5])
    assert ", eta 0:00:" in lines[0] and first.eta is not None
    assert last.done and last.eta == 0


def test_extraction_writes_utterance_progress(tmp_path, monkeypatch, capsys):
    """utter.train.extract counts utterances (not batches) in its progress lines."""
    import kaldiio
    import numpy as np
    import torch

    from utter.nnet import build_network
    from utter.train.extract import ExtractOptions, embed_data_dir

    rng = np.random.default_rng(0)
    feats = {f"u{i:02d}": rng.normal(size=(120, 80)).astype(np.float32) for i in range(7)}
    kaldiio.save_ark(str(tmp_path / "feats.ark"), feats, scp=str(tmp_path / "feats.scp"))
    (tmp_path / "utt2spk").write_text("".join(f"{k} s\n" for k in feats))
    (tmp_path / "spk2utt").write_text("s " + " ".join(feats) + "\n")
    torch.manual_seed(0)
    net = build_network(dict(arch="tdnn", feat_dim=80, channels=[8, 8, 8, 8, 16], embed_dim=4)).eval()
    monkeypatch.setenv(pg.ENV_MODE, "lines")
    out = dict(embed_data_dir(net, tmp_path, ExtractOptions(batch_size=3, use_vad=False)))
    assert len(out) == 7
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "progress: " in ln]
    assert lines and lines[-1].endswith(", done") and pg.parse_line(lines[-1]).n == 7, lines
    assert pg.parse_line(lines[-1]).unit == "utt"


def test_runner_and_tasks_stop_when_the_step_dies(tmp_path):
    """The wrapper sits between the step's shell and run.py: when the shell is killed (kill -9), the
    wrapper, run.py and the tasks go too, as they do without the wrapper."""
    import signal

    shell = subprocess.Popen(["bash", "-c", "python -m utter.progress --step s -- run.py JOB=1:2 "
                              "log/k.JOB.log bash -c 'echo $$ > pid.JOB; exec sleep 120'; echo after"],
                             cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(600):
        if all((tmp_path / f"pid.{j}").is_file() and (tmp_path / f"pid.{j}").read_text().strip() for j in (1, 2)):
            break
        time.sleep(0.1)
    tasks = [int((tmp_path / f"pid.{j}").read_text()) for j in (1, 2)]
    os.kill(shell.pid, signal.SIGKILL)
    shell.wait()

    def alive(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False

    for _ in range(300):
        if not any(alive(p) for p in tasks):
            break
        time.sleep(0.1)
    assert not any(alive(p) for p in tasks), "tasks outlived the step"
