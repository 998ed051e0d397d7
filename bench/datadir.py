"""Benchmark the utils/ data-dir tools on a VoxCeleb2-size data dir; prints times, ratios, peak RSS.

Generates (in a temporary dir) 1,092,009 utterances of 5,994 speakers with Kaldi's VoxCeleb2
layout: wav.scp of ffmpeg pipes, utt2spk, utt2dur, every table shuffled and 50 utterances
without a speaker. Then times, as a Kaldi user runs them: fix_data_dir.sh on it, split_data.sh 32
(per speaker, per utterance, and again when up to date), subset_data_dir.sh --utt-list (100k),
copy_data_dir.sh --utt-suffix -rev (which validates), combine_data.sh of the
fixed dir and its copy (which fixes), validate_data_dir.sh --no-feats --no-text. Each is printed
with its wall and CPU (user+sys) time, its peak RSS (GNU time), Kaldi's time from issue 17 (its
perl utils, 2-core machine), and two floors measured in the same run on the same files, each doing
the tool's byte work without checks or messages: an awk floor (LC_ALL=C sort plus mawk passes)
and a C floor (GNU coreutils). Per table:
             awk floor                                  C floor
  fix        sort -k1,1 -u; mawk hash filter on utt2spk  sort -k1,1 -u; join on utt2spk's keys
  split      mawk writing each line to its part (32)     split -n l/32
  subset     mawk hash filter on the list                join on the sorted list
  copy       mawk renaming field 1; validate's floor     sed renaming field 1; validate's floor
  combine    sort -m; mawk hash filter on utt2spk        sort -m; join on utt2spk's keys
  validate   sort -c -k1,1 -u; mawk '{print $1}' | cmp   sort -c -k1,1 -u; cut -f1 | cmp
Run: nice tools/venv/bin/python bench/datadir.py [--utts N] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UTILS = ROOT / "utils"
#: Kaldi's perl utils on the same dir, 2-core machine (issue 17); None where not measured.
KALDI = {"fix": 31.4, "split": 24.2, "split --per-utt": 18.6, "subset --utt-list": 5.5, "copy --utt-suffix": 25.0,
         "combine": 65.0, "validate": 4.5}
TABLES = ("wav.scp", "utt2spk", "utt2dur")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def generate(d: Path, n_utts: int, n_spks: int, orphans: int = 50, seed: int = 17) -> None:
    """VoxCeleb2-style ids (idNNNNN-<11-char video>-NNNNN), speakers of lognormal sizes, shuffled."""
    rng = random.Random(seed)
    spks = sorted(rng.sample(range(10, 99999), n_spks))
    w = [rng.lognormvariate(0, 0.5) for _ in spks]
    tot = sum(w)
    counts = [max(1, int(n_utts * x / tot)) for x in w]
    i = 0
    while sum(counts) != n_utts:
        j = i % n_spks
        if sum(counts) < n_utts:
            counts[j] += 1
        elif counts[j] > 1:
            counts[j] -= 1
        i += 1
    utts = []
    for spk, n in zip(spks, counts):
        k = 0
        while k < n:
            vid = "".join(rng.choices(_ALPHABET, k=11))
            m = min(n - k, rng.randint(1, 12))
            utts += [(f"id{spk:05d}", vid, j) for j in range(1, m + 1)]
            k += m
    rng.shuffle(utts)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "wav.scp", "w") as f:
        f.writelines(f"{s}-{v}-{j:05d} ffmpeg -v 8 -i /corpora/voxceleb2/dev/aac/{s}/{v}/{j:05d}.m4a "
                     f"-f wav -acodec pcm_s16le - |\n" for s, v, j in utts)
    with open(d / "utt2dur", "w") as f:
        f.writelines(f"{s}-{v}-{j:05d} {rng.uniform(4, 20):.2f}\n" for s, v, j in utts)
    with open(d / "utt2spk", "w") as f:   # the first `orphans` utterances have no speaker
        f.writelines(f"{s}-{v}-{j:05d} {s}\n" for s, v, j in utts[orphans:])


def timed(cmd: str, cwd: Path, env: dict) -> tuple[float, float, int]:
    """(wall s, user+sys s, peak RSS KiB) of a bash command line, through GNU time."""
    fmt = "%e %U %S %M"
    out = cwd / ".time"
    r = subprocess.run(["/usr/bin/time", "-o", str(out), "-f", fmt, "bash", "-c", cmd], cwd=cwd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {cmd}\n{r.stderr[-2000:]}")
    e, u, s, m = out.read_text().split()[-4:]
    return float(e), float(u) + float(s), int(m)


def join_filter(keys_file: str, table: str, out: str) -> str:
    """The lines of a sorted table whose key is in a sorted key list (GNU join, a merge)."""
    return f"LC_ALL=C join -j1 {keys_file} {table} > {out}"


def keys_of(table: str, out: str) -> str:
    return f"cut -d' ' -f1 {table} > {out}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--utts", type=int, default=1_092_009)
    ap.add_argument("--spks", type=int, default=5_994)
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--keep", default=None, help="work in this dir and keep it (default: a temporary dir)")
    ap.add_argument("--only", default="", help="comma-separated tools to run (default all)")
    a = ap.parse_args()
    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_datadir."))
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LC_ALL": "C", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    only = set(filter(None, a.only.split(",")))
    rows = []
    nj = a.jobs
    try:
        t0 = time.time()
        raw = root / "raw"
        if not (raw / "utt2spk").is_file():
            generate(raw, a.utts, a.spks)
        print(f"generated {a.utts} utterances of {a.spks} speakers in {raw} ({time.time() - t0:.1f} s); "
              f"wav.scp {(raw / 'wav.scp').stat().st_size / 1e6:.0f} MB", flush=True)

        def fresh(name: str, src: Path = raw) -> Path:
            d = root / name
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(src, d)
            return d

        def run(tool: str, ours: str, c_floor: str, awk_floor: str) -> None:
            if only and tool.split()[0] not in only:
                return
            w, c, m = timed(ours, root, env)
            fa = timed(awk_floor, root, env)
            fc = timed(c_floor, root, env)
            rows.append((tool, w, c, m, fa, fc))
            print(f"  {tool}: {w:.2f} s (cpu {c:.2f}); awk floor {fa[0]:.2f} s (cpu {fa[1]:.2f}) {w / fa[0]:.2f}x; "
                  f"C floor {fc[0]:.2f} s (cpu {fc[1]:.2f}) {w / fc[0]:.2f}x; peak {m / 1024:.0f} MiB", flush=True)

        def awk_filter(keys_file: str, table: str, out: str) -> str:
            return f"mawk 'NR==FNR{{k[$1];next}} ($1 in k)' {keys_file} {table} > {out}"

        # fix_data_dir.sh on the raw (shuffled) dir; the floors sort and filter a second copy
        fix = fresh("fix")
        flo = fresh("fix_floor")
        sort_raw = " && ".join(f"LC_ALL=C sort -k1,1 -u {flo}/{t} > {flo}/{t}.s" for t in TABLES)
        run("fix", f"{UTILS}/fix_data_dir.sh {fix}",
            sort_raw + " && " + keys_of(f"{flo}/utt2spk.s", f"{flo}/k") + " && "
            + " && ".join(join_filter(f"{flo}/k", f"{flo}/{t}.s", f"{flo}/{t}.f") for t in TABLES),
            sort_raw + " && " + " && ".join(awk_filter(f"{flo}/utt2spk.s", f"{flo}/{t}.s", f"{flo}/{t}.f")
                                            for t in TABLES))
        fixed = root / "fixed"
        if not (fixed / "utt2spk").is_file() or only:
            if not (fix / "spk2utt").is_file():
                subprocess.run([f"{UTILS}/fix_data_dir.sh", str(fix)], env=env, check=True, stdout=subprocess.DEVNULL)
            shutil.rmtree(fixed, ignore_errors=True)
            shutil.copytree(fix, fixed, ignore=shutil.ignore_patterns(".backup"))
        n = sum(1 for _ in open(fixed / "utt2spk", "rb"))
        for x in range(1, nj + 1):
            (root / "fsplit" / str(x)).mkdir(parents=True, exist_ok=True)
        c_split = " && ".join(f"split -n l/{nj} -d -a 2 {fixed}/{t} {root}/fsplit/{t}." for t in TABLES)
        awk_split = " && ".join(
            f"mawk -v N={n} -v d={root}/fsplit -v f={t} 'NR==FNR{{p[$1]=1+int((FNR-1)*{nj}/N);next}} "
            f"($1 in p){{print > (d \"/\" p[$1] \"/\" f)}}' {fixed}/utt2spk {fixed}/{t}" for t in TABLES)
        shutil.rmtree(fixed / f"split{nj}", ignore_errors=True)
        shutil.rmtree(fixed / f"split{nj}utt", ignore_errors=True)
        for sub in ("split", "split --per-utt"):
            opt = " --per-utt" if "per-utt" in sub else ""
            run(sub, f"{UTILS}/split_data.sh{opt} {fixed} {nj}", c_split, awk_split)
        if (fixed / f"split{nj}" / "1" / "utt2spk").is_file():
            w, c, m = timed(f"{UTILS}/split_data.sh {fixed} {nj}", root, env)
            print(f"  split again (up to date): {w:.2f} s", flush=True)
            rows.append(("split (again, up to date)", w, c, m, None, None))
        # subset --utt-list of 100k utterances
        keys = [line.split(None, 1)[0] for line in open(fixed / "utt2spk", "rb")]
        random.Random(3).shuffle(keys)
        (root / "list100k").write_bytes(b"\n".join(sorted(keys[:100_000])) + b"\n")
        shutil.rmtree(root / "sub", ignore_errors=True)
        (root / "fsub").mkdir(exist_ok=True)
        run("subset --utt-list", f"{UTILS}/subset_data_dir.sh --utt-list {root}/list100k {fixed} {root}/sub",
            " && ".join(join_filter(f"{root}/list100k", f"{fixed}/{t}", f"{root}/fsub/{t}") for t in TABLES),
            " && ".join(awk_filter(f"{root}/list100k", f"{fixed}/{t}", f"{root}/fsub/{t}") for t in TABLES))
        # validate floors (also part of copy's)
        c_val = (keys_of(f"{fixed}/utt2spk", f"{root}/k.utt") + " && "
                 + " && ".join(f"LC_ALL=C sort -c -k1,1 -u {fixed}/{t} && cut -d' ' -f1 {fixed}/{t} "
                               f"| cmp - {root}/k.utt" for t in ("wav.scp", "utt2dur")))
        awk_val = (f"mawk '{{print $1}}' {fixed}/utt2spk > {root}/k.utt && "
                   + " && ".join(f"LC_ALL=C sort -c -k1,1 -u {fixed}/{t} && mawk '{{print $1}}' {fixed}/{t} "
                                 f"| cmp - {root}/k.utt" for t in ("wav.scp", "utt2dur")))
        shutil.rmtree(root / "rev", ignore_errors=True)
        (root / "frev").mkdir(exist_ok=True)
        run("copy --utt-suffix", f"{UTILS}/copy_data_dir.sh --utt-suffix -rev {fixed} {root}/rev",
            " && ".join(f"sed 's/ /-rev /' {fixed}/{t} > {root}/frev/{t}" for t in TABLES) + " && " + c_val,
            " && ".join(f"mawk '{{$1=$1 \"-rev\"; print}}' {fixed}/{t} > {root}/frev/{t}" for t in TABLES)
            + " && " + awk_val)
        if (root / "rev" / "utt2spk").is_file():
            (root / "fcomb").mkdir(exist_ok=True)
            merge = " && ".join(f"LC_ALL=C sort -m {fixed}/{t} {root}/rev/{t} > {root}/fcomb/{t}" for t in TABLES)
            run("combine", f"{UTILS}/combine_data.sh {root}/comb {fixed} {root}/rev",
                merge + " && " + keys_of(f"{root}/fcomb/utt2spk", f"{root}/fcomb/k") + " && "
                + " && ".join(join_filter(f"{root}/fcomb/k", f"{root}/fcomb/{t}", f"{root}/fcomb/{t}.f")
                              for t in TABLES),
                merge + " && " + " && ".join(awk_filter(f"{root}/fcomb/utt2spk", f"{root}/fcomb/{t}",
                                                        f"{root}/fcomb/{t}.f") for t in TABLES))
        run("validate", f"{UTILS}/validate_data_dir.sh --no-feats --no-text {fixed}", c_val, awk_val)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(f"| tool ({a.utts} utts, {a.spks} spks) | ours: wall (cpu) s | awk floor: wall (cpu) s | ours/awk | "
          f"C floor: wall (cpu) s | ours/C | peak RSS MiB | Kaldi s (issue 17) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool, w, c, m, fa, fc in rows:
        k = KALDI.get(tool)
        cells = [f"{w:.2f} ({c:.2f})"]
        for f in (fa, fc):
            cells += ["", ""] if f is None else [f"{f[0]:.2f} ({f[1]:.2f})", f"{w / f[0]:.2f}"]
        print(f"| {tool} | {' | '.join(cells)} | {m / 1024:.0f} | {'' if k is None else k} |")


if __name__ == "__main__":
    main()
