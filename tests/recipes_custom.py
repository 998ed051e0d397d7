"""The reduced egs/custom run of tests/egs/test_custom_corpus.py, as a background session run
(tests/recipes.py): three small corpora of the simulator's audio in foreign layouts, the recipe's
conf/corpus.conf naming them, a tiny DINO, all stages.

Fixture: ``custom_run`` -> (recipe dir, corpora dir). The test module may run more stages in it.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from recipes import DEFINERS, BackgroundRuns, background, recipe_copy

from utter.sim.corpora.plain import build_plain

TINY_DINO = """# tiny DINO for the test suite (tests/egs/test_custom_corpus.py)
--arch=tdnn
--channels=32,32,32,32,64
--embed-dim=16
--global-frames=120
--num-global=2
--local-frames=60
--num-local=2
--out-dim=64
--head-hidden=32
--head-bottleneck=16
--head-layers=3
--head-bn=true
--teacher-momentum=0.99
--teacher-momentum-final=0.99
--optimizer=adam
--lr=0.005
--lr-reference-batch=0
--batch-size=8
--max-steps=2
--warmup-steps=1
--checkpoint-interval=2
--log-interval=2
"""
BACKEND = """calib_num_speakers=2
calib_num_trials=100
cosine_subtract_mean=false
cosine_whiten=false
lda_dim=4
plda_type=two-cov
plda_rank=4
plda_iters=3
asnorm_backend=cosine
asnorm_top_n=3
calib_prior=0.05
det_p_target=0.01
"""


def corpus_conf(c: Path, backend: bool = True) -> str:
    return (f"train_audio=({c / 'train'})\ntrain_segments=\neval_audio={c / 'eval'}\n"
            f"eval_trials={c / 'eval' / 'veri.txt'}\neval_trials_format=auto\neval_speaker=dir:1\neval_segments=\n"
            f"dev_trials={c / 'eval' / 'dev.txt'}\n"
            f"backend_audio={c / 'backend' if backend else ''}\nbackend_speaker='regex:^([^_]+)_'\n"
            "backend_segments=\nmusan_root=\nrirs_root=\n")


def _build(r: BackgroundRuns) -> tuple[Path, Path]:
    tmp = r.mktemp("custom")
    c = tmp / "corpora"
    build_plain(c / "train", layout="unlabelled", num_speakers=6, num_utts=24, durations=(0.8, 3.0), prefix="t")
    build_plain(c / "eval", layout="nested", num_speakers=4, num_utts=20, durations=(1.5, 3.0), trials=120,
                prefix="e")
    build_plain(c / "backend", layout="flat", fmt="wav", sample_rate=22050, num_speakers=6, num_utts=24,
                durations=(1.0, 2.5), prefix="b")
    # the trial list names .wav files (as VoxCeleb's do); the corpus holds .flac
    (c / "eval" / "veri.txt").write_text((c / "eval" / "trials.txt").read_text().replace(".flac", ".wav"))
    # dev trials scored while DINO trains (a test's shortcut: real ones hold other speakers)
    (c / "eval" / "dev.txt").write_text("".join((c / "eval" / "veri.txt").read_text().splitlines(True)[:40]))
    recipe_copy("voxceleb", tmp)   # egs/custom takes what its conf/ lacks from ../voxceleb/conf
    rdir = recipe_copy("custom", tmp)
    conf = rdir / "conf"
    (conf / "corpus.conf").write_text(corpus_conf(c))
    (conf / "dino_small.conf").write_text(TINY_DINO)
    (conf / "backend.conf").write_text(BACKEND)
    (conf / "recipe.conf").write_text((conf / "recipe.conf").read_text() + "train_threads=1\n")
    (conf / "augment.conf").write_text((conf / "augment.conf").read_text() + "aug_types_no_corpora=colour\n")
    r.recipe(rdir, ["--nj", "1"])
    return rdir, c



def pytest_configure(config: pytest.Config) -> None:
    config.stash.setdefault(DEFINERS, []).append(lambda runs: runs.define("custom_run", _build))


@pytest.fixture(scope="session")
def custom_run(request) -> tuple[Path, Path]:
    """The reduced egs/custom run: (recipe dir, corpora dir)."""
    return background(request.config).result("custom_run")
