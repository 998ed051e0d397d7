#!/usr/bin/env python3
"""Peer comparison (issue 24 point 0): WeSpeaker's own DINO training on the real-voice dev corpus,
at the budget of egs/custom's dino_small, scored as ours is. Driven by peer_wespeaker.sh.

No WeSpeaker code is copied here: its checkout (wenet-e2e/wespeaker) is given as a path, put on
sys.path, and its own programs run: wespeaker/ssl/bin/train_dino.py's train(), tools/make_lmdb.py,
wespeaker/ssl/bin/average_dino_model.py, wespeaker/bin/extract.py's extract(). Subcommands:

  prepare CORPUS OUT          data lists, coloured-noise clips, the identity RIR (toolkit venv)
  train WS OUT SEED           OUT/config.yaml (if absent), train_dino.train() on the CPU (peer venv)
  extract WS OUT SEED         extract.extract() of every dev file, whole utterances (peer venv)
  score CORPUS OUT SEED JSON  cosine raw and mean-subtracted, EER, minDCF(0.01), offset statistics (toolkit venv)

WeSpeaker's training and extraction programs are written for CUDA + NCCL (torch.cuda.set_device,
init_process_group('nccl'), model.cuda(), torch.device('cuda')) and ``import wespeaker`` imports
its command-line tool, which imports silero_vad, umap, hdbscan, s3prl, whisper, transformers and
peft. There is no option for either, so this driver, in its own process only:
  * puts a stub module in sys.modules for each of those optional packages that is not installed
    (the TDNN + fbank path never calls them; a stub raises if anything is called);
  * gives train_dino and extract a view of torch whose device('cuda') is the CPU and whose
    cuda.set_device does nothing, makes Module.cuda() a no-op, and runs the one-process process
    group on gloo (barrier without device_ids). Nothing else in WeSpeaker is changed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from pathlib import Path

# egs/custom/conf/dino_small.conf and the colour augmentation defaults of utter.data.options
STEPS, BATCH, STEPS_PER_EPOCH = 300, 32, 10
COLOUR_SNR_OURS = (0.0, 20.0)
COLOUR_BETA = (-1.5, 0.3)
NOISE_CLIPS, NOISE_SECONDS, RATE = 100, 10.0, 16000


def config(seed: int = 0) -> dict:
    """WeSpeaker's examples/voxceleb/v3/dino/conf/ecapa_tdnn.yaml with dino_small's settings."""
    epochs = STEPS // STEPS_PER_EPOCH
    return {
        "gpus": [0], "num_avg": 1, "enable_amp": False, "seed": seed,
        "num_epochs": epochs,                      # 30 "epochs" of 10 steps = 300 steps
        "save_epoch_interval": 10, "log_batch_interval": STEPS_PER_EPOCH,
        "dataloader_args": {"batch_size": BATCH, "num_workers": 1, "pin_memory": False,
                            "prefetch_factor": 4, "drop_last": True},
        "dataset_args": {
            "sample_num_per_epoch": STEPS_PER_EPOCH * BATCH,
            "shuffle": True,
            # the list is reshuffled every epoch (DataList); a larger buffer would read 2500 files
            # before each 10-step epoch and throw most away
            "shuffle_args": {"shuffle_size": STEPS_PER_EPOCH * BATCH},
            # our floor: 50 frames (0.5 s); WeSpeaker's default is 100. Its filter counts all frames
            # (no VAD); shorter utterances are repeated up to the crop length (get_random_chunk)
            "filter_args": {"min_num_frames": 50, "max_num_frames": 800},
            "resample_rate": RATE,
            "speed_perturb": False,
            "chunk_info_args": {"global_chunk_len": 300, "global_chunk_num": 2,
                                "local_chunk_len": 150, "local_chunk_num": 2},
            "aug_prob": 1.0,
            "fbank_args": {"num_mel_bins": 80, "frame_shift": 10, "frame_length": 25, "dither": 1.0},
            "spec_aug": False,
            "spec_aug_args": {"num_t_mask": 1, "num_f_mask": 1, "max_t": 10, "max_f": 8, "prob": 0.6},
        },
        "model": "XVEC", "model_init": None,
        "model_args": {"feat_dim": 80, "hid_dim": 128, "stats_dim": 384, "embed_dim": 128,
                       "pooling_func": "TSTP"},
        "dino_head_args": {"out_dim": 1024, "use_bn": True, "norm_last_layer": True, "nlayers": 3,
                           "hidden_dim": 256, "bottleneck_dim": 64, "normalize_input": False},
        "dino_loss_args": {"warmup_teacher_temp": 0.04, "teacher_temp": 0.04,
                           "warmup_teacher_temp_epochs_ratio": 0.2, "student_temp": 0.1,
                           "center_momentum": 0.9},
        "optim_type": "adamw", "clip_grad": 3.0,
        "freeze_last_layer": 1,                    # epochs: 10 steps
        "sync_bn": False,                          # one process; SyncBatchNorm refuses CPU tensors
        "scheduler_args": {
            # train_dino scales lr by batch/256: 0.04 * 32/256 = 0.005, min 8e-5 * 32/256 = 1e-5
            "lr": 0.005 * 256 / BATCH, "min_lr": 1e-5 * 256 / BATCH,
            "warmup_epochs": 2,                    # 20 steps
            "weight_decay": 1e-4, "weight_decay_end": 1e-4,
            "momentum_teacher": 0.99,              # cosine to 1 (train_dino fixes the end at 1)
        },
    }


# ---------------------------------------------------------------------------------------------
# prepare (toolkit venv: utter's coloured noise)

def prepare(corpus: Path, out: Path) -> None:
    import numpy as np
    import soundfile as sf

    from utter.data.augment import coloured_noise

    dev = corpus / "dev"
    files = sorted(p.relative_to(dev).as_posix() for p in dev.glob("*/*/*.wav"))
    if not files:
        raise SystemExit(f"{dev}: no <speaker>/<codec>/*.wav files")
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "wav.scp", "w") as scp, open(data / "raw.list", "w") as raw:
        for f in files:
            scp.write(f"{f} {dev / f}\n")
            raw.write(json.dumps({"key": f, "wav": str(dev / f), "spk": f.split("/")[0]}) + "\n")
    # noise: coloured-noise clips made by utter's augment module (slope beta uniform in our range,
    # one per clip; the pipeline takes a random stretch of a random clip for each crop). Keys
    # start with "noise", so WeSpeaker's add_noise draws the SNR uniform in [0, 15] dB.
    rng = np.random.default_rng(24)
    ndir = data / "colour_noise"
    ndir.mkdir(exist_ok=True)
    n = int(NOISE_SECONDS * RATE)
    with open(data / "noise.scp", "w") as scp:
        for i in range(NOISE_CLIPS):
            beta = float(rng.uniform(*COLOUR_BETA))
            y = coloured_noise(n, RATE, beta, rng) * 0.1          # unit power -> -20 dBFS rms
            y = np.clip(y, -1.0, 1.0 - 2 ** -15)
            path = ndir / f"noise-colour-{i:03d}.wav"
            sf.write(path, y, RATE, subtype="PCM_16")
            scp.write(f"noise-colour-{i:03d}_beta{beta:+.3f} {path}\n")
    # "reverb": one unit impulse, so WeSpeaker's reverb branch (taken for half the crops) leaves
    # the audio as it is (no reverberation; no RIRs are used on our side either)
    sf.write(data / "rir_identity.wav", np.array([32767, 0, 0, 0], dtype=np.int16), RATE, subtype="PCM_16")
    (data / "rir.scp").write_text(f"identity {data / 'rir_identity.wav'}\n")
    print(f"{len(files)} files, {NOISE_CLIPS} coloured-noise clips of {NOISE_SECONDS:g} s in {data}")


# ---------------------------------------------------------------------------------------------
# WeSpeaker side (peer venv)

OPTIONAL = ("silero_vad", "umap", "hdbscan", "s3prl", "s3prl.nn", "whisper", "transformers", "peft",
            "safetensors", "safetensors.torch", "sklearn", "sklearn.cluster", "sklearn.cluster._kmeans",
            "onnxruntime", "requests")


def _stub_optional() -> list[str]:
    import importlib.machinery
    import importlib.util

    stubbed = []

    class _Unavailable:
        def __init__(self, *a, **k):
            raise RuntimeError("stubbed by peer_wespeaker.py: not installed")

    def _getattr(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (_Unavailable,), {})

    for name in OPTIONAL:
        top = name.split(".")[0]
        if top not in stubbed and importlib.util.find_spec(top) is not None:
            continue
        mod = types.ModuleType(name)
        mod.__getattr__ = _getattr
        mod.__path__ = []
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None)   # no origin (torch._dynamo looks)
        sys.modules[name] = mod
        stubbed.append(name)
    return stubbed


def _cpu_torch():
    """A view of torch for WeSpeaker's modules: device(...) is the CPU, cuda.set_device a no-op."""
    import torch

    class _Cuda(types.ModuleType):
        def __getattr__(self, n):
            return getattr(torch.cuda, n)

        @staticmethod
        def set_device(*a, **k):
            return None

    class _Torch(types.ModuleType):
        cuda = _Cuda("torch.cuda")

        def __getattr__(self, n):
            return getattr(torch, n)

        @staticmethod
        def device(*a, **k):
            return torch.device("cpu")

    return _Torch("torch")


def _cpu_dist():
    import torch.distributed as dist

    class _Dist(types.ModuleType):
        def __getattr__(self, n):
            return getattr(dist, n)

        @staticmethod
        def init_process_group(*a, backend=None, **k):
            return dist.init_process_group(backend="gloo", **k)

        @staticmethod
        def barrier(*a, device_ids=None, **k):
            return dist.barrier(*a, **k)

    return _Dist("torch.distributed")


def _wespeaker(ws: Path) -> list[str]:
    ws = ws.resolve()
    if not (ws / "wespeaker" / "ssl" / "bin" / "train_dino.py").is_file():
        raise SystemExit(f"{ws}: not a wespeaker checkout (no wespeaker/ssl/bin/train_dino.py)")
    sys.path.insert(0, str(ws))
    stubbed = _stub_optional()
    import torch

    torch.nn.Module.cuda = lambda self, device=None: self
    return stubbed


def train(ws: Path, out: Path, seed: int) -> None:
    stubbed = _wespeaker(ws)
    import torch

    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(29500 + seed))
    from wespeaker.ssl.bin import train_dino

    train_dino.torch = _cpu_torch()
    train_dino.dist = _cpu_dist()
    if not (out / "config.yaml").is_file():   # kept when present (a smoke test may shorten it)
        import yaml

        (out / "config.yaml").write_text(yaml.safe_dump(config(), sort_keys=False))
    exp = out / f"seed{seed}"
    print(f"stubbed (not installed, not used by this path): {', '.join(stubbed) or 'none'}", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    d = out / "data"
    t0 = time.time()
    train_dino.train(config=str(out / "config.yaml"), exp_dir=str(exp), seed=seed, gpus=[0],
                     data_type="raw", train_data=str(d / "raw.list"), wav_scp=str(d / "wav.scp"),
                     reverb_data=str(d / "rir_lmdb"), noise_data=str(d / "noise_lmdb"))
    wall = time.time() - t0
    import yaml

    c = yaml.safe_load((out / "config.yaml").read_text())
    steps = c["num_epochs"] * (c["dataset_args"]["sample_num_per_epoch"] // c["dataloader_args"]["batch_size"])
    (exp / "train_time.json").write_text(json.dumps({"train_s": wall, "steps": steps, "steps_per_s": steps / wall,
                                                     "torch_threads": torch.get_num_threads()}) + "\n")
    print(f"training: {wall:.1f} s, {steps} steps, {steps / wall:.3f} steps/s", flush=True)


def extract(ws: Path, out: Path, seed: int) -> None:
    _wespeaker(ws)
    from wespeaker.bin import extract as ws_extract

    ws_extract.torch = _cpu_torch()
    exp = out / f"seed{seed}"
    t0 = time.time()
    ws_extract.extract(config=str(exp / "config.yaml"), model_path=str(exp / "models" / "avg_model.pt"),
                       data_type="raw", data_list=str(out / "data" / "raw.list"),
                       embed_ark=str(exp / "embeddings" / "dev" / "xvector.ark"),
                       batch_size=1, num_workers=1)
    wall = time.time() - t0
    (exp / "extract_time.json").write_text(json.dumps({"extract_s": wall}) + "\n")
    print(f"extraction: {wall:.1f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# scoring (toolkit venv), as bench/realvoice/label_free_backends.py scores ours

def offset_stats(x):
    """norm of the corpus-mean embedding / mean embedding norm; mean cosine over pairs i != j."""
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    u = x / norms[:, None]
    s = u.sum(0)
    n = len(u)
    return float(np.linalg.norm(x.mean(0)) / norms.mean()), float((s @ s - n) / (n * (n - 1)))


def score(corpus: Path, out: Path, seed: int, json_out: Path | None) -> dict:
    import kaldiio
    import numpy as np

    from utter.metrics.verification import compute_eer, compute_min_dcf

    exp = out / f"seed{seed}"
    embs = dict(kaldiio.load_scp(str(exp / "embeddings" / "dev" / "xvector.scp")))
    ids = sorted(embs)
    x = np.stack([np.asarray(embs[k], dtype=np.float64) for k in ids])
    pos = {k: i for i, k in enumerate(ids)}
    enroll, test, labels = [], [], []
    for line in open(corpus / "dev" / "trials.txt"):
        a, b, lab = line.split()
        if a not in pos or b not in pos:
            raise SystemExit(f"{exp}/embeddings/dev/xvector.scp: no embedding of {a if a not in pos else b}")
        enroll.append(pos[a])
        test.append(pos[b])
        labels.append(lab == "target")
    e, t, labels = np.array(enroll), np.array(test), np.array(labels)

    def unit(z):
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)

    ratio, pair_cos = offset_stats(x)
    res = {"system": "wespeaker_dino", "seed": seed, "embeddings": len(ids),
           "target_trials": int(labels.sum()), "nontarget_trials": int((~labels).sum()),
           "offset_ratio": ratio, "mean_pairwise_cosine": pair_cos}
    for name, z in (("raw", unit(x)), ("mean_subtracted", unit(x - x.mean(0)))):
        s = np.einsum("ij,ij->i", z[e], z[t])
        res[name] = {"eer_percent": 100 * compute_eer(s, labels),
                     "min_dcf_0.01": compute_min_dcf(s, labels, 0.01)}
    for f in ("train_time.json", "extract_time.json"):
        if (exp / f).is_file():
            res.update(json.loads((exp / f).read_text()))
    res["config"] = str(exp / "config.yaml")
    print(json.dumps(res, indent=1))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(res, indent=1) + "\n")
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("corpus", type=Path)
    a.add_argument("out", type=Path)
    for name in ("train", "extract"):
        a = sub.add_parser(name)
        a.add_argument("wespeaker", type=Path)
        a.add_argument("out", type=Path)
        a.add_argument("seed", type=int)
    a = sub.add_parser("score")
    a.add_argument("corpus", type=Path)
    a.add_argument("out", type=Path)
    a.add_argument("seed", type=int)
    a.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.cmd == "prepare":
        prepare(args.corpus, args.out)
    elif args.cmd == "train":
        train(args.wespeaker, args.out, args.seed)
    elif args.cmd == "extract":
        extract(args.wespeaker, args.out, args.seed)
    else:
        score(args.corpus, args.out, args.seed, args.json)


if __name__ == "__main__":
    main()
