"""utter.stage: a stage with complete, up-to-date outputs is skipped unless overwrite."""
from __future__ import annotations

import os
import subprocess
import sys

from utter.stage import skip_if_complete


def test_skip_only_when_outputs_complete_and_newer(tmp_path, caplog):
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.write_text("x\n")
    assert not skip_if_complete([out], [inp])                 # missing output
    out.write_text("")
    assert not skip_if_complete([out], [inp])                 # empty output
    out.write_text("y\n")
    os.utime(inp, (1000, 1000))
    caplog.set_level("INFO", logger="utter")
    assert skip_if_complete([out], [inp], what="make_fbank")
    assert "make_fbank: skipping, outputs complete" in caplog.text
    assert not skip_if_complete([out], [inp], overwrite=True)
    os.utime(inp, None)
    os.utime(out, (1000, 1000))
    assert not skip_if_complete([out], [inp])                 # input changed after the output


def test_shell_form_exit_status(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "utter.stage", "--what", "x", str(out)]
    assert subprocess.run(cmd, capture_output=True).returncode == 1
    out.write_text("y\n")
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and "skipping" in r.stderr
    assert subprocess.run(cmd[:3] + ["--overwrite", "true"] + cmd[3:], capture_output=True).returncode == 1
