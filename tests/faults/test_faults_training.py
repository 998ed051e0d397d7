"""Training-step faults of issue 26: every checkpoint damaged stops the step listing what was tried,
and ``--restart true`` starts over from step 1 saying what it removed (point 3); a training config
error names the user's conf, not the exp-dir copy (point 9). Run through steps/train_xvector.sh on
tiny features, as a user would.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_faults import XVEC, write_feats

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def step(tmp_path, shell_env):
    data = write_feats(tmp_path / "data")
    conf = tmp_path / "conf" / "xvector.conf"
    conf.parent.mkdir()
    conf.write_text("".join(f"{k}={v}\n" for k, v in zip(XVEC[::2], XVEC[1::2])))
    exp = tmp_path / "exp"

    def run(*opts):
        return subprocess.run(["bash", str(ROOT / "steps/train_xvector.sh"), "--train-config", str(conf),
                               "--train-opts", "--max-steps 2 --checkpoint-interval 1", *opts, str(data), str(exp)],
                              env=dict(shell_env, PYTHONPATH=str(ROOT / "pylib")), cwd=tmp_path,
                              capture_output=True, text=True)
    return run, exp, conf


def test_no_usable_checkpoint_stops_and_restart_starts_over(step):
    from utter.train.checkpoint import load_checkpoint

    run, exp, _ = step
    r = run()
    assert r.returncode == 0 and (exp / "final.pt").is_file(), r.stderr
    ckpts = sorted(exp.glob("ckpt-*.pt"))
    assert ckpts
    (exp / "final.pt").unlink()           # killed before the end, and then every checkpoint damaged
    for c in ckpts:
        c.write_bytes(c.read_bytes()[:500])
    r = run()
    log = (exp / "log" / "train.log").read_text()
    assert r.returncode == 1 and "training failed" in r.stderr, r.stderr
    assert "no usable checkpoint to resume from (tried " + ckpts[0].name in log, log
    assert "rerun the training step with --restart true" in log
    assert all(c.stat().st_size == 500 for c in ckpts)            # nothing written over them
    r = run("--restart", "true")
    assert r.returncode == 0, r.stderr
    assert (f"--restart true: starting over from step 1; removing {len(ckpts)} checkpoint(s) (ckpt-*.pt), "
            f"final.pt, best_dev.pt and train_log.tsv in {exp}") in r.stderr
    assert load_checkpoint(exp / "final.pt")["step"] == 2
    assert run("--restart", "maybe").returncode == 1


def test_a_training_config_error_names_the_users_conf(step):
    """The step copies the conf into the exp dir as the record of the run, but an error in it names the
    file the user edits (issue 26 point 9), by line."""
    run, exp, conf = step
    lines = conf.read_text()
    conf.write_text(lines.replace("--lr=0.01", "--lr=0.0l"))
    r = run()
    log = (exp / "log" / "train.log").read_text()
    line = next(i for i, ln in enumerate(conf.read_text().splitlines(), 1) if ln.startswith("--lr"))
    assert r.returncode == 1 and f"{conf}:{line}: bad value '0.0l' for --lr" in log, log
    assert "train_xvector.conf" not in log          # the exp-dir copy (the record) is not named
    conf.write_text(lines + "--learning-rate=0.1\n")
    run()
    log = (exp / "log" / "train.log").read_text()
    assert f"{conf}:{len(lines.splitlines()) + 1}: unknown option --learning-rate" in log, log
