"""Stage 6 on a tiny set: a frozen classifier that cannot be fitted (PLDA, singular covariance) is
skipped with one line naming it and why, the others run, and RESULTS.md marks the skipped row."""
from __future__ import annotations

import json
import logging
import subprocess

from transfer_synth import class_embeddings, session_data, write_embeddings

from utter.bin import make_results_table
from utter.transfer.frozen import FrozenOptions, run_frozen_classifier


def _tiny(tmp_path):
    data, u2e = session_data(tmp_path / "data", n_sessions=3, per_class=2)   # 12 training utterances a fold
    scp = write_embeddings(tmp_path / "emb/xvector", class_embeddings(u2e, dim=32, seed=1))  # 32 dims
    return data, scp


def test_unfittable_classifier_is_skipped(tmp_path, caplog):
    data, scp = _tiny(tmp_path)
    caplog.set_level(logging.WARNING)
    res = run_frozen_classifier(str(scp), str(data), str(tmp_path / "plda"), FrozenOptions("plda"),
                                folds_dir=str(data / "folds"))
    assert res["skipped"] and res["classifier"] == "plda" and res["fold"] == "1"
    assert res["reason"].startswith("plda cannot be fitted on fold 1 (12 training embeddings of dimension 32): "
                                    "whitening training set: covariance is singular")
    assert json.loads((tmp_path / "plda/skipped.json").read_text()) == res
    assert not (tmp_path / "plda/results.json").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"skipping the plda classifier: {res['reason']}"]
    ok = run_frozen_classifier(str(scp), str(data), str(tmp_path / "logreg"), FrozenOptions("logreg"),
                               folds_dir=str(data / "folds"))
    assert "skipped" not in ok and (tmp_path / "logreg/results.json").is_file()


def test_step_skips_with_one_line(tmp_path, root, shell_env):
    data, scp = _tiny(tmp_path)
    outs = {}
    for kind in ("plda", "cosine"):
        r = subprocess.run([str(root / "steps/train_classifier.sh"), "--classifier", kind, "--folds-dir",
                            str(data / "folds"), str(scp), str(data), str(tmp_path / kind)],
                           capture_output=True, text=True, env=shell_env, timeout=300)
        assert r.returncode == 0, r.stderr
        outs[kind] = r.stdout
    reason = json.loads((tmp_path / "plda/skipped.json").read_text())["reason"]
    assert reason.startswith("plda cannot be fitted on fold 1")
    assert outs["plda"].splitlines() == [
        f"{root}/steps/train_classifier.sh: skipped: {reason} (the others run; {tmp_path}/plda/skipped.json)"]
    assert "wrote" in outs["cosine"] and (tmp_path / "cosine/results.json").is_file()


def test_results_table_marks_the_skipped_row(tmp_path):
    figs = {"UA": {"mean": 0.5, "std": 0.1, "n": 3}, "WA": {"mean": 0.55, "std": 0.1, "n": 3}}
    (tmp_path / "ok.json").write_text(json.dumps(figs))
    (tmp_path / "skipped.json").write_text(json.dumps({"skipped": True, "classifier": "plda", "fold": "1",
                                                       "reason": "plda cannot be fitted on fold 1: singular"}))

    def table(*specs):
        out = tmp_path / "RESULTS.md"
        args = make_results_table.build_parser().parse_args(
            ["--task", "classification", "--metrics", "UA,WA", "--heading", "frozen=Frozen", str(out), *specs])
        make_results_table.main(args)
        return out.read_text()

    plain = table(f"frozen:dino/logreg:loso={tmp_path}/ok.json")
    assert "skipped" not in plain
    marked = table(f"frozen:dino/logreg:loso={tmp_path}/ok.json", f"frozen:dino/plda:loso={tmp_path}/skipped.json")
    assert "| dino | plda | skipped* | skipped* | - |" in marked
    assert "\\* skipped, dino plda: plda cannot be fitted on fold 1: singular" in marked
    row = "| dino | plda | skipped* | skipped* | - |\n"
    note = "\n\n\\* skipped, dino plda: plda cannot be fitted on fold 1: singular"
    assert marked.replace(row, "").replace(note, "") == plain   # nothing else changes
