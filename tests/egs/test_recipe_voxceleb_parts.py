"""Pieces of egs/voxceleb that run without training: calibration trials (checked by brute force
over the written list), the results-table builder (on hand-written JSON files), and run.sh's
errors for unset corpora and bad options."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from recipes import ROOT, recipe_copy, recipe_env

sys.path.insert(0, str(ROOT / "local" / "voxceleb"))
import make_calibration_trials as mct  # noqa: E402


def _spk2utt(counts: dict[str, int]) -> dict[str, list[str]]:
    return {s: [f"{s}-u{i:02d}" for i in range(n)] for s, n in counts.items()}


def test_calibration_trials_balanced_distinct_and_labelled():
    spk2utt = _spk2utt({"id001": 5, "id002": 4, "id003": 6, "id004": 2})
    utt2spk = {u: s for s, us in spk2utt.items() for u in us}
    trials = mct.make_trials(spk2utt, 40, seed=3)
    assert len(trials) == 40
    labels = [t for *_, t in trials]
    assert labels.count("target") == labels.count("nontarget") == 20
    for a, b, t in trials:  # each label agrees with the speakers, by brute force over the list
        assert a != b and (t == "target") == (utt2spk[a] == utt2spk[b])
    pairs = [frozenset((a, b)) for a, b, _ in trials]
    assert len(set(pairs)) == len(pairs)
    assert mct.make_trials(spk2utt, 40, seed=3) == trials
    assert mct.make_trials(spk2utt, 40, seed=4) != trials


def test_calibration_trials_capped_by_available_targets():
    spk2utt = _spk2utt({"a": 2, "b": 3})  # 1 + 3 = 4 target pairs
    trials = mct.make_trials(spk2utt, 100, seed=0)
    every_target = {frozenset(p) for us in spk2utt.values() for p in itertools.combinations(us, 2)}
    assert {frozenset((a, b)) for a, b, t in trials if t == "target"} == every_target
    assert sum(t == "nontarget" for *_, t in trials) == 4


def test_heldout_speakers_and_errors():
    spk2utt = _spk2utt({"s1": 3, "s2": 1, "s3": 4, "s4": 2, "s5": 5})
    chosen = mct.choose_speakers(spk2utt, 3, seed=1)
    assert len(chosen) == 3 and "s2" not in chosen and chosen == sorted(chosen)
    assert mct.choose_speakers(spk2utt, 3, seed=1) == chosen
    with pytest.raises(ValueError, match="only 4 have two or more"):
        mct.choose_speakers({**spk2utt, "s6": ["x"]}, 5, seed=0)
    with pytest.raises(ValueError, match="some must stay"):
        mct.choose_speakers(spk2utt, 5, seed=0)


def test_calibration_program_writes_disjoint_lists(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    spk2utt = _spk2utt({f"id{i:03d}": 3 + i % 3 for i in range(10)})
    (data / "utt2spk").write_text("".join(f"{u} {s}\n" for s, us in spk2utt.items() for u in us))
    out = tmp_path / "calib"
    done = subprocess.run([sys.executable, str(ROOT / "local/voxceleb/make_calibration_trials.py"),
                           "--num-speakers", "4", "--num-trials", "30", str(data), str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    held = (out / "heldout_spk").read_text().split()
    train = (out / "train_spk").read_text().split()
    assert len(held) == 4 and not set(held) & set(train) and set(held) | set(train) == set(spk2utt)
    for line in (out / "trials").read_text().splitlines():
        a, b, _ = line.split()
        assert a.rsplit("-", 1)[0] in held and b.rsplit("-", 1)[0] in held


def _wording(recipe: str = "voxceleb") -> list[str]:
    """The make_results_table options of egs/<recipe>/conf/results.conf (--mini false), as the
    recipe's results stage passes them (utils/recipe_lib.sh results_options)."""
    done = subprocess.run(["bash", "-c", 'set -euo pipefail; . utils/recipe_lib.sh; cd "egs/$1"; results_options; '
                           'printf "%s\\0" "${results_opts[@]}"', "-", recipe],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.split("\0")[:-1]


def _write_json(path: Path, eer: float, d1: float, d5: float, **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"EER": eer, "minDCF@0.01": d1, "minDCF@0.05": d5,
                                "n_target": 10, "n_nontarget": 20, **extra}))
    return path


def test_results_table_rows_columns_and_published(tmp_path):
    specs = []
    for i, (sys_, be) in enumerate(itertools.product(("dino", "xvector"), ("cosine", "plda", "asnorm"))):
        p = _write_json(tmp_path / f"{sys_}_{be}.json", 10 + i, 0.5 + i / 100, 0.25)
        specs.append(f"{sys_}:{be}:O={p}")
    cal = _write_json(tmp_path / "cal.json", 11, 0.51, 0.25, **{"actDCF@0.01": 0.617, "Cllr": 0.4, "minCllr": 0.3})
    calibrated = ["--calibrated", f"dino:plda:O={cal}"]
    specs.append(f"dino:cosine:E={_write_json(tmp_path / 'e.json', 12.345, 0.9, 0.8)}")
    out = tmp_path / "RESULTS.md"
    wording = _wording()
    assert "--published" in wording and "--heading" in wording
    done = subprocess.run([sys.executable, "-m", "utter.bin.make_results_table", *wording, *calibrated,
                           str(out), *specs], capture_output=True, text=True, env=recipe_env(),
                          cwd=ROOT / "egs/voxceleb")
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    o_table = text.split("### VoxCeleb1-O")[1].split("###")[0]
    header = next(line for line in o_table.splitlines() if line.startswith("| system"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["system"] + [f"{b} {m}" for b in ("cosine", "PLDA", "AS-norm")
                                 for m in ("EER%", "minDCF(0.01)", "minDCF(0.05)")]
    rows = [line for line in o_table.splitlines() if line.startswith("| ") and not line.startswith("| system")]
    assert rows[0].startswith("| supervised") and rows[1].startswith("| DINO")  # supervised first
    cells = [c.strip() for c in rows[1].strip("|").split("|")]
    assert cells[1:4] == ["10", "0.500", "0.250"] and cells[4] == "11"  # dino cosine, then PLDA EER
    assert "### VoxCeleb1-E" in text and "12.35" in text
    calib = text.split("### Calibrated scores")[1].split("##")[0]
    assert "actDCF(0.01)" in calib and "| DINO (LResNet34) | PLDA | O | 0.510 | 0.617 |" in calib
    assert "hyperion" in text and "3.96" in text
    assert "## Published figures (VoxCeleb1, for comparison)" in text


def test_results_table_holds_no_recipe_wording(tmp_path):
    """Without a recipe's wording the tables are headed by the names on the command line (the
    headings, row labels and section titles are the recipes' conf/results.conf)."""
    specs = [f"{s}:cosine:{t}={_write_json(tmp_path / f'{s}{t}.json', 10, 0.5, 0.25)}"
             for s in ("dino", "xvector") for t in ("E", "O")]
    out = tmp_path / "R.md"
    done = subprocess.run([sys.executable, "-m", "utter.bin.make_results_table", str(out), *specs],
                          capture_output=True, text=True, env=recipe_env())
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.index("### E (10 target") < text.index("### O (10 target") and "VoxCeleb" not in text
    rows = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows[:2] == ["dino", "xvector"]
    source = "".join(p.read_text() for p in [ROOT / "pylib/utter/bin/make_results_table.py",
                                             *sorted((ROOT / "pylib/utter/report").glob("*.py"))])
    for word in ("VoxCeleb", "IEMOCAP", "ADReSS", "AAM-softmax", "Lux", "DINO ("):
        assert word not in source, word


def test_results_table_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"minDCF@0.01": 1}))
    for specs, msg in (([f"dino:cosine=O={bad}"], "SYSTEM:BACKEND:TRIALS=PATH"),
                       ([f"dino:cosine:O={tmp_path / 'none.json'}"], "no such results file"),
                       ([f"dino:cosine:O={bad}"], "no EER")):
        done = subprocess.run([sys.executable, "-m", "utter.bin.make_results_table", str(tmp_path / "R.md"), *specs],
                              capture_output=True, text=True, env=recipe_env())
        assert done.returncode == 1 and msg in done.stderr, done.stderr


def test_results_table_names_the_trained_network(tmp_path):
    """Rows name the network of the config.json beside each --system-model (a link is resolved);
    systems without one keep the paper's network; a model without a config is a clear error."""
    exp = tmp_path / "exp"
    (exp / "dino").mkdir(parents=True)
    (exp / "dino/config.json").write_text(json.dumps({"arch": {"arch": "tdnn", "channels": [8]}}))
    (exp / "dino/final.pt").write_bytes(b"")
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained/final.pt").symlink_to(exp / "dino/final.pt")
    specs = [f"{s}:cosine:O={_write_json(tmp_path / f'{s}.json', 10, 0.5, 0.25)}" for s in ("dino", "xvector")]
    out = tmp_path / "R.md"
    done = subprocess.run([sys.executable, "-m", "utter.bin.make_results_table", *_wording(), "--system-model",
                           f"dino={tmp_path / 'pretrained/final.pt'}", str(out), *specs],
                          capture_output=True, text=True, env=recipe_env(), cwd=ROOT / "egs/voxceleb")
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "| DINO (TDNN) |" in text and "| supervised (LResNet34, AAM-softmax) |" in text
    done = subprocess.run([sys.executable, "-m", "utter.bin.make_results_table", "--system-model",
                           f"xvector={tmp_path / 'none/final.pt'}", str(out), *specs],
                          capture_output=True, text=True, env=recipe_env())
    assert done.returncode == 1 and "none/config.json" in done.stderr and "xvector" in done.stderr, done.stderr


def test_run_sh_names_unset_corpus_variable_and_bad_options(tmp_path):
    rdir = recipe_copy("voxceleb", tmp_path)
    env = recipe_env()
    done = subprocess.run(["bash", "run.sh", "--stage", "0", "--stop-stage", "0"], cwd=rdir, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "voxceleb1_root is not set" in done.stderr and "conf/corpus.conf" in done.stderr
    conf = rdir / "conf/corpus.conf"
    conf.write_text(conf.read_text().replace("voxceleb1_root=", f"voxceleb1_root={tmp_path}/nowhere")
                    .replace("voxceleb2_root=", f"voxceleb2_root={tmp_path}")
                    .replace("musan_root=", f"musan_root={tmp_path}").replace("rirs_root=", f"rirs_root={tmp_path}"))
    done = subprocess.run(["bash", "run.sh", "--stage", "0", "--stop-stage", "0"], cwd=rdir, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1 and f"voxceleb1_root={tmp_path}/nowhere" in done.stderr
    assert "no such directory" in done.stderr
    for args, msg in ((["--device", "gpu"], "--device must be cpu or cuda"),
                      (["--bogus", "1"], "invalid option --bogus")):
        done = subprocess.run(["bash", "run.sh", *args], cwd=rdir, env=env, capture_output=True, text=True)
        assert done.returncode == 1 and msg in done.stderr, done.stderr
