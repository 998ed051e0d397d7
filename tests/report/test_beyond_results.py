"""RESULTS.md gains the pseudo-label rounds table (purity, NMI, EER per round) and the score-only vs
quality-aware calibration table, built from the stages' JSON files by make_results_table."""
from __future__ import annotations

import json

from utter.bin import make_results_table
from utter.bin.common import run
from utter.report.classification import classification_tables


def test_rounds_and_quality_tables(tmp_path):
    def dump(name, obj):
        (tmp_path / name).write_text(json.dumps(obj))
        return str(tmp_path / name)

    dino = dump("dino.json", {"EER": 12.345, "minDCF@0.01": 0.81234})
    r1 = dump("r1.json", {"EER": 8.5, "minDCF@0.01": 0.7})
    c1 = dump("c1.json", {"num_clusters_kept": 50, "utterances_dropped": 12, "purity": 0.8123, "nmi": 0.9012})
    q = dump("q.json", {"score_only": {"cllr": 0.5, "min_cllr": 0.4, "act_dcf_0.01": 0.9, "act_dcf_0.05": 0.6,
                                       "eer": 10.0},
                        "quality": {"cllr": 0.45, "min_cllr": 0.39, "act_dcf_0.01": 0.85, "act_dcf_0.05": 0.55,
                                    "eer": 9.5}})
    out = tmp_path / "RESULTS.md"
    status = run(make_results_table.main, make_results_table.build_parser(),
                 ["--system-label", "dino=DINO ({net})", "--system-net", "dino=LResNet34",
                  "--pseudo-round", f"dino=-,{dino}", "--pseudo-round", f"dino_pl1={c1},{r1}",
                  "--quality-calibration", f"dino_pl1:cosine:O={q}", str(out), f"dino:cosine:O={dino}"])
    assert status == 0
    text = out.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| dino")]
    assert any("| dino_pl1 | 50 | 12 | 0.812 | 0.901 | 8.5 | 0.700 |" in r for r in rows), rows
    assert any(r.startswith("| dino | ") and "12.35" in r for r in rows)
    assert "| dino_pl1 | cosine | O | quality-aware | 0.45 | 0.39 | 0.85 | 0.55 | 9.5 |" in text
    bad = run(make_results_table.main, make_results_table.build_parser(),
              ["--pseudo-round", "dino", str(out), f"dino:cosine:O={dino}"])
    assert bad == 1


def test_fine_tuning_rows_state_each_stage_s_steps(tmp_path):
    """A fine-tuning summary's stage_steps (stage 1 + stage 2 of affine-then-full; one figure for full)
    becomes a 'training steps' column, so RESULTS.md says what budget each strategy had."""
    from utter.transfer.finetune import stage_steps

    assert stage_steps([[{"stage": "stage1", "steps": 30}, {"stage": "stage2", "steps": 20}]]) == "30+20"
    assert stage_steps([[{"stage": "train", "steps": None, "epochs": 3}]]) == "3 epochs"
    specs = []
    for strategy, steps in (("affine-then-full", "30+20"), ("full", "50")):
        path = tmp_path / f"{strategy}.json"
        path.write_text(json.dumps({"UA": {"mean": 0.5, "std": 0.1, "n": 15}, "stage_steps": steps}))
        specs.append(f"finetune:dino/{strategy}:cv={path}")
    text = classification_tables(specs, [("UA", "UA %")], {"finetune": "Fine-tuning"})
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert "training steps" in rows[0]
    assert "| 30+20 | 15 |" in rows[2] and "| 50 | 15 |" in rows[3], rows
    assert "stage 1 stopped early on dev" in text
