"""The common options of every run.sh checked before anything runs, a failed stage naming how to
resume, and one run.sh per recipe dir (utils/recipe_lib.sh; issue 26 points 4 and 5).

References: the messages written out here; the lock held by flock(1) from the test, as a first
run.sh would hold it.
"""
from __future__ import annotations

import subprocess

import pytest
from recipes import recipe_copy, run_recipe


@pytest.fixture(scope="module")
def voxceleb_copy(tmp_path_factory):
    return recipe_copy("voxceleb", tmp_path_factory.mktemp("options"))


@pytest.mark.parametrize("args, message", [
    (["--stage", "abc"], "--stage must be a stage number (0-12), got 'abc'"),
    (["--stop-stage", "-1"], "--stop-stage must be a stage number (0-12), got '-1'"),
    (["--stage", "99"], "--stage 99: this recipe's stages are 0-12"),
    (["--stage", "5", "--stop-stage", "3"], "--stage 5 is after --stop-stage 3: nothing would run"),
    (["--ngpu", "abc"], "--ngpu must be a non-negative integer, got 'abc'"),
    (["--nj", "0"], "--nj must be a positive integer, got '0'"),
    (["--mini-scale", "big"], "--mini-scale must be a number (or small), got 'big'"),
    (["--pretrain-seeds", "0 0"], "--pretrain-seeds '0 0' repeats 0"),
    (["--overwrite", "yes"], 'expected "true" or "false": --overwrite yes'),
    (["--restart", "1"], 'expected "true" or "false": --restart 1'),
])
def test_bad_option_values_are_refused_before_anything_runs(voxceleb_copy, args, message):
    done = run_recipe(voxceleb_copy, args, check=False, log_name="bad.log")
    log = (voxceleb_copy / "bad.log").read_text()
    assert done.returncode == 1 and message in log, log
    assert "stage 0" not in log


def test_a_failed_stage_says_how_to_resume(voxceleb_copy):
    """Stage 1 without the corpora it reads (conf/corpus.conf unset): the cause, then the stage."""
    done = run_recipe(voxceleb_copy, ["--stage", "1", "--stop-stage", "1"], check=False, log_name="fail.log")
    log = (voxceleb_copy / "fail.log").read_text()
    assert done.returncode != 0
    assert log.rstrip().splitlines()[-1].endswith("stage 1 failed (exit 1); fix the cause and rerun with --stage 1")


def test_a_second_run_in_the_same_recipe_dir_is_refused(voxceleb_copy):
    lock = voxceleb_copy / ".run.lock"
    lock.write_text("pid 4242, started 2026-12-06 10:00:00\n")
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        for _ in range(100):   # until flock holds it
            if subprocess.run(["flock", "-n", str(lock), "true"]).returncode != 0:
                break
            subprocess.run(["sleep", "0.05"])
        done = run_recipe(voxceleb_copy, ["--stage", "12"], check=False, log_name="second.log")
        log = (voxceleb_copy / "second.log").read_text()
        assert done.returncode == 1
        assert "another run.sh is running in" in log and "(pid 4242, started 2026-12-06 10:00:00)" in log
    finally:
        holder.kill()
        holder.wait()


def test_steps_lower_nj_to_the_speakers(tmp_path):
    """utils/step_lib.sh jobs_for: a data dir of 2 speakers (3 utterances) split for --nj 8 gets 2
    jobs, said on stderr (split_data.sh keeps each speaker in one job and refuses more parts)."""
    from recipes import ROOT

    (tmp_path / "utt2spk").write_text("a-1 a\na-2 a\nb-1 b\n")
    script = f'nj=8; . "{ROOT}/utils/step_lib.sh"; jobs_for "$1" 8; jobs_for "$1" 1'
    done = subprocess.run(["bash", "-c", script, "step", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["2", "1"]
    assert f"{tmp_path} has 2 speaker(s): 2 job(s) instead of --nj 8" in done.stderr


def test_ctrl_c_in_a_step_is_said_as_such(tmp_path):
    """Ctrl-C (SIGINT to the step's process group) while its jobs run: 'interrupted', exit 130, not
    '<step> failed' with exit 1 (issue 26 point 9); no job left running."""
    import os
    import signal
    import time

    from recipes import ROOT, recipe_env

    data = tmp_path / "data"
    data.mkdir()
    (data / "utt2spk").write_text("a-1 a\n")
    (data / "spk2utt").write_text("a a-1\n")
    (data / "wav.scp").write_text("a-1 /nowhere.wav\n")
    started = tmp_path / "started"
    slow = tmp_path / "slow.sh"   # stands in for the job runner: a job that takes long
    slow.write_text(f"#!/bin/bash\ntouch {started}\nsleep 30\n")
    slow.chmod(0o755)
    # SIGINT at its default in the step (a suite started in the background, e.g. under nohup ... &, has
    # it ignored, and an ignored SIGINT is inherited: nothing would be interrupted)
    proc = subprocess.Popen(["bash", str(ROOT / "steps/make_fbank.sh"), "--cmd", str(slow), "data"], cwd=tmp_path,
                            env=recipe_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 60
        while not started.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert started.exists(), "the job never started"
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "interrupted (Ctrl-C or a stop signal)" in out and "fbank failed" not in out
