"""Start-up of the stage programs: what a job imports decides how long a small job takes (importing
torch costs seconds per job). Checked in a fresh interpreter, without timing anything:

* ``--help`` of every stage program imports no torch (bin/ modules import the library lazily);
* a VAD job from a log-energy scp (compute_vad's usual path) imports no torch;
* the scoring and back-end stages' job paths import no torch.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[2] / "pylib" / "utter" / "bin"
#: stages whose --help may import torch (their parsers take network options built from torch modules)
HELP_NEEDS_TORCH = {"export_model", "extract_embeddings", "finetune", "speaker_means", "train_adapter", "train_common",
                    "train_triplet_barlow", "train_dino", "train_ssl", "train_xvector"}


def imports_torch(code: str) -> bool:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] == "True"


def test_vad_job_from_log_energy_imports_no_torch():
    assert not imports_torch("import utter.bin.compute_vad, utter.data.vad")


@pytest.mark.parametrize("stage", ["score_cosine", "score_plda", "score_norm", "compute_eer", "compute_min_dcf",
                                   "train_plda"])
def test_backend_stage_imports_no_torch(stage):
    assert not imports_torch(f"import utter.bin.{stage}, utter.backend, utter.metrics")


def test_help_of_light_stages_imports_no_torch():
    stages = sorted(p.stem for p in BIN.glob("*.py") if p.stem not in ("__init__", "common", "cli")
                    and p.stem not in HELP_NEEDS_TORCH)
    code = "\n".join(f"import utter.bin.{s} as m{i}; m{i}.build_parser()" for i, s in enumerate(stages)
                     if "def build_parser" in (BIN / f"{s}.py").read_text())
    assert not imports_torch(code)
