"""utils/run.py, slurm.py and queue.py: Kaldi run.pl semantics, logs, failures, thread settings.

The cluster runners are driven through fake sbatch/squeue/sacct/qsub/qstat programs put first
on PATH: they record their arguments and run the array tasks here, as a scheduler would.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from utter.jobs.spec import JobError, parse_args, quote_args

ROOT = Path(__file__).resolve().parents[2]
UTILS = ROOT / "utils"


def run(args, cwd, env=None):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True)


def test_parallel_jobs_substitute_job_and_write_kaldi_logs(tmp_path):
    r = run([UTILS / "run.py", "JOB=1:3", "log/x.JOB.log", "echo", "task", "JOB", "|", "tr", "a-z", "A-Z"], tmp_path)
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        lines = (tmp_path / f"log/x.{j}.log").read_text().splitlines()
        assert lines[0] == f"# echo task {j} | tr a-z A-Z"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == "#"
        assert lines[3] == f"TASK {j}"
        assert re.fullmatch(r"# Accounting: time=\d+ threads=1", lines[4])
        assert re.fullmatch(r"# Ended \(code 0\) at .*, elapsed time \d+ seconds", lines[5])


def test_failed_jobs_are_named_and_exit_nonzero(tmp_path):
    r = run([UTILS / "run.py", "JOB=1:4", "exp/log/t.JOB.log", "test", "JOB", "-ne", "2", "-a", "JOB", "-ne", "4"],
            tmp_path)
    assert r.returncode == 1
    assert "2 / 4 failed" in r.stderr
    assert "exp/log/t.2.log" in r.stderr and "exp/log/t.4.log" in r.stderr
    assert "exp/log/t.1.log" not in r.stderr
    assert "# Ended (code 1)" in (tmp_path / "exp/log/t.2.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "exp/log/t.1.log").read_text()


def test_single_job_without_range_and_its_failure(tmp_path):
    r = run([UTILS / "run.py", "a/b/one.log", "echo", "two words", "&&", "exit", "3"], tmp_path)
    assert r.returncode == 1
    assert "job failed, log is in a/b/one.log" in r.stderr
    text = (tmp_path / "a/b/one.log").read_text()
    assert text.startswith('# echo "two words" && exit 3\n')  # run.pl's quoting of an argument with a space
    assert "two words\n" in text and "# Ended (code 3)" in text


def test_thread_settings_reach_each_job(tmp_path):
    cmd = 'echo "$OMP_NUM_THREADS $MKL_NUM_THREADS $OPENBLAS_NUM_THREADS $UTTER_NUM_THREADS"'
    # run.pl quoting: an argument holding a space and a double quote is single-quoted, so the
    # variables expand in the job's own bash; --mem/--gpu are accepted and ignored locally.
    r = run([UTILS / "run.py", "--num-threads", "3", "--mem", "4G", "--gpu", "0", "JOB=1:2", "l/t.JOB.log",
             "bash", "-c", cmd], tmp_path)
    assert r.returncode == 0, r.stderr
    for j in (1, 2):
        text = (tmp_path / f"l/t.{j}.log").read_text()
        assert "\n3 3 3 3\n" in text and "threads=3" in text


def test_default_threads_is_one(tmp_path):
    r = run([UTILS / "run.py", "l/t.log", "bash", "-c", "echo $UTTER_NUM_THREADS"], tmp_path,
            env={**os.environ, "OMP_NUM_THREADS": "8"})
    assert r.returncode == 0
    assert "\n1\n" in (tmp_path / "l/t.log").read_text()


def test_max_jobs_run_limits_concurrency(tmp_path):
    cmd = "date +%s.%N > t/JOB.start; sleep 0.3; date +%s.%N > t/JOB.end"
    (tmp_path / "t").mkdir()
    r = run([UTILS / "run.py", "--max-jobs-run", "1", "JOB=1:3", "l/s.JOB.log", "bash", "-c", cmd], tmp_path)
    assert r.returncode == 0, r.stderr
    spans = sorted((float((tmp_path / f"t/{j}.start").read_text()), float((tmp_path / f"t/{j}.end").read_text()))
                   for j in (1, 2, 3))
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))


def test_argument_errors(capsys):
    # run.pl ignores options meant for a queue (a warning here); a cluster runner keeps them
    assert parse_args(["--bogus", "1", "x.log", "true"], "run.py").log == "x.log"
    assert "ignoring option --bogus 1" in capsys.readouterr().err
    assert parse_args(["--bogus", "1", "x.log", "true"], "queue.py", cluster=True).options["bogus"] == "1"
    with pytest.raises(JobError, match="one log file"):
        parse_args(["JOB=1:3", "x.log", "true"], "run.py")
    with pytest.raises(JobError, match="invalid job range"):
        parse_args(["JOB=3:1", "x.JOB.log", "true"], "run.py")
    with pytest.raises(JobError, match="JOB=1:N"):
        parse_args(["x.JOB.log", "true"], "run.py")
    spec = parse_args(["--num-threads=2", "TASK=2:5", "x.TASK.log", "a", "TASK"], "run.py")
    assert (spec.var, spec.start, spec.end, spec.num_threads) == ("TASK", 2, 5, 2)
    assert spec.command_for(4) == "a 4" and spec.log_for(3).name == "x.3.log"
    assert quote_args(["a", "b c", 'say "x"', "\\|"]) == "a \"b c\" 'say \"x\"' \\|"


FAKE_SBATCH = r"""#!/usr/bin/env bash
echo "sbatch $*" >> "$FAKE_RECORD"
array=; for a in "$@"; do case $a in --array=*) array=${a#--array=};; esac; script=$a; done
range=${array%%%*}
for t in $(seq ${range%-*} ${range#*-}); do
  [ "$t" == "${FAKE_SKIP:-}" ] && continue
  SLURM_ARRAY_TASK_ID=$t bash "$script" > /dev/null 2>&1
done
echo 4242
"""
FAKE_SQUEUE = '#!/usr/bin/env bash\necho "squeue $*" >> "$FAKE_RECORD"\n'
FAKE_SACCT = r"""#!/usr/bin/env bash
echo "sacct $*" >> "$FAKE_RECORD"
echo "4242_1|COMPLETED|0:0"
echo "4242_2|OUT_OF_MEMORY|0:125"
echo "4242_2.batch|OUT_OF_MEMORY|0:125"
"""
FAKE_QSUB = r"""#!/usr/bin/env bash
echo "qsub $*" >> "$FAKE_RECORD"
prev=; for a in "$@"; do [ "$prev" == "-t" ] && range=$a; prev=$a; script=$a; done
for t in $(seq ${range%:*} ${range#*:}); do SGE_TASK_ID=$t bash "$script" > /dev/null 2>&1; done
echo "Your job-array 77.${range%:*}-${range#*:}:1 (\"x\") has been submitted"
"""
FAKE_QSTAT = ('#!/usr/bin/env bash\necho "qstat $*" >> "$FAKE_RECORD"\n'
              'echo "Following jobs do not exist: $2" >&2\nexit 1\n')


@pytest.fixture()
def fake_cluster(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in [("sbatch", FAKE_SBATCH), ("squeue", FAKE_SQUEUE), ("sacct", FAKE_SACCT),
                       ("qsub", FAKE_QSUB), ("qstat", FAKE_QSTAT)]:
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "record"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_RECORD": str(record)}
    work = tmp_path / "work"
    work.mkdir()
    return work, env, record


def test_slurm_array_submits_waits_and_checks(fake_cluster):
    work, env, record = fake_cluster
    r = run([UTILS / "slurm.py", "--num-threads", "2", "--mem", "3G", "--gpu", "1", "--time", "1:00:00",
             "--max-jobs-run", "2", "--poll-interval", "0.05", "JOB=1:3", "exp/log/e.JOB.log",
             "bash", "-c", "echo job JOB threads $OMP_NUM_THREADS"], work, env)
    assert r.returncode == 0, r.stderr
    calls = record.read_text()
    sb = next(line for line in calls.splitlines() if line.startswith("sbatch"))
    args = sb.split()
    assert "--array=1-3%2" in args and "--gres=gpu:1" in args
    # slurm.pl's default config: --mem is per CPU, as on Grid Engine
    for opt, val in (("--cpus-per-task", "2"), ("--mem-per-cpu", "3G"), ("--time", "1:00:00")):
        assert args[args.index(opt) + 1] == val, sb
    for j in (1, 2, 3):
        text = (work / f"exp/log/e.{j}.log").read_text()
        assert f"job {j} threads 2" in text and "# Ended (code 0)" in text
        assert (work / f"exp/log/q/e.{j}.done").read_text().strip() == "0"


def test_slurm_failed_and_killed_tasks_are_reported(fake_cluster):
    work, env, record = fake_cluster
    r = run([UTILS / "slurm.py", "--poll-interval", "0.05", "JOB=1:3", "exp/log/f.JOB.log", "test", "JOB", "-ne", "3"],
            work, {**env, "FAKE_SKIP": "2"})
    assert r.returncode == 1
    assert "2 / 3 failed" in r.stderr and "exp/log/f.2.log" in r.stderr and "exp/log/f.3.log" in r.stderr
    assert "OUT_OF_MEMORY" in (work / "exp/log/f.2.log").read_text()  # sacct's state of the killed task
    assert "# Ended (code 1)" in (work / "exp/log/f.3.log").read_text()
    assert "squeue" in record.read_text() and "sacct" in record.read_text()


def test_sge_array_submits_and_checks(fake_cluster):
    work, env, record = fake_cluster
    r = run([UTILS / "queue.py", "--num-threads", "4", "--mem", "2G", "--poll-interval", "0.05",
             "JOB=2:3", "log/q.JOB.log", "echo", "JOB", "&&", "test", "JOB", "-eq", "2"], work, env)
    assert r.returncode == 1
    assert "1 / 2 failed" in r.stderr and "log/q.3.log" in r.stderr
    qsub = next(line for line in record.read_text().splitlines() if line.startswith("qsub")).split()
    assert qsub[qsub.index("-t") + 1] == "2:3"
    assert qsub[qsub.index("-pe") + 2] == "4"
    assert "mem_free=2G,ram_free=2G" in qsub
    assert "# Ended (code 0)" in (work / "log/q.2.log").read_text()


def test_qsub_style_options_and_options_after_job_range(tmp_path):
    # run.pl takes -V, -tc N, -l x=y (and passes over them) before or after JOB=1:N; -tc sets the
    # number of tasks at once. Nothing may end up as a log file named after an option.
    (tmp_path / "t").mkdir()
    cmd = "date +%s.%N > t/JOB.start; sleep 0.3; date +%s.%N > t/JOB.end"
    r = run([UTILS / "run.py", "-V", "-tc", "1", "JOB=1:3", "-l", "mem_free=2G", "--config", "conf/queue.conf",
             "--num-threads", "2", "l/s.JOB.log", "bash", "-c", cmd], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "-V").exists() and not (tmp_path / "-l").exists()
    spans = sorted((float((tmp_path / f"t/{j}.start").read_text()), float((tmp_path / f"t/{j}.end").read_text()))
                   for j in (1, 2, 3))
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))
    assert "threads=2" in (tmp_path / "l/s.1.log").read_text()
    spec = parse_args(["-pe", "smp", "4", "JOB=1:2", "--mem", "1G", "x.JOB.log", "true"], "queue.py", cluster=True)
    assert spec.sched_opts == ["-pe", "smp", "4"] and spec.num_threads == 4 and spec.mem == "1G"
    spec = parse_args(["JOB=1:2", "-tc", "3", "--gpu=1", "x.JOB.log", "true"], "run.py")
    assert (spec.max_jobs_run, spec.gpu, spec.end) == (3, 1, 2)


def test_memory_means_per_thread_on_both_schedulers(fake_cluster):
    # Kaldi: queue.pl's mem_free is per slot (x -pe smp N), slurm.pl's --mem-per-cpu per CPU.
    work, env, record = fake_cluster
    for runner in ("slurm.py", "queue.py"):
        r = run([UTILS / runner, "--mem", "32G", "--num-threads", "8", "--poll-interval", "0.05", "JOB=1:1",
                 "log/m.JOB.log", "true"], work, env)
        assert r.returncode == 0, r.stderr
    calls = record.read_text().splitlines()
    sb = next(c for c in calls if c.startswith("sbatch")).split()
    qs = next(c for c in calls if c.startswith("qsub")).split()
    assert sb[sb.index("--mem-per-cpu") + 1] == "32G" and sb[sb.index("--cpus-per-task") + 1] == "8"
    assert "--mem" not in sb and "--mem=32G" not in sb
    assert qs[qs.index("-pe") + 2] == "8" and "mem_free=32G,ram_free=32G" in qs


def test_config_file_maps_options_and_gpu_partition(fake_cluster):
    work, env, record = fake_cluster
    (work / "conf").mkdir()
    (work / "conf/slurm.conf").write_text(
        "# site config\n"
        "command sbatch --export=ALL\n"
        "option mem=* --mem-per-cpu=$0\n"
        "option num_threads=* --cpus-per-task=$0\n"
        "option num_threads=1\n"
        "default gpu=0\n"
        "option gpu=0 -p cpu\n"
        "option gpu=* -p gpu --gres=gpu:$0   # the GPU partition\n"
        "option max_mem=* --mem=$0\n")
    r = run([UTILS / "slurm.py", "JOB=1:2", "--gpu", "2", "--max-mem", "10G", "-A", "proj", "--poll-interval", "0.05",
             "log/g.JOB.log", "true"], work, env)     # conf/slurm.conf is read by default, as slurm.pl does
    assert r.returncode == 0, r.stderr
    sb = [c for c in record.read_text().splitlines() if c.startswith("sbatch")][-1].split()
    assert sb[sb.index("-p") + 1] == "gpu" and "--gres=gpu:2" in sb and "--mem=10G" in sb
    assert sb[sb.index("-A") + 1] == "proj"        # single-dash options pass through
    r = run([UTILS / "slurm.py", "--poll-interval", "0.05", "log/c.log", "true"], work, env)
    sb = [c for c in record.read_text().splitlines() if c.startswith("sbatch")][-1].split()
    assert sb[sb.index("-p") + 1] == "cpu"          # default gpu=0 -> option gpu=0 -p cpu
    (work / "conf/other.conf").write_text("command qsub -cwd\noption gpu=* -q gpu.q -l gpu=$0\n")
    r = run([UTILS / "queue.py", "--config", "conf/other.conf", "--gpu", "1", "--poll-interval", "0.05",
             "JOB=1:1", "log/q.JOB.log", "true"], work, env)
    assert r.returncode == 0, r.stderr
    qs = [c for c in record.read_text().splitlines() if c.startswith("qsub")][-1].split()
    assert qs[qs.index("-q") + 1] == "gpu.q" and qs[qs.index("-l") + 1] == "gpu=1"
    r = run([UTILS / "queue.py", "--config", "conf/other.conf", "--mem", "2G", "log/x.log", "true"], work, env)
    assert r.returncode == 1 and "--mem is not described in conf/other.conf" in r.stderr
    r = run([UTILS / "queue.py", "--config", "conf/missing.conf", "log/x.log", "true"], work, env)
    assert r.returncode == 1 and "could not open config file conf/missing.conf" in r.stderr


@pytest.mark.parametrize("runner", ["run.py", "slurm.py", "queue.py"])
def test_help_goes_to_stdout_and_survives_a_closed_pipe(runner):
    """``runner --help`` alone prints the usage on stdout with status 0; with stdout a pipe whose reader
    is already gone (``| head`` that has exited), it still exits 0 and prints no BrokenPipeError."""
    done = subprocess.run([sys.executable, str(UTILS / runner), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith(f"usage: {runner}"), done.stderr
    read_end, write_end = os.pipe()
    os.close(read_end)   # no reader: the first write fails with EPIPE
    try:
        closed = subprocess.run([sys.executable, str(UTILS / runner), "--help"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
