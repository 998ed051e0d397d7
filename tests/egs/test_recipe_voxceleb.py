"""egs/voxceleb/run.sh end to end on a reduced mini run (tests/recipes.py: tiny corpora, tiny
networks, a few steps): RESULTS.md rows and columns, results JSON for every evaluation, no
VoxCeleb1 trial speaker in any back-end, cohort or calibration set (read from the commands the
back-end jobs actually ran, in their logs), and a run killed with SIGKILL in the middle of training
and again in the middle of extraction, then resumed with --stage (the background run
voxceleb_killed_resumed of tests/recipes.py), ending with embeddings identical to the uninterrupted
run's (the input of every later stage)."""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from utter.data.datadir import read_table
from utter.data.kaldi_io import open_scp

SYSTEMS = ("xvector", "dino")
BACKENDS = ("cosine", "plda", "asnorm")


def _lists(rdir: Path) -> list[str]:
    """The trial lists the run scored (trial_lists of its recipe config)."""
    return sorted(p.name for p in (rdir / "exp/dino/scores").iterdir() if p.name != "calibration")


def test_results_md_rows_and_columns(voxceleb_mini_run):
    rdir = voxceleb_mini_run
    text = (rdir / "RESULTS.md").read_text()
    for trials in _lists(rdir):
        table = text.split(f"### VoxCeleb1-{trials}")[1].split("###")[0]
        lines = [ln for ln in table.splitlines() if ln.startswith("|")]
        cols = [c.strip() for c in lines[0].strip("|").split("|")]
        assert cols == ["system"] + [f"{b} {m}" for b in ("cosine", "PLDA", "AS-norm")
                                     for m in ("EER%", "minDCF(0.01)", "minDCF(0.05)")]
        rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
        assert [r[0] for r in rows] == ["supervised (LResNet34, AAM-softmax)", "DINO (LResNet34)"]
        for r in rows:
            eers = [float(r[i]) for i in (1, 4, 7)]
            assert all(0 <= e <= 100 for e in eers) and all(0 <= float(r[i]) <= 1.5 for i in (2, 3, 5, 6, 8, 9))
    assert (rdir / "exp/det_O.png").stat().st_size > 0
    assert "Published figures" not in text  # only quoted for the real corpora


def test_every_evaluation_has_results_json(voxceleb_mini_run):
    import json

    rdir = voxceleb_mini_run
    for sys_ in SYSTEMS:
        for trials in _lists(rdir):
            for b in BACKENDS:
                for suffix in ("", "_cal"):
                    fig = json.loads((rdir / f"exp/{sys_}/scores/{trials}/scores_{b}{suffix}.json").read_text())
                    assert fig["n_target"] > 0 and fig["n_nontarget"] > 0 and 0 <= fig["EER"] <= 100


def _commands(log: Path) -> list[str]:
    """The command a job ran: run.py writes it on the log's first line as '# <command>'."""
    first = log.read_text().splitlines()[0]
    assert first.startswith("# "), f"{log}: no command line"
    return shlex.split(first[2:])


def test_no_trial_speaker_in_backend_cohort_or_calibration_sets(voxceleb_mini_run):
    rdir = voxceleb_mini_run
    utt2spk = {**read_table(rdir / "data/voxceleb2_dev_all/utt2spk"), **read_table(rdir / "data/voxceleb1/utt2spk")}

    def speakers_of(path: Path) -> set[str]:
        """Speakers of the utterances named in the first (and, for trials/scores, second) column."""
        out = set()
        for line in path.read_text().splitlines():
            fields = line.split()
            ids = fields[:2] if path.name.startswith(("trials", "scores")) else fields[:1]
            for utt in ids:
                assert utt in utt2spk, f"{path}: unknown utterance {utt}"
                out.add(utt2spk[utt])
        return out

    trial_spk = set()
    for trials in ("O", "E", "H"):
        trial_spk |= speakers_of(rdir / "data/voxceleb1_trials" / trials)
    assert trial_spk
    used: dict[str, set[str]] = {}  # what each back-end job was trained on -> its speakers
    for sys_ in SYSTEMS:
        cmd = _commands(rdir / f"exp/{sys_}/plda/log/train_plda.log")
        used[f"{sys_} PLDA scp"] = speakers_of(rdir / cmd[-3])
        used[f"{sys_} PLDA utt2spk"] = set(read_table(rdir / cmd[-2]).values())
        for log in (rdir / f"exp/{sys_}/scores").glob("*/log/score_cosine.log"):
            cmd = _commands(log)
            used[f"{log} mean"] = speakers_of(rdir / cmd[cmd.index("--train-scp") + 1])
        norm_logs = list((rdir / f"exp/{sys_}/scores").glob("*/log/scores_asnorm.log"))
        assert norm_logs
        for log in norm_logs:
            cmd = _commands(log)
            used[f"{log} cohort"] = speakers_of(rdir / cmd[-6]) | set(read_table(rdir / cmd[-5]).values())
        calib_logs = list((rdir / f"exp/{sys_}/calibration").glob("*/log/train_calibration.log"))
        assert len(calib_logs) == len(BACKENDS)
        for log in calib_logs:
            cmd = _commands(log)
            used[f"{log} scores"] = speakers_of(rdir / cmd[-3])
            used[f"{log} trials"] = speakers_of(rdir / cmd[-2])
    assert len(used) > 6
    for what, spks in used.items():
        assert spks, what
        assert not spks & trial_spk, f"{what}: VoxCeleb1 trial speakers {sorted(spks & trial_spk)[:5]}"


def _embeddings(rdir: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every system's embeddings of every set (exp/<sys>/emb/<set>/xvector.scp), by utterance."""
    return {str(p.relative_to(rdir)): {k: np.asarray(v) for k, v in open_scp(p).items()}
            for p in sorted((rdir / "exp").glob("*/emb/*/xvector.scp"))}


def test_killed_in_training_and_extraction_then_resumed_gives_identical_results(voxceleb_killed_resumed):
    run = voxceleb_killed_resumed
    rdir, ref = run["dir"], run["ref"]
    assert run["killed_training"] and not run["final_after_first_kill"], "training finished before the kill"
    resumed_log = (rdir / "killed_extraction.log").read_text()
    assert run["killed_extraction"] and "resum" in run["train_log"].lower(), resumed_log[-3000:]
    assert not run["heldout_after_second_kill"], "extraction finished before the kill"
    # the embeddings are what the later stages (scoring, evaluation) read: equal embeddings, equal results
    got, want = _embeddings(rdir), _embeddings(ref)
    assert len(want) == 2 * 3 and sorted(got) == sorted(want)
    for name, table in want.items():
        assert sorted(got[name]) == sorted(table), f"{name}: other utterances after kill and resume"
        for utt, vec in table.items():
            assert np.array_equal(got[name][utt], vec), f"{name} {utt} differs after kill and resume"
