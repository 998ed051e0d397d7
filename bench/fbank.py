"""Throughput of steps/make_fbank.sh --nj 1 against a bare in-process torchaudio fbank loop.

Writes 10 minutes of synthetic 16 kHz audio (60 files of 10 s) to a temporary data dir, runs
the stage with one job and one thread, and splits its wall time into reading, fbank,
compress+write (from the job's log) and start-up (the rest: shell, split, validation, job
runner, Python and torch imports). The bare loop calls torchaudio.compliance.kaldi.fbank with
the same options on the same audio, already in memory, in this process, on one thread.
Prints seconds of audio per second per core for both and the ratio of their times.

usage: tools/venv/bin/python bench/fbank.py [--minutes 10] [--cmd run.py] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.compliance.kaldi as kaldi

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def make_data(root: Path, minutes: float, utt_seconds: float = 10.0) -> tuple[Path, dict[str, np.ndarray]]:
    """A data dir of synthetic speech-like audio (noise bursts through a moving resonance)."""
    rng = np.random.default_rng(0)
    data = root / "data" / "bench"
    (root / "wav").mkdir(parents=True)
    data.mkdir(parents=True)
    n = int(utt_seconds * RATE)
    audio: dict[str, np.ndarray] = {}
    wav_scp, utt2spk = [], []
    for i in range(int(round(minutes * 60 / utt_seconds))):
        spk, utt = f"spk{i // 6:03d}", f"spk{i // 6:03d}-utt{i:04d}"
        t = np.arange(n) / RATE
        env = (np.sin(2 * np.pi * 1.7 * t + i) > -0.2).astype(np.float32)
        x = rng.normal(0, 1, n) * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t) * env * 0.2
        pcm = np.clip(x * 32768, -32768, 32767).astype(np.int16)
        path = root / "wav" / f"{utt}.wav"
        sf.write(str(path), pcm, RATE, subtype="PCM_16")
        audio[utt] = pcm.astype(np.float32)
        wav_scp.append(f"{utt} {path}\n")
        utt2spk.append(f"{utt} {spk}\n")
    (data / "wav.scp").write_text("".join(wav_scp))
    (data / "utt2spk").write_text("".join(utt2spk))
    spks: dict[str, list[str]] = {}
    for line in utt2spk:
        u, s = line.split()
        spks.setdefault(s, []).append(u)
    (data / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in spks.items()))
    return data, audio


def bare_loop(audio: dict[str, np.ndarray]) -> float:
    """Seconds for torchaudio's fbank over every utterance, same options as conf/fbank.conf."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    for x in audio.values():
        kaldi.fbank(torch.from_numpy(x).unsqueeze(0), blackman_coeff=0.42, channel=-1, dither=1.0,
                    energy_floor=0.0, frame_length=25.0, frame_shift=10.0, high_freq=7600.0, htk_compat=False,
                    low_freq=20.0, min_duration=0.0, num_mel_bins=80, preemphasis_coefficient=0.97,
                    raw_energy=True, remove_dc_offset=True, round_to_power_of_two=True, sample_frequency=16000.0,
                    snip_edges=False, subtract_mean=False, use_energy=False, use_log_fbank=True, use_power=True,
                    vtln_high=-500.0, vtln_low=100.0, vtln_warp=1.0, window_type="povey")
    return time.perf_counter() - start


def run_stage(data: Path, cmd: str) -> tuple[float, dict[str, float]]:
    env = dict(os.environ, LC_ALL="C", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PATH"] = f"{ROOT / 'utils'}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    start = time.perf_counter()
    r = subprocess.run(["bash", str(ROOT / "steps" / "make_fbank.sh"), "--nj", "1", "--cmd", cmd,
                        "--overwrite", "true", str(data)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"bench/fbank.py: make_fbank.sh failed:\n{r.stdout}{r.stderr}")
    log = (data / "log" / f"make_fbank_{data.name}.1.log").read_text()
    m = re.search(r"time: read ([\d.]+) s, fbank ([\d.]+) s, compress\+write ([\d.]+) s", log)
    if not m:
        sys.exit(f"bench/fbank.py: no timing line in the job log:\n{log}")
    parts = {"read": float(m.group(1)), "fbank": float(m.group(2)), "compress+write": float(m.group(3))}
    parts["start-up"] = wall - sum(parts.values())
    return wall, parts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--cmd", default="run.py", help="job runner passed to make_fbank.sh --cmd")
    p.add_argument("--keep", default="", help="build the data here and keep it")
    args = p.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_fbank."))
    try:
        data, audio = make_data(root, args.minutes)
        seconds = sum(len(x) for x in audio.values()) / RATE
        bare = min(bare_loop(audio) for _ in range(2))
        wall, parts = run_stage(data, args.cmd)
        print(f"audio: {seconds:.0f} s in {len(audio)} utterances; one job, one thread")
        print(f"bare torchaudio fbank loop: {bare:.2f} s  = {seconds / bare:.0f} s of audio per second per core")
        print(f"steps/make_fbank.sh --nj 1: {wall:.2f} s  = {seconds / wall:.0f} s of audio per second per core")
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
        steady = wall - parts["start-up"]
        print(f"ratio stage/bare: {wall / bare:.2f}x overall, {steady / bare:.2f}x without start-up "
              "(target: at most 1.5x)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
