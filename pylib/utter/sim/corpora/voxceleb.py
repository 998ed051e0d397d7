"""Mini VoxCeleb1 and VoxCeleb2-dev in the real layouts.

``voxceleb1/wav/idNNNNN/<11-char video>/NNNNN.wav`` (16 kHz), ``voxceleb1/vox1_meta.csv``
(``VoxCeleb1 ID<TAB>VGGFace1 ID<TAB>Gender<TAB>Nationality<TAB>Set``), the cleaned trial lists
``veri_test2.txt`` (O: test speakers), ``list_test_all2.txt`` (E: all speakers) and
``list_test_hard2.txt`` (H: non-targets of the same nationality and gender), and the original
lists ``veri_test.txt``, ``list_test_all.txt``, ``list_test_hard.txt``, which also hold trials
of two mislabelled videos (voiced by another person, as the real lists' errors were) that the
cleaned lists leave out. ``voxceleb2/dev/aac/idNNNNN/<video>/NNNNN.{wav,m4a}`` and
``voxceleb2/vox2_meta.csv`` (``VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set``).

Speakers: 50 VoxCeleb2-dev, 15 VoxCeleb1-dev, 12 VoxCeleb1-test at scale 1. Each speaker has
3-6 videos (sessions, each its own channel) of 2-7 utterances of 2-10 s (lognormal, median
3.5 s). About 6000 trials per list at scale 1 (half targets).
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utter.sim import factors, phones
from utter.sim.build_tools import BuildConfig, Job, item_rng, run_jobs, scaled, write_text, write_wav
from utter.sim.corpora import person_name, record, speak, utterance_style, video_id
from utter.sim.synth import FS


@dataclass
class SpkInfo:
    sid: str
    name: str
    gender: str
    nationality: str
    set: str
    voice: factors.Speaker
    videos: list[tuple[str, int]]  # (video id, number of utterances)


def _speakers(cfg: BuildConfig, corpus: str, ids: list[str], set_name: str, videos: tuple[int, int],
              utts: tuple[int, int]) -> list[SpkInfo]:
    out = []
    for sid in ids:
        rng = item_rng(cfg.seed, corpus, sid)
        gender = "m" if rng.random() < 0.55 else "f"
        nats = list(phones.NATIONALITY_WEIGHTS)
        w = np.array(list(phones.NATIONALITY_WEIGHTS.values()))
        nat = nats[int(rng.choice(len(nats), p=w / w.sum()))]
        voice = factors.draw_speaker(rng, gender, phones.NATIONALITY_LANGUAGE[nat])
        name = person_name(rng)
        vids = [(video_id(rng), int(rng.integers(utts[0], utts[1] + 1)))
                for _ in range(int(rng.integers(videos[0], videos[1] + 1)))]
        out.append(SpkInfo(sid, name, gender, nat, set_name, voice, vids))
    return out


def render_utt(seed: int, corpus: str, sid: str, video: str, num: int, voice: factors.Speaker,
               path: str, fmt: str = "wav", max_dur: float = 10.0) -> float:
    """One utterance: the speaker's voice in the video's channel. Returns its duration (s)."""
    ch_rng = item_rng(seed, corpus, sid, video, "channel")
    ch = factors.draw_channel(ch_rng)
    rir_seed = int(ch_rng.integers(2 ** 31))
    rng = item_rng(seed, corpus, sid, video, num)
    dur = float(np.clip(np.exp(rng.normal(np.log(3.5), 0.4)), 2.0, max_dur - 0.8))
    x, _ = speak(rng, voice, utterance_style(rng), dur)
    y = record(x, ch, rng, rir_seed, level_db=float(rng.normal(0, 1)))
    out = Path(path)
    if fmt == "m4a":
        wav = out.with_suffix(".tmp.wav")
        write_wav(wav, y, FS)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "64k",
                        "-f", "mp4", str(out)], check=True)
        wav.unlink()
    else:
        write_wav(out, y, FS)
    return len(y) / FS


def _jobs(cfg: BuildConfig, corpus: str, base: Path, spks: list[SpkInfo], ext: str,
          voices: dict[tuple[str, str], factors.Speaker] | None = None) -> tuple[list[Job], list[str]]:
    jobs, rels = [], []
    for s in spks:
        for vid, n in s.videos:
            for k in range(1, n + 1):
                rel = f"{s.sid}/{vid}/{k:05d}.{ext}"
                voice = (voices or {}).get((s.sid, vid), s.voice)
                jobs.append(Job(render_utt, dict(seed=cfg.seed, corpus=corpus, sid=s.sid, video=vid, num=k,
                                                 voice=voice, path=str(base / rel), fmt=ext)))
                rels.append(rel)
    return jobs, rels


def _ids(rng: np.random.Generator, start: int, n: int, taken: set[int] = frozenset()) -> list[str]:
    out, cur = [], start
    while len(out) < n:
        cur += int(rng.integers(1, 4))
        if cur not in taken:
            out.append(f"id{cur:05d}")
    return out


def _pairs(rng: np.random.Generator, utts: list[str], spk_of, n: int, same_group=None) -> list[tuple[int, str, str]]:
    """``n`` trials (half targets) over ``utts``; non-targets within ``same_group`` if given."""
    by_spk: dict[str, list[str]] = {}
    for u in utts:
        by_spk.setdefault(spk_of(u), []).append(u)
    targets = [(a, b) for us in by_spk.values() for i, a in enumerate(us) for b in us[i + 1:]]
    n_t = min(n // 2, len(targets))
    pick = rng.choice(len(targets), size=n_t, replace=False)
    trials = [(1, *targets[i]) for i in sorted(pick)]
    seen: set[tuple[str, str]] = set()
    arr = np.array(utts)
    groups: dict[object, list[str]] = {}
    if same_group is not None:
        for u in utts:
            groups.setdefault(same_group(spk_of(u)), []).append(u)
    tries = 0
    while len(trials) < 2 * n_t and tries < 50 * n:
        tries += 1
        a = str(arr[rng.integers(len(arr))])
        pool = groups[same_group(spk_of(a))] if same_group is not None else utts
        b = pool[int(rng.integers(len(pool)))]
        if spk_of(a) == spk_of(b) or (a, b) in seen or (b, a) in seen:
            continue
        seen.add((a, b))
        trials.append((0, a, b))
    order = rng.permutation(len(trials))
    trials = [trials[i] for i in order]
    trials.sort(key=lambda t: t[1])
    return trials


def _trial_text(trials: list[tuple[int, str, str]]) -> str:
    return "".join(f"{lab} {a} {b}\n" for lab, a, b in trials)


def build(cfg: BuildConfig, nj: int) -> None:
    root = cfg.outdir
    v1, v2 = root / "voxceleb1", root / "voxceleb2"
    rng = item_rng(cfg.seed, "voxceleb", "ids")
    n2, n1d, n1t = scaled(50, cfg.scale, 8), scaled(15, cfg.scale, 4), scaled(12, cfg.scale, 4)
    test_ids = _ids(rng, 10269, n1t)
    dev_ids = _ids(rng, 10000, n1d, {int(s[2:]) for s in test_ids})
    vox2_ids = _ids(rng, 11, n2)
    test = _speakers(cfg, "voxceleb1", test_ids, "test", (4, 6), (4, 7))
    dev = _speakers(cfg, "voxceleb1", dev_ids, "dev", (3, 5), (2, 5))
    vox2 = _speakers(cfg, "voxceleb2", vox2_ids, "dev", (3, 6), (2, 6))
    # two test videos voiced by people who are not the labelled speaker (the original lists' errors)
    impostors = {}
    for s in test[:2]:
        r = item_rng(cfg.seed, "voxceleb1", s.sid, "mislabelled")
        impostors[(s.sid, s.videos[-1][0])] = factors.draw_speaker(r, s.gender, s.voice.lang)
    bad_prefixes = {f"{sid}/{vid}/" for sid, vid in impostors}

    jobs1, rels1 = _jobs(cfg, "voxceleb1", v1 / "wav", test + dev, "wav", impostors)
    ext2 = "m4a" if cfg.fmt == "m4a" else "wav"
    jobs2, _ = _jobs(cfg, "voxceleb2", v2 / "dev" / "aac", vox2, ext2)
    run_jobs(jobs1 + jobs2, nj, "voxceleb")

    meta = "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n" + "".join(
        f"{s.sid}\t{s.name}\t{s.gender}\t{s.nationality}\t{s.set}\n" for s in sorted(test + dev, key=lambda s: s.sid))
    write_text(v1 / "vox1_meta.csv", meta)
    write_text(v2 / "vox2_meta.csv", "VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n" + "".join(
        f"{s.sid} ,n{int(s.sid[2:]) + 1:06d} ,{s.gender} ,{s.set} \n" for s in vox2))

    info = {s.sid: s for s in test + dev}

    def spk_of(u: str) -> str:
        return u.split("/", 1)[0]

    def group(sid: str) -> tuple[str, str]:
        return info[sid].nationality, info[sid].gender

    n_trials = scaled(6000, cfg.scale, 600)
    test_set = {s.sid for s in test}
    o_all = [r for r in rels1 if spk_of(r) in test_set]
    lists = {
        "veri_test": (o_all, None),
        "list_test_all": (rels1, None),
        "list_test_hard": ([r for r in rels1 if sum(group(s.sid) == group(spk_of(r)) for s in test + dev) > 1],
                           group),
    }
    for name, (utts, grp) in lists.items():
        r = item_rng(cfg.seed, "voxceleb1", name)
        clean_utts = [u for u in utts if not any(u.startswith(p) for p in bad_prefixes)]
        clean = _pairs(r, clean_utts, spk_of, n_trials, grp)
        # the original list: the cleaned trials plus about 2% involving the mislabelled videos
        bad = [u for u in utts if any(u.startswith(p) for p in bad_prefixes)]
        extra = []
        for u in bad:
            same = [x for x in clean_utts if spk_of(x) == spk_of(u)]
            other = [x for x in clean_utts if spk_of(x) != spk_of(u)
                     and (grp is None or grp(spk_of(x)) == grp(spk_of(u)))]
            for pool, lab in ((same, 1), (other, 0)):
                for i in r.choice(len(pool), size=min(len(pool), max(1, n_trials // 100 // max(len(bad), 1))),
                                  replace=False):
                    extra.append((lab, u, pool[int(i)]))
        original = sorted(clean + extra, key=lambda t: t[1])
        write_text(v1 / f"{name}2.txt" if name != "veri_test" else v1 / "veri_test2.txt", _trial_text(clean))
        write_text(v1 / f"{name}.txt", _trial_text(original))
