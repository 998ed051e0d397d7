"""Fault injection, reduced form (issue 19): bad inputs and faults that used to pass silently, or to end
in a traceback or a misleading message, each reproduced on tiny data. Every case must now give a
one-line error naming the file/utterance and the cause (nothing already done lost), a warning counted
in the log, or the right behaviour. The slow cases (a real trainer killed through its step, a full
disk on a small tmpfs) are in bench/faults.sh.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from utter.bin.common import error_reason, run

ROOT = Path(__file__).resolve().parents[2]
DIM = 20
TDNN = ["--arch", "tdnn", "--feat-dim", str(DIM), "--channels", "8,8,8,8,16", "--embed-dim", "8",
        "--num-threads", "1"]


def write_feats(out: Path, speakers: int = 3, utts: int = 4, seed: int = 0, compress: bool = True,
                nan_utt: str | None = None) -> Path:
    """A data dir of ``speakers`` x ``utts`` utterances of DIM-dim features (120-200 frames), vad.scp."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    feats, vad, utt2spk = {}, {}, {}
    for s in range(speakers):
        for u in range(utts):
            utt = f"spk{s}-u{u}"
            n = int(rng.integers(120, 200))
            x = (rng.normal(0, 1, (n, DIM)) + 0.3 * s).astype(np.float32)
            if utt == nan_utt:
                x[n // 2, 3] = np.nan
            feats[utt], vad[utt], utt2spk[utt] = x, np.ones(n, np.float32), f"spk{s}"
    kaldiio.save_ark(str(out / "feats.ark"), feats, scp=str(out / "feats.scp"),
                     compression_method=2 if compress else None)
    kaldiio.save_ark(str(out / "vad.ark"), vad, scp=str(out / "vad.scp"))
    (out / "utt2spk").write_text("".join(f"{u} {utt2spk[u]}\n" for u in sorted(utt2spk)))
    spk2utt: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[u], []).append(u)
    (out / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    return out


@pytest.fixture(scope="module")
def feats_dir(tmp_path_factory) -> Path:
    return write_feats(tmp_path_factory.mktemp("faults") / "train")


def one_line_error(capsys, rc: int) -> str:
    """The stage program failed with one line on stderr and no traceback; that line."""
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 1, err
    return lines[0]


def xvector(args):
    from utter.bin import train_xvector
    return run(train_xvector.main, train_xvector.build_parser(), args)


def dino(args):
    from utter.bin import train_dino
    return run(train_dino.main, train_dino.build_parser(), args)


XVEC = TDNN + ["--chunk-frames", "100", "--batch-size", "6", "--warmup-steps", "1", "--lr", "0.01"]
DINO = TDNN + ["--out-dim", "32", "--head-hidden", "16", "--head-bottleneck", "8", "--global-frames", "100",
               "--local-frames", "50", "--num-local", "2", "--batch-size", "4", "--warmup-steps", "1",
               "--freeze-last-layer-steps", "1"]


# ---------------------------------------------------------------- 1: DINO views without utt2orig

def copy_dir(src: Path, dst: Path, prefix: str, utt2orig: dict[str, str] | None) -> Path:
    """The utterances of ``src`` renamed ``<prefix>-<utt>`` (same features), with ``utt2orig`` if given."""
    dst.mkdir(parents=True)
    feats = {f"{prefix}-{u}": e for u, e in (ln.split() for ln in (src / "feats.scp").read_text().splitlines())}
    vad = {f"{prefix}-{u}": e for u, e in (ln.split() for ln in (src / "vad.scp").read_text().splitlines())}
    spk = {f"{prefix}-{u}": s for u, s in (ln.split() for ln in (src / "utt2spk").read_text().splitlines())}
    for name, table in (("feats.scp", feats), ("vad.scp", vad), ("utt2spk", spk)):
        (dst / name).write_text("".join(f"{k} {table[k]}\n" for k in sorted(table)))
    if utt2orig is not None:
        (dst / "utt2orig").write_text("".join(f"{k} {utt2orig[k]}\n" for k in sorted(utt2orig)))
    return dst


def test_aug_data_needs_utt2orig_naming_training_utterances(feats_dir, tmp_path, capsys):
    from utter.data.dataset import multi_crop_loader_factory

    utts = [ln.split()[0] for ln in (feats_dir / "utt2spk").read_text().splitlines()]
    no_table = copy_dir(feats_dir, tmp_path / "aug0", "rev", None)
    rc = dino(DINO + ["--max-steps", "1", "--aug-data", str(no_table), "--exp-dir", str(tmp_path / "e0"),
                      str(feats_dir)])
    line = one_line_error(capsys, rc)
    assert f"{no_table}/utt2orig: no such file" in line
    assert not (tmp_path / "e0" / "final.pt").exists()

    strangers = copy_dir(feats_dir, tmp_path / "aug1", "rev", {f"rev-{u}": f"other-{u}" for u in utts})
    rc = dino(DINO + ["--max-steps", "1", "--aug-data", str(strangers), "--exp-dir", str(tmp_path / "e1"),
                      str(feats_dir)])
    line = one_line_error(capsys, rc)
    assert "none of its 12 copies is of an utterance of" in line and "other-" in line

    # some copies of other utterances: left out, and counted in the log; the rest pair with their sources
    some = copy_dir(feats_dir, tmp_path / "aug2", "rev",
                    {f"rev-{u}": (u if i % 3 else f"other-{u}") for i, u in enumerate(utts)})
    factory = multi_crop_loader_factory([feats_dir, some], batch_size=2, global_frames=100, local_frames=50,
                                        num_local=1, min_frames=100)
    assert "4 of 12 copies are of utterances not in" in capsys.readouterr().err
    views = factory.plan.views
    assert sorted(views) == sorted(utts) and all(v[0] == src for src, v in views.items())
    assert sum(len(v) for v in views.values()) == 12 + 8


# ---------------------------------------------------------------- 3 and 9: make_fbank

def write_wav(path: Path, seconds: float, rate: int = 16000, seed: int = 0) -> None:
    import soundfile as sf

    x = (np.random.default_rng(seed).normal(0, 0.1, int(seconds * rate))).astype(np.float32)
    sf.write(str(path), x, rate, subtype="PCM_16")


def test_make_fbank_overshoot_segment_and_deleted_ark(tmp_path, shell_env):
    """3: a segment ending 0.3 s past its recording (within Kaldi's 0.5 s) is clipped with a warning
    counted in the log, and the data dir validates (it used to fail its own final validation, keeping
    the outputs, so every rerun failed); 9: a deleted ark behind a complete feats.scp is redone."""
    d = tmp_path / "d"
    d.mkdir()
    write_wav(tmp_path / "r1.wav", 2.0)
    (d / "wav.scp").write_text(f"r1 {tmp_path}/r1.wav\n")
    (d / "segments").write_text("s1-a r1 0.0 1.0\ns1-b r1 1.0 2.3\n")
    (d / "utt2spk").write_text("s1-a s1\ns1-b s1\n")
    (d / "spk2utt").write_text("s1 s1-a s1-b\n")
    env = dict(shell_env, PYTHONPATH=str(ROOT / "pylib"))
    cmd = ["bash", str(ROOT / "steps/make_fbank.sh"), "--nj", "1", str(d)]
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    log = (d / "log" / "make_fbank_d.1.log").read_text()
    assert "1 segment(s) end past their recording" in log and "s1-b (0.300 s past the end)" in log
    assert (d / "utt2dur").read_text() == "s1-a 1.0\ns1-b 1.3\n"
    assert (d / "utt2num_frames").read_text().splitlines()[1] == "s1-b 100"
    ark = d / "data" / "raw_fbank_d.1.ark"
    ark.unlink()
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "skipping" not in r.stderr and f"names {ark}, which does not exist" in r.stderr
    assert ark.is_file()


def test_stage_complete_only_with_the_arks_behind_its_scp(tmp_path):
    from utter.atomic import outputs_complete

    scp = tmp_path / "feats.scp"
    ark = tmp_path / "a.ark"
    ark.write_bytes(b"x" * 100)
    scp.write_text(f"u1 {ark}:10\nu2 {ark}:60\n")
    assert outputs_complete([scp])
    ark.write_bytes(b"x" * 50)    # truncated below the last offset
    assert not outputs_complete([scp])
    ark.unlink()
    assert not outputs_complete([scp])


# ---------------------------------------------------------------- 5: truncated wav

def test_truncated_wav_is_an_error_naming_both_sample_counts(tmp_path):
    from utter.data.audio import AudioError, entry_duration, read_audio

    wav = tmp_path / "a.wav"
    write_wav(wav, 1.0)
    whole = wav.read_bytes()
    wav.write_bytes(whole[:44 + 16000])     # data chunk cut to half
    for call in (lambda: read_audio(str(wav), name="u1"), lambda: entry_duration(str(wav), "u1")):
        with pytest.raises(AudioError, match=r"u1: '.*a.wav' is truncated: its header says 16000 samples, "
                                             r"the file holds 8000"):
            call()
    # a WAV written to a pipe has no size in its header: not an error
    streamed = bytearray(whole)
    struct.pack_into("<I", streamed, 40, 0xFFFFFFFF)
    wav.write_bytes(bytes(streamed))
    assert read_audio(str(wav))[0].shape == (16000,)


# ---------------------------------------------------------------- 6: one speaker

def test_supervised_training_on_one_speaker_is_an_error(tmp_path, capsys):
    d = write_feats(tmp_path / "one", speakers=1, utts=4)
    rc = xvector(XVEC + ["--max-steps", "2", "--exp-dir", str(tmp_path / "e"), str(d)])
    line = one_line_error(capsys, rc)
    assert f"{d}/utt2spk: 1 class (spk0)" in line and "at least 2" in line
    assert not (tmp_path / "e" / "final.pt").exists()


# ---------------------------------------------------------------- 7: abbreviations

def stage_modules() -> list[str]:
    return sorted(p.stem for p in (ROOT / "pylib/utter/bin").glob("*.py")
                  if p.stem not in ("__init__", "common", "train_common"))


def test_no_stage_program_takes_an_abbreviated_option():
    import argparse
    import importlib

    checked = 0
    for name in stage_modules():
        mod = importlib.import_module(f"utter.bin.{name}")
        if not hasattr(mod, "build_parser"):
            continue
        parsers = [mod.build_parser()]
        while parsers:
            p = parsers.pop()
            assert p.allow_abbrev is False, f"utter.bin.{name}: {p.prog} takes abbreviated options"
            checked += 1
            for a in p._actions:
                if isinstance(a, argparse._SubParsersAction):
                    parsers.extend(a.choices.values())
    assert checked > 25


def test_abbreviation_in_config_or_command_line_is_refused(tmp_path, capsys):
    from utter.bin import train_xvector

    conf = tmp_path / "x.conf"
    conf.write_text("--lr=0.1\n--max=5\n")
    with pytest.raises(SystemExit) as e:
        xvector(["--config", str(conf), "--exp-dir", str(tmp_path / "e"), str(tmp_path)])
    assert e.value.code == 2
    assert f"{conf}:2: unknown option --max for" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_xvector.build_parser().parse_args(["--max-st", "3", "--exp-dir", "e", "d"])
    assert "unrecognized arguments: --max-st" in capsys.readouterr().err


def test_unknown_fbank_option_names_the_config_file(tmp_path, capsys):
    from utter.bin import make_fbank

    conf = tmp_path / "fbank.conf"
    conf.write_text("--num-mel-bins=40\n# a comment\n--num-mel-bin=40\n")
    with pytest.raises(SystemExit):
        run(make_fbank.main, make_fbank.build_parser(), ["--config", str(conf), str(tmp_path), "x.ark"])
    assert f"{conf}:3: unknown option --num-mel-bin" in capsys.readouterr().err


# ---------------------------------------------------------------- 8: scoring steps after a failed evaluation

def test_score_step_rerun_after_failed_evaluation_evaluates(tmp_path, shell_env):
    from utter.data.kaldi_io import write_vectors

    rng = np.random.default_rng(0)
    utts = [f"s{s}-u{u}" for s in range(4) for u in range(3)]
    write_vectors({u: rng.normal(int(u[1]), 1.0, 6) for u in utts}, tmp_path / "emb" / "xvector.ark",
                  tmp_path / "emb" / "xvector.scp")
    trials = tmp_path / "trials"
    trials.write_text("".join(f"{a} {b} {'target' if a[:2] == b[:2] else 'nontarget'}\n"
                              for a in utts for b in utts if a < b))
    env = dict(shell_env, PYTHONPATH=str(ROOT / "pylib"))
    cmd = ["bash", str(ROOT / "steps/score_cosine.sh"), "--subtract-mean", "false", str(tmp_path / "emb"),
           str(trials), str(tmp_path / "scores")]
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    result = tmp_path / "scores" / "scores_cosine.json"
    assert "EER" in json.loads(result.read_text())
    result.unlink()                          # as after an evaluation that failed
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "skipping" not in r.stderr, r.stderr
    assert "EER" in json.loads(result.read_text())
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert "skipping" in r.stderr


# ---------------------------------------------------------------- unclear messages: features, models

def corrupt_copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    for name in ("feats.scp", "vad.scp"):
        (dst / name).write_text((dst / name).read_text().replace(str(src), str(dst)))
    return dst


def test_wrong_offset_and_truncated_arks_name_the_utterance(feats_dir, tmp_path, capsys):
    from utter.data.dataset import Corpus, FeatureReader
    from utter.data.kaldi_io import ArkError

    d = corrupt_copy(feats_dir, tmp_path / "off")
    lines = (d / "feats.scp").read_text().splitlines()
    key, entry = lines[3].split()
    path, off = entry.rsplit(":", 1)
    lines[3] = f"{key} {path}:{int(off) + 7}"
    (d / "feats.scp").write_text("\n".join(lines) + "\n")
    reader = FeatureReader(Corpus(d))
    reader.read_utt(lines[0].split()[0])
    with pytest.raises(ArkError, match=rf"{key}: cannot read its features: .*no Kaldi matrix at offset "
                                       rf"{int(off) + 7}"):
        reader.read_utt(key)

    d = corrupt_copy(feats_dir, tmp_path / "trunc")
    ark = d / "feats.ark"
    ark.write_bytes(ark.read_bytes()[:ark.stat().st_size // 2])
    last = (d / "feats.scp").read_text().splitlines()[-1].split()[0]
    with pytest.raises(ArkError, match=rf"{last}: cannot read its features: .*(truncated|past the end)"):
        FeatureReader(Corpus(d)).read_utt(last)

    d = corrupt_copy(feats_dir, tmp_path / "vad")
    ark = d / "vad.ark"
    ark.write_bytes(ark.read_bytes()[:ark.stat().st_size // 2])
    rc = xvector(XVEC + ["--max-steps", "1", "--exp-dir", str(tmp_path / "e"), str(d)])
    line = one_line_error(capsys, rc)
    assert "vad.ark" in line and "not a readable Kaldi matrix" in line and line.split("error: ")[1].startswith("spk")


def test_non_finite_features_name_the_utterance(tmp_path, capsys):
    from utter.data.dataset import Corpus, FeatureReader

    d = write_feats(tmp_path / "nan", compress=False, nan_utt="spk1-u2")
    reader = FeatureReader(Corpus(d))
    reader.read_utt("spk1-u1")
    with pytest.raises(ValueError, match=r"spk1-u2: non-finite feature values \(NaN or inf\) in "):
        reader.read_utt("spk1-u2")


def test_worker_errors_keep_their_own_line():
    wrapped = ValueError("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent "
                         "call last):\n  File \"x.py\", line 1, in f\nValueError: spk1-u2: non-finite feature "
                         "values\n")
    assert error_reason(wrapped) == "spk1-u2: non-finite feature values"
    assert error_reason(KeyError()) == "KeyError"


def test_corrupt_backend_model_names_the_file(tmp_path):
    from utter.backend.io import load_npz, save_npz

    path = tmp_path / "plda.npz"
    save_npz(path, "plda", {"a": np.ones(500)})
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"plda.npz: not a readable back-end model file .*truncated or corrupt"):
        load_npz(path, "plda")
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"plda.npz: not a readable back-end model file \(0 bytes"):
        load_npz(path, "plda")


# ---------------------------------------------------------------- 2: no task outlives its runner

def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


SLEEPER = 'echo $$ > "$1"\nexec python -c "import time; time.sleep(120)"\n'


def start_sleepers(tmp_path: Path, shell_env: dict, *, session: bool, script: str = SLEEPER,
                   nohup: bool = False) -> tuple[subprocess.Popen, list[int]]:
    """utils/run.py with two tasks running ``script`` (each writes its pid, its marker that it started;
    the default sleeps 120 s), under a shell as a step would be (its own session, like a terminal's,
    when ``session``; under ``nohup`` when asked); the shell and the tasks' pids, once both started."""
    pids = tmp_path / "pids"
    pids.mkdir()
    sleeper = tmp_path / "sleeper.sh"
    sleeper.write_text(script)
    cmd = (f"{ROOT}/utils/run.py JOB=1:2 {tmp_path}/log/t.JOB.log bash {sleeper} {pids}/JOB; "
           f"echo runner ended $? > {tmp_path}/ended")
    argv = ["nohup", "bash", "-c", cmd] if nohup else ["bash", "-c", cmd]
    # the step's shell as a terminal would start it: SIGHUP at its default even when the test suite
    # itself runs under nohup (an inherited ignored SIGHUP is kept by run.py, as nohup asks)
    proc = subprocess.Popen(argv, cwd=tmp_path, env=shell_env, start_new_session=session,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: all((pids / str(j)).is_file() and (pids / str(j)).read_text().strip()
                                for j in (1, 2)), 60), "the tasks did not start"
    tasks = [int((pids / str(j)).read_text()) for j in (1, 2)]
    assert all(alive(p) and p != proc.pid for p in tasks)
    return proc, tasks


def runner_pid(shell: subprocess.Popen) -> int:
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.split(")")[-1].split()[1]) == shell.pid and b"run.py" in cmd:
                return int(name)
    raise AssertionError("no run.py under the shell")


def group_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[2])


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is in process group ``pgid``."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = Path(f"/proc/{name}/stat").read_text().split(")")[-1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                return True
    return False


def kill_left(shell: subprocess.Popen, groups: list[int]) -> None:
    """Clean up after a failed test: what is left of the tasks' groups, then the shell."""
    for g in groups:
        if group_alive(g):
            os.killpg(g, signal.SIGKILL)
    if shell.poll() is None:
        os.killpg(shell.pid, signal.SIGKILL)
    shell.wait()


def test_tasks_die_with_a_killed_runner(tmp_path, shell_env):
    shell, tasks = start_sleepers(tmp_path, shell_env, session=False)
    try:
        os.kill(runner_pid(shell), signal.SIGKILL)
        assert wait_for(lambda: not any(alive(p) for p in tasks), 20), "tasks outlived kill -9 of run.py"
    finally:
        for p in tasks:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        shell.wait()
    log = tmp_path / "log" / "t.1.log"
    assert wait_for(lambda: "the job runner (pid" in log.read_text(), 5), log.read_text()


def test_tasks_die_when_the_terminal_hangs_up(tmp_path, shell_env):
    """SIGHUP to the step's session (the terminal closed), once both tasks have started: run.py stops
    them (their whole process groups) and exits; the step's shell dies of the SIGHUP."""
    shell, tasks = start_sleepers(tmp_path, shell_env, session=True)
    runner, groups = runner_pid(shell), [group_of(p) for p in tasks]
    try:
        os.killpg(shell.pid, signal.SIGHUP)
        assert wait_for(lambda: not any(group_alive(g) for g in groups), 20), "tasks outlived SIGHUP of the step"
        assert wait_for(lambda: not alive(runner), 10), "run.py did not exit after SIGHUP"
    finally:
        kill_left(shell, groups)
    for j in (1, 2):
        assert "# Ended (code 143)" in (tmp_path / f"log/t.{j}.log").read_text()


def test_signals_during_the_clean_up_leave_no_task_running(tmp_path, shell_env):
    """A signal that comes while run.py stops its tasks (SIGHUP of the terminal, then SIGTERM as the
    step's shell dies; any repeated) neither cuts the clean-up short nor makes run.py hang: the tasks
    here take 1 s to stop, and the signals are sent once the first one has begun to stop."""
    script = ('echo $$ > "$1"\n'
              'trap \'touch "$1.stopping"; sleep 1; exit 143\' TERM\n'
              'sleep 120 & wait\n')
    shell, tasks = start_sleepers(tmp_path, shell_env, session=True, script=script)
    runner, groups = runner_pid(shell), [group_of(p) for p in tasks]
    pids = tmp_path / "pids"
    try:
        os.kill(runner, signal.SIGHUP)
        os.kill(runner, signal.SIGTERM)
        assert wait_for(lambda: any((pids / f"{j}.stopping").exists() for j in (1, 2)), 20), \
            "run.py did not stop its tasks"
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT) * 3:
            if alive(runner):
                os.kill(runner, sig)
        assert wait_for(lambda: not any(group_alive(g) for g in groups), 30), "tasks outlived the signals"
        assert wait_for(lambda: not alive(runner), 10), "run.py hung after its tasks ended"
        shell.wait(timeout=10)
    finally:
        kill_left(shell, groups)
    assert (tmp_path / "ended").read_text().split() == ["runner", "ended", "130"]
    for j in (1, 2):
        assert (pids / f"{j}.stopping").exists()
        assert "# Ended (code 143)" in (tmp_path / f"log/t.{j}.log").read_text()


def test_nohup_keeps_a_run_going_when_the_terminal_hangs_up(tmp_path, shell_env):
    """``nohup``: SIGHUP ignored by whoever started run.py stays ignored, so the run survives a SIGHUP
    to its session (the terminal closed) and its tasks complete."""
    script = 'echo $$ > "$1"\nwhile [ ! -e "$1.go" ]; do sleep 0.05; done\necho task done\n'
    shell, tasks = start_sleepers(tmp_path, shell_env, session=True, script=script, nohup=True)
    runner, groups = runner_pid(shell), [group_of(p) for p in tasks]
    try:
        sig_ign = int(next(line for line in Path(f"/proc/{runner}/status").read_text().splitlines()
                           if line.startswith("SigIgn:")).split()[1], 16)
        assert sig_ign & (1 << (signal.SIGHUP - 1)), "run.py does not ignore SIGHUP under nohup"
        os.killpg(shell.pid, signal.SIGHUP)
        time.sleep(0.5)             # (a runner that stopped on it would have within 0.1 s)
        assert alive(runner) and all(alive(p) for p in tasks), "the run did not survive SIGHUP under nohup"
        for j in (1, 2):
            (tmp_path / "pids" / f"{j}.go").touch()
        assert shell.wait(timeout=30) == 0
    finally:
        kill_left(shell, groups)
    assert (tmp_path / "ended").read_text().split() == ["runner", "ended", "0"]
    for j in (1, 2):
        text = (tmp_path / f"log/t.{j}.log").read_text()
        assert "task done" in text and "# Ended (code 0)" in text


def test_a_second_trainer_in_the_same_exp_dir_is_refused(tmp_path):
    from utter.stage import DirInUse, DirLock

    with DirLock(tmp_path, "training"):
        code = ("import sys; from utter.stage import DirLock, DirInUse\n"
                "try:\n  DirLock(sys.argv[1], 'training').acquire()\nexcept DirInUse as e:\n"
                "  print(e); sys.exit(3)\n")
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=str(ROOT / "pylib")))
        assert r.returncode == 3 and f"pid {os.getpid()} on" in r.stdout and "is running training" in r.stdout
        with pytest.raises(DirInUse):   # within one process too (flock is per open file)
            DirLock(tmp_path).acquire()
    with DirLock(tmp_path):             # released
        pass


# ---------------------------------------------------------------- checkpoints: empty, truncated, disk full

def test_empty_or_truncated_checkpoint_is_named(feats_dir, tmp_path, capsys):
    from utter.train.checkpoint import CheckpointError, load_checkpoint, load_embedder

    exp = tmp_path / "e"
    assert xvector(XVEC + ["--max-steps", "4", "--checkpoint-interval", "2", "--keep-last", "3",
                           "--exp-dir", str(exp), str(feats_dir)]) == 0
    capsys.readouterr()
    final = exp / "final.pt"
    whole = final.read_bytes()
    final.write_bytes(b"")
    for load in (load_checkpoint, load_embedder):
        with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*final.pt: it is empty \(0 bytes\)"):
            load(final)
    final.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(CheckpointError, match=r"final.pt: it is truncated or corrupt"):
        load_embedder(final)

    # resume: the latest checkpoint cut short is passed over, saying so, for the one before it
    final.unlink()
    latest = exp / "ckpt-00000004.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    assert xvector(XVEC + ["--max-steps", "6", "--checkpoint-interval", "2", "--exp-dir", str(exp),
                           str(feats_dir)]) == 0
    err = capsys.readouterr().err
    assert f"checkpoint {latest} cannot be used: it is truncated or corrupt" in err
    assert "resumed from" in err and "ckpt-00000002.pt after step 2" in err
    assert load_checkpoint(exp / "final.pt")["step"] == 6


@pytest.mark.parametrize("failure", ["torch", "oserror"])
def test_disk_full_during_a_checkpoint_save(tmp_path, monkeypatch, failure):
    import errno

    import torch

    from utter.train import checkpoint as ck

    def full(obj, f, *a, **k):
        Path(f).write_bytes(b"PK\x03\x04partial")
        if failure == "torch":
            raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 4416 vs 4304")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    state = {k: 0 for k in ck.REQUIRED_KEYS}
    with pytest.raises(ck.CheckpointError, match=rf"cannot write checkpoint .*ckpt-00000003.pt: no space left on "
                                                 rf"{tmp_path}"):
        ck.save_checkpoint(tmp_path / "ckpt-00000003.pt", state)
    assert list(tmp_path.iterdir()) == []       # nothing half-written left behind


def test_training_refuses_an_exp_dir_in_use(feats_dir, tmp_path, capsys):
    from utter.stage import DirLock

    exp = tmp_path / "e"
    with DirLock(exp, "training"):      # as a first trainer still running there
        rc = xvector(XVEC + ["--max-steps", "1", "--exp-dir", str(exp), str(feats_dir)])
    line = one_line_error(capsys, rc)
    assert f"{exp} is in use: pid {os.getpid()} on" in line
    assert not list(exp.glob("ckpt-*.pt"))


def test_non_finite_loss_names_the_utterances_with_non_finite_inputs():
    import torch

    from utter.train.batches import nonfinite_utterances

    g = torch.zeros(3 * 2, 5, 4)     # two views of three utterances, view-major
    g[4, 2, 1] = float("nan")        # view 1 of utterance 1
    batch = {"global": g, "local": torch.zeros(3, 5, 4), "global_lengths": torch.ones(6), "utts": ["a", "b", "c"]}
    assert nonfinite_utterances(batch) == ["b"]
    batch["local"][2, 0, 0] = float("inf")
    assert nonfinite_utterances(batch) == ["b", "c"]


# ---------------------------------------------------------------- steps: --nj abc, an empty data dir

def test_bad_nj_and_empty_data_dir_are_named(tmp_path, shell_env):
    d = tmp_path / "d"
    d.mkdir()
    for name in ("wav.scp", "utt2spk", "spk2utt", "feats.scp"):
        (d / name).write_text("")
    env = dict(shell_env, PYTHONPATH=str(ROOT / "pylib"))

    def step(*args):
        return subprocess.run(["bash", str(ROOT / "steps" / args[0]), *map(str, args[1:])], env=env, cwd=tmp_path,
                              capture_output=True, text=True)

    r = step("make_fbank.sh", "--nj", "abc", d)
    assert r.returncode == 1 and r.stderr.strip().endswith("--nj must be a positive integer, got 'abc'"), r.stderr
    assert "integer expression expected" not in r.stderr
    r = step("compute_vad.sh", d)
    assert r.returncode == 1 and f"no utterances in {d}/feats.scp" in r.stderr, r.stderr
    assert "invalid number of splits 0" not in r.stderr
    r = step("make_fbank.sh", d)
    assert r.returncode == 1 and "no utterances" in r.stderr, r.stderr


def test_an_id_with_a_space_is_not_only_reported_unsorted(tmp_path):
    from utter.data.datadir import DataDirError
    from utter.data.validate import validate_data_dir

    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text("a x.wav\nb y.wav\nc z.wav\n")
    (d / "utt2spk").write_text("a s1\nb s1\nc s1\n")
    (d / "spk2utt").write_text("s1 a b c\n")
    (d / "feats.scp").write_text("a /x.ark:1\nb c /y.ark:2\nb /x.ark:3\n")
    with pytest.raises(DataDirError, match=r"feats.scp:3: duplicate key 'b' after 'b' .*an id with a space in it: "
                                           r"a key ends at the first space, and lines 2 and 3 have 3 and 2 fields"):
        validate_data_dir(d, no_text=True)
    (d / "feats.scp").write_text("a /x.ark:1\nb /y.ark:2\nc /x.ark:3\n")
    (d / "utt2spk").write_text("a s1\nb x s1\nc s1\n")
    with pytest.raises(DataDirError, match=r"utt2spk:2: expected 'utt spk', got 'b x s1'"):
        validate_data_dir(d, no_text=True)


# ---------------------------------------------------------------- temporary files of interrupted writes

def test_next_write_removes_what_an_interrupted_write_left(tmp_path):
    from utter.atomic import atomic_open
    from utter.data.dirtools.tables import write_lines

    code = ("import os, signal, sys\nfrom utter.atomic import atomic_open\n"
            "with atomic_open(sys.argv[1]) as f:\n"
            "    f.write('half'); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n")
    target = tmp_path / "utt2spk"
    r = subprocess.run([sys.executable, "-c", code, str(target)], env=dict(os.environ, PYTHONPATH=str(ROOT / "pylib")))
    assert r.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".utt2spk.") and left[0].endswith(".tmp")
    with atomic_open(target) as f:      # the same step again
        f.write("a s1\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utt2spk"]
    (tmp_path / left[0]).write_text("half")
    write_lines(target, [b"a s1"])      # the data-dir tools' writer too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["utt2spk"]


def test_train_step_leaves_a_running_training_alone(tmp_path, shell_env):
    from utter.stage import DirLock

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "final.pt").write_bytes(b"model")
    (exp / "ckpt-00000004.pt").write_bytes(b"ckpt")
    (tmp_path / "data").mkdir()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "xvector.conf").write_text("--max-steps=1\n")
    env = dict(shell_env, PYTHONPATH=str(ROOT / "pylib"))
    with DirLock(exp, "training"):
        r = subprocess.run(["bash", str(ROOT / "steps/train_xvector.sh"), "--overwrite", "true", str(tmp_path / "data"),
                            str(exp)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 1 and f"{exp} is in use: pid {os.getpid()}" in r.stderr, r.stderr
    assert (exp / "final.pt").read_bytes() == b"model" and (exp / "ckpt-00000004.pt").is_file()


def test_truncated_embedding_ark_names_the_scp(tmp_path):
    from utter.data.kaldi_io import ArkError, read_embeddings, write_vectors

    write_vectors({f"u{i}": np.full(8, float(i)) for i in range(5)}, tmp_path / "x.ark", tmp_path / "x.scp")
    ark = tmp_path / "x.ark"
    ark.write_bytes(ark.read_bytes()[:ark.stat().st_size // 2])
    with pytest.raises(ArkError, match=r"x.scp: cannot read the entry after 'u1' .*truncated"):
        read_embeddings(tmp_path / "x.scp")


# ---------------------------------------------------------------- 4: outputs made from other inputs

def test_outputs_made_from_a_corpus_at_another_scale_are_redone(tmp_path):
    from utter.sim.build import MARKER
    from utter.stage import SIM_MARKER

    assert MARKER == SIM_MARKER
    corpus = tmp_path / "corpora" / "voxceleb2"
    (corpus / "dev").mkdir(parents=True)
    (corpus / SIM_MARKER).write_text('{"corpus": "voxceleb", "scale": 1, "seed": 777}')
    out = tmp_path / "data" / "train"
    out.mkdir(parents=True)
    (out / "wav.scp").write_text("u1 a.wav\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "pylib"))

    def check(*words):
        return subprocess.run([sys.executable, "-m", "utter.stage", "--what", "stage 1", "--made-from", " ".join(words),
                               str(out / "wav.scp")], env=env, capture_output=True, text=True)

    r = check(str(corpus / "dev"), "seed=0")    # made before records were kept: taken as it is, recorded
    assert r.returncode == 0 and (out / ".made_from").is_file()
    assert check(str(corpus / "dev"), "seed=0").returncode == 0
    (corpus / SIM_MARKER).write_text('{"corpus": "voxceleb", "scale": 2, "seed": 777}')   # rebuilt at scale 2
    r = check(str(corpus / "dev"), "seed=0")
    assert r.returncode == 1 and f"stage 1: {out / 'wav.scp'} was made from" in r.stderr, r.stderr
    assert '"scale": 1' in r.stderr and '"scale": 2' in r.stderr
    assert check(str(corpus / "dev"), "seed=1").returncode == 1
    subprocess.run([sys.executable, "-m", "utter.stage", "--record", f"{corpus / 'dev'} seed=0", str(out / "wav.scp")],
                   env=env, check=True)
    assert check(str(corpus / "dev"), "seed=0").returncode == 0


def _a_trained_model(tmp_path):
    """An exp dir with a loadable final.pt (no stamp yet) and a two-speaker data dir: (exp, data)."""
    from utter.train.checkpoint import FORMAT_VERSION, REQUIRED_KEYS, save_checkpoint

    exp, data = tmp_path / "exp", tmp_path / "data"
    exp.mkdir()
    data.mkdir()
    (data / "utt2spk").write_text("a s1\nb s2\n")
    state = {k: {} for k in REQUIRED_KEYS}
    state.update(format_version=FORMAT_VERSION, step=1)
    save_checkpoint(exp / "final.pt", state)
    return exp, data


def test_train_step_refuses_a_final_pt_trained_from_other_inputs_or_damaged(tmp_path, shell_env):
    """A final.pt of other inputs, or damaged (empty, unreadable), is never used: the step stops naming
    what changed and the two ways out (issue 26 point 3); --overwrite true trains again."""
    exp, data = _a_trained_model(tmp_path)
    model = (exp / "final.pt").read_bytes()
    (tmp_path / "conf").mkdir()
    conf = tmp_path / "conf" / "xvector.conf"
    conf.write_text("--max-steps=1\n")
    env = dict(shell_env, PYTHONPATH=str(ROOT / "pylib"))

    def step():
        return subprocess.run(["bash", str(ROOT / "steps/train_xvector.sh"), str(data), str(exp)], env=env,
                              cwd=tmp_path, capture_output=True, text=True)

    r = step()       # a final.pt from before records were kept: taken as it is, recorded
    assert r.returncode == 0 and "skipping" in r.stderr and "other inputs" not in r.stderr, r.stderr
    conf.write_text("--max-steps=2\n")
    r = step()
    assert r.returncode == 1 and "final.pt was trained from other inputs than these (above), so it is not used" \
        in r.stderr, r.stderr
    assert "config=" in r.stderr and "--overwrite true" in r.stderr and (exp / "final.pt").read_bytes() == model
    for damaged in (b"", b"model"):
        (exp / "final.pt").write_bytes(damaged)
        r = step()
        assert r.returncode == 1 and "final.pt is damaged (" in r.stderr and "other inputs" not in r.stderr, r.stderr
        assert "delete it to finish the training from its last checkpoint" in r.stderr


def test_validation_options_are_not_inputs_of_a_model(tmp_path, shell_env):
    """--dev-data/--dev-trials/--dev-interval only watch a training, so adding them (egs/voxceleb now watches
    DINO by default) keeps a trained final.pt; --keep-best-dev picks another final.pt, so it is an input."""
    exp, data = _a_trained_model(tmp_path)
    env = dict(shell_env, PYTHONPATH=str(ROOT / "pylib"))

    def step(opts):
        return subprocess.run(["bash", str(ROOT / "steps/train_nnet.sh"), "--program", "train_dino", "--train-config",
                               "", "--train-opts", opts, str(data), str(exp)], env=env, cwd=tmp_path,
                              capture_output=True, text=True)

    assert step("--seed 0").returncode == 0     # recorded
    r = step("--seed 0 --dev-data data/heldout --dev-trials data/c/trials --dev-interval 100")
    assert r.returncode == 0 and "skipping" in r.stderr and "other inputs" not in r.stderr, r.stderr
    r = step("--seed 0 --dev-data data/heldout --dev-trials data/c/trials --dev-interval 100 --keep-best-dev true")
    assert r.returncode == 1 and "trained from other inputs" in r.stderr, r.stderr
