"""Damaged outputs never count as done (issue 26 points 2-3): a half-written ``plda.npz`` or
``results.json`` used to be taken as complete ("skipping, outputs complete") because the stage check
looked at sizes and times only. Now the check reads them whole, the step redoes them (saying which
file and why), and runs with a damaged ``results.json`` are done again instead of reported.

The independent reference for "damaged" is the file formats themselves: Python's ``json`` parser and
``zipfile``'s CRC check on archives numpy wrote, cut short or with a flipped byte here.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from utter.atomic import content_problem, outputs_problem
from utter.stage import skip_if_complete

ROOT = Path(__file__).resolve().parents[2]


def write_npz(path: Path) -> bytes:
    rng = np.random.default_rng(0)
    np.savez(path, a=rng.normal(size=(40, 30)), b=rng.normal(size=200))
    return path.read_bytes()


def test_half_written_npz_and_json_are_damaged_not_complete(tmp_path, caplog):
    npz, js, other = tmp_path / "plda.npz", tmp_path / "results.json", tmp_path / "scores"
    whole = write_npz(npz)
    js.write_text(json.dumps({"UA": 0.5, "runs": [1, 2, 3]}))
    other.write_text("a b 0.1\n")
    assert content_problem(npz) is None and content_problem(js) is None and content_problem(other) is None
    assert outputs_problem([npz, js, other]) is None

    npz.write_bytes(whole[: len(whole) // 2])                  # cut short
    assert "plda.npz is damaged (not a whole npz archive" in content_problem(npz)
    flipped = bytearray(whole)
    flipped[200] ^= 0xFF                                       # inside the first member's data
    npz.write_bytes(bytes(flipped))
    assert "fails its CRC check" in content_problem(npz)
    js.write_text('{"UA": 0.5, "runs": [1, ')                  # half of it
    assert "results.json is damaged (not valid JSON" in content_problem(js)

    caplog.set_level(logging.INFO, logger="utter")
    assert not skip_if_complete([js], what="train_classifier")
    assert "train_classifier: redoing: " in caplog.text and "results.json is damaged" in caplog.text
    assert "skipping" not in caplog.text


def test_train_plda_step_redoes_a_damaged_model(tmp_path, shell_env):
    """steps/train_plda.sh over a cut plda.npz: redone (the log line names the file), not skipped."""
    from utter.backend.io import load_npz
    from utter.data.kaldi_io import write_vectors

    rng = np.random.default_rng(1)
    emb, data = tmp_path / "emb", tmp_path / "data"
    emb.mkdir()
    data.mkdir()
    spk = {f"s{i}-u{j}": f"s{i}" for i in range(6) for j in range(5)}
    means = {s: rng.normal(size=10) for s in set(spk.values())}
    write_vectors({u: means[s] + 0.3 * rng.normal(size=10) for u, s in spk.items()}, emb / "xvector.ark",
                  emb / "xvector.scp")
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s in sorted(spk.items())))
    out = tmp_path / "plda"

    def step():
        return subprocess.run(["bash", str(ROOT / "steps/train_plda.sh"), "--lda-dim", "5", "--rank", "4",
                               str(emb), str(data), str(out)], env=dict(shell_env, PYTHONPATH=str(ROOT / "pylib")),
                              cwd=tmp_path, capture_output=True, text=True)

    r = step()
    assert r.returncode == 0 and "wrote" in r.stdout + r.stderr, r.stderr
    whole = (out / "plda.npz").read_bytes()
    r = step()
    assert r.returncode == 0 and "skipping, outputs complete" in r.stderr, r.stderr
    (out / "plda.npz").write_bytes(whole[: len(whole) - 100])
    r = step()
    assert r.returncode == 0 and "skipping" not in r.stderr, r.stderr
    assert f"redoing: {out / 'plda.npz'} is damaged" in r.stderr
    load_npz(out / "plda.npz")          # whole again
    assert content_problem(out / "plda.npz") is None


def test_a_run_with_a_damaged_results_json_is_not_finished(tmp_path, caplog):
    from utter.transfer.runs import completed_run

    run = tmp_path / "fold1" / "seed0"
    run.mkdir(parents=True)
    (run / "results.json").write_text('{"UA": 0.61, "WA": 0.6}')
    assert completed_run(run) == {"UA": 0.61, "WA": 0.6}
    (run / "results.json").write_text('{"UA": 0.61, "W')
    caplog.set_level(logging.WARNING)
    assert completed_run(run) is None
    assert "results.json: not valid JSON" in caplog.text and "done again" in caplog.text


def test_fold_step_redoes_a_damaged_summary_and_keeps_its_folds(tmp_path, shell_env):
    """fold_exp_dir (steps/train_triplet_barlow.sh, train_adapter.sh): a whole results.json is done, a
    half one is removed (said) with the trained folds kept, --overwrite true clears everything."""
    script = tmp_path / "step.sh"
    script.write_text(f"""#!/usr/bin/env bash
set -euo pipefail
train_config=
overwrite=false
. "{ROOT}/utils/step_lib.sh"
fold_exp_dir "$@"
echo "would train $dir" >&2
""")
    model, data, exp = tmp_path / "m.pt", tmp_path / "data", tmp_path / "exp"
    model.write_bytes(b"x")
    (data / "folds").mkdir(parents=True)
    (exp / "fold1").mkdir(parents=True)
    (exp / "fold1" / "final.pt").write_bytes(b"model")

    def step(*opts):
        return subprocess.run(["bash", str(script), *opts, str(model), str(data), str(exp)], cwd=tmp_path,
                              env=dict(shell_env, PYTHONPATH=str(ROOT / "pylib")), capture_output=True, text=True)

    (exp / "results.json").write_text('{"folds": {}}')
    r = step()
    assert r.returncode == 0 and "skipping" in r.stderr and "would train" not in r.stderr, r.stderr
    (exp / "results.json").write_text('{"folds": {')
    r = step()
    assert r.returncode == 0 and "would train" in r.stderr and "results.json is damaged" in r.stderr, r.stderr
    assert not (exp / "results.json").exists() and (exp / "fold1" / "final.pt").read_bytes() == b"model"
    (exp / "results.json").write_text('{"folds": {}}')
    r = step("--overwrite", "true")
    assert r.returncode == 0 and "would train" in r.stderr and not (exp / "fold1").exists(), r.stderr


def test_stage_shell_form_says_damaged(tmp_path):
    out = tmp_path / "results.json"
    out.write_text("{")
    r = subprocess.run([sys.executable, "-m", "utter.stage", "--what", "score", str(out)], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(ROOT / "pylib")))
    assert r.returncode == 1 and "score: redoing: " in r.stderr and "is damaged" in r.stderr, r.stderr


def test_disk_full_in_make_fbank_names_the_file_being_written(tmp_path, monkeypatch, capsys):
    """ENOSPC from a write names no file; make_fbank now says which output it was writing and that
    nothing half-written was kept (issue 26 point 9). The full disk is simulated at the ark writer (the
    real one, a small tmpfs, is in bench/faults.sh)."""
    import errno

    import soundfile as sf

    from utter.bin import make_fbank
    from utter.bin.common import run
    from utter.data import kaldi_io

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for u in ("u1", "u2", "u3"):
        sf.write(tmp_path / f"{u}.wav", (0.1 * rng.normal(size=8000)).astype(np.float32), 16000)
    (data / "wav.scp").write_text("".join(f"{u} {tmp_path / u}.wav\n" for u in ("u1", "u2", "u3")))
    (data / "utt2spk").write_text("u1 s\nu2 s\nu3 s\n")
    written = []
    real = kaldi_io.write_array

    def fills_up(f, array, **kw):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(1)
        return real(f, array, **kw)

    monkeypatch.setattr(kaldi_io, "write_array", fills_up)
    ark = tmp_path / "fbank" / "raw_fbank.1.ark"
    # uncompressed, so that the features go through write_array too: u1 feats, u1 energy, then u2 feats fail
    status = run(make_fbank.main, make_fbank.build_parser(), ["--compress", "false", "--log-energy-ark",
                                                              str(tmp_path / "fbank/e.1.ark"), str(data), str(ark)])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    line = next(ln for ln in err.splitlines() if ": error: " in ln)
    assert f"no space left on the device while writing {ark} (No space left on device, " in line, line
    assert "nothing half-written was kept: free some space and rerun" in line
    assert sorted(p.name for p in (tmp_path / "fbank").iterdir()) == []
