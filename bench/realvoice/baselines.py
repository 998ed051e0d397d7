"""Two reference systems on the real-voice corpus (bench/realvoice/make_corpus.sh), cosine-scored:

  trivial      mean and standard deviation over frames of the 80-d Kaldi log-mel fbank
               (utter.data.features, the toolkit's fbank options; 8 kHz audio resampled to 16 kHz)
  resemblyzer  the GE2E speaker encoder of the resemblyzer package (trained with speaker labels on
               real speech; its weights ship in the wheel), in its own venv bench/out/resemblyzer_venv

EER and minDCF(0.01) come from the toolkit's utter.metrics.verification; wall-clock covers reading,
embedding and scoring. Results go to OUT/<half>_<system>.json (run_custom.sh prints them beside DINO).

The resemblyzer venv is made on first use (python3 -m venv; pip install resemblyzer; it builds
webrtcvad, so a C compiler and python3-dev are needed, and setuptools < 81 for its pkg_resources).
A .pth file there puts tools/venv's site-packages after its own, so torch, numpy and scipy come
from the toolkit's venv rather than a second multi-GB torch download; resemblyzer, librosa and
webrtcvad are the venv's own.

usage: tools/venv/bin/python bench/realvoice/baselines.py [--half dev] [--systems trivial,resemblyzer]
                                                         [--out bench/out/realvoice_baselines] CORPUS
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RZ_VENV = ROOT / "bench" / "out" / "resemblyzer_venv"


def read_trials(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    enroll, test, labels = [], [], []
    for line in path.read_text().splitlines():
        a, b, lab = line.split()
        enroll.append(a)
        test.append(b)
        labels.append(lab == "target")
    return enroll, test, np.array(labels)


def embed_trivial(half_dir: Path, files: list[str]) -> np.ndarray:
    import soundfile as sf
    import torch

    from utter.data.features import compute_fbank, resample
    from utter.data.options import FbankOptions

    opts = FbankOptions()
    out = np.zeros((len(files), 2 * opts.num_mel_bins), dtype=np.float32)
    with torch.inference_mode():
        for i, f in enumerate(files):
            x, sr = sf.read(half_dir / f, dtype="float32")
            x = x * 32768.0
            if sr != opts.sample_frequency:
                x = resample(x, sr, int(opts.sample_frequency))
            feats, _ = compute_fbank(x, int(opts.sample_frequency), opts, f)
            out[i] = np.concatenate((feats.mean(0), feats.std(0)))
    return out


def ensure_resemblyzer_venv() -> Path:
    py = RZ_VENV / "bin" / "python"
    if py.exists() and subprocess.run([py, "-c", "import resemblyzer"], capture_output=True).returncode == 0:
        return py
    print(f"baselines.py: making {RZ_VENV} (pip install resemblyzer)", flush=True)
    subprocess.run(["python3", "-m", "venv", RZ_VENV], check=True)
    site = next((ROOT / "tools" / "venv" / "lib").glob("python3*/site-packages"))
    own = next((RZ_VENV / "lib").glob("python3*/site-packages"))
    (own / "zz_utter_venv.pth").write_text(f"{site}\n")
    # webrtcvad imports pkg_resources, which setuptools 81 and later no longer ship
    subprocess.run([RZ_VENV / "bin" / "pip", "install", "-q", "resemblyzer", "setuptools<81"], check=True)
    return py


def embed_resemblyzer(half_dir: Path, files: list[str], work: Path, threads: int) -> np.ndarray:
    """Embeds in the resemblyzer venv (this file, run there with --rz-embed)."""
    py = ensure_resemblyzer_venv()
    lst, npy = work / "rz_files.txt", work / "rz_emb.npy"
    lst.write_text("".join(f"{half_dir / f}\n" for f in files))
    subprocess.run([py, __file__, "--rz-embed", str(lst), str(npy), "--threads", str(threads)], check=True)
    return np.load(npy)


def rz_embed_main(lst: str, npy: str, threads: int) -> None:
    import soundfile as sf
    import torch
    from resemblyzer import VoiceEncoder, preprocess_wav

    torch.set_num_threads(threads)
    enc = VoiceEncoder("cpu", verbose=False)
    embs = []
    for f in Path(lst).read_text().split("\n")[:-1]:
        x, sr = sf.read(f, dtype="float32")
        wav = preprocess_wav(x, source_sr=sr)          # to 16 kHz, level-normalised, long silences cut
        if len(wav) < 1600:                              # nearly all cut as silence: keep the whole file
            wav = preprocess_wav(x, source_sr=sr, trim_silence=False)
        embs.append(enc.embed_utterance(wav))
    np.save(npy, np.stack(embs))


def cosine_scores(emb: np.ndarray, index: dict[str, int], enroll: list[str], test: list[str]) -> np.ndarray:
    e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    a = e[[index[x] for x in enroll]]
    b = e[[index[x] for x in test]]
    return (a * b).sum(1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="?", type=Path, help="OUT_DIR of make_corpus.sh")
    p.add_argument("--half", default="dev", choices=("dev", "eval"), help="dev: choosing defaults; eval: reports")
    p.add_argument("--systems", default="trivial,resemblyzer")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "realvoice_baselines")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--rz-embed", nargs=2, metavar=("LIST", "NPY"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.rz_embed:
        rz_embed_main(*a.rz_embed, a.threads)
        return
    if a.corpus is None:
        p.error("CORPUS is required")
    import torch

    from utter.metrics.verification import verification_report

    torch.set_num_threads(a.threads)
    half_dir = a.corpus / a.half
    enroll, test, labels = read_trials(half_dir / "trials.txt")
    files = sorted(set(enroll) | set(test))
    index = {f: i for i, f in enumerate(files)}
    a.out.mkdir(parents=True, exist_ok=True)
    print(f"{a.half}: {len(labels)} trials ({labels.sum()} target) over {len(files)} files of {half_dir}")
    for system in a.systems.split(","):
        t0 = time.time()
        if system == "trivial":
            emb = embed_trivial(half_dir, files)
        elif system == "resemblyzer":
            emb = embed_resemblyzer(half_dir, files, a.out, a.threads)
        else:
            sys.exit(f"baselines.py: unknown system {system}")
        scores = cosine_scores(emb, index, enroll, test)
        rep = verification_report(scores, labels, p_targets=(0.01,), calibration_metrics=False)
        wall = time.time() - t0
        res = {"system": system, "half": a.half, "EER": rep["EER"], "minDCF@0.01": rep["minDCF@0.01"],
               "n_target": rep["n_target"], "n_nontarget": rep["n_nontarget"], "n_files": len(files),
               "wall_s": round(wall, 1), "threads": a.threads, "load_avg": os.getloadavg()[0]}
        (a.out / f"{a.half}_{system}.json").write_text(json.dumps(res, indent=1) + "\n")
        with open(a.out / f"{a.half}_{system}.scores", "w") as f:
            f.writelines(f"{x} {y} {s:.6f}\n" for x, y, s in zip(enroll, test, scores))
        print(f"{a.half} {system}: EER {rep['EER']:.2f} %  minDCF(0.01) {rep['minDCF@0.01']:.3f}  "
              f"wall {wall:.0f} s ({len(files)} files, {a.threads} thread(s))", flush=True)


if __name__ == "__main__":
    main()
